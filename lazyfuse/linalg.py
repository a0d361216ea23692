"""Linear algebra beyond the matrix product, composed of lazy ops (so it fuses
and differentiates like them): lazyfuse.linalg's vector and matrix norms,
cross and vecdot, and the top-level tensordot, inner, kron and cdist.

inv, det, slogdet and solve are computed on the host (decompositions.py): they
are sequential eliminations, not elementwise work and reductions. svd, eigh and
the matrix norms that need singular values ("nuc", 2, -2) are not here, and
say so.
"""
from __future__ import annotations

import math

from .composites import norm as _vector_norm
from .functional import matmul, stack
from .tensor import Tensor, _normalize_dim


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ord-norm of x's elements over dim (all of them by default)."""
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {x.dtype.name.capitalize()}")
    return _vector_norm(x, ord, dim, keepdim)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False) -> Tensor:
    """Frobenius ("fro"), max column sum (1), max row sum (inf) and their minimums
    (-1, -inf) of the matrices over the two dims `dim`."""
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 dimensions, got {A.ndim}")
    rows, cols = (_normalize_dim(d, A.ndim) for d in dim)
    if rows == cols:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({rows}, {cols})")
    if ord == "fro":
        return _vector_norm(A, 2, (rows, cols), keepdim)
    if ord in ("nuc", 2, -2):
        raise RuntimeError(f"linalg.matrix_norm: ord={ord!r} needs singular values, which lazyfuse does not compute")
    if ord not in (1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    summed, across = (rows, cols) if abs(ord) == 1 else (cols, rows)  # 1: sums down columns; inf: along rows
    sums = A.abs().sum(summed, keepdim=True)
    out = sums.amax(across, keepdim=True) if ord > 0 else sums.amin(across, keepdim=True)
    return out if keepdim else out.squeeze((rows, cols))


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """A matrix norm over two dims (dim a pair, or a 2-D A with ord given and no dim),
    a vector norm otherwise (ord None is 2, over all elements when dim is None)."""
    if dtype is not None:
        A = A.to(dtype)
    matrix = (isinstance(dim, (tuple, list)) and len(dim) == 2) or (dim is None and ord is not None and A.ndim == 2)
    if matrix:
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else tuple(dim), keepdim)
    if ord is not None and dim is None and A.ndim != 1:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
                           f"Got {A.ndim}D.")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of x and y along dim, broadcasting the other dims."""
    return (x * y).sum(dim)


def cross(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along dim (others broadcast)."""
    if a.ndim != b.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions, got {a.ndim} and {b.ndim}")
    d = _normalize_dim(dim, a.ndim)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {a.shape[d]} and {b.shape[d]}")
    (a0, a1, a2), (b0, b1, b2) = a.unbind(d), b.unbind(d)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def first_dim_cross(a: Tensor, b: Tensor, dim=None) -> Tensor:
    """torch.cross: without dim, along the first dim of size 3 (PyTorch's default)."""
    if dim is None:
        dim = next((d for d, s in enumerate(a.shape) if s == 3), -1)
    return cross(a, b, dim)


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sums of products over a's dims dims[0] and b's dims dims[1] (an int n: a's last
    n and b's first n); the result has a's remaining dims, then b's."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims = (list(range(a.ndim - dims, a.ndim)), list(range(dims)))
    mine, theirs = ([_normalize_dim(d, t.ndim) for d in ([ds] if isinstance(ds, int) else ds)]
                    for t, ds in zip((a, b), dims))
    if len(mine) != len(theirs):
        raise RuntimeError(f"both dimension lists should have same length, got {len(mine)} and {len(theirs)}")
    for i, j in zip(mine, theirs):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} "
                               f"and second has size {b.shape[j]} in dim {j}")
    free_a = [d for d in range(a.ndim) if d not in mine]
    free_b = [d for d in range(b.ndim) if d not in theirs]
    size = math.prod(a.shape[d] for d in mine)
    lhs = a.permute(*free_a, *mine).reshape(-1, size)
    rhs = b.permute(*theirs, *free_b).reshape(size, -1)
    return matmul(lhs, rhs).reshape(*[a.shape[d] for d in free_a], *[b.shape[d] for d in free_b])


def inner(a: Tensor, b: Tensor) -> Tensor:
    """Sums of products over the last dims of a and b (a product with a 0-d operand)."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


def kron(a: Tensor, b: Tensor) -> Tensor:
    """The Kronecker product: block (i, j, ...) is a[i, j, ...] * b."""
    ndim = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (ndim - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (ndim - b.ndim) + tuple(b.shape))
    spread_a = a.reshape(tuple(s for n in a.shape for s in (n, 1)))
    spread_b = b.reshape(tuple(s for n in b.shape for s in (1, n)))
    return (spread_a * spread_b).reshape(tuple(m * n for m, n in zip(a.shape, b.shape)))


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    return _vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)



Tensor.cross, Tensor.inner, Tensor.kron = first_dim_cross, inner, kron


from .decompositions import LinAlgError, det, inv, slogdet, solve  # noqa: E402,F401 - torch.linalg's names


def matrix_power(A: Tensor, n: int) -> Tensor:
    """A @ A @ ... (n times) by repeated squaring; n = 0 the identity, n < 0 powers of A's inverse."""
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but they are "
                           f"{' by '.join(map(str, A.shape[-2:]))} matrices")
    if not isinstance(n, int):
        raise TypeError(f"linalg.matrix_power: the exponent must be an int, got {type(n).__name__}")
    if n < 0:
        A, n = inv(A), -n
    from .creation import eye
    result, square = None, A
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    if result is None:
        return eye(A.shape[-1], dtype=A.dtype, device=A.device).expand(A.shape).clone()
    return result.clone() if result is A else result  # a new tensor, as in PyTorch: writes to it must not reach A
