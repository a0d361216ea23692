"""Differential test: random graphs of elementwise ops, views, broadcasting and
reductions give the same values fused, unfused (LAZYFUSE_FUSION=0) and in the
reference executor, and the same values and gradients as PyTorch."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyfuse as lf
from lazyfuse.runtime.reference import evaluate

UNARY = ["tanh", "sin", "abs", "neg", "sigmoid", "relu"]
BINARY = ["add", "sub", "mul", "maximum"]
# ops with a restricted domain, given inputs that keep them finite
GUARDED_UNARY = {
    "exp": lambda x: x.tanh().exp(),
    "log": lambda x: (x * x + 1).log(),
    "sqrt": lambda x: (x.abs() + 0.25).sqrt(),
}
GUARDED_BINARY = {
    "div": lambda x, y: x / (y * y + 1),
    "pow": lambda x, y: (x.abs() + 0.5) ** y.tanh(),
}
REDUCTIONS = ["sum", "amax", "mean", "var", "std", "logsumexp"]  # over a tuple of dims
ONE_DIM_REDUCTIONS = {"prod": lambda x, d, keep: x.prod(d, keep), "max": lambda x, d, keep: x.max(d, keep)[0]}


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


def build(rec: Recorder, leaves: list[lf.Tensor], module=lf) -> lf.Tensor:
    return build_all(rec, leaves, module)[-1]


def build_all(rec: Recorder, leaves: list[lf.Tensor], module=lf) -> list[lf.Tensor]:
    """Every tensor the recorded program makes, leaves first; `module` is lazyfuse,
    or torch for the same program on torch tensors."""
    pool = list(leaves)
    for _ in range(rec.pick(st.integers(2, 7))):
        kind = rec.pick(st.sampled_from(["unary", "binary", "view", "reduce", "softmax", "where", "matmul", "cat",
                                         "inplace", "composite"]))
        x = pool[rec.pick(st.integers(0, len(pool) - 1))]
        if kind == "unary":
            name = rec.pick(st.sampled_from(UNARY + sorted(GUARDED_UNARY)))
            out = GUARDED_UNARY[name](x) if name in GUARDED_UNARY else getattr(x, name)()
        elif kind in ("binary", "where"):
            candidates = [t for t in pool if _broadcastable(t.shape, x.shape)]
            y = candidates[rec.pick(st.integers(0, len(candidates) - 1))]
            if kind == "where":
                # continuous where x meets y: x and y equal but for rounding (log_softmax of a
                # log_softmax) may compare either way, in lazyfuse as in the reference
                out = module.where(x > y, (x + y) * 0.5, y)
            else:
                name = rec.pick(st.sampled_from(BINARY + sorted(GUARDED_BINARY)))
                out = GUARDED_BINARY[name](x, y) if name in GUARDED_BINARY else getattr(x, name)(y)
        elif kind == "view":
            out = _view(rec, x)
        elif kind == "reduce" and x.ndim > 0:
            op = rec.pick(st.sampled_from(REDUCTIONS + sorted(ONE_DIM_REDUCTIONS)))
            if op in ONE_DIM_REDUCTIONS:
                out = ONE_DIM_REDUCTIONS[op](x, rec.pick(st.integers(-x.ndim, x.ndim - 1)), rec.pick(st.booleans()))
            else:
                dims = rec.pick(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
                out = getattr(x, op)(tuple(dims), keepdim=rec.pick(st.booleans()))
        elif kind == "softmax" and x.ndim > 0:
            out = getattr(x, rec.pick(st.sampled_from(["softmax", "log_softmax"])))(
                rec.pick(st.integers(-x.ndim, x.ndim - 1)))
        elif kind == "matmul" and x.ndim > 0:
            out = x @ (x.transpose(-1, -2) if x.ndim > 1 else x)
        elif kind == "cat" and x.ndim > 0:
            out = module.cat([x, x * 2], rec.pick(st.integers(0, x.ndim - 1)))
        elif kind == "inplace":
            out = _write_in_place(rec, x, pool)
        elif kind == "composite" and x.ndim > 0:
            out = _composite(rec, x, module)
        else:
            out = -x
        pool.append(out)
    return pool


def _composite(rec: Recorder, x, module):
    """One of the ops composed from others (scans, sorting, selection, erf, masks, flips,
    padding, overlapping pooling) along a random dim."""
    d = rec.pick(st.integers(-x.ndim, x.ndim - 1))
    name = rec.pick(st.sampled_from(["cumsum", "cumprod", "sort", "select", "erf", "tril", "round", "flip", "pad",
                                      "pool"]))
    if name == "flip":
        return x.flip(d)
    if name == "pad":  # the last dim, filled with a number
        return module.nn.functional.pad(x, (1, 2), value=0.5)
    if name == "pool":  # the largest of two overlapping halves along d (adaptive max pooling's way)
        n = x.shape[d]
        half = n // 2 + 1 if n > 1 else 1
        return module.cat([x.narrow(d, 0, half).amax(d, keepdim=True), x.narrow(d, n - half, half).amax(d, keepdim=True)],
                          d)
    if name in ("cumsum", "cumprod"):
        return getattr(x.tanh(), name)(d)
    if name == "sort":  # stable, so tied values (zeros from relu) keep PyTorch's order and gradients
        return x.sort(dim=d, descending=rec.pick(st.booleans()), stable=True)[0]
    if name == "select":
        return x[(slice(None),) * (d % x.ndim) + ([0, -1, 0],)]
    if name == "erf":
        return x.erf()
    if name == "tril" and x.ndim >= 2:
        return x.tril(rec.pick(st.integers(-2, 2)))
    return x + (x * 4).round()  # rounding passes no gradient: x's own path carries it


def _write_in_place(rec: Recorder, x, pool: list):
    """A copy of x written in place, whole or through a view of it; the view joins
    the pool (it sees the write, whichever way it was made)."""
    target = x.contiguous() * 1  # a result laid out as lazyfuse lays out views, so PyTorch's views match
    view = _view(rec, target, writable=True)
    written = view if rec.pick(st.booleans()) else target
    values = [t for t in pool if _broadcastable(t.shape, written.shape)
              and lf.broadcast_shapes(t.shape, written.shape) == written.shape]
    name = rec.pick(st.sampled_from(["copy_", "add_", "mul_", "fill_"]))
    if name == "fill_" or not values:
        written.fill_(0.5)
    else:
        getattr(written, name)(values[rec.pick(st.integers(0, len(values) - 1))])
    pool.append(view)
    return target


def _broadcastable(a, b) -> bool:
    try:
        lf.broadcast_shapes(a, b)
        return True
    except RuntimeError:
        return False


def _view(rec: Recorder, x: lf.Tensor, writable: bool = False) -> lf.Tensor:
    if x.ndim == 0:
        return x.reshape(1)
    choice = rec.pick(st.sampled_from(["T", "slice", "flatten", "permute"]
                                      + ([] if writable else ["unsqueeze_expand", "spread_slice"])))
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
    if choice == "spread_slice":  # one row or column read across the others (x[:, i:i + 1].expand_as(x))
        d = rec.pick(st.integers(0, x.ndim - 1))
        return x.narrow(d, rec.pick(st.integers(0, x.shape[d] - 1)), 1).expand(*x.shape) if x.shape[d] else x
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


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), shapes=st.lists(SHAPES, min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_values_and_gradients_match_pytorch(data, shapes, seed):
    """The same random program on lazyfuse and on PyTorch tensors (float64): equal
    values, and equal gradients of a random weighting of the result."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [lf.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    rec = Recorder(data)
    out = build(rec, ours)
    with warnings.catch_warnings():  # x.T on 3-d tensors, which PyTorch deprecates
        warnings.simplefilter("ignore", UserWarning)
        expected = build(Recorder(choices=rec.choices), theirs, torch)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-8, atol=1e-10)
    if not expected.requires_grad:
        return
    weights = rng.standard_normal(tuple(expected.shape))
    (out * lf.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for mine, ref in zip(ours, theirs):
        assert (mine.grad is None) == (ref.grad is None), f"grad {mine.grad} vs PyTorch {ref.grad}"
        if ref.grad is not None:
            np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_a_condition_computed_once_per_row_picks_whole_vectors():
    """A program hypothesis found: in its backward's row kernel a where()'s condition
    is a per-row scalar, which the OpenCL renderer converted as a vector, and the
    kernel failed to build."""
    choices = [6, "softmax", 0, "softmax", 0, "composite", 0, 1, "cumsum", "unary", 0, "tanh", "unary", 0, "tanh",
               "unary", 0, "tanh", "where", 3, 2]
    rng = np.random.default_rng(0)
    leaves = [lf.tensor(rng.standard_normal(s), requires_grad=True) for s in [(5, 7), (8, 1), (8, 1)]]
    out = build(Recorder(choices=choices), leaves)
    (out * lf.tensor(rng.standard_normal(out.shape))).sum().backward()
    expected = evaluate(leaves[0].grad.node)
    np.testing.assert_allclose(leaves[0].grad.numpy(), expected, rtol=1e-10, atol=1e-12)
