"""lazyfuse.nn.functional: stateless layers and losses."""
from __future__ import annotations

import math

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


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """PyTorch's cross_entropy over logits (N, C) or (C,), with class-index targets
    (rows whose target is ignore_index count for nothing) or class probabilities.
    log_softmax over classes and the target class picked by comparison, in the same
    row kernel: no one-hot matrix, no matmul."""
    if input.ndim == 1:  # one sample
        out = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, ignore_index, reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    probabilities = target.dtype.is_floating_point
    if input.ndim != 2 or (target.shape != input.shape if probabilities else target.shape != input.shape[:1]):
        raise RuntimeError(f"cross_entropy expects input (N, C) with target (N,) of class indices or (N, C) of "
                           f"class probabilities, got {input.shape} and {target.shape}")
    if target.dtype.kind != "int" and not probabilities:
        raise RuntimeError(f"cross_entropy expects integer class targets or float probabilities, got {target.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    classes = input.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise RuntimeError(f"cross_entropy: weight should have one value per class ({classes}), "
                           f"got shape {weight.shape}")
    logp = input.log_softmax(1)
    weighted = logp if weight is None else logp * weight.reshape(1, classes)
    if probabilities:
        if ignore_index != -100:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if label_smoothing:
            target = target * (1 - label_smoothing) + label_smoothing / classes
        loss = -(weighted * target).sum(1)
        return loss.sum() / input.shape[0] if reduction == "mean" else _reduce(loss, reduction)
    from ..creation import arange
    counted = target != ignore_index
    picked = (target.cast(dtypes.int64).reshape(-1, 1) == arange(classes, device=input.device).reshape(1, -1)
              ).logical_and(counted.reshape(-1, 1))  # none in an ignored row
    counted = counted.cast(logp.dtype)
    nll = -weighted.where(picked, 0.0).sum(1)
    loss = nll
    if label_smoothing:  # part of the target spread evenly over the classes
        loss = (1 - label_smoothing) * nll - label_smoothing / classes * weighted.sum(1) * counted
    # a target out of range is NaN, as in lazyfuse's selections: raising would need a host read
    loss = loss.where(((target >= 0) & (target < classes)) | (target == ignore_index), math.nan)
    if reduction != "mean":
        return _reduce(loss, reduction)
    row_weights = counted if weight is None else weight.reshape(1, classes).where(picked, 0.0).sum(1)
    return loss.sum() / row_weights.sum()
