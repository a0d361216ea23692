"""The tiled matmul kernels: shapes, strides, dtypes, epilogues and the backward
products, against the reference executor and numpy."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.kernels import opencl_matmul
from lazyfuse.runtime.matmul import (BLOCK_ROWS, COPY_LEFT_COLUMNS, COPY_LEFT_K, COPY_LEFT_WORK, MIN_TILED_DIM,
                                     PANEL_COLUMNS, REREAD_WORK)

from conftest import check


def kernel_names(fn) -> list[str]:
    with lf.profile() as prof:
        fn()
    return [record.name for record in prof.kernels]


def matmul_kernels(fn) -> list[str]:
    return [name for name in kernel_names(fn) if name.startswith("matmul")]


@pytest.mark.parametrize("M,N,K", [(16, 16, 16), (37, 19, 17), (100, 70, 300), (6 * 40 + 5, 33, 2 * 256 + 7),
                                   (64, 200, 64)], ids=str)
def test_shapes_that_do_not_divide_the_tiles(rng, M, N, K):
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    out = lf.tensor(a) @ lf.tensor(b)
    assert len(matmul_kernels(out.realize)) == 1
    check(out, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float16, 2e-2)], ids=["float64", "float16"])
def test_other_float_dtypes(rng, dtype, tol):
    a = rng.standard_normal((40, 30)).astype(dtype)
    b = rng.standard_normal((30, 50)).astype(dtype)
    out = lf.tensor(a) @ lf.tensor(b)
    assert len(matmul_kernels(out.realize)) == 1
    check(out, a.astype(np.float64) @ b.astype(np.float64), rtol=tol, atol=tol)


def test_transposed_operands_are_read_through_their_strides(rng):
    x = rng.standard_normal((48, 64)).astype(np.float32)
    w = rng.standard_normal((32, 64)).astype(np.float32)
    g = rng.standard_normal((48, 32)).astype(np.float32)
    X, W, G = lf.tensor(x), lf.tensor(w), lf.tensor(g)
    for out, expected in [(X @ W.T, x @ w.T), (X.T @ G, x.T @ g), (G @ W, g @ w), (W.T.T @ X.T, w @ x.T)]:
        names = kernel_names(out.realize)
        assert len(names) == 1 and names[0].startswith("matmul"), names  # no copy of a transpose
        check(out, expected, rtol=1e-4, atol=1e-4)


def test_batched_with_broadcast_batch_dims(rng):
    a = rng.standard_normal((3, 1, 20, 24)).astype(np.float32)
    b = rng.standard_normal((4, 24, 18)).astype(np.float32)
    out = lf.tensor(a) @ lf.tensor(b)
    assert len(matmul_kernels(out.realize)) == 1
    check(out, a @ b, rtol=1e-4, atol=1e-4)


def test_operand_expressions_and_epilogue_fuse_into_one_kernel(rng):
    x = rng.standard_normal((50, 40)).astype(np.float32)
    w = rng.standard_normal((40, 30)).astype(np.float32)
    bias = rng.standard_normal(30).astype(np.float32)
    residual = rng.standard_normal((50, 30)).astype(np.float32)
    X, Wt, B, R = lf.tensor(x), lf.tensor(w), lf.tensor(bias), lf.tensor(residual)
    out = ((X.tanh() @ (Wt * 2)) * 0.5 + B).relu() + R
    names = kernel_names(out.realize)
    assert len(names) == 1 and names[0].startswith("matmul"), names
    check(out, np.maximum((np.tanh(x) @ (w * 2)) * 0.5 + bias, 0) + residual, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("side", ["left", "right"])
def test_operands_read_again_and_again_are_computed_once(rng, side):
    """An operand expression the tiled kernel would evaluate again for every panel of
    columns (left: in scalars) or block of rows (right) gets a kernel of its own when
    that saves REREAD_WORK evaluations."""
    # a tanh evaluated at 8 (left) or 3 (right) reads of each element
    M, N, K = (64, 8 * PANEL_COLUMNS, 512) if side == "left" else (3 * BLOCK_ROWS, 32, REREAD_WORK // 64)
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((K, N)).astype(np.float32)
    X, W = lf.tensor(x), lf.tensor(w)
    out = X.tanh() @ W if side == "left" else X @ W.tanh()
    names = kernel_names(out.realize)
    assert len(names) == 2 and names[0].startswith("map_tanh") and names[1].startswith("matmul"), names
    assert "tanh" not in names[1]
    expected = np.tanh(x.astype(np.float64)) @ w if side == "left" else x @ np.tanh(w.astype(np.float64))
    check(out, expected, rtol=1e-4, atol=1e-3)


def test_row_products_compute_an_operand_they_broadcast_once(rng):
    """A product too short to tile is a row reduction, which evaluates an operand at each
    position along the dims it is broadcast over: a classifier's input gradient (K = 10
    classes) evaluated the loss's gradient 256 times per element (4-9 ms)."""
    x = rng.standard_normal((256, 10)).astype(np.float32)
    w = rng.standard_normal((10, 256)).astype(np.float32)
    out = lf.tensor(x).exp() @ lf.tensor(w)
    names = kernel_names(out.realize)
    assert len(names) == 2 and names[0].startswith("map_exp") and "exp" not in names[1], names
    check(out, np.exp(x.astype(np.float64)) @ w, rtol=1e-4, atol=1e-4)


