"""More elementary functions, composed from exp, log, sin and cos as PyTorch
names them (log1p, expm1, log10, tan, sinh, cosh, hypot, xlogy, logaddexp,
deg2rad, rad2deg, logical_xor, fmod, logit, sinc, copysign, float_power,
heaviside, signbit, logcumsumexp), the inverse trigonometric and hyperbolic
functions (atan from Cephes' rational approximation, the others from atan and
log1p) and a few of PyTorch's other names for existing methods; each is attached
to Tensor here, with the in-place forms of the elementwise ones. log1p and
expm1 keep their precision near 0 (Kahan's corrections), where log(1 + x) and
exp(x) - 1 lose it. The inverse functions are recorded as one op each, with
their exact derivatives (autograd/rules.py), not the approximation's."""
from __future__ import annotations

import math

from .composites import in_place_method
from .functional import where
from .tensor import Tensor


def log1p(x: Tensor) -> Tensor:
    u = 1 + x
    # log(u) * x / (u - 1) corrects the rounding of 1 + x; where u rounds to 1, log1p(x) is x
    # (and at infinity, infinity: the correction is inf / inf there)
    return where((u == 1).logical_or(u == math.inf), x, u.log() * (x / where(u == 1, 1, u - 1)))


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


# Cephes' atan (double precision): atan(x) = x + x^3 P(x^2) / Q(x^2) on [-0.66, 0.66],
# after reducing larger |x| with atan(x) = pi/4 + atan((x - 1) / (x + 1)) up to
# tan(3 pi / 8), and atan(x) = pi/2 - atan(1 / x) beyond
_ATAN_P = (-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
           -1.228866684490136173410e2, -6.485021904942025371773e1)
_ATAN_Q = (2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
           4.853903996359136964868e2, 1.945506571482613964425e2)  # after a leading 1
_TAN_3PI_8 = 2.41421356237309504880
_PI_2_LOW_BITS = 6.123233995736765886130e-17  # pi/2 - float64(pi/2)
# beyond this, asinh(x) and acosh(x) are log(2x) to the last bit (and x * x may overflow)
_LOG_2X_FROM = 1e8


def _polynomial(z: Tensor, coefficients, leading_one: bool = False) -> Tensor:
    total = z + coefficients[0] if leading_one else coefficients[0]
    for c in coefficients[1:]:
        total = total * z + c
    return total


def _atan(x: Tensor) -> Tensor:
    a = x.abs()
    big, middle = a > _TAN_3PI_8, a > 0.66
    reduced = where(big, -1 / where(big, a, 1), where(middle, (a - 1) / (a + 1), a))
    z = reduced * reduced
    tail = reduced * (z * _polynomial(z, _ATAN_P) / _polynomial(z, _ATAN_Q, leading_one=True)) + reduced
    offset = where(big, x._operand(math.pi / 2 + _PI_2_LOW_BITS, x.dtype),
                   where(middle, x._operand(math.pi / 4 + _PI_2_LOW_BITS / 2, x.dtype), 0))
    return _signed_like(x, offset + tail)


def _signed_like(x: Tensor, magnitude: Tensor) -> Tensor:
    """magnitude with x's sign, for an odd function that is 0 at 0: -0.0 at -0.0, as in PyTorch."""
    return where(x < 0, -magnitude, where(x == 0, x, magnitude))


def atan(x: Tensor) -> Tensor:
    return x._float()._recorded_as_one("atan", _atan)


def asin(x: Tensor) -> Tensor:
    # (1 - x)(1 + x) rather than 1 - x * x: exact near |x| = 1, where the result is steep
    return x._float()._recorded_as_one("asin", lambda x: _atan(x / ((1 - x) * (1 + x)).sqrt()))


def acos(x: Tensor) -> Tensor:
    # 2 atan(sqrt((1 - x) / (1 + x))) keeps its precision near x = 1, where pi/2 - asin(x) loses it
    return x._float()._recorded_as_one("acos", lambda x: 2 * _atan(((1 - x) / (1 + x)).sqrt()))


def atan2(y: Tensor, x) -> Tensor:
    """The angle of (x, y), in (-pi, pi], with IEEE's signed zeros and infinities, as in PyTorch."""
    y = y._float()
    x = y._operand(x)._float()

    def negative(t):  # -0.0 counts as negative
        return (t < 0).logical_or((t == 0).logical_and(1 / t < 0))
    both_zero, both_infinite = (x == 0).logical_and(y == 0), x.isinf().logical_and(y.isinf())
    ratio = where(both_zero, y, where(both_infinite, y.sign() / x.sign(), y / where(both_zero, 1, x)))
    half_turn, angle = x._operand(math.pi, ratio.dtype), atan(ratio)
    return where(negative(x), angle + where(negative(y), -half_turn, half_turn), angle)


def _asinh(x: Tensor) -> Tensor:
    a = x.abs()
    near = log1p(a + a * a / (1 + (a * a + 1).sqrt()))
    return _signed_like(x, where(a > _LOG_2X_FROM, where(a > _LOG_2X_FROM, a, 1).log() + math.log(2), near))


def _acosh(x: Tensor) -> Tensor:
    m = x - 1
    near = log1p(m + (m * (x + 1)).sqrt())
    return where(x > _LOG_2X_FROM, where(x > _LOG_2X_FROM, x, 1).log() + math.log(2), near)


def asinh(x: Tensor) -> Tensor:
    return x._float()._recorded_as_one("asinh", _asinh)


def acosh(x: Tensor) -> Tensor:
    return x._float()._recorded_as_one("acosh", _acosh)


def atanh(x: Tensor) -> Tensor:
    # from log1p(x) and log1p(-x), whose 1 + x and 1 - x are exact near |x| = 1
    return x._float()._recorded_as_one("atanh", lambda x: (log1p(x) - log1p(-x)) * 0.5)


