"""DataLoader, as in torch.utils.data: batches of a dataset's samples, read in
the order a sampler gives and made into tensors by collate_fn.

Batches are loaded in the calling process: num_workers, pin_memory,
prefetch_factor, persistent_workers, timeout and worker_init_fn are accepted
so that PyTorch code runs unchanged, and change nothing (lazyfuse's kernels
run asynchronously while Python loads the next batch). The batches are the
ones PyTorch's DataLoader gives for the same order.
"""
from __future__ import annotations

from typing import Callable, Optional

from .collate import default_collate, default_convert
from .dataset import IterableDataset, batch_fetcher
from .sampler import BatchSampler, Generator, RandomSampler, SequentialSampler


class DataLoader:
    def __init__(self, dataset, batch_size: Optional[int] = 1, shuffle: Optional[bool] = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn: Optional[Callable] = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator: Optional[Generator] = None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset, self.num_workers, self.generator = dataset, num_workers, generator
        self.iterable = isinstance(dataset, IterableDataset)
        if self.iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler and batch_sampler "
                                 "options")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if sampler is None and not self.iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self.iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        self.batched = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else (default_collate if self.batched
                                                                     else default_convert)

    def __len__(self) -> int:
        if not self.iterable:
            return len(self.batch_sampler) if self.batched else len(self.sampler)
        n = len(self.dataset)  # a TypeError for a stream without a length, as in PyTorch
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.iterable:
            return self._stream()
        if not self.batched:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        fetch = batch_fetcher(self.dataset) if self.collate_fn is default_collate else None
        if fetch is None:
            fetch = self._fetch
        return (fetch(indices) for indices in self.batch_sampler)

    def _fetch(self, indices: list):
        return self.collate_fn([self.dataset[i] for i in indices])

    def _stream(self):
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)