def test_products_summed_with_an_untiled_one_get_kernels_of_their_own(rng):
    """An LSTM's weight gradient sums a product per time step, the first with the zero
    initial state (a constant: not a tiled product). The others were reduced in that
    sum's row kernel, all at once (32 of them: 29 ms, against ~5 ms as tiled products)."""
    gs = [rng.standard_normal((16, 96)).astype(np.float32) for _ in range(4)]
    hs = [rng.standard_normal((16, 64)).astype(np.float32) for _ in range(4)]
    total = lf.tensor(gs[1]).T @ lf.tensor(hs[1])
    for g, h in zip(gs[2:], hs[2:]):
        total = total + lf.tensor(g).T @ lf.tensor(h)
    total = total + lf.tensor(gs[0]).T @ lf.zeros(16, 64)  # added last, as autograd does
    names = kernel_names(total.realize)
    assert sum(name.startswith("matmul") for name in names) == 3, names
    check(total, sum(g.T.astype(np.float64) @ h for g, h in zip(gs[1:], hs[1:])), rtol=1e-4, atol=1e-4)


def test_small_products_stay_row_reductions(rng):
    a, b = lf.tensor(rng.standard_normal((MIN_TILED_DIM - 1, 8))), lf.tensor(rng.standard_normal((8, 20)))
    assert matmul_kernels((a @ b).realize) == []


@pytest.mark.parametrize("shape", [(6, 75, 1024), (2000, 6, 75), (1500, 4, 48), (7, 9, 10000), (6, 4, 20000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_narrow_large_products_are_tiled_with_their_gradients(rng, shape, dtype):
    """6-15 rows or 4-15 columns: panels of fewer lanes, the last tile shifted to the edge."""
    m, n, k = shape
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    A, B = lf.tensor(a, requires_grad=True), lf.tensor(b, requires_grad=True)
    out = A @ B
    assert matmul_kernels(out.realize), "not a tiled product"
    tol = dict(rtol=1e-4, atol=1e-3 * np.sqrt(k)) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.detach().numpy(), a.astype(np.float64) @ b, **tol)
    (out * lf.tensor(g)).sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), g.astype(np.float64) @ b.T, **dict(tol, atol=tol["atol"] * 4))
    np.testing.assert_allclose(B.grad.numpy(), a.T.astype(np.float64) @ g, **dict(tol, atol=tol["atol"] * 40))


