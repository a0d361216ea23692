"""Float math for generated OpenCL C that compiles inline on PoCL.

PoCL calls its built-in math functions (exp, fabs, fma, rint, ...) out of line,
and every live vector is spilled around each call: measured here on float8,
`fabs` costs ~11 cycles where an AND costs under one, `erf` ~118. The 8-op
chain's kernel took 24.9 ms with the library's `exp`, `native_sin` and `fabs`
(in the sin guard) and 17.4 ms with the helpers below (the hand-written kernel,
calling the library, 22-25 ms). A helper is a function in the program's
preamble, one per vector width, which PoCL's compiler inlines: exp (and so
sigmoid), log, tanh, erf, sqrt, fabs, sin and cos. Only float is covered:
doubles keep the library.
"""
from __future__ import annotations

from string import Template

# 2^n * p(r) for x = n ln2 + r, |r| <= ln2 / 2 (Cody and Waite's reduction with ln2
# split in a part exact in products with n, and the rest), p the degree-7 polynomial
# of Cephes' expf; 2^n as two factors, so results down to the smallest denormal are
# rounded once. Adding 1.5 * 2^23 rounds x / ln2 to an integer in the low bits of t.
# Measured against float64 on 2^24 inputs over [-110, 95]: at most 1.02 ulp (PoCL's
# exp: 0.99, numpy's float32 exp: 2.47).
_EXP = Template("""\
$F lazyfuse_exp$W($F x) {
  const $F t = x * 1.44269504088896341f + 12582912.0f;
  const $F n = t - 12582912.0f;
  const $F r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  const $F p = $EXP_POLYNOMIAL * (r * r) + r + 1.0f;
  $I e = as_$I(t) - 0x4B400000;
  e = e > 252 ? ($I)252 : e;
  e = e < -252 ? ($I)-252 : e;
  const $I e_half = e >> 1;
  const $F y = p * as_$F((e_half + 127) << 23) * as_$F((e - e_half + 127) << 23);
  return x > 88.7228394f ? ($F)INFINITY : (x < -103.972084f ? ($F)0.0f : y);
}""")

# sin and cos of lanes beyond REDUCED_TRIG_BOUND: PoCL's native_sin/native_cos (2.4 ulp
# from float64, measured, and 4-5x faster than sin/cos) below NATIVE_TRIG_BOUND, where they
# turn wrong (off by 0.2-0.9 at 3e8-1e20), and sin/cos beyond; the slow form runs only
# when some lane needs it, found by OR-ing halves of the mask (with any() the 8-op chain
# took 20.2 ms, this way 18.7 ms)
NATIVE_TRIG_BOUND = "1e5f"
_FAR_TRIG = Template("""\
$F lazyfuse_far_$FN$W($F x) {
  const $I large = lazyfuse_fabs$W(x) > $NATIVE_BOUND;
  $ANY_LARGE
  return any_large ? (large ? $FN(x) : native_$FN(x)) : native_$FN(x);
}""")

# Cephes' sinf and cosf: |x| reduced by multiples of pi/4 (pi/4 in three parts), then the
# sine or the cosine polynomial, picked and signed by the octant: within 1.5 ulp of float64
# up to REDUCED_TRIG_BOUND (3.7 ulp at 256, measured), where lanes beyond go to
# lazyfuse_far_*. On float8, native_sin cost ~22 cycles and a call; the 8-op chain's
# kernel took 21.0 ms with it and 17.3 ms with this.
REDUCED_TRIG_BOUND = "64.0f"
_TRIG = Template("""\
$F lazyfuse_$FN$W($F x) {
  const $F a = lazyfuse_fabs$W(x);
  $I octant = convert_$I(a * 1.27323954473516f);
  octant = octant + (octant & 1);
  const $F y = convert_$F(octant);
  const $F r = ((a - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
  const $F z = r * r;
  const $F sine = $SIN_POLYNOMIAL * z * r + r;
  const $F cosine = $COS_POLYNOMIAL * z * z - 0.5f * z + 1.0f;
  $REDUCED
  const $I far = a > $REDUCED_BOUND;
  $ANY_FAR
  return any_far ? (far ? lazyfuse_far_$FN$W(x) : reduced) : reduced;
}""")
# sin: the cosine polynomial in octants 2 and 6, negated in 4 and 6 and for negative x;
# cos: the sine polynomial in octants 2 and 6, negated in 2 and 4
_REDUCED = {
    "sin": "const $F reduced = as_$F(as_$U((octant & 2) != 0 ? cosine : sine)"
           " ^ (as_$U((octant & 4) << 29) ^ (as_$U(x) & ($U)0x80000000u)));",
    "cos": "const $F reduced = as_$F(as_$U((octant & 2) != 0 ? sine : cosine) ^ as_$U(((octant + 2) & 4) << 29));",
}

