"""sort, argsort and topk as a bitonic sorting network, median, nanmedian,
kthvalue, quantile and nanquantile from a sort, and unique (on the host). The sorting network has log2(n) * (log2(n) + 1) / 2
stages, each comparing every element with the one `stride` places away (two views
of the previous stage) and exchanging them, so a sort is elementwise work the
scheduler stores every stage or two (see MAX_RECOMPUTED_WORK): about 55 kernels
for rows of 1024. The positions travel with the values, and the gradient follows
them through the exchanges. Values compare with ties broken by position, so the
sort is stable, and NaN sorts as the largest value, as in PyTorch. A row whose
length is not a power of two is padded with values that sort last."""
from __future__ import annotations

import collections
import math

import numpy as np

from lazyfuse.runtime import dtypes

from . import creation
from .functional import cat, stack, where
from .tensor import Tensor, _normalize_dim

SortResult = collections.namedtuple("SortResult", ["values", "indices"])


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    if x.ndim == 0:
        return SortResult(x.clone(), creation.zeros((), dtype=dtypes.int64, device=x.device))
    d = _normalize_dim(dim, x.ndim)
    values, indices = _bitonic(x.movedim(d, -1), descending)
    return SortResult(values.movedim(-1, d), indices.movedim(-1, d))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(x, dim, descending).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:  # noqa: A002
    d = _normalize_dim(dim, max(x.ndim, 1))
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"selected index k out of range: k = {k}, size of dimension {d} = {size}")
    values, indices = sort(x, d, descending=largest)
    return SortResult(values.narrow(d, 0, k), indices.narrow(d, 0, k)) if x.ndim else SortResult(values, indices)


def _bitonic(x: Tensor, descending: bool) -> tuple[Tensor, Tensor]:
    """x sorted along its last dim, with each value's position before sorting."""
    n = x.shape[-1]
    width = 1 << max(n - 1, 0).bit_length()  # the next power of two
    last = _padding(x.dtype, descending)
    values = x if width == n else cat([x, creation.full(x.shape[:-1] + (width - n,), last, dtype=x.dtype,
                                                         device=x.device)], -1)
    positions = creation.arange(width, device=x.device)._broadcast_to(values.shape)
    block = 2
    while block <= width:
        stride = block // 2
        while stride >= 1:
            values, positions = _exchange(values, positions, block, stride, descending)
            stride //= 2
        block *= 2
    return values[..., :n], positions[..., :n]


def _padding(dtype, descending: bool):
    """A value that sorts at or after every other (the padding's positions break the ties):
    NaN sorts last in an ascending sort."""
    if dtype.is_floating_point and not descending:
        return np.nan
    return dtypes.extreme(dtype, largest=not descending)


def _before(a: Tensor, at_a: Tensor, b: Tensor, at_b: Tensor, descending: bool) -> Tensor:
    """Whether value a (from position at_a) sorts before b (from at_b)."""
    if a.dtype.is_floating_point:
        nan_a, nan_b = a != a, b != b
        larger, smaller = (a > b) | (nan_a & ~nan_b), (a < b) | (nan_b & ~nan_a)
        tie = (a == b) | (nan_a & nan_b)
    else:
        larger, smaller, tie = a > b, a < b, a == b
    return (larger if descending else smaller) | (tie & (at_a < at_b))


