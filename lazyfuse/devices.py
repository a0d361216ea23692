"""`lazyfuse.cuda`, `lazyfuse.opencl`, `lazyfuse.accelerator` and `lazyfuse.synchronize`."""
from __future__ import annotations

import types

from lazyfuse.runtime import cuda_device, opencl_device
from lazyfuse.runtime.devices import backend, canonical, device


def _is_opencl_available() -> bool:
    return opencl_device.opencl_available()


cuda = types.SimpleNamespace(is_available=cuda_device.is_available, unavailable_reason=cuda_device.unavailable_reason,
                             device_count=lambda: 0 if not cuda_device.is_available() else 1,
                             synchronize=lambda device=None: synchronize(device or "cuda"))
opencl = types.SimpleNamespace(is_available=_is_opencl_available)
# PyTorch's device-generic API, which its tutorials use to pick a device: the
# accelerator is an NVIDIA GPU (`cuda`) when there is one; the cpu is not one
accelerator = types.SimpleNamespace(
    is_available=cuda_device.is_available,
    current_accelerator=lambda: device("cuda") if cuda_device.is_available() else None,
    device_count=cuda.device_count,
    synchronize=lambda device_index=None: synchronize("cuda"))


def synchronize(device=None) -> None:
    """Wait until every kernel queued on the device (default: cpu) has finished."""
    backend(canonical(device or "cpu")).synchronize()
