"""PyTorch's shape helpers, composed from views and cat: broadcast_to,
broadcast_tensors, hstack, vstack, dstack, column_stack, atleast_1d-3d,
tensor_split, hsplit, vsplit, dsplit, rot90, unfold, diag_embed, diagflat,
meshgrid, roll, diff, repeat_interleave, unflatten, count_nonzero, is_contiguous, block_diag, cartesian_prod
and vander. The functions are exported by the
package; those PyTorch also has as methods are attached to Tensor here."""
from __future__ import annotations

import math

from lazyfuse.runtime import dtypes
from lazyfuse.runtime.graph import Op
from lazyfuse.runtime.view import View

from .functional import cat
from .tensor import Tensor, _normalize_dim, broadcast_shapes


def broadcast_to(x: Tensor, shape) -> Tensor:
    return x.expand(*shape)


def broadcast_tensors(*tensors: Tensor) -> tuple:
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


def hstack(tensors) -> Tensor:
    """Joined along dim 1, or dim 0 for 1-d tensors."""
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Joined along dim 0, 1-d tensors (and 0-d) as rows."""
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids of 1-d tensors, as views; indexing="xy" swaps the first two dims."""
    tensors = list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else list(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of 'xy' or 'ij', but received: {indexing}")
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list")
    swap = indexing == "xy" and len(tensors) > 1
    order = [1, 0] + list(range(2, len(tensors))) if swap else list(range(len(tensors)))
    sizes = [tensors[i].numel() for i in order]
    grids = []
    for i, t in enumerate(tensors):
        at = order.index(i)
        grids.append(t.reshape(*(-1 if d == at else 1 for d in range(len(sizes)))).expand(*sizes))
    return tuple(grids)


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """Elements shifted along dims, wrapping around (flattened first when dims is None)."""
    if dims is None:
        return roll(x.flatten(), shifts, 0).reshape(x.shape)
    shifts, dims = ((shifts,), (dims,)) if isinstance(shifts, int) else (tuple(shifts), tuple(dims))
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
    out = x
    for shift, dim in zip(shifts, dims):
        d = _normalize_dim(dim, x.ndim)
        n = x.shape[d]
        k = shift % n if n else 0
        if k:
            out = cat([out.narrow(d, n - k, k), out.narrow(d, 0, n - k)], d)
    return out


def diff(x: Tensor, n: int = 1, dim: int = -1) -> Tensor:
    """Differences of neighbours along dim, n times."""
    d = _normalize_dim(dim, x.ndim)
    for _ in range(n):
        length = max(x.shape[d] - 1, 0)
        x = x.narrow(d, 1, length) - x.narrow(d, 0, length)
    return x


def repeat_interleave(x: Tensor, repeats: int, dim=None) -> Tensor:
    """Each element repeated `repeats` times in place along dim (over the flattened
    tensor when dim is None). Repeats given per element (a tensor) are not supported."""
    if not isinstance(repeats, int):
        raise TypeError("repeat_interleave: lazyfuse takes one int of repeats, not repeats per element")
    if dim is None:
        x, d = x.flatten(), 0
    else:
        d = _normalize_dim(dim, x.ndim)
    spread = x.unsqueeze(d + 1).expand(*x.shape[:d + 1], repeats, *x.shape[d + 1:])
    return spread.flatten(d, d + 1)


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    d = _normalize_dim(dim, x.ndim)
    sizes = tuple(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes = tuple(x.shape[d] // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != x.shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
                           f"({x.shape[d]}) in the input tensor")
    return x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    return (x != 0).sum(dim)


def is_contiguous(x: Tensor) -> bool:
    """False for a view whose elements are not in row-major order (a transpose, a strided
    slice); as in PyTorch, where it starts and the strides of size-1 dims do not count."""
    node = x.node
    if x._base is None or node.op is not Op.VIEW:
        return True
    view = node.arg
    row_major = [math.prod(view.shape[d + 1:]) for d in range(len(view.shape))]
    return view.mask is None and all(n == 1 or s == r for n, s, r in zip(view.shape, view.strides, row_major))


def stride(x: Tensor, dim=None):
    """The step in elements between neighbours along each dim, as PyTorch reports it
    for the same view: row-major for a tensor of its own (and for size-1 dims, which
    PyTorch also gives the row-major step), the view's strides for a view."""
    view = _own_view(x)
    row_major = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    steps = tuple(r if view is None or n == 1 else st for n, st, r in
                  zip(x.shape, view.strides if view is not None else row_major, row_major))
    return steps if dim is None else steps[_normalize_dim(dim, x.ndim)]


def storage_offset(x: Tensor) -> int:
    """Where a view starts in the tensor it views (0 for a tensor of its own)."""
    view = _own_view(x)
    return 0 if view is None else view.offset


def _own_view(x: Tensor):
    """The strided view of its base that x's movement steps make, or None: a tensor of
    its own, or steps no strided view expresses (padding, a reshape PyTorch copies).
    (Not the graph's view: a slice of a computed tensor reads a part of its buffer.)"""
    if x._base is None:
        return None
    view = View.contiguous(x._base.shape)
    for name, arg in x._steps:
        view = getattr(view, name)(arg)
        if view is None or view.mask is not None:
            return None
    return view


def atleast_1d(*tensors):
    return _at_least(tensors, lambda t: t.reshape(1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    return _at_least(tensors, lambda t: t.reshape(1, -1) if t.ndim < 2 else t)


def atleast_3d(*tensors):
    """(n,) -> (1, n, 1) and (m, n) -> (m, n, 1), as numpy and PyTorch do."""
    def three(t: Tensor) -> Tensor:
        if t.ndim == 2:
            return t.unsqueeze(-1)
        return t.reshape(1, -1, 1) if t.ndim < 2 else t
    return _at_least(tensors, three)


def _at_least(tensors, make):
    """One tensor for one argument, else a tuple (a single list or tuple argument counts as several)."""
    many = len(tensors) != 1 or isinstance(tensors[0], (list, tuple))
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    made = tuple(make(t) for t in items)
    return made if many else made[0]


def dstack(tensors) -> Tensor:
    return cat(list(atleast_3d(list(tensors))), 2)


def column_stack(tensors) -> Tensor:
    """1-d tensors as columns, joined along dim 1 with the 2-d ones."""
    return cat([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors], 1)


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Pieces along dim: n sections (the first size % n one longer) or cut at the given indices."""
    d = _normalize_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        lengths = [size // n + (1 if k < size % n else 0) for k in range(n)]
        cuts = [sum(lengths[:k]) for k in range(1, n)]
    else:
        cuts = [min(max(c + size if c < 0 else c, 0), size) for c in indices_or_sections]
    bounds = [0] + list(cuts) + [size]
    return tuple(x.narrow(d, lo, max(hi - lo, 0)) for lo, hi in zip(bounds, bounds[1:]))


def _split_along(dim_of):
    def split(x: Tensor, indices_or_sections) -> tuple:
        d = dim_of(x)
        if isinstance(indices_or_sections, int) and x.shape[d] % indices_or_sections:
            raise RuntimeError(f"torch.{split.__name__} attempted to split along dimension {d}, but the size of the "
                               f"dimension {x.shape[d]} is not divisible by the split_size {indices_or_sections}!")
        return tensor_split(x, indices_or_sections, d)
    return split


hsplit = _split_along(lambda x: 0 if x.ndim == 1 else 1)
vsplit = _split_along(lambda x: 0)
dsplit = _split_along(lambda x: 2)
hsplit.__name__, vsplit.__name__, dsplit.__name__ = "hsplit", "vsplit", "dsplit"


def rot90(x: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotated by 90 degrees k times, from the first dim of dims towards the second (views)."""
    a, b = (_normalize_dim(d, x.ndim) for d in dims)
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and dim1 = {b}")
    k %= 4
    if k == 1:
        return x.flip(b).transpose(a, b)
    if k == 2:
        return x.flip(a, b)
    return x.flip(a).transpose(a, b) if k == 3 else x


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """A view of the windows of `size` elements every `step` along dimension: that dim
    counts the windows, and a new last dim holds each window's elements."""
    d = _normalize_dim(dimension, x.ndim) if x.ndim else 0
    if x.ndim == 0:
        x = x.reshape(1)
    if size > x.shape[d] or step <= 0:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {x.shape[d]} but size is {size}"
                           if size > x.shape[d] else f"step is {step} but must be > 0")
    windows = x.movedim(d, -1)._move("windows", ((size,), (step,), (1,)))
    return windows.movedim(-2, d)


def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Each vector of x's last dim on the diagonal (offset above it, below for a negative
    offset) of a matrix over the new dims dim1 and dim2, zeros elsewhere."""
    from .creation import arange
    from .functional import where
    n = x.shape[-1] + abs(offset)
    rows = arange(n, device=x.device).reshape(n, 1)
    on_diagonal = rows + offset == arange(n, device=x.device)
    # the value for row i is x[i] (x[i + offset] for a negative offset), read along the columns
    placed = x._pad(tuple((0, 0) for _ in x.shape[:-1]) + (((0, offset) if offset >= 0 else (-offset, 0)),))
    out = where(on_diagonal, placed.unsqueeze(-1), 0)
    ndim = x.ndim + 1
    return out.movedim((ndim - 2, ndim - 1), (_normalize_dim(dim1, ndim), _normalize_dim(dim2, ndim)))


def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    return diag_embed(x.reshape(-1), offset)


def block_diag(*tensors: Tensor) -> Tensor:
    """The tensors (0-d, 1-d as one row, or 2-d) along the diagonal of a matrix of zeros."""
    from .nn.padding import pad
    blocks = [t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t for t in tensors]
    for i, b in enumerate(blocks):
        if b.ndim != 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{b.ndim} dimensions")
    if not blocks:
        from .creation import zeros
        return zeros(1, 0)
    width = sum(b.shape[1] for b in blocks)
    rows, before = [], 0
    for b in blocks:
        rows.append(pad(b, (before, width - before - b.shape[1])))
        before += b.shape[1]
    return cat(rows, 0)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of the 1-d tensors' elements, one per row (the first varying slowest)."""
    if len(tensors) == 1:
        return tensors[0]
    from .functional import stack
    return stack([grid.reshape(-1) for grid in meshgrid(*tensors, indexing="ij")], 1)


def vander(x: Tensor, N=None, increasing: bool = False) -> Tensor:  # noqa: N803 - PyTorch's name
    """The Vandermonde matrix of a 1-d x: columns of x's powers, from N - 1 down to 0
    (up, when increasing)."""
    from .creation import arange
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = len(x) if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    powers = arange(n, device=x.device)
    powers = powers if increasing else powers.flip(0)
    base = x if x.dtype.is_floating_point else x.cast(dtypes.int64)  # integers in int64, as in PyTorch
    return base.unsqueeze(1).pow(powers.cast(base.dtype))


METHODS = {"roll": roll, "diff": diff, "repeat_interleave": repeat_interleave, "unflatten": unflatten,
           "count_nonzero": count_nonzero, "is_contiguous": is_contiguous, "broadcast_to": broadcast_to,
           "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit, "rot90": rot90,
           "unfold": unfold, "diag_embed": diag_embed, "diagflat": diagflat, "ravel": lambda x: x.reshape(-1),
           "stride": stride, "storage_offset": storage_offset}
for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.is_cuda = property(lambda self: self.node.device.startswith("cuda"))
