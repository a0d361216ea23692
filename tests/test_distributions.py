"""lazyfuse.distributions: densities, entropies and cdfs with their gradients
against PyTorch's (when installed) and closed forms; samples against their
distributions' moments and frequencies."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check_against_pytorch

_rng = np.random.default_rng(5)
LOC, SCALE = _rng.standard_normal(3), np.abs(_rng.standard_normal(3)) + 0.5
VALUES = _rng.standard_normal((2, 3))

CASES = {
    "normal": lambda m, loc, scale: m.stack([m.distributions.Normal(loc, scale).log_prob(m.tensor(VALUES)).sum(0),
                                             m.distributions.Normal(loc, scale).entropy(),
                                             m.distributions.Normal(loc, scale).cdf(m.tensor(VALUES[0]))]),
    "uniform": lambda m, loc, scale: m.stack([m.distributions.Uniform(loc, loc + scale).log_prob(loc + 0.3 * scale),
                                              m.distributions.Uniform(loc, loc + scale).entropy(),
                                              m.distributions.Uniform(loc, loc + scale).cdf(loc + 0.2)]),
    "bernoulli": lambda m, loc, scale: m.stack([
        m.distributions.Bernoulli(logits=loc).log_prob(m.tensor([1.0, 0.0, 1.0], dtype=m.float64)),
        m.distributions.Bernoulli(logits=loc).entropy(),
        m.distributions.Bernoulli(probs=scale / 3).log_prob(m.tensor([1.0, 0.0, 1.0], dtype=m.float64)),
        m.distributions.Bernoulli(probs=scale / 3).entropy()]),
    "categorical": lambda m, loc, scale: m.cat([
        m.distributions.Categorical(logits=loc * m.tensor(VALUES)).log_prob(m.tensor([0, 2])),
        m.distributions.Categorical(logits=loc * m.tensor(VALUES)).entropy(),
        m.distributions.Categorical(probs=scale * m.tensor(np.abs(VALUES))).log_prob(m.tensor([1, 1])),
        m.distributions.Categorical(probs=scale * m.tensor(np.abs(VALUES))).entropy()]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_densities_and_gradients_match_pytorch(name):
    check_against_pytorch(CASES[name], [LOC, SCALE])


def test_normal_log_prob_and_entropy_are_the_closed_forms():
    normal = lf.distributions.Normal(lf.tensor(LOC), lf.tensor(SCALE))
    expected = -(VALUES - LOC) ** 2 / (2 * SCALE ** 2) - np.log(SCALE) - 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(normal.log_prob(lf.tensor(VALUES)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(normal.entropy().numpy(), 0.5 * np.log(2 * math.pi * math.e * SCALE ** 2), rtol=1e-12)
    assert np.isneginf(lf.distributions.Uniform(0.0, 1.0).log_prob(lf.tensor(1.5)).item())


def test_samples_follow_their_distributions():
    lf.manual_seed(3)
    normal = lf.distributions.Normal(lf.tensor([1.0, -2.0]), lf.tensor([0.5, 2.0])).sample((20000,)).numpy()
    assert normal.shape == (20000, 2)
    np.testing.assert_allclose(normal.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(normal.std(0), [0.5, 2.0], rtol=0.03)
    uniform = lf.distributions.Uniform(2.0, 5.0).sample((20000,)).numpy()
    assert uniform.min() >= 2.0 and uniform.max() < 5.0 and abs(uniform.mean() - 3.5) < 0.05
    coin = lf.distributions.Bernoulli(probs=lf.tensor([0.2, 0.9])).sample((20000,)).numpy()
    np.testing.assert_allclose(coin.mean(0), [0.2, 0.9], atol=0.02)
    weights = np.array([[0.1, 0.0, 0.6, 0.3], [0.5, 0.5, 0.0, 0.0]])
    drawn = lf.distributions.Categorical(probs=lf.tensor(weights)).sample((8000,)).numpy()
    assert drawn.shape == (8000, 2)
    for row in range(2):
        np.testing.assert_allclose(np.bincount(drawn[:, row], minlength=4) / 8000, weights[row], atol=0.02)


def test_rsample_carries_the_gradient_and_sample_does_not():
    loc = lf.tensor([0.5, 1.5], requires_grad=True)
    scale = lf.tensor([1.0, 2.0], requires_grad=True)
    normal = lf.distributions.Normal(loc, scale)
    assert not normal.sample((4,)).requires_grad
    drawn = normal.rsample((1000,))
    drawn.mean(0).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [1.0, 1.0], rtol=1e-6)
    noise = (drawn.detach() - loc.detach()) / scale.detach()  # d mean(loc + noise * scale) / d scale
    np.testing.assert_allclose(scale.grad.numpy(), noise.mean(0).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        lf.distributions.Categorical()
