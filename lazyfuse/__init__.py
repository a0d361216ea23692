"""lazyfuse: PyTorch's tensor API, recorded lazily and fused into generated kernels.

    import lazyfuse as torch
"""
from __future__ import annotations

import math as _math

from lazyfuse.runtime import dtypes as _dtypes
from lazyfuse.runtime.devices import device
from lazyfuse.runtime.profiler import Profile as profile

from . import amp, autograd, backends, composites, elementary, linalg, nn, optim, shaping, utils
from .amp import autocast
from . import distributions
from .step_capture import capture
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       logspace, multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like,
                       randperm, tensor, tril_indices, triu_indices, zeros, zeros_like)
from .generator import initial_seed, manual_seed, seed
from .utils.data.sampler import Generator
from .serialization import load, save
from ._format import set_printoptions
from .type_info import finfo, iinfo
from .settings import are_deterministic_algorithms_enabled, compile, set_default_dtype, use_deterministic_algorithms
from .devices import accelerator, cuda, opencl, synchronize
from .einsum import einsum
from .functional import cat, matmul, stack, where
from .functional import cat as concat, cat as concatenate
from .linalg import cdist, first_dim_cross as cross, inner, kron, tensordot
from .decompositions import det, inv as inverse, logdet, slogdet
from .out_argument import accepting_out as _accepting_out
from .selection import bincount, bucketize, histc, searchsorted
from .nn.functional import cosine_similarity
from .shaping import (atleast_1d, atleast_2d, atleast_3d, broadcast_tensors, broadcast_to, column_stack, count_nonzero,
                      diff, dstack, hstack, meshgrid, repeat_interleave, roll, vstack, vstack as row_stack,
                      block_diag, cartesian_prod, vander)
from .composites import std_mean, var_mean
from .tensor import Size, Tensor, broadcast_shapes

bool = _dtypes.bool_  # noqa: A001 - PyTorch's name
int32 = int = _dtypes.int32  # noqa: A001
int64 = long = _dtypes.int64
float16 = half = _dtypes.float16
bfloat16 = _dtypes.bfloat16
float32 = float = _dtypes.float32  # noqa: A001
float64 = double = _dtypes.float64
dtype = _dtypes.DType
nan, inf, pi, e = _math.nan, _math.inf, _math.pi, _math.e  # PyTorch's constants


def realize(*tensors: Tensor) -> None:
    """Compute several tensors in one schedule, so they share kernels."""
    from lazyfuse.runtime.realize import realize as _realize
    _realize([t.node for t in tensors])


def get_default_dtype():
    return _dtypes.default_float


def is_floating_point(t: Tensor) -> bool:
    return t.is_floating_point()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


def _tensor_function(name: str):
    def fn(input: Tensor, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = name
    fn.__doc__ = f"lazyfuse.{name}(t, ...) is t.{name}(...)"
    return fn if name in _NO_OUT_ARGUMENT else _accepting_out(fn)


# functions returning views, several tensors or a Python value, which PyTorch gives no out=
_NO_OUT_ARGUMENT = {"reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "t", "split", "chunk",
                    "tensor_split", "hsplit", "vsplit", "dsplit", "rot90", "ravel", "cummax", "cummin", "aminmax",
                    "kthvalue",
                    "narrow", "diagonal", "movedim", "moveaxis", "select", "unbind", "swapaxes", "swapdims",
                    "allclose", "equal", "sort", "topk", "max", "min"}


for _name in ("exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg",
              "reciprocal", "square", "clamp", "clip", "pow", "maximum", "minimum", "logical_not", "logical_and",
              "logical_or", "sum", "mean", "var", "std", "amax", "amin", "max", "min", "prod", "argmax", "argmin",
              "logsumexp", "softmax", "log_softmax", "reshape", "permute", "transpose", "flatten", "squeeze",
              "unsqueeze", "t", "add", "sub", "mul", "div", "floor_divide", "remainder", "dot", "mm", "all", "any",
              "split", "chunk", "narrow", "lt", "le", "gt", "ge", "eq", "ne", "clone", "floor", "ceil", "trunc",
              "frac", "round", "sign", "sgn", "isnan", "isinf", "isfinite", "nan_to_num", "nansum", "nanmean",
              "clamp_min", "clamp_max", "masked_fill", "tril", "triu", "lerp", "addcmul", "addcdiv", "diagonal",
              "diag", "trace", "outer", "ger", "mv", "bmm", "addmm", "norm", "dist", "movedim", "moveaxis", "select",
              "unbind", "tile", "isclose", "allclose", "equal", "swapaxes", "swapdims", "gather", "index_select", "cumsum",
              "cumprod", "sort", "argsort", "topk", "erf", "erfc", "flip", "fliplr", "flipud", "log1p", "expm1",
              "log10", "tan", "sinh", "cosh", "hypot", "xlogy", "logaddexp", "deg2rad", "rad2deg", "logical_xor",
              "negative", "absolute", "true_divide", "atan", "asin", "acos", "atan2", "asinh", "acosh", "atanh",
              "arctan", "arcsin", "arccos", "arctan2", "arcsinh", "arccosh", "arctanh", "median", "nanmedian",
              "unique", "scatter_add", "scatter", "scatter_reduce", "index_add", "nonzero", "argwhere", "take_along_dim",
              "masked_select", "fmod", "logit", "sinc", "copysign", "float_power", "heaviside", "signbit",
              "logcumsumexp", "tensor_split", "hsplit", "vsplit", "dsplit", "rot90", "diag_embed", "diagflat", "ravel",
              "index_fill", "index_copy", "baddbmm", "addbmm", "addmv", "addr", "cummax", "cummin", "aminmax",
              "kthvalue", "quantile", "nanquantile", "fmax", "fmin", "erfinv", "take", "unflatten"):
    globals()[_name] = _tensor_function(_name)
cat, matmul, stack, where = (_accepting_out(f) for f in (cat, matmul, stack, where))
