"""Differential test: random graphs of elementwise ops, views, broadcasting and
reductions give the same values fused, unfused (LAZYFUSE_FUSION=0) and in the
reference executor."""
from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyfuse as lf
from lazyfuse.runtime.reference import evaluate

UNARY = ["tanh", "sin", "abs", "neg", "sigmoid", "relu"]
BINARY = ["add", "sub", "mul", "maximum"]


class Recorder:
    """Draws choices from hypothesis once, then replays the same choices."""

    def __init__(self, data=None, choices=None):
        self.data, self.choices, self.at = data, choices if choices is not None else [], 0

    def pick(self, strategy):
        if self.data is not None:
            value = self.data.draw(strategy)
            self.choices.append(value)
            return value
        value = self.choices[self.at]
        self.at += 1
        return value


def build(rec: Recorder, leaves: list[lf.Tensor]) -> lf.Tensor:
    return build_all(rec, leaves)[-1]


def build_all(rec: Recorder, leaves: list[lf.Tensor]) -> list[lf.Tensor]:
    """Every tensor the recorded program makes, leaves first."""
    pool = list(leaves)
    for _ in range(rec.pick(st.integers(2, 7))):
        kind = rec.pick(st.sampled_from(["unary", "binary", "view", "reduce", "softmax", "where"]))
        x = pool[rec.pick(st.integers(0, len(pool) - 1))]
        if kind == "unary":
            out = getattr(x, rec.pick(st.sampled_from(UNARY)))()
        elif kind in ("binary", "where"):
            candidates = [t for t in pool if _broadcastable(t.shape, x.shape)]
            y = candidates[rec.pick(st.integers(0, len(candidates) - 1))]
            if kind == "where":
                out = lf.where(x > y, x, y * 0.5)
            else:
                out = getattr(x, rec.pick(st.sampled_from(BINARY)))(y)
        elif kind == "view":
            out = _view(rec, x)
        elif kind == "reduce" and x.ndim > 0:
            dims = rec.pick(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
            op = rec.pick(st.sampled_from(["sum", "amax", "mean"]))
            out = getattr(x, op)(tuple(dims), keepdim=rec.pick(st.booleans()))
        elif kind == "softmax" and x.ndim > 0:
            out = x.softmax(rec.pick(st.integers(-x.ndim, x.ndim - 1)))
        else:
            out = -x
        pool.append(out)
    return pool


def _broadcastable(a, b) -> bool:
    try:
        lf.broadcast_shapes(a, b)
        return True
    except RuntimeError:
        return False


def _view(rec: Recorder, x: lf.Tensor) -> lf.Tensor:
    if x.ndim == 0:
        return x.reshape(1)
    choice = rec.pick(st.sampled_from(["T", "slice", "flatten", "unsqueeze_expand", "permute"]))
    if choice == "T":
        return x.T
    if choice == "slice":
        d = rec.pick(st.integers(0, x.ndim - 1))
        size = x.shape[d]
        start = rec.pick(st.integers(0, max(size - 1, 0)))
        step = rec.pick(st.integers(1, 3))
        index = [slice(None)] * x.ndim
        index[d] = slice(start, None, step)
        return x[tuple(index)]
    if choice == "flatten":
        return x.flatten()
    if choice == "unsqueeze_expand":  # capped, so graphs stay small enough for Triton's interpreter
        return x.unsqueeze(0).expand(3, *x.shape) if x.numel() <= 200 else x.unsqueeze(0)
    order = rec.pick(st.permutations(range(x.ndim)))
    return x.permute(tuple(order))


SHAPES = st.sampled_from([(5, 7), (8, 1), (1, 9), (3, 4), (16,), (4, 1, 6)])


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), shapes=st.lists(SHAPES, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_fused_unfused_and_reference_agree(data, shapes, seed, monkeypatch):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    rec = Recorder(data)
    fused = build(rec, [lf.tensor(a) for a in arrays])
    reference = evaluate(fused.node)
    fused_values = fused.numpy()
    monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    unfused_values = build(Recorder(choices=rec.choices), [lf.tensor(a) for a in arrays]).numpy()
    monkeypatch.delenv("LAZYFUSE_FUSION")
    np.testing.assert_allclose(fused_values, reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(unfused_values, reference, rtol=1e-4, atol=1e-5)


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), shapes=st.lists(SHAPES, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_several_outputs_realised_in_one_schedule(data, shapes, seed):
    """Intermediate values realised together with the result (multi-output kernels)."""
    rng = np.random.default_rng(seed)
    made = build_all(Recorder(data), [lf.tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes])
    wanted = made[len(shapes):][-3:]
    references = [evaluate(t.node) for t in wanted]
    lf.realize(*wanted)
    for t, reference in zip(wanted, references):
        np.testing.assert_allclose(t.numpy(), reference, rtol=1e-4, atol=1e-5)
