"""Movement ops on nodes: each composes into the node's existing view when one
strided view can express the result, and stacks a new view node otherwise.
A slice of a computed value (a batch of rows `x[i:i + 64]`, a row `x[t]`, a
column `x[:, t]`) reads a part of its buffer instead, from a start near the
slice's, so that a loop over the slices runs the same kernels for every slice:
a view's offset is written into the kernels reading it (a compile per batch,
~0.5 s each)."""
from __future__ import annotations

from typing import Optional

from . import capture
from .devices import backend
from .graph import Node, Op, view_node
from .view import View


# a misaligned run of at most this many bytes is copied rather than read with an offset:
# batches `data[i:i + 10]` of a (200, 4) int64 tensor started 0 or 64 bytes past a
# 128-byte boundary in turn, and the kernels reading them came in two versions (a
# quarter of the ~250 kernels PyTorch's nn.Transformer tutorial built, ~0.2 s of
# compiling each); a copy this size takes microseconds
COPY_MISALIGNED_BYTES = 1 << 20

# (view, method, argument) -> the resulting view: a training step makes the same
# views every step, and computing one took several times as long as looking it up
_composed: dict[tuple, Optional[View]] = {}
MAX_COMPOSED = 4096


def _compose(view: View, method: str, arg) -> Optional[View]:
    key = (view, method, arg)
    result = _composed.get(key, _composed)
    if result is _composed:
        result = getattr(view, method)(arg)
        if len(_composed) >= MAX_COMPOSED:
            _composed.clear()
        _composed[key] = result
    return result


def _apply(node: Node, method: str, arg) -> Node:
    return chain(node, ((method, arg),))


def chain(node: Node, steps) -> Node:
    """node moved by each (method, argument) of `steps` in turn, as one view node when
    one strided view expresses them all: the nodes in between are never made (a
    matmul's operands and a broadcast take two or three steps each)."""
    source, view = (node.srcs[0], node.arg) if node.op is Op.VIEW else (node, None)
    for method, arg in steps:
        composed = None if view is None else _compose(view, method, arg)
        if composed is None:  # a fresh view of the value so far
            if view is not None:
                source = _read(source, view)
            composed = _compose(View.contiguous(source.shape), method, arg)
        view = composed
    return source if view is None else _read(source, view)


def _read(src: Node, view: View) -> Node:
    """src read through view. Not while a step is captured: its replay must read the
    tensors the step used, and a part's buffer is no tensor's."""
    if src.buffer is not None and view.mask is None and capture.active is None:
        span = reads_span(view)
        if span is not None and span < src.numel:
            return _buffer_part(src, view, span)
    return view_node(src, view)


def reads_span(view: View) -> Optional[int]:
    """How many elements from view.offset on the view reads from (None for a view
    that reads backwards, or nothing)."""
    if view.numel == 0 or any(st < 0 for st in view.strides):
        return None
    return 1 + sum((size - 1) * st for size, st in zip(view.shape, view.strides))


def _buffer_part(src: Node, view: View, span: int) -> Node:
    """The run of src's buffer that `view` reads (`span` elements from its offset) as
    a part of the buffer, from the nearest start a part may have; the view reads the
    part with an offset below that alignment, so few kernels serve every slice. A short
    run starting between two such starts is copied instead, so no offset is left."""
    device, itemsize = backend(src.device), src.dtype.itemsize
    lead = view.offset % max(device.part_alignment // itemsize, 1)
    if lead and span * itemsize <= COPY_MISALIGNED_BYTES:
        lead, part = 0, device.copy(src.buffer, view.offset * itemsize, span * itemsize)
    else:
        part = device.part(src.buffer, (view.offset - lead) * itemsize, (lead + span) * itemsize)
    if lead == 0 and view.is_flat_shift:
        return Node.from_buffer(part, view.shape, src.dtype, src.device)
    run = Node.from_buffer(part, (lead + span,), src.dtype, src.device)
    return view_node(run, View._make(view.shape, view.strides, lead, None))


def reshape(node: Node, shape: tuple[int, ...]) -> Node:
    return node if shape == node.shape else _apply(node, "reshape", tuple(shape))


def broadcast(node: Node, shape: tuple[int, ...]) -> Node:
    """node spread over `shape` as broadcasting does: leading dims added, size-1 dims repeated."""
    if tuple(shape) == node.shape:
        return node
    return chain(node, (("reshape", (1,) * (len(shape) - len(node.shape)) + node.shape), ("expand", tuple(shape))))


def permute(node: Node, order: tuple[int, ...]) -> Node:
    return node if tuple(order) == tuple(range(len(order))) else _apply(node, "permute", tuple(order))


def expand(node: Node, shape: tuple[int, ...]) -> Node:
    return node if shape == node.shape else _apply(node, "expand", tuple(shape))


def shrink(node: Node, ranges: tuple[tuple[int, int], ...]) -> Node:
    if all(lo == 0 and hi == s for (lo, hi), s in zip(ranges, node.shape)):
        return node
    return _apply(node, "shrink", tuple(ranges))


def stride(node: Node, steps: tuple[int, ...]) -> Node:
    return node if all(s == 1 for s in steps) else _apply(node, "stride", tuple(steps))


def pad(node: Node, pads: tuple[tuple[int, int], ...]) -> Node:
    return node if all(p == (0, 0) for p in pads) else _apply(node, "pad", tuple(pads))


def windows(node: Node, spec: tuple) -> Node:
    return _apply(node, "windows", spec)