@pytest.mark.parametrize("shape", [(50176, 75, 6), (4096, 1030, 2)], ids=["conv_input_gradient", "k2"])
def test_large_products_over_few_terms_are_tiled(rng, shape):
    """A convolution's input gradient through 6 filters: as a row reduction, its rows of
    6 terms ran as scalars (30 ms against ~1 ms tiled)."""
    m, n, k = shape
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    out = lf.tensor(a) @ lf.tensor(b)
    assert matmul_kernels(out.realize), "not a tiled product"
    check(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_small_narrow_products_stay_row_reductions(rng):
    a, b = lf.tensor(rng.standard_normal((32, 16))), lf.tensor(rng.standard_normal((16, 8)))
    assert matmul_kernels((a @ b).realize) == []


def test_unfused_mode_keeps_the_product_in_one_kernel(rng, monkeypatch):
    monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    a = rng.standard_normal((30, 20)).astype(np.float32)
    b = rng.standard_normal((20, 25)).astype(np.float32)
    out = (lf.tensor(a) @ lf.tensor(b)) * 2
    names = kernel_names(out.realize)
    assert len(names) == 2 and names[0].startswith("matmul"), names  # the product, then the multiply
    check(out, (a @ b) * 2, rtol=1e-4, atol=1e-4)


def test_backward_products_are_matmul_kernels_without_copies(rng):
    x = lf.tensor(rng.standard_normal((64, 48)).astype(np.float32), requires_grad=True)
    w = lf.tensor(rng.standard_normal((48, 40)).astype(np.float32), requires_grad=True)
    loss = (x @ w).relu().sum()
    loss.realize()
    names = kernel_names(lambda: (loss.backward(), lf.realize(x.grad, w.grad)))
    assert len(names) == 2 and all(n.startswith("matmul") for n in names), names  # g @ w.T and x.T @ g
    mask = (x.detach().numpy() @ w.detach().numpy() > 0).astype(np.float32)
    np.testing.assert_allclose(x.grad.numpy(), mask @ w.detach().numpy().T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), x.detach().numpy().T @ mask, rtol=1e-4, atol=1e-4)


def test_k_blocks_keep_partial_sums_per_row(rng):
    # more rows than one work-item keeps, and K over several blocks, at any vector width
    # (float8 vectors keep the most rows and take the longest blocks)
    float8_vectors = opencl_matmul.MICRO_VECTORS * 32
    M, K = opencl_matmul.PARTIAL_BYTES // float8_vectors + 7, 3 * opencl_matmul.PANEL_BYTES // float8_vectors + 1
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, 24)).astype(np.float32)
    out = lf.tensor(a) @ lf.tensor(b)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("over, one_block", [(1 / 8, True), (1 / 2, False)])
def test_a_k_a_little_over_one_block_is_walked_as_one_block(rng, over, one_block):
    """A short last K block cost its partial sums' trip to memory and back (a convolution's
    K = 288 over blocks of 256); up to ONE_BLOCK_SLACK over, K is one block."""
    from lazyfuse.runtime.opencl_device import OpenCLDevice
    block = opencl_matmul.PANEL_BYTES // (opencl_matmul.MICRO_VECTORS * OpenCLDevice.open("cpu").rt.native_vector_bytes)
    K = int(block * (1 + over))
    a = rng.standard_normal((600, K)).astype(np.float32)
    b = rng.standard_normal((K, 64)).astype(np.float32)
    out = lf.tensor(a) @ lf.tensor(b)
    with lf.profile() as prof:
        out.realize()
    sources = [r.source for r in prof.kernels if r.name.startswith("matmul")]
    assert len(sources) == 1 and ("partial[" not in sources[0]) == one_block
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-3)


def test_a_product_read_both_ways_is_stored_once(rng):
    a = rng.standard_normal((24, 20)).astype(np.float32)
    b = rng.standard_normal((20, 24)).astype(np.float32)
    product = lf.tensor(a) @ lf.tensor(b)
    out = product + product.T
    check(out, a @ b + (a @ b).T, rtol=1e-4, atol=1e-4)
    assert len(matmul_kernels((lf.tensor(a) @ lf.tensor(b) + 1).T.realize)) == 1


