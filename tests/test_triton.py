"""The Triton path (`cuda` device) in Triton's interpreter, on small shapes: op
parity with the reference executor, random graphs, kernel counts, gradients
against the OpenCL path, and every generated kernel compiled for sm_80 and sm_90."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyfuse as lf
from conftest import check, division_operands
from test_random_graphs import SHAPES, Recorder, build

pytest.importorskip("triton")


@pytest.fixture(autouse=True)
def interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")


def on_cuda(*arrays):
    return [lf.tensor(a, device="cuda") for a in arrays]


UNARY = {"exp": (-2, 2), "log": (0.5, 3), "sqrt": (0.5, 3), "sin": (-2, 2), "cos": (-2, 2), "tanh": (-2, 2),
         "sigmoid": (-3, 3), "relu": (-2, 2), "abs": (-2, 2), "neg": (-2, 2), "reciprocal": (0.5, 2), "exp2": (-2, 2),
         "log2": (0.5, 3), "erf": (-3, 3)}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(rng, name, dtype):
    lo, hi = UNARY[name]
    (x,) = on_cuda(rng.uniform(lo, hi, size=(3, 5)).astype(dtype))
    check(getattr(x, name)())


@pytest.mark.parametrize("name", ["__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__",
                                  "maximum", "minimum", "__lt__", "__le__", "__eq__", "__ne__"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32])
def test_binary_with_broadcasting(rng, name, dtype):
    if np.dtype(dtype).kind == "f":
        a, b = rng.uniform(0.5, 3, size=(3, 1)).astype(dtype), rng.uniform(0.5, 3, size=(1, 4)).astype(dtype)
    else:
        a, b = rng.integers(-9, 10, size=(3, 1)).astype(dtype), rng.integers(-4, 5, size=(1, 4)).astype(dtype)
        b[b == 0] = 3
        if name == "__pow__":
            b = np.abs(b)
    x, y = on_cuda(a, b)
    check(getattr(x, name)(y))


def test_where_cast_bool_and_integer_division_by_zero():
    x, y = on_cuda(np.array([-7, 7, 3, 0], dtype=np.int64), np.array([2, -2, 0, 0], dtype=np.int64))
    check(x // y, [-4, -4, 0, 0])
    check(x % y, [1, -1, 0, 0])
    check(lf.where(x > 0, x, y).float() * 0.5)
    check((x > 0).logical_not())
    check(x.double().half())


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (2, 0, 3)], ids=str)
def test_edge_shapes(rng, shape):
    x, y = on_cuda(rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32))
    check((x * y).exp() - x.abs() / (1 + y * y))
    check(x >= y)
    check(x.sum(), rtol=1e-5, atol=1e-6)
    if x.ndim:
        check(x.sum(-1, keepdim=True))


def test_movement_ops(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    (t,) = on_cuda(a)
    for out, expected in [(t.reshape(6, 4), a.reshape(6, 4)), (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
                          (t[:, None, 1:, ::2], a[:, None, 1:, ::2]), (t[..., 1], a[..., 1]),
                          (t[-1, ::2, 1:3], a[-1, ::2, 1:3]), (t[:, :1].expand(-1, 5, -1), np.broadcast_to(a[:, :1], (2, 5, 4))),
                          (t.T.reshape(4, 6) + 1, a.T.reshape(4, 6) + 1), (t.flatten(1).clamp(-0.5, 0.5), np.clip(a.reshape(2, 12), -0.5, 0.5)),
                          (lf.stack([t, t * 2], 1), np.stack([a, a * 2], 1))]:
        check(out, expected)
    values, indices = t.max(1)
    check(values, a.max(1))
    check(indices, a.argmax(1))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var"])
def test_reductions(rng, name, dim, keepdim):
    (x,) = on_cuda(rng.standard_normal((3, 4, 5)).astype(np.float32))
    out = getattr(x, name)(dim, keepdim=keepdim) if dim is not None else getattr(x, name)()
    check(out, rtol=1e-5, atol=1e-5)


def test_long_reduction_in_two_stages_and_integer_sums(rng):
    x, n = on_cuda(rng.standard_normal(20000).astype(np.float32), rng.integers(0, 9, size=(2, 9000)).astype(np.int32))
    with lf.profile() as prof:
        total = x.sum().realize()
    assert len(prof.kernels) == 2 and prof.kernels[0].device == "cuda:0"
    check(total, rtol=1e-4, atol=1e-3)
    check(n.sum(1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "argmax", "argmin", "prod"])
def test_row_functions(rng, name):
    (x,) = on_cuda(rng.uniform(0.5, 1.5, size=(6, 37)).astype(np.float32))
    check(getattr(x, name)(1), rtol=1e-5, atol=1e-6)
    check(getattr(x, name)(0), rtol=1e-5, atol=1e-6)


def test_views_matmul_cat_and_writes_through(rng):
    a, b = rng.standard_normal((6, 8)).astype(np.float32), rng.standard_normal((8, 5)).astype(np.float32)
    x, y = on_cuda(a, b)
    check(x.T[::2, 1:] * 2)
    check(x @ y, rtol=1e-5, atol=1e-5)
    check(y.T @ x.T, rtol=1e-5, atol=1e-5)
    check(lf.cat([x[:2], x[3:]]))
    x[1:3, ::2] += 1
    expected = a.copy()
    expected[1:3, ::2] += 1
    check(x, expected)


def test_kernel_counts_match_the_opencl_path(rng):
    a, b = on_cuda(*(rng.standard_normal((16, 64)).astype(np.float32) for _ in range(2)))
    cases = [((((a + b) * a - b).sin().mul(2.0).add(a.abs()).tanh()), 1), (a.softmax(-1), 1),
             (((a - b) ** 2).mean(), 1), (a.T + b.T, 1)]
    for out, expected in cases:
        with lf.profile() as prof:
            out.realize()
        assert len(prof.kernels) == expected, prof
        check(out, rtol=1e-5, atol=1e-6)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data(), shapes=st.lists(SHAPES, min_size=1, max_size=2), seed=st.integers(0, 2**16))
def test_random_graphs_match_the_reference(data, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out = build(Recorder(data), on_cuda(*arrays))
    check(out, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_floor_division_and_remainder_are_pythons(rng, dtype):
    a, b = division_operands(rng, 100, dtype)
    with np.errstate(all="ignore"):
        expected = np.floor_divide(a, b), np.remainder(a, b)
    x, y = on_cuda(a, b)
    np.testing.assert_array_equal((x // y).numpy(), expected[0])
    np.testing.assert_array_equal((x % y).numpy(), expected[1])


def test_negative_integer_powers_of_a_tensor_are_pytorchs():
    x, y = on_cuda(np.array([0, 1, -1, -1, 2, -2, 3, 5]), np.array([-1, -3, -3, -2, -1, -1, -2, 3]))
    check(x ** y, [0, 1, -1, 1, 0, 0, 0, 125])


@pytest.mark.parametrize("fn", [lambda a, b: ((a * b).sin() + a.exp() / (1 + b * b)).sum(),
                                lambda a, b: (a.softmax(-1) * b).sum(), lambda a, b: (a @ b.T).relu().mean()],
                         ids=["elementwise", "softmax", "matmul"])
def test_gradients_match_the_opencl_path(rng, fn):
    arrays = [rng.uniform(-1, 1, size=(3, 4)) for _ in range(2)]
    grads = {}
    for device in ("cpu", "cuda"):
        leaves = [lf.tensor(a, device=device, requires_grad=True) for a in arrays]
        fn(*leaves).backward()
        grads[device] = [t.grad.numpy() for t in leaves]
    for ours, reference in zip(grads["cuda"], grads["cpu"]):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_an_optimizer_step_in_the_gradient_kernels_matches_the_opencl_path(rng):
    xs, ys = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        w = lf.zeros(3, 1, device=device, requires_grad=True)
        b = lf.zeros(1, device=device, requires_grad=True)
        opt = lf.optim.SGD([w, b], lr=0.1, momentum=0.9)
        x, y = lf.tensor(xs, device=device), lf.tensor(ys, device=device)
        for _ in range(3):
            opt.zero_grad()
            ((x @ w + b - y) ** 2).mean().backward()
            with lf.profile() as prof:
                opt.step()
        results[device] = (len(prof.kernels), w.detach().numpy(), b.detach().numpy())
    assert results["cuda"][0] == results["cpu"][0]
    for ours, reference in zip(results["cuda"][1:], results["cpu"][1:]):
        np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_tiled_matmul_with_epilogue_transposes_and_batches(rng):
    x, w, bias = on_cuda(rng.standard_normal((2, 40, 33)).astype(np.float32),
                         rng.standard_normal((20, 33)).astype(np.float32), rng.standard_normal(20).astype(np.float32))
    for out in [((x @ w.T) * 0.5 + bias).relu(), x.exp().transpose(-1, -2) @ x[0], (x[1] @ w.T).T]:
        with lf.profile() as prof:
            out.realize()
        assert [k.name.startswith("matmul") for k in prof.kernels] == [True], prof
        check(out, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m, n, k", [(6, 16, 4096), (4096, 1030, 2)], ids=["few_rows", "few_terms"])
def test_narrow_tiled_products_are_masked_tiles(rng, m, n, k):
    a, b = on_cuda(rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32))
    with lf.profile() as prof:
        (a @ b).realize()
    assert [k.name.startswith("matmul") for k in prof.kernels] == [True], prof
    check(a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype,tol", [(np.float16, 2e-2), (np.float64, 1e-10)], ids=["float16", "float64"])
def test_matmul_in_other_float_dtypes(rng, dtype, tol):
    """float16 goes through tl.dot (float32 accumulation); float64 is a row reduction."""
    a, b = on_cuda(rng.standard_normal((40, 30)).astype(dtype), rng.standard_normal((30, 20)).astype(dtype))
    check(a @ b, rtol=tol, atol=tol)


def test_tiled_matmul_gradients_match_the_opencl_path(rng):
    arrays = [rng.standard_normal((32, 24)), rng.standard_normal((20, 24))]
    grads = {}
    for device in ("cpu", "cuda"):
        x, w = [lf.tensor(a.astype(np.float32), device=device, requires_grad=True) for a in arrays]
        (x @ w.T).tanh().sum().backward()
        grads[device] = [x.grad.numpy(), w.grad.numpy()]
    for ours, reference in zip(grads["cuda"], grads["cpu"]):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_a_lane_reduction_matches_the_opencl_path(rng, monkeypatch):
    """x @ w computed inside the kernel summing x.T @ (x @ w), and stored for a mean;
    24 columns, so the tile's rows are masked. Rows split from 1024 on here, not
    8192: the interpreter runs a lane kernel's loop slowly (13 s at 8192 rows)."""
    from lazyfuse.runtime import realize, schedule
    monkeypatch.setattr(schedule, "MIN_SPLIT_ROW", 1024)
    monkeypatch.setattr(realize, "_schedules", type(realize._schedules)())
    xs, ws = rng.standard_normal((1024, 24)).astype(np.float32), rng.standard_normal(24).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        x, w = lf.tensor(xs, device=device), lf.tensor(ws, device=device)
        product = (x * w).sum(1, keepdim=True)
        columns_sum, mean = (x * product).sum(0), product.mean()
        with lf.profile() as prof:
            lf.realize(columns_sum, mean)
        results[device] = (len(prof.kernels), columns_sum.numpy(), mean.item())
    assert results["cuda"][0] == results["cpu"][0] == 4  # no kernel of its own for x @ w
    np.testing.assert_allclose(results["cuda"][1], results["cpu"][1], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(results["cuda"][2], results["cpu"][2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [lf.float16, lf.float32, lf.float64])
def test_random_draws_match_the_reference_where_they_are_read(dtype):
    """The same numbers as the OpenCL kernels and the reference (runtime/random_bits.py)."""
    from lazyfuse.runtime.reference import evaluate
    r = lf.rand(6, 40, device="cuda", dtype=dtype)
    drawn = evaluate(r.node)
    np.testing.assert_array_equal(r.numpy(), drawn)
    check(r.T.exp().sum(0))
    check(lf.nn.functional.dropout(lf.ones(8, 16, device="cuda", dtype=dtype), 0.5) + lf.randn(8, 16, device="cuda"))


def test_convolution_and_pooling_gradients_match_the_opencl_path(rng):
    arrays = [rng.standard_normal((2, 3, 8, 8)).astype(np.float32), rng.standard_normal((16, 3, 3, 3)).astype(np.float32),
              rng.standard_normal((16, 4, 4, 4)).astype(np.float32)]
    results = {}
    for device in ("cuda", "cpu"):
        x, w, up = (lf.tensor(a, device=device, requires_grad=True) for a in arrays)
        out = lf.nn.functional.max_pool2d(lf.nn.functional.conv2d(x, w, padding=1).relu(), 2)
        out = lf.nn.functional.conv_transpose2d(out, up, stride=2, padding=1)
        out.sum().backward()
        results[device] = [out.detach().numpy(), x.grad.numpy(), w.grad.numpy(), up.grad.numpy()]
    for got, expected in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_arange_is_computed_from_positions_as_in_the_reference():
    positions = lf.arange(3, 40, 3, device="cuda")
    check(positions, np.arange(3, 40, 3))
    check(lf.arange(0.5, 4.0, 0.25, device="cuda").reshape(2, 7).T * 2, (np.arange(0.5, 4.0, 0.25) * 2).reshape(2, 7).T)
    check(lf.nn.functional.one_hot(positions % 4, 4).sum(0), np.bincount(np.arange(3, 40, 3) % 4, minlength=4))


@pytest.mark.parametrize("host", [lambda x: x * 2 + 1, lambda x: x.reshape(8, 25).sum(1)], ids=["map", "rows"])
def test_one_element_kernels_ride_in_another_kernel_as_on_the_opencl_path(rng, host):
    xs = rng.standard_normal(200).astype(np.float32)
    counts = {}
    for device in ("cpu", "cuda"):
        count, decay = lf.tensor(np.array(5, np.int64), device=device), lf.tensor(np.float32(0.5), device=device)
        count.add_(3)
        decay.mul_(0.9)
        out = host(lf.tensor(xs, device=device))
        with lf.profile() as prof:
            out.realize()
        counts[device] = len(prof.kernels)
        check(out, rtol=1e-5)
        check(count, 8)
        check(decay, np.float32(0.5) * np.float32(0.9))
    assert counts["cuda"] == counts["cpu"] == 1


def test_adam_steps_match_the_opencl_path(rng):
    xs, ys = rng.standard_normal((8, 3)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    weights = {}
    for device in ("cpu", "cuda"):
        w = lf.zeros(3, 1, device=device, requires_grad=True)
        opt = lf.optim.Adam([w], lr=0.1)
        x, y = lf.tensor(xs, device=device), lf.tensor(ys, device=device)
        for _ in range(3):
            opt.zero_grad()
            ((x @ w - y) ** 2).mean().backward()
            opt.step()
        weights[device] = w.detach().numpy()
    np.testing.assert_allclose(weights["cuda"], weights["cpu"], rtol=1e-5, atol=1e-6)


def test_selections_along_long_dims_load_their_elements():
    """A table of GATHER_FROM or more rows is read at each index (a GATHER node), on this
    path too; its gradient compares each index with every row, as before."""
    W = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    (w,) = on_cuda(W)
    w.requires_grad_(True)
    index = np.array([[39, 0], [7, 7]])
    out = lf.nn.functional.embedding(lf.tensor(index, device="cuda"), w)
    np.testing.assert_array_equal(out.detach().numpy(), W[index])
    out.sum().backward()
    expected = np.zeros_like(W)
    np.add.at(expected, index.reshape(-1), 1.0)
    np.testing.assert_array_equal(w.grad.numpy(), expected)


def test_the_gradient_of_a_long_selection_is_a_masked_product():
    """A table large enough for a tiled product gets its selection's gradient from the
    tiled kernel's masked form (select and sum, no tl.dot); inf stays in its row."""
    rng = np.random.default_rng(1)
    W, index = rng.standard_normal((48, 16)).astype(np.float32), rng.integers(-48, 48, 40)
    G = rng.standard_normal((40, 16)).astype(np.float32)
    G[5, 2] = np.inf
    (w,) = on_cuda(W)
    w.requires_grad_(True)
    w[lf.tensor(index, device="cuda")].backward(lf.tensor(G, device="cuda"))
    with lf.profile() as prof:
        got = w.grad.numpy()
    assert any(k.name.startswith("matmul") for k in prof.kernels), [k.name for k in prof.kernels]
    expected = np.zeros_like(W)
    np.add.at(expected, index, G)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.isinf(got).sum() == 1


def test_every_generated_kernel_compiles_for_sm80_and_sm90():
    """Runs last in this file: compiles every kernel the tests above generated."""
    from lazyfuse.kernels.triton_compile import compile_in_child
    from lazyfuse.runtime.triton_device import TritonKernelLoader
    rendered = list(TritonKernelLoader.generated.values())
    assert rendered, "no Triton kernel was generated"
    results = compile_in_child(rendered)
    failures = {k: v for k, v in results.items() if v != "ok"}
    assert not failures, failures
    assert len(results) == 2 * len(rendered)
    print(f"\n{len(rendered)} distinct Triton kernels compiled for sm_80 and sm_90")


def test_a_captured_training_step_replays_on_the_triton_path(rng):
    """lazyfuse.capture replays through the device's own launch: here Triton's launcher."""
    from test_capture import regression_state, regression_step
    x, y, w, b = regression_state(rng, rows=16, features=4)
    on_opencl = [lf.tensor(x), lf.tensor(y), lf.tensor(w, requires_grad=True), lf.tensor(b, requires_grad=True)]
    on_triton = [lf.tensor(a, device="cuda", requires_grad=i >= 2) for i, a in enumerate((x, y, w, b))]
    eager, captured = regression_step(*on_opencl), lf.capture(regression_step(*on_triton))
    for _ in range(4):
        assert captured().item() == pytest.approx(eager().item(), rel=1e-5)
    np.testing.assert_allclose(on_triton[2].detach().numpy(), on_opencl[2].detach().numpy(), rtol=1e-5)
    assert captured.replays == 2


def test_selection_and_composites_stay_on_the_device():
    """Indices given as lists are uploaded to the indexed tensor's device."""
    X = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(np.float32)
    (x,) = on_cuda(X)
    np.testing.assert_array_equal(x[[0, 2], :, [1, 0]].numpy(), X[[0, 2], :, [1, 0]])
    index = np.zeros((4, 2, 3), np.int64)
    np.testing.assert_array_equal(x.gather(1, on_cuda(index)[0]).numpy(), np.take_along_axis(X, index, 1))
    y = x * 1
    y[:, [1, 3]] = 2.0
    expected = X.copy()
    expected[:, [1, 3]] = 2.0
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(x.round().numpy(), np.round(X))
    np.testing.assert_array_equal(x.diagonal(0, 0, 1).numpy(), np.diagonal(X, 0, 0, 1))
    np.testing.assert_array_equal(x.sort(1).values.numpy(), np.sort(X, 1))


def test_generated_kernel_files_are_removed_when_the_process_ends(tmp_path):
    """Triton reads kernels from files: the interpreter's and the compile check's
    files go to the temporary directory and leave with the process."""
    import os
    import subprocess
    import sys
    script = ("import numpy as np, lazyfuse as lf\n"
              "from lazyfuse.kernels.triton_compile import compile_in_child\n"
              "from lazyfuse.runtime.triton_device import TritonKernelLoader\n"
              "(lf.tensor(np.ones(4, np.float32), device='cuda') * 2).numpy()\n"
              "results = compile_in_child(list(TritonKernelLoader.generated.values()))\n"
              "assert results and set(results.values()) == {'ok'}, results\n")
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), TRITON_INTERPRET="1")
    (tmp_path / "tmp").mkdir()
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    assert list((tmp_path / "tmp").iterdir()) == []
