"""The OpenCL device: a context and in-order queue per OpenCL device, a buffer
pool, and kernel launches that never wait (only reading a value waits)."""
from __future__ import annotations

import atexit
import os
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from . import debug, host_memory
from .buffer import Buffer, BufferPart, BufferPool, buffer_part
from .profiler import KernelRecord, Profile
from .schedule import Kernel

try:
    import pyopencl as cl
except ImportError:  # reported when a device is opened
    cl = None

# enough work-items per compute unit to hide a work-item that finishes late
WORK_ITEMS_PER_UNIT = 4

# A host thread that sleeps in a blocking wait wakes up slowly here and then runs its
# next Python and enqueues at half speed (measured: reading x + 1 on 1024 elements
# back took 125 us with a blocking read, 72 us polling). Reads and synchronize()
# therefore poll their event for up to this long, yielding the core to PoCL's
# workers between polls, before they fall back to a blocking wait...
POLL_SECONDS = 200e-6
# ...but first they sleep through the last kernel taking at least this many bytes as
# arguments that they wait for: it is long, and polling only takes a core from it
# (measured, interleaved: the 65536x64 training step, 16 MiB, took 1345 us polling,
# 1230 blocking). The short kernels after it (a reduction's second stage, a loss) are
# polled, so the slow wake-up overlaps them (interleaved, against blocking at once:
# mean((x-y)**2) on 2^24 4541 -> 3896 us and 4335 -> 3744 us; sum, softmax, the
# 8-op chain and the 65536x64 step unchanged within 4 %).
LONG_KERNEL_BYTES = 1 << 20

# PoCL compiles each kernel twice unless told otherwise: a generic work-group function
# when the program's binary is fetched (the compile cache stores it), and one
# specialized to the local size at the kernel's first launch. Without specialization
# the first launch runs the generic one already built. Measured with empty caches on
# PyTorch's nn.Transformer tutorial (248 kernels): first run 112 -> 73 s, later runs
# 5.1 -> 3.7 s; kernel times unchanged within noise (8-op chain, sum, mse, softmax,
# layernorm, matmul 1024, the 65536x64 step, three interleaved runs each).
# A value the user set is kept.
POCL_ENVIRONMENT = {"POCL_WORK_GROUP_SPECIALIZATION": "0"}


def _cl_devices():
    if cl is None:
        raise RuntimeError("pyopencl is not installed: pip install pyopencl pocl-binary-distribution")
    for name, value in POCL_ENVIRONMENT.items():  # read by PoCL when it starts, below
        os.environ.setdefault(name, value)
    before = _thread_ids()
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        platforms = []
    devices = [d for p in platforms for d in p.get_devices()]
    _never_preempt_the_host(_thread_ids() - before)
    if not devices:
        raise RuntimeError("no OpenCL platform or device was found; `pip install pocl-binary-distribution` "
                           "gives PyOpenCL a CPU device with no system packages")
    return devices


def _thread_ids() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:  # not Linux
        return set()


def _never_preempt_the_host(threads: set[int]) -> None:
    """Run the worker threads an OpenCL CPU driver (PoCL) started as SCHED_BATCH.

    A normal thread woken by an enqueue onto an idle queue preempts the thread that
    enqueued: on 2 cores the Python thread then waited for the whole kernel inside
    clEnqueueNDRangeKernel (measured: 390 us of a 65536x64 training step's first
    enqueue, 8 us when the queue was busy). A SCHED_BATCH thread has the same share of
    the CPU but never preempts on wakeup, so the host goes on recording the next ops
    (both policies alternated in one process: the 65536x64 step 1449 -> 1293 us, the
    256x8 step 489 -> 479 us). Only threads born while the devices were first
    enumerated are touched; where the policy is not available this does nothing."""
    for thread in threads:
        try:
            os.sched_setscheduler(thread, os.SCHED_BATCH, os.sched_param(0))
        except (AttributeError, OSError):
            pass


def opencl_available() -> bool:
    try:
        return bool(_cl_devices())
    except RuntimeError:
        return False


