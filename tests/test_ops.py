"""Forward parity: every op in API.md against the reference executor and numpy,
over 0-d, empty, size-1, odd and large shapes, broadcasting, non-contiguous
inputs, negative and tuple dims, keepdim, float and integer dtypes."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check, division_operands

SHAPES = [(), (0,), (1,), (7,), (1000,), (4097,), (3, 5), (2, 3, 4)]
FLOATS = [np.float32, np.float64]


def make(rng, shape, dtype, low=-3.0, high=3.0):
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, size=shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(int(low) * 3, int(high) * 3 + 1, size=shape).astype(dtype)


UNARY = {
    "exp": (np.exp, -3, 3), "exp2": (np.exp2, -3, 3), "log": (np.log, 0.1, 5), "log2": (np.log2, 0.1, 5),
    "sqrt": (np.sqrt, 0, 5), "rsqrt": (lambda x: 1 / np.sqrt(x), 0.1, 5), "sin": (np.sin, -3, 3),
    "cos": (np.cos, -3, 3), "tanh": (np.tanh, -3, 3), "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), -5, 5),
    "relu": (lambda x: np.maximum(x, 0), -3, 3), "abs": (np.abs, -3, 3), "neg": (np.negative, -3, 3),
    "reciprocal": (np.reciprocal, 0.5, 3), "square": (np.square, -3, 3),
    "erf": (np.vectorize(math.erf, otypes=[float]), -3, 3),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(rng, name, dtype, shape):
    fn, lo, hi = UNARY[name]
    x = make(rng, shape, dtype, lo, hi)
    check(getattr(lf.tensor(x), name)(), fn(x))


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_of_large_arguments_in_some_vector_lanes(rng, name):
    # float32 sin/cos take a fast path unless a lane is large; lanes of either size,
    # alone or mixed in one vector, must all agree with the float64 result
    x = make(rng, (4099,), np.float32)
    x[8:16] = [3e8, -1e9, 1e20, 5e5, 1.0, 1e-30, -2.0, 1e-45]
    x[24:32] = rng.uniform(1e6, 1e9, size=8)
    got = getattr(lf.tensor(x), name)().numpy()
    np.testing.assert_allclose(got, getattr(np, name)(x.astype(np.float64)), rtol=0, atol=2e-6)


@pytest.mark.parametrize("name", ["exp", "sqrt", "sin", "sigmoid"])
def test_unary_on_integers_promotes_to_float(rng, name):
    x = rng.integers(0, 5, size=(7,)).astype(np.int64)
    out = check(getattr(lf.tensor(x), name)(), UNARY[name][0](x.astype(np.float32)))
    assert out.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_abs_neg_keep_integer_dtype(rng, dtype):
    x = make(rng, (4097,), dtype)
    assert check(lf.tensor(x).abs(), np.abs(x)).dtype == dtype
    assert check(-lf.tensor(x), -x).dtype == dtype


BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum,
}


def apply_binary(name, a, b):
    if name in ("maximum", "minimum"):
        return getattr(a, name)(b) if isinstance(a, lf.Tensor) else getattr(np, name)(a, b)
    return getattr(a, f"__{name}__")(b) if isinstance(a, lf.Tensor) else BINARY[name](a, b)


BROADCASTS = [((7,), (7,)), ((3, 1), (1, 4)), ((5,), (2, 5)), ((), (3,)), ((4097,), (4097,)), ((0, 3), (1, 3)),
              ((2, 1, 4), (3, 1))]


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast_float(rng, name, shapes):
    a = make(rng, shapes[0], np.float32, 0.5, 3)
    b = make(rng, shapes[1], np.float32, 0.5, 3)
    check(apply_binary(name, lf.tensor(a), lf.tensor(b)), BINARY[name](a, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtypes", [(np.int32, np.int32), (np.int32, np.int64), (np.int64, np.int64)], ids=str)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "floordiv", "mod", "maximum", "minimum"])
def test_binary_integers(rng, name, dtypes):
    a = make(rng, (1000,), dtypes[0])
    b = make(rng, (1000,), dtypes[1])
    b[b == 0] = 3
    out = check(apply_binary(name, lf.tensor(a), lf.tensor(b)), BINARY[name](a, b))
    assert out.dtype == np.result_type(a, b)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_floor_division_and_remainder_are_pythons(rng, dtype):
    """Exactly numpy's (and Python's): floor(a / b) would make 1.0 // 0.1 10.0."""
    a, b = division_operands(rng, 1000, dtype)
    with np.errstate(all="ignore"):
        expected = np.floor_divide(a, b), np.remainder(a, b)
    np.testing.assert_array_equal((lf.tensor(a) // lf.tensor(b)).numpy(), expected[0])
    np.testing.assert_array_equal((lf.tensor(a) % lf.tensor(b)).numpy(), expected[1])
    assert (lf.tensor(a[:1]) // 0.1).item() == (a[:1] // dtype(0.1))[0]  # 9.0, but 10.0 in float16


def test_integer_division_by_zero_gives_zero_not_a_crash():
    a = lf.tensor([7, -7, 0], dtype=lf.int64)
    b = lf.tensor([0, 0, 0], dtype=lf.int64)
    check(a // b, [0, 0, 0])
    check(a % b, [0, 0, 0])


def test_integer_pow(rng):
    a = rng.integers(-4, 5, size=(7,)).astype(np.int64)
    check(lf.tensor(a) ** 3, a ** 3)
    mask = lf.tensor([True, False])
    assert (mask ** 2).dtype is lf.int64  # as mask * 1 is


def test_negative_integer_powers_of_a_tensor_are_pytorchs():
    """0, 1 or -1 as PyTorch gives them (numpy refuses; 0 ** -1 would be inf in doubles)."""
    a = np.array([0, 1, -1, -1, 2, -2, 3, 5], np.int64)
    b = np.array([-1, -3, -3, -2, -1, -1, -2, 3], np.int64)
    check(lf.tensor(a) ** lf.tensor(b), [0, 1, -1, 1, 0, 0, 0, 125])


def test_true_division_of_integers_is_float(rng):
    a, b = np.arange(1, 8), np.arange(7, 0, -1)
    out = check(lf.tensor(a) / lf.tensor(b), a / b)
    assert out.dtype == np.float32


@pytest.mark.parametrize("scalar", [2, 2.5, True, -3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_scalar_operands_on_either_side_follow_pytorch_promotion(rng, scalar, dtype):
    x = make(rng, (7,), dtype, 1, 3)
    t = lf.tensor(x)
    float_scalar = isinstance(scalar, float)
    expected_dtype = np.float32 if (float_scalar and np.dtype(dtype).kind == "i") else dtype
    results = [(t + scalar, x + scalar), (scalar * t, scalar * x)]
    if isinstance(scalar, bool):  # PyTorch refuses `-` with a bool
        with pytest.raises(RuntimeError, match="with a bool tensor"):
            scalar - t
    else:
        results.append((scalar - t, scalar - x))
    for out, ref in results:
        got = check(out, ref.astype(expected_dtype))
        assert got.dtype == expected_dtype


def test_promotion_between_tensors():
    f32, f64 = lf.ones(3), lf.ones(3, dtype=lf.float64)
    i32, i64, b = lf.ones(3, dtype=lf.int32), lf.ones(3, dtype=lf.int64), lf.ones(3, dtype=lf.bool)
    assert (f32 + f64).dtype == lf.float64
    assert (i32 + i64).dtype == lf.int64
    assert (i64 + f32).dtype == lf.float32
    assert (b + i32).dtype == lf.int32
    assert (f32 + lf.tensor(1.0, dtype=lf.float64)).dtype == lf.float32  # 0-d tensors do not widen
    assert (i32 + lf.tensor(1.5, dtype=lf.float64)).dtype == lf.float64  # ... unless of a higher category


COMPARISONS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_give_bool(rng, name, dtype):
    a, b = make(rng, (1000,), dtype, -2, 2), make(rng, (1000,), dtype, -2, 2)
    a[:100] = b[:100]
    out = check(getattr(lf.tensor(a), name)(lf.tensor(b)), COMPARISONS[name](a, b))
    assert out.dtype == np.bool_
    check(getattr(lf.tensor(a), name)(1), COMPARISONS[name](a, 1))


def test_logical_not_and_where(rng):
    a, b = make(rng, (4097,), np.float32), make(rng, (4097,), np.float32)
    cond = a > b
    check((lf.tensor(a) > lf.tensor(b)).logical_not(), ~cond)
    check(lf.where(lf.tensor(a) > lf.tensor(b), lf.tensor(a), lf.tensor(b)), np.where(cond, a, b))
    check(lf.where(lf.tensor(a) > 0, lf.tensor(a), 0.0), np.where(a > 0, a, 0))
    check(lf.tensor(a).clamp(-1, 0.5), np.clip(a, -1, 0.5))


def test_nan_propagates_through_maximum_and_amax():
    x = lf.tensor([1.0, float("nan"), 3.0])
    check(x.maximum(lf.tensor([2.0, 2.0, 2.0])), [2.0, np.nan, 3.0])
    assert np.isnan(x.amax().item())


def test_nan_propagates_through_relu_and_clamp():
    a = np.array([-1.0, np.nan, 0.25, 3.0], np.float32)
    check(lf.tensor(a).relu(), np.maximum(a, 0))
    check(lf.tensor(a).clamp(0.0, 1.0), np.clip(a, 0.0, 1.0))
    check(lf.tensor(a).clamp(min=0.5), np.clip(a, 0.5, None))


def test_nan_on_either_side_propagates_in_vector_lanes(rng):
    a, b = rng.standard_normal((2, 6, 40), dtype=np.float32)
    a[0, 3], b[1, 17], a[2, :] = np.nan, np.nan, np.nan  # NaN first, second, and a whole row
    check(lf.tensor(a).maximum(lf.tensor(b)), np.maximum(a, b))
    check(lf.tensor(a).minimum(lf.tensor(b)), np.minimum(a, b))
    for t, x in ((lf.tensor(a), a), (lf.tensor(b), b)):
        check(t.amax(1), x.max(1))
        check(t.amin(1), x.min(1))
        check(t.amax(0), x.max(0))


# ---------------------------------------------------------------- reductions

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("name", ["sum", "amax", "amin"])
def test_row_reductions_fold_vector_lanes_in_every_dtype(rng, dtype, name):
    # a row's vector lanes are folded half by half; a NaN in any lane must survive
    x = (rng.standard_normal((257, 72)) * 50).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x[5, 3] = x[6, 71] = x[256, 0] = np.nan
    # float32 sums of 72 terms near 50 differ with the order of adding by up to ~1e-4
    tol = dict(rtol=1e-5, atol=1e-4) if dtype is np.float32 else {}
    check(getattr(lf.tensor(x), name)(1), getattr(np, {"amax": "max", "amin": "min"}.get(name, name))(x, 1), **tol)

RED_SHAPES = [((7,), None), ((7,), 0), ((3, 5), 1), ((3, 5), -2), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -3)),
              ((1000,), None), ((4097,), 0), ((64, 4097), 1), ((4097, 3), 0), ((1, 1), None), ((), None)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", RED_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var", "std"])
def test_reductions(rng, name, shape, dim, keepdim):
    x = make(rng, shape, np.float32)
    np_dim = dim if not isinstance(dim, tuple) else tuple(dim)
    np_fn = {"sum": np.sum, "mean": np.mean, "amax": np.max, "amin": np.min,
             "var": lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=1),
             "std": lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims, ddof=1)}[name]
    t = lf.tensor(x)
    out = getattr(t, name)(dim, keepdim=keepdim) if dim is not None else getattr(t, name)()
    expected = np_fn(x.astype(np.float64), axis=np_dim, keepdims=keepdim if dim is not None else False)
    check(out, expected, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_sums_are_int64(rng, dtype):
    x = make(rng, (3, 4097), dtype)
    out = check(lf.tensor(x).sum(1), x.sum(1, dtype=np.int64))
    assert out.dtype == np.int64
    assert check(lf.tensor(x).sum(), x.sum(dtype=np.int64)).dtype == np.int64


@pytest.mark.parametrize("shape,dim", [((1 << 16,), None), ((16384, 24), 0), ((24, 16384), 1)], ids=str)
def test_float16_reductions_long_enough_to_run_in_two_stages(rng, shape, dim):
    # the first stage stores its partial results as halves too. Compared with float64
    # sums only: the reference executor's float16 sums round every step, and drift further
    x = (rng.standard_normal(shape) * 0.01).astype(np.float16)
    t = lf.tensor(x)
    out = (t.sum() if dim is None else t.sum(dim)).numpy()
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.astype(np.float64), x.astype(np.float64).sum(dim), rtol=1e-2, atol=5e-3)


def test_float64_reductions_keep_precision(rng):
    x = rng.standard_normal((4097, 5))
    check(lf.tensor(x).sum(0), x.sum(0))
    check(lf.tensor(x).mean(), x.mean())


def test_empty_reductions():
    x = lf.zeros(0, 3)
    check(x.sum(0), np.zeros(3, dtype=np.float32))
    check(x.sum(), np.float32(0))
    check(lf.ones(2, 0).prod(1), np.ones(2, dtype=np.float32))


@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((4097,), 0)], ids=str)
def test_prod_argmax_argmin_max_min(rng, shape, dim):
    x = make(rng, shape, np.float32, 0.5, 1.5)
    t = lf.tensor(x)
    check(t.prod(dim), x.prod(axis=dim), rtol=1e-4)
    check(t.argmax(dim), x.argmax(axis=dim))
    check(t.argmin(dim), x.argmin(axis=dim))
    values, indices = t.max(dim)
    check(values, x.max(axis=dim))
    check(indices, x.argmax(axis=dim))
    values, indices = t.min(dim, keepdim=True)
    check(values, x.min(axis=dim, keepdims=True))
    check(indices, np.expand_dims(x.argmin(axis=dim), dim))
    check(t.max(), x.max())
    check(t.argmax(), x.argmax())


