"""Kernel counts through lazyfuse.profile(): what fuses, and fused == unfused == reference."""
from __future__ import annotations

import re

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check


def kernels(*tensors) -> int:
    with lf.profile() as prof:
        lf.realize(*tensors)
    return len(prof.kernels)


@pytest.fixture
def ab(rng):
    a = lf.tensor(rng.standard_normal((1000, 1000), dtype=np.float32))
    b = lf.tensor(rng.standard_normal((1000, 1000), dtype=np.float32))
    return a, b


def chain(a, b):
    return ((a + b) * a - b).sin().mul(2.0).add(a.abs()).tanh()


def test_eight_op_chain_is_one_kernel(ab):
    out = chain(*ab)
    assert kernels(out) == 1
    check(out)


def test_chain_then_sum_is_one_or_two_kernels(ab):
    out = chain(*ab).sum()
    assert kernels(out) <= 2
    check(out, rtol=1e-4)


def test_mean_squared_error_is_at_most_two_kernels(ab):
    a, b = ab
    out = ((a - b) ** 2).mean()
    assert kernels(out) <= 2
    check(out, rtol=1e-5)


def test_softmax_is_one_kernel(rng):
    x = lf.tensor(rng.standard_normal((512, 1024), dtype=np.float32))
    for fn in (lambda t: t.softmax(-1), lambda t: t.log_softmax(-1), lambda t: t.logsumexp(-1),
               lambda t: t.var(-1)):
        out = fn(x)
        assert kernels(out) == 1
        check(out, rtol=1e-5, atol=1e-6)


def test_softmax_computes_each_exp_once(rng):
    """The sum loop keeps exp(x - max) in the output buffer; the output loop only divides."""
    x = lf.tensor(rng.standard_normal((3, 37), dtype=np.float32))
    out = x.softmax(-1)
    with lf.profile() as prof:
        out.realize()
    source = prof.kernels[0].source
    # one exp in the vector loop and one in the scalar tail: none in the output loop
    assert source.count("exp(") == 2, source
    check(out, rtol=1e-5, atol=1e-6)


def test_views_feeding_elementwise_add_no_copy_kernel(ab):
    a, b = ab
    for out in (a.T + b, a[1:, ::2] * b[:-1, 1::2], a.T[::3] - 1):
        assert kernels(out) == 1
        check(out)


def test_sibling_reductions_share_a_kernel(rng):
    x = lf.tensor(rng.standard_normal((256, 4096), dtype=np.float32))
    total, biggest = x.sum(1), x.amax(1)
    assert kernels(total, biggest) == 1
    check(total, rtol=1e-4, atol=1e-4)
    check(biggest)


@pytest.mark.parametrize("rows", [1000, 65536])  # one stage, and two (partial sums, then their sum)
def test_sibling_reductions_naming_different_size_one_dims_share_a_kernel(rng, rows):
    x = lf.tensor(rng.standard_normal((rows, 1), dtype=np.float32))
    squares, doubled = (x * x).sum(), (x * 2).sum(0)  # over (0, 1) and over (0,): the same rows
    separately = kernels(lf.tensor(x.numpy()).sum())
    assert kernels(squares, doubled) == separately
    check(squares, (x.numpy().astype(np.float64) ** 2).sum(), rtol=1e-4)
    check(doubled, 2 * x.numpy().astype(np.float64).sum(0), rtol=1e-4, atol=1e-3)


def test_reduction_epilogue_fuses(rng):
    x = lf.tensor(rng.standard_normal((300, 700), dtype=np.float32))
    out = (x.exp().sum(1) * 2 + 1).log()
    assert kernels(out) == 1
    check(out, rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 4), (40, 50)])  # the vector loop compiled only, and run too
def test_a_reduction_realised_with_its_expansion_over_the_reduced_dim(rng, shape):
    """The expansion is stored from the reduction's kernel, one value per row spread
    over the row's elements (found by the random-graph test: it failed to compile)."""
    a = rng.standard_normal(shape, dtype=np.float32)
    x = lf.tensor(a)
    total = x.sum(0)
    spread = total.unsqueeze(0).expand(*shape)
    lf.realize(x.tanh(), total, spread)
    check(spread, np.broadcast_to(a.astype(np.float64).sum(0), shape), rtol=1e-5)


def test_unfused_mode_runs_one_kernel_per_op(ab, monkeypatch):
    a, b = ab
    monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    out = chain(a, b)
    assert kernels(out) == 8
    check(out)


