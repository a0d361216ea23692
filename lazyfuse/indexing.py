"""Indexing: ints, slices (with positive steps), None and Ellipsis give views;
advanced indices (integer tensors, lists, boolean masks) go to selection.py."""
from __future__ import annotations

import numpy as np

from lazyfuse.autograd.function import shown_as
from . import selection
from .tensor import Tensor


def _expand_index(index, ndim: int) -> list:
    items = list(index) if isinstance(index, tuple) else [index]
    for item in items:
        if selection.is_advanced(item):
            continue
        if not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))) or isinstance(item, bool):
            raise TypeError(f"invalid index of type {type(item).__name__}; expected ints, slices, None, ..., "
                            f"integer tensors or lists, or boolean masks")
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(selection.dims_indexed(item) for item in items if item is not None and item is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    at = next((i for i, item in enumerate(items) if item is Ellipsis), None)  # `in` would compare tensors with ==
    if at is not None:
        return items[:at] + [slice(None)] * (ndim - used) + items[at + 1:]
    return items + [slice(None)] * (ndim - used)


def getitem(t: Tensor, index) -> Tensor:
    items = _expand_index(index, t.ndim)
    if any(selection.is_advanced(item) for item in items):
        return selection.getitem(t, items, basic_getitem)
    return basic_getitem(t, items)


def setitem(t: Tensor, index, value) -> None:
    items = _expand_index(index, t.ndim)
    if any(selection.is_advanced(item) for item in items):
        selection.setitem(t, items, value)
    else:
        basic_getitem(t, items).copy_(value)


def basic_getitem(t: Tensor, items: list) -> Tensor:
    """t[items] for ints, slices and None (one item per dim of t, plus the Nones): a view."""
    ranges, steps, shape = [], [], []
    dim = 0
    shown = None  # PyTorch's name for the backward of the last index that does something
    for item in items:
        if item is None:
            shape.append(1)
            shown = "UnsqueezeBackward0"
            continue
        size = t.shape[dim]
        if isinstance(item, slice):
            if item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = item.indices(size)
            stop = max(stop, start)
            ranges.append((start, stop))
            steps.append(step)
            shape.append(-(-(stop - start) // step))
            if (start, stop, step) != (0, size, 1):
                shown = "SliceBackward0"
        else:
            i = int(item)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
            i %= size
            ranges.append((i, i + 1))
            steps.append(1)
            shown = "SelectBackward0"
        dim += 1
    out = t._shrink(ranges)
    if any(s != 1 for s in steps):
        out = out._move("stride", tuple(steps))
    out = out.reshape(tuple(shape)) if tuple(shape) != out.shape else out
    return shown_as(out, shown, t) if shown else out
