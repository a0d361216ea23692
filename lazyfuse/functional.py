"""Composite tensor functions built from primitives: where, matmul, cat,
stack, max/min with indices, argmax/argmin."""
from __future__ import annotations

import collections
import math
from typing import Sequence


from lazyfuse.autograd.function import record, shown_as
from lazyfuse.autograd.grad_mode import grad_enabled
from lazyfuse.runtime import dtypes, movement
from lazyfuse.runtime.graph import Node, Op

from .tensor import Tensor, _normalize_dim, broadcast_shapes, promote

MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def where(condition, input=None, other=None) -> Tensor:
    """input where condition holds, other elsewhere; Python numbers are accepted for either value.
    With the condition alone, the positions where it holds (nonzero(as_tuple=True)), as in PyTorch."""
    if input is None and other is None:
        from .selection import nonzero
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes a condition alone, or a condition, input and other")
    fast = _where_of_one_shape(condition, input, other)
    if fast is not None:
        return fast
    anchor = next(t for t in (condition, input, other) if isinstance(t, Tensor))
    cond = anchor._operand(condition).cast(dtypes.bool_)
    a, b = anchor._operand(input), anchor._operand(other)
    dtype = promote(a, b, other_is_scalar=not (isinstance(input, Tensor) and isinstance(other, Tensor)),
                    scalar=b if not isinstance(other, Tensor) else a)
    shape = broadcast_shapes(cond.shape, a.shape, b.shape)
    if cond.node.op is Op.CONST:  # known when recorded (a derivative rule's test of a number)
        return (a if cond.node.arg else b)._conform(dtype, shape)._broadcast_to(shape)
    return cond._prim(Op.WHERE, a._conform(dtype, shape), b._conform(dtype, shape), shape=shape, dtype=dtype)


def _where_of_one_shape(condition, input, other):
    """The commonest where, recorded directly (it took ~20 us through the general path,
    and sigmoid and relu are made of it): a computed bool condition, and tensors of one
    float dtype and of the condition's shape or Python numbers, which take that dtype as
    promotion gives them. None for anything else."""
    if type(condition) is not Tensor or condition.node.dtype is not dtypes.bool_ or condition.node.op is Op.CONST:
        return None
    values = [t for t in (input, other) if type(t) is Tensor]
    if not values:
        return None
    node = values[0].node
    if not node.dtype.is_floating_point or any(
            t.node.dtype is not node.dtype or t.node.shape != condition.node.shape or t.node.device != node.device
            for t in values) or condition.node.device != node.device:
        return None
    if any(type(v) is not Tensor and type(v) not in (int, float) for v in (input, other)):
        return None

    def operand(v) -> Tensor:
        return v if type(v) is Tensor else Tensor._number(v, node.shape, node.dtype, node.device)
    return condition._prim(Op.WHERE, operand(input), operand(other), dtype=node.dtype)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D, 2-D and batched operands,
    as a multiply-reduce over views (transposed operands are read in place)."""
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else -1]:
        left = "x".join(map(str, a.shape if a.ndim > 1 else (1,) + a.shape))
        right = "x".join(map(str, b.shape if b.ndim > 1 else b.shape + (1,)))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({left} and {right})")
    dtype = promote(a, b, other_is_scalar=False, scalar=b)
    a, b = a.cast(dtype), b.cast(dtype)
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    if a.ndim >= 2 and b.ndim == 2 and dtype.is_floating_point and Op.CONST not in (a.node.op, b.node.op):
        if a.ndim == 2:
            return _matrix_product(a, b)
        rows = (math.prod(a.shape[:-1]), a.shape[-1])
        if a._reshapes_in_place(rows) or (b.requires_grad and grad_enabled()):
            # batch dims folded into rows, as PyTorch does: b's gradient is then one product
            # over all rows, not a product per batch summed afterwards (an LSTM's input
            # weights, 32 steps of 16 rows: a backward of 12 ms against 2.7, worth a copy of `a`)
            return _matrix_product(a.reshape(rows), b).reshape(a.shape[:-1] + (b.shape[1],))
    lhs = a.unsqueeze(0) if a.ndim == 1 else a  # (..., M, K)
    rhs = b.unsqueeze(-1) if b.ndim == 1 else b  # (..., K, N)
    batch = broadcast_shapes(lhs.shape[:-2], rhs.shape[:-2])
    M, K, N = lhs.shape[-2], lhs.shape[-1], rhs.shape[-1]
    # the views below are the ones unsqueeze, transpose and broadcasting would record,
    # made directly: matmul was half the Python time of a small training step's forward
    swap = tuple(range(len(batch))) + (len(batch) + 1, len(batch))
    lhs = lhs._broadcast_to(batch + (M, K))._move("reshape", batch + (M, 1, K))  # (..., M, 1, K)
    rhs = rhs._broadcast_to(batch + (K, N))._move("permute", swap)._move("reshape", batch + (1, N, K))  # (..., 1, N, K)
    full = batch + (M, N, K)
    lhs = lhs if N == 1 else lhs._move("expand", full)
    rhs = rhs if M == 1 else rhs._move("expand", full)
    out = lhs._prim(Op.MUL, rhs).sum(-1)
    if a.ndim == 1:
        out = out.squeeze(-2)
    if b.ndim == 1:
        out = out.squeeze(-1)
    return out


def _matrix_product(a: Tensor, b: Tensor) -> Tensor:
    """a (M, K) @ b (K, N), the commonest product, recorded straight as nodes and
    as one autograd op: the same multiply-reduce over (M, N, K) that the general
    path records, without its five views' Tensors and derivative steps (a small
    training step spent a third of its Python time on them)."""
    (M, K), N = a.shape, b.shape[1]
    lhs = movement.chain(a.node, (("reshape", (M, 1, K)), ("expand", (M, N, K))))
    rhs = movement.chain(b.node, (("permute", (1, 0)), ("reshape", (1, N, K)), ("expand", (M, N, K))))
    product = Node.make(Op.MUL, (lhs, rhs), None, (M, N, K), a.dtype, lhs.device)
    total = Node.make(Op.SUM, (product,), (2,), (M, N, 1), a.dtype, lhs.device)
    return shown_as(record(Tensor._wrap(movement.reshape(total, (M, N))), "matmul", None, (a, b)), "MmBackward0")


def _positions(x: Tensor, d: int) -> Tensor:
    """0..n-1 along dim d, broadcast to x's shape."""
    from .creation import arange
    n = x.shape[d]
    idx = arange(n, device=x.device)
    return idx.reshape(tuple(n if i == d else 1 for i in range(x.ndim))).expand(x.shape)