def test_argmax_takes_the_first_of_ties():
    check(lf.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]).argmax(1), [1, 0])


@pytest.mark.parametrize("shape,dim", [((7,), 0), ((3, 5), -1), ((3, 5), 0), ((2, 3, 40), 1), ((64, 1024), -1)], ids=str)
def test_softmax_log_softmax_logsumexp(rng, shape, dim):
    x = make(rng, shape, np.float32, -10, 10)
    t = lf.tensor(x)
    shifted = x - x.max(axis=dim, keepdims=True)
    e = np.exp(shifted.astype(np.float64))
    check(t.softmax(dim), e / e.sum(axis=dim, keepdims=True), rtol=1e-5, atol=1e-6)
    check(t.log_softmax(dim), shifted - np.log(e.sum(axis=dim, keepdims=True)), rtol=1e-5, atol=1e-5)
    check(t.logsumexp(dim), np.log(e.sum(axis=dim)) + x.max(axis=dim), rtol=1e-5, atol=1e-5)


def test_logsumexp_of_minus_infinity_rows():
    out = lf.tensor([[-np.inf, -np.inf], [0.0, 0.0]]).logsumexp(1)
    np.testing.assert_allclose(out.numpy(), [-np.inf, np.log(2)], rtol=1e-6)


# ---------------------------------------------------------------- movement and non-contiguous inputs
def test_movement_ops(rng):
    x = make(rng, (2, 3, 4), np.float32)
    t = lf.tensor(x)
    check(t.reshape(6, 4), x.reshape(6, 4))
    check(t.reshape(-1), x.reshape(-1))
    check(t.view(4, -1), x.reshape(4, -1))
    check(t.permute(2, 0, 1), x.transpose(2, 0, 1))
    check(t.transpose(0, 2), x.swapaxes(0, 2))
    check(t.flatten(1), x.reshape(2, 12))
    check(t.unsqueeze(1), x[:, None])
    check(t.unsqueeze(-1).squeeze(-1), x)
    check(t[:, :1].squeeze(), x[:, 0])
    check(t[0].T, x[0].T)
    check(t[1].t(), x[1].T)
    check(t[:, None, 1:, ::2], x[:, None, 1:, ::2])
    check(t[..., 1], x[..., 1])
    check(t[-1, ::2, 1:3], x[-1, ::2, 1:3])
    check(t[:, 2:2], x[:, 2:2])
    check(t[0, 0, 0], x[0, 0, 0])
    check(lf.tensor(x[0, 0]).expand(3, 4), np.broadcast_to(x[0, 0], (3, 4)))
    check(t[:, :1].expand(-1, 5, -1), np.broadcast_to(x[:, :1], (2, 5, 4)))