def test_refusals_are_logged(rng, monkeypatch, capsys):
    monkeypatch.setenv("LAZYFUSE_DEBUG", "1")
    x = lf.tensor(rng.standard_normal((64, 64), dtype=np.float32))
    (x.sum(0, keepdim=True).T + x).realize()  # a reduction read through a transpose is materialised
    err = capsys.readouterr().err
    assert "not fusing SUM" in err and "view" in err


def test_fused_and_unfused_agree(rng, fusion):
    x = lf.tensor(rng.standard_normal((33, 65), dtype=np.float32))
    y = lf.tensor(rng.standard_normal((65,), dtype=np.float32))
    out = ((x * y).softmax(1) - x.mean(0)).abs().sum(0) / (x.T @ x).amax()
    check(out, rtol=1e-5)


def test_equal_subgraphs_are_one_node_and_dead_nodes_leave_the_interning_table(rng):
    from lazyfuse.runtime import graph
    x = lf.tensor(rng.standard_normal(64, dtype=np.float32))
    assert (x * 2 + 1).node is (x * 2 + 1).node
    graph._sweep_interned()  # the threshold follows the live nodes, whatever earlier tests left
    limit = graph.Node._sweep_at
    for i in range(limit + graph.MIN_SWEEP_ENTRIES):  # each made and dropped: the table is swept
        x * float(i)
    dead = sum(ref() is None for ref in graph.Node._interned.values())
    assert dead <= limit  # without sweeps, all of them
    # keys of dead nodes name ids that new nodes may reuse: those get nodes of their own
    for i in range(50):
        y = lf.tensor(np.full(64, i, np.float32))
        check(y * 3 + x, np.full(64, 3.0 * i, np.float32) + x.numpy())


def test_same_computation_on_new_data_compiles_nothing(ab, rng):
    from lazyfuse.runtime.devices import backend
    chain(*ab).realize()
    programs = len(backend("cpu").rt._programs)
    for _ in range(2):
        a, b = (lf.tensor(rng.standard_normal((1000, 1000), dtype=np.float32)) for _ in range(2))
        check(chain(a, b))
    assert len(backend("cpu").rt._programs) == programs


def test_repeated_computation_reuses_its_schedule(rng, monkeypatch):
    from lazyfuse.runtime import schedule
    calls = []
    original = schedule.Scheduler.schedule
    monkeypatch.setattr(schedule.Scheduler, "schedule", lambda self, targets: calls.append(1) or original(self, targets))
    w = lf.tensor(rng.standard_normal(64, dtype=np.float32), requires_grad=True)
    x = lf.tensor(rng.standard_normal((32, 64), dtype=np.float32))
    per_step = []
    for step in range(4):
        before = len(calls)
        loss = ((x * w).sum(1) - 1).pow(2).mean()
        loss.backward()
        with lf.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
        loss.item()
        per_step.append(len(calls) - before)
    assert per_step[0] > 0
    assert per_step[2:] == [0, 0], per_step  # steps after warm-up schedule nothing


def test_built_programs_are_reused_from_disk(tmp_path, monkeypatch):
    """A new process loads a program built before from LAZYFUSE_CACHE_DIR: the
    second run builds nothing from source."""
    import subprocess
    import sys
    script = ("import numpy as np, lazyfuse as lf, pyopencl as cl\n"
              "built = []\n"
              "original = cl.Program.build\n"
              "def build(self, *a, **k):\n"
              "    built.append(self.get_info(cl.program_info.SOURCE) != '')\n"
              "    return original(self, *a, **k)\n"
              "cl.Program.build = build\n"
              "x = lf.tensor(np.arange(5, dtype=np.float32))\n"
              "print(((x * 3).exp() + 1).sum().item(), sum(built))\n")
    env = dict(__import__("os").environ, LAZYFUSE_CACHE_DIR=str(tmp_path))
    first, second = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                    check=True).stdout.split() for _ in range(2))
    expected = float((np.exp(np.arange(5, dtype=np.float32) * 3) + 1).sum())
    assert np.isclose(float(first[0]), expected, rtol=1e-5) and float(second[0]) == float(first[0])
    assert int(first[1]) >= 1 and int(second[1]) == 0  # programs built from source: some, then none
    assert list(tmp_path.glob("opencl/*.bin"))


