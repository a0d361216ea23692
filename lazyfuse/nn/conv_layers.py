"""Convolution and pooling modules (see lazyfuse/nn/convolution.py)."""
from __future__ import annotations

import math

from ..tensor import Tensor
from . import convolution, functional as F
from .modules import Module, uniform_parameter


class _ConvNd(Module):
    spatial = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', but got "
                             f"padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        kernel, stride, dilation = (_tuple(v, self.spatial) for v in (kernel_size, stride, dilation))
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = padding if isinstance(padding, str) else _tuple(padding, self.spatial)
        # PyTorch's fan-in is the weight's dim 1 times the kernel: (out, in / groups, *kernel) here
        fan_in = self._weight_shape()[1] * math.prod(kernel)
        self.weight = uniform_parameter(self._weight_shape(), fan_in, device, dtype)
        self.bias = uniform_parameter((out_channels,), fan_in, device, dtype) if bias else None

    def _weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding
        if self.padding_mode != "zeros":  # the input padded with its own elements first, then no padding
            x, padding = F.pad(x, self._pads(), mode=self.padding_mode), 0
        return convolution.conv(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
                                self.spatial)

    def _pads(self) -> tuple:
        """F.pad's amounts (last dim first) for this layer's padding."""
        if self.padding == "valid":
            return (0, 0) * self.spatial
        if self.padding == "same":
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            pairs = [(t // 2, t - t // 2) for t in totals]
        else:
            pairs = [(p, p) for p in self.padding]
        return tuple(amount for pair in reversed(pairs) for amount in pair)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial:
            text += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0,) * self.spatial) != (0,) * self.spatial:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text + (", bias=False" if self.bias is None else "")


def _tuple(value, n: int) -> tuple:
    return (value,) * n if isinstance(value, int) else tuple(value)


class Conv1d(_ConvNd):
    spatial = 1


class Conv2d(_ConvNd):
    spatial = 2


class Conv3d(_ConvNd):
    spatial = 3


class _ConvTransposeNd(_ConvNd):
    """The gradient of a convolution with respect to its input (see convolution.conv_transpose),
    with PyTorch's weight layout (in_channels, out_channels / groups, *kernel) and initialisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
        self.output_padding = _tuple(output_padding, self.spatial)

    def _weight_shape(self) -> tuple:
        return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        output_padding = self.output_padding if output_size is None else 0  # (output_size settles it)
        return convolution.conv_transpose(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                          self.groups, self.dilation, self.spatial, output_size)


class ConvTranspose1d(_ConvTransposeNd):
    spatial = 1


class ConvTranspose2d(_ConvTransposeNd):
    spatial = 2


class ConvTranspose3d(_ConvTransposeNd):
    spatial = 3


class _MaxPoolNd(Module):
    spatial = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = stride if stride is not None else kernel_size
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")

    def forward(self, x: Tensor) -> Tensor:
        return convolution.max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                                    self.return_indices, self.spatial)


class MaxPool1d(_MaxPoolNd):
    spatial = 1


class MaxPool2d(_MaxPoolNd):
    spatial = 2


class MaxPool3d(_MaxPoolNd):
    spatial = 3


class AvgPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(AvgPool1d):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AvgPool3d(AvgPool2d):
    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AdaptiveAvgPool1d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveAvgPool3d(AdaptiveAvgPool1d):
    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool3d(x, self.output_size)


class AdaptiveMaxPool1d(Module):
    spatial = 1

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    def forward(self, x: Tensor) -> Tensor:
        return convolution.adaptive_max_pool(x, self.output_size, self.spatial, self.return_indices)


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    spatial = 2


class AdaptiveMaxPool3d(AdaptiveMaxPool1d):
    spatial = 3


class Unfold(Module):
    """Sliding windows as columns (F.unfold: im2col)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"

    def forward(self, x: Tensor) -> Tensor:
        return convolution.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(Unfold):
    """Columns added back into an image (F.fold: col2im)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, " + super().extra_repr()

    def forward(self, x: Tensor) -> Tensor:
        return convolution.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)
