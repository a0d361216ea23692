"""Selecting elements by index tensors: gather, take, take_along_dim, index_select,
masked_select and advanced indexing (integer tensors, lists and boolean masks in `t[...]`, read and written);
writing and reducing at index tensors (scatter, scatter_reduce, scatter_add, index_add);
and nonzero.

A selection along a dim of size N compares each index with 0..N-1 and sums the
matching element: elementwise work and a reduction, so it fuses with what
surrounds it, costs N operations per element selected, and takes its gradient
from `where` and `sum` (the gradient of a selection adds up at each selected
element, as PyTorch's scatter-add does).

Indices are checked without reading them on the host where they come from the
host (lists, ranges, arrays), and where reading them is the only way (integer
results of tensor indices, boolean masks, whose count sets the result's shape).
A float result of a tensor index that is out of range is NaN there instead, so
a training step stays free of host reads (PyTorch on a GPU raises later, from
the device, for the same reason)."""
from __future__ import annotations

import math
from builtins import max as builtins_max

import numpy as np

from lazyfuse.runtime import dtypes

from . import creation
from .functional import cat, where
from .tensor import Tensor, _normalize_dim, broadcast_shapes


# a selection along a dim of at least this many positions loads the element at its
# index (a GATHER node reading x stored) instead of comparing the index with every
# position: an EmbeddingBag of 1,000 rows over 2,048 tokens took 419 ms so. Below it
# the comparisons cost about a load and fuse with whatever computes x
GATHER_FROM = 32


def _pick(x: Tensor, dim: int, index: Tensor, valid) -> Tensor:
    """x's elements along `dim` at `index` (an int64 tensor of any shape, in range
    where `valid` holds): dim is replaced by index's dims."""
    size = x.shape[dim]
    if size >= GATHER_FROM:
        trail = (1,) * (x.ndim - dim - 1)  # the result keeps x's dims after dim
        return _poison(_gathered(x, dim, index), None if valid is None else valid.reshape(valid.shape + trail))
    moved = x.movedim(dim, -1)
    lead = moved.shape[:-1]
    values = moved.reshape(lead + (1,) * index.ndim + (size,))
    picked = _poison(_matching(index.unsqueeze(-1), values), valid)
    inner = list(range(len(lead), len(lead) + index.ndim))
    return picked.permute(tuple(range(dim)) + tuple(inner) + tuple(range(dim, len(lead))))


