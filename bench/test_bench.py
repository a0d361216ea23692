"""pytest-benchmark suite over the same workloads as bench.report:
`python3 -m pytest bench --benchmark-only` (add --benchmark-json=out.json to keep figures)."""
from __future__ import annotations

import numpy as np
import pytest

from .workloads import all_workloads

WORKLOADS = all_workloads(np.random.default_rng(0))
CASES = [(w, system) for w in WORKLOADS for system in w.systems]


@pytest.mark.parametrize("workload,system", CASES, ids=[f"{w.name}|{s}" for w, s in CASES])
def test_workload(benchmark, workload, system):
    benchmark.group = workload.name
    benchmark.extra_info["GB"] = workload.nbytes / 1e9
    benchmark.extra_info["GFLOP"] = workload.flops / 1e9
    benchmark.pedantic(workload.systems[system], rounds=7, warmup_rounds=1)
