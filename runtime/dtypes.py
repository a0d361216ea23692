"""Tensor element types and PyTorch's type-promotion rules."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class DType:
    """One element type: its PyTorch-style name, numpy twin and kind. Each is a
    single instance, compared and hashed by identity (every node key hashes one)."""

    name: str
    itemsize: int
    kind: str  # "bool", "int" or "float": the promotion category
    np_dtype: np.dtype

    def __repr__(self) -> str:
        return f"lazyfuse.{self.name}"

    @property
    def is_floating_point(self) -> bool:
        return self.kind == "float"

    @property
    def category(self) -> int:
        return ("bool", "int", "float").index(self.kind)


bool_ = DType("bool", 1, "bool", np.dtype(np.bool_))
int32 = DType("int32", 4, "int", np.dtype(np.int32))
int64 = DType("int64", 8, "int", np.dtype(np.int64))
float16 = DType("float16", 2, "float", np.dtype(np.float16))
float32 = DType("float32", 4, "float", np.dtype(np.float32))
float64 = DType("float64", 8, "float", np.dtype(np.float64))

# named so code written for PyTorch finds it, but no backend computes in it yet
bfloat16 = DType("bfloat16", 2, "float", np.dtype(np.uint16))

ALL = (bool_, int32, int64, float16, float32, float64)
BY_NAME = {d.name: d for d in ALL}
_BY_NUMPY = {d.np_dtype: d for d in ALL}

default_float = float32
default_int = int64


def extreme(dtype: DType, largest: bool):
    """dtype's largest (or smallest) value: +-inf for floats, the integer bounds, True (False) for bool."""
    if dtype.is_floating_point:
        return float("inf") if largest else float("-inf")
    if dtype is bool_:
        return largest
    info = np.iinfo(dtype.np_dtype)
    return int(info.max if largest else info.min)


def from_numpy(np_dtype) -> DType:
    """The DType for a numpy dtype; raises TypeError naming the supported ones."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype in _BY_NUMPY:
        return _BY_NUMPY[np_dtype]
    if np_dtype.kind in "iu" and np_dtype.itemsize <= 8:
        return int64 if np_dtype.itemsize > 4 or np_dtype.kind == "u" and np_dtype.itemsize == 4 else int32
    raise TypeError(f"numpy dtype {np_dtype} is not supported; supported: {', '.join(BY_NAME)}")


def as_dtype(value) -> DType:
    """Accept a DType, a dtype name or a numpy dtype; anything else is a TypeError."""
    if value is bfloat16 or value == "bfloat16":
        raise TypeError("bfloat16 is not supported by lazyfuse's OpenCL and Triton backends yet; "
                        "use float16 or float32")
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in BY_NAME:
        return BY_NAME[value]
    if value in (float, int, bool):
        return {float: float32, int: int64, bool: bool_}[value]
    try:
        return from_numpy(value)
    except TypeError:
        raise TypeError(f"unknown dtype {value!r}; expected one of: {', '.join(BY_NAME)}") from None


def _wider(a: DType, b: DType) -> DType:
    if a.category != b.category:
        return a if a.category > b.category else b
    return a if a.itemsize >= b.itemsize else b


def scalar_dtype(value) -> DType:
    """The dtype PyTorch gives a Python scalar."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return float32
    raise TypeError(f"expected a tensor or a Python number, got {type(value).__name__}")


def result_type(dims: list[DType], zero_dims: list[DType], scalars: list[DType]) -> DType:
    """PyTorch's promotion: dimensioned tensors outrank 0-d tensors, which outrank
    Python scalars, except that a higher category (bool < int < float) always wins."""
    tiers = [t for t in (dims, zero_dims, scalars) if t]
    result = functools.reduce(_wider, tiers[0])
    for tier in tiers[1:]:
        higher = [d for d in tier if d.category > result.category]
        if higher:
            # Python scalars carry the default dtypes (int64, float32), so a float
            # scalar turns an int tensor into float32, as in PyTorch
            result = functools.reduce(_wider, [d for d in higher if d.category == max(h.category for h in higher)])
    return result
