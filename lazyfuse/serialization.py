"""lazyfuse.save and lazyfuse.load, and what makes tensors picklable and
deep-copyable (the tutorials' `torch.save(model.state_dict(), path)`,
`model.load_state_dict(torch.load(path))` and `copy.deepcopy(model)`).

A pickled tensor is its values (read from the device), dtype, device and
requires_grad; autograd history is not kept, as PyTorch keeps none. Loading
with weights_only=True (the default, as in PyTorch) unpickles tensors,
numbers, strings and the standard containers only, so a file cannot run code.
"""
from __future__ import annotations

import builtins
import collections
import os
import pickle
from typing import Any, Optional

import numpy as np

from lazyfuse.runtime import dtypes
from lazyfuse.runtime.devices import canonical

from .tensor import Tensor

_SAFE_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str", "bytes", "complex",
                  "slice", "range"}


def save(obj: Any, f) -> None:
    """Pickle obj (tensors, state dicts, anything picklable) to a path or a binary file."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as file:
            pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def load(f, map_location=None, weights_only: bool = True) -> Any:
    """What `save` wrote; tensors go to `map_location` (a device) or to the device they were saved from."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            return load(file, map_location, weights_only)
    unpickler = (_WeightsUnpickler if weights_only else pickle.Unpickler)(f)
    global _load_device
    _load_device, previous = (canonical(map_location) if map_location is not None else None), _load_device
    try:
        return unpickler.load()
    finally:
        _load_device = previous


_load_device: Optional[str] = None  # map_location of the load in progress


class _WeightsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == __name__ and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "builtins" and name in _SAFE_BUILTINS:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"weights_only load refuses {module}.{name}: only tensors, numbers, strings and "
                                     f"containers are loaded this way; pass weights_only=False for a file you trust")


def _rebuild_tensor(data: bytes, shape: tuple, dtype_name: str, device: str, requires_grad: bool, is_parameter: bool):
    from .creation import tensor
    dtype = dtypes.as_dtype(dtype_name)
    values = np.frombuffer(data, dtype=dtype.np_dtype).reshape(shape)
    t = tensor(values, dtype=dtype, device=_load_device or device, requires_grad=requires_grad)
    if is_parameter:
        from .nn.modules import Parameter
        return Parameter(t, requires_grad=requires_grad)
    return t


def _reduce_tensor(t: Tensor, protocol: int):
    from .nn.modules import Parameter
    values = np.asarray(t.detach().numpy())  # not ascontiguousarray, which makes a 0-d array 1-d
    return _rebuild_tensor, (values.tobytes(), values.shape, t.dtype.name, t.node.device, t.requires_grad,
                             isinstance(t, Parameter))


def _deepcopy_tensor(t: Tensor, memo: dict) -> Tensor:
    """A new leaf holding t's current values: the node is shared, which is safe because
    nodes never change (an in-place write gives a tensor a new node)."""
    if t.grad_fn is not None:
        raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol "
                           "at the moment. If you were attempting to deepcopy a module, this may be because of a "
                           "torch.nn.utils.weight_norm usage, see https://github.com/pytorch/pytorch/pull/103001")
    copy = type(t).__new__(type(t))._init(t.node, requires_grad=t.requires_grad)
    memo[id(t)] = copy
    if t.grad is not None:
        copy.grad = _deepcopy_tensor(t.grad, memo)
    return copy


Tensor.__reduce_ex__ = _reduce_tensor
Tensor.__deepcopy__ = _deepcopy_tensor
