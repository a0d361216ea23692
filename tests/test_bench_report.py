"""The benchmark report's timing loop (bench/report.py): every system gets its turn
in each round, and a fast one keeps repeating until its turn lasts ROUND_SECONDS."""
from __future__ import annotations

import time

from bench import report


def test_a_fast_system_repeats_until_its_turn_lasts_round_seconds(monkeypatch):
    monkeypatch.setattr(report, "ROUND_SECONDS", 0.03)
    monkeypatch.setattr(report, "SETTLE_SECONDS", 0.0)
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.02)

    results = report.measure({"fast": fast, "slow": slow}, repeats=3)
    # per system: a first call, then per round one untimed call and timed ones; the
    # slow system needs a second timed call (or none, if the sleep overran) to pass 0.03 s
    assert 1 + report.ROUNDS * 2 <= calls["slow"] <= 1 + report.ROUNDS * 3
    assert calls["fast"] > 100 * calls["slow"]
    assert results["slow"]["min"] >= 0.02 and results["fast"]["median"] < 0.001
    assert results["slow"]["min"] <= results["slow"]["median"] <= results["slow"]["max"]
