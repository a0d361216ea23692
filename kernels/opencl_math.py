"""Float math for generated OpenCL C that compiles inline on PoCL.

PoCL calls its built-in math functions (exp, fabs, fma, rint, ...) out of line,
and every live vector is spilled around each call: measured here on float8,
`fabs` costs ~11 cycles where an AND costs under one. The 8-op chain's kernel
took 24.9 ms with the library's `exp` and `fabs` (in its sin guard) and 21.5 ms
with the helpers below; the hand-written kernel, calling the library, 24.7 ms.
A helper is a function in the program's preamble, one per vector width, which
PoCL's compiler inlines: exp (and so sigmoid), log, tanh, erf, sqrt, fabs, and
the guard that picks native_sin/native_cos. Only float is covered: doubles keep the library.
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
  $F p = 1.9875691500e-4f * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  $I e = as_$I(t) - 0x4B400000;
  e = e > 252 ? ($I)252 : e;
  e = e < -252 ? ($I)-252 : e;
  const $I e_half = e >> 1;
  const $F y = p * as_$F((e_half + 127) << 23) * as_$F((e - e_half + 127) << 23);
  return x > 88.7228394f ? ($F)INFINITY : (x < -103.972084f ? ($F)0.0f : y);
}""")

# below this magnitude PoCL's native_sin/native_cos match sin/cos (2e-7 relative,
# measured) and take a fifth of the time; they are wrong beyond 1e8, and PoCL's vector
# sin is wrong for tiny lanes (sin(1e-30) gave 0.0099): lanes past it take the slow
# form, which runs only when some lane is past it. Whether any is, by OR-ing halves of
# the mask: with any() the 8-op chain took 20.2 ms, this way 18.7 ms.
NATIVE_TRIG_BOUND = "1e5f"
_TRIG = Template("""\
$F lazyfuse_$FN$W($F x) {
  const $I large = lazyfuse_fabs$W(x) > $BOUND;
  $ANY
  return any_large ? (large ? $FN(x) : native_$FN(x)) : native_$FN(x);
}""")

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
  const $F small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                     + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * a + a;
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
  $F small = 7.853861353153693e-5f * z - 8.010193625184903e-4f;
  small = small * z + 5.188327685732524e-3f;
  small = small * z - 2.685381193529856e-2f;
  small = small * z + 1.128358514861418e-1f;
  small = small * z - 3.761262582423300e-1f;
  small = (small * z + 1.28379165726710e-1f) * a + a;
  const $F q = 1.0f / a;
  const $F y = q * q;
  $F near = 2.326819970068386e-2f * y - 1.387039388740657e-1f;
  near = near * y + 3.687424674597105e-1f;
  near = near * y - 5.824733027278666e-1f;
  near = near * y + 6.210004621745983e-1f;
  near = near * y - 4.944515323274145e-1f;
  near = near * y + 3.404879937665872e-1f;
  near = near * y - 2.741127028184656e-1f;
  near = near * y + 5.638259427386472e-1f;
  $F far = -1.047766399936249e+1f * y + 1.297719955372516e+1f;
  far = far * y - 7.495518717768503e+0f;
  far = far * y + 2.921019019210786e+0f;
  far = far * y - 1.015265279202700e+0f;
  far = far * y + 4.218463358204948e-1f;
  far = far * y - 2.820767439740514e-1f;
  far = far * y + 5.641895067754075e-1f;
  const $F large = 1.0f - lazyfuse_exp$W(-z) * q * (a < 2.0f ? near : far);
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
  $F y = 7.0376836292e-2f * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  const $F n = convert_$F(e);
  y = y * m * z + n * -2.12194440e-4f - 0.5f * z;
  const $F r = (m + y) + n * 0.693359375f;
  return x > 0.0f && x < INFINITY ? r : (x == 0.0f ? ($F)(-INFINITY) : (x == INFINITY ? x : ($F)NAN));
}""")

# lane by lane through the compiler's scalar sqrt, which LLVM turns back into one vector
# square root (PoCL's sqrt call: ~11 cycles a float8, this: ~2.5); correctly rounded
_SQRT = Template("""\
$F lazyfuse_sqrt$W($F x) {
  return $LANES;
}""")

# each helper: its template and the helpers it calls
_HELPERS = {"fabs": (_ABS, ()), "exp": (_EXP, ()), "tanh": (_TANH, ("fabs", "exp")), "erf": (_ERF, ("fabs", "exp")), "sqrt": (_SQRT, ()), "log": (_LOG, ()),
            "sin": (_TRIG, ("fabs",)), "cos": (_TRIG, ("fabs",))}


def _any(lanes: int) -> str:
    """`any_large`: whether some lane of `large` is set, OR-ing halves of the mask."""
    lines, mask = [], "large"
    while lanes > 2:
        lanes //= 2
        lines.append(f"const int{lanes} large{lanes} = {mask}.lo | {mask}.hi;")
        mask = f"large{lanes}"
    lines.append(f"const int any_large = {mask}.lo | {mask}.hi;" if lanes == 2 else f"const int any_large = {mask};")
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
    definitions[f"lazyfuse_{name}{suffix}"] = template.substitute(
        F=f"float{suffix}", I=f"int{suffix}", U=f"uint{suffix}", W=suffix, FN=name, BOUND=NATIVE_TRIG_BOUND,
        ANY=_any(lanes), LANES=_lane_by_lane("__builtin_sqrtf", lanes))
    return definitions


INLINE = frozenset(_HELPERS)
