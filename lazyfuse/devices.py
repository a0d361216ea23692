"""`lazyfuse.cuda`, `lazyfuse.opencl` and `lazyfuse.synchronize`."""
from __future__ import annotations

import types

from lazyfuse.runtime import cuda_device, opencl_device
from lazyfuse.runtime.devices import backend, canonical


def _is_opencl_available() -> bool:
    return opencl_device.opencl_available()


cuda = types.SimpleNamespace(is_available=cuda_device.is_available, unavailable_reason=cuda_device.unavailable_reason,
                             device_count=lambda: 0 if not cuda_device.is_available() else 1,
                             synchronize=lambda device=None: synchronize(device or "cuda"))
opencl = types.SimpleNamespace(is_available=_is_opencl_available)


def synchronize(device=None) -> None:
    """Wait until every kernel queued on the device (default: cpu) has finished."""
    backend(canonical(device or "cpu")).synchronize()
