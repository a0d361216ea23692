"""Values and gradients against PyTorch (an optional oracle: `pip install -e ".[test]"`)."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf

torch = pytest.importorskip("torch")

CASES = {
    "chain": (lambda m, a, b: ((a * b).sin() + a.exp() / (1 + b * b)).tanh().sum(), [(3, 4), (3, 4)]),
    "broadcast": (lambda m, a, b: (a - b).abs().pow(1.5).mean(), [(3, 1), (1, 4)]),
    "softmax": (lambda m, a, b: (a.softmax(-1) * b).sum(), [(4, 5), (4, 5)]),
    "log_softmax": (lambda m, a, b: (a.log_softmax(0) * b).sum(), [(4, 5), (4, 5)]),
    "matmul_T": (lambda m, a, b: (a.T @ b).relu().sum(), [(4, 3), (4, 5)]),
    "batched_matmul": (lambda m, a, b: (a @ b).sigmoid().sum(), [(2, 3, 4), (4, 2)]),
    "var_std": (lambda m, a, b: a.var(1).sum() + b.std(0).sum(), [(3, 6), (3, 6)]),
    "amax_logsumexp": (lambda m, a, b: a.amax(1).sum() + b.logsumexp(1).sum(), [(3, 6), (3, 6)]),
    "views": (lambda m, a, b: (a[:, 1::2].reshape(-1) * b.flatten()[:6]).sum(), [(3, 4), (2, 3)]),
    "cat_where": (lambda m, a, b: m.where(a > 0, a, b).sum() + m.cat([a, b], 0).pow(2).sum(), [(2, 3), (2, 3)]),
    "clamp_sqrt": (lambda m, a, b: (a.clamp(-0.5, 0.5) + b.abs().sqrt()).sum(), [(5,), (5,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(7)
    arrays = [rng.uniform(-2, 2, size=s).astype(np.float32) for s in shapes]
    ours = [lf.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ours, out_theirs = fn(lf, *ours), fn(torch, *theirs)
    out_ours.backward()
    out_theirs.backward()
    np.testing.assert_allclose(out_ours.item(), out_theirs.item(), rtol=1e-5, atol=1e-5)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)
