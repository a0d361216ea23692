"""Datasets, as in torch.utils.data: the map-style Dataset a user subclasses,
IterableDataset, TensorDataset (tensors indexed together), Subset,
ConcatDataset and random_split.

A TensorDataset keeps its tensors' values on the host and a batch of indices
is one slice of each, uploaded once, instead of one upload per sample and a
stack; a Subset of one passes its batches on (see batch_fetcher).
"""
from __future__ import annotations

import bisect
import itertools
import math
import warnings

import numpy as np

from ...tensor import Tensor
from .sampler import Generator, permutation


class Dataset:
    """A map-style dataset: subclasses give `__getitem__(index)` and, for the samplers
    that need it, `__len__`."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: subclasses give `__iter__`."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")


class TensorDataset(Dataset):
    """Tensors (or numpy arrays) of equal length along their first dim, indexed together."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tensors
        self.arrays = [t._value() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        self.devices = [t.device if isinstance(t, Tensor) else None for t in tensors]
        if any(len(a) != len(self.arrays[0]) for a in self.arrays):
            raise ValueError(f"Size mismatch between tensors: {[len(a) for a in self.arrays]}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(self._tensor(a[index], d) for a, d in zip(self.arrays, self.devices))

    def batch(self, indices) -> list:
        """The samples at `indices` collated: one slice per tensor (as DataLoader's
        default collate_fn would stack them, without a tensor per sample)."""
        indices = np.asarray(indices, dtype=np.int64)
        return [self._tensor(a[indices], d) for a, d in zip(self.arrays, self.devices)]

    @staticmethod
    def _tensor(values, device):
        from ...creation import tensor
        return tensor(values, device=device)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]


class ConcatDataset(Dataset):
    """Map-style datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def batch_fetcher(dataset):
    """A function giving the collated samples at a list of indices in one go, for a
    TensorDataset and Subsets of one; None for datasets fetched sample by sample."""
    if isinstance(dataset, TensorDataset):
        return dataset.batch
    if isinstance(dataset, Subset):
        inner = batch_fetcher(dataset.dataset)
        if inner is not None:
            return lambda indices: inner([dataset.indices[i] for i in indices])
    return None


def random_split(dataset: Dataset, lengths, generator: Generator | None = None) -> list[Subset]:
    """Non-overlapping random Subsets of the given lengths, or of fractions of the
    dataset's length that sum to 1 (the remainder is spread from the first on).
    The permutation is numpy's: the same seed does not give PyTorch's split."""
    lengths = list(lengths)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * fraction)) for fraction in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = permutation(n, generator).tolist()
    return [Subset(dataset, order[end - length:end]) for end, length in zip(itertools.accumulate(lengths), lengths)]
