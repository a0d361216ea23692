"""PyTorch-style printing of tensors."""
from __future__ import annotations

import numpy as np

from lazyfuse.runtime import dtypes

_DEFAULT_DTYPES = (dtypes.float32, dtypes.int64, dtypes.bool_)


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    big = finite.size and (np.abs(finite).max() >= 1e8 or (np.abs(finite[finite != 0]).min(initial=1) < 1e-4))
    return (lambda v: f"{v:.4e}") if big else (lambda v: f"{v:.4f}" if np.isfinite(v) else str(v))


def _padded(fmt, values: np.ndarray):
    """Right-align every element to the widest, as PyTorch does."""
    width = max((len(fmt(v)) for v in values.ravel()), default=0)
    return lambda v: fmt(v).rjust(width)


def format_values(values: np.ndarray) -> str:
    if values.dtype.kind == "f":
        fmt = {"float_kind": _padded(_float_formatter(values.astype(np.float64)), values)}
    elif values.dtype.kind == "b":
        fmt = {"bool": _padded(lambda v: "True" if v else "False", values)}
    else:
        fmt = {"int": _padded(str, values)}
    return np.array2string(values, separator=", ", formatter=fmt, prefix="tensor(", threshold=1000, edgeitems=3)


def tensor_repr(t) -> str:
    values = t._value()
    text = format_values(values)
    extras = []
    if values.size == 0 and values.ndim != 1:
        text = "[]"
        extras.append(f"size={tuple(values.shape)}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t.dtype not in _DEFAULT_DTYPES or (values.size == 0 and t.dtype is not dtypes.float32):
        extras.append(f"dtype=lazyfuse.{t.dtype.name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([text] + extras) + ")"
