"""lazyfuse.autograd.functional (jacobian, hessian, vjp, vhp, hvp) against PyTorch's,
and against finite differences of the gradient in float64."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import functional as AF

_rng = np.random.default_rng(12)
X, Y = _rng.standard_normal(3), _rng.standard_normal((2, 3))


def f_vector(m, x, y):
    return (x * y).sin().sum(0) + x.exp() * 0.1


def f_pair(m, x, y):
    return (x * y).tanh(), (y * y).sum(1)


def f_scalar(m, x, y):
    return (x ** 3 * y).sum() + (x.sin() * y.sum(0)).sum()


def _arrays(result) -> list:
    """The tensors of a nested result, in order (a tensor alone, or tuples of them)."""
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _arrays(r)]
    return [result.detach().numpy()]


def _compare(ours, theirs):
    ours, theirs = _arrays(ours), _arrays(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


CASES = {
    "jacobian one input": lambda m, F: F.jacobian(lambda x: f_vector(m, x, m.tensor(Y)), m.tensor(X)),
    "jacobian two inputs": lambda m, F: F.jacobian(lambda x, y: f_vector(m, x, y), (m.tensor(X), m.tensor(Y))),
    "jacobian two outputs": lambda m, F: F.jacobian(lambda x, y: f_pair(m, x, y), (m.tensor(X), m.tensor(Y))),
    "hessian": lambda m, F: F.hessian(lambda x: f_scalar(m, x, m.tensor(Y)), m.tensor(X)),
    "hessian two inputs": lambda m, F: F.hessian(lambda x, y: f_scalar(m, x, y), (m.tensor(X), m.tensor(Y))),
    "vjp": lambda m, F: F.vjp(lambda x, y: f_vector(m, x, y), (m.tensor(X), m.tensor(Y)), m.tensor(X * 2)),
    "vhp": lambda m, F: F.vhp(lambda x: f_scalar(m, x, m.tensor(Y)), m.tensor(X), m.tensor(X + 1)),
    "hvp": lambda m, F: F.hvp(lambda x, y: f_scalar(m, x, y), (m.tensor(X), m.tensor(Y)),
                              (m.tensor(X), m.tensor(Y * 3))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    import torch.autograd.functional as TF
    _compare(CASES[name](lf, AF), CASES[name](torch, TF))


def test_hessian_is_the_jacobian_of_the_gradient_by_finite_differences():
    def gradient(x):
        t = lf.tensor(x, requires_grad=True)
        f_scalar(lf, t, lf.tensor(Y)).backward()
        return t.grad.numpy()
    h = 1e-6
    expected = np.stack([(gradient(X + h * e) - gradient(X - h * e)) / (2 * h) for e in np.eye(3)], 1)
    hessian = AF.hessian(lambda x: f_scalar(lf, x, lf.tensor(Y)), lf.tensor(X)).numpy()
    np.testing.assert_allclose(hessian, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12)


def test_a_jacobian_reuses_one_schedule_for_all_its_rows(monkeypatch):
    from lazyfuse.runtime import realize as realizing
    AF.jacobian(lambda x: (x * 3).sin(), lf.tensor(X))  # warm
    built = []
    original = realizing.Scheduler.schedule
    monkeypatch.setattr(realizing.Scheduler, "schedule", lambda self, targets: built.append(1) or original(self, targets))
    AF.jacobian(lambda x: (x * 3).sin(), lf.tensor(X * 2))
    assert not built
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda x: x * 2, lf.tensor(X))
