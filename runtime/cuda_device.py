"""The `cuda` device on a real NVIDIA GPU: device memory through the CUDA driver
API (NVIDIA's cuda-bindings), kernels generated as Triton and launched by
Triton's own launcher (torch-free as long as torch is not imported).

No machine this project is tested on has a GPU, so this layer is kept thin and
typed; CI checks only that its absence is reported cleanly. With
TRITON_INTERPRET=1 the `cuda` device is `triton_device.TritonInterpreterDevice`
instead, which runs the same kernels on the CPU.
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

from .buffer import Buffer, BufferPart, BufferPool, buffer_part
from .schedule import Kernel
from .triton_device import PART_ALIGNMENT, Launch, TritonKernelLoader, launch_triton

# enough programs per streaming multiprocessor to keep it busy
PROGRAMS_PER_SM = 4


@functools.lru_cache(maxsize=None)
def unavailable_reason() -> Optional[str]:
    """None when an NVIDIA driver answers, else why CUDA cannot be used."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return "NVIDIA's cuda-bindings package is not installed (pip install 'lazyfuse[cuda]')"
    try:
        err, = driver.cuInit(0)[:1]
    except Exception as e:  # DynamicLibNotFoundError when no NVIDIA driver is installed
        return f"no NVIDIA driver was found ({type(e).__name__}: {e})"
    if int(err) != 0:
        return f"the NVIDIA driver failed to initialise (cuInit returned {err})"
    err, count = driver.cuDeviceGetCount()
    if int(err) != 0 or count == 0:
        return "the NVIDIA driver reports no GPU"
    return None


def is_available() -> bool:
    return unavailable_reason() is None


def open_cuda(name: str) -> "CudaDevice":
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"device {name!r} cannot be used: {reason}. Use device='cpu' or 'opencl', or set "
                           f"TRITON_INTERPRET=1 to run the cuda device's Triton kernels in Triton's interpreter.")
    return CudaDevice(name, int(name.partition(":")[2] or 0))


def _checked(result: tuple) -> Any:
    """Unwrap a cuda-bindings (error, value...) tuple, raising on an error."""
    err, *values = result
    if int(err) != 0:
        raise RuntimeError(f"CUDA driver call failed: {err}")
    return values[0] if len(values) == 1 else tuple(values)


class DeviceMemory:
    """One cuMemAlloc allocation; `release()` frees it (called by the pool)."""

    def __init__(self, pointer: int, nbytes: int):
        self.pointer, self.nbytes = pointer, nbytes

    def release(self) -> None:
        from cuda.bindings import driver
        _checked(driver.cuMemFree(self.pointer))


class PointerArgument:
    """What Triton's launcher takes for a pointer: a data_ptr() and a dtype."""

    def __init__(self, pointer: int, dtype: np.dtype):
        self._pointer, self.dtype = pointer, dtype

    def data_ptr(self) -> int:
        return int(self._pointer)


class CudaDevice:
    def __init__(self, name: str, ordinal: int):
        from cuda.bindings import driver
        self.name, self.driver = name, driver
        device = _checked(driver.cuDeviceGet(ordinal))
        self.context = _checked(driver.cuDevicePrimaryCtxRetain(device))
        _checked(driver.cuCtxSetCurrent(self.context))
        sms = _checked(driver.cuDeviceGetAttribute(
            driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device))
        self.parallelism = int(sms) * PROGRAMS_PER_SM
        self.max_alloc_bytes = int(_checked(driver.cuDeviceTotalMem(device)))
        self.part_alignment = PART_ALIGNMENT
        self.pool = BufferPool(self._allocate, self.max_alloc_bytes, release=DeviceMemory.release)
        self.loader = TritonKernelLoader()

    def _allocate(self, nbytes: int) -> DeviceMemory:
        return DeviceMemory(_checked(self.driver.cuMemAlloc(nbytes)), nbytes)

    def alloc(self, nbytes: int) -> Buffer:
        return self.pool.take(nbytes, self.name)

    def upload(self, array: np.ndarray, wait: bool = True) -> Buffer:
        """A buffer holding `array`, copied at once (`wait` is for OpenCL's queue)."""
        array = np.ascontiguousarray(array)
        buffer = self.alloc(array.nbytes)
        if array.nbytes:
            _checked(self.driver.cuMemcpyHtoD(buffer.handle.pointer, array.ctypes.data, array.nbytes))
        return buffer

    def part(self, buffer, start: int, nbytes: int) -> BufferPart:
        """Bytes [start, start + nbytes) of `buffer`: its pointer moved on (never released: not pooled)."""
        return buffer_part(buffer, start, nbytes, lambda memory, at, size: DeviceMemory(memory.pointer + at, size))

    def copy(self, buffer, start: int, nbytes: int) -> Buffer:
        """Bytes [start, start + nbytes) of `buffer` copied into a new buffer, on the
        default stream after the kernels launched before."""
        out = self.alloc(nbytes)
        if nbytes:
            _checked(self.driver.cuMemcpyDtoD(out.handle.pointer, buffer.handle.pointer + start, nbytes))
        return out

    def download(self, buffer: Buffer, dtype: np.dtype, count: int) -> np.ndarray:
        out = np.empty(count, dtype=dtype)
        if out.nbytes:
            _checked(self.driver.cuCtxSynchronize())
            _checked(self.driver.cuMemcpyDtoH(out.ctypes.data, buffer.handle.pointer, out.nbytes))
        return out

    def synchronize(self) -> None:
        _checked(self.driver.cuCtxSynchronize())

    def prepare(self, kernels: list[Kernel]) -> list[Launch]:
        return [self.loader.prepare(k) for k in kernels]

    def launch(self, launch: Launch, outputs: list, args: list) -> None:
        for out in outputs:
            out.set_buffer(self.alloc(out.numel * out.dtype.itemsize))
        pointers = [PointerArgument(n.buffer.handle.pointer, np.dtype(np.int8) if n.dtype.name == "bool"
                                    else n.dtype.np_dtype) for n in args]
        launch_triton(self.name, launch, pointers, [n.buffer.nbytes for n in args])
