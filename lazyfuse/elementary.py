"""More elementary functions, composed from exp, log, sin and cos as PyTorch
names them (log1p, expm1, log10, tan, sinh, cosh, hypot, xlogy, logaddexp,
deg2rad, rad2deg, logical_xor) and a few of PyTorch's other names for existing
methods; each is attached to Tensor here, with the in-place forms of the
elementwise ones. log1p and expm1 keep their precision near 0 (Kahan's
corrections), where log(1 + x) and exp(x) - 1 lose it."""
from __future__ import annotations

import math

from .composites import in_place_method
from .functional import where
from .tensor import Tensor


def log1p(x: Tensor) -> Tensor:
    u = 1 + x
    # log(u) * x / (u - 1) corrects the rounding of 1 + x; where u rounds to 1, log1p(x) is x
    return where(u == 1, x, u.log() * (x / where(u == 1, 1, u - 1)))


def expm1(x: Tensor) -> Tensor:
    u = x.exp()
    near_zero = u == 1
    # (u - 1) * x / log(u) corrects the rounding of exp(x); far below 0 it is -1, above 88 (float32) inf
    corrected = (u - 1) * (x / where(near_zero, 1, u.log()))
    return where(near_zero, x, where(u.isinf(), u, where(u - 1 == -1, -1, corrected)))


def log10(x: Tensor) -> Tensor:
    return x.log() * (1 / math.log(10))


def tan(x: Tensor) -> Tensor:
    return x.sin() / x.cos()


def sinh(x: Tensor) -> Tensor:
    return (x.exp() - (-x).exp()) * 0.5


def cosh(x: Tensor) -> Tensor:
    return (x.exp() + (-x).exp()) * 0.5


def hypot(x: Tensor, other) -> Tensor:
    return (x * x + other * other).sqrt()


def xlogy(x: Tensor, other) -> Tensor:
    """x * log(other), 0 where x is 0 (unless other is NaN), as in PyTorch."""
    other = x._operand(other)
    return where((x == 0).logical_and(other == other), 0, x * other.log())


def logaddexp(x: Tensor, other) -> Tensor:
    """log(exp(x) + exp(other)), from the larger one, so neither overflows."""
    other = x._operand(other)
    larger = x.maximum(other)
    return larger + log1p((-(x - other).abs()).exp())


def deg2rad(x: Tensor) -> Tensor:
    return x * (math.pi / 180)


def rad2deg(x: Tensor) -> Tensor:
    return x * (180 / math.pi)


def logical_xor(x: Tensor, other) -> Tensor:
    return (x != 0) != (x._operand(other) != 0)


METHODS = {"log1p": log1p, "expm1": expm1, "log10": log10, "tan": tan, "sinh": sinh, "cosh": cosh, "hypot": hypot,
           "xlogy": xlogy, "logaddexp": logaddexp, "deg2rad": deg2rad, "rad2deg": rad2deg, "logical_xor": logical_xor,
           "negative": Tensor.neg, "absolute": Tensor.abs, "true_divide": Tensor.div, "nelement": Tensor.numel,
           "ndimension": Tensor.dim}
IN_PLACE = ["log1p", "expm1", "log10", "tan", "sinh", "cosh", "hypot", "xlogy", "deg2rad", "rad2deg"]


for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
for _name in IN_PLACE:
    setattr(Tensor, _name + "_", in_place_method(_name))