def test_views_compose_deeply(rng):
    x = make(rng, (6, 8), np.float32)
    t = lf.tensor(x)
    y = t.T[::2].reshape(2, 2, 6)[:, 1].permute(1, 0)[1:5:3]
    ref = x.T[::2].reshape(2, 2, 6)[:, 1].transpose(1, 0)[1:5:3]
    check(y, ref)
    check(y * 2 + t[0, :2], ref * 2 + x[0, :2])
    # a reshape no single strided view can express reads through two stacked views
    check(t.T.reshape(4, 12) + 1, x.T.reshape(4, 12) + 1)


def test_non_contiguous_inputs_to_elementwise_and_reductions(rng):
    a, b = make(rng, (1000, 1000), np.float32), make(rng, (1000, 1000), np.float32)
    ta, tb = lf.tensor(a), lf.tensor(b)
    check(ta.T * tb, a.T * b)
    check(ta[:999:3, 1::2] - tb[1::3, ::2], a[:999:3, 1::2] - b[1::3, ::2])
    check(ta.T.sum(1), a.T.sum(1), rtol=1e-4, atol=1e-3)
    check((ta.T * tb).amax(0), (a.T * b).max(0))


def test_cat_and_stack(rng):
    a, b = make(rng, (2, 3), np.float32), make(rng, (4, 3), np.float32)
    check(lf.cat([lf.tensor(a), lf.tensor(b)]), np.concatenate([a, b]))
    check(lf.cat([lf.tensor(a.T), lf.tensor(b.T)], dim=-1), np.concatenate([a.T, b.T], -1))
    check(lf.stack([lf.tensor(a), lf.tensor(a * 2)], dim=1), np.stack([a, a * 2], 1))
    m = np.array([True, False])
    check(lf.cat([lf.tensor(m), lf.tensor(~m)]), np.concatenate([m, ~m]))
    check(lf.cat([lf.tensor([1, 2]), lf.tensor([3.5])]), np.array([1, 2, 3.5], dtype=np.float32))