def _gathered(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """`_pick` as loads: x stored (computed now if it is not), read at the flat
    position of each picked element (indices out of range read a clamped one, which
    `_poison` marks). Its gradient is autograd's rule "pick"."""
    from lazyfuse.autograd.function import record
    from lazyfuse.runtime.graph import Node, Op
    from lazyfuse.runtime.realize import realize
    if not x.node.is_realized:
        realize([x.node])
    shape = x.shape[:dim] + index.shape + x.shape[dim + 1:]
    strides = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    at = [d if d < dim else d + index.ndim - 1 for d in range(x.ndim)]  # x's dims among the result's
    inner = (1,) * dim + index.shape + (1,) * (x.ndim - dim - 1)
    positions = index.clamp(0, x.shape[dim] - 1).reshape(inner) * strides[dim]
    for d in range(x.ndim):
        if d != dim and x.shape[d] > 1:
            along = creation.arange(x.shape[d], device=x.device) * strides[d]
            positions = positions + along.reshape(tuple(x.shape[d] if i == at[d] else 1 for i in range(len(shape))))
    positions = positions._broadcast_to(shape)
    node = Node.make(Op.GATHER, (x.node, positions.node), None, shape, x.dtype, x.node.device)
    return record(Tensor._wrap(node), "pick", dim, (x, index))


def _matching(index: Tensor, values: Tensor) -> Tensor:
    """The element of `values` along its last dim (of size N) where `index` (its last
    dim of size 1) names it: index == 0..N-1 picks one, the sum keeps it."""
    hit = index == creation.arange(values.shape[-1], device=values.device)
    zero = creation.zeros((), dtype=values.dtype, device=values.device)
    return where(hit, values, zero).sum(-1).cast(values.dtype)


def _poison(picked: Tensor, valid) -> Tensor:
    """NaN where an index was out of range (valid is None: all were checked)."""
    return picked if valid is None else where(valid, picked, math.nan)


def _as_index(index, size: int, what: str, float_result: bool, device, negative_ok: bool = True):
    """(int64 tensor in [0, size), validity tensor or None) for a list, array, range or tensor of indices."""
    if isinstance(index, Tensor):
        if index.dtype.is_floating_point or index.dtype is dtypes.bool_:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        index = index.cast(dtypes.int64)
        low = -size if negative_ok else 0
        valid = (index >= low) & (index < size)
        if not float_result:  # no NaN to mark a bad index with: read them
            _check_range(index.numpy(), size, what, low)
            valid = None
        return (where(index < 0, index + size, index) if negative_ok else index), valid
    return creation.tensor(_host_indices(np.asarray(index), size, what, negative_ok), device=device), None


def _host_indices(array: np.ndarray, size: int, what: str, negative_ok: bool = True) -> np.ndarray:
    """Indices read on the host, checked and in [0, size) (negative ones counted from the end)."""
    if array.dtype.kind not in "iu" and array.size:
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    array = array.astype(np.int64)
    _check_range(array, size, what, -size if negative_ok else 0)
    return np.where(array < 0, array + size, array)


def _check_range(array: np.ndarray, size: int, what: str, low: int) -> None:
    bad = array[(array < low) | (array >= size)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for {what} with size {size}")


def index_select(x: Tensor, dim: int, index) -> Tensor:
    d = _normalize_dim(dim, x.ndim)
    if isinstance(index, Tensor) and index.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got {index.ndim}-D")
    index, valid = _as_index(index, x.shape[d], f"dimension {d}", x.dtype.is_floating_point, x.device,
                             negative_ok=False)
    return _pick(x, d, index.reshape(-1), None if valid is None else valid.reshape(-1))


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """out[..., i, ...] = x[..., index[..., i, ...], ...] along dim; index has x's number of dims."""
    d = _normalize_dim(dim, x.ndim)
    if index.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for k, (s, n) in enumerate(zip(index.shape, x.shape)):
        if k != d and s > n:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(index.shape)} to be "
                               f"smaller than self {list(x.shape)} apart from dimension {d}")
    index, valid = _as_index(index, x.shape[d], f"dimension {d}", x.dtype.is_floating_point, x.device,
                             negative_ok=False)
    size = x.shape[d]
    source = x._shrink(tuple((0, s) if k != d else (0, size) for k, s in enumerate(index.shape)))
    values = source.movedim(d, -1).unsqueeze(-2)  # (..., 1, N)
    picked = _matching(index.movedim(d, -1).unsqueeze(-1), values)  # (..., K)
    return _poison(picked.movedim(-1, d), valid)


def take(x: Tensor, index: Tensor) -> Tensor:
    """x's elements, x read as 1-d, at `index` (negative indices count from the end): a
    tensor of index's shape."""
    return x.reshape(-1)[index]


def take_along_dim(x: Tensor, indices: Tensor, dim=None) -> Tensor:
    """gather along dim with x and indices broadcast in their other dims (flattened with dim None)."""
    if dim is None:
        return gather(x.reshape(-1), 0, indices.reshape(-1))
    d = _normalize_dim(dim, x.ndim)
    if indices.ndim != x.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same number of dimensions, "
                           f"but got {x.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
    shape = broadcast_shapes(*(tuple(1 if k == d else n for k, n in enumerate(t.shape)) for t in (x, indices)))
    spread = lambda t: t.expand(*(t.shape[k] if k == d else n for k, n in enumerate(shape)))  # noqa: E731
    return gather(spread(x), d, spread(indices))


