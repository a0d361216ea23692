"""Tensor methods composed from other ops (lazyfuse/composites.py): values against
numpy, gradients against float64 finite differences, and both against PyTorch
when it is installed. Rounding is checked at halves, signed zeros, infinities,
NaN and integers too large for a float's fraction."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

SPECIAL = np.array([0.0, -0.0, 0.4, -0.4, 0.5, -0.5, 1.5, 2.5, -2.5, -3.5, 0.49999997, 1e20, -7.7, np.inf, -np.inf,
                    np.nan, 3.0, 8388609.0])
_rng = np.random.default_rng(0)
M = _rng.standard_normal((4, 5))
V, W = _rng.standard_normal(5), _rng.standard_normal(3)
B3, C3 = _rng.standard_normal((2, 3, 4)), _rng.standard_normal((2, 4, 5))


_erf, _erfc = np.vectorize(math.erf), np.vectorize(math.erfc)


def _norm(a, p, axis=None, keepdims=False):
    a = np.abs(a)
    if p == math.inf:
        return a.max(axis=axis, keepdims=keepdims)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


def _nan_to_num(a, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)


# name: (the same code for lazyfuse and torch, numpy's answer, inputs, differentiable)
CASES = {
    "floor": (lambda m, x: x.floor(), np.floor, [SPECIAL], False),
    "ceil": (lambda m, x: m.ceil(x), np.ceil, [SPECIAL], False),
    "trunc": (lambda m, x: x.trunc(), np.trunc, [SPECIAL], False),
    "frac": (lambda m, x: x.frac(), lambda x: x - np.trunc(x), [SPECIAL], False),
    "round": (lambda m, x: x.round(), np.round, [SPECIAL], False),
    "round_decimals": (lambda m, x: x.round(decimals=2), lambda x: np.round(x * 100) / 100, [SPECIAL * 1.2345], False),
    "sign": (lambda m, x: x.sign(), lambda x: np.nan_to_num(np.sign(x)), [SPECIAL], False),
    "isnan_isinf_isfinite": (lambda m, x: m.stack([x.isnan(), m.isinf(x), x.isfinite()]),
                             lambda x: np.stack([np.isnan(x), np.isinf(x), np.isfinite(x)]), [SPECIAL], False),
    "nan_to_num": (lambda m, x: x.nan_to_num(), _nan_to_num, [SPECIAL], False),
    "nan_to_num_given": (lambda m, x: m.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0),
                         lambda x: _nan_to_num(x, 1.0, 2.0, -3.0), [SPECIAL], False),
    "nansum_nanmean": (lambda m, x: x.nansum() + x.reshape(2, 9).nanmean(1),
                       lambda x: np.nansum(x) + np.nanmean(x.reshape(2, 9), 1), [np.where(np.isinf(SPECIAL), 1, SPECIAL)],
                       False),
    "clamp_min_max": (lambda m, x: x.clamp_min(0.3) + m.clamp_max(x, -0.2), lambda x: np.maximum(x, 0.3) + np.minimum(x, -0.2),
                      [M], True),
    "masked_fill": (lambda m, x: x.masked_fill(x > 0, -1.5), lambda x: np.where(x > 0, -1.5, x), [M], True),
    "tril_triu": (lambda m, x: x.tril() + x.triu(1) * 2 + m.tril(x, -2) * 3,
                  lambda x: np.tril(x) + np.triu(x, 1) * 2 + np.tril(x, -2) * 3, [M], True),
    "triu_batched": (lambda m, x: x.triu(-1), lambda x: np.triu(x, -1), [B3], True),
    "lerp": (lambda m, x, y: x.lerp(y, 0.3) + x.lerp(y, 0.8) + x.lerp(y, y.sigmoid()),
             lambda x, y: 0.9 * x + 1.1 * y + x + (y - x) / (1 + np.exp(-y)), [V, V[::-1].copy()], True),
    "addcmul_addcdiv": (lambda m, x, y: x.addcmul(y, x, value=0.5) + m.addcdiv(x, y, x * x + 1, value=2),
                        lambda x, y: x + 0.5 * y * x + x + 2 * y / (x * x + 1), [V, V[::-1].copy()], True),
    "diagonal": (lambda m, x: m.cat([x.diagonal(), x.diagonal(1), x.diagonal(-2), x.diagonal(9)]),
                 lambda x: np.concatenate([np.diagonal(x), np.diagonal(x, 1), np.diagonal(x, -2), np.diagonal(x, 9)]),
                 [M], True),
    "diagonal_of_3d": (lambda m, x: x.diagonal(0, 0, 2) + m.diagonal(x, 1, -1, 1).sum(),
                       lambda x: np.diagonal(x, 0, 0, 2) + np.diagonal(x, 1, -1, 1).sum(), [B3], True),
    "diag": (lambda m, x: m.diag(x) + x.diag(2)[:3, 2:] + x.diag(-1)[1:, :3],
             lambda x: np.diag(x) + np.diag(x, 2)[:3, 2:] + np.diag(x, -1)[1:, :3], [W], True),
    "diag_of_matrix_and_trace": (lambda m, x: x.diag(-1).sum() * x.trace(),
                                 lambda x: np.diag(x, -1).sum() * np.trace(x), [M], True),
    "outer": (lambda m, x, y: m.outer(x, y).sum(0) + y.outer(x).sum(1),
              lambda x, y: np.outer(x, y).sum(0) + np.outer(y, x).sum(1), [V, W], True),
    "mv": (lambda m, x, y: x.mv(y), lambda x, y: x @ y, [M, V], True),
    "bmm": (lambda m, x, y: m.bmm(x, y), lambda x, y: x @ y, [B3, C3], True),
    "addmm": (lambda m, x, y, z: m.addmm(x, y, z, beta=0.5, alpha=2), lambda x, y, z: 0.5 * x + 2 * (y @ z),
              [M[:, :4].copy(), M, M.T[:, :4].copy()], True),
    "norms": (lambda m, x: x.norm() + x.norm(1, dim=1).sum() + x.norm(float("inf"), dim=0).sum() + x.norm(3),
              lambda x: np.sqrt((x * x).sum()) + _norm(x, 1, 1).sum() + _norm(x, math.inf, 0).sum() + _norm(x, 3),
              [M], True),
    "norm_of_zero_and_p0": (lambda m, x: (x * 0).norm() + (x > 0.5).double().norm(0) + x.norm(dim=1, keepdim=True),
                            lambda x: (x > 0.5).sum() + np.sqrt((x * x).sum(1, keepdims=True)), [M], True),
    "dist": (lambda m, x, y: m.dist(x, y) + x.dist(y, 1), lambda x, y: np.sqrt(((x - y) ** 2).sum()) + np.abs(x - y).sum(),
             [V, V[::-1].copy()], True),
    "movedim": (lambda m, x: x.movedim(0, -1) + 2 * m.movedim(x, (0, 1), (2, 0)),
                lambda x: np.moveaxis(x, 0, -1) + 2 * np.moveaxis(x, (0, 1), (2, 0)), [B3], True),
    "flip": (lambda m, x: x.flip(0, 2) + m.flip(x, (1,)) * 2 + x.flip(-1)[:, :, ::2].sum(-1, keepdim=True) * 3,
             lambda x: np.flip(x, (0, 2)) + np.flip(x, 1) * 2 + np.flip(x, -1)[:, :, ::2].sum(-1, keepdims=True) * 3,
             [B3], True),
    "fliplr_flipud": (lambda m, x: m.fliplr(x) - x.flipud() * 2, lambda x: np.fliplr(x) - np.flipud(x) * 2, [M], True),
    "select_unbind": (lambda m, x: x.select(1, -2) + m.unbind(x, 1)[0] * 2,
                      lambda x: x[:, -2] + x[:, 0] * 2, [B3], True),
    "repeat_tile": (lambda m, x: m.cat([x.repeat(1, 2), m.tile(x, (2,)), x.repeat(2, 1, 3).sum(0)[:, :10]]),
                    lambda x: np.concatenate([np.tile(x, (1, 2)), np.tile(x, 2), np.tile(x, (2, 1, 3)).sum(0)[:, :10]]),
                    [M], True),
    "cumsum_cumprod": (lambda m, x: x.cumsum(1) + m.cumprod(x, 0) + m.cumsum(x, -2),
                       lambda x: np.cumsum(x, 1) + np.cumprod(x, 0) + np.cumsum(x, 0), [M], True),
    "cumprod_through_zeros": (lambda m, x: (x * (x.abs() > 0.5)).cumprod(1),
                              lambda x: np.cumprod(x * (np.abs(x) > 0.5), 1), [M], True),
    "erf_erfc": (lambda m, x: m.stack([x.erf(), m.erfc(x), (x * 4).erfc(), (x * 4).erf()]),
                 lambda x: np.stack([_erf(x), 1 - _erf(x), _erfc(x * 4), _erf(x * 4)]),
                 [np.concatenate([np.linspace(-3, 3, 17), [0.99, 1.0, 1.01, -7.9, 8.1, 40.0, -np.inf, np.nan]])],
                 True),
    "sort": (lambda m, x: x.sort(1).values + m.sort(x, 0, descending=True)[0] * 2,
             lambda x: np.sort(x, 1) - np.sort(-x, 0) * 2, [M], True),
    "sort_3d_non_power_of_two": (lambda m, x: m.sort(x, 1, descending=True).values,
                                 lambda x: -np.sort(-x, 1), [B3], True),
    "argsort_and_indices": (lambda m, x: m.stack([x.argsort(1), m.argsort(x, 1, descending=True),
                                                  x.sort(-1).indices]),
                            lambda x: np.stack([np.argsort(x, 1), np.argsort(-x, 1), np.argsort(x, -1)]), [M], False),
    "sort_is_stable_with_nan_last": (lambda m, x: m.stack([x.argsort(0), x.argsort(0, descending=True)]),
                                     lambda x: np.stack([np.argsort(x, 0, kind="stable"),
                                                         np.argsort(np.where(np.isnan(x), -np.inf, -x), 0,
                                                                    kind="stable")]),
                                     [np.array([3.0, np.nan, 1.0, 3.0, -np.inf, np.nan, 1.0, 0.0, 3.0, np.inf, 2.0])],
                                     False),
    "topk": (lambda m, x: x.topk(2).values * 3 + x.topk(2, dim=0, largest=False)[0].sum(),
             lambda x: -np.sort(-x, 1)[:, :2] * 3 + np.sort(x, 0)[:2].sum(), [M], True),
    "topk_indices": (lambda m, x: m.topk(x, 3, 1).indices, lambda x: np.argsort(-x, 1)[:, :3], [M], False),
    "isclose": (lambda m, x, y: m.isclose(x, y, rtol=0.1, atol=0.01), lambda x, y: np.isclose(x, y, 0.1, 0.01),
                [V, V * 1.05 + np.array([0, 0, 1, 0, 0])], False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy(name):
    fn, expected, arrays, _ = CASES[name]
    out = fn(lf, *[lf.tensor(a) for a in arrays])
    with np.errstate(all="ignore"):
        want = expected(*arrays)
    got = out.numpy()
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    if name in ("floor", "ceil", "trunc", "round"):  # -0.0 where numpy (and PyTorch) give it
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[3]))
def test_gradients_match_finite_differences(name):
    fn, _, arrays, _ = CASES[name]
    assert gradcheck(lambda *ts: fn(lf, *ts), tuple(lf.tensor(a, requires_grad=True) for a in arrays))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name):
    fn, _, arrays, differentiable = CASES[name]
    check_against_pytorch(fn, arrays, differentiable)


def test_rounding_float32_where_adding_a_half_would_round():
    x = np.array([0.49999997, 8388609.0, -8388609.0, 16777215.0, 2.5, -0.5], np.float32)
    t = lf.tensor(x)
    np.testing.assert_array_equal(t.round().numpy(), np.round(x))
    np.testing.assert_array_equal(t.floor().numpy(), np.floor(x))
    np.testing.assert_array_equal(t.ceil().numpy(), np.ceil(x))


def test_integer_tensors_round_to_themselves_and_keep_their_dtype():
    i = lf.tensor([[3, -2, 0], [1, 5, -7]])
    for name in ("floor", "ceil", "trunc", "round"):
        out = getattr(i, name)()
        assert out.dtype is lf.int64
        np.testing.assert_array_equal(out.numpy(), i.numpy())
    np.testing.assert_array_equal(i.sign().numpy(), np.sign(i.numpy()))
    np.testing.assert_array_equal(i.tril().numpy(), np.tril(i.numpy()))
    assert i.cumsum(1).dtype is lf.int64 and i.int().cumprod(0).dtype is lf.int64
    np.testing.assert_array_equal(i.cumprod(0).numpy(), np.cumprod(i.numpy(), 0))
    np.testing.assert_array_equal(i.sort(1, descending=True).values.numpy(), -np.sort(-i.numpy(), 1))


def test_in_place_variants_write_the_result():
    x = lf.tensor(SPECIAL.copy())
    assert x.round_() is x
    np.testing.assert_array_equal(x.numpy(), np.round(SPECIAL))
    y = lf.tensor(M.copy())
    y.exp_().clamp_min_(1.0).tril_()
    np.testing.assert_allclose(y.numpy(), np.tril(np.maximum(np.exp(M), 1.0)), rtol=1e-12)
    z = lf.tensor(V.copy())
    z.addcmul_(z, z, value=2).lerp_(lf.zeros(5, dtype=lf.float64), 0.25)
    np.testing.assert_allclose(z.numpy(), 0.75 * (V + 2 * V * V), rtol=1e-12)


def test_diagonal_is_a_view_and_repeat_is_a_copy():
    z = lf.tensor(np.arange(12.0).reshape(3, 4))
    z.diagonal(1).fill_(-1)
    expected = np.arange(12.0).reshape(3, 4)
    np.fill_diagonal(expected[:, 1:], -1)
    np.testing.assert_array_equal(z.numpy(), expected)
    r = lf.tensor([1.0, 2.0])
    copy = r.repeat(2)
    copy[0] = 9.0
    np.testing.assert_array_equal(r.numpy(), [1.0, 2.0])


def test_new_tensors_take_dtype_and_device_from_the_tensor():
    r = lf.tensor([1.0, 2.0], dtype=lf.float64)
    assert r.new_zeros((2, 2)).dtype is lf.float64 and r.new_ones(3).shape == (3,)
    np.testing.assert_array_equal(r.new_full((2,), 7).numpy(), [7.0, 7.0])
    assert r.new_tensor([1, 2]).dtype is lf.float64 and r.new_empty((1, 4)).shape == (1, 4)
    assert r.type_as(lf.tensor([1])).dtype is lf.int64 and r.element_size() == 8


def test_random_fills_in_place():
    lf.manual_seed(0)
    u = lf.ones(20000).uniform_(2.0, 3.0).numpy()
    assert 2.0 <= u.min() and u.max() <= 3.0 and abs(u.mean() - 2.5) < 0.01
    n = lf.zeros(20000).normal_(1.0, 2.0).numpy()
    assert abs(n.mean() - 1.0) < 0.05 and abs(n.std() - 2.0) < 0.05


def test_bad_arguments_raise_pytorchs_errors():
    r = lf.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="masked_fill only supports boolean masks"):
        r.masked_fill(lf.tensor([1, 0]), 0.0)
    with pytest.raises(IndexError, match="out of range"):
        r.select(0, 2)
    with pytest.raises(RuntimeError, match="Expected 1-D argument vec2, but got 2-D"):
        r.outer(lf.ones(2, 2))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        lf.bmm(lf.ones(2, 2), lf.ones(2, 2))
    with pytest.raises(RuntimeError, match="trace: expected a matrix"):
        r.trace()
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        r.topk(3)
    assert r.allclose(r + 1e-9) and not r.allclose(r + 1e-3) and lf.equal(r, r * 1) and not lf.equal(r, r[:1])


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign", "sgn"])
def test_piecewise_constant_functions_give_zero_gradients_not_none(name):
    """PyTorch gives these a zero gradient; the input's .grad is a tensor of zeros."""
    x = lf.tensor([-1.5, 0.5, 2.7, np.inf], requires_grad=True)
    (getattr(x, name)() * 3 + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(4))
    y = lf.tensor([-1.5, 0.5], requires_grad=True)
    getattr(lf, name)(y).sum().backward()
    assert y.grad is not None
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros(2))


