"""Shared test helpers: compare lazyfuse results with the reference executor, numpy and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.runtime.reference import evaluate


def tolerance(dtype) -> dict:
    name = np.dtype(dtype).name
    return {"float32": dict(rtol=1e-5, atol=1e-5), "float16": dict(rtol=1e-3, atol=1e-3),
            "float64": dict(rtol=1e-10, atol=1e-12)}.get(name, dict(rtol=0, atol=0))


def check(t: lf.Tensor, expected=None, rtol=None, atol=None) -> np.ndarray:
    """Compare t against the reference executor (and against `expected` from numpy when given)."""
    reference = evaluate(t.node)
    got = t.detach()._value()
    tol = tolerance(got.dtype)
    if rtol is not None:
        tol = dict(rtol=rtol, atol=atol if atol is not None else rtol)
    assert got.shape == reference.shape, f"shape {got.shape} vs reference {reference.shape}"
    assert got.dtype == reference.dtype, f"dtype {got.dtype} vs reference {reference.dtype}"
    np.testing.assert_allclose(got, reference, equal_nan=True, **tol)
    if expected is not None:
        expected = np.asarray(expected)
        assert got.shape == expected.shape, f"shape {got.shape} vs numpy {expected.shape}"
        np.testing.assert_allclose(got.astype(np.float64) if got.dtype.kind == "f" else got,
                                   expected, equal_nan=True, **{k: max(v, 1e-6) if got.dtype.kind == "f" else v
                                                                for k, v in tol.items()})
    return got


def check_against_pytorch(fn, arrays, differentiable: bool = True, rtol: float = 1e-12, grad_rtol: float = 1e-10):
    """Run fn(module, *tensors) on lazyfuse and on PyTorch (skipped without it), from
    the same float64 arrays: equal values and, when differentiable, equal gradients
    of a fixed weighting of the output. Inputs no gradient reaches count as zeros."""
    torch = pytest.importorskip("torch")
    ours = [lf.tensor(a, requires_grad=differentiable) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=differentiable) for a in arrays]
    out_ours, out_theirs = fn(lf, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=rtol, atol=rtol)
    if not differentiable:
        return out_ours, out_theirs
    weights = np.cos(np.arange(out_theirs.numel())).reshape(tuple(out_theirs.shape))
    (out_ours * lf.tensor(weights)).sum().backward()
    (out_theirs * torch.tensor(weights)).sum().backward()
    for mine, ref in zip(ours, theirs):
        expected = np.zeros(ref.shape) if ref.grad is None else ref.grad.numpy()
        got = np.zeros(mine.shape) if mine.grad is None else mine.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=grad_rtol, atol=grad_rtol * 1e-2)
    return out_ours, out_theirs


def recurrence(xs, ws, us, h):
    """An RNN's loop over time-major steps, all lazy: step t reads rows t of x @ w,
    which the same schedule computes."""
    projected = xs @ ws
    for t in range(xs.shape[0]):
        h = (projected[t] + h @ us).tanh()
    return h


def recurrence_reference(x, w, u, h):
    """recurrence() in numpy."""
    projected = x @ w
    for t in range(x.shape[0]):
        h = np.tanh(projected[t] + h @ u)
    return h


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["fused", "unfused"])
def fusion(request, monkeypatch):
    """Run a test with fusion on and with LAZYFUSE_FUSION=0."""
    if request.param == "unfused":
        monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    return request.param


def division_operands(rng, n: int, dtype):
    """Float operands for // and %: quotients near integers (1.0 // 0.1 is 9.0), wide
    exponents, signed zeros, infinities and NaNs, in both operands."""
    a = np.concatenate([[1.0, 0.7, 2.3, -1.0, 7.0, -7.0, 1.0, -0.0, np.inf, 5.0],
                        rng.standard_normal(n - 10) * 10.0 ** rng.integers(-3, 4, n - 10)])
    b = np.concatenate([[0.1, 0.1, 0.1, 0.1, -2.0, 2.0, np.inf, 3.0, 2.0, -0.0],
                        rng.standard_normal(n - 10) * 10.0 ** rng.integers(-3, 4, n - 10)])
    for x in (a, b):
        special = np.flatnonzero(rng.random(n) < 0.05)
        special = special[special >= 10]
        x[special] = rng.choice([np.inf, -np.inf, np.nan, 0.0, -0.0], special.size)
    return a.astype(dtype), b.astype(dtype)


@pytest.fixture(autouse=True)
def earlier_work_computed():
    """Values an earlier test left for the next schedule (in-place writes, a random
    generator's advance) are computed first, so the kernels a test counts are its own."""
    lf.realize()


def _render_cache_checked(monkeypatch=None) -> list:
    """Render every kernel afresh too and require the render cache's answer to be the
    same (source, launch sizes and the very argument nodes); returns the hits seen."""
    import dataclasses

    from lazyfuse.kernels import render_cache
    cached_render, hits = render_cache.render, []

    def checked(kernel, settings, render_fresh):
        before = len(render_cache._cache)
        got = cached_render(kernel, settings, render_fresh)
        if len(render_cache._cache) == before:  # a hit
            fresh = render_fresh(kernel)
            assert dataclasses.replace(got, args=[]) == dataclasses.replace(fresh, args=[])
            assert all(a is b for a, b in zip(got.args, fresh.args)) and len(got.args) == len(fresh.args)
            hits.append(got.name)
        return got
    if monkeypatch is None:
        render_cache.render = checked
    else:
        monkeypatch.setattr(render_cache, "render", checked)
    return hits


def pytest_configure(config):
    # schedules are not stored on disk for the tests in this process: they count the
    # scheduler's work and change its constants (tests/test_schedule_store.py turns it on)
    from lazyfuse.runtime import schedule_store
    schedule_store.STORE_SCHEDULES = False
    # every render cache hit of a test run is checked against a fresh render (the
    # renderer must read nothing the cache's key leaves out); LAZYFUSE_CHECK_RENDERS=0 skips it
    import os
    if os.environ.get("LAZYFUSE_CHECK_RENDERS", "1") == "1":
        _render_cache_checked()
