"""Built OpenCL programs kept on disk, so a new process loads a kernel it has
built before instead of building it again.

Building from source costs PoCL 25-40 ms per program even when PyOpenCL's and
PoCL's own caches hold it; creating the program from the binary it returned
last time costs 1-8 ms (measured here in fresh processes). Binaries are keyed
by the source and everything that could make one invalid (platform, device,
driver, PyOpenCL). Where they are kept: runtime/disk_cache.py.
"""
from __future__ import annotations

import hashlib

import pyopencl as cl

from lazyfuse.runtime import disk_cache


# -w: no warnings. The source is generated, and PoCL's compiler prints its warnings'
# count ("4 warnings generated.") on the user's stderr: the random-number kernels'
# 8-lane 64-bit vectors draw an ABI note on machines without AVX-512
BUILD_OPTIONS = ["-w"]


def build(context, source: str):
    """The program for `source` built for the context's one device, from disk when possible."""
    device = context.devices[0]
    identity = "\0".join([source, device.platform.name, device.platform.version, device.name,
                          device.driver_version, cl.VERSION_TEXT])
    path = disk_cache.directory("opencl") / f"{hashlib.sha256(identity.encode()).hexdigest()}.bin"
    binary = disk_cache.read(path) if disk_cache.enabled() else None
    if binary is not None:
        try:
            return cl.Program(context, [device], [binary]).build()
        except (cl.RuntimeError, cl.LogicError):
            pass  # stale: build from source and replace it
    program = cl.Program(context, source).build(options=BUILD_OPTIONS)
    if disk_cache.enabled():
        disk_cache.write(path, program.get_info(cl.program_info.BINARIES)[0])
    return program
