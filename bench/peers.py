"""The systems lazyfuse is compared with: numpy, numexpr, PyTorch (eager and
torch.compile), and a hand-written vectorised OpenCL kernel (the ideal line).
Each optional peer reports why it is missing instead of failing."""
from __future__ import annotations

import importlib
import os

import numpy as np


def optional(module: str):
    """(module, None) when importable, else (None, why not)."""
    try:
        return importlib.import_module(module), None
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{module} not installed ({type(e).__name__})"


def openblas_note() -> str:
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    return f"numpy ran with {', '.join(set_vars)} set" if set_vars else "OPENBLAS_* variables unset"


class HandWrittenKernel:
    """A vectorised OpenCL kernel written by hand for one workload: vector loads, math
    and stores as wide as the device's native vectors (float16 with AVX-512), one
    vector per work-item, 256 work-items per group."""

    def __init__(self, body: str, inputs: int, n: int):
        import pyopencl as cl
        from lazyfuse.runtime.devices import backend
        self.cl, self.rt, self.n = cl, backend("cpu").rt, n
        self.lanes = lanes = self.rt.native_vector_bytes // 4
        args = ", ".join(f"__global const float* restrict in{i}" for i in range(inputs))
        loads = "\n".join(f"  float{lanes} {chr(ord('x') + i)} = vload{lanes}(gid, in{i});" for i in range(inputs))
        source = (f"__kernel void ideal(__global float* restrict out, {args}) {{\n"
                  f"  const int gid = get_global_id(0);\n{loads}\n  vstore{lanes}({body}, gid, out);\n}}\n")
        self.kernel = cl.Kernel(cl.Program(self.rt.context, source).build(), "ideal")
        self.local = min(256, n // lanes)
        assert n % (lanes * self.local) == 0

    def __call__(self, out, *inputs) -> None:
        self.kernel(self.rt.queue, (self.n // self.lanes,), (self.local,), out, *inputs)
        self.rt.queue.finish()

    def buffers(self, *arrays: np.ndarray):
        cl = self.cl
        flags = cl.mem_flags
        ins = [cl.Buffer(self.rt.context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=a) for a in arrays]
        return cl.Buffer(self.rt.context, flags.READ_WRITE, arrays[0].nbytes), ins