def fmod(x: Tensor, other) -> Tensor:
    """The remainder with the dividend's sign (C's fmod), where remainder takes the divisor's."""
    rem = x.remainder(other)
    return where((rem != 0) & ((rem < 0) != (x < 0)), rem - other, rem)


def logit(x: Tensor, eps=None) -> Tensor:
    """log(x / (1 - x)), x clamped to [eps, 1 - eps] when eps is given."""
    x = x._float() if eps is None else x._float().clamp(eps, 1 - eps)
    return (x / (1 - x)).log()


def sinc(x: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    scaled = x._float() * math.pi
    zero = scaled == 0
    return where(zero, 1.0, scaled.sin() / where(zero, 1.0, scaled))


def copysign(x: Tensor, other) -> Tensor:
    """|x| with the sign of other (a signed zero's sign included)."""
    other = x._operand(other)
    negative = (other < 0) | ((other == 0) & ((1 / other._float()) < 0))
    magnitude = x._float().abs()
    return where(negative, -magnitude, magnitude)


def float_power(x: Tensor, exponent) -> Tensor:
    """x ** exponent in float64, as PyTorch computes it."""
    from lazyfuse.runtime import dtypes
    exponent = exponent.cast(dtypes.float64) if isinstance(exponent, Tensor) else float(exponent)
    return x.cast(dtypes.float64).pow(exponent)


def heaviside(x: Tensor, values: Tensor) -> Tensor:
    """0 below zero, 1 above, `values` at zero."""
    return where(x == 0, values, (x > 0).cast(x.dtype))


def signbit(x: Tensor) -> Tensor:
    """True where the sign bit is set (negative numbers and -0.0)."""
    return (x < 0) | ((x == 0) & ((1 / x._float()) < 0)) if x.dtype.is_floating_point else x < 0


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along dim, by a scan of logaddexp (no overflow)."""
    from .composites import _scan
    return _scan(x._float(), dim, logaddexp, -math.inf)


def fmax(x: Tensor, other) -> Tensor:
    """The larger of the two, a NaN losing to a number; ties (and two NaN) give x, as
    does PyTorch's gradient."""
    other = x._operand(other)
    return where((x >= other) | other.isnan(), x, other)


def fmin(x: Tensor, other) -> Tensor:
    """The smaller of the two, a NaN losing to a number."""
    other = x._operand(other)
    return where((x <= other) | other.isnan(), x, other)


# PyTorch's erfinv: a rational first guess (central for |y| <= 0.7, tail beyond) and
# two Newton steps on erf
_ERFINV_CENTRAL = ((0.886226899, -1.645349621, 0.914624893, -0.140543331),
                   (-2.118377725, 1.442710462, -0.329097515, 0.012229801))
_ERFINV_TAIL = ((-1.970840454, -1.624906493, 3.429567803, 1.641345311), (3.543889200, 1.637067800))


def _erfinv(y: Tensor) -> Tensor:
    from .composites import erf
    central, tail = y.abs() <= 0.7, y.abs() >= 1
    z = where(central, y * y, 0.0)
    (a, b), (c, d) = _ERFINV_CENTRAL, _ERFINV_TAIL
    guess_central = y * _polynomial(z, a[::-1]) / (_polynomial(z, b[::-1]) * z + 1)
    w = (-((1 - where(central | tail, 0.5, y.abs())) / 2).log()).sqrt()
    guess_tail = _signed_like(y, _polynomial(w, c[::-1])) / ((d[1] * w + d[0]) * w + 1)
    x = where(central, guess_central, guess_tail)
    for _ in range(2):
        x = x - (erf(x) - y) / ((2 / math.sqrt(math.pi)) * (-x * x).exp())
    edge = where(y > 0, math.inf, -math.inf)
    return where(tail, where(y.abs() == 1, edge, math.nan), x)


def erfinv(x: Tensor) -> Tensor:
    """The inverse of erf on (-1, 1): +-inf at +-1, NaN beyond."""
    return x._float()._recorded_as_one("erfinv", _erfinv)


METHODS = {"log1p": log1p, "expm1": expm1, "log10": log10, "tan": tan, "sinh": sinh, "cosh": cosh, "hypot": hypot,
           "xlogy": xlogy, "logaddexp": logaddexp, "deg2rad": deg2rad, "rad2deg": rad2deg, "logical_xor": logical_xor,
           "negative": Tensor.neg, "absolute": Tensor.abs, "true_divide": Tensor.div, "nelement": Tensor.numel,
           "ndimension": Tensor.dim, "atan": atan, "asin": asin, "acos": acos, "atan2": atan2, "asinh": asinh,
           "acosh": acosh, "atanh": atanh, "arctan": atan, "arcsin": asin, "arccos": acos, "arctan2": atan2,
           "arcsinh": asinh, "arccosh": acosh, "arctanh": atanh, "fmod": fmod, "logit": logit, "sinc": sinc,
           "copysign": copysign, "float_power": float_power, "heaviside": heaviside, "signbit": signbit,
           "logcumsumexp": logcumsumexp, "fmax": fmax, "fmin": fmin, "erfinv": erfinv}
IN_PLACE = ["log1p", "expm1", "log10", "tan", "sinh", "cosh", "hypot", "xlogy", "deg2rad", "rad2deg", "atan", "asin",
            "acos", "atan2", "asinh", "acosh", "atanh", "arctan", "arcsin", "arccos", "arctan2", "arcsinh", "arccosh",
            "arctanh", "fmod", "logit", "sinc", "copysign", "heaviside", "erfinv"]


for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
for _name in IN_PLACE:
    setattr(Tensor, _name + "_", in_place_method(_name))
