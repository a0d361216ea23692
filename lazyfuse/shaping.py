"""PyTorch's shape helpers, composed from views and cat: broadcast_to,
broadcast_tensors, hstack, vstack, meshgrid, roll, diff, repeat_interleave,
unflatten, count_nonzero and is_contiguous. The functions are exported by the
package; those PyTorch also has as methods are attached to Tensor here."""
from __future__ import annotations

import math

from lazyfuse.runtime.graph import Op

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


METHODS = {"roll": roll, "diff": diff, "repeat_interleave": repeat_interleave, "unflatten": unflatten,
           "count_nonzero": count_nonzero, "is_contiguous": is_contiguous, "broadcast_to": broadcast_to}
for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.is_cuda = property(lambda self: self.node.device.startswith("cuda"))