ELEMENTARY = {
    "log1p_near_zero": lambda m, x: m.log1p(x.abs() * 1e-3),
    "log1p": lambda m, x: (x.abs() * 10).log1p(),
    "expm1_near_zero": lambda m, x: m.expm1(x * 1e-4),
    "expm1": lambda m, x: (x * 20).expm1(),
    "log10": lambda m, x: x.abs().log10(),
    "tan_sinh_cosh": lambda m, x: x.tan() + (x * 3).sinh() + x.cosh(),
    "hypot": lambda m, x: x.hypot(x.flip(0)),
    "xlogy": lambda m, x: m.xlogy(x.clamp(min=0), x.abs() + 0.5),
    "logaddexp_far_apart": lambda m, x: m.logaddexp(x * 100, x.flip(1) * 100),
    "angles_and_aliases": lambda m, x: x.deg2rad() + x.rad2deg() + m.true_divide(x, 3.0) + x.negative() + x.absolute(),
}


@pytest.mark.parametrize("name", sorted(ELEMENTARY))
def test_elementary_functions_match_pytorch(name):
    check_against_pytorch(ELEMENTARY[name], [np.random.default_rng(1).standard_normal((4, 6))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_and_expm1_keep_their_precision_near_zero_and_at_the_ends(dtype):
    x = np.array([1e-20, -1e-20, 1e-10, -3e-8, 0.5, 100.0, -100.0, 0.0, -0.999999], dtype=dtype)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(lf.tensor(x).expm1().numpy(), np.expm1(x), rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(lf.tensor(x[x > -1]).log1p().numpy(), np.log1p(x[x > -1]), rtol=4 * np.finfo(dtype).eps)
    assert lf.tensor([-1.0]).log1p().item() == -math.inf and math.isnan(lf.tensor([-2.0]).log1p().item())
    assert lf.tensor([1.0, 0.0, 2.0]).logical_xor(lf.tensor([1.0, 1.0, 0.0])).tolist() == [False, True, True]


_INVERSE = {  # name: (numpy's function, its derivative, inputs where it is defined and special values)
    "atan": (np.arctan, lambda x: 1 / (1 + x * x), [np.linspace(-30, 30, 241), [0.66, 2.4142135, 2.4142136, 1e-300, 1e300]]),
    "asin": (np.arcsin, lambda x: 1 / np.sqrt((1 - x) * (1 + x)), [np.linspace(-0.999, 0.999, 181), [1 - 1e-12, -1 + 1e-12]]),
    "acos": (np.arccos, lambda x: -1 / np.sqrt((1 - x) * (1 + x)), [np.linspace(-0.999, 0.999, 181), [1 - 1e-12, 1e-9]]),
    "asinh": (np.arcsinh, lambda x: 1 / np.sqrt(x * x + 1), [np.linspace(-30, 30, 241), [1e-9, -1e-9, 1e9, -1e12]]),
    "acosh": (np.arccosh, lambda x: 1 / np.sqrt((x - 1) * (x + 1)), [np.linspace(1.001, 30, 241), [1 + 1e-12, 1e9, 1e12]]),
    "atanh": (np.arctanh, lambda x: 1 / ((1 - x) * (1 + x)), [np.linspace(-0.999, 0.999, 181), [1 - 1e-12, -1e-9]]),
}
_EDGES = [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("name", sorted(_INVERSE))
def test_inverse_functions_match_numpy_to_the_last_bits_with_exact_gradients(name):
    reference, slope, parts = _INVERSE[name]
    x0 = np.concatenate(parts)
    x = lf.tensor(x0, requires_grad=True)
    y = getattr(lf, name)(x)
    np.testing.assert_allclose(y.detach().numpy(), reference(x0), rtol=1e-15, atol=0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slope(x0), rtol=1e-14)
    edges = np.array(_EDGES)
    with np.errstate(all="ignore"):
        expected = reference(edges)
    got = getattr(lf.tensor(edges), "arc" + name[1:])().numpy()  # PyTorch's other name
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(expected[~np.isnan(expected)]))
    x32 = x0[np.isfinite(x0)].astype(np.float32)
    np.testing.assert_allclose(getattr(lf.tensor(x32), name)().numpy(), reference(x32), rtol=3e-7, atol=1e-37)


def test_atan2_follows_ieee_for_signs_zeros_and_infinities():
    values = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, np.inf, -np.inf, np.nan])
    y0, x0 = (a.ravel() for a in np.meshgrid(values, values))
    got = lf.atan2(lf.tensor(y0), lf.tensor(x0)).numpy()
    expected = np.arctan2(y0, x0)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(expected[~np.isnan(expected)]))
    y, x = (lf.tensor(np.array(a), requires_grad=True) for a in ([0.5, -2.0, 3.0], [1.5, -1.0, -4.0]))
    lf.arctan2(y, x).sum().backward()
    r2 = np.array([0.5, -2.0, 3.0]) ** 2 + np.array([1.5, -1.0, -4.0]) ** 2
    np.testing.assert_allclose(y.grad.numpy(), np.array([1.5, -1.0, -4.0]) / r2, rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), -np.array([0.5, -2.0, 3.0]) / r2, rtol=1e-14)
    t = lf.tensor([1.0, -1.0])  # float32
    t.atan2_(lf.tensor([-1.0, -1.0]))
    np.testing.assert_array_equal(t.numpy(), np.arctan2(np.float32([1.0, -1.0]), np.float32([-1.0, -1.0])))


def test_log1p_at_the_infinities():
    np.testing.assert_array_equal(lf.tensor([np.inf, -np.inf]).log1p().numpy(), [np.inf, np.nan])


def test_erf_is_one_node_and_gelu_a_few():
    """erf is the device's own: composed from Cephes' polynomials, one GELU recorded 114
    ops with their gradients (3.8 ms of Python a call) and its backward differentiated
    the polynomials. Values and gradients against math.erf and erf's derivative."""
    from lazyfuse.runtime.graph import toposort
    x = np.linspace(-4, 4, 41)
    t = lf.tensor(x, requires_grad=True)
    out = lf.nn.functional.gelu(t)
    assert len([n for n in toposort([out.node]) if n.op is not lf.runtime.graph.Op.CONST]) <= 6
    phi = 0.5 * (1 + _erf(x / math.sqrt(2)))
    np.testing.assert_allclose(out.detach().numpy(), x * phi, rtol=1e-14, atol=1e-15)
    out.sum().backward()
    density = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(t.grad.numpy(), phi + x * density, rtol=1e-14, atol=1e-15)
