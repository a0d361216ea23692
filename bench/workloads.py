"""Benchmark workloads: each one written once per system that runs it.

A workload gives numpy inputs and, per system, a callable that runs the whole
computation and waits for its result (so every figure is end to end)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import lazyfuse as lf

from . import native
from .peers import HandWrittenKernel, HandWrittenRows, HandWrittenSum, optional
from .targets import IDEAL, NATIVE

N = 1 << 24

# elementwise chains of 1..16 ops on x, y; the same text serves numpy, torch and OpenCL C
CHAINS = {
    1: "x + y",
    2: "x * y + x",
    4: "(x * y + x) * (y - x)",
    8: "exp(-x * x) * y + sin(x) * 0.5f - y / (1.0f + x * x)",
    16: "exp(-x * x) * y + sin(x) * 0.5f - y / (1.0f + x * x) + cos(y) * x - tanh(x * y) * 0.25f + x / (2.0f + y * y)",
}


def _python(expr: str) -> str:
    return expr.replace("0.5f", "0.5").replace("1.0f", "1.0").replace("0.25f", "0.25").replace("2.0f", "2.0")


@dataclass
class Workload:
    name: str
    nbytes: int  # bytes a perfect kernel reads and writes
    flops: int = 0  # floating-point operations, for compute-bound workloads (reported as GFLOP/s)
    systems: dict[str, Callable[[], object]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    # systems return the seconds they measured themselves (a fresh process times its
    # own first step, leaving out the interpreter's start-up and numpy's import)
    self_timed: bool = False


def _numpy_env(names):
    return {"exp": np.exp, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, **names}


def _lazyfuse(fn, *arrays, fusion: bool = True):
    tensors = [lf.tensor(a) for a in arrays]

    def run():
        import os
        previous = os.environ.get("LAZYFUSE_FUSION")
        os.environ["LAZYFUSE_FUSION"] = "1" if fusion else "0"
        try:
            out = fn(*tensors).realize()
            lf.synchronize()
            return out
        finally:
            if previous is None:
                os.environ.pop("LAZYFUSE_FUSION")
            else:
                os.environ["LAZYFUSE_FUSION"] = previous
    return run


def _add_torch(w: Workload, fn, *arrays) -> None:
    torch, why = optional("torch")
    if torch is None:
        w.missing["torch eager"] = w.missing["torch.compile"] = why
        return
    tensors = [torch.from_numpy(a) for a in arrays]
    w.systems["torch eager"] = lambda: fn(torch, *tensors)
    compiled = torch.compile(lambda *t: fn(torch, *t))
    w.systems["torch.compile"] = lambda: compiled(*tensors)


def _add_hand_written(w: Workload, ideal, *arrays) -> None:
    out, ins = ideal.buffers(*arrays)
    w.systems[IDEAL] = lambda: ideal(out, *ins)


def _torch_env(torch):
    return {"exp": torch.exp, "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh}


def chain(ops: int, rng) -> Workload:
    expr = CHAINS[ops]
    x, y = (rng.standard_normal(N, dtype=np.float32) for _ in range(2))
    w = Workload(f"chain of {ops} op(s), 2^24", 3 * 4 * N)
    w.systems["numpy"] = lambda: eval(_python(expr), _numpy_env({"x": x, "y": y}))
    numexpr, why = optional("numexpr")
    if numexpr is not None:
        w.systems["numexpr"] = lambda: numexpr.evaluate(_python(expr), local_dict={"x": x, "y": y})
    else:
        w.missing["numexpr"] = why
    lazy = lambda a, b: eval(_python(expr), {"exp": lf.exp, "sin": lf.sin, "cos": lf.cos, "tanh": lf.tanh, "x": a, "y": b})
    w.systems["lazyfuse"] = _lazyfuse(lazy, x, y)
    w.systems["lazyfuse unfused"] = _lazyfuse(lazy, x, y, fusion=False)
    _add_hand_written(w, HandWrittenKernel(expr, 2, N), x, y)
    _add_torch(w, lambda torch, a, b: eval(_python(expr), {**_torch_env(torch), "x": a, "y": b}), x, y)
    return w


def _add_native(w: Workload, name: str, *arrays, scale: float = 1.0) -> None:
    lib, why = native.load()
    if lib is None:
        w.missing[NATIVE] = why
    else:
        w.systems[NATIVE] = native.summing(getattr(lib, name), *arrays, scale=scale)


def total(rng) -> Workload:
    x = rng.standard_normal(N, dtype=np.float32)
    w = Workload("sum(x), 2^24", 4 * N)
    w.systems["numpy"] = lambda: x.sum()
    w.systems["lazyfuse"] = _lazyfuse(lambda t: t.sum(), x)
    _add_hand_written(w, HandWrittenSum("x", 1, N), x)
    _add_native(w, "sum", x)
    _add_torch(w, lambda torch, t: t.sum(), x)
    return w


def mse(rng) -> Workload:
    x, y = (rng.standard_normal(N, dtype=np.float32) for _ in range(2))
    w = Workload("mean((x-y)**2), 2^24", 8 * N)
    w.systems["numpy"] = lambda: ((x - y) ** 2).mean()
    w.systems["lazyfuse"] = _lazyfuse(lambda a, b: ((a - b) ** 2).mean(), x, y)
    w.systems["lazyfuse unfused"] = _lazyfuse(lambda a, b: ((a - b) ** 2).mean(), x, y, fusion=False)
    _add_hand_written(w, HandWrittenSum("(x - y) * (x - y)", 2, N, scale=1 / N), x, y)
    _add_native(w, "sum_of_squared_differences", x, y, scale=1 / N)
    _add_torch(w, lambda torch, a, b: ((a - b) ** 2).mean(), x, y)
    return w


def softmax(rng) -> Workload:
    x = rng.standard_normal((4096, 4096), dtype=np.float32)
    w = Workload("softmax rows, 4096x4096", 2 * 4 * x.size)

    def numpy_softmax():
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    w.systems["numpy"] = numpy_softmax
    w.systems["lazyfuse"] = _lazyfuse(lambda t: t.softmax(-1), x)
    w.systems["lazyfuse unfused"] = _lazyfuse(lambda t: t.softmax(-1), x, fusion=False)
    _add_hand_written(w, HandWrittenRows("softmax", *x.shape), x)
    _add_torch(w, lambda torch, t: torch.softmax(t, -1), x)
    return w


def layernorm(rng) -> Workload:
    x = rng.standard_normal((4096, 4096), dtype=np.float32)
    weight, bias = rng.standard_normal((2, 4096), dtype=np.float32)
    w = Workload("layernorm rows, 4096x4096", 2 * 4 * x.size)

    def numpy_layernorm():
        centred = x - x.mean(1, keepdims=True)
        return centred / np.sqrt((centred * centred).mean(1, keepdims=True) + 1e-5) * weight + bias

    def layer_norm(module, t, g, b):
        return module.nn.functional.layer_norm(t, (4096,), g, b)
    w.systems["numpy"] = numpy_layernorm
    w.systems["lazyfuse"] = _lazyfuse(lambda *t: layer_norm(lf, *t), x, weight, bias)
    w.systems["lazyfuse unfused"] = _lazyfuse(lambda *t: layer_norm(lf, *t), x, weight, bias, fusion=False)
    _add_hand_written(w, HandWrittenRows("layernorm", *x.shape), x, weight, bias)
    _add_torch(w, layer_norm, x, weight, bias)
    return w


def matmul(rng, n: int) -> Workload:
    """Square float32 product: numpy runs it in OpenBLAS."""
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    w = Workload(f"matmul {n}x{n}", 3 * 4 * n * n, flops=2 * n ** 3)
    w.systems["numpy"] = lambda: a @ b
    w.systems["lazyfuse"] = _lazyfuse(lambda x, y: x @ y, a, b)
    torch, why = optional("torch")
    if torch is None:
        w.missing["torch eager"] = why
    else:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        w.systems["torch eager"] = lambda: ta @ tb
    return w


def dispatch(rng) -> Workload:
    x = rng.standard_normal(1024, dtype=np.float32)
    w = Workload("x + 1 on 1024, read back", 8 * 1024)
    t = lf.tensor(x)
    w.systems["lazyfuse"] = lambda: (t + 1).numpy()
    ideal = HandWrittenKernel("x + 1.0f", 1, 1024)
    out, ins = ideal.buffers(x)
    host = np.empty(1024, np.float32)

    def raw():
        ideal(out, *ins)
        ideal.cl.enqueue_copy(ideal.rt.queue, host, out, is_blocking=True)
    w.systems["raw pyopencl"] = raw
    w.systems["numpy"] = lambda: x + 1
    return w


def _regression_data(rng, rows: int, features: int):
    x = rng.standard_normal((rows, features), dtype=np.float32)
    y = rng.standard_normal((rows, 1), dtype=np.float32)
    w = rng.standard_normal((features, 1), dtype=np.float32)
    return x, y, w


def _sgd_step(module, x, y, w, b):
    """One step written once in PyTorch's API (`module` is lazyfuse or torch): it
    returns the loss, which the benchmark reads after the call."""

    def step():
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with module.no_grad():
            w.sub_(0.01 * w.grad)
            b.sub_(0.01 * b.grad)
            w.grad.zero_()
            b.grad.zero_()
        return loss
    return step


def _read_loss(step):
    return lambda: step().item()


def training_step(rng, rows: int, features: int) -> Workload:
    """One linear-regression step: forward, backward, SGD update, loss read back;
    in lazyfuse also under lazyfuse.capture, which replays the step's kernels."""
    x, y, w0 = _regression_data(rng, rows, features)
    b0 = np.zeros(1, np.float32)
    w = Workload(f"train step {rows}x{features}", 4 * (x.size * 2 + y.size))
    for name, wrap in (("lazyfuse", _read_loss), ("lazyfuse, captured step", lambda s: _read_loss(lf.capture(s)))):
        w.systems[name] = wrap(_sgd_step(lf, lf.tensor(x), lf.tensor(y), lf.tensor(w0, requires_grad=True),
                                         lf.tensor(b0, requires_grad=True)))
    state = {"w": w0.copy(), "b": b0.copy()}

    def numpy_step():
        err = x @ state["w"] + state["b"] - y
        grad = 2 * err / err.size
        state["w"] -= 0.01 * (x.T @ grad)
        state["b"] -= 0.01 * grad.sum(0)
        return float((err * err).mean())

    w.systems["numpy (hand-written gradients)"] = numpy_step
    torch, why = optional("torch")
    if torch is None:
        w.missing["torch eager"] = why
    else:
        w.systems["torch eager"] = _read_loss(_sgd_step(torch, torch.from_numpy(x), torch.from_numpy(y),
                                                        torch.tensor(w0, requires_grad=True),
                                                        torch.tensor(b0, requires_grad=True)))
    return w


