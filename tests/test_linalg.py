"""lazyfuse.linalg's norms, cross, vecdot, inv, det, slogdet and solve, the top-level tensordot, inner, kron,
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


SQUARE = RNG.standard_normal((3, 4, 4)) + 2 * np.eye(4)
RHS = RNG.standard_normal((3, 4, 2))
DECOMPOSITIONS = {
    "inv": lambda m, a, b: m.linalg.inv(a) + a.inverse(),
    "det": lambda m, a, b: m.linalg.det(a) + m.det(a[0]),
    "slogdet": lambda m, a, b: m.linalg.slogdet(a).logabsdet * m.slogdet(a)[0],
    "logdet": lambda m, a, b: m.logdet(a[:, :2, :2]),  # some determinants negative: NaN
    "solve": lambda m, a, b: m.linalg.solve(a, b),
    "solve_vector_broadcast_right": lambda m, a, b: m.linalg.solve(a[0], b[0, :, 0]).sum() + m.linalg.solve(a[1], b)
    + m.linalg.solve(a, b.mT, left=False).mT,
}


@pytest.mark.parametrize("name", sorted(DECOMPOSITIONS))
def test_decompositions_match_pytorch_with_gradients(name):
    check_against_pytorch(DECOMPOSITIONS[name], [SQUARE, RHS], rtol=1e-10, grad_rtol=1e-9)


def test_decompositions_match_numpy_and_pass_gradcheck():
    np.testing.assert_allclose(lf.linalg.inv(lf.tensor(SQUARE)).numpy(), np.linalg.inv(SQUARE), rtol=1e-12)
    np.testing.assert_allclose(lf.det(lf.tensor(SQUARE)).numpy(), np.linalg.det(SQUARE), rtol=1e-12)
    np.testing.assert_allclose(lf.linalg.solve(lf.tensor(SQUARE), lf.tensor(RHS)).numpy(),
                               np.linalg.solve(SQUARE, RHS), rtol=1e-12)
    a, b = lf.tensor(SQUARE[0], requires_grad=True), lf.tensor(RHS[0], requires_grad=True)
    assert gradcheck(lambda a, b: lf.linalg.solve(a, b) + lf.linalg.inv(a) @ b * lf.linalg.det(a), (a, b))


@pytest.mark.parametrize("name", ["inv", "det", "solve"])
def test_second_derivatives_of_decompositions_match_pytorch(name):
    """The gradients call the functions again under create_graph, so a Hessian-vector
    product is exact (a saved inverse or solution would count as a constant)."""
    torch = pytest.importorskip("torch")
    fn = {"inv": lambda m, a, b: m.linalg.inv(a) @ b, "det": lambda m, a, b: m.linalg.det(a) * b,
          "solve": lambda m, a, b: m.linalg.solve(a, b) ** 2}[name]
    results = {}
    for m in (torch, lf):
        a, b = m.tensor(SQUARE[0], requires_grad=True), m.tensor(RHS[0], requires_grad=True)
        first = m.autograd.grad(fn(m, a, b).sum(), [a, b], create_graph=True)
        weighted = sum((g * m.tensor(np.cos(np.arange(g.numel())).reshape(tuple(g.shape)))).sum() for g in first)
        results[m.__name__] = [g.numpy() for g in m.autograd.grad(weighted, [a, b])]
    for ours, theirs in zip(results["lazyfuse"], results["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_decompositions_name_what_is_wrong():
    with pytest.raises(lf.linalg.LinAlgError, match="singular"):
        lf.linalg.inv(lf.zeros(3, 3))
    with pytest.raises(RuntimeError, match="singular"):
        lf.linalg.solve(lf.ones(2, 2), lf.ones(2, 1))
    with pytest.raises(RuntimeError, match="batches of square matrices, but they are 2 by 3"):
        lf.det(lf.ones(2, 3))
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        lf.linalg.inv(lf.eye(2, dtype=lf.int64))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B.*\(2x2 and 3x1\)"):
        lf.linalg.solve(lf.eye(2), lf.ones(3, 1))
    assert lf.det(lf.zeros(2, 2)).item() == 0.0


@pytest.mark.parametrize("n", [0, 1, 2, 5, -3])
def test_matrix_power_matches_numpy(rng, n):
    a = rng.standard_normal((2, 3, 3)) + 2 * np.eye(3)
    np.testing.assert_allclose(lf.linalg.matrix_power(lf.tensor(a), n).numpy(), np.linalg.matrix_power(a, n),
                               rtol=1e-10, atol=1e-12)


def test_the_first_power_is_a_new_tensor(rng):
    a = lf.tensor(rng.standard_normal((3, 3)))
    before = a.numpy().copy()
    lf.linalg.matrix_power(a, 1).zero_()
    np.testing.assert_array_equal(a.numpy(), before)


def test_matrix_power_refuses_what_is_not_square():
    with pytest.raises(RuntimeError, match="batches of square matrices"):
        lf.linalg.matrix_power(lf.ones(2, 3), 2)
