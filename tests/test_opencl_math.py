"""The inline float math of generated OpenCL C (kernels/opencl_math.py): as accurate
as PoCL's library functions, and compiled in place of the library's calls."""
import math
import re

import numpy as np
import pytest

import lazyfuse as lf

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72283, 88.7229, -87.33654, -87.4, -100.0, -103.97, -103.98,
            -149 * np.log(2), 1e-30, -1e-45, 1e30, -1e30]


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at exact (0 where both are equal or NaN)."""
    with np.errstate(over="ignore", invalid="ignore"):
        spacing = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
        error = np.abs(got.astype(np.float64) - exact) / spacing
    error[(got == exact) | (np.isnan(got) & np.isnan(exact))] = 0.0
    return error


@pytest.mark.parametrize("n", [1 << 20, (1 << 20) + 5])  # + 5: the last work-item's scalar lanes too
def test_exp_is_within_an_ulp_and_a_bit_of_float64_over_the_whole_range(n):
    x = np.linspace(-110.0, 95.0, n, dtype=np.float32)
    x[:len(SPECIALS)] = SPECIALS
    x[-3:] = [-0.5, 1e-7, 87.0]
    got = lf.exp(lf.tensor(x)).numpy()
    with np.errstate(over="ignore"):
        exact = np.exp(x.astype(np.float64))
    overflows = exact > np.finfo(np.float32).max
    assert np.isposinf(got[overflows]).all()
    # PoCL's exp measured at most 0.99 ulp over this range, numpy's float32 exp 2.47;
    # denormal results are rounded once, to within half their spacing plus the rest
    assert _ulps(got[~overflows], exact[~overflows]).max() <= 1.1
    np.testing.assert_array_equal(got[:5], [np.nan, np.inf, 0.0, 1.0, 1.0])
    assert np.isfinite(got[5]) and np.isinf(got[6])  # the largest finite result stays finite
    assert got[12] > 0 and got[11] == 0.0  # 2^-149 is the smallest denormal; below half of it, 0


def test_sigmoid_uses_the_same_exp_and_saturates_without_nan():
    x = np.concatenate([np.linspace(-120, 120, 4001), [np.inf, -np.inf, np.nan]]).astype(np.float32)
    got = lf.sigmoid(lf.tensor(x)).numpy()
    exact = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(got, exact, rtol=3e-7, atol=1e-38)  # (denormals below -87)
    assert got[-3] == 1.0 and got[-2] == 0.0 and np.isnan(got[-1])


def test_tanh_is_within_two_ulps_of_float64_on_both_sides_of_its_two_forms():
    x = np.concatenate([np.linspace(-12, 12, 200001), np.linspace(-0.7, 0.7, 100001), [0.625, -0.625, 0.6249999],
                        [1e-30, -1e-45, 50.0, -1e30, np.inf, -np.inf, np.nan, -0.0]]).astype(np.float32)
    got = lf.tanh(lf.tensor(x)).numpy()
    exact = np.tanh(x.astype(np.float64))
    assert _ulps(got, exact).max() <= 2.0  # (PoCL's tanh: 1.4, measured)
    np.testing.assert_array_equal(got[-8:], np.array([1e-30, -1e-45, 1.0, -1.0, 1.0, -1.0, np.nan, -0.0], np.float32))
    assert np.signbit(got[-1])


def test_erf_is_within_an_ulp_and_a_bit_of_float64_on_both_sides_of_its_three_forms():
    x = np.concatenate([np.linspace(-10, 10, 100001), np.linspace(-2.2, 2.2, 100001), np.geomspace(1e-30, 1, 201),
                        [1.0, 0.99999994, 1.0000001, 2.0, 1.9999999, -2.0000002]]).astype(np.float32)
    got = lf.erf(lf.tensor(x)).numpy()
    exact = np.array([math.erf(v) for v in x.astype(np.float64)])
    assert _ulps(got, exact).max() <= 1.5  # (PoCL's erf: 0.82, PyTorch's 0.66, measured)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -20.0], np.float32)
    got = lf.erf(lf.tensor(specials)).numpy()
    np.testing.assert_array_equal(got, np.array([0.0, -0.0, 1.0, -1.0, np.nan, 1e-45, -1.0], np.float32))
    assert np.signbit(got[1])


def test_log_is_within_an_ulp_of_float64_from_the_smallest_denormal_to_the_largest_float():
    x = np.concatenate([np.geomspace(1e-45, 3.4e38, 200003), np.linspace(0.5, 2, 100001)]).astype(np.float32)
    got = lf.log(lf.tensor(x)).numpy()
    assert _ulps(got, np.log(x.astype(np.float64))).max() <= 1.0  # (numpy's float32 log: 3.8, measured)
    specials = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0], np.float32)
    np.testing.assert_array_equal(lf.log(lf.tensor(specials)).numpy(),
                                  np.array([-np.inf, -np.inf, np.nan, np.inf, np.nan, np.nan, 0.0], np.float32))


@pytest.mark.parametrize("fn", ["sin", "cos"])
def test_sin_and_cos_are_within_a_few_ulps_of_float64_in_each_of_their_three_ranges(fn):
    """Reduced by pi/4 inline up to 64, PoCL's native form up to 1e5, its full form beyond."""
    near = np.concatenate([np.linspace(-64, 64, 400001), np.geomspace(1e-30, 1, 301), [0.0, -0.0]]).astype(np.float32)
    far = np.concatenate([np.linspace(64, 1e5, 200001), [3e8, -1e9, 1e20, 5e5]]).astype(np.float32)
    for x, bound in ((near, 1.5), (far, 2.5)):
        x = np.concatenate([x, -x[::3]])
        got = getattr(lf, fn)(lf.tensor(x)).numpy()
        assert _ulps(got, getattr(np, fn)(x.astype(np.float64))).max() <= bound  # (torch: 0.6, measured)
    got = getattr(lf, fn)(lf.tensor(np.array([np.inf, -np.inf, np.nan, -0.0, 1e-30], np.float32))).numpy()
    assert np.isnan(got[:3]).all() and (np.signbit(got[3]) if fn == "sin" else got[3] == 1.0)
    assert got[4] == (np.float32(1e-30) if fn == "sin" else 1.0)


