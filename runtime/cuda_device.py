"""The `cuda` device's availability check. Kernels for it are generated as Triton
(the Triton backend is not built yet), so opening it explains what is missing."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def unavailable_reason() -> str | None:
    """None when an NVIDIA driver answers, else why CUDA cannot be used."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return "NVIDIA's cuda-bindings package is not installed"
    try:
        err, = driver.cuInit(0)[:1]
    except Exception as e:  # DynamicLibNotFoundError when no driver is installed
        return f"no NVIDIA driver was found ({type(e).__name__}: {e})"
    if int(err) != 0:
        return f"the NVIDIA driver failed to initialise (cuInit returned {err})"
    return None


def is_available() -> bool:
    return unavailable_reason() is None


def open_cuda(name: str):
    reason = unavailable_reason() or "the Triton backend for cuda devices is not built yet"
    raise RuntimeError(f"device {name!r} cannot be used: {reason}. Use device='cpu' or 'opencl' instead.")
