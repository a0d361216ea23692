"""Padding modules: F.pad with a fixed amount and mode per module, for 1, 2 and 3
trailing dims, with PyTorch's names (Zero, Constant, Reflection, Replication,
Circular)."""
from __future__ import annotations

from ..tensor import Tensor
from .functional import pad
from .modules import Module


class _PadNd(Module):
    """F.pad(x, padding, mode, value); an int padding pads every side of the `dims` trailing dims."""

    mode, dims = "constant", 1

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} ints, "
                             f"got {self.padding}")
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return pad(x, self.padding, self.mode, self.value if self.mode == "constant" else None)

    def extra_repr(self) -> str:
        return f"padding={self.padding}" + (f", value={self.value}" if self.mode == "constant" else "")


def _padding_module(name: str, mode: str, dims: int, takes_value: bool) -> type:
    if takes_value:
        def __init__(self, padding, value: float):
            _PadNd.__init__(self, padding, value)
    else:
        def __init__(self, padding):
            _PadNd.__init__(self, padding)
    return type(name, (_PadNd,), {"mode": mode, "dims": dims, "__init__": __init__,
                                  "__doc__": f"Pads the last {dims} dim(s) with mode {mode!r}."})


ZeroPad1d, ZeroPad2d, ZeroPad3d = (_padding_module(f"ZeroPad{n}d", "constant", n, False) for n in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (_padding_module(f"ConstantPad{n}d", "constant", n, True) for n in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (_padding_module(f"ReflectionPad{n}d", "reflect", n, False)
                                                     for n in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (_padding_module(f"ReplicationPad{n}d", "replicate", n, False)
                                                        for n in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (_padding_module(f"CircularPad{n}d", "circular", n, False)
                                               for n in (1, 2, 3))
