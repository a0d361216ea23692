"""interpolate and the Upsample modules: PyTorch's nearest, nearest-exact and
(bi/tri)linear resampling, as a product with an interpolation matrix per spatial
dim (one or two weights per output position), so gradients come from the products."""
from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor
from .convolution import along_each_dim
from .modules import Module

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    spatial = input.ndim - 2
    if mode not in ("nearest", "nearest-exact", *_LINEAR):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported by lazyfuse; supported: nearest, "
                                  f"nearest-exact, linear, bilinear, trilinear")
    if mode in _LINEAR and _LINEAR[mode] != spatial:
        raise ValueError(f"interpolate: mode {mode!r} expects {_LINEAR[mode] + 2}-D input, got {input.ndim}-D")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if antialias:
        raise NotImplementedError("interpolate: antialias is not supported by lazyfuse")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    sizes = input.shape[2:]
    if size is not None:
        outputs = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        scales = [n / m for m, n in zip(outputs, sizes)]
    else:
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * spatial
        outputs = tuple(math.floor(n * f) for n, f in zip(sizes, factors))
        scales = ([n / m for m, n in zip(outputs, sizes)] if recompute_scale_factor else [1 / f for f in factors])
    if len(outputs) != spatial:
        raise ValueError(f"interpolate: expected {spatial} output sizes for {input.ndim}-D input, got {outputs}")
    return along_each_dim(input, [_weights(m, n, scale, mode, bool(align_corners))
                                  for m, n, scale in zip(outputs, sizes, scales)])


def _weights(m: int, n: int, scale: float, mode: str, align_corners: bool) -> np.ndarray:
    """The (m, n) matrix taking a dim of size n to size m, with PyTorch's source positions."""
    out = np.arange(m)
    weights = np.zeros((m, n))
    if mode in ("nearest", "nearest-exact"):
        shift = 0.5 if mode == "nearest-exact" else 0.0
        weights[out, np.minimum(np.floor((out + shift) * scale).astype(int), n - 1)] = 1.0
        return weights
    if align_corners:
        source = out * ((n - 1) / (m - 1) if m > 1 else 0.0)
    else:
        source = np.maximum((out + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(int), n - 1)
    high = np.minimum(low + 1, n - 1)
    fraction = source - low
    np.add.at(weights, (out, low), 1 - fraction)
    np.add.at(weights, (out, high), fraction)
    return weights


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = (tuple(float(f) for f in scale_factor) if isinstance(scale_factor, (tuple, list))
                             else float(scale_factor) if scale_factor else None)
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