# ---------------------------------------------------------------- matmul
MATMUL = [((5,), (5,)), ((3, 4), (4, 5)), ((4,), (4, 6)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)),
          ((2, 1, 3, 4), (5, 4, 2)), ((7, 33), (33, 9)), ((1, 1), (1, 1)),
          # right operands 8 or 16 wide: lanes walk neighbouring outputs instead of the reduced axis
          ((5, 24), (24, 16)), ((2, 3, 8), (8, 16)), ((64, 64), (64, 64))]


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
def test_matmul(rng, shapes):
    a, b = make(rng, shapes[0], np.float32), make(rng, shapes[1], np.float32)
    check(lf.tensor(a) @ lf.tensor(b), np.matmul(a.astype(np.float64), b), rtol=1e-5, atol=1e-4)


def test_matmul_transposed_operands_read_in_place(rng):
    a, b = make(rng, (40, 30), np.float64), make(rng, (50, 40), np.float64)
    ta, tb = lf.tensor(a), lf.tensor(b)
    with lf.profile() as prof:
        out = (ta.T @ tb.T).realize()
    assert len(prof.kernels) == 1, prof
    check(out, a.T @ b.T)
    check(lf.matmul(tb, ta), b @ a)


def test_integer_matmul(rng):
    for n in (2, 8):
        a, b = make(rng, (3, 4), np.int64), make(rng, (4, n), np.int64)
        check(lf.tensor(a) @ lf.tensor(b), a @ b)


