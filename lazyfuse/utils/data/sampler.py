"""Samplers, as in torch.utils.data: which indices a DataLoader reads, in what
order and in what batches; and the Generator that seeds their shuffles.

Indices are drawn on the host with numpy. Without a Generator they come from
lazyfuse's host generator, which `lazyfuse.manual_seed` restarts: seeding
makes a run's shuffles repeat, as in PyTorch (the orders are numpy's, not
PyTorch's).
"""
from __future__ import annotations

import os
from typing import Iterator, Optional

import numpy as np


class Generator:
    """A seeded source of the host's draws (shuffles, splits, sampled indices):
    `Generator().manual_seed(0)`. Random tensors (`randn`, `rand`) draw from the
    device's generator, which `lazyfuse.manual_seed` seeds."""

    def __init__(self, device="cpu"):
        self.device = device
        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed, self._rng = seed, np.random.default_rng(seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        return self._seed


def _rng(generator: Optional[Generator]) -> np.random.Generator:
    if generator is None:
        from ...generator import host_generator
        return host_generator()
    return generator._rng


def permutation(n: int, generator: Optional[Generator] = None) -> np.ndarray:
    """0..n-1 in a random order."""
    return _rng(generator).permutation(n)


class Sampler:
    """Gives the indices to read, through `__iter__`."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Shuffled indices, each once (or num_samples of them drawn with replacement)."""

    def __init__(self, data_source, replacement: bool = False, num_samples: Optional[int] = None,
                 generator: Optional[Generator] = None):
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist())
        rounds = -(-self.num_samples // n)
        return iter(np.concatenate([rng.permutation(n) for _ in range(rounds)])[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, shuffled."""

    def __init__(self, indices, generator: Optional[Generator] = None):
        self.indices, self.generator = list(indices), generator

    def __iter__(self):
        return iter([self.indices[i] for i in permutation(len(self.indices), self.generator)])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn with probabilities proportional to `weights`."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator: Optional[Generator] = None):
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        from ...tensor import Tensor
        weights = np.asarray(weights._value() if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0, or a negative or "
                               "non-finite weight)")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        self.weights, self.num_samples, self.replacement, self.generator = weights, num_samples, replacement, generator

    def __iter__(self):
        chosen = _rng(self.generator).choice(len(self.weights), self.num_samples, replace=self.replacement,
                                             p=self.weights / self.weights.sum())
        return iter(chosen.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from `sampler`; the last one shorter unless drop_last."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
