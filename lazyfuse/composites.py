"""Tensor methods composed from other tensor ops, as PyTorch names them: rounding,
erf and erfc, NaN and infinity tests, masking (masked_fill, tril, triu), blends (lerp, addcmul,
addcdiv), scans (cumsum, cumprod), diagonals, small linear algebra, norms,
comparisons of whole tensors, new_* constructors and the in-place variants; with
selection.py's gather, index_select, scatter_add, index_add and nonzero and
sorting.py's sort, argsort, topk, median and unique, each is attached to Tensor here. Their gradients come from the ops they are made
of (rounding passes none, as the gradient PyTorch defines for it is zero)."""
from __future__ import annotations

import collections
import math
from typing import Optional

import numpy as np

from lazyfuse.autograd.function import shown_as
from lazyfuse.runtime import dtypes
from lazyfuse.runtime.graph import Op

from . import creation, selection, sorting
from .functional import matmul, where
from .tensor import Tensor, _dims, _normalize_dim


# ---------------------------------------------------------------- rounding
def floor(x: Tensor) -> Tensor:
    if not x.dtype.is_floating_point:
        return x.clone()
    # x // 1 is floor(x) for every finite x (an exact fmod), but NaN at infinities
    return where(x.abs() == math.inf, x.detach(), x.floor_divide(1))


def ceil(x: Tensor) -> Tensor:
    return -floor(-x) if x.dtype.is_floating_point else x.clone()


def trunc(x: Tensor) -> Tensor:
    return where(x < 0, ceil(x), floor(x))


def frac(x: Tensor) -> Tensor:
    return x - trunc(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """To the nearest integer, halves to even; with decimals, round(x * 10**d) / 10**d as in PyTorch."""
    if not x.dtype.is_floating_point:
        return x.clone()
    if decimals:
        scale = 10.0 ** decimals
        return round(x * scale) / scale
    low = floor(x)
    above = x.detach() - low  # exact, in [0, 1)
    up = (above > 0.5) | ((above == 0.5) & (low.remainder(2) == 1))
    rounded = low + up.cast(x.dtype)
    return where(rounded != 0, rounded, x.detach() * 0)  # keeps the sign of zero: round(-0.4) is -0.0


def sign(x: Tensor) -> Tensor:
    if x.dtype is dtypes.bool_:
        return x.clone()
    return (x > 0).cast(x.dtype) - (x < 0).cast(x.dtype)  # 0 for NaN, as in PyTorch


# ---------------------------------------------------------------- error function
# erfc's tail from rational approximations (Cephes, S. L. Moshier, public domain; the
# ones scipy and XLA use): relative error ~1e-16 in float64. erf itself is a primitive
# (the device's erf): composed, its ~80 ops took 3.8 ms of Python to record with their
# gradients, and the backward differentiated the polynomials.
_ERFC_NUMERATOR = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
                   4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
                   9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_DENOMINATOR = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
                     9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
                     1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_FAR_NUMERATOR = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
                       6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_FAR_DENOMINATOR = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
                         1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _polynomial(x: Tensor, coefficients) -> Tensor:
    """Horner's rule, highest power first."""
    out = x * 0 + coefficients[0]
    for c in coefficients[1:]:
        out = out * x + c
    return out


def _erfc_of_magnitude(a: Tensor) -> Tensor:
    """erfc(|a|) for |a| >= 1 (its two ranges each computed, the right one kept).
    Beyond 30 it is 0 in every dtype; clamping there keeps infinities out."""
    x = a.abs().clamp(max=30.0)
    near = _polynomial(x, _ERFC_NUMERATOR) / _polynomial(x, _ERFC_DENOMINATOR)
    far = _polynomial(x, _ERFC_FAR_NUMERATOR) / _polynomial(x, _ERFC_FAR_DENOMINATOR)
    return (-(x * x)).exp() * where(x < 8, near, far)


def erf(x: Tensor) -> Tensor:
    return x._float_unary(Op.ERF)


def erfc(x: Tensor) -> Tensor:
    return x._float()._recorded_as_one("erfc", _erfc)


def _erfc(x: Tensor) -> Tensor:
    small = x.abs() < 1
    outer = where(small, 1.0, x)
    tail = _erfc_of_magnitude(outer)
    return where(small, 1 - erf(x), where(outer < 0, 2 - tail, tail))


# ---------------------------------------------------------------- NaN and infinity
def isnan(x: Tensor) -> Tensor:
    return x != x


def isinf(x: Tensor) -> Tensor:
    return x.abs() == math.inf if x.dtype.is_floating_point else creation.zeros_like(x, dtype=dtypes.bool_)


def isfinite(x: Tensor) -> Tensor:
    return (x - x) == 0 if x.dtype.is_floating_point else creation.ones_like(x, dtype=dtypes.bool_)


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: Optional[float] = None, neginf: Optional[float] = None) -> Tensor:
    if not x.dtype.is_floating_point:
        return x.clone()
    largest = float(np.finfo(x.dtype.np_dtype).max)
    out = where(x != x, nan, x)
    out = where(x == math.inf, largest if posinf is None else posinf, out)
    return where(x == -math.inf, -largest if neginf is None else neginf, out)