def test_abs_clears_only_the_sign():
    x = np.array([-0.0, 0.0, -np.inf, np.inf, -1e-45, 1e-45, -3.5, 2.25, -np.float32(3.4e38)] * 3, np.float32)
    got = lf.tensor(x).abs().numpy()
    np.testing.assert_array_equal(got, np.abs(x))
    assert not np.signbit(got).any()
    assert np.isnan(lf.tensor(np.array([np.nan, -np.nan] * 8, np.float32)).abs().numpy()).all()


@pytest.mark.parametrize("fn", ["exp", "log", "sigmoid", "abs", "tanh", "erf", "sqrt", "sin", "cos"])
def test_float_math_calls_no_library_function_but_the_native_trig_forms(fn):
    """PoCL calls its library out of line, spilling every live vector around the call:
    exp, log, sigmoid, abs, tanh, erf and sqrt are computed inline, and sin and cos
    too up to 64, beyond which they call the native form (and the full one past 1e5)."""
    x = np.linspace(-5, 5, 4096, dtype=np.float32)
    if fn in ("log", "sqrt"):
        x = np.abs(x) + 0.1
    with lf.profile() as prof:
        got = getattr(lf, fn)(lf.tensor(x) * 2.0).numpy()
    reference = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "erf": np.vectorize(math.erf)}.get(fn) or getattr(np, fn)
    np.testing.assert_allclose(got, reference(2.0 * x.astype(np.float64)), rtol=2e-6, atol=1e-6)
    (kernel,) = prof.kernels
    calls = set(re.findall(r"\b(\w+)\(", kernel.source))
    assert not calls & {"exp", "log", "fabs", "tanh", "erf", "sqrt", "exp2", "pow"}, kernel.source
    if fn in ("sin", "cos"):
        assert {fn, f"native_{fn}"} <= calls


