"""PyTorch's `out=` argument of the module-level functions (`lazyfuse.matmul(a, b,
out=c)`, `lazyfuse.mul(x, y, out=z)`, as the tensors tutorial writes them): the
result is written into `out`, which is returned, with PyTorch's rules for
gradients, dtypes and shapes."""
from __future__ import annotations

import functools
import warnings

from .autograd import is_grad_enabled
from .tensor import Tensor


def accepting_out(fn):
    """`fn` with an `out=` keyword argument, for a function returning one tensor."""
    @functools.wraps(fn)
    def with_out(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"{fn.__name__}(): argument 'out' must be Tensor, not {type(out).__name__}")
        if is_grad_enabled() and any(_requires_grad(a) for a in (out, *args, *kwargs.values())):
            raise RuntimeError(f"{fn.__name__}(): functions with out=... arguments don't support automatic "
                               f"differentiation, but one of the arguments requires grad.")
        return write(fn(*args, **kwargs), out)
    return with_out


def _requires_grad(value) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_requires_grad(v) for v in value)
    return isinstance(value, Tensor) and value.requires_grad


def write(result: Tensor, out: Tensor) -> Tensor:
    """`result` written into `out`: cast to its dtype when no narrower kind (float to
    int, int to bool), and resized to its shape unless `out` views another tensor."""
    if result.dtype.category > out.dtype.category:
        raise RuntimeError(f"result type {result.dtype.name} can't be cast to the desired output type "
                           f"{out.dtype.name}")
    if result.device != out.device:
        raise RuntimeError(f"Expected out tensor to have device {result.device}, but got {out.device} instead")
    if out.shape == result.shape:
        return out.copy_(result)
    if out._base is not None:
        raise RuntimeError(f"out= of shape {list(out.shape)} is a view of another tensor and cannot be resized to "
                           f"the result's shape {list(result.shape)}")
    if out.numel() > 0:
        warnings.warn(f"An output with one or more elements was resized since it had shape {list(out.shape)}, "
                      f"which does not match the required output shape {list(result.shape)}.", UserWarning,
                      stacklevel=3)
    out.data = result.detach().cast(out.dtype)
    return out
