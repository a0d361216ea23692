"""The systems lazyfuse is compared with: numpy, numexpr, PyTorch (eager and
torch.compile), and a hand-written vectorised OpenCL kernel (the ideal line).
Each optional peer reports why it is missing instead of failing."""
from __future__ import annotations

import importlib
import os
import re
from string import Template

import numpy as np

from lazyfuse.kernels.opencl import CACHE_LINE_BYTES


def optional(module: str):
    """(module, None) when importable, else (None, why not)."""
    try:
        return importlib.import_module(module), None
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{module} not installed ({type(e).__name__})"


def openblas_note() -> str:
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    return f"numpy ran with {', '.join(set_vars)} set" if set_vars else "OPENBLAS_* variables unset"


class _HandWritten:
    """Kernels written by hand for one workload, the ideal line lazyfuse is drawn
    against: vector loads, math and stores as wide as the device's native vectors
    (`lanes` floats), run in turn and waited for. Subclasses give the source and the
    launches (`_enqueue`) and say how many bytes the output takes."""

    out_nbytes: int

    def __init__(self):
        import pyopencl as cl
        from lazyfuse.runtime.devices import backend
        self.cl, self.rt = cl, backend("cpu").rt
        self.lanes = self.rt.native_vector_bytes // 4

    def _build(self, source: str):
        return self.cl.Program(self.rt.context, Template(_HELPERS).substitute(W=self.lanes) + source).build()

    def __call__(self, out, *inputs) -> None:
        self._enqueue(out, *inputs)
        self.rt.queue.finish()

    def buffers(self, *arrays: np.ndarray):
        """The output's buffer and the inputs' (copies of `arrays`), in memory such as
        lazyfuse's own buffers take (huge pages on a CPU device)."""
        ins = [self.rt.new_buffer(a.nbytes) for a in arrays]
        for buffer, a in zip(ins, arrays):
            self.cl.enqueue_copy(self.rt.queue, buffer, np.ascontiguousarray(a))
        return self.rt.new_buffer(self.out_nbytes), ins

    def read(self, out, shape: tuple[int, ...]) -> np.ndarray:
        host = np.empty(shape, np.float32)
        self.cl.enqueue_copy(self.rt.queue, host, out)
        return host


# horizontal reductions of one native vector ($W: its lanes), and sin and cos as PyTorch
# computes them, by PoCL's native forms (4-5x faster, and as accurate below 1e5) unless
# some lane is larger
_HELPERS = """
float hsum(float$W v) { float s = 0.0f; for (int i = 0; i < $W; i++) s += v[i]; return s; }
float hmax(float$W v) { float m = v[0]; for (int i = 1; i < $W; i++) m = fmax(m, v[i]); return m; }
float$W sine(float$W x) {
  const int$W large = fabs(x) > 1e5f;
  return __builtin_reduce_or(large) ? select(native_sin(x), sin(x), large) : native_sin(x);
}
float$W cosine(float$W x) {
  const int$W large = fabs(x) > 1e5f;
  return __builtin_reduce_or(large) ? select(native_cos(x), cos(x), large) : native_cos(x);
}
"""


def _inputs(inputs: int) -> str:
    """The parameters in0, in1, ..."""
    return ", ".join(f"__global const float* restrict in{i}" for i in range(inputs))


def _vector_loads(lanes: int, inputs: int, at: str) -> str:
    """x, y, ... as vectors number `at` of in0, in1, ..."""
    return " ".join(f"const float{lanes} {chr(ord('x') + i)} = ((const __global float{lanes}*)in{i})[{at}];"
                    for i in range(inputs))


