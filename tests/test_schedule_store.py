"""Schedules kept on disk (runtime/schedule_store.py): a new process runs a graph
it ran before without scheduling or rendering it, and gets the same numbers."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import lazyfuse as lf
from conftest import recurrence, recurrence_reference
from lazyfuse.runtime import realize, schedule, schedule_store

TRAINING = """
import numpy as np, lazyfuse as lf
from lazyfuse.runtime import schedule
calls = []
original = schedule.Scheduler.schedule
schedule.Scheduler.schedule = lambda self, targets: calls.append(1) or original(self, targets)
rng = np.random.default_rng(0)
x = lf.tensor(rng.standard_normal((64, 8), dtype=np.float32))
y = lf.tensor(rng.standard_normal((64, 1), dtype=np.float32))
w = lf.zeros(8, 1, requires_grad=True)
losses = []
for _ in range(3):
    loss = ((x @ w - y) ** 2).mean()
    loss.backward()
    with lf.no_grad():
        w -= 0.1 * w.grad
        w.grad.zero_()
    losses.append(loss.item())
print(len(calls), *losses, *w.detach().numpy().ravel())
"""


def test_a_new_process_runs_a_training_loop_it_ran_before_without_scheduling_it(tmp_path):
    env = dict(os.environ, LAZYFUSE_CACHE_DIR=str(tmp_path))
    first, second = ([float(v) for v in subprocess.run([sys.executable, "-c", TRAINING], env=env, check=True,
                                                       capture_output=True, text=True).stdout.split()]
                     for _ in range(2))
    assert first[0] >= 1 and second[0] == 0  # schedules made: some, then none
    assert second[1:] == first[1:]  # the same kernels
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8), dtype=np.float32).astype(np.float64)
    y = rng.standard_normal((64, 1), dtype=np.float32).astype(np.float64)
    w, losses = np.zeros((8, 1)), []
    for _ in range(3):
        err = x @ w - y
        losses.append((err ** 2).mean())
        w -= 0.1 * x.T @ (2 * err / err.size)
    np.testing.assert_allclose(first[1:4], losses, rtol=1e-5)
    np.testing.assert_allclose(first[4:], w.ravel(), rtol=1e-5, atol=1e-6)
    assert list(tmp_path.glob("schedules/*"))


@pytest.fixture
def scheduled(tmp_path, monkeypatch) -> list:
    """Schedules stored in tmp_path; the list grows by one per schedule made."""
    monkeypatch.setenv("LAZYFUSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(schedule_store, "STORE_SCHEDULES", True)
    monkeypatch.setattr(realize, "_schedules", type(realize._schedules)())
    calls, original = [], schedule.Scheduler.schedule
    monkeypatch.setattr(schedule.Scheduler, "schedule", lambda self, targets: calls.append(1) or original(self, targets))
    return calls


def _in_a_new_process(a: np.ndarray) -> np.ndarray:
    realize._schedules.clear()  # what a new process starts with
    return (lf.tensor(a).exp() * 2).sum(0).numpy()


def test_a_damaged_or_outdated_schedule_file_is_scheduled_again(scheduled, tmp_path, monkeypatch, rng):
    a, b = (rng.standard_normal((5, 3)).astype(np.float32) for _ in range(2))
    expected = (np.exp(b.astype(np.float64)) * 2).sum(0)
    _in_a_new_process(a)
    assert len(scheduled) == 1
    np.testing.assert_allclose(_in_a_new_process(b), expected, rtol=1e-5)
    assert len(scheduled) == 1  # read from disk
    for path in tmp_path.glob("schedules/*"):
        path.write_bytes(b"not a schedule")
    np.testing.assert_allclose(_in_a_new_process(b), expected, rtol=1e-5)
    assert len(scheduled) == 2
    monkeypatch.setattr(schedule_store, "_source_fingerprint", lambda: "lazyfuse's source, edited")
    np.testing.assert_allclose(_in_a_new_process(b), expected, rtol=1e-5)
    assert len(scheduled) == 3


def test_no_schedule_is_stored_with_the_cache_turned_off(scheduled, tmp_path, monkeypatch, rng):
    monkeypatch.setenv("LAZYFUSE_NO_CACHE", "1")
    a = rng.standard_normal((5, 3)).astype(np.float32)
    for _ in range(2):
        np.testing.assert_allclose(_in_a_new_process(a), (np.exp(a.astype(np.float64)) * 2).sum(0), rtol=1e-5)
    assert len(scheduled) == 2 and not list(tmp_path.glob("schedules/*"))


def test_a_stored_schedule_reading_parts_of_values_it_computes_restores_them(scheduled, rng):
    """A loop over slices of a value the schedule computes reads parts of its buffer
    (runtime/slices.py), which the stored schedule names and a new process makes."""
    w = rng.standard_normal((8, 32)).astype(np.float32)
    u = (rng.standard_normal((32, 32)) * 0.3).astype(np.float32)
    for _ in range(2):
        realize._schedules.clear()  # what a new process starts with
        x, h = rng.standard_normal((4, 16, 8)).astype(np.float32), rng.standard_normal((16, 32)).astype(np.float32)
        got = recurrence(lf.tensor(x), lf.tensor(w), lf.tensor(u), lf.tensor(h)).numpy()
        np.testing.assert_allclose(got, recurrence_reference(x, w, u, h), rtol=1e-4, atol=1e-5)
    assert len(scheduled) == 1
