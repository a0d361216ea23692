"""default_collate and default_convert, as in torch.utils.data: samples made
into a batch, one level of the sample's structure at a time.

Samples that are tensors not requiring grad are stacked on the host (computed
in one schedule, read, stacked by numpy and uploaded once): a lazy stack of
a batch's samples would be one kernel reading batch_size buffers, compiled
again for every batch size.
"""
from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from ...tensor import Tensor


def _tensor(values, dtype=None):
    from ...creation import tensor
    return tensor(values, dtype=dtype)


def _stack(samples: list) -> Tensor:
    first = samples[0]
    for i, sample in enumerate(samples):
        if sample.shape != first.shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first.shape)} at entry 0 "
                               f"and {list(sample.shape)} at entry {i}")
    if any(s.requires_grad for s in samples):
        from ...functional import stack
        return stack(samples)
    from ... import realize
    from ...creation import tensor
    realize(*samples)
    return tensor(np.stack([sample._value() for sample in samples]), dtype=first.dtype, device=first.device)


def default_collate(batch: list):
    """A list of samples as one batch: tensors and numpy arrays stacked along a new
    first dim, numbers as a tensor (floats float64, ints int64, bools bool), strings
    as a list, and mappings, named tuples and sequences collated field by field."""
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack(batch)
    if isinstance(first, np.ndarray) and first.dtype.kind not in "OSUa":
        return _tensor(np.stack(batch))
    if isinstance(first, np.generic) and first.dtype.kind not in "OSUa":
        return _tensor(np.array(batch))
    if isinstance(first, bool):
        return _tensor(batch)
    if isinstance(first, numbers.Integral):
        return _tensor(batch, "int64")
    if isinstance(first, float):
        return _tensor(batch, "float64")
    if isinstance(first, (str, bytes)):
        return batch
    if isinstance(first, collections.abc.Mapping):
        fields = {key: default_collate([sample[key] for sample in batch]) for key in first}
        try:
            return type(first)(fields)
        except TypeError:  # a mapping type that cannot be made from a dict
            return fields
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # a named tuple
        return type(first)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(first)}")


def default_convert(data):
    """One sample as a DataLoader without batching gives it: numpy arrays and
    scalars (also inside mappings and sequences) as tensors, the rest unchanged."""
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind not in "OSUa":
        return _tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data
