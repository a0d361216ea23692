"""Rendered kernels by structure, so a new schedule renders only its new kernels.

A training loop builds several schedules before it settles (the first steps,
values stored after being computed twice, a learning rate seen to change, a
batch slice at another alignment), and each new schedule rendered every one of
its kernels again to find their sources, the compile cache's key, though most
were the same kernels: a small transformer's step spent 0.6 s of Python per new
schedule. A kernel's structure is what the renderer reads: its nodes numbered
in a canonical order (each with its op, argument, shape, dtype, sources and, for
one read from a buffer, the buffer's extent) and the kernel's fields in those
numbers. A cached rendering is reused with its arguments mapped to the new
kernel's nodes. The test suite checks every hit against a fresh rendering
(tests/conftest.py).
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict

from lazyfuse.runtime.graph import Node, Op, postorder

from .common import extent

MAX_CACHED = 4096

_cache: "OrderedDict[tuple, tuple]" = OrderedDict()  # structure -> (rendering, positions of its args)


def render(kernel, settings: tuple, render_fresh):
    """`render_fresh(kernel)`, or the rendering of a kernel of the same structure, by
    the renderer and settings `settings` names, with its arguments taken from this one."""
    numbering = _Numbering(kernel)
    key = (numbering.describe(kernel), settings)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        rendered, positions = hit
        return dataclasses.replace(rendered, args=[numbering.nodes[i] for i in positions])
    rendered = render_fresh(kernel)
    # kept without its nodes: they would pin their buffers
    _cache[key] = (dataclasses.replace(rendered, args=[]), [numbering.number(n) for n in rendered.args])
    if len(_cache) > MAX_CACHED:
        _cache.popitem(last=False)
    return rendered


class _Numbering:
    """The kernel's nodes in the order a walk from its fields meets them, sources first;
    a node it reads from a buffer (or one computed already) is a leaf."""

    def __init__(self, kernel):
        self.leaves = kernel.reads
        self.position: dict[int, int] = {}
        self.nodes: list[Node] = []
        self.parts: list[tuple] = []

    def number(self, root: Node) -> int:
        if id(root) not in self.position:
            for n in postorder([root], lambda n: () if self._is_leaf(n) else n.srcs):
                if id(n) not in self.position:
                    self.position[id(n)] = len(self.nodes)
                    self.nodes.append(n)
                    self.parts.append(self._part(n))
        return self.position[id(root)]

    def _is_leaf(self, n: Node) -> bool:
        return n in self.leaves or n.is_realized

    def _part(self, n: Node) -> tuple:
        if self._is_leaf(n):
            return ("read", n in self.leaves, n.is_realized, n.shape, n.dtype, extent(n))
        arg = (type(n.arg).__name__, repr(n.arg)) if n.op is Op.CONST else n.arg
        return (n.op, arg, n.shape, n.dtype, tuple(self.position[id(s)] for s in n.srcs))

    def _numbers(self, nodes) -> tuple:
        return tuple(self.number(n) for n in nodes)

    def describe(self, kernel) -> tuple:
        """The kernel's fields in node numbers, then the numbered nodes' parts."""
        fields = self._fields(kernel)
        return fields, tuple(self.parts)

    def _fields(self, kernel) -> tuple:
        matmul = kernel.matmul
        return (self._numbers(kernel.outputs), kernel.shape, kernel.axes,
                tuple(self._numbers(phase) for phase in kernel.reduce_phases),
                tuple(sorted(self._numbers(kernel.inputs))), kernel.split,
                tuple(sorted((self.number(a), self.number(b)) for a, b in kernel.replace.items())),
                None if matmul is None else self._matmul(matmul), self._numbers(kernel.lane_reduces),
                tuple(self._fields(rider) for rider in kernel.riders))

    def _matmul(self, m) -> tuple:
        def operand(o):
            return (self.number(o.source), o.offset, o.batch_strides, o.row_stride, o.k_stride)
        return (self.number(m.reduce), operand(m.left), operand(m.right), m.batch, m.M, m.N, m.K,
                None if m.transposed_by is None else self.number(m.transposed_by))