@pytest.mark.parametrize("name", ["sum", "amax", "amin", "mean", "prod"])
def test_reductions_over_a_leading_axis(rng, name):
    x = make(rng, (37, 64), np.float32, 0.9, 1.1)
    np_fn = {"sum": np.sum, "amax": np.max, "amin": np.min, "mean": np.mean, "prod": np.prod}[name]
    t = lf.tensor(x)
    check(getattr(t, name)(0), np_fn(x.astype(np.float64), axis=0), rtol=1e-5, atol=1e-5)
    check(getattr(t.T, name)(1, keepdim=True), np_fn(x.T.astype(np.float64), axis=1, keepdims=True),
          rtol=1e-5, atol=1e-5)
    check(getattr(t.reshape(37, 8, 8), name)((0, 1)), np_fn(x.reshape(37, 8, 8).astype(np.float64), axis=(0, 1)),
          rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- dtypes, casts, creation
def test_casts(rng):
    x = make(rng, (4097,), np.float32, -100, 100)
    t = lf.tensor(x)
    check(t.long(), x.astype(np.int64))
    check(t.int(), x.astype(np.int32))
    check(t.double(), x.astype(np.float64))
    check(t.bool(), x.astype(bool))
    check(t.to(lf.float16), x.astype(np.float16))
    check((t > 0).float(), (x > 0).astype(np.float32))
    check(t.half().float() * 2, x.astype(np.float16).astype(np.float32) * 2)


def test_creation_functions():
    check(lf.zeros(2, 3), np.zeros((2, 3), np.float32))
    check(lf.ones((4,), dtype=lf.int32), np.ones(4, np.int32))
    check(lf.full((2, 2), 7), np.full((2, 2), 7, np.int64))
    check(lf.full((2,), 1.5), np.full(2, 1.5, np.float32))
    check(lf.arange(5), np.arange(5))
    check(lf.arange(1, 2, 0.25), np.arange(1, 2, 0.25, dtype=np.float32))
    check(lf.arange(7, -20, -3), np.arange(7, -20, -3))
    check(lf.arange(0, 1, 0.1, dtype=lf.float64), np.arange(0, 1, 0.1))
    check(lf.arange(10, dtype=lf.float16), np.arange(10).astype(np.float16))
    check(lf.arange(3, 3), np.arange(3, 3))
    check(lf.arange(24).reshape(2, 3, 4).permute(2, 0, 1)[1:, :, ::2] * 2, (np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1)[1:, :, ::2] * 2))
    check(lf.linspace(0, 1, 5), np.linspace(0, 1, 5).astype(np.float32))
    assert lf.tensor([[1, 2], [3, 4]]).dtype == lf.int64
    assert lf.tensor([1.0, 2]).dtype == lf.float32
    assert lf.tensor(np.ones(2)).dtype == lf.float64
    assert lf.tensor([True]).dtype == lf.bool
    x = lf.randn(3, 4)
    check(lf.zeros_like(x), np.zeros((3, 4), np.float32))
    check(lf.full_like(x, 2.0), np.full((3, 4), 2, np.float32))
    ints = lf.tensor([[1, 2, 3]]).T  # a view: the result takes its shape, not its base's
    check(lf.full_like(ints, 2.7), np.full((3, 1), 2, np.int64))  # the fill converts to the dtype
    check(lf.ones_like(ints, dtype=lf.float64), np.ones((3, 1)))
    assert lf.ones_like(x, requires_grad=True).requires_grad and not lf.ones_like(x).requires_grad
    lf.manual_seed(0)
    first = lf.rand(5).numpy()
    lf.manual_seed(0)
    assert np.array_equal(first, lf.rand(5).numpy())
    assert (first >= 0).all() and (first < 1).all()