class HandWrittenKernel(_HandWritten):
    """An elementwise expression `body` of x, y, ...: one vector per work-item, 256
    work-items per group, stored around the caches (a store would first read the line
    it writes), its sin and cos computed by `sine` and `cosine` (see _HELPERS)."""

    def __init__(self, body: str, inputs: int, n: int):
        super().__init__()
        lanes, self.n, self.out_nbytes = self.lanes, n, 4 * n
        body = re.sub(r"\bsin\(", "sine(", re.sub(r"\bcos\(", "cosine(", body))
        self.kernel = self._build(
            f"__kernel void ideal(__global float* restrict out, {_inputs(inputs)}) {{\n"
            f"  const int gid = get_global_id(0);\n  {_vector_loads(lanes, inputs, 'gid')}\n"
            f"  __builtin_nontemporal_store({body}, (__global float{lanes}*)out + gid);\n}}\n").ideal
        self.local = min(256, n // lanes)
        assert n % (lanes * self.local) == 0

    def _enqueue(self, out, *inputs) -> None:
        self.kernel(self.rt.queue, (self.n // self.lanes,), (self.local,), out, *inputs)


# a reduction's first stage runs this many work-items per core, each summing a contiguous
# run (measured here for a sum of 2^24 floats on 2 cores: 64 work-items read fastest of 2..256)
PARTS_PER_CORE = 32
# independent vector sums per work-item, at least, so that each add need not wait for the one before
ACCUMULATORS = 4
# places each work-item reads from at once, over all inputs: its run is cut into
# STREAMS / inputs stretches read side by side, a cache line of each a step, which the
# prefetchers follow as streams (measured here, a sum of 2^24 floats: 4.4 ms reading one
# stretch, 3.5 reading four a vector a step, 2.7 reading four a line a step)
STREAMS = 4


class HandWrittenSum(_HandWritten):
    """The sum of an elementwise `term` of x, y, ... over n elements, times `scale`,
    in two stages as PyOpenCL's reduction.py does: PARTS_PER_CORE work-items per core
    each add up a contiguous run into a partial sum (reading it as STREAMS stretches
    side by side), then one adds the partials."""

    def __init__(self, term: str, inputs: int, n: int, scale: float = 1.0):
        super().__init__()
        lanes, self.out_nbytes = self.lanes, 4
        self.parts = PARTS_PER_CORE * self.rt.cl_device.max_compute_units
        self.run_vectors = n // (self.parts * lanes)
        stretches = max(1, STREAMS // inputs)
        per_stretch = max(ACCUMULATORS // stretches, CACHE_LINE_BYTES // (4 * lanes))
        accumulators, stretch = stretches * per_stretch, self.run_vectors // stretches
        assert self.run_vectors * self.parts * lanes == n and self.run_vectors % accumulators == 0
        sums = "\n".join(f"    {{ {_vector_loads(lanes, inputs, f'v + {a // per_stretch * stretch + a % per_stretch}')}"
                          f" acc{a} += {term}; }}" for a in range(accumulators))
        program = self._build(f"""
__kernel void partial(__global float* restrict partials, {_inputs(inputs)}) {{
  const int part = get_global_id(0);
  {' '.join(f'float{lanes} acc{a} = 0.0f;' for a in range(accumulators))}
  for (int v = part * {self.run_vectors}; v < part * {self.run_vectors} + {stretch}; v += {per_stretch}) {{
{sums}
  }}
  partials[part] = hsum({' + '.join(f'acc{a}' for a in range(accumulators))});
}}
__kernel void total(__global float* restrict out, __global const float* restrict partials) {{
  float s = 0.0f;
  for (int p = 0; p < {self.parts}; p++) s += partials[p];
  out[0] = s * {float(scale)!r}f;
}}""")
        self.partial, self.total = program.partial, program.total
        self.partials = self.cl.Buffer(self.rt.context, self.cl.mem_flags.READ_WRITE, 4 * self.parts)

    def _enqueue(self, out, *inputs) -> None:
        self.partial(self.rt.queue, (self.parts,), None, self.partials, *inputs)
        self.total(self.rt.queue, (1,), None, out, self.partials)


# one row per work-item, read as vectors (through vector pointers: PoCL's vloadN, which
# may not assume alignment, took softmax 27 ms against 18): softmax takes the row's max, then stores each
# exp(x - max) while summing them, then scales the row by 1 / sum (one exp per element);
# layer norm takes the mean, then the variance of x - mean, then writes the row
_ROW_BODIES = {
    "softmax": """
  float$W m = (float$W)(-INFINITY);
  for (int c = 0; c < $VECTORS; c++) m = fmax(m, x[c]);
  const float top = hmax(m);
  float$W s = 0.0f;
  for (int c = 0; c < $VECTORS; c++) { const float$W e = exp(x[c] - top); o[c] = e; s += e; }
  const float inv = 1.0f / hsum(s);
  for (int c = 0; c < $VECTORS; c++) o[c] *= inv;""",
    "layernorm": """
  float$W s = 0.0f;
  for (int c = 0; c < $VECTORS; c++) s += x[c];
  const float mean = hsum(s) / $COLS;
  float$W q = 0.0f;
  for (int c = 0; c < $VECTORS; c++) { const float$W d = x[c] - mean; q += d * d; }
  const float scale = rsqrt(hsum(q) / $COLS + 1e-5f);
  const __global float$W* weight = (const __global float$W*)weights;
  const __global float$W* bias = (const __global float$W*)biases;
  for (int c = 0; c < $VECTORS; c++) o[c] = (x[c] - mean) * scale * weight[c] + bias[c];""",
}


class HandWrittenRows(_HandWritten):
    """Softmax or layer norm (`kind`) over each row of a rows x cols matrix; layer
    norm takes weight and bias vectors of cols after the matrix."""

    def __init__(self, kind: str, rows: int, cols: int):
        super().__init__()
        lanes, self.rows, self.out_nbytes = self.lanes, rows, 4 * rows * cols
        assert cols % lanes == 0
        extra = ", __global const float* restrict weights, __global const float* restrict biases" if kind == "layernorm" else ""
        body = Template(_ROW_BODIES[kind]).substitute(W=lanes, VECTORS=cols // lanes, COLS=f"{cols}.0f")
        self.kernel = self._build(f"""
__kernel void ideal(__global float* restrict out, __global const float* restrict in{extra}) {{
  const __global float{lanes}* x = (const __global float{lanes}*)(in + get_global_id(0) * {cols});
  __global float{lanes}* o = (__global float{lanes}*)(out + get_global_id(0) * {cols});{body}
}}""").ideal

    def _enqueue(self, out, *inputs) -> None:
        self.kernel(self.rt.queue, (self.rows,), None, out, *inputs)