def test_a_chain_of_thousands_of_ops_is_cut_into_kernels():
    # one kernel per MAX_FUSED_DEPTH ops: a single kernel of them all overflowed the
    # renderer's recursion (and PoCL's compiler, at 100,000 ops)
    from lazyfuse.runtime.schedule import MAX_FUSED_DEPTH
    x = np.array([0.5, -2.0], np.float32)
    y = lf.tensor(x)
    for _ in range(2 * MAX_FUSED_DEPTH + 500):
        y = y * 1.0001
    with lf.profile() as prof:
        got = y.numpy()
    np.testing.assert_allclose(got, x.astype(np.float64) * 1.0001 ** (2 * MAX_FUSED_DEPTH + 500), rtol=1e-4)
    assert len(prof.kernels) == 3


def _shifted(y, by: int):
    """y moved `by` places along its last dim, zeros shifted in (a view)."""
    n = y.shape[-1]
    return y._pad(((0, 0), (by, 0)))[:, :n] if by > 0 else y._pad(((0, 0), (0, -by)))[:, -by:]


def test_work_read_at_several_indices_is_stored_every_few_steps():
    """A prefix sum by doubling shifts (12 steps) and an iterated 3-point stencil
    (10 steps) read each step's result at several indices: fused whole, each step
    would double (or triple) the work and the kernel's source. Stored every few
    steps instead, they compile in seconds and match numpy."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4096))
    y, shift = lf.tensor(x), 1
    while shift < x.shape[1]:
        y, shift = y + _shifted(y, shift), shift * 2
    with lf.profile() as prof:
        got = y.numpy()
    np.testing.assert_allclose(got, np.cumsum(x, 1), rtol=1e-9, atol=1e-9)
    assert 2 <= len(prof.kernels) <= 6  # a kernel each two or three steps
    z, expected = lf.tensor(x), x
    for _ in range(10):
        z = (_shifted(z, 1) + z + _shifted(z, -1)) / 3
        padded = np.pad(expected, ((0, 0), (1, 1)))
        expected = (padded[:, :-2] + expected + padded[:, 2:]) / 3
    with lf.profile() as prof:
        got = z.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert 2 <= len(prof.kernels) <= 10


def test_a_stored_reduction_read_at_other_rows_is_loaded_there(rng):
    """Work reading a stored reduction both at its rows and shifted to other rows
    cannot join the reduction's kernel, which knows each row's value only at that
    row (it used to read its own row's value at the shifted index)."""
    a = rng.standard_normal((5, 7), dtype=np.float32)
    x = lf.tensor(a)
    sums = x.sum(0)
    np.testing.assert_allclose((sums + lf.cat([lf.zeros(1), sums[:-1]])).numpy(),
                               a.sum(0) + np.concatenate([[0], a.sum(0)[:-1]]), rtol=1e-5, atol=1e-6)
    top = np.tanh(a.max(0))
    np.testing.assert_allclose(x.amax(0).tanh().cumsum(0).numpy(), np.cumsum(top), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("column", [0, 2])
def test_a_column_spread_over_a_row_kernels_rows_is_read_at_its_own_positions(column):
    """A matrix's column spread along rows is no per-row value of a row kernel (whose
    per-row values are read at the row's index): column 0's view equals the matrix
    "expanded" to fewer columns, and was read at position `row` (wrong gradients of
    adaptive max pooling came from it)."""
    w, x = np.arange(1.0, 7.0).reshape(2, 3), np.array([[1.0, 2.0], [3.0, 5.0]])
    spread = (lf.tensor(w) * 2)[:, column:column + 1].expand(2, 2)
    out = (lf.tensor(x) * spread) / lf.tensor(x).sum(1, keepdim=True)
    check(out, x * 2 * w[:, column:column + 1] / x.sum(1, keepdims=True))


def test_cheap_work_read_at_two_indices_stays_fused(rng):
    a = rng.standard_normal((64, 64), dtype=np.float32)
    x = lf.tensor(a)
    doubled = x * 2
    with lf.profile() as prof:
        got = (doubled + doubled.T).numpy()
    np.testing.assert_allclose(got, 2 * a + 2 * a.T, rtol=1e-6)
    assert len(prof.kernels) == 1


# ---------------------------------------------------------------- lane reductions
# rows long enough that a column reduction over them splits across work-items
LANE_ROWS = 16384


def _bytes_moved(*tensors) -> int:
    """The bytes of the buffers the kernels computing `tensors` take as arguments."""
    with lf.profile() as prof:
        lf.realize(*tensors)
    return sum(k.bytes for k in prof.kernels)


@pytest.fixture(params=[True, False], ids=["lanes", "no lanes"])
def lanes(request, monkeypatch):
    """With lane reductions, and without them (to show what they save)."""
    if not request.param:
        from lazyfuse.runtime import realize, schedule
        monkeypatch.setattr(schedule.Scheduler, "_lanes_hold_rows", lambda self, st: False)
        monkeypatch.setattr(realize, "_schedules", type(realize._schedules)())
    return request.param


@pytest.mark.parametrize("features", [16, 32])
def test_a_regression_step_reads_x_once_for_the_forward_and_the_weight_gradient(rng, lanes, features):
    xs = rng.standard_normal((LANE_ROWS, features), dtype=np.float32)
    ys = rng.standard_normal((LANE_ROWS, 1), dtype=np.float32)
    ws = rng.standard_normal((features, 1), dtype=np.float32)
    x, y = lf.tensor(xs), lf.tensor(ys)
    w, b = lf.tensor(ws, requires_grad=True), lf.tensor(np.full(1, 0.5, np.float32), requires_grad=True)
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()  # small enough to leave the loss and gradients to the next schedule
    moved = _bytes_moved(loss, w.grad, b.grad)
    assert (moved < 1.5 * xs.nbytes) if lanes else (moved > 2 * xs.nbytes)
    err = xs.astype(np.float64) @ ws + 0.5 - ys
    np.testing.assert_allclose(loss.item(), (err ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), 2 * xs.T.astype(np.float64) @ err / LANE_ROWS, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), 2 * err.sum(0) / LANE_ROWS, rtol=1e-4, atol=1e-6)


LANE_CASES = {
    # x.T @ (x @ w) written as reductions: the inner one is only read spread over the rows
    "sum": (lambda x, w: (x * (x * w).sum(1, keepdim=True)).sum(0),
            lambda x, w: (x * (x * w).sum(1, keepdims=True)).sum(0)),
    "max": (lambda x, w: (x * (x * w).amax(1, keepdim=True)).sum(0),
            lambda x, w: (x * (x * w).max(1, keepdims=True)).sum(0)),
    # two lane reductions, and one whose input reads the other spread over the rows
    "two": (lambda x, w: (x * (x * w).sum(1, keepdim=True) + x * (x * x).sum(1, keepdim=True)).sum(0),
            lambda x, w: (x * (x * w).sum(1, keepdims=True) + x * (x * x).sum(1, keepdims=True)).sum(0)),
    "nested": (lambda x, w: (x * (x * (x * w).sum(1, keepdim=True)).sum(1, keepdim=True)).sum(0),
               lambda x, w: (x * (x * (x * w).sum(1, keepdims=True)).sum(1, keepdims=True)).sum(0)),
    # also read at the kernel's rows, through a slice: read from its buffer there and everywhere
    "read elsewhere too": (lambda x, w: (x * (x * w).sum(1, keepdim=True)).sum(0) + (x * w).sum(1)[:x.shape[1]],
                           lambda x, w: (x * (x * w).sum(1, keepdims=True)).sum(0) + (x * w).sum(1)[:x.shape[1]]),
    # also read by a kernel the column reduction's kernel reads: stored first, by its own kernel
    "stored before": (lambda x, w: (x * ((x * w).sum(1, keepdim=True) + (x * w).sum(1)[:8].sum())).sum(0),
                      lambda x, w: (x * ((x * w).sum(1, keepdims=True) + (x * w).sum(1)[:8].sum())).sum(0)),
}


@pytest.mark.parametrize("case", LANE_CASES)
@pytest.mark.parametrize("columns", [24, 64, 12, 128])  # 12 and 128 do not fit the lanes
def test_lane_reductions_match_numpy(rng, case, columns):
    fn, numpy_fn = LANE_CASES[case]
    xs = rng.standard_normal((LANE_ROWS, columns), dtype=np.float32)
    ws = rng.standard_normal(columns, dtype=np.float32)
    out = fn(lf.tensor(xs), lf.tensor(ws))
    expected = numpy_fn(xs.astype(np.float64), ws.astype(np.float64))
    # columns summing to near zero carry the float32 rounding of the largest ones
    check(out, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max() + 1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
@pytest.mark.parametrize("rows_first", [True, False])  # rows first: lanes gather a stride apart
def test_lane_reductions_in_other_dtypes_and_layouts(rng, dtype, rows_first):
    xs = (rng.standard_normal((LANE_ROWS, 24)) * 0.1).astype(dtype)
    ws = rng.standard_normal(24).astype(dtype)
    if rows_first:
        x, w = lf.tensor(np.ascontiguousarray(xs.T)), lf.tensor(ws)
        out = (x * (x * w[:, None]).sum(0, keepdim=True)).sum(1)
    else:
        x, w = lf.tensor(xs), lf.tensor(ws)
        out = (x * (x * w).sum(1, keepdim=True)).sum(0)
    xd, wd = xs.astype(np.float64), ws.astype(np.float64)
    got = out.numpy()
    assert got.dtype == dtype
    # against float64 sums only: the reference executor's float16 sums round every step
    tol = dict(rtol=1e-2, atol=5e-2) if dtype == np.float16 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got.astype(np.float64), (xd * (xd @ wd)[:, None]).sum(0), **tol)


@pytest.mark.parametrize("columns, prefetches", [(64, 4), (8, 0)])
def test_a_work_item_walking_rows_prefetches_each_line_of_the_rows_ahead(rng, columns, prefetches):
    """A column sum's work-item reads a row per step: rows of 256 bytes are prefetched
    PREFETCH_BYTES ahead, once per 64-byte line; rows of 32 bytes are next to each
    other, which the hardware prefetches by itself."""
    from lazyfuse.kernels.opencl import PREFETCH_BYTES
    xs = rng.standard_normal((LANE_ROWS, columns), dtype=np.float32)
    with lf.profile() as prof:
        out = (lf.tensor(xs) * 2).sum(0).realize()
    source = prof.kernels[0].source
    assert source.count("__builtin_prefetch") == prefetches
    if prefetches:
        assert f"+ {PREFETCH_BYTES // 4}, 0, 3);" in source
    check(out, (xs.astype(np.float64) * 2).sum(0), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_column_variance_walks_whole_rows_in_each_phase(rng, dtype):
    """A batch norm's statistics over dim 0: the variance's phase reads the mean's result.
    Lanes hold columns in both phases (each step reads a row's line), where they walked
    down a column with one gather per lane (BatchNorm1d over 512x256: 3.1 -> ~0.1 ms)."""
    xs = rng.standard_normal((512, 256)).astype(dtype)
    x = lf.tensor(xs)
    mean = x.mean(0, keepdim=True)
    with lf.profile() as prof:
        rstd = (((x - mean) ** 2).mean(0) + 1e-5).rsqrt().realize()
    (kernel,) = prof.kernels
    assert kernel.source.count("for (int r = r_begin; r < r_end; r++)") == 2, kernel.source
    assert "rblock" in kernel.source  # a work-item's rows are its lanes
    xd = xs.astype(np.float64)
    check(rstd, 1 / np.sqrt(((xd - xd.mean(0)) ** 2).mean(0) + 1e-5), rtol=1e-5 if dtype == np.float32 else 1e-12)


GATHER = re.compile(r"\(float8\)\(in\d+\[")  # a vector assembled from one load per lane


def test_a_batch_norms_gradient_keeps_columns_in_lanes_where_it_writes_full_rows(rng):
    """BatchNorm1d over 512x256, forward and backward: the kernels that reduce over the
    batch and also write values of the full shape (the input's gradient) hold columns in
    their lanes like the statistics do, reading and writing whole lines; they walked down
    each column with one load per lane (the model's kernel 1.7 -> 0.3 ms)."""
    xs, gs = (rng.standard_normal((512, 256)).astype(np.float32) for _ in range(2))
    x = lf.tensor(xs, requires_grad=True)
    out = lf.nn.BatchNorm1d(256)(x)
    with lf.profile() as prof:
        (out * lf.tensor(gs)).sum().backward()
        grad = x.grad.numpy()
    assert not [k.name for k in prof.kernels if GATHER.search(k.source)]
    xd, gd = xs.astype(np.float64), gs.astype(np.float64)
    inv = 1 / np.sqrt(xd.var(0) + 1e-5)
    xhat = (xd - xd.mean(0)) * inv
    expected = inv / 512 * (512 * gd - gd.sum(0) - xhat * (gd * xhat).sum(0))
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4)


def test_lanes_along_a_row_read_a_transposed_input_as_one_vector(rng):
    """(a.T + b).sum(0): lanes walk each row, a's contiguous dim. A vector step's lane 0
    is at most R - W, so its lanes stay in one row and read one vector (they were
    gathered, a division per lane: 2048x4096, 5.0 -> 2.3-2.9 ms); b, the same for
    every lane of a row, is one load."""
    a, b = rng.standard_normal((256, 512)).astype(np.float32), rng.standard_normal(256).astype(np.float32)
    out = (lf.tensor(a).T + lf.tensor(b)).sum(0)
    with lf.profile() as prof:
        out.realize()
    (kernel,) = prof.kernels
    assert not GATHER.search(kernel.source) and "float8_unaligned*)(in" in kernel.source, kernel.source
    check(out, (a.astype(np.float64).T + b).sum(0), rtol=1e-5, atol=1e-4)


def test_lanes_moving_along_broadcast_dims_only_read_one_element(rng):
    """A 0-d tensor spread over 4x65 (a learning rate, a loss scale): a vector's lanes may
    cross from one row into the next, but every dim they move along repeats the one
    element, so they read it once (it was a gather of 8 copies)."""
    xs = rng.standard_normal((4, 65)).astype(np.float32)
    scale = lf.tensor(np.float32(3.0)).realize()
    out = lf.tensor(xs) * scale
    with lf.profile() as prof:
        out.realize()
    (kernel,) = prof.kernels
    assert not GATHER.search(kernel.source), kernel.source
    check(out, xs * np.float32(3.0), rtol=0, atol=0)


def test_a_lane_reduction_read_only_spread_over_the_rows_is_not_stored(rng):
    x = lf.tensor(rng.standard_normal((LANE_ROWS, 24), dtype=np.float32))
    w = lf.tensor(rng.standard_normal(24, dtype=np.float32))
    out = (x * (x * w).sum(1, keepdim=True)).sum(0)
    assert kernels(out) == 2  # the column sum's two stages; x @ w has no kernel of its own


def test_a_lane_reduction_another_kernel_reads_is_stored_by_the_column_reduction(rng, lanes):
    xs = rng.standard_normal((LANE_ROWS, 24), dtype=np.float32)
    ws = rng.standard_normal(24, dtype=np.float32)
    x, w = lf.tensor(xs), lf.tensor(ws)
    product = (x * w).sum(1, keepdim=True)
    columns, mean = (x * product).sum(0), product.mean()
    moved = _bytes_moved(columns, mean)
    assert (moved < 1.5 * xs.nbytes) if lanes else (moved > 2 * xs.nbytes)
    xd = xs.astype(np.float64)
    check(columns, (xd * (xd @ ws)[:, None]).sum(0), rtol=1e-4, atol=1e-3)
    check(mean, (xd @ ws).mean(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype, lane_bytes", [(np.float32, 4), (np.float64, 8)])
def test_pointwise_and_row_kernels_use_the_devices_native_vector_width(rng, dtype, lane_bytes):
    """Vectors as wide as the device's own (16 floats with AVX-512, at least 8), while a
    kernel whose lanes hold rows keeps 8 lanes, the multiple the scheduler sized it for."""
    from lazyfuse.kernels.opencl import MOST_LANES
    from lazyfuse.runtime.devices import backend
    lanes = min(MOST_LANES, max(32, backend("cpu").rt.native_vector_bytes) // lane_bytes)
    ctype = {np.float32: "float", np.float64: "double"}[dtype]
    x = rng.standard_normal((64, 4096)).astype(dtype)
    with lf.profile() as prof:
        exps = lf.tensor(x).exp().realize()
        rows = lf.tensor(x).softmax(1).realize()
        columns = lf.tensor(x).sum(0).realize()
    pointwise, row, column = (k.source for k in prof.kernels)
    assert f"{ctype}{lanes} " in pointwise and f"{ctype}{lanes} " in row
    assert f"{ctype}{32 // lane_bytes} " in column and f"{ctype}{2 * 32 // lane_bytes} " not in column
    check(exps, np.exp(x))
    check(rows, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    check(columns, x.sum(0), rtol=1e-5, atol=1e-3)


def _scalar_updates(rng):
    """A counter and a decay factor updated in place (as a generator's counter and an
    optimizer's step are), each one element, with the values they must end with."""
    count, decay = lf.tensor(np.array(5, np.int64)), lf.tensor(np.float32(0.5))
    with lf.no_grad():
        count.add_(3)
        decay.mul_(0.9)
    return (count, 8), (decay, np.float32(0.5) * np.float32(0.9))


def _check_updates(updates) -> None:
    for tensor, expected in updates:
        check(tensor, expected)


@pytest.mark.parametrize("host, expected", [(lambda x, w: x * 2 + 1, 1), (lambda x, w: (x * x).sum(), 1),
                                            (lambda x, w: x.reshape(40, 25).softmax(-1), 1),
                                            (lambda x, w: x.reshape(40, 25) @ w, 2),  # not a tiled product
                                            # nor a kernel with no work-items (launched, it would not run)
                                            (lambda x, w: x[:0] * 2, 1)],
                         ids=["map", "sum", "softmax", "matmul", "empty"])
def test_one_element_kernels_ride_in_another_kernel_of_the_schedule(rng, host, expected):
    x = lf.tensor(rng.standard_normal(1000).astype(np.float32))
    w = lf.tensor(rng.standard_normal((25, 30)).astype(np.float32))
    updates = _scalar_updates(rng)
    out = host(x, w)
    assert kernels(out) == expected  # the updates were deferred to this schedule
    _check_updates(updates)
    check(out, rtol=1e-5)


def test_a_rider_comes_after_what_it_reads_and_before_its_readers(rng):
    x = lf.tensor(rng.standard_normal((64, 32)).astype(np.float32))
    y = lf.tensor(rng.standard_normal(100).astype(np.float32))
    # a one-element kernel reading a stored reduction: it rides in a later kernel
    column_sums = x.sum(0)
    picked = column_sums[3] * 2
    assert kernels(picked, y + 1) == 2
    check(picked, 2 * x.numpy().astype(np.float64).sum(0)[3], rtol=1e-5)
    # one whose value a later kernel reads from its buffer: it rides in an earlier one
    scale = picked + 1
    first, scaled = y * 3, y * scale
    assert kernels(first, scale, scaled) == 2
    for t in (first, scale, scaled):
        check(t, rtol=1e-5)
    # with nothing before its reader, it stays a kernel of its own
    again = picked - 1
    assert kernels(again, y * again) == 2


def test_unfused_one_element_kernels_stay_on_their_own(rng, monkeypatch):
    monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    x = lf.tensor(rng.standard_normal(1000).astype(np.float32))
    updates = _scalar_updates(rng)
    out = x * 2
    assert kernels(out) == 3
    _check_updates(updates)


def test_work_needed_at_several_indices_through_ops_above_it_is_stored_once(rng):
    x = lf.tensor(rng.standard_normal(1000).astype(np.float32))
    y = (x.sin() * 2 + 1).exp()
    a, b = y + 1, y * 2  # each read at one index, but different ones: y is needed at two
    out = a[1:] + b[:-1]
    assert kernels(out) == 2
    check(out)


def test_a_lazy_tensor_read_step_after_step_is_stored_by_the_third_schedule(rng):
    """`x = randn(...)` read by every step (PyTorch's tutorials): its draws ran again in
    every kernel reading it, in every step (a tutorial's step 10x slower). A value
    two schedules computed without storing it is stored by the third."""
    lf.manual_seed(0)
    x = lf.randn(64, 32)
    w = rng.standard_normal((32, 8)).astype(np.float32)
    results, names = [], []
    for _ in range(5):
        with lf.profile() as prof:
            results.append((x @ lf.tensor(w)).relu().sum(0).numpy())
        names.append([k.name for k in prof.kernels])
    assert [any("rand" in n for n in step) for step in names] == [True, True, True, False, False], names
    assert x.node.is_realized
    for got in results:
        np.testing.assert_allclose(got, np.maximum(x.numpy() @ w, 0).sum(0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_work_on_per_row_values_only_is_computed_once_per_row(rng, dtype):
    """A comparison of two values read once per row (broadcast over it), inside a
    row reduction's vector loop, was a scalar that convert_charN could not take: the
    kernel failed to build (found by the random-graph test)."""
    xs = rng.standard_normal((7, 13)).astype(dtype)
    a, b = (rng.standard_normal((7, 1)).astype(dtype) for _ in range(2))
    x, ra, rb = lf.tensor(xs), lf.tensor(a), lf.tensor(b)
    out = lf.where(ra.expand(7, 13) < rb.expand(7, 13), x, -x).sum(1)  # compared at every element
    check(out, np.where(a < b, xs, -xs).sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ops, unrolled", [(2, True), (24, False)])
def test_only_a_short_reduction_body_is_unrolled(rng, ops, unrolled):
    """A row's sum keeps REDUCE_UNROLL vector accumulators when its body is short (the
    adds would wait on each other); a body of UNROLLED_OPS or more is emitted once per
    loop: it hides the adds' latency itself, and its copies only lengthen the source
    PoCL compiles (a DCGAN-style generator's cold first step 29 -> 21 s)."""
    from lazyfuse.kernels.opencl import UNROLLED_OPS
    a = rng.standard_normal((16, 4096)).astype(np.float32)
    x = lf.tensor(a)
    body, expected = x, a.astype(np.float64)
    for i in range(ops // 2):  # two ops a step
        body, expected = (body * 0.5).sin(), np.sin(expected * 0.5)
    assert (ops >= UNROLLED_OPS) != unrolled
    with lf.profile() as prof:
        out = body.sum(1).numpy()
    (source,) = [k.source for k in prof.kernels]
    assert ("r += 32" in source or "r += 64" in source) == unrolled  # four vectors of 8 or 16 lanes a step
    np.testing.assert_allclose(out, expected.sum(1), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("inputs, stretches", [(1, 4), (2, 2), (3, 1)])
def test_a_long_reduction_reads_its_inputs_from_several_stretches_at_once(rng, inputs, stretches):
    """Each work-item's part of a long sum is read from up to STREAMS places at once,
    counted over its inputs (the prefetchers follow each as a stream), a cache line
    of each a step, and whatever the stretches leave, by vectors then scalars, is
    summed too: a length that is no multiple of the parts, the stretches or the lanes
    sums every element once."""
    from lazyfuse.kernels.opencl import CACHE_LINE_BYTES, STREAMS
    n = (1 << 22) + 13
    arrays = [rng.standard_normal(n).astype(np.float32) for _ in range(inputs)]
    xs = [lf.tensor(a) for a in arrays]
    term, expected = xs[0], arrays[0].astype(np.float64)
    for x, a in zip(xs[1:], arrays[1:]):
        term, expected = term * x, expected * a
    with lf.profile() as prof:
        out = term.sum().item()
    first_stage = prof.kernels[0].source
    assert stretches == max(1, STREAMS // inputs)
    assert f"r = r_begin + {stretches} * stretch;" in first_stage
    assert (f"r < r_begin + stretch; r += {CACHE_LINE_BYTES // 4}) {{" in first_stage) == (stretches > 1)
    assert ("r + 3 * stretch" in first_stage) == (stretches == 4)
    np.testing.assert_allclose(out, expected.sum(), rtol=1e-4, atol=1e-2)


def test_a_short_row_is_read_as_one_stretch(rng):
    """Rows of 16 KiB, one a work-item (softmax's), measured no faster read from
    several stretches: each row is read from its start to its end."""
    a = rng.standard_normal((8, 4096)).astype(np.float32)
    with lf.profile() as prof:
        out = lf.tensor(a).sum(1).numpy()
    (source,) = [k.source for k in prof.kernels]
    assert "r = r_begin + 1 * stretch;" in source
    np.testing.assert_allclose(out, a.astype(np.float64).sum(1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("steps", [12, 24])
def test_a_recurrence_through_products_stores_each_steps_state_once(rng, steps):
    """c_t = c_{t-1} * sigmoid(h_{t-1} @ W) + x_t, h_t = tanh(c_t): each step's product
    is a kernel of its own, and every later step's kernel reads c. Computed inline,
    the kernel of step t would evaluate the whole chain c_1..c_t (an LSTM's backward
    did so for its cell-state gradient); stored once, no kernel's work grows with the
    number of steps."""
    W = rng.standard_normal((32, 32)).astype(np.float32) * 0.1
    x = rng.standard_normal((steps, 16, 32)).astype(np.float32)
    h, c = np.zeros((16, 32), np.float32), np.zeros((16, 32), np.float32)
    lh, lc, lW, lx = lf.tensor(h), lf.tensor(c), lf.tensor(W), lf.tensor(x)
    for t in range(steps):
        c = c * (1 / (1 + np.exp(-(h @ W)))) + x[t]
        h = np.tanh(c)
        lc = lc * (lh @ lW).sigmoid() + lx[t]
        lh = lc.tanh()
    with lf.profile() as prof:
        lh.realize()
    # a step's sigmoid and tanh, in a kernel's vector and scalar code: tens of exp calls,
    # not hundreds (144 at 12 steps, 288 at 24 when the chain was recomputed)
    assert max(k.source.count("exp(") for k in prof.kernels) <= 40, [k.name for k in prof.kernels]
    check(lh, h, rtol=1e-5, atol=1e-5)