class OpenCLDevice:
    _by_cl_device: dict = {}

    @staticmethod
    def open(name: str) -> "OpenCLDevice":
        devices = _cl_devices()
        if name == "cpu":
            cpus = [d for d in devices if d.type & cl.device_type.CPU]
            if not cpus:
                raise RuntimeError("no OpenCL CPU device was found; `pip install pocl-binary-distribution` provides one")
            chosen = cpus[0]
        else:
            index = int(name.partition(":")[2] or 0)
            if index >= len(devices):
                raise RuntimeError(f"device {name!r} does not exist: {len(devices)} OpenCL device(s) found")
            chosen = devices[index]
        key = chosen.int_ptr
        if key not in OpenCLDevice._by_cl_device:
            OpenCLDevice._by_cl_device[key] = _Runtime(chosen)
        return OpenCLDevice(name, OpenCLDevice._by_cl_device[key])

    def __init__(self, name: str, runtime: "_Runtime"):
        self.name, self.rt = name, runtime
        self.parallelism = runtime.cl_device.max_compute_units * WORK_ITEMS_PER_UNIT
        self.max_alloc_bytes = runtime.pool.limit_bytes
        self.part_alignment = runtime.cl_device.mem_base_addr_align // 8  # a sub-buffer's start, in bytes

    def alloc(self, nbytes: int) -> Buffer:
        return self.rt.pool.take(nbytes, self.name)

    def upload(self, array: np.ndarray, wait: bool = True) -> Buffer:
        """A buffer holding `array`. With wait=False the copy is enqueued after the
        kernels before it (PyOpenCL keeps the array alive until it has run): only for
        an array nothing writes to afterwards."""
        array = np.ascontiguousarray(array)
        buffer = self.alloc(array.nbytes)
        if array.nbytes:
            event = cl.enqueue_copy(self.rt.queue, buffer.handle, array, is_blocking=wait)
            if not wait:
                buffer.written = self.rt.enqueued(event, array.nbytes)
        return buffer

    def part(self, buffer, start: int, nbytes: int) -> BufferPart:
        """Bytes [start, start + nbytes) of `buffer` as a sub-buffer; start is a multiple of part_alignment."""
        return buffer_part(buffer, start, nbytes, lambda handle, at, size: handle.get_sub_region(at, size))

    def copy(self, buffer, start: int, nbytes: int) -> Buffer:
        """Bytes [start, start + nbytes) of `buffer` copied into a new buffer, after
        the kernels enqueued before (start needs no alignment)."""
        out = self.alloc(nbytes)
        if nbytes:  # OpenCL refuses an empty copy
            event = cl.enqueue_copy(self.rt.queue, out.handle, buffer.handle, byte_count=nbytes, src_offset=start)
            out.written = self.rt.enqueued(event, nbytes)
        return out

    def download(self, buffer: Buffer, dtype: np.dtype, count: int) -> np.ndarray:
        """Read a buffer as soon as the kernel that wrote it is done: the read goes on
        its own queue, so it does not wait for kernels enqueued after that one (a
        training step's loss is read while its weight gradient is still computed)."""
        out = np.empty(count, dtype=dtype)
        if out.nbytes:
            self.rt.queue.flush()  # the kernel the read waits for must reach the device
            written = [buffer.written.event] if buffer.written is not None else None
            self.rt.wait(cl.enqueue_copy(self.rt.read_queue, out, buffer.handle, is_blocking=False,
                                         wait_for=written), self.rt.read_queue, follows=buffer.written)
        return out

    def synchronize(self) -> None:
        self.rt.wait(cl.enqueue_marker(self.rt.queue), self.rt.queue, follows=self.rt.last_launch)

    def prepare(self, kernels: list[Kernel]) -> list["Launch"]:
        """Render (cached by structure) and compile (cached by source) a schedule's kernels."""
        return self._launches(self.rt.rendered(kernels, self.parallelism), [k.stored for k in kernels])

    @property
    def identity(self) -> str:
        """What a schedule stored on disk for this device depends on besides the
        graph (runtime/schedule_store.py): the rendered code depends on all of it."""
        d = self.rt.cl_device
        return "\0".join([d.platform.name, d.platform.version, d.name, d.driver_version,
                          str(self.parallelism), str(self.rt.native_vector_bytes)])

    @staticmethod
    def describe(launch: "Launch") -> dict:
        """A launch's kernel as JSON, for `restore`: its code and launch sizes."""
        return {"name": launch.name, "preamble": list(launch.preamble), "body": launch.body,
                "global_size": launch.global_size, "local_size": launch.local_size, "work_items": launch.work_items}

    def restore(self, descriptions: list[dict], outputs: list[list], args: list[list]) -> list["Launch"]:
        """Launches of the kernels `describe` gave, writing `outputs` and taking `args` (nodes)."""
        from lazyfuse.kernels.opencl import RenderedKernel  # kernels depend on runtime, not the reverse
        rendered = [RenderedKernel(d["name"], tuple(d["preamble"]), d["body"], list(a), d["global_size"],
                                   d["local_size"], d["work_items"]) for d, a in zip(descriptions, args)]
        return self._launches(rendered, outputs)

    def _launches(self, rendered: list, outputs: list[list]) -> list["Launch"]:
        launchers = self.rt.compiled(rendered)
        return [Launch(r.name, r.preamble, r.body, launcher, r.global_size, r.local_size, r.work_items,
                       written, r.args, r.argument_bytes)
                for r, written, launcher in zip(rendered, outputs, launchers)]

    def launch(self, launch: "Launch", outputs: list, args: list) -> None:
        """Allocate the outputs and enqueue the kernel; `outputs` and `args` are the
        nodes standing where launch.outputs and launch.args stood when it was prepared."""
        for out in outputs:
            out.set_buffer(self.alloc(out.numel * out.dtype.itemsize))
        if launch.work_items == 0:
            return
        timed = bool(Profile.active) or debug.level() >= 1
        event = launch.cl_kernel(self.rt.queue_for(timed), (launch.global_size,), (launch.local_size,),
                                 *[n.buffer.handle for n in args])
        command = self.rt.enqueued(event, launch.nbytes)
        for out in outputs:
            out.buffer.written = command
        if timed:
            self._report(launch, event)

    def _report(self, launch: "Launch", event) -> None:
        """Record the launch for lazyfuse.profile() and log it under LAZYFUSE_DEBUG."""
        if Profile.active:
            Profile.record(KernelRecord(launch.name, self.name, launch.source, launch.nbytes,
                                        _timer=_event_seconds(event)))
        if debug.level() >= 1:
            start = time.perf_counter()
            seconds = _event_seconds(event)()
            debug.log(1, f"{launch.name:<40} {self.name:<9} items {launch.work_items:>9} "
                         f"{seconds * 1e6:9.1f} us {launch.nbytes / max(seconds, 1e-9) / 1e9:7.2f} GB/s "
                         f"(wall {1e6 * (time.perf_counter() - start):.0f} us)")
            debug.log(2, launch.source)


