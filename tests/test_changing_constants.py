"""Python numbers that change from step to step (runtime/changing_constants.py):
after the second value a computation is not scheduled again (so it builds no new
programs), and every value's result equals numpy's."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf


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
    x = lf.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device="cuda")
    for c in (1.5, 2.5, 3.5, 4.5):
        if c == 3.5:
            scheduled.clear()
        np.testing.assert_allclose((x * c - c).numpy(), np.arange(6).reshape(2, 3) * c - c)
    assert scheduled == []
