"""Device buffers and the per-device pool that recycles them.

A fresh large allocation costs milliseconds in page faults, so freed buffers
go back to a pool keyed by size and are handed out again. Queues are in
order, so a recycled buffer is only written after earlier kernels that
read it have been enqueued before the write.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable


class BufferPool:
    def __init__(self, allocate: Callable[[int], Any], limit_bytes: int,
                 release: Callable[[Any], None] = lambda handle: None):
        self._allocate, self._release = allocate, release
        self._free: dict[int, list[Any]] = defaultdict(list)
        self.limit_bytes = limit_bytes  # the largest single allocation the device allows
        self.closed = False

    def take(self, nbytes: int, device_name: str) -> "Buffer":
        if nbytes > self.limit_bytes:
            raise MemoryError(f"cannot allocate {nbytes} bytes on {device_name}: "
                              f"the device allows at most {self.limit_bytes} bytes in one buffer")
        free = self._free.get(nbytes)
        handle = free.pop() if free else None
        if handle is None:
            try:
                handle = self._allocate(max(nbytes, 1))
            except Exception as e:  # the driver's out-of-memory error
                self.clear()
                try:
                    handle = self._allocate(max(nbytes, 1))
                except Exception:
                    raise MemoryError(f"cannot allocate {nbytes} bytes on {device_name}: {e}") from e
        return Buffer(handle, nbytes, self)

    def give_back(self, handle: Any, nbytes: int) -> None:
        if self.closed:
            return
        self._free[nbytes].append(handle)

    def clear(self) -> None:
        for handles in self._free.values():
            for handle in handles:
                self._release(handle)
        self._free.clear()

    def close(self) -> None:
        """Release pooled memory before the driver shuts down; later frees are not pooled."""
        self.clear()
        self.closed = True


class Buffer:
    """One allocation; returns itself to its pool when no node holds it. `written`:
    the device's record of the command that wrote it, when the device keeps one."""

    __slots__ = ("handle", "nbytes", "_pool", "written")

    def __init__(self, handle: Any, nbytes: int, pool: BufferPool):
        self.handle, self.nbytes, self._pool = handle, nbytes, pool
        self.written = None

    def __del__(self):
        try:
            self._pool.give_back(self.handle, self.nbytes)
        except Exception:  # interpreter shutdown: the pool may already be gone
            pass


class BufferPart:
    """Bytes [start, start + nbytes) of a buffer under a handle of their own: a slice
    of a computed tensor, read with no copy (runtime/movement.py). It holds the
    whole buffer, which goes back to its pool only when no part of it is in use."""

    __slots__ = ("handle", "nbytes", "whole", "start")

    def __init__(self, handle: Any, nbytes: int, whole: Buffer, start: int):
        self.handle, self.nbytes, self.whole, self.start = handle, nbytes, whole, start

    @property
    def written(self):
        return self.whole.written


def buffer_part(buffer, start: int, nbytes: int, handle_of: Callable[[Any, int, int], Any]) -> BufferPart:
    """Bytes [start, start + nbytes) of `buffer` (a Buffer or a part of one);
    `handle_of(whole handle, start, nbytes)` is the device's handle for them."""
    if isinstance(buffer, BufferPart):
        buffer, start = buffer.whole, buffer.start + start
    return BufferPart(handle_of(buffer.handle, start, nbytes), nbytes, buffer, start)
