"""Built OpenCL programs kept on disk, so a new process loads a kernel it has
built before instead of building it again.

Building from source costs PoCL 25-40 ms per program even when PyOpenCL's and
PoCL's own caches hold it; creating the program from the binary it returned
last time costs 1-8 ms (measured here in fresh processes). Binaries are keyed
by the source and everything that could make one invalid (platform, device,
driver, PyOpenCL). LAZYFUSE_NO_CACHE=1 turns the cache off;
LAZYFUSE_CACHE_DIR moves it (default ~/.cache/lazyfuse).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pyopencl as cl


# -w: no warnings. The source is generated, and PoCL's compiler prints its warnings'
# count ("4 warnings generated.") on the user's stderr: the random-number kernels'
# 8-lane 64-bit vectors draw an ABI note on machines without AVX-512
BUILD_OPTIONS = ["-w"]


def _directory() -> Path:
    return Path(os.environ.get("LAZYFUSE_CACHE_DIR") or Path.home() / ".cache" / "lazyfuse") / "opencl"


def _enabled() -> bool:
    return os.environ.get("LAZYFUSE_NO_CACHE", "0") in ("", "0")


def build(context, source: str):
    """The program for `source` built for the context's one device, from disk when possible."""
    device = context.devices[0]
    identity = "\0".join([source, device.platform.name, device.platform.version, device.name,
                          device.driver_version, cl.VERSION_TEXT])
    path = _directory() / f"{hashlib.sha256(identity.encode()).hexdigest()}.bin"
    if _enabled() and path.exists():
        try:
            return cl.Program(context, [device], [path.read_bytes()]).build()
        except (cl.RuntimeError, cl.LogicError, OSError):
            pass  # unreadable or stale: build from source and replace it
    program = cl.Program(context, source).build(options=BUILD_OPTIONS)
    if _enabled():
        _store(path, program.get_info(cl.program_info.BINARIES)[0])
    return program


def _store(path: Path, binary: bytes) -> None:
    """Write atomically, so a concurrent reader never sees half a binary; a cache
    that cannot be written only costs the next process a build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(binary)
        os.replace(tmp.name, path)
    except OSError:
        pass
