"""lazyfuse.linalg's norms, cross and vecdot, the top-level tensordot, inner, kron,
cdist and eye, and take_along_dim and masked_select: values against numpy, values
and gradients against PyTorch (when installed), gradcheck in float64."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

RNG = np.random.default_rng(11)
A = RNG.standard_normal((3, 4, 5))
B = RNG.standard_normal((4, 5, 2))
M = RNG.standard_normal((4, 5))
V, W = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))


def test_eye_matches_numpy():
    np.testing.assert_array_equal(lf.eye(3, 5).numpy(), np.eye(3, 5, dtype=np.float32))
    np.testing.assert_array_equal(lf.eye(4, dtype=lf.int64).numpy(), np.eye(4, dtype=np.int64))
    assert lf.eye(0).shape == (0, 0)
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0, got -1"):
        lf.eye(-1)


NUMPY_CASES = {
    "tensordot 2": (lambda m, a, b: m.tensordot(a, b, 2), lambda a, b: np.tensordot(a, b, 2), [A, B]),
    "tensordot lists": (lambda m, a, b: m.tensordot(a, b, ([1, 2], [0, 1])),
                        lambda a, b: np.tensordot(a, b, ([1, 2], [0, 1])), [A, B]),
    "inner": (lambda m, a, b: m.inner(a, b), np.inner, [M, M[:2]]),
    "kron": (lambda m, a, b: m.kron(a, b), np.kron, [M, V]),
    "kron of other ranks": (lambda m, a, b: m.kron(a, b), np.kron, [M[0], V]),
    "cross": (lambda m, a, b: m.linalg.cross(a, b), lambda a, b: np.cross(a, b), [V, W]),
    "cdist": (lambda m, a, b: m.cdist(a, b), lambda a, b: np.linalg.norm(a[:, None] - b[None], axis=-1), [M, M[:3] + 1]),
    "vecdot": (lambda m, a, b: m.linalg.vecdot(a, b), lambda a, b: (a * b).sum(-1), [V, W]),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CASES))
def test_products_match_numpy_and_pytorch(name):
    ours, theirs, arrays = NUMPY_CASES[name]
    np.testing.assert_allclose(ours(lf, *map(lf.tensor, arrays)).numpy(), theirs(*arrays), rtol=1e-12, atol=1e-12)
    check_against_pytorch(ours, arrays)


@pytest.mark.parametrize("ord", ["fro", 1, -1, math.inf, -math.inf])
def test_matrix_norms_match_numpy_and_pytorch(ord):
    expected = np.linalg.norm(A, ord, axis=(1, 2))
    np.testing.assert_allclose(lf.linalg.matrix_norm(lf.tensor(A), ord).numpy(), expected, rtol=1e-12)
    check_against_pytorch(lambda m, a: m.linalg.matrix_norm(a, ord, keepdim=True), [A])


@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 0, 3.5])
def test_vector_norms_match_numpy_and_pytorch(ord):
    expected = np.linalg.norm(A.transpose(1, 0, 2).reshape(4, -1), ord, axis=1)
    np.testing.assert_allclose(lf.linalg.vector_norm(lf.tensor(A), ord, dim=(0, 2)).numpy(), expected, rtol=1e-12)
    if ord != 0:  # (the 0-"norm" counts: it has no gradient)
        check_against_pytorch(lambda m, a: m.linalg.vector_norm(a, ord, dim=(0, 2)), [A])


def test_norm_chooses_matrix_or_vector_norms_as_pytorch():
    check_against_pytorch(lambda m, a: m.linalg.norm(a), [M])
    check_against_pytorch(lambda m, a: m.linalg.norm(a, ord=math.inf), [M])
    check_against_pytorch(lambda m, a: m.linalg.norm(a, dim=(0, 2)), [A])
    check_against_pytorch(lambda m, a: m.linalg.norm(a, ord=1, dim=1), [A])
    with pytest.raises(RuntimeError, match="needs singular values"):
        lf.linalg.matrix_norm(lf.tensor(M), "nuc")
    with pytest.raises(RuntimeError, match="the input must be 1D or 2D"):
        lf.linalg.norm(lf.tensor(A), ord=2)


def test_gradients_pass_gradcheck():
    a, b = lf.tensor(A, requires_grad=True), lf.tensor(B, requires_grad=True)
    assert gradcheck(lambda a, b: lf.tensordot(a, b, 2), (a, b))
    v, w = lf.tensor(V, requires_grad=True), lf.tensor(W, requires_grad=True)
    assert gradcheck(lambda v, w: lf.cdist(v, w) + lf.linalg.cross(v, w).sum(), (v, w))


def test_torch_cross_takes_the_first_dim_of_size_3():
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(lf.cross(lf.tensor(x), lf.tensor(y)).numpy(), np.cross(x, y, axis=0), rtol=1e-12)
    with pytest.raises(RuntimeError, match="must have length 3"):
        lf.linalg.cross(lf.tensor(x), lf.tensor(y))


def test_take_along_dim_and_masked_select_match_numpy_and_pytorch():
    order = np.argsort(M, 1)
    np.testing.assert_array_equal(lf.take_along_dim(lf.tensor(M), lf.tensor(order), 1).numpy(),
                                  np.take_along_axis(M, order, 1))
    np.testing.assert_array_equal(lf.tensor(M).take_along_dim(lf.tensor([[0, 2]]), 1).numpy(),
                                  np.take_along_axis(M, np.array([[0, 2]] * 4), 1))
    np.testing.assert_array_equal(lf.take_along_dim(lf.tensor(M), lf.tensor([0, 7, 19])).numpy(), M.ravel()[[0, 7, 19]])
    mask = M[0] > 0
    np.testing.assert_array_equal(lf.masked_select(lf.tensor(M), lf.tensor(mask)).numpy(),
                                  M[np.broadcast_to(mask, M.shape)])
    check_against_pytorch(lambda m, x: m.take_along_dim(x, m.tensor(order[:, :2]), 1), [M])
    check_against_pytorch(lambda m, x: x.masked_select(m.tensor(mask)), [M])
    with pytest.raises(RuntimeError, match="expected BoolTensor"):
        lf.masked_select(lf.tensor(M), lf.tensor(M))
