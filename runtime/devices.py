"""Device names and the registry that maps each name to its backend.

`cpu` and `opencl[:N]` run OpenCL C kernels through PyOpenCL (on a machine
without a GPU, the CPU device comes from pip's pocl-binary-distribution);
`cuda[:N]` runs Triton kernels.
"""
from __future__ import annotations

import functools

KINDS = ("cpu", "opencl", "cuda")


class device:
    """A device, as in `torch.device`: `device("cpu")`, `device("opencl:0")`, `device("cuda", 0)`."""

    def __init__(self, spec, index: int | None = None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string or a lazyfuse.device, got {type(spec).__name__}")
        kind, _, number = spec.strip().partition(":")
        if kind not in KINDS:
            raise RuntimeError(f"unknown device {spec!r}; expected one of: cpu, opencl, opencl:N, cuda, cuda:N")
        if number:
            if not number.isdigit() or index is not None:
                raise RuntimeError(f"invalid device string {spec!r}; expected a form like 'opencl:0'")
            index = int(number)
        if kind == "cpu" and index not in (None, 0):
            raise RuntimeError(f"invalid device {spec!r}: there is one cpu device")
        self.type = kind
        self.index = None if kind == "cpu" else index

    @property
    def canonical(self) -> str:
        """The name kernels and buffers are kept under: cpu, opencl:0, cuda:0."""
        return "cpu" if self.type == "cpu" else f"{self.type}:{self.index or 0}"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and self.canonical == other.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)


def canonical(spec) -> str:
    return device(spec).canonical


def backend(name: str):
    """The backend running kernels for a canonical device name."""
    if name.startswith("cuda"):
        from .triton_device import interpreting  # imported here: it may import triton
        return _backend(name, interpreting())
    return _backend(name, False)


@functools.lru_cache(maxsize=None)
def _backend(name: str, triton_interpreter: bool):
    kind = name.partition(":")[0]
    if kind in ("cpu", "opencl"):
        from .opencl_device import OpenCLDevice
        return OpenCLDevice.open(name)
    if triton_interpreter:
        from .triton_device import TritonInterpreterDevice
        return TritonInterpreterDevice(name)
    from .cuda_device import open_cuda
    return open_cuda(name)