@pytest.mark.parametrize("n", [16, 64])
def test_products_use_the_devices_native_vectors_when_a_panel_of_them_fits(rng, n):
    """float16 with AVX-512 when the product has 2 x 16 columns; float8 below that."""
    from lazyfuse.kernels.opencl import MOST_LANES
    from lazyfuse.runtime.devices import backend
    native = min(MOST_LANES, max(32, backend("cpu").rt.native_vector_bytes) // 4)
    lanes = native if n >= opencl_matmul.MICRO_VECTORS * native else 8
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    with lf.profile() as prof:
        out = (lf.tensor(a) @ lf.tensor(b)).realize()
    (source,) = [k.source for k in prof.kernels]
    assert f"float{lanes} panel[" in source
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [(), (3,)])
def test_the_tiles_step_over_k_with_a_long_so_each_left_row_is_a_base_plus_k(rng, batch):
    """With an int k, PoCL's LLVM added and sign-extended every left row's index at
    each step (37 instructions for 12 multiply-adds; 1024: 63-84 against 90-107
    GFLOP/s with a long k). Batched and with rows beyond the last tile's, still exact."""
    a = rng.standard_normal((*batch, 6 * 5 + 2, 70)).astype(np.float32)
    b = rng.standard_normal((*batch, 70, 40)).astype(np.float32)
    with lf.profile() as prof:
        out = (lf.tensor(a) @ lf.tensor(b)).realize()
    (source,) = [k.source for k in prof.kernels]
    assert "for (long k = kb; k < k_end; k++) {" in source
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_a_long_product_reads_a_row_major_copy_of_a_transposed_left_operand(rng):
    """x.T @ g over many terms and columns: a kernel copies x.T row-major first (reading
    it through the transpose, each k is a new cache line); with fewer columns, or
    a left operand row-major already, the product reads its operands in place."""
    K, N = COPY_LEFT_K + 37, COPY_LEFT_COLUMNS + 6
    M = -(-COPY_LEFT_WORK // (K * N))
    x, g = rng.standard_normal((K, M)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
    X, G = lf.tensor(x), lf.tensor(g)
    out = X.T @ G
    names = kernel_names(out.realize)
    assert len(names) == 2 and names[0].startswith("map_copy") and names[1].startswith("matmul"), names
    check(out, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-3)
    narrow = X.T @ G[:, :COPY_LEFT_COLUMNS - 2].contiguous()
    G[:, :COPY_LEFT_COLUMNS - 2].contiguous().realize()
    assert len(kernel_names(narrow.realize)) == 1
    check(narrow, x.T.astype(np.float64) @ g[:, :COPY_LEFT_COLUMNS - 2], rtol=1e-4, atol=1e-3)
    row_major = lf.tensor(np.ascontiguousarray(x.T)) @ G
    assert len(kernel_names(row_major.realize)) == 1


def test_a_weight_gradient_over_a_long_batch_matches_numpy(rng):
    """A linear layer's weight gradient x.T @ g is such a product (K: the batch)."""
    K, features, outputs = COPY_LEFT_K * 2 + 5, 48, COPY_LEFT_COLUMNS * 2
    assert features * outputs * K * 8 >= COPY_LEFT_WORK
    x = rng.standard_normal((K, features * 8)).astype(np.float32)
    w = lf.tensor(rng.standard_normal((features * 8, outputs)).astype(np.float32) * 0.1, requires_grad=True)
    weights = rng.standard_normal((K, outputs)).astype(np.float32)
    ((lf.tensor(x) @ w) * lf.tensor(weights)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), x.T.astype(np.float64) @ weights, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("time_major", [False, True], ids=["batch_first", "time_major_view"])
def test_a_linear_layers_weight_gradient_over_3d_input_is_one_product(rng, time_major):
    """x (batch, time, features) @ w.T: the batch dims fold into the rows, as in
    PyTorch, so w's gradient is one product over every row rather than a product
    per batch summed afterwards; a time-major view (an LSTM's input) is copied first."""
    x = rng.standard_normal((16, 32, 64)).astype(np.float32)
    g = rng.standard_normal((32, 16, 96) if time_major else (16, 32, 96)).astype(np.float32)
    w = lf.tensor(rng.standard_normal((96, 64)).astype(np.float32), requires_grad=True)
    lx = lf.tensor(x).transpose(0, 1) if time_major else lf.tensor(x)
    out = lf.nn.functional.linear(lx, w)
    out.realize()
    names = kernel_names(lambda: ((out * lf.tensor(g)).sum().backward(), lf.realize(w.grad)))
    assert not any(n.startswith("reduce") for n in names), names
    assert sum(n.startswith("matmul") for n in names) == 1, names
    rows = x.transpose(1, 0, 2) if time_major else x
    reference = np.einsum("tbo,tbi->oi", g.astype(np.float64), rows.astype(np.float64))
    np.testing.assert_allclose(w.grad.numpy(), reference, rtol=1e-4, atol=1e-3)
    check(out, rows @ w.detach().numpy().T, rtol=1e-4, atol=1e-4)