def test_sqrt_is_correctly_rounded():
    x = np.concatenate([np.geomspace(1e-45, 3e38, 100003), [0.0, -0.0, np.inf, -1.0, -np.inf, np.nan]]).astype(np.float32)
    got = lf.sqrt(lf.tensor(x)).numpy()
    with np.errstate(invalid="ignore"):
        exact = np.sqrt(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(got, exact)
    assert np.signbit(got[-5])  # sqrt(-0) is -0


@pytest.mark.parametrize("exponent", [3, 0.5, -0.5, -1, -2])
def test_the_powers_pytorch_special_cases_are_computed_as_it_computes_them(exponent):
    """x ** 3 as x * x * x, x ** 0.5 as sqrt(x), x ** -0.5 as 1 / sqrt(x), x ** -1 as
    1 / x and x ** -2 as 1 / (x * x): PyTorch's results (and no pow(), which PoCL
    computes in ~450 cycles a float8)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(0.01, 30, 4093), [-0.0, 0.0, np.inf, -np.inf, np.nan, 1e20, 1e-30, -3.0]])
    x = x.astype(np.float32)
    with lf.profile() as prof:
        got = (lf.tensor(x) ** exponent).numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        expected = {3: lambda v: v * v * v, 0.5: np.sqrt, -0.5: lambda v: np.float32(1) / np.sqrt(v),
                    -1: lambda v: np.float32(1) / v, -2: lambda v: np.float32(1) / (v * v)}[exponent](x)
    np.testing.assert_array_equal(got, expected)
    assert all("pow(" not in k.source for k in prof.kernels)


def test_powers_keep_their_exponents_in_the_source_when_the_exponent_changes():
    """Other constants that change between runs of one graph become device scalars
    (runtime/changing_constants.py); an exponent stays in the source, special-cased."""
    x = np.linspace(0.5, 4, 1000, dtype=np.float32)
    t = lf.tensor(x)
    with lf.profile() as prof:
        got = [(t ** e).numpy() for e in (3, 0.5, -1, 3, 2.5)]
    np.testing.assert_array_equal(got[0], x * x * x)
    np.testing.assert_array_equal(got[1], np.sqrt(x))
    np.testing.assert_array_equal(got[2], np.float32(1) / x)
    np.testing.assert_allclose(got[4], x.astype(np.float64) ** 2.5, rtol=1e-6)
    assert ["pow(" in k.source for k in prof.kernels] == [False, False, False, False, True]


@pytest.mark.parametrize("n", [1 << 12, (1 << 12) + 3])
def test_a_kernel_defines_only_the_helpers_it_calls(n):
    """Over whole vectors a pointwise kernel has no scalar tail, nor its scalar helpers."""
    x = np.linspace(-3, 3, n, dtype=np.float32)
    with lf.profile() as prof:
        got = lf.tanh(lf.tensor(x) + 1).numpy()
    np.testing.assert_allclose(got, np.tanh(x.astype(np.float64) + 1), rtol=1e-6, atol=1e-7)
    (kernel,) = prof.kernels
    defined = set(re.findall(r"^float\d* (lazyfuse_\w+)\(", kernel.source, re.M))
    called = set(re.findall(r"\b(lazyfuse_\w+)\(", kernel.source.split("__kernel")[1]))
    assert called and {name.rstrip("0123456789") for name in defined} == {"lazyfuse_tanh", "lazyfuse_exp", "lazyfuse_fabs"}
    assert any(name.endswith("tanh") for name in defined) == (n % 8 != 0)  # the scalar form only with a tail