@dataclass
class Launch:
    """A compiled kernel with its launch sizes; `outputs` and `args` are the nodes
    it was prepared for (a cached schedule maps them to positions)."""

    name: str
    preamble: tuple[str, ...]
    body: str
    cl_kernel: object
    global_size: int
    local_size: int
    work_items: int
    outputs: list
    args: list
    nbytes: int  # of the buffers it takes as arguments

    @property
    def source(self) -> str:
        return "\n".join(self.preamble) + "\n" + self.body


class Command(NamedTuple):
    """An enqueued kernel: its event, and its number in the order of launches."""

    event: object
    number: int


def _event_seconds(event):
    def seconds() -> float:
        event.wait()
        return (event.profile.end - event.profile.start) * 1e-9
    return seconds


class _GroupMember:
    """Launches one member of a grouped kernel function, called as its own cl.Kernel would be."""

    def __init__(self, kernel, which: int, unused: int):
        self.kernel, self.which, self.unused = kernel, np.int32(which), (None,) * unused

    def __call__(self, queue, global_size, local_size, *buffers):
        return self.kernel(queue, global_size, local_size, self.which, *buffers, *self.unused)


class _Runtime:
    """What devices naming the same OpenCL device share: context, queue, pool, compiled kernels."""

    def __init__(self, cl_device):
        self.cl_device = cl_device
        self.native_vector_bytes = cl_device.native_vector_width_float * 4  # 64 with AVX-512
        self.context = cl.Context([cl_device])
        # kernels go to `queue`, which times them only while they are profiled or logged:
        # PoCL's profiling queue took 14 us per small launch against 5 us without
        self._queues = {timed: cl.CommandQueue(self.context, properties=properties)
                        for timed, properties in ((False, 0), (True, cl.command_queue_properties.PROFILING_ENABLE))}
        self.queue, self.timed = self._queues[False], False
        self.read_queue = cl.CommandQueue(self.context)  # reads of computed values (see download)
        self.pool = BufferPool(self.new_buffer, cl_device.max_mem_alloc_size, release=self._release)
        self._programs: dict[str, object] = {}
        self.launches = 0  # kernels enqueued so far
        self.last_launch: Optional[Command] = None
        self.long_kernel: Optional[Command] = None  # the last long one (see LONG_KERNEL_BYTES) not waited for
        atexit.register(self.close)

    def new_buffer(self, nbytes: int):
        """A new buffer, not from the pool; on a CPU device, one of at least a huge
        page in host memory backed by huge pages (runtime/host_memory.py)."""
        host = None
        if nbytes >= host_memory.HUGE_PAGE_BYTES and self.cl_device.type & cl.device_type.CPU:
            host = host_memory.huge_page_backed(nbytes)
        if host is None:
            return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, nbytes)
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE | cl.mem_flags.USE_HOST_PTR, hostbuf=host)

    def _release(self, buffer) -> None:
        """Hand a pooled buffer back to the driver once no enqueued command can still
        use it: a buffer in host memory (runtime/host_memory.py) is unmapped with it."""
        self._finish()
        buffer.release()

    def _finish(self) -> None:
        for queue in (*self._queues.values(), self.read_queue):
            queue.finish()

    def queue_for(self, timed: bool):
        """The queue, timing its kernels when `timed`: on a change, the other kind of
        queue takes over once this one's commands have run (each queue is in order,
        the two are not ordered with each other)."""
        if timed != self.timed:
            self.queue.finish()
            self.queue, self.timed = self._queues[timed], timed
        return self.queue

    def enqueued(self, event, nbytes: int) -> "Command":
        """Note a kernel just enqueued that takes `nbytes` as arguments."""
        self.last_launch = Command(event, self.launches)
        self.launches += 1
        if nbytes >= LONG_KERNEL_BYTES:
            self.long_kernel = self.last_launch
        return self.last_launch

    def wait(self, event, queue, follows: Optional["Command"]) -> None:
        """Wait for `event`, a command that runs after the kernel `follows` (None: after
        none): sleep through the last long kernel if it runs before, poll, then block
        (see POLL_SECONDS and LONG_KERNEL_BYTES). A failed command raises from event.wait()."""
        queue.flush()
        long_kernel = self.long_kernel
        if long_kernel is not None and follows is not None and follows.number >= long_kernel.number:
            long_kernel.event.wait()
            self.long_kernel = None
        deadline = time.perf_counter() + POLL_SECONDS
        while event.get_info(cl.event_info.COMMAND_EXECUTION_STATUS) > 0:  # 0 is complete, below 0 failed
            if time.perf_counter() > deadline:
                break
            os.sched_yield()
        event.wait()

    def close(self) -> None:
        # buffers must go back to the driver while its context still exists, and no
        # command may be left to read host memory that goes when the process does
        self._finish()
        self.pool.close()

    def rendered(self, kernels: list[Kernel], parallelism: int) -> list:
        """The kernels as OpenCL C (kernels/opencl.py), each rendered once per structure."""
        from lazyfuse.kernels import render_cache  # kernels depend on runtime, not the reverse
        from lazyfuse.kernels.opencl import render
        settings = ("opencl", parallelism, self.native_vector_bytes)

        def fresh(kernel: Kernel):
            return render(kernel, parallelism, self.native_vector_bytes)
        return [render_cache.render(k, settings, fresh) for k in kernels]

    def compiled(self, rendered: list) -> list:
        """The launcher of each rendered kernel (called as a cl.Kernel is). Kernels not
        built before are built together as one program: each build costs PoCL 25-40
        ms however small the program (measured: three tiny kernels took 80-140 ms as
        three programs, 27-38 ms as one), which is most of a warm first step."""
        new = {r.source: r for r in rendered if r.source not in self._programs}
        if new:
            self._build(list(new.values()))
        return [self._programs[r.source] for r in rendered]

    def _build(self, rendered: list) -> None:
        """Build one program of the kernels, small ones grouped (see kernels/opencl_group.py)."""
        from lazyfuse.kernels import opencl_group, program_cache
        preamble = dict.fromkeys(line for r in rendered for line in r.preamble)
        groups = opencl_group.groups(rendered)
        source = "\n".join(preamble) + "\n" + "\n".join(opencl_group.source(g) for g in groups)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cl.CompilerWarning)
            try:
                program = program_cache.build(self.context, source)
            except (cl.RuntimeError, cl.LogicError) as e:
                names = ", ".join(r.name for r in rendered)
                raise RuntimeError(f"OpenCL failed to build kernel(s) {names}:\n{e}\n{source}") from e
        for group in groups:
            if len(group) == 1:
                # one Kernel object per source: pyopencl builds a new one on every attribute access
                self._programs[group[0].source] = cl.Kernel(program, group[0].name)
                continue
            width = opencl_group.buffer_parameters(group)
            for which, r in enumerate(group):
                kernel = cl.Kernel(program, opencl_group.dispatcher_name(group))
                kernel.set_scalar_arg_dtypes([np.int32] + [None] * width)
                self._programs[r.source] = _GroupMember(kernel, which, width - len(r.args))
