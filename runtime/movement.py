"""Movement ops on nodes: each composes into the node's existing view when one
strided view can express the result, and stacks a new view node otherwise."""
from __future__ import annotations

from typing import Optional

from .graph import Node, Op, view_node
from .view import View


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
    if node.op is Op.VIEW:
        composed = _compose(node.arg, method, arg)
        if composed is not None:
            return view_node(node.srcs[0], composed)
    return view_node(node, _compose(View.contiguous(node.shape), method, arg))


def reshape(node: Node, shape: tuple[int, ...]) -> Node:
    return node if shape == node.shape else _apply(node, "reshape", tuple(shape))


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
