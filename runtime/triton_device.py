"""The `cuda` device in Triton's interpreter (TRITON_INTERPRET=1): the generated
Triton kernels run on the CPU over host buffers, so the whole Triton path above
device memory is exercised on a machine without a GPU."""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import debug
from .buffer import Buffer, BufferPart, BufferPool, buffer_part
from .profiler import KernelRecord, Profile
from .schedule import Kernel

# the interpreter runs one program at a time: a few programs keep split reductions small
INTERPRETER_PARALLELISM = 4
# where a part of a buffer may start, in bytes: Triton treats pointers 16-byte aligned as
# divisible by 16, and vectorises their loads
PART_ALIGNMENT = 16
HOST_ALLOCATION_LIMIT = 1 << 34


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


class HostTensor:
    """Host memory dressed as the torch tensor the interpreter expects: it copies
    arguments 'to the host' and back, which for host memory are identities."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.dtype = array.dtype

    def data_ptr(self) -> int:
        return self.array.ctypes.data

    def untyped_storage(self) -> "HostTensor":
        return self

    def cpu(self) -> "HostTensor":
        return self

    def storage_offset(self) -> int:
        return 0

    def size(self) -> tuple[int, ...]:
        return self.array.shape

    def stride(self) -> tuple[int, ...]:
        return tuple(s // self.array.itemsize for s in self.array.strides)

    def new_empty(self, *args, **kwargs) -> "HostTensor":
        return HostTensor(self.array)

    def set_(self, storage: "HostTensor", *args) -> "HostTensor":
        self.array = storage.array
        return self

    def copy_(self, other: "HostTensor") -> "HostTensor":
        """Nothing to copy: every 'host copy' above is this memory (the interpreter
        pairs arguments by data_ptr, so a buffer and a part of it starting where it
        starts are one pair, of two sizes)."""
        return self


@dataclass
class Launch:
    name: str
    source: str
    fn: object
    grid: int
    constexprs: dict
    num_warps: int
    outputs: list
    args: list


class TritonKernelLoader:
    """Renders kernels as Triton and loads each source once. Triton reads a
    kernel's source from its file, so each source becomes a module on disk."""

    generated: dict[str, object] = {}  # every rendered kernel by source, for the compile checks

    def __init__(self):
        self._functions: dict[str, object] = {}
        self._files = tempfile.TemporaryDirectory(prefix="lazyfuse-triton-")  # removed at exit
        self._dir = Path(self._files.name)

    def prepare(self, kernel: Kernel) -> Launch:
        from lazyfuse.kernels import render_cache
        from lazyfuse.kernels.triton import render
        rendered = render_cache.render(kernel, ("triton",), render)
        TritonKernelLoader.generated[rendered.source] = rendered
        return Launch(rendered.name, rendered.source, self._load(rendered.name, rendered.source), rendered.grid,
                      rendered.constexprs, rendered.num_warps, kernel.stored, rendered.args)

    def _load(self, name: str, source: str):
        if source not in self._functions:
            path = self._dir / f"{name}_{len(self._functions)}.py"
            path.write_text(source)
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module
            spec.loader.exec_module(module)
            self._functions[source] = getattr(module, name)
        return self._functions[source]


def launch_triton(device_name: str, launch: Launch, pointers: list, nbytes: list[int]) -> None:
    """Launch a loaded Triton kernel on `pointers` and record it for profile() and LAZYFUSE_DEBUG."""
    if launch.grid == 0:
        return
    start = time.perf_counter()
    launch.fn[(launch.grid,)](*pointers, **launch.constexprs, num_warps=launch.num_warps)
    seconds = time.perf_counter() - start  # launch time on a GPU; run time in the interpreter
    if Profile.active:
        Profile.record(KernelRecord(launch.name, device_name, launch.source, sum(nbytes), seconds=seconds))
    debug.log(1, f"{launch.name:<40} {device_name:<9} programs {launch.grid:>7} {seconds * 1e6:9.1f} us")
    debug.log(2, launch.source)


class TritonInterpreterDevice:
    """Kernels as Triton source, run by Triton's interpreter on numpy buffers."""

    def __init__(self, name: str):
        self.name = name
        self.parallelism = INTERPRETER_PARALLELISM
        self.max_alloc_bytes = HOST_ALLOCATION_LIMIT
        self.part_alignment = PART_ALIGNMENT
        self.pool = BufferPool(lambda n: np.empty(n, dtype=np.uint8), HOST_ALLOCATION_LIMIT)
        self.loader = TritonKernelLoader()

    def alloc(self, nbytes: int) -> Buffer:
        return self.pool.take(nbytes, self.name)

    def upload(self, array: np.ndarray, wait: bool = True) -> Buffer:
        """A buffer holding `array`, copied at once (`wait` is for OpenCL's queue)."""
        buffer = self.alloc(array.nbytes)
        buffer.handle[:array.nbytes] = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        return buffer

    def part(self, buffer, start: int, nbytes: int) -> BufferPart:
        """Bytes [start, start + nbytes) of `buffer`, as a numpy view."""
        return buffer_part(buffer, start, nbytes, lambda handle, at, size: handle[at:at + size])

    def copy(self, buffer, start: int, nbytes: int) -> Buffer:
        """Bytes [start, start + nbytes) of `buffer` copied into a new buffer."""
        out = self.alloc(nbytes)
        out.handle[:nbytes] = buffer.handle[start:start + nbytes]
        return out

    def download(self, buffer: Buffer, dtype: np.dtype, count: int) -> np.ndarray:
        return buffer.handle[:count * np.dtype(dtype).itemsize].view(dtype).copy()

    def synchronize(self) -> None:
        """The interpreter runs kernels as they are launched."""

    def prepare(self, kernels: list[Kernel]) -> list[Launch]:
        return [self.loader.prepare(k) for k in kernels]

    def launch(self, launch: Launch, outputs: list, args: list) -> None:
        for out in outputs:
            out.set_buffer(self.alloc(out.numel * out.dtype.itemsize))
        launch_triton(self.name, launch, [HostTensor(_typed(n)) for n in args], [n.buffer.nbytes for n in args])


def _typed(node) -> np.ndarray:
    """The node's buffer as an array of its element type (bool is stored as int8)."""
    np_dtype = np.int8 if node.dtype.name == "bool" else node.dtype.np_dtype
    return node.buffer.handle[:node.numel * node.dtype.itemsize].view(np_dtype)