# the sign bit cleared
_ABS = Template("""\
$F lazyfuse_fabs$W($F x) {
  return as_$F(as_$U(x) & ($U)0x7fffffffu);
}""")

# Cephes' tanhf on |x| (an odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above),
# x's sign bit put back (so tanh(-0) is -0)
_TANH = Template("""\
$F lazyfuse_tanh$W($F x) {
  const $F a = lazyfuse_fabs$W(x);
  const $F z = a * a;
  const $F small = $TANH_POLYNOMIAL * z * a + a;
  const $F large = 1.0f - 2.0f / (lazyfuse_exp$W(a + a) + 1.0f);
  return as_$F(as_$U(a < 0.625f ? small : large) | (as_$U(x) & ($U)0x80000000u));
}""")

# Cephes' erff below 1 (x times a polynomial in x^2, summed as x + x * (poly - 1) so that
# the polynomial's rounding counts a ninth), 1 - erfcf above: exp(-x^2) / |x|
# times a polynomial in 1 / x^2, one for |x| < 2 and one beyond; x's sign bit put back
_ERF = Template("""\
$F lazyfuse_erf$W($F x) {
  const $F a = lazyfuse_fabs$W(x);
  const $F z = a * a;
  const $F small = $ERF_POLYNOMIAL * a + a;
  const $F q = 1.0f / a;
  const $F y = q * q;
  const $F large = 1.0f - lazyfuse_exp$W(-z) * q * (a < 2.0f ? $ERFC_NEAR_POLYNOMIAL : $ERFC_FAR_POLYNOMIAL);
  return as_$F(as_$U(a < 1.0f ? small : large) | (as_$U(x) & ($U)0x80000000u));
}""")

# Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by a polynomial in m - 1,
# e ln2 added in two parts; denormals scaled into the normal range first
_LOG = Template("""\
$F lazyfuse_log$W($F x) {
  const $I tiny = x < 1.17549435e-38f;
  const $I bits = as_$I(tiny ? x * 8388608.0f : x);
  $I e = ((bits >> 23) & 0xff) - (tiny ? ($I)149 : ($I)126);
  $F m = as_$F((bits & 0x007fffff) | 0x3f000000);
  const $I low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  m = (low ? m + m : m) - 1.0f;
  const $F z = m * m;
  const $F n = convert_$F(e);
  const $F y = $LOG_POLYNOMIAL * m * z + n * -2.12194440e-4f - 0.5f * z;
  const $F r = (m + y) + n * 0.693359375f;
  return x > 0.0f && x < INFINITY ? r : (x == 0.0f ? ($F)(-INFINITY) : (x == INFINITY ? x : ($F)NAN));
}""")

# lane by lane through the compiler's scalar sqrt, which LLVM turns back into one vector
# square root (PoCL's sqrt call: ~11 cycles a float8, this: ~2.5); correctly rounded
_SQRT = Template("""\
$F lazyfuse_sqrt$W($F x) {
  return $LANES;
}""")

def _horner(x: str, coefficients: str) -> str:
    """The polynomial with these coefficients (highest power first) at x, by Horner's
    rule, as one C expression."""
    first, *rest = coefficients.split()
    expression = f"{first}f"
    for c in rest:
        expression = f"({expression} * {x} + {c}f)"
    return expression