def test_reading_values():
    t = lf.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert t[1, 0].item() == 3.0
    assert float(t.sum()) == 10.5
    assert t.shape == (2, 2) and t.size(1) == 2 and t.ndim == 2 and t.dim() == 2 and t.numel() == 4
    assert repr(t) == "tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]])"
    assert repr(lf.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(lf.tensor(3)) == "tensor(3)"
    assert repr(lf.tensor([1, 2], dtype=lf.int32)) == "tensor([1, 2], dtype=lflazyfuse.int32)".replace("lflazyfuse", "lazyfuse")


# ---------------------------------------------------------------- in place and writes through views
def test_inplace_ops(rng):
    x = make(rng, (3, 4), np.float32)
    t = lf.tensor(x)
    t += 1
    t *= 2
    t -= lf.tensor(x)
    t /= 4
    check(t, ((x + 1) * 2 - x) / 4)
    t.add_(1, alpha=2).sub_(lf.ones(4)).mul_(3).div_(2)
    check(t, ((((x + 1) * 2 - x) / 4 + 2) - 1) * 3 / 2)
    t.zero_()
    check(t, np.zeros((3, 4), np.float32))
    t.fill_(2.5)
    check(t, np.full((3, 4), 2.5, np.float32))
    t.copy_(lf.tensor(x))
    check(t, x)


def test_inplace_on_views_writes_through(rng):
    x = make(rng, (4, 6), np.float32)
    base = lf.tensor(x)
    row = base[1]
    strided = base[:, ::2]
    transposed = base.T
    base[1:3] += 1
    expected = x.copy()
    expected[1:3] += 1
    check(base, expected)
    check(row, expected[1])  # an earlier view sees the write
    strided.mul_(10)
    expected[:, ::2] *= 10
    check(base, expected)
    transposed[0].fill_(-1)
    expected.T[0] = -1
    check(base, expected)
    base[2, 3] = 7.0
    expected[2, 3] = 7
    check(base, expected)
    check(transposed, expected.T)
    detached = base.detach()
    detached[0, 0] = 42.0
    expected[0, 0] = 42
    check(base, expected)


def test_realize_several_tensors_shares_one_schedule(rng):
    a, b = lf.tensor(make(rng, (1000,), np.float32)), lf.tensor(make(rng, (1000,), np.float32))
    s, d = a + b, a * b
    with lf.profile() as prof:
        lf.realize(s, d)
    assert len(prof.kernels) == 1, prof
    check(s, a.numpy() + b.numpy())


def test_contiguous_and_clone_of_views_do_not_write_back(rng):
    x = make(rng, (3, 4), np.float32)
    base = lf.tensor(x)
    copy = base.T.contiguous()
    copy += 1
    cloned = base[0].clone()
    cloned.zero_()
    check(base, x)
    check(copy, x.T + 1)


def test_outputs_larger_than_the_cache_are_stored_right(rng):
    """Pointwise outputs of 16 MiB and more are written with nontemporal stores
    (vector part) and plain ones (the tail): both must land."""
    from lazyfuse.kernels.opencl import STREAMING_STORE_BYTES
    n = STREAMING_STORE_BYTES // 4 + 3
    a, b = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    x, y = lf.tensor(a), lf.tensor(b)
    with lf.profile() as prof:
        out = (x[1:] * 2 + y[:-1]).realize()
    assert "__builtin_nontemporal_store" in prof.kernels[0].source
    np.testing.assert_array_equal(out.numpy(), a[1:] * np.float32(2) + b[:-1])


def test_out_argument_writes_casts_and_resizes_as_in_pytorch(rng):
    """`out=` of the module-level functions: the result lands in `out` (through a
    view too), is cast to a wider kind, and resizes a tensor of another shape
    with PyTorch's warning unless it was empty."""
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    out = lf.zeros(3, 2, dtype=lf.float64)
    assert lf.matmul(lf.tensor(a), lf.tensor(b), out=out) is out
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12)

    base = lf.zeros(4, 4)
    lf.add(lf.ones(4), 1, out=base[:, 1])
    np.testing.assert_array_equal(base.numpy(), np.pad(np.full((4, 1), 2.0), ((0, 0), (1, 2))).astype(np.float32))

    widened = lf.zeros(3, dtype=lf.float32)
    lf.sum(lf.tensor(np.arange(6).reshape(3, 2)), 1, out=widened)
    assert widened.dtype is lf.float32 and widened.tolist() == [1.0, 5.0, 9.0]

    empty = lf.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.exp(lf.zeros(2, 3), out=empty)
    assert empty.shape == (2, 3) and empty.tolist() == [[1.0] * 3] * 2
    other = lf.zeros(5)
    with pytest.warns(UserWarning, match=r"resized since it had shape \[5\].*required output shape \[2, 3\]"):
        lf.where(lf.ones(2, 3) > 0, lf.ones(2, 3), 0.0, out=other)
    assert other.tolist() == [[1.0] * 3] * 2
    stacked = lf.empty(2, 3)
    lf.stack([lf.ones(3), lf.zeros(3)], out=stacked)
    assert stacked.tolist() == [[1.0] * 3, [0.0] * 3]


