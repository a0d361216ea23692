"""Instance and RMS normalisation: functional forms and modules (batch, layer and
group normalisation are in functional.py and modules.py)."""
from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .functional import batch_norm
from .modules import Module, Parameter


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each sample's channels over their spatial dims: batch normalisation of
    the (1, N * C, ...) input, as PyTorch computes it; running statistics, when given,
    are updated with the mean over the batch of each channel's statistics."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm expects an input of at least 3 dims (N, C, ...), got {list(input.shape)}")
    n, c = input.shape[:2]
    repeated = [None if s is None else s.repeat(n) for s in (running_mean, running_var)]
    merged = input.reshape((1, n * c) + tuple(input.shape[2:]))
    out = batch_norm(merged, *repeated, training=use_input_stats, momentum=momentum, eps=eps).reshape(input.shape)
    if use_input_stats and running_mean is not None:
        with no_grad():
            running_mean.copy_(repeated[0].reshape(n, c).mean(0))
            running_var.copy_(repeated[1].reshape(n, c).mean(0))
    per_channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing normalized_shape dims, times weight;
    eps None is the dtype's machine epsilon, as in PyTorch."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"rms_norm: normalized_shape {list(shape)} does not match the trailing dims of input "
                           f"of shape {list(input.shape)}")
    eps = float(np.finfo(input.dtype.np_dtype).eps) if eps is None else eps
    dims = tuple(range(-len(shape), 0))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


class _InstanceNorm(Module):
    """Instance normalisation of (N, C, *spatial) or unbatched (C, *spatial) inputs:
    no affine parameters and no running statistics unless asked, as in PyTorch."""

    spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__()
        from ..creation import ones, zeros
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(ones(num_features, device=device, dtype=dtype))
            self.bias = Parameter(zeros(num_features, device=device, dtype=dtype))
        else:
            self.weight = self.bias = None
        stats = (zeros(num_features, device=device, dtype=dtype), ones(num_features, device=device, dtype=dtype))
        for name, value in zip(("running_mean", "running_var"), stats if track_running_stats else (None, None)):
            self.register_buffer(name, value)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ValueError(f"expected {self.spatial + 1}D or {self.spatial + 2}D input (got {x.ndim}D input)")
        batched = x.ndim == self.spatial + 2
        out = instance_norm(x if batched else x.unsqueeze(0), self.running_mean, self.running_var, self.weight,
                            self.bias, self.training or not self.track_running_stats, self.momentum, self.eps)
        return out if batched else out.squeeze(0)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    spatial = 2


class InstanceNorm3d(_InstanceNorm):
    spatial = 3


class RMSNorm(Module):
    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        from ..creation import ones
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = Parameter(ones(*self.normalized_shape, device=device, dtype=dtype)) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# the functional forms, which lazyfuse.nn also publishes in lazyfuse.nn.functional
FUNCTIONAL = ["instance_norm", "rms_norm"]