def _exchange(values: Tensor, positions: Tensor, block: int, stride: int, descending: bool):
    """One stage: each element i with bit `stride` clear meets element i + stride, and
    the pair is put in the order of i's block of `block` (alternating, so blocks merge)."""
    width = values.shape[-1]
    lead = values.shape[:-1]
    pairs = (width // (2 * stride), 2, stride)
    # along the pairs dim: does this pair's block sort up? (the last block size sorts all one way)
    group = np.arange(pairs[0]) * 2 * stride
    up = (group & block) == 0 if block < width else np.full(pairs[0], True)
    up = creation.tensor(up.reshape(pairs[0], 1), device=values.device)

    def split(t: Tensor):
        t = t.reshape(lead + pairs)
        return t[..., 0, :], t[..., 1, :]

    a, b = split(values)
    pa, pb = split(positions)
    keep = _before(a, pa, b, pb, descending) == up  # the pair is already in this block's order
    first, second = where(keep, a, b), where(keep, b, a)
    first_at, second_at = where(keep, pa, pb), where(keep, pb, pa)

    def join(x: Tensor, y: Tensor) -> Tensor:
        return cat([x.unsqueeze(-2), y.unsqueeze(-2)], -2).reshape(lead + (width,))

    return join(first, second), join(first_at, second_at)


MedianResult = collections.namedtuple("MedianResult", ["values", "indices"])


def median(x: Tensor, dim=None, keepdim: bool = False):
    """The lower of the two middle values, as PyTorch's; NaN where the values hold a NaN
    (with its position). Without dim, of all values, with no position."""
    return _middle(x, dim, keepdim, skip_nan=False)


def nanmedian(x: Tensor, dim=None, keepdim: bool = False):
    """median of the values that are not NaN (NaN where all are)."""
    return _middle(x, dim, keepdim, skip_nan=True)


def _middle(x: Tensor, dim, keepdim: bool, skip_nan: bool):
    if dim is None:
        return _middle(x.reshape(-1), 0, False, skip_nan).values
    d = _normalize_dim(dim, max(x.ndim, 1))
    if x.ndim == 0:
        return MedianResult(x.clone(), creation.zeros((), dtype=dtypes.int64, device=x.device))
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    ordered = sort(x, d)  # NaN sorts last
    nans = (x != x).sum(d, keepdim=True) if x.dtype.is_floating_point else creation.zeros_like(x.narrow(d, 0, 1),
                                                                                               dtype=dtypes.int64)
    if skip_nan:  # the middle of the numbers; the first NaN where there are none
        at = where(nans == n, 0, (n - nans - 1).floor_divide(2))
    else:  # the first NaN where there is one
        at = where(nans > 0, n - nans, (n - 1) // 2)
    values, indices = ordered.values.gather(d, at), ordered.indices.gather(d, at)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return MedianResult(values, indices)


KthvalueResult = collections.namedtuple("KthvalueResult", ["values", "indices"])


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The k-th smallest value along dim (k from 1) and its position, from the sort."""
    d = _normalize_dim(dim, max(x.ndim, 1))
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}: k = {k}, size = {n}")
    if x.ndim == 0:
        return KthvalueResult(x.clone(), creation.zeros((), dtype=dtypes.int64, device=x.device))
    ordered = sort(x, d)
    values, indices = ordered.values.narrow(d, k - 1, 1), ordered.indices.narrow(d, k - 1, 1)
    return KthvalueResult(values, indices) if keepdim else KthvalueResult(values.squeeze(d), indices.squeeze(d))


_QUANTILE_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x: Tensor, q, dim=None, keepdim: bool = False, interpolation: str = "linear") -> Tensor:
    """The q-quantiles along dim (of all values without dim) from the sorted values,
    between the two nearest ranks as numpy's and PyTorch's methods take them; q a
    number or a 1-d tensor (its quantiles lead the result's dims). NaN where a value is."""
    return _quantile(x, q, dim, keepdim, interpolation, skip_nan=False)


def nanquantile(x: Tensor, q, dim=None, keepdim: bool = False, interpolation: str = "linear") -> Tensor:
    """quantile of the values that are not NaN (NaN where all are)."""
    return _quantile(x, q, dim, keepdim, interpolation, skip_nan=True)


def _quantile(x: Tensor, q, dim, keepdim: bool, interpolation: str, skip_nan: bool) -> Tensor:
    if interpolation not in _QUANTILE_INTERPOLATIONS:
        raise ValueError(f"quantile() interpolation must be one of {', '.join(_QUANTILE_INTERPOLATIONS)}. "
                         f"Got {interpolation}")
    qs = q.tolist() if isinstance(q, Tensor) else q
    many = isinstance(qs, (list, tuple))
    qs = list(qs) if many else [qs]
    if any(not 0 <= v <= 1 for v in qs):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    kept_shape = (1,) * x.ndim if dim is None else None
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        d = _normalize_dim(dim, x.ndim)
    ordered = sort(x, d).values  # NaN last
    nans = (x != x).sum(d, keepdim=True)
    # the values each row's ranks count: the numbers, or all of them (a NaN among them gives NaN)
    count = (x.shape[d] - nans) if skip_nan else creation.full_like(nans, x.shape[d])
    last = (count - 1).clamp_min(0).cast(ordered.dtype)
    results = []
    for v in qs:
        rank = last * v
        below, above = rank.floor(), rank.ceil()
        low, high = (ordered.gather(d, r.cast(dtypes.int64)) for r in (below, above))
        if interpolation == "lower":
            value = low
        elif interpolation == "higher":
            value = high
        elif interpolation == "midpoint":
            value = (low + high) * 0.5
        elif interpolation == "nearest":  # round half to even, as numpy and PyTorch do
            value = ordered.gather(d, rank.round().cast(dtypes.int64))
        else:
            value = low + (high - low) * (rank - below)
        if not skip_nan:
            value = where(nans > 0, math.nan, value)
        results.append(value.squeeze(d) if not keepdim else value if kept_shape is None else value.reshape(kept_shape))
    return stack(results) if many else results[0]


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
           dim=None):
    """The distinct values (sorted), read on the host: their number sets the result's shape."""
    values, inverse, counts = np.unique(x.detach().numpy(), return_inverse=True, return_counts=True, axis=dim)
    made = [creation.tensor(values, dtype=x.dtype, device=x.device)]
    if return_inverse:
        shape = x.shape if dim is None else (x.shape[_normalize_dim(dim, x.ndim)],)
        made.append(creation.tensor(inverse.reshape(shape), dtype=dtypes.int64, device=x.device))
    if return_counts:
        made.append(creation.tensor(counts, dtype=dtypes.int64, device=x.device))
    return made[0] if len(made) == 1 else tuple(made)