def test_out_argument_refuses_what_pytorch_refuses():
    x = lf.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"mul\(\): functions with out=\.\.\. arguments don't support automatic"):
        lf.mul(x, 2.0, out=lf.empty(2, 3))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        lf.mul(lf.ones(2, 3), 2.0, out=lf.empty(2, 3, requires_grad=True))
    with lf.no_grad():
        assert lf.mul(x, 2.0, out=lf.empty(2, 3)).tolist() == [[2.0] * 3] * 2
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        lf.mul(lf.ones(2), 2.5, out=lf.zeros(2, dtype=lf.int64))
    with pytest.raises(RuntimeError, match=r"view of another tensor and cannot be resized to the result's shape \[5\]"):
        lf.add(lf.ones(5), 1, out=lf.zeros(4, 4)[:, 2])
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not list"):
        lf.exp(lf.ones(2), out=[0.0, 0.0])


def test_reducing_a_0d_tensor_and_joining_one_tensor_make_new_tensors():
    """In PyTorch both results are new tensors: writing to them leaves the input as it was."""
    y = lf.tensor(2.0) * 3
    for reduced in (y.sum(), y.amax(), y.max(), y.mean(), y.prod()):
        assert reduced is not y
        reduced.add_(1)
        assert (y.item(), reduced.item()) == (6.0, 7.0)
    w = lf.ones(3)
    joined = lf.cat([w])
    joined.add_(1)
    assert (w.tolist(), joined.tolist()) == ([1.0] * 3, [2.0] * 3)