FIRST_STEP = """
import time, numpy as np
start = time.perf_counter()
import lazyfuse as lf
x = lf.tensor(np.ones((256, 8), np.float32)); y = lf.tensor(np.ones((256, 1), np.float32))
w = lf.zeros(8, 1, requires_grad=True)
loss = ((x @ w - y) ** 2).mean(); loss.backward(); loss.item()
print(time.perf_counter() - start)
"""


def first_step() -> Workload:
    """Import plus first training step in a fresh process, with the compile caches off
    and on, as that process times it (from just before `import lazyfuse`)."""
    import os
    import subprocess
    import sys
    w = Workload("first step, fresh process", 0, self_timed=True)

    def run(cold: bool):
        env = dict(os.environ)
        # Python's own bytecode cache on in both runs, as in a normal install: some
        # sandboxes set PYTHONDONTWRITEBYTECODE, which recompiles lazyfuse's sources
        # (~60 ms) in every process and is not a kernel compile cache
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if cold:
            env.update(PYOPENCL_NO_CACHE="1", POCL_KERNEL_CACHE="0", LAZYFUSE_NO_CACHE="1")
        done = subprocess.run([sys.executable, "-c", FIRST_STEP], env=env, capture_output=True, text=True, check=True)
        return float(done.stdout.split()[-1])

    w.systems["lazyfuse, cold compile cache"] = lambda: run(True)
    w.systems["lazyfuse, warm compile cache"] = lambda: run(False)
    return w


def all_workloads(rng, quick: bool = False) -> list[Workload]:
    chains = [8] if quick else [1, 2, 4, 8, 16]
    return ([chain(k, rng) for k in chains] + [total(rng), mse(rng), softmax(rng), layernorm(rng)]
            + [matmul(rng, n) for n in (256, 1024, 2048)] + [dispatch(rng),
            training_step(rng, 65536, 64), training_step(rng, 256, 8), first_step()])