# Cephes' coefficients (the erf one less 1: see _ERF)
_POLYNOMIALS = {
    "EXP_POLYNOMIAL": _horner("r", "1.9875691500e-4 1.3981999507e-3 8.3334519073e-3 4.1665795894e-2 1.6666665459e-1 "
                                   "5.0000001201e-1"),
    "SIN_POLYNOMIAL": _horner("z", "-1.9515295891e-4 8.3321608736e-3 -1.6666654611e-1"),
    "COS_POLYNOMIAL": _horner("z", "2.443315711809948e-5 -1.388731625493765e-3 4.166664568298827e-2"),
    "TANH_POLYNOMIAL": _horner("z", "-5.70498872745e-3 2.06390887954e-2 -5.37397155531e-2 1.33314422036e-1 "
                                    "-3.33332819422e-1"),
    "ERF_POLYNOMIAL": _horner("z", "7.853861353153693e-5 -8.010193625184903e-4 5.188327685732524e-3 "
                                   "-2.685381193529856e-2 1.128358514861418e-1 -3.761262582423300e-1 1.28379165726710e-1"),
    "ERFC_NEAR_POLYNOMIAL": _horner("y", "2.326819970068386e-2 -1.387039388740657e-1 3.687424674597105e-1 "
                                         "-5.824733027278666e-1 6.210004621745983e-1 -4.944515323274145e-1 "
                                         "3.404879937665872e-1 -2.741127028184656e-1 5.638259427386472e-1"),
    "ERFC_FAR_POLYNOMIAL": _horner("y", "-1.047766399936249e+1 1.297719955372516e+1 -7.495518717768503e+0 "
                                        "2.921019019210786e+0 -1.015265279202700e+0 4.218463358204948e-1 "
                                        "-2.820767439740514e-1 5.641895067754075e-1"),
    "LOG_POLYNOMIAL": _horner("m", "7.0376836292e-2 -1.1514610310e-1 1.1676998740e-1 -1.2420140846e-1 "
                                   "1.4249322787e-1 -1.6668057665e-1 2.0000714765e-1 -2.4999993993e-1 3.3333331174e-1"),
}

# each helper: its template and the helpers it calls
_HELPERS = {"fabs": (_ABS, ()), "exp": (_EXP, ()), "log": (_LOG, ()), "sqrt": (_SQRT, ()),
            "tanh": (_TANH, ("fabs", "exp")), "erf": (_ERF, ("fabs", "exp")),
            "far_sin": (_FAR_TRIG, ("fabs",)), "far_cos": (_FAR_TRIG, ("fabs",)),
            "sin": (_TRIG, ("fabs", "far_sin")), "cos": (_TRIG, ("fabs", "far_cos"))}


def _any(lanes: int, mask: str) -> str:
    """`any_<mask>`: whether some lane of `mask` is set, OR-ing halves of it."""
    lines, half = [], mask
    while lanes > 2:
        lanes //= 2
        lines.append(f"const int{lanes} {mask}{lanes} = {half}.lo | {half}.hi;")
        half = f"{mask}{lanes}"
    lines.append(f"const int any_{mask} = {half}.lo | {half}.hi;" if lanes == 2 else f"const int any_{mask} = {half};")
    return "\n  ".join(lines)


def _lane_by_lane(fn: str, lanes: int) -> str:
    """fn of each lane of x, as a vector."""
    if lanes == 1:
        return f"{fn}(x)"
    return f"(float{lanes})(" + ", ".join(f"{fn}(x.s{i:x})" for i in range(lanes)) + ")"


def float_helper(name: str, lanes: int) -> dict[str, str]:
    """The preamble definitions (by function name) that `lazyfuse_<name><lanes>`
    needs, itself last; name is one of INLINE."""
    template, calls = _HELPERS[name]
    definitions: dict[str, str] = {}
    for call in calls:
        definitions.update(float_helper(call, lanes))
    suffix = "" if lanes == 1 else str(lanes)
    types = {"F": f"float{suffix}", "I": f"int{suffix}", "U": f"uint{suffix}", "W": suffix}
    fn = name.removeprefix("far_")
    definitions[f"lazyfuse_{name}{suffix}"] = template.substitute(
        types, **_POLYNOMIALS, FN=fn, NATIVE_BOUND=NATIVE_TRIG_BOUND, REDUCED_BOUND=REDUCED_TRIG_BOUND, ANY_LARGE=_any(lanes, "large"),
        ANY_FAR=_any(lanes, "far"), LANES=_lane_by_lane("__builtin_sqrtf", lanes),
        REDUCED=Template(_REDUCED.get(fn, "")).substitute(types))
    return definitions


# the OpenCL functions these helpers replace
INLINE = frozenset(name for name in _HELPERS if not name.startswith("far_"))