def test_shapes_are_sizes_as_in_pytorch():
    """t.shape and t.size() are tuples that print as PyTorch's torch.Size."""
    x = lf.zeros(3, 4)
    assert repr(x.shape) == "lazyfuse.Size([3, 4])" and str(x.size()) == "lazyfuse.Size([3, 4])"
    assert isinstance(x.shape, lf.Size) and isinstance(x.shape, tuple) and x.shape == (3, 4)
    assert x.shape.numel() == 12 and lf.Size([2, 5]) == (2, 5) and x.size(-1) == 4
    assert lf.zeros(lf.Size([2, 1])).shape == (2, 1)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_where_with_numbers_and_tensors_of_the_conditions_shape(dtype):
    """The direct path for a bool condition and same-shaped float tensors or numbers
    keeps the tensor's dtype (a number does not promote it), as PyTorch's where."""
    x0 = np.random.default_rng(24).standard_normal((3, 5)).astype(dtype)
    x = lf.tensor(x0)
    positive = x > 0
    for got, expected in ((lf.where(positive, x, 0), np.where(x0 > 0, x0, 0)),
                          (lf.where(positive, 1.5, x * 2), np.where(x0 > 0, 1.5, x0 * 2)),
                          (lf.where(positive, -x, x), np.where(x0 > 0, -x0, x0))):
        assert got.dtype == lf.tensor(x0).dtype
        np.testing.assert_array_equal(got.numpy(), expected.astype(dtype))
    mixed = lf.where(positive, x, lf.tensor(x0.astype(np.float64)))  # other dtypes take the general path
    assert mixed.dtype == lf.float64


@pytest.mark.parametrize("shape, axes", [((256, 72), (1, 0)), ((72, 40), (1, 0)), ((37, 24), (1, 0)),
                                         ((3, 24, 16), (0, 2, 1)), ((2, 5, 40, 8), (3, 1, 0, 2)),
                                         ((16, 9), (1, 0))], ids=str)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_transposing_copies_with_an_elementwise_op(rng, shape, axes, dtype):
    """Pointwise kernels reading through a transpose walk tiles of rows (kernels/opencl.py,
    TRANSPOSE_TILE_ROWS) where the rows divide: both orders against numpy."""
    a, b = make(rng, shape, dtype), make(rng, tuple(shape[i] for i in axes), dtype)
    one_rounding = dict(rtol=4e-3, atol=1e-2) if dtype is np.float16 else {}  # the reference rounds after each op
    check(lf.tensor(a).permute(*axes) * 3 + lf.tensor(b), np.transpose(a, axes) * 3 + b, **one_rounding)


def test_a_transposing_copy_walks_tiles_of_rows(rng):
    from lazyfuse.kernels.opencl import TRANSPOSE_TILE_ROWS
    a = make(rng, (512, 128), np.float32)
    with lf.profile() as prof:
        out = lf.tensor(a).T.contiguous().realize()
    (kernel,) = prof.kernels
    assert f"(gid % {TRANSPOSE_TILE_ROWS[0]})" in kernel.source, kernel.source
    check(out, a.T)