def arg_extreme(x: Tensor, dim, keepdim: bool, largest: bool) -> Tensor:
    """Index of the first largest (or smallest) element; a NaN counts as the extreme, as in PyTorch."""
    if dim is None:
        flat = x.reshape(-1)
        out = arg_extreme(flat, 0, False, largest)
        return out.reshape((1,) * x.ndim) if keepdim else out
    d = _normalize_dim(dim, x.ndim)
    if x.ndim == 0:
        return x.detach().cast(dtypes.int64) * 0
    x._check_nonempty("argmax" if largest else "argmin", d)
    x = x.detach()
    best = x.amax(d, keepdim=True) if largest else x.amin(d, keepdim=True)
    hit = (x == best).logical_or(x != x)
    candidates = _positions(x, d).where(hit, x.shape[d])
    return candidates.amin(d, keepdim=keepdim)


def max_with_indices(x: Tensor, dim: int, keepdim: bool, largest: bool) -> MaxResult:
    """Values and indices; as in PyTorch, the values' gradient goes to the element
    at the index alone (amax/amin share it among tied elements)."""
    indices = arg_extreme(x, dim, keepdim, largest)
    shown = "MaxBackward0" if largest else "MinBackward0"
    if not (x.requires_grad and grad_enabled()) or x.ndim == 0:
        return MaxResult(shown_as(x.amax(dim, keepdim) if largest else x.amin(dim, keepdim), shown), indices)
    d = _normalize_dim(dim, x.ndim)
    chosen = _positions(x, d) == (indices if keepdim else indices.unsqueeze(d))
    return MaxResult(shown_as(x.where(chosen, 0).sum(d, keepdim), shown), indices)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate by padding each piece to the full size and adding: one fused kernel."""
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or list(tensors[:1])
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    first = tensors[0]
    d = _normalize_dim(dim, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
        if t.ndim != first.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, first.shape)) if j != d):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                               f"{list(first.shape)} but got size {list(t.shape)} for tensor number {i} in the list.")
    dtype = first.dtype
    for t in tensors[1:]:
        dtype = promote(first.cast(dtype), t, other_is_scalar=False, scalar=t)
    total = sum(t.shape[d] for t in tensors)
    out, start = None, 0
    for t in tensors:
        first._operand(t)  # checks the device
        pads = [(0, 0)] * t.ndim
        pads[d] = (start, total - start - t.shape[d])
        piece = t.cast(dtype)._pad(pads)
        out = piece if out is None else (out.logical_or(piece) if dtype is dtypes.bool_ else out + piece)
        start += t.shape[d]
    if out is first:  # one piece: a new tensor all the same, as in-place writes to it must not reach `first`
        out = first.clone()
    return shown_as(out, "CatBackward0")


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {' and '.join(map(str, shapes))}")
    d = _normalize_dim(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)