def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    """The elements of x where mask (broadcast with x) is true, as a 1-D tensor; the
    mask is read on the host, as its count sets the shape."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {mask.dtype.name.capitalize()}")
    shape = broadcast_shapes(x.shape, mask.shape)
    return x.expand(*shape)[mask.expand(*shape)]


def searchsorted(sorted_sequence: Tensor, values, *, out_int32: bool = False, right: bool = False,
                 side=None, sorter=None) -> Tensor:
    """Where each value would go in the sorted innermost dim of sorted_sequence (1-d, or
    with values' leading dims): the number of elements before it (<, or <= with right).
    A count of comparisons, so it fuses (the sequence's length operations per value)."""
    if sorter is not None:
        raise NotImplementedError("searchsorted: sorter is not supported")
    right = side == "right" if side is not None else right
    values = sorted_sequence._operand(values)
    if sorted_sequence.ndim > 1 and tuple(sorted_sequence.shape[:-1]) != tuple(values.shape[:-1]):
        raise RuntimeError(f"searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of "
                           f"boundaries tensor and input value tensor must match, but we got boundaries tensor "
                           f"{list(sorted_sequence.shape)} and input value tensor {list(values.shape)}")
    boundaries = sorted_sequence if sorted_sequence.ndim == 1 else sorted_sequence.unsqueeze(-2)
    before = boundaries <= values.unsqueeze(-1) if right else boundaries < values.unsqueeze(-1)
    return before.sum(-1).cast(dtypes.int32 if out_int32 else dtypes.int64)


def bucketize(input: Tensor, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each element: boundaries[i - 1] < x <= boundaries[i] (< with right)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(x: Tensor, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002 - PyTorch's names
    """Counts of x's elements in `bins` equal bins over [min, max] (x's own range when
    min == max, as PyTorch's implementation takes it, found on the device); elements outside are not counted, max falls in
    the last bin. Each element compares its bin with 0..bins-1: bins operations each."""
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for bins")
    flat = x.reshape(-1)._float()
    low, high = (flat.amin(), flat.amax()) if min == max else (min, max)
    if not isinstance(low, Tensor) and low > high:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min {low} max {high}")
    low, high = x._operand(low).cast(flat.dtype), x._operand(high).cast(flat.dtype)
    same = low == high  # an empty range is widened by 1 each way, as PyTorch does
    low, high = where(same, low - 1, low), where(same, high + 1, high)
    at = ((flat - low) * (bins / (high - low))).floor().cast(dtypes.int64).clamp_max(bins - 1)
    inside = (flat >= low) & (flat <= high)
    hits = (at.unsqueeze(-1) == creation.arange(bins, device=x.device)) & inside.unsqueeze(-1)
    return hits.cast(flat.dtype).sum(0).cast(x.dtype if x.dtype.is_floating_point else flat.dtype)


def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each of 0..n-1 occurs in the 1-d non-negative integer x (summing weights
    instead when given), n = max(x) + 1 or minlength: the largest value is read on the
    host, as it sets the result's length."""
    if x.ndim != 1 or x.dtype.is_floating_point or x.dtype is dtypes.bool_:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    values = x.detach().numpy()
    if values.size and values.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    length = builtins_max(int(values.max()) + 1 if values.size else 0, minlength)
    hits = x.unsqueeze(-1) == creation.arange(length, device=x.device)
    if weights is None:
        return hits.cast(dtypes.int64).sum(0)
    weights = weights if weights.dtype.is_floating_point else weights.cast(dtypes.float64)
    return where(hits, weights.unsqueeze(-1), 0).sum(0)


def index_fill(x: Tensor, dim: int, index, value) -> Tensor:
    """x with the slices at `index` along dim set to value (a number or a 0-d tensor)."""
    d = _normalize_dim(dim, x.ndim) if x.ndim else 0
    index, _ = _as_index(index, x.shape[d] if x.ndim else 1, f"dimension {d}", False, x.device)
    n = x.shape[d] if x.ndim else 1
    chosen = (index.reshape(-1, 1) == creation.arange(n, device=x.device)).any(0)
    return where(chosen.reshape(tuple(n if k == d else 1 for k in range(x.ndim))), value, x)


def index_copy(x: Tensor, dim: int, index, source: Tensor) -> Tensor:
    """x with source's slices along dim written at the positions in index."""
    d, spread = _slice_positions(x, dim, index, source, "index_copy_")
    return scatter(x, d, spread, source)


def _slice_positions(x: Tensor, dim: int, index, source: Tensor, name: str) -> tuple[int, Tensor]:
    """(dim normalised, the 1-d index spread over source's shape): where each element of
    source's slices along dim goes in x, for index_add and index_copy."""
    d = _normalize_dim(dim, x.ndim)
    index = index if isinstance(index, Tensor) else creation.tensor(index, dtype=dtypes.int64, device=x.device)
    if index.ndim > 1 or source.ndim != x.ndim or source.shape[d] != index.numel():
        raise RuntimeError(f"{name}(): expected a 1-D index with one entry per slice of source along dim {d}; "
                           f"got index {list(index.shape)}, source {list(source.shape)}, self {list(x.shape)}")
    return d, index.reshape(tuple(-1 if k == d else 1 for k in range(x.ndim))).expand(*source.shape)


def _scattered(x: Tensor, dim: int, index: Tensor, src, name: str):
    """A scatter's arguments checked, as (d, hit, values, region): along x's dim d
    (moved last, size N), hit (..., I, N) says which of the I src elements along
    index's dim names each position, values (..., I, 1) are those src elements, and
    region (..., N) is the part of x that index's other dims cover. src may be larger
    than index (only index's part is read) or a number."""
    d = _normalize_dim(dim, x.ndim)
    if isinstance(src, Tensor) and src.ndim != x.ndim or index.ndim != x.ndim:
        raise RuntimeError(f"{name}(): Index tensor must have the same number of dimensions as self tensor")
    for k, (i, n) in enumerate(zip(index.shape, x.shape)):
        if (isinstance(src, Tensor) and i > src.shape[k]) or (k != d and i > n):
            raise RuntimeError(f"{name}(): Expected index {list(index.shape)} to be smaller than self {list(x.shape)} "
                               f"apart from dimension {d} and to be smaller size than src "
                               f"{list(src.shape) if isinstance(src, Tensor) else list(index.shape)}")
    index, valid = _as_index(index, x.shape[d], f"dimension {d}", x.dtype.is_floating_point, x.device,
                             negative_ok=False)
    if isinstance(src, Tensor):
        src = x._operand(src)._shrink(tuple((0, i) for i in index.shape)).cast(x.dtype)
    else:
        src = creation.full(index.shape, src, dtype=x.dtype, device=x.device)
    hit = index.movedim(d, -1).unsqueeze(-1) == creation.arange(x.shape[d], device=x.device)  # (..., I, N)
    region = x._shrink(tuple((0, i) if k != d else (0, n) for k, (i, n) in enumerate(zip(index.shape, x.shape))))
    return d, hit, _poison(src, valid).movedim(d, -1).unsqueeze(-1), region.movedim(d, -1)


def _placed(x: Tensor, d: int, hit: Tensor, result: Tensor) -> Tensor:
    """x with result (over the region, dim d last) at the positions some index names."""
    result = result.movedim(-1, d)
    taken = hit.any(-2).movedim(-1, d)
    pads = tuple((0, n - a) for a, n in zip(result.shape, x.shape))
    return where(taken._pad(pads), result._pad(pads), x)


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """x with src[..., i, ...] added at x[..., index[..., i, ...], ...] along dim, for the
    positions index covers (src may be larger), as PyTorch's. Each position of x's dim
    sums the src elements whose index names it: the comparison of a selection, run
    the other way (index's size along dim times N operations per element of x)."""
    d, hit, values, _ = _scattered(x, dim, index, src, "scatter_add")
    zero = creation.zeros((), dtype=x.dtype, device=x.device)
    added = where(hit, values, zero).sum(-2).cast(x.dtype).movedim(-1, d)
    return x + added._pad(tuple((0, n - a) for a, n in zip(added.shape, x.shape)))


def scatter(x: Tensor, dim: int, index: Tensor, src=None, value=None, reduce=None) -> Tensor:
    """x with src[..., i, ...] (or the number `value`) written at x[..., index[..., i, ...], ...]
    along dim. Where several indices name one position, the last along dim is written,
    as PyTorch does on the CPU (it leaves the choice unspecified). reduce="add" or
    "multiply" combines them with x's value instead."""
    if (src is None) == (value is None):
        raise TypeError("scatter() takes either src (a tensor) or value (a number)")
    src = src if src is not None else value
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce!r}")
        return scatter_reduce(x, dim, index, src, "sum" if reduce == "add" else "prod")
    d, hit, values, _ = _scattered(x, dim, index, src, "scatter")
    order = creation.arange(hit.shape[-2], device=x.device).unsqueeze(-1)  # (I, 1)
    last = where(hit, order, -1).amax(-2, keepdim=True)
    zero = creation.zeros((), dtype=x.dtype, device=x.device)
    return _placed(x, d, hit, where(hit & (order == last), values, zero).sum(-2).cast(x.dtype))


# per reduction of scatter_reduce: the tensor reduction computing it
_SCATTER_REDUCTIONS = {"sum": "sum", "mean": "sum", "prod": "prod", "amax": "amax", "amin": "amin"}


def scatter_reduce(x: Tensor, dim: int, index: Tensor, src, reduce: str, include_self: bool = True) -> Tensor:
    """x where index names a position along dim: the reduction (sum, prod, mean, amax,
    amin) of the src elements naming it, and of x's value with include_self. x's value
    takes part as one more element, so ties in amax and amin share the gradient
    equally among all tied values, x's included, as in PyTorch."""
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"reduce argument must be one of {', '.join(_SCATTER_REDUCTIONS)}, got {reduce!r}")
    d, hit, values, region = _scattered(x, dim, index, src, "scatter_reduce")
    reduction = _SCATTER_REDUCTIONS[reduce]
    # what a position no index names contributes: nothing to the reduction
    fill = 1 if reduce == "prod" else 0 if reduction == "sum" else dtypes.extreme(x.dtype, largest=reduce == "amin")
    elements = where(hit, values, creation.full((), fill, dtype=x.dtype, device=x.device))  # (..., I, N)
    if include_self:
        elements = cat([region.unsqueeze(-2), elements], -2)
    reduced = getattr(elements, reduction)(-2)
    if reduce == "mean":
        count = (hit.sum(-2) + int(include_self)).clamp_min(1)
        reduced = reduced / count if x.dtype.is_floating_point else reduced.floor_divide(count)
    return _placed(x, d, hit, reduced.cast(x.dtype))


def index_add(x: Tensor, dim: int, index, source: Tensor, alpha=1) -> Tensor:
    """x with alpha * source[..., i, ...] added at x[..., index[i], ...] along dim."""
    d, spread = _slice_positions(x, dim, index, source, "index_add_")
    return scatter_add(x, d, spread, source * alpha if alpha != 1 else source)


def nonzero(x: Tensor, as_tuple: bool = False):
    """The positions of the non-zero elements, read on the host (their number sets the shape)."""
    positions = np.argwhere(x.detach().numpy())
    if as_tuple:
        return tuple(creation.tensor(positions[:, k], dtype=dtypes.int64, device=x.device)
                     for k in range(max(x.ndim, 1)))
    return creation.tensor(positions.reshape(-1, x.ndim), dtype=dtypes.int64, device=x.device)


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


# ---------------------------------------------------------------- advanced indexing
def is_advanced(item) -> bool:
    return isinstance(item, (Tensor, list, np.ndarray, range))


def _masks_to_indices(items: list) -> list:
    """Boolean masks become one integer index array per dim they cover (read on the host)."""
    out = []
    for item in items:
        mask = _as_mask(item) if is_advanced(item) else None
        if mask is None:
            out.append(item)
        else:
            array = mask.numpy() if isinstance(mask, Tensor) else mask
            if array.ndim == 0:
                raise IndexError("indexing with a 0-dimensional boolean (t[True]) is not supported")
            out.extend(array.nonzero())
    return out


def getitem(t: Tensor, items: list, basic_getitem) -> Tensor:
    """t[items] where some items are advanced (items: one per dim of t, after
    None and ... were expanded). Basic items are applied first, as views."""
    items = _masks_to_indices(items)
    basic = [slice(None) if is_advanced(item) else item for item in items]
    viewed = basic_getitem(t, basic)
    positions, dim = [], 0
    for item in items:  # where each advanced index's dim is in `viewed`
        if is_advanced(item):
            positions.append(dim)
        if item is None or isinstance(item, slice) or is_advanced(item):
            dim += 1
    sizes = [viewed.shape[p] for p in positions]
    floats = t.dtype.is_floating_point
    indices, validity = zip(*[_as_index(item, size, f"dimension {p}", floats, t.device)
                              for item, size, p in zip([i for i in items if is_advanced(i)], sizes, positions)])
    shape = tuple(np.broadcast_shapes(*[tuple(i.shape) for i in indices]))
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    at = positions[0] if adjacent else 0
    rest = [d for d in range(viewed.ndim) if d not in positions]
    order = rest[:at] + positions + rest[at:]
    joined = viewed.permute(tuple(order))
    joined = joined.reshape(joined.shape[:at] + (math.prod(sizes),) + joined.shape[at + len(positions):])
    linear = None
    for index, size in zip(indices, sizes):  # row-major position over the joined dims
        linear = index if linear is None else linear * size + index
    valid = None
    for v in validity:
        valid = v if valid is None else (valid if v is None else valid & v)
    return _pick(joined, at, linear._broadcast_to(shape), None if valid is None else valid._broadcast_to(shape))


def setitem(t: Tensor, items: list, value) -> None:
    """t[items] = value for one boolean mask or one set of integer indices beside
    full slices. A mask of t's shape with one value is where(mask, value, t), with
    no host read; otherwise the positions are read and each selected element takes
    the value written last at it, as in PyTorch."""
    advanced = [p for p, item in enumerate(items) if is_advanced(item)]
    others_full = all(isinstance(item, slice) and item == slice(None) for item in items if not is_advanced(item))
    if len(advanced) != 1 or not others_full:
        raise TypeError("writing through advanced indexing takes one boolean mask or one set of integer indices, "
                        "beside full slices: t[mask] = 0, t[:, [0, 2]] = values")
    at, item = advanced[0], items[advanced[0]]
    mask = _as_mask(item)
    if mask is None:
        array = item.numpy() if isinstance(item, Tensor) else np.asarray(item)
        _write_at(t, at, _host_indices(array, t.shape[at], f"dimension {at}"), value)
        return
    if tuple(mask.shape) != t.shape[at:at + mask.ndim]:
        raise IndexError(f"the shape of the mask {list(mask.shape)} does not match the shape of the indexed tensor "
                         f"{list(t.shape)} at dimension {at}")
    if not isinstance(value, Tensor) or value.numel() == 1:  # one value: no need to know where the mask holds
        selected = mask if isinstance(mask, Tensor) else creation.tensor(mask, device=t.device)
        selected = selected.reshape((1,) * at + tuple(selected.shape) + (1,) * (t.ndim - at - selected.ndim))
        t.copy_(where(selected, value.reshape(()) if isinstance(value, Tensor) else value, t))
        return
    joined = t.reshape(t.shape[:at] + (-1,) + t.shape[at + mask.ndim:])  # a view: the write goes through to t
    array = mask.numpy() if isinstance(mask, Tensor) else mask
    _write_at(joined, at, np.flatnonzero(array), value)


def _write_at(target: Tensor, at: int, positions: np.ndarray, value) -> None:
    """target[..., positions, ...] = value along dim `at` (positions: in range, any shape)."""
    size = target.shape[at]
    selection_shape = target.shape[:at] + positions.shape + target.shape[at + 1:]
    values = target._operand(value).cast(target.dtype)
    try:
        fits = np.broadcast_shapes(tuple(values.shape), selection_shape) == selection_shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(values.shape)} cannot be broadcast to "
                           f"indexing result of shape {list(selection_shape)}")
    flat = positions.reshape(-1)
    values = values._broadcast_to(selection_shape).reshape(target.shape[:at] + (flat.size,) + target.shape[at + 1:])
    source = np.zeros(size, np.int64)  # which written value each position takes: the last one written at it
    source[flat] = np.arange(flat.size)
    chosen = np.zeros(size, bool)
    chosen[flat] = True
    written = _pick(values, at, creation.tensor(source, device=target.device), None)
    selected = creation.tensor(chosen, device=target.device).reshape((1,) * at + (size,) + (1,) * (target.ndim - at - 1))
    target.copy_(where(selected, written, target))


def _as_mask(item):
    """The boolean mask an index item is (a tensor or an array), or None."""
    if isinstance(item, Tensor):
        return item if item.dtype is dtypes.bool_ else None
    array = np.asarray(item)
    return array if array.dtype == np.bool_ else None


def dims_indexed(item) -> int:
    """How many of the tensor's dims an index item stands for: a mask covers its own."""
    mask = _as_mask(item) if is_advanced(item) else None
    return 1 if mask is None else max(mask.ndim, 1)
