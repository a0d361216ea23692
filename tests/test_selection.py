"""Selection by index tensors (lazyfuse/selection.py): gather, index_select and
advanced indexing, read and written. Values against numpy's own advanced
indexing, gradients against finite differences, both against PyTorch when it
is installed; bad indices raise where they can be read, else give NaN."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

X = np.random.default_rng(0).standard_normal((4, 5, 3))
GATHER_INDEX = np.array([[[0, 1, 4]], [[2, 2, 2]], [[4, 3, 0]], [[1, 1, 1]]])


# name: (the same code for lazyfuse and torch, numpy's answer for X)
READS = {
    "list": (lambda m, x: x[[0, 2, -1]], lambda x: x[[0, 2, -1]]),
    "range_and_tensor": (lambda m, x: x[range(4), m.tensor([0, 4, 2, 2])], lambda x: x[range(4), [0, 4, 2, 2]]),
    "in_the_middle": (lambda m, x: x[:, [1, 1, 3]], lambda x: x[:, [1, 1, 3]]),
    "2d_index_beside_a_slice": (lambda m, x: x[:, m.tensor([[1, 0], [3, 4]]), 1:],
                                lambda x: x[:, np.array([[1, 0], [3, 4]]), 1:]),
    "two_adjacent": (lambda m, x: x[1:3, [0, 1], [2, 0]], lambda x: x[1:3, [0, 1], [2, 0]]),
    "two_apart_go_first": (lambda m, x: x[[0, 1], :, [2, 0]], lambda x: x[[0, 1], :, [2, 0]]),
    "broadcast_indices": (lambda m, x: x[m.tensor([[0], [3]]), m.tensor([1, 2, 4])],
                          lambda x: x[np.array([[0], [3]]), np.array([1, 2, 4])]),
    "negative_tensor_index": (lambda m, x: x[m.tensor([-1, 0])], lambda x: x[[-1, 0]]),
    "mask_of_all_dims": (lambda m, x: x[x > 0.5], lambda x: x[x > 0.5]),
    "mask_of_two_dims": (lambda m, x: x[(x > 0).all(-1)], lambda x: x[(x > 0).all(-1)]),
    "mask_of_rows": (lambda m, x: x[m.tensor([True, False, True, True])], lambda x: x[[True, False, True, True]]),
    "gather": (lambda m, x: x.gather(1, m.tensor(GATHER_INDEX)), lambda x: np.take_along_axis(x, GATHER_INDEX, 1)),
    "gather_smaller_index": (lambda m, x: m.gather(x, 0, m.tensor([[[0, 3, 1], [2, 2, 2]]])),
                             lambda x: np.take_along_axis(x[:, :2], np.array([[[0, 3, 1], [2, 2, 2]]]), 0)),
    "index_select": (lambda m, x: x.index_select(2, m.tensor([2, 0, 2])), lambda x: x[:, :, [2, 0, 2]]),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_reads_match_numpy(name):
    fn, expected = READS[name]
    np.testing.assert_array_equal(fn(lf, lf.tensor(X)).numpy(), expected(X))


@pytest.mark.parametrize("name", sorted(READS))
def test_read_gradients_match_finite_differences(name):
    fn, _ = READS[name]
    assert gradcheck(lambda x: fn(lf, x), (lf.tensor(X, requires_grad=True),))


@pytest.mark.parametrize("name", sorted(READS))
def test_reads_and_gradients_match_pytorch(name):
    check_against_pytorch(READS[name][0], [X])


def _writes(m, x):
    y = x * 1
    y[y > 1.5] = 0.0
    y[:, [0, 2]] = -1.0
    y[m.tensor([True, False, False, True])] = m.tensor(3.0, dtype=m.float64)
    y[:, :, m.tensor([2])] = 7
    y[[0, 1]] = x[2:] * 2
    y[m.tensor([3, 3])] = m.tensor([[[5.0]], [[6.0]]], dtype=m.float64)  # the last write at a position wins
    y[:, [4, 0]] = x[:, :2]
    y[(x > 1).any(-1)] = 0.5 * x[(x > 1).any(-1)]
    y[x[..., 0] > 0] = m.tensor([1.0, 2.0, 3.0], dtype=m.float64)
    return y


def test_writes_match_numpy():
    y = X * 1  # the same writes in numpy
    y[y > 1.5] = 0.0
    y[:, [0, 2]] = -1.0
    y[[True, False, False, True]] = 3.0
    y[:, :, [2]] = 7
    y[[0, 1]] = X[2:] * 2
    y[[3, 3]] = np.array([[[5.0]], [[6.0]]])
    y[:, [4, 0]] = X[:, :2]
    y[(X > 1).any(-1)] = 0.5 * X[(X > 1).any(-1)]
    y[X[..., 0] > 0] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(_writes(lf, lf.tensor(X)).numpy(), y)


def test_write_gradients_match_finite_differences():
    assert gradcheck(lambda x: _writes(lf, x), (lf.tensor(X, requires_grad=True),))


def test_writes_and_gradients_match_pytorch():
    check_against_pytorch(lambda m, x: _writes(m, x).sin(), [X])


def test_a_full_shape_mask_with_one_value_is_written_without_reading_the_mask():
    x = lf.tensor(X)
    mask = x > 0
    with lf.profile() as prof:
        x[mask] = 0.0
    assert not prof.kernels  # nothing ran: the write is recorded, as where(mask, 0, x)
    np.testing.assert_array_equal(x.numpy(), np.where(X > 0, 0.0, X))


def test_bad_indices_raise_where_they_can_be_read():
    x = lf.tensor(X)
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        x[[0, 4]]
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        lf.tensor([1, 2, 3])[lf.tensor([9])]  # an integer result has no NaN to mark it: read
    with pytest.raises(IndexError, match="must be long, int, byte or bool tensors"):
        x[lf.tensor([0.0])]
    with pytest.raises(IndexError, match="does not match the shape of the indexed tensor"):
        x[lf.tensor([True, False])] = 1.0
    with pytest.raises(RuntimeError, match="shape mismatch: value tensor of shape \\[3, 5, 3\\]"):
        x[[0, 1]] = lf.ones(3, 5, 3, dtype=lf.float64)
    with pytest.raises(TypeError, match="one boolean mask or one set of integer indices"):
        x[[0, 1], [1, 2]] = 0.0
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(0, lf.tensor([0]))


def test_a_float_result_of_an_out_of_range_tensor_index_is_nan():
    """Not read on the host, so no error: NaN marks the bad rows (documented)."""
    out = lf.tensor(X).index_select(0, lf.tensor([1, 7])).numpy()
    np.testing.assert_array_equal(out[0], X[1])
    assert np.isnan(out[1]).all()
