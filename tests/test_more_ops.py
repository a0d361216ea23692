"""The smaller tensor functions: elementwise (fmod, logit, sinc, copysign,
float_power, heaviside, signbit, erfinv, fmax, fmin), scans (logcumsumexp, cummax, cummin), shaping
(stacks, splits, rot90, unfold, diag_embed, diagflat), selection (searchsorted,
bucketize, index_fill, index_copy), statistics (aminmax, var_mean, kthvalue,
quantile), scaled products (baddbmm, addbmm, addmv, addr), index helpers and
multinomial: values against numpy, values and gradients against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check_against_pytorch

_rng = np.random.default_rng(3)
A, B = _rng.standard_normal((4, 5)), _rng.standard_normal((4, 5))
SIGNED_ZEROS = A.copy()
SIGNED_ZEROS[1, 2], SIGNED_ZEROS[2, 3] = 0.0, -0.0
SORTED = np.sort(_rng.standard_normal((4, 7)), 1)
BATCH1, BATCH2 = _rng.standard_normal((3, 4, 2)), _rng.standard_normal((3, 2, 5))
STEPS = np.round(A * 2)  # with ties, for the positions of cummax and cummin

NUMPY = {
    "fmod": (lambda m, a: m.fmod(a * 5, m.tensor(B)), lambda a: np.fmod(a * 5, B)),
    "logit": (lambda m, a: m.logit(a.sigmoid()), lambda a: a),
    "sinc": (lambda m, a: m.sinc(a) + m.sinc(a * 0), lambda a: np.sinc(a) + 1),
    "copysign": (lambda m, a: m.copysign(a, m.tensor(SIGNED_ZEROS)), lambda a: np.copysign(a, SIGNED_ZEROS)),
    "heaviside": (lambda m, a: m.heaviside(m.tensor(SIGNED_ZEROS), a), lambda a: np.heaviside(SIGNED_ZEROS, a)),
    "signbit": (lambda m, a: m.signbit(m.tensor(SIGNED_ZEROS)), lambda a: np.signbit(SIGNED_ZEROS)),
    "logcumsumexp": (lambda m, a: m.logcumsumexp(a * 300, 1), lambda a: np.logaddexp.accumulate(a * 300, 1)),
    "cummax": (lambda m, a: m.cummax(m.tensor(STEPS), 1)[0], lambda a: np.maximum.accumulate(STEPS, 1)),
    "dstack": (lambda m, a: m.dstack([a, a * 2]), lambda a: np.dstack([a, a * 2])),
    "column_stack": (lambda m, a: m.column_stack([a[0], a.T]), lambda a: np.column_stack([a[0], a.T])),
    "row_stack": (lambda m, a: m.row_stack([a, a[0]]), lambda a: np.vstack([a, a[0]])),
    "tensor_split": (lambda m, a: m.tensor_split(a, 3, 1)[0], lambda a: np.array_split(a, 3, 1)[0]),
    "rot90": (lambda m, a: m.rot90(a, 3), lambda a: np.rot90(a, 3)),
    "diagflat": (lambda m, a: m.diagflat(a[:2, :2], -1), lambda a: np.diagflat(a[:2, :2], -1)),
    "quantile": (lambda m, a: m.quantile(a, 0.3, 1), lambda a: np.quantile(a, 0.3, 1)),
    "searchsorted": (lambda m, a: m.searchsorted(m.tensor(SORTED[0]), a, right=True),
                     lambda a: np.searchsorted(SORTED[0], a, side="right")),
    "tril_indices": (lambda m, a: m.tril_indices(4, 3, -1), lambda a: np.stack(np.tril_indices(4, -1, 3))),
}


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_values_match_numpy(name):
    ours, theirs = NUMPY[name]
    np.testing.assert_allclose(ours(lf, lf.tensor(A)).numpy(), theirs(A), rtol=1e-12, atol=1e-12)


DIFFERENTIABLE = {
    "fmod": lambda m, a, b: m.fmod(a * 5, b) + (a * 5).fmod(-1.5),
    "logit": lambda m, a, b: m.logit(a.sigmoid()) + m.logit(b.sigmoid(), eps=0.3),
    "sinc": lambda m, a, b: m.sinc(a),
    "copysign": lambda m, a, b: m.copysign(a, b) + a.copysign(-1.0),
    "float_power": lambda m, a, b: m.float_power(a.abs() + 0.1, b),
    "logcumsumexp": lambda m, a, b: m.logcumsumexp(a * 3, 1),
    "splits": lambda m, a, b: m.cat([m.hsplit(a[:, :4], 2)[1], m.vsplit(b, [1])[1][:, :2], m.dstack([a, b])[0]], 0),
    "rot90": lambda m, a, b: m.rot90(a) + m.rot90(b, 3, (1, 0)),
    "unfold": lambda m, a, b: a.unfold(1, 2, 2).sum() * 3 + b.unfold(0, 3, 1) * 2,
    "diag_embed": lambda m, a, b: m.diag_embed(a, 1) + m.diag_embed(b, -1, 0, 2).sum(),
    "index_fill_copy": lambda m, a, b: a.index_fill(1, m.tensor([0, 3]), -2.0) + a.index_copy(0, m.tensor([2, 0]), b[:2]),
    "baddbmm_addbmm": lambda m, a, b: m.baddbmm(a, m.tensor(BATCH1), m.tensor(BATCH2), beta=0.5, alpha=2)
    + m.addbmm(b, m.tensor(BATCH1), m.tensor(BATCH2)),
    "addmv_addr": lambda m, a, b: m.addmv(a[0, :4], b[:, :4].T, a[:, 1], beta=0) + m.addr(a, a[:, 0], b[0], alpha=3)[0, :4],
    "cummin": lambda m, a, b: m.cummin(a, 0)[0],
    "aminmax_var_mean": lambda m, a, b: m.aminmax(a, dim=1)[0] + m.aminmax(a, dim=1).max + m.var_mean(b, 1)[0]
    + m.std_mean(b, 0, keepdim=True)[1].sum(),
    "kthvalue": lambda m, a, b: m.kthvalue(a, 2, 1)[0],
    "quantile": lambda m, a, b: m.quantile(a, 0.3, 1).sum() + m.quantile(b, m.tensor([0.25, 0.5], dtype=m.float64), 0),
    "quantile_modes": lambda m, a, b: m.stack([m.quantile(a, 0.6, 1, interpolation=i)
                                               for i in ("lower", "higher", "midpoint", "nearest", "linear")]),
    "erfinv": lambda m, a, b: m.erfinv(a.tanh() * 0.999) + (b.sigmoid() * 0.6).erfinv(),
    "fmax_fmin": lambda m, a, b: m.fmax(a, b.where(b > 0, m.nan)) + m.fmin(a.where(a > 0, m.nan), b)
    + m.fmax(a, a.round()) + m.fmin(a.round(), a),  # NaN losing, and ties to the first
    "take": lambda m, a, b: m.take(a, m.tensor([[0, -1], [7, 7]])) + b.take(m.tensor([3])),
    "block_diag_cartesian_prod": lambda m, a, b: m.block_diag(a[:2, :3], b[0, :2], b[1, 1]).sum(0)[:4]
    + m.cartesian_prod(a[0, :2], b[0, :2]).sum(1),
}


@pytest.mark.parametrize("name", sorted(DIFFERENTIABLE))
def test_values_and_gradients_match_pytorch(name):
    check_against_pytorch(DIFFERENTIABLE[name], [A, B])


VALUES_ONLY = {
    "cummax_cummin_positions": lambda m, a: m.cummax(m.tensor(STEPS), 1)[1] + m.cummin(m.tensor(STEPS), 0)[1],
    "kthvalue_positions": lambda m, a: m.kthvalue(a, 2, 1, keepdim=True)[1],
    "searchsorted_bucketize": lambda m, a: m.searchsorted(m.tensor(SORTED), m.tensor(np.round(SORTED[:, :3] + 0.1, 1)))
    + m.bucketize(a, m.tensor(SORTED[0]))[:, :3] + m.bucketize(a, m.tensor(SORTED[0]), right=True)[:, :3],
    "signbit_heaviside": lambda m, a: m.signbit(m.tensor(SIGNED_ZEROS)) + m.heaviside(m.tensor(SIGNED_ZEROS), a),
    "triu_indices": lambda m, a: m.triu_indices(3, 5, 1),
    "quantile_of_all": lambda m, a: m.quantile(a, 0.7, keepdim=True),
    "erfinv_edges": lambda m, a: m.erfinv(m.tensor([-1.5, -1.0, -0.0, 0.0, 0.7, 1.0, 1.5, 1e-9, 0.9999],
                                                   dtype=m.float64)),
    "vander": lambda m, a: m.vander(a[0], 4) + m.vander(a[1], increasing=True)[:, :4],  # (PyTorch's has no gradient)
    "logspace": lambda m, a: m.logspace(-2, 3, 7, dtype=m.float64) + m.logspace(0, 4, 7, base=2, dtype=m.float64),
    "vander_integers": lambda m, a: m.vander(m.tensor([2, -3, 4], dtype=m.int32), 3),
    "cartesian_prod_integers": lambda m, a: m.cartesian_prod(m.tensor([1, 2]), m.tensor([3, 4, 5]), m.tensor([6])),
}


@pytest.mark.parametrize("name", sorted(VALUES_ONLY))
def test_values_match_pytorch(name):
    check_against_pytorch(VALUES_ONLY[name], [A], differentiable=False)


def test_erfinv_in_float32_is_pytorchs_to_float32_rounding():
    check_against_pytorch(lambda m, a: m.erfinv(a.float()), [np.linspace(-0.999, 0.999, 401)], differentiable=False,
                          rtol=1e-6)


def test_multinomial_draws_with_the_weights_and_without_repeats():
    lf.manual_seed(0)
    weights = np.array([0.1, 0.0, 0.6, 0.3])
    draws = lf.multinomial(lf.tensor(weights * 5).expand(8000, 4), 1, replacement=True).numpy().ravel()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / draws.size, weights, atol=0.02)
    pairs = lf.multinomial(lf.tensor([[1.0, 2.0, 0.0, 7.0]] * 4000), 2).numpy()
    assert pairs.shape == (4000, 2) and (pairs[:, 0] != pairs[:, 1]).all() and not (pairs == 2).any()
    np.testing.assert_allclose(np.bincount(pairs[:, 0], minlength=4) / 4000, [0.1, 0.2, 0.0, 0.7], atol=0.02)
    assert lf.multinomial(lf.tensor([0.5, 0.5]), 2).shape == (2,)
    with pytest.raises(RuntimeError, match="without replacement"):
        lf.multinomial(lf.tensor([0.5, 0.5]), 3)


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="not divisible by the split_size"):
        lf.hsplit(lf.tensor(A), 2)
    with pytest.raises(RuntimeError, match="selected number k out of range"):
        lf.kthvalue(lf.tensor(A), 9, 1)
    with pytest.raises(RuntimeError, match="q values must be in the range"):
        lf.quantile(lf.tensor(A), 1.5)
    with pytest.raises(RuntimeError, match="boundaries tensor must be 1 dimension"):
        lf.bucketize(lf.tensor(A), lf.tensor(SORTED))


def test_histc_and_bincount_match_numpy_and_pytorch():
    data = np.random.default_rng(6).standard_normal(500)
    counts, _ = np.histogram(data, 7, (-1.0, 1.0))
    np.testing.assert_array_equal(lf.histc(lf.tensor(data), 7, min=-1, max=1).numpy(), counts)
    np.testing.assert_array_equal(lf.tensor(data).histc(9).numpy(), np.histogram(data, 9)[0])
    ints, weights = np.random.default_rng(7).integers(0, 6, 40), np.random.default_rng(8).standard_normal(40)
    np.testing.assert_array_equal(lf.bincount(lf.tensor(ints)).numpy(), np.bincount(ints))
    np.testing.assert_allclose(lf.tensor(ints).bincount(lf.tensor(weights), minlength=9).numpy(),
                               np.bincount(ints, weights, minlength=9), rtol=1e-12)
    check_against_pytorch(lambda m, x: m.stack([m.histc(x * 0 + 2.0, 4), m.histc(x, 4, min=0.5, max=0.5)]), [A[0]],
                          differentiable=False)
    with pytest.raises(RuntimeError, match="non-negative integral"):
        lf.bincount(lf.tensor([1, -1]))


def test_pad_sequence_matches_pytorch():
    from lazyfuse.nn.utils.rnn import pad_sequence
    rng = np.random.default_rng(9)
    sequences = [rng.standard_normal((n, 3)) for n in (4, 2, 3)]
    padded = pad_sequence([lf.tensor(s) for s in sequences], batch_first=True, padding_value=-1.0).numpy()
    assert padded.shape == (3, 4, 3)
    np.testing.assert_array_equal(padded[1, :2], sequences[1])
    np.testing.assert_array_equal(padded[1, 2:], -1.0)
    for options in (dict(), dict(padding_side="left", padding_value=2.0)):
        check_against_pytorch(lambda m, a, b, c: m.nn.utils.rnn.pad_sequence([a, b, c], **options), sequences)


VIEWS = [lambda t: t, lambda t: t.transpose(0, 2), lambda t: t[:, 1:, ::2], lambda t: t.narrow(2, 1, 2),
         lambda t: t[0, :, None].expand(3, 5, 4), lambda t: t.permute(1, 0, 2), lambda t: t[1],
         lambda t: t.reshape(6, 4)[2:], lambda t: t.unsqueeze(1), lambda t: t[:, :1]]


@pytest.mark.parametrize("view", range(len(VIEWS)))
def test_stride_and_storage_offset_are_pytorchs(view):
    torch = pytest.importorskip("torch")
    a = np.arange(24.0).reshape(2, 3, 4)
    ours, theirs = VIEWS[view](lf.tensor(a)), VIEWS[view](torch.tensor(a))
    assert (ours.stride(), ours.storage_offset()) == (theirs.stride(), theirs.storage_offset())


def test_a_slice_of_a_computed_tensor_reports_its_offset_in_the_tensor():
    """Not in the part of the buffer the slice reads (runtime/movement.py)."""
    big = np.arange(400.0).reshape(100, 4)
    rows = lf.tensor(big)[37:50, 1:3]
    view = big[37:50, 1:3]
    assert rows.stride() == tuple(s // 8 for s in view.strides)
    assert rows.storage_offset() == (view.__array_interface__["data"][0] - big.__array_interface__["data"][0]) // 8


@pytest.mark.filterwarnings("ignore:All-NaN slice")  # (numpy's, for the all-NaN row)
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_and_nanquantile_with_nans_match_numpy(interpolation):
    a = np.random.default_rng(10).standard_normal((4, 6))
    a[1, 2] = a[2, 0] = a[2, 5] = np.nan
    a[3, :] = np.nan
    q = [0.1, 0.5, 0.95]
    np.testing.assert_allclose(lf.nanquantile(lf.tensor(a), lf.tensor(q, dtype=lf.float64), 1,
                                              interpolation=interpolation).numpy(),
                               np.nanquantile(a, q, 1, method=interpolation), rtol=1e-12)
    np.testing.assert_allclose(lf.tensor(a).quantile(0.4, 1, keepdim=True, interpolation=interpolation).numpy(),
                               np.quantile(a, 0.4, 1, keepdims=True, method=interpolation), rtol=1e-12)
