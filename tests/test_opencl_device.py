"""The OpenCL device's host-side behaviour: how it treats the driver's worker threads."""
import os
import subprocess
import sys
import threading

import pytest

from lazyfuse.runtime import opencl_device

linux_only = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH") or not os.path.isdir("/proc/self/task"),
                                reason="thread scheduling policies are read from Linux's /proc")


@linux_only
def test_never_preempt_the_host_makes_threads_batch_and_leaves_others():
    release = threading.Event()
    worker, bystander = (threading.Thread(target=release.wait) for _ in range(2))
    worker.start(), bystander.start()
    try:
        opencl_device._never_preempt_the_host({worker.native_id})
        assert os.sched_getscheduler(worker.native_id) == os.SCHED_BATCH
        assert os.sched_getscheduler(bystander.native_id) == os.SCHED_OTHER
    finally:
        release.set()
        worker.join(), bystander.join()


@linux_only
def test_opening_the_cpu_device_makes_only_the_drivers_new_threads_batch():
    # a fresh process: the driver starts its workers when lazyfuse first lists the devices
    script = """
import os
before = {int(t) for t in os.listdir("/proc/self/task")}
import numpy as np, lazyfuse as lf
lf.tensor(np.ones(4, np.float32), device="cpu").sum().item()
after = {int(t) for t in os.listdir("/proc/self/task")}
batch = {t for t in after if os.sched_getscheduler(t) == os.SCHED_BATCH}
print(len(batch), len(after - before), os.getpid() in batch, batch <= after - before)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    n_batch, n_new, main_is_batch, only_new = out.stdout.split()
    assert int(n_batch) >= 1 and main_is_batch == "False" and only_new == "True"


@pytest.mark.parametrize("poll_at_most_bytes, polls", [(1 << 20, False), (1 << 62, True)])
def test_a_read_polls_only_after_kernels_that_move_little(monkeypatch, poll_at_most_bytes, polls):
    import numpy as np

    import lazyfuse as lf
    yields = []
    monkeypatch.setattr(opencl_device, "POLL_AT_MOST_BYTES", poll_at_most_bytes)
    monkeypatch.setattr(opencl_device.os, "sched_yield", lambda: yields.append(None))
    x = lf.tensor(np.ones(1 << 24, np.float32), device="cpu")  # 64 MiB: its sum takes milliseconds
    lf.synchronize()
    yields.clear()
    assert (x * 2).sum().item() == 2 * (1 << 24)
    assert bool(yields) == polls
    assert opencl_device.OpenCLDevice.open("cpu").rt.enqueued_bytes == 0
