"""A peer written in C (bench/native_sums.c, built here with gcc and OpenMP):
sums that read memory as fast as this machine's cores can, whoever wrote the
kernel. Optional: without a compiler, `load` says why."""
from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("native_sums.c")
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared"]


@functools.cache
def load():
    """(the built library, None), or (None, why it could not be built); built once a process."""
    compiler = shutil.which("gcc")
    if compiler is None:
        return None, "no gcc on PATH"
    with tempfile.TemporaryDirectory(prefix="lazyfuse-bench-") as folder:  # loaded, the file may go
        library = Path(folder) / "native_sums.so"
        built = subprocess.run([compiler, *_FLAGS, str(SOURCE), "-o", str(library)], capture_output=True, text=True)
        if built.returncode != 0:
            return None, f"gcc could not build {SOURCE.name}: {built.stderr.strip()[:200]}"
        lib = ctypes.CDLL(str(library))
    for fn in (lib.sum, lib.sum_of_squared_differences):
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    return lib, None


def summing(fn, x: np.ndarray, y: np.ndarray | None = None, scale: float = 1.0):
    """A call of the C sum `fn` over float32 x (and y), times scale."""
    assert x.dtype == np.float32 and x.flags.c_contiguous and (y is None or y.shape == x.shape)
    second = x if y is None else y
    return lambda: fn(x.ctypes.data, second.ctypes.data, x.size) * scale