def nansum(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return where(x != x, 0, x).sum(dim, keepdim=keepdim)


def nanmean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return nansum(x, dim, keepdim) / (x == x).sum(dim, keepdim=keepdim)


# ---------------------------------------------------------------- clamps, masks, blends
def clamp_min(x: Tensor, min) -> Tensor:  # noqa: A002 - PyTorch's name
    return x.clamp(min=min)


def clamp_max(x: Tensor, max) -> Tensor:  # noqa: A002
    return x.clamp(max=max)


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype {mask.dtype.name}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                           f"{value.ndim} dimension(s).")
    return where(mask, x._operand(value).cast(x.dtype), x)


def _triangle(x: Tensor, diagonal: int, lower: bool) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"{'tril' if lower else 'triu'}: input tensor must have at least 2 dimensions")
    rows, cols = x.shape[-2:]
    above = creation.arange(cols, device=x.device).reshape(1, cols) - creation.arange(rows, device=x.device).reshape(rows, 1)
    keep = above <= diagonal if lower else above >= diagonal
    return where(keep, x, creation.zeros((), dtype=x.dtype, device=x.device))


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle(x, diagonal, lower=True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle(x, diagonal, lower=False)


def lerp(start: Tensor, end, weight) -> Tensor:
    """start + weight * (end - start), computed from the nearer end as PyTorch does,
    so that a weight of 1 gives `end` exactly."""
    end = start._operand(end)
    difference = end - start
    if not isinstance(weight, Tensor):
        return start + weight * difference if abs(weight) < 0.5 else end - difference * (1 - weight)
    return where(weight.abs() < 0.5, start + weight * difference, end - difference * (1 - weight))


def addcmul(x: Tensor, tensor1, tensor2, value=1) -> Tensor:
    return x + value * tensor1 * tensor2


def addcdiv(x: Tensor, tensor1, tensor2, value=1) -> Tensor:
    return x + value * tensor1 / tensor2


# ---------------------------------------------------------------- diagonals and small linear algebra
def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A view of the diagonal (a strided view of the flattened square holding it), as the last dim."""
    d1, d2 = _normalize_dim(dim1, x.ndim), _normalize_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    rest = [d for d in range(x.ndim) if d not in (d1, d2)]
    moved = x.permute(tuple(rest) + (d1, d2))
    rows, cols = x.shape[d1], x.shape[d2]
    row0, col0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - row0, cols - col0))
    batch = moved.shape[:-2]
    square = moved.narrow(-2, min(row0, rows), length).narrow(-1, min(col0, cols), length)
    if length == 0:
        return square.reshape(batch + (0,))
    return square.reshape(batch + (length * length,))[(..., slice(None, None, length + 1))]


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """The diagonal of a matrix, or the square matrix with a vector on its diagonal."""
    if x.ndim == 2:
        return x.diagonal(diagonal)
    if x.ndim != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")
    n, k = x.shape[0], abs(diagonal)
    # each value followed by n zeros, read as rows of n: the values land on the diagonal
    square = x.reshape(n, 1)._pad(((0, 0), (0, n))).reshape(n * (n + 1))[:n * n].reshape(n, n)
    return square._pad(((0, k), (k, 0)) if diagonal >= 0 else ((k, 0), (0, k)))


def trace(x: Tensor) -> Tensor:
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return diagonal(x).sum()


def outer(a: Tensor, b: Tensor) -> Tensor:
    for name, t in (("vec1", a), ("vec2", b)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return a.reshape(-1, 1) * b.reshape(1, -1)


def mv(matrix: Tensor, vector: Tensor) -> Tensor:
    if matrix.ndim != 2 or vector.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {matrix.ndim}, {vector.ndim}")
    return matmul(matrix, vector)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor" if a.ndim != 3 else "batch2 must be a 3D tensor")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


def addmm(x: Tensor, mat1: Tensor, mat2: Tensor, beta=1, alpha=1) -> Tensor:
    return _scaled_sum(x, matmul(mat1, mat2), beta, alpha)


def baddbmm(x: Tensor, batch1: Tensor, batch2: Tensor, beta=1, alpha=1) -> Tensor:
    return _scaled_sum(x, bmm(batch1, batch2), beta, alpha)


def addbmm(x: Tensor, batch1: Tensor, batch2: Tensor, beta=1, alpha=1) -> Tensor:
    return _scaled_sum(x, bmm(batch1, batch2).sum(0), beta, alpha)


def addmv(x: Tensor, mat: Tensor, vec: Tensor, beta=1, alpha=1) -> Tensor:
    return _scaled_sum(x, mv(mat, vec), beta, alpha)


def addr(x: Tensor, vec1: Tensor, vec2: Tensor, beta=1, alpha=1) -> Tensor:
    return _scaled_sum(x, outer(vec1, vec2), beta, alpha)


def _scaled_sum(x: Tensor, product: Tensor, beta, alpha) -> Tensor:
    """beta * x + alpha * product; with beta 0, x is not read (its NaNs do not count), as in PyTorch."""
    scaled = product if alpha == 1 else product * alpha
    return scaled if beta == 0 else (x if beta == 1 else x * beta) + scaled


def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False) -> Tensor:
    """Vector norms over dim (all elements by default): p = 2 ("fro"), 1, inf, -inf, 0 or any other number."""
    magnitude = x.abs()
    if p in ("fro", 2, 2.0):
        squares = (x * x).sum(dim, keepdim=keepdim)
        # the gradient of sqrt at 0 is infinite; PyTorch's norm passes 0 there
        zero = squares == 0
        return where(zero, 0, where(zero, 1, squares).sqrt())
    if p == math.inf:
        return magnitude.amax(dim, keepdim=keepdim)
    if p == -math.inf:
        return magnitude.amin(dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).cast(x.dtype).sum(dim, keepdim=keepdim)
    if p == 1:
        return magnitude.sum(dim, keepdim=keepdim)
    return (magnitude ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)


def dist(a: Tensor, b: Tensor, p=2) -> Tensor:
    return norm(a - b, p)


# ---------------------------------------------------------------- scans
def cumsum(x: Tensor, dim: int, dtype=None) -> Tensor:
    return _scan(_accumulating(x, dtype), dim, Tensor.add, 0)


def cumprod(x: Tensor, dim: int, dtype=None) -> Tensor:
    return _scan(_accumulating(x, dtype), dim, Tensor.mul, 1)


def _accumulating(x: Tensor, dtype) -> Tensor:
    """x in the dtype a running sum or product takes: `dtype`, else int64 for integers, as in PyTorch."""
    if dtype is not None:
        return x.cast(dtypes.as_dtype(dtype))
    return x if x.dtype.is_floating_point else x.cast(dtypes.int64)


def _scan(x: Tensor, dim: int, combine, identity) -> Tensor:
    """Inclusive scan along dim in log2(n) steps, each combining the running values
    with themselves moved 2**k places along (Hillis and Steele): views and one op per
    step, which the scheduler stores every few steps (see MAX_RECOMPUTED_WORK)."""
    if x.ndim == 0:
        return x.clone()
    d = _normalize_dim(dim, x.ndim)
    n = x.shape[d]
    position = creation.arange(n, device=x.device).reshape(tuple(n if k == d else 1 for k in range(x.ndim)))
    out, shift = x, 1
    while shift < n:
        moved = out._pad(tuple((shift, 0) if k == d else (0, 0) for k in range(x.ndim))).narrow(d, 0, n)
        out = combine(out, where(position >= shift, moved, identity))
        shift *= 2
    return out


CumulativeResult = collections.namedtuple("CumulativeResult", ["values", "indices"])


def cummax(x: Tensor, dim: int) -> CumulativeResult:
    return _cumulative_extreme(x, dim, Tensor.maximum)


def cummin(x: Tensor, dim: int) -> CumulativeResult:
    return _cumulative_extreme(x, dim, Tensor.minimum)


def _cumulative_extreme(x: Tensor, dim: int, pick) -> CumulativeResult:
    """The running largest (smallest) value along dim and the last position holding it:
    the last position so far where the value was the running one is that position (a
    NaN, once met, is the running value from then on, as in PyTorch)."""
    if not x.ndim:
        return CumulativeResult(x.clone(), creation.zeros((), dtype=dtypes.int64, device=x.device))
    values = _scan(x, dim, pick, dtypes.extreme(x.dtype, largest=pick is not Tensor.maximum))
    d = _normalize_dim(dim, x.ndim)
    n = x.shape[d]
    position = creation.arange(n, device=x.device).reshape(tuple(n if k == d else 1 for k in range(x.ndim)))
    reached = (x == values) | ((x != x) & (values != values)) if x.dtype.is_floating_point else x == values
    indices = _scan(where(reached, position, 0).expand(*x.shape), d, Tensor.maximum, 0)
    return CumulativeResult(values, indices)


MinMaxResult = collections.namedtuple("MinMaxResult", ["min", "max"])


def aminmax(x: Tensor, *, dim=None, keepdim: bool = False) -> MinMaxResult:
    return MinMaxResult(x.amin(dim, keepdim), x.amax(dim, keepdim))


def var_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    return x.var(dim, unbiased, keepdim, correction=correction), x.mean(dim, keepdim)


def std_mean(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    return x.std(dim, unbiased, keepdim, correction=correction), x.mean(dim, keepdim)


# ---------------------------------------------------------------- dims
def flip(x: Tensor, *dims) -> Tensor:
    """A view with the order of `dims` reversed (a step of -1 along each)."""
    flipped = _dims(dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims, x.ndim)
    steps = tuple(-1 if d in flipped and x.shape[d] > 1 else 1 for d in range(x.ndim))
    return x._move("stride", steps) if -1 in steps else x


def fliplr(x: Tensor) -> Tensor:
    return flip(x, 1)


def flipud(x: Tensor) -> Tensor:
    return flip(x, 0)


def movedim(x: Tensor, source, destination) -> Tensor:
    source = [_normalize_dim(d, x.ndim) for d in ((source,) if isinstance(source, int) else source)]
    destination = [_normalize_dim(d, x.ndim) for d in ((destination,) if isinstance(destination, int) else destination)]
    if len(source) != len(destination):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({source} dims) should contain "
                           f"the same number of dims as destination ({destination} dims)")
    order: list[Optional[int]] = [None] * x.ndim
    for s, d in zip(source, destination):
        order[d] = s
    others = iter(d for d in range(x.ndim) if d not in source)
    return x.permute(tuple(s if s is not None else next(others) for s in order))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = _normalize_dim(dim, x.ndim)
    size = x.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(x.shape)} at dimension {dim}")
    return shown_as(x.narrow(d, index % size, 1).squeeze(d), "SelectBackward0", x)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    d = _normalize_dim(dim, x.ndim)
    return tuple(shown_as(select(x, d, i), "UnbindBackward0", x) for i in range(x.shape[d]))


def repeat(x: Tensor, *sizes) -> Tensor:
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    spread = x.reshape(sum(((1, s) for s in shape), ()))
    spread = spread.expand(sum(((r, s) for r, s in zip(sizes, shape)), ()))
    return spread.reshape(tuple(r * s for r, s in zip(sizes, shape))).clone()  # a new tensor, not a view


def tile(x: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


# ---------------------------------------------------------------- whole-tensor comparisons
def isclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    b = a._operand(b)
    close = (a == b) | ((a - b).abs() <= atol + rtol * b.abs())
    return close | (isnan(a) & isnan(b)) if equal_nan else close


def allclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan).all().item())


def equal(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool((a == b).all().item())


# ---------------------------------------------------------------- constructors like a tensor
def new_full(x: Tensor, size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return creation.full(size, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                         requires_grad=requires_grad)


def _new(fill):
    """new_zeros, new_ones: new_full with a fixed value."""
    def new(x: Tensor, size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return new_full(x, size, fill, dtype, device, requires_grad)
    return new


def new_tensor(x: Tensor, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return creation.tensor(data, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def type_as(x: Tensor, other: Tensor) -> Tensor:
    return x.cast(other.dtype)


def element_size(x: Tensor) -> int:
    return x.dtype.itemsize


def uniform_(x: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return x.copy_(creation.rand(x.shape, dtype=x.dtype, device=x.device) * (b - a) + a)


def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return x.copy_(creation.randn(x.shape, dtype=x.dtype, device=x.device) * std + mean)


def bernoulli_(x: Tensor, p=0.5) -> Tensor:
    """Each element 1 with probability p (a number or a tensor broadcast to x), else 0."""
    return x.copy_(creation.rand(x.shape, device=x.device) < p)


def _zero_gradient(fn):
    """fn with a zero gradient (not None) for an input that requires grad, as PyTorch's
    floor, round and sign have: fn's values, selected over the input by a false constant."""
    def with_zero_gradient(x: Tensor, *args, **kwargs) -> Tensor:
        value = fn(x.detach(), *args, **kwargs)
        if not x.requires_grad:
            return value
        never = creation.zeros(x.shape, dtype=dtypes.bool_, device=x.device)
        return never._prim(Op.WHERE, x, value, dtype=x.dtype)  # not where(), which folds a constant condition
    with_zero_gradient.__name__ = fn.__name__
    return with_zero_gradient


METHODS = {
    "floor": _zero_gradient(floor), "ceil": _zero_gradient(ceil), "trunc": _zero_gradient(trunc), "frac": frac,
    "round": _zero_gradient(round), "sign": _zero_gradient(sign), "sgn": _zero_gradient(sign),
    "isnan": isnan, "isinf": isinf, "isfinite": isfinite, "nan_to_num": nan_to_num, "nansum": nansum,
    "nanmean": nanmean, "clamp_min": clamp_min, "clamp_max": clamp_max, "masked_fill": masked_fill, "tril": tril,
    "triu": triu, "lerp": lerp, "addcmul": addcmul, "addcdiv": addcdiv, "diagonal": diagonal, "diag": diag,
    "trace": trace, "outer": outer, "ger": outer, "mv": mv, "bmm": bmm, "addmm": addmm, "norm": norm, "dist": dist,
    "movedim": movedim, "moveaxis": movedim, "select": select, "unbind": unbind, "repeat": repeat, "tile": tile,
    "isclose": isclose, "allclose": allclose, "equal": equal, "new_zeros": _new(0), "new_ones": _new(1),
    "new_empty": _new(0), "new_full": new_full, "new_tensor": new_tensor, "type_as": type_as,
    "element_size": element_size, "flip": flip, "fliplr": fliplr, "flipud": flipud, "uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
    "bernoulli": creation.bernoulli, "swapdims": Tensor.transpose,
    "gather": selection.gather, "index_select": selection.index_select, "cumsum": cumsum, "cumprod": cumprod,
    "erf": erf, "erfc": erfc, "sort": sorting.sort, "argsort": sorting.argsort, "topk": sorting.topk,
    "median": sorting.median, "nanmedian": sorting.nanmedian, "unique": sorting.unique,
    "scatter_add": selection.scatter_add, "scatter": selection.scatter, "scatter_reduce": selection.scatter_reduce,
    "index_add": selection.index_add, "nonzero": selection.nonzero,
    "argwhere": selection.argwhere, "take_along_dim": selection.take_along_dim, "take": selection.take,
    "masked_select": selection.masked_select, "index_fill": selection.index_fill, "index_copy": selection.index_copy,
    "baddbmm": baddbmm, "addbmm": addbmm, "addmv": addmv, "addr": addr, "cummax": cummax, "cummin": cummin,
    "aminmax": aminmax, "kthvalue": sorting.kthvalue, "quantile": sorting.quantile, "nanquantile": sorting.nanquantile, "histc": selection.histc,
    "bincount": selection.bincount,
}
# x.name_(...) is x.copy_(x.name(...)), for these and for Tensor's own elementwise methods
IN_PLACE = ["scatter_add", "scatter", "scatter_reduce", "index_add", "index_fill", "index_copy", "baddbmm", "addbmm",
            "addmv", "addr", "cumsum", "erf", "erfc", "floor", "ceil", "trunc", "frac", "round", "sign", "nan_to_num", "clamp_min", "clamp_max", "masked_fill",
            "tril", "triu", "lerp", "addcmul", "addcdiv", "exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos",
            "tanh", "sigmoid", "relu", "abs", "neg", "reciprocal", "square"]


def in_place_method(name: str):
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        return self._assign(getattr(self, name)(*args, **kwargs), name + "_")
    method.__name__ = name + "_"
    method.__doc__ = f"t.{name}_(...) writes t.{name}(...) into t"
    return method


for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
for _name in IN_PLACE:
    setattr(Tensor, _name + "_", in_place_method(_name))
