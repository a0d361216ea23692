"""lazyfuse.nn.functional: stateless layers and losses."""
from __future__ import annotations

from lazyfuse.runtime import dtypes

from ..tensor import Tensor


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    return x.log_softmax(dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    out = x @ weight.T
    return out if bias is None else out + bias


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dims: mean, variance and the
    scaled output are one row kernel."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape:
        raise RuntimeError(f"layer_norm: normalized_shape {list(shape)} does not match the trailing dims of input "
                           f"of shape {list(x.shape)}")
    dims = tuple(range(-len(shape), 0))
    centred = x - x.mean(dims, keepdim=True)
    out = centred / ((centred * centred).mean(dims, keepdim=True) + eps).sqrt()
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction; expected 'mean', 'sum' or 'none'")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    if input.shape != target.shape:
        raise RuntimeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """log_softmax over classes (dim 1) and the target class picked by comparison,
    in the same row kernel: no one-hot matrix, no matmul."""
    if input.ndim != 2 or target.ndim != 1 or target.shape[0] != input.shape[0]:
        raise RuntimeError(f"cross_entropy expects input (N, C) and target (N,), got {input.shape} and {target.shape}")
    if target.dtype.kind != "int":
        raise RuntimeError(f"cross_entropy expects integer class targets, got {target.dtype}")
    from ..creation import arange
    classes = arange(input.shape[1], device=input.device).reshape(1, -1)
    picked = target.cast(dtypes.int64).reshape(-1, 1) == classes
    logp = input.log_softmax(1)
    return _reduce(-(logp.where(picked, 0.0)).sum(1), reduction)
