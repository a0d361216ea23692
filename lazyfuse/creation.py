"""Tensor creation functions: tensor, zeros, ones, full, arange, rand, ..."""
from __future__ import annotations

import math

import numpy as np

from lazyfuse.runtime import dtypes
from lazyfuse.runtime.devices import canonical
from lazyfuse.runtime.graph import Node, Op
from lazyfuse.runtime.realize import upload

from . import generator
from .tensor import Tensor, _shape_arg, broadcast_shapes

def _device_name(device) -> str:
    return canonical(device if device is not None else "cpu")


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    return t.requires_grad_() if requires_grad else t


def _infer_dtype(array: np.ndarray, data) -> dtypes.DType:
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return dtypes.from_numpy(array.dtype)
    if array.dtype.kind == "f":
        return dtypes.default_float  # Python floats become float32, as in PyTorch
    if array.dtype.kind in "iu":
        return dtypes.int64
    if array.dtype.kind == "b":
        return dtypes.bool_
    raise TypeError(f"cannot make a tensor from data of type {array.dtype}; expected numbers, bools or nested lists of them")


def _to_array(data) -> np.ndarray:
    if isinstance(data, Tensor):
        return data._value()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [_to_array(x) for x in data]
    try:
        array = np.array(data)
    except ValueError as e:
        raise ValueError(f"expected a sequence of equal-length sequences (ragged nested lists cannot make a "
                         f"tensor): {e}") from None
    if array.dtype == object:
        raise ValueError("expected numbers or a sequence of equal-length sequences of numbers, "
                         f"got {type(data).__name__} holding other objects")
    if array.dtype.kind in "US":
        raise TypeError(f"new(): invalid data type '{array.dtype.kind == 'U' and 'str' or 'bytes'}'")
    return array


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    array = _to_array(data)
    dtype = dtypes.as_dtype(dtype) if dtype is not None else _infer_dtype(array, data)
    name = _device_name(device if device is not None else (data.device if isinstance(data, Tensor) else None))
    return _finish(Tensor._wrap(upload(array.astype(dtype.np_dtype), name, dtype)), requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return tensor(array)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape = _shape_arg(size if isinstance(size, (tuple, list)) else (size,))
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    name = _device_name(device)
    _check_size(shape, dtype, name)
    return _filled_node(fill_value, shape, dtype, name, requires_grad)


def _filled_node(fill_value, shape: tuple[int, ...], dtype, device_name: str, requires_grad: bool) -> Tensor:
    """fill_value (converted to dtype) at every index of shape, as one CONST node."""
    return _finish(Tensor._number(fill_value, shape, dtype, device_name), requires_grad)


def _check_size(shape, dtype, device_name: str) -> None:
    from lazyfuse.runtime.devices import backend
    nbytes = math.prod(shape) * dtype.itemsize
    limit = backend(device_name).max_alloc_bytes
    if nbytes > limit:
        raise MemoryError(f"cannot allocate a tensor of shape {list(shape)} ({nbytes} bytes) on {device_name}: "
                          f"the device allows at most {limit} bytes in one buffer")


def _filled(value, shape, dtype, device, requires_grad) -> Tensor:
    return full(_shape_arg(shape), value, dtype=dtype or dtypes.default_float, device=device, requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full_like(t, 0, dtype, device, requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full_like(t, 1, dtype, device, requires_grad)


def empty_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype, device, requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None and device is None:  # t's shape, dtype and device passed full()'s checks: 15 -> 4 us
        node = t.node
        return _filled_node(fill_value, node.shape, node.dtype, node.device, requires_grad)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    is_float = any(isinstance(v, float) for v in (start, end, step))
    dtype = dtypes.as_dtype(dtype) if dtype is not None else (dtypes.default_float if is_float else dtypes.int64)
    count = max(0, math.ceil((end - start) / step)) if is_float else len(range(start, end, step))
    device_name = _device_name(device)
    _check_size((count,), dtype, device_name)
    # computed where it is read, from each element's position (as numpy does it: in
    # float64 for float steps), so no data is uploaded
    positions = Tensor._wrap(Node.make(Op.POSITION, (), None, (count,), dtypes.float64 if is_float else dtypes.int64,
                                       device_name))
    values = positions if (start, step) == (0, 1) else positions * step + start
    return _finish(values.cast(dtype), requires_grad)


def eye(n: int, m=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Ones on the diagonal of an n x m matrix (m = n by default), computed where it is read."""
    m = n if m is None else m
    for name, size in (("n", n), ("m", m)):
        if size < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {size}")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    rows = arange(n, device=device).unsqueeze(1)
    return _finish((rows == arange(m, device=device)).cast(dtype), requires_grad)


def tril_indices(row: int, col: int, offset: int = 0, dtype=None, device=None) -> Tensor:
    """The (2, N) row and column indices of the lower triangle, row by row."""
    return tensor(np.stack(np.tril_indices(row, offset, col)), dtype=dtype or dtypes.int64, device=device)


def triu_indices(row: int, col: int, offset: int = 0, dtype=None, device=None) -> Tensor:
    """The (2, N) row and column indices of the upper triangle, row by row."""
    return tensor(np.stack(np.triu_indices(row, offset, col)), dtype=dtype or dtypes.int64, device=device)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    return tensor(np.linspace(start, end, steps).astype(dtype.np_dtype), device=device, requires_grad=requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """base ** linspace(start, end, steps), computed in float64 as PyTorch does."""
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    values = np.power(float(base), np.linspace(start, end, steps))
    return tensor(values.astype(dtype.np_dtype), device=device, requires_grad=requires_grad)


def _random(generate, size, dtype, device, requires_grad: bool) -> Tensor:
    shape = _shape_arg(size)
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.default_float
    if not dtype.is_floating_point:
        raise TypeError(f"random floats need a floating point dtype, got {dtype}")
    device_name = _device_name(device)
    _check_size(shape, dtype, device_name)
    return _finish(generate(shape, dtype, device_name), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform in [0, 1), drawn on the device (see lazyfuse/generator.py)."""
    return _random(generator.uniform, size, dtype, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal, drawn on the device (see lazyfuse/generator.py)."""
    return _random(generator.normal, size, dtype, device, requires_grad)


def rand_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high): randint(high, size) or randint(low, high, size), as in PyTorch."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() missing 1 required positional argument: 'size'")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    shape = _shape_arg(size if isinstance(size, (tuple, list)) else (size,))
    dtype = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    device_name = _device_name(device)
    _check_size(shape, dtype, device_name)
    span = high - low
    # 53 random bits: floor(u * span) is uniform for spans up to 2^53; rounding can
    # give span itself for the largest u, hence the clamp
    offsets = (generator.uniform(shape, dtypes.float64, device_name) * span).floor().clamp_max(span - 1)
    return _finish((offsets.cast(dtypes.int64) + low).cast(dtype), requires_grad)


def randint_like(t: Tensor, low, high=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randperm(n: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A uniform random permutation of 0..n-1: the order that sorts n float64 draws."""
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    order = rand(n, dtype=dtypes.float64, device=device).argsort()
    return _finish(order.cast(dtypes.as_dtype(dtype)) if dtype is not None else order, requires_grad)


def bernoulli(input: Tensor, p=None) -> Tensor:
    """1 with probability `input` (or `p`, a number), else 0, in input's dtype."""
    return (rand_like(input) < (input if p is None else p)).cast(input.dtype)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """num_samples category indices per row of weights `input` (1-d or 2-d, non-negative):
    with replacement, each draw finds where a uniform number falls in the running sum
    of the weights (a count of comparisons); without, the Gumbel-top-k trick (the k
    largest log(weight) + Gumbel noise), which samples without replacement exactly.
    Categories of weight 0 are never drawn."""
    if generator is not None:
        raise NotImplementedError("multinomial: generator is not supported; use lazyfuse.manual_seed")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {input.ndim}")
    categories = input.shape[-1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    weights = input._float() if input.dtype.is_floating_point else input.cast(dtypes.default_float)
    rows = weights if weights.ndim == 2 else weights.unsqueeze(0)
    if replacement:
        total = rows.cumsum(1)
        drawn = rand(rows.shape[0], num_samples, dtype=rows.dtype, device=input.device) * total[:, -1:]
        picked = (total.unsqueeze(1) <= drawn.unsqueeze(2)).sum(2)
        picked = picked.minimum(categories - 1)  # (a draw at the total's rounding edge)
    else:
        noise = -(-rand_like(rows).clamp_min(1e-20).log()).log()
        keys = rows.log() + noise  # -inf for weight 0
        picked = keys.topk(num_samples, 1).indices
    return picked if input.ndim == 2 else picked.squeeze(0)


def normal(mean, std=1.0, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Normal values of the given means and standard deviations (tensors or numbers,
    broadcast together; with two numbers, `size` gives the shape)."""
    given = [v for v in (mean, std) if isinstance(v, Tensor)]
    if given:
        shape = given[0].shape if len(given) == 1 else broadcast_shapes(mean.shape, std.shape)
        dtype, device = dtype or given[0].dtype, device or given[0].device
    elif size is None:
        raise TypeError("normal() with a number for both mean and std needs a size")
    else:
        shape = _shape_arg(size if isinstance(size, (tuple, list)) else (size,))
    return _finish(randn(shape, dtype=dtype, device=device) * std + mean, requires_grad)
