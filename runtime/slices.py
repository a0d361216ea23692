"""Slices of values stored earlier in the same schedule, read from parts of their buffers.

A kernel reading a slice of a value that an earlier kernel of its schedule stores
(step t of an RNN's input projection, `h[:, t]` of its outputs) would have the
slice's offset written into its code, so a loop over 32 steps compiled 32 copies
of each kernel of its body: an LSTM's first step compiled ~100 kernels, 60 of them
differing only in such an offset. Instead the kernel reads a part of the stored
value's buffer (a sub-buffer, made at launch) that starts at the aligned position
at or below the slice, as runtime/movement.py reads slices of values computed
before the schedule: every step's kernel is then the same code.
"""
from __future__ import annotations

from .graph import Node, Op, toposort, view_node
from .matmul import factors
from .movement import reads_span
from .schedule import Kernel
from .view import View


def read_from_parts(kernels: list[Kernel], alignment_bytes: int) -> dict[Node, tuple[Node, int]]:
    """Rewrite `kernels` in place so that each reads the slices it takes of values an
    earlier one stores (through a view at least `alignment_bytes` into the value) from
    parts of their buffers; the parts, each a node to be given a buffer, with the
    value it is part of and the byte it starts at."""
    parts: dict[tuple, Node] = {}  # (value, first element, elements) -> the part's node
    stored: set[Node] = set()
    for k in kernels:
        for view in _far_slices(k, stored, alignment_bytes):
            value, v = view.srcs[0], view.arg
            lead = v.offset % max(alignment_bytes // value.dtype.itemsize, 1)
            where = (value, v.offset - lead, lead + reads_span(v))
            if where not in parts:
                parts[where] = Node.placeholder((where[2],), value.dtype, value.device)
            part = parts[where]
            k.replace[view] = view_node(part, View._make(v.shape, v.strides, lead, None))
            k.inputs.add(part)
        stored.update(k.stored)
    return {part: (value, start * value.dtype.itemsize) for (value, start, _), part in parts.items()}


def _far_slices(k: Kernel, stored: set[Node], alignment_bytes: int) -> list[Node]:
    """The views in k's expressions that read a value stored by an earlier kernel, without
    a mask, forwards, from at least `alignment_bytes` into it. Not a matrix product's
    operands (its renderer reads them through their strides, not through the views)."""
    operands = set(factors(k.matmul.reduce.srcs[0])) if k.matmul is not None else set()
    nodes = toposort(k.outputs + list(k.replace.values()), stop=lambda n: n in k.inputs or n.is_realized)
    return [n for n in nodes
            if n.op is Op.VIEW and n not in operands and n not in k.replace and n.srcs[0] in stored
            and n.srcs[0] in k.inputs and n.arg.mask is None and reads_span(n.arg) is not None
            and n.arg.offset * n.dtype.itemsize >= alignment_bytes]
