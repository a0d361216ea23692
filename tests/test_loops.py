"""Loops whose steps differ in a Python number (runtime/changing_constants.py) or
in which slice of a tensor they read (parts of buffers, runtime/movement.py):
after the second step a computation is not scheduled again (so it builds no new
programs), and every step's result equals numpy's."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from conftest import recurrence, recurrence_reference


@pytest.fixture
def scheduled(monkeypatch):
    """The graphs scheduled from now on (one entry each): a cached schedule is not."""
    from lazyfuse.runtime.schedule import Scheduler
    scheduled, original = [], Scheduler.schedule
    monkeypatch.setattr(Scheduler, "schedule", lambda *args: scheduled.append(1) or original(*args))
    return scheduled


def test_a_learning_rate_decayed_by_hand_builds_no_program_after_the_second_value(rng, scheduled):
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    w_ref = np.zeros((3, 1), np.float32)
    xs, ys, w = lf.tensor(x), lf.tensor(y), lf.zeros(3, 1, requires_grad=True)
    for epoch in range(8):
        if epoch == 3:  # the update is computed with the next step's schedule: its second value arrives at step 2
            scheduled.clear()
        lr = 0.5 / (1 + epoch)
        loss = ((xs @ w - ys) ** 2).mean()
        loss.backward()
        with lf.no_grad():
            w -= lr * w.grad
            w.grad.zero_()
        err = x @ w_ref - y
        np.testing.assert_allclose(loss.item(), (err * err).mean(), rtol=1e-5)
        w_ref -= np.float32(lr) * (x.T @ (2 * err / err.size))
    np.testing.assert_allclose(w.detach().numpy(), w_ref, rtol=1e-5, atol=1e-6)
    assert scheduled == []


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_a_number_changing_in_a_loop_gives_numpys_results(rng, scheduled, dtype):
    x = rng.integers(-5, 5, size=(4, 6)).astype(dtype)
    xs = lf.tensor(x)
    for k in range(2, 9):
        if k == 4:
            scheduled.clear()
        got = (xs * k + 3 * k).sum(1).numpy()
        np.testing.assert_array_equal(got, (x * dtype(k) + dtype(3 * k)).sum(1))
    assert scheduled == []


def test_a_changing_number_in_a_zero_dimensional_result(scheduled):
    x = lf.tensor(1.5)
    for c in (0.25, 2.0, -3.0, 7.5, 0.125):
        if c == 7.5:
            scheduled.clear()
        assert (x * c).item() == 1.5 * c
    assert scheduled == []


def test_a_value_seen_before_the_number_changed_is_still_right():
    x = lf.tensor(np.arange(5, dtype=np.float32))
    values = [2.0, 3.0, 4.0, 2.0, 3.0]
    assert [(x + c).numpy().tolist() for c in values] == [(np.arange(5) + c).tolist() for c in values]


def test_gradients_through_a_changing_number(rng):
    x0 = rng.standard_normal(5).astype(np.float32)
    x = lf.tensor(x0, requires_grad=True)
    for c in (0.5, 1.5, 2.5, 3.5):
        x.grad = None
        (lf.exp(x * c)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), c * np.exp(x0 * c), rtol=1e-5)


def test_on_the_triton_path(monkeypatch, scheduled):
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    xs = lf.tensor(x, device="cuda")
    for step, c in enumerate((1.5, 2.5, 3.5, 4.5)):
        if step == 2:
            scheduled.clear()
        np.testing.assert_allclose((xs[4 * (step % 2):][:4] * c - c).numpy(), x[4 * (step % 2):][:4] * c - c)
        np.testing.assert_array_equal((xs[step + 1] * 2).numpy(), x[step + 1] * 2)  # rows off the alignment: copies
    assert scheduled == []


def test_a_loop_over_batches_of_rows_runs_the_same_kernels(rng, scheduled):
    """Batches sliced by hand, X[i:i + 64]: each offset was a new kernel (~0.5 s)."""
    x, w = rng.standard_normal((640, 8)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)
    xs, ws = lf.tensor(x), lf.tensor(w)
    for i in range(0, 640, 64):
        if i == 128:
            scheduled.clear()
        np.testing.assert_allclose(((xs[i:i + 64] @ ws) ** 2).mean().item(), ((x[i:i + 64] @ w) ** 2).mean(), rtol=1e-5)
    assert scheduled == []


def test_batches_starting_between_aligned_starts_run_one_schedule(rng, scheduled):
    """Batches of 10 rows of a (200, 4) int64 tensor start 0 or 64 bytes past a part's
    aligned start in turn (PyTorch's nn.Transformer tutorial): read with that offset,
    every kernel reading them came in two versions; short runs are copied instead."""
    data = rng.integers(0, 50, (200, 4))
    table = rng.standard_normal((50, 3)).astype(np.float32)
    ds, ts = lf.tensor(data), lf.tensor(table)
    for i in range(0, 190, 10):
        got = lf.nn.functional.embedding(ds[i:i + 10], ts).sum(-1) * ds[i + 1:i + 11]
        np.testing.assert_allclose(got.numpy(), table[data[i:i + 10]].sum(-1) * data[i + 1:i + 11], rtol=1e-5)
    assert len(scheduled) == 1


def test_a_copied_batch_is_a_view_of_the_values_at_the_time_it_is_read(rng):
    """A short misaligned slice reads a copy: an in-place write to the tensor after the
    slice was taken still shows through it, as through any view in PyTorch."""
    x = rng.standard_normal((40, 3)).astype(np.float32)
    xs = lf.tensor(x)
    row = xs[5]
    xs.mul_(2)
    x *= 2
    np.testing.assert_array_equal(row.numpy(), x[5])
    row.add_(1)  # and a write through it reaches the tensor
    x[5] += 1
    np.testing.assert_array_equal(xs.numpy(), x)


def _train_mlp(rng, steps: int, after_step=lambda: None) -> list[float]:
    lf.manual_seed(0)
    x, y = lf.tensor(rng.standard_normal((64, 6)).astype(np.float32)), lf.tensor(rng.integers(0, 3, 64))
    model = lf.nn.Sequential(lf.nn.Linear(6, 8), lf.nn.LayerNorm(8), lf.nn.ReLU(), lf.nn.Linear(8, 8),
                             lf.nn.LayerNorm(8), lf.nn.Linear(8, 3))  # (the norms' zero biases: one constant)
    opt = lf.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = lf.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        after_step()
    assert all(p.node.is_realized for p in model.parameters())
    return losses


def test_a_modules_drawn_parameters_are_computed_before_its_first_call(monkeypatch, scheduled):
    """Drawn inside the first training step's kernels, the initial weights made that
    step's kernels differ from the next one's: each was compiled for one step. So did
    parameters holding one value in one buffer."""
    seen = []
    losses = _train_mlp(np.random.default_rng(0), 2, lambda: seen.append(len(scheduled)))
    assert seen[0] == seen[1] == 2  # the parameters' schedule, then one for both steps
    monkeypatch.setattr(lf.nn.Module, "_compute_state", lambda self: None)
    np.testing.assert_allclose(losses, _train_mlp(np.random.default_rng(0), 2), rtol=1e-6)


def test_empty_parameters_holding_one_value_get_buffers_of_their_own():
    """Two `Parameter()` placeholders (empty, one constant node): giving the second its
    own buffer copied zero bytes, which OpenCL refused."""
    class Model(lf.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.linear = lf.nn.Parameter(), lf.nn.Parameter(), lf.nn.Linear(2, 3)

        def forward(self, x):
            return self.linear(x)
    model = Model()
    x = np.ones((4, 2), np.float32)
    out = model(lf.tensor(x)).detach().numpy()
    w, b = model.linear.weight.detach().numpy(), model.linear.bias.detach().numpy()
    np.testing.assert_allclose(out, x @ w.T + b, rtol=1e-6)
    assert model.a.shape == model.b.shape == (0,) and model.a.node is not model.b.node


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_, np.float16])
def test_rows_at_any_offset(rng, dtype):
    """Rows of 3 elements start off the alignment of a buffer's parts: each is read from an aligned start."""
    x = (rng.standard_normal((40, 3)) * 4).astype(dtype)
    xs = lf.tensor(x)
    for t in range(39):
        np.testing.assert_array_equal(lf.where(xs[t] > xs[t + 1], xs[t], xs[t + 1]).numpy(), np.maximum(x[t], x[t + 1]))


def test_a_slice_of_a_slice_and_a_write_through_a_slice(rng):
    x = rng.standard_normal((50, 8)).astype(np.float32)
    xs = lf.tensor(x)
    inner = xs[10:50][4:20]
    np.testing.assert_array_equal(inner.numpy(), x[14:30])
    np.testing.assert_array_equal(inner[3].numpy(), x[17])
    batch = xs[8:16]
    batch += 1  # writes through to xs, as in PyTorch
    x[8:16] += 1
    np.testing.assert_array_equal(xs.numpy(), x)
    np.testing.assert_array_equal(batch.numpy(), x[8:16])
    np.testing.assert_array_equal(inner.numpy(), x[14:30])


def test_gradients_of_slices_of_a_leaf(rng):
    x0 = rng.standard_normal((12, 4)).astype(np.float32)
    x = lf.tensor(x0, requires_grad=True)
    x.detach()[4:8].sum()  # a part of the leaf's buffer, read outside autograd
    (x[4:8] * 3).sum().backward()
    expected = np.zeros_like(x0)
    expected[4:8] = 3
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_a_loop_over_time_steps_of_batch_first_sequences_runs_the_same_kernels(rng, scheduled):
    """x[:, t] of (batch, time, features): a strided slice, read from a part of the buffer."""
    x = rng.standard_normal((8, 10, 32)).astype(np.float32)
    xs, h = lf.tensor(x), np.zeros((8, 32), np.float32)
    hs = lf.tensor(h)
    for t in range(10):
        if t == 2:
            scheduled.clear()
        hs = lf.tanh(xs[:, t] + 0.5 * hs)
        h = np.tanh(x[:, t] + 0.5 * h)
        np.testing.assert_allclose(hs.numpy(), h, rtol=1e-5, atol=1e-6)
    assert scheduled == []


def test_strided_and_transposed_slices(rng):
    x = rng.standard_normal((6, 7, 5)).astype(np.float32)
    xs = lf.tensor(x)
    for got, expected in ((xs[:, 3], x[:, 3]), (xs[2:5, :, 1], x[2:5, :, 1]), (xs[1:, 2:4].transpose(0, 2), x[1:, 2:4].transpose(2, 1, 0)),
                          (xs[::2, 1], x[::2, 1]), (xs[4].flip(0), x[4, ::-1]), (xs[1:3].expand(4, 2, 7, 5)[3], x[1:3])):
        np.testing.assert_array_equal(got.numpy(), expected)


def test_slices_of_a_value_computed_in_the_same_schedule_run_the_same_kernels_at_every_step(rng):
    """Each step's kernel reads its rows of the projection from a part of its buffer
    (runtime/slices.py): with the offset written into the code, every step was a
    kernel of its own to compile (an LSTM's first step compiled 60 such kernels)."""
    w = rng.standard_normal((8, 32)).astype(np.float32)
    u = (rng.standard_normal((32, 32)) * 0.3).astype(np.float32)
    h = rng.standard_normal((16, 32)).astype(np.float32)
    distinct = []
    for steps in (4, 8):
        x = rng.standard_normal((steps, 16, 8)).astype(np.float32)
        with lf.profile() as p:
            got = recurrence(lf.tensor(x), lf.tensor(w), lf.tensor(u), lf.tensor(h)).numpy()
        np.testing.assert_allclose(got, recurrence_reference(x, w, u, h), rtol=1e-4, atol=1e-5)
        assert len(p.kernels) == steps + 1
        distinct.append(len({k.source for k in p.kernels}))
    # the projection, the first and the last step, and every step in between
    assert distinct == [4, 4]


def test_a_captured_loop_over_slices_of_a_value_it_computes_replays_with_new_inputs(rng):
    x = rng.standard_normal((4, 16, 8)).astype(np.float32)
    w = rng.standard_normal((8, 32)).astype(np.float32)
    u = (rng.standard_normal((32, 32)) * 0.3).astype(np.float32)
    ws, us = lf.tensor(w), lf.tensor(u)
    captured = lf.capture(lambda xs, h: recurrence(xs, ws, us, h))
    for _ in range(4):
        x, h = rng.standard_normal(x.shape).astype(np.float32), rng.standard_normal((16, 32)).astype(np.float32)
        np.testing.assert_allclose(captured(lf.tensor(x), lf.tensor(h)).numpy(), recurrence_reference(x, w, u, h),
                                   rtol=1e-4, atol=1e-5)
    assert captured.replays >= 2
