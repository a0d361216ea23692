"""lazyfuse.finfo and lazyfuse.iinfo: the limits of a floating or integer dtype,
with PyTorch's attribute names (numpy's limits underneath)."""
from __future__ import annotations

import numpy as np

from lazyfuse.runtime import dtypes


class finfo:  # noqa: N801 - PyTorch's name
    """bits, eps, max, min, tiny (the smallest normal number, also smallest_normal)
    and resolution of a floating dtype (default: the default dtype)."""

    def __init__(self, type=None):  # noqa: A002 - PyTorch's argument name
        dtype = dtypes.default_float if type is None else dtypes.as_dtype(type)
        if not dtype.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            f"'{dtype.name}'")
        info = np.finfo(dtype.np_dtype)
        self.dtype, self.bits = dtype.name, info.bits
        self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -info.precision

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:  # noqa: N801 - PyTorch's name
    """bits, max and min of an integer dtype."""

    def __init__(self, type):  # noqa: A002 - PyTorch's argument name
        dtype = dtypes.as_dtype(type)
        if dtype.kind != "int":
            raise TypeError(f"torch.iinfo() requires an integer input type, got {dtype.name}")
        info = np.iinfo(dtype.np_dtype)
        self.dtype, self.bits, self.max, self.min = dtype.name, info.bits, int(info.max), int(info.min)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"
