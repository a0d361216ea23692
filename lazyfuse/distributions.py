"""lazyfuse.distributions: Normal, Uniform, Bernoulli and Categorical with
PyTorch's interface (sample, rsample where it exists, log_prob, entropy, mean,
variance, batch_shape), their densities written with lazy ops, so a loss built
from log_prob fuses and differentiates like any other. Samples are drawn on the
device (lazyfuse.manual_seed seeds them); sample() is detached, rsample() keeps
the gradient to the parameters (the reparameterisation trick)."""
from __future__ import annotations

import math

import numpy as np

from . import creation
from .autograd.grad_mode import no_grad
from .nn.functional import binary_cross_entropy_with_logits
from .tensor import Tensor, broadcast_shapes


def _as_tensor(value, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return creation.tensor(value, dtype=like.dtype if like is not None else None,
                           device=like.device if like is not None else None)


class Distribution:
    """What every distribution has: its batch shape, and sample() as rsample() without gradient."""

    has_rsample = False

    def __init__(self, batch_shape: tuple[int, ...]):
        self.batch_shape = tuple(batch_shape)
        self.event_shape: tuple[int, ...] = ()

    def _extended(self, sample_shape) -> tuple[int, ...]:
        return tuple(sample_shape) + self.batch_shape + self.event_shape

    def sample(self, sample_shape=()) -> Tensor:
        with no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no rsample: its samples are not differentiable")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_shape={list(self.batch_shape)})"


class Normal(Distribution):
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc = _as_tensor(loc, scale if isinstance(scale, Tensor) else None)
        self.scale = _as_tensor(scale, self.loc)
        super().__init__(broadcast_shapes(self.loc.shape, self.scale.shape))

    @property
    def mean(self) -> Tensor:
        return self.loc.expand(*self.batch_shape)

    @property
    def variance(self) -> Tensor:
        return (self.scale * self.scale).expand(*self.batch_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        noise = creation.randn(*self._extended(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + noise * self.scale

    def log_prob(self, value) -> Tensor:
        value = _as_tensor(value, self.loc)
        return -((value - self.loc) ** 2) / (2 * self.scale * self.scale) - self.scale.log() - math.log(
            math.sqrt(2 * math.pi))

    def entropy(self) -> Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()).expand(*self.batch_shape)

    def cdf(self, value) -> Tensor:
        value = _as_tensor(value, self.loc)
        return 0.5 * (1 + ((value - self.loc) / (self.scale * math.sqrt(2))).erf())


class Uniform(Distribution):
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low = _as_tensor(low, high if isinstance(high, Tensor) else None)
        self.high = _as_tensor(high, self.low)
        super().__init__(broadcast_shapes(self.low.shape, self.high.shape))

    @property
    def mean(self) -> Tensor:
        return ((self.low + self.high) / 2).expand(*self.batch_shape)

    @property
    def variance(self) -> Tensor:
        return ((self.high - self.low) ** 2 / 12).expand(*self.batch_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        u = creation.rand(*self._extended(sample_shape), dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value) -> Tensor:
        """-log(high - low) inside [low, high), -inf outside."""
        value = _as_tensor(value, self.low)
        inside = (value >= self.low) & (value < self.high)
        return (-(self.high - self.low).log()).where(inside, -math.inf)

    def entropy(self) -> Tensor:
        return (self.high - self.low).log().expand(*self.batch_shape)

    def cdf(self, value) -> Tensor:
        value = _as_tensor(value, self.low)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)


class Bernoulli(Distribution):
    """1 with probability probs (or sigmoid(logits)), else 0."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.probs = _as_tensor(probs)
            eps = _eps(self.probs)
            self.logits = self.probs.clamp(eps, 1 - eps).logit()
        else:
            self.logits = _as_tensor(logits)
            self.probs = self.logits.sigmoid()
        super().__init__(tuple(self.probs.shape))

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()) -> Tensor:
        with no_grad():
            u = creation.rand(*self._extended(sample_shape), dtype=self.probs.dtype, device=self.probs.device)
            return (u < self.probs).cast(self.probs.dtype)

    def log_prob(self, value) -> Tensor:
        value = _as_tensor(value, self.logits)
        shape = broadcast_shapes(self.logits.shape, value.shape)
        return -binary_cross_entropy_with_logits(self.logits.expand(*shape), value.expand(*shape), reduction="none")

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """One of K categories (the last dim of probs or logits), drawn with those weights."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            probs = _as_tensor(probs)
            self.probs = probs / probs.sum(-1, keepdim=True)
            eps = _eps(self.probs)
            self.logits = self.probs.clamp(eps, 1 - eps).log()
        else:
            logits = _as_tensor(logits)
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = self.logits.exp()
        if self.probs.ndim < 1:
            raise ValueError("Categorical needs at least one dim of categories")
        self._num_events = self.probs.shape[-1]
        super().__init__(tuple(self.probs.shape[:-1]))

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self.probs.shape)

    @property
    def mean(self) -> Tensor:
        return creation.full(self.batch_shape, math.nan, dtype=self.probs.dtype, device=self.probs.device)

    @property
    def variance(self) -> Tensor:
        return self.mean

    def sample(self, sample_shape=()) -> Tensor:
        count = math.prod(sample_shape)
        with no_grad():
            rows = self.probs.reshape(-1, self._num_events)
            drawn = creation.multinomial(rows, count, replacement=True)  # (batch, count)
            return drawn.T.reshape(tuple(sample_shape) + self.batch_shape)

    def log_prob(self, value) -> Tensor:
        value = _as_tensor(value).long()
        shape = broadcast_shapes(value.shape, self.batch_shape)
        logits = self.logits.expand(*shape, self._num_events)
        return logits.gather(-1, value.expand(*shape).unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.probs * self.logits).sum(-1)


def _eps(t: Tensor) -> float:
    """The dtype's machine epsilon, which PyTorch clamps probabilities by before taking logs."""
    return float(np.finfo(t.dtype.np_dtype).eps)


__all__ = ["Distribution", "Normal", "Uniform", "Bernoulli", "Categorical"]
