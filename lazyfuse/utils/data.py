"""TensorDataset and DataLoader, as in torch.utils.data (batches are sliced on the host)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..tensor import Tensor


class TensorDataset:
    """Tensors or numpy arrays of equal length, indexed together."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.arrays = [t._value() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        self.devices = [t.device if isinstance(t, Tensor) else None for t in tensors]
        if any(len(a) != len(self.arrays[0]) for a in self.arrays):
            raise ValueError(f"Size mismatch between tensors: {[len(a) for a in self.arrays]}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(self._tensor(a[index], d) for a, d in zip(self.arrays, self.devices))

    def batch(self, indices: np.ndarray):
        return tuple(self._tensor(a[indices], d) for a, d in zip(self.arrays, self.devices))

    @staticmethod
    def _tensor(values, device):
        from ..creation import tensor
        return tensor(values, device=device)


class Generator:
    """A seeded source of shuffles: `Generator().manual_seed(0)`."""

    def __init__(self):
        self._rng = np.random.default_rng()

    def manual_seed(self, seed: int) -> "Generator":
        self._rng = np.random.default_rng(seed)
        return self

    def permutation(self, n: int) -> np.ndarray:
        return self._rng.permutation(n)


class DataLoader:
    def __init__(self, dataset: TensorDataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: Optional[Generator] = None):
        if batch_size < 1:
            raise ValueError(f"batch_size should be a positive integer, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.generator = generator or Generator()

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        for i in range(len(self)):
            yield self.dataset.batch(order[i * self.batch_size:(i + 1) * self.batch_size])
