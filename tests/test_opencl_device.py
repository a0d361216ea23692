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


@pytest.mark.parametrize("user_value", [None, "1"])
def test_pocl_starts_without_work_group_specialization_unless_the_user_chose(user_value):
    """Specializing each kernel to its local size made PoCL compile every kernel twice
    (see POCL_ENVIRONMENT): lazyfuse turns it off when it opens a device, unless the
    user set it."""
    script = """
import os, numpy as np, lazyfuse as lf
assert "POCL_WORK_GROUP_SPECIALIZATION" not in os.environ or os.environ["POCL_WORK_GROUP_SPECIALIZATION"] == "1"
lf.tensor(np.ones(4, np.float32), device="cpu").sum().item()
print(os.environ.get("POCL_WORK_GROUP_SPECIALIZATION"))
"""
    env = {k: v for k, v in os.environ.items() if k != "POCL_WORK_GROUP_SPECIALIZATION"}
    if user_value is not None:
        env["POCL_WORK_GROUP_SPECIALIZATION"] = user_value
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == [user_value or "0"]


@pytest.mark.parametrize("long_kernel_bytes, sleeps_first", [(1 << 20, True), (1 << 62, False)])
def test_a_read_sleeps_through_a_long_kernel_then_polls(monkeypatch, long_kernel_bytes, sleeps_first):
    import numpy as np

    import lazyfuse as lf
    monkeypatch.setattr(opencl_device, "LONG_KERNEL_BYTES", long_kernel_bytes)
    x = lf.tensor(np.ones(1 << 24, np.float32), device="cpu")  # 64 MiB: its sum's first stage takes milliseconds
    lf.synchronize()
    rt = opencl_device.OpenCLDevice.open("cpu").rt
    launches = []
    enqueued = rt.enqueued
    monkeypatch.setattr(rt, "enqueued", lambda event, nbytes: launches.append(enqueued(event, nbytes)) or launches[-1])
    first_stage_done_at_polls = []
    monkeypatch.setattr(opencl_device.os, "sched_yield", lambda: first_stage_done_at_polls.append(
        launches[0].event.get_info(opencl_device.cl.event_info.COMMAND_EXECUTION_STATUS) == 0))
    # sleeping through the first stage, the read polls only once it is done; without, it polls
    # during it, unless this process was held up past the stage's end (a loaded machine):
    # three tries
    for _ in range(3):
        launches.clear()
        first_stage_done_at_polls.clear()
        assert (x * 2).sum().item() == 2 * (1 << 24)
        assert len(launches) == 2  # the long first stage, then the short second
        assert all(first_stage_done_at_polls) or not sleeps_first
        assert rt.long_kernel is None or not sleeps_first
        if sleeps_first or not all(first_stage_done_at_polls):
            break
    assert all(first_stage_done_at_polls) == sleeps_first


def test_a_read_of_a_value_computed_before_a_long_kernel_does_not_wait_for_it(monkeypatch):
    import numpy as np

    import lazyfuse as lf
    small = (lf.tensor(np.arange(4, dtype=np.float32), device="cpu") + 1).realize()
    x = lf.tensor(np.ones(1 << 24, np.float32), device="cpu")
    big = (x * 2).realize()
    rt = opencl_device.OpenCLDevice.open("cpu").rt
    long_kernel = rt.long_kernel
    assert long_kernel is not None and big.node.buffer.written is long_kernel
    np.testing.assert_array_equal(small.numpy(), np.arange(4) + 1)
    assert rt.long_kernel is long_kernel  # not waited for
    np.testing.assert_array_equal(big[:3].numpy(), [2, 2, 2])
    assert rt.long_kernel is None


def test_building_kernels_prints_nothing_on_stderr(tmp_path):
    """PoCL's compiler printed '4 warnings generated.' on the user's stderr when it built
    the random-number kernels (8-lane 64-bit vectors on a machine without AVX-512)."""
    code = ("import lazyfuse as lf; nn = lf.nn; lf.manual_seed(0)\n"
            "cnn = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),\n"
            "                    nn.Conv2d(16, 10, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
            "loss = nn.functional.cross_entropy(cnn(lf.rand(128, 1, 28, 28)), lf.randint(0, 10, (128,)))\n"
            "loss.backward(); print(loss.item())")  # (a kernel drawing the weights inside the convolution warned)
    env = dict(os.environ, LAZYFUSE_NO_CACHE="1", POCL_KERNEL_CACHE="0", LAZYFUSE_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(done.stdout)  # the program ran
    assert "warning" not in done.stderr, done.stderr


def test_kernels_are_timed_only_while_profiled_and_stay_in_order():
    import numpy as np

    import lazyfuse as lf
    rt = opencl_device.OpenCLDevice.open("cpu").rt
    profiling = opencl_device.cl.command_queue_properties.PROFILING_ENABLE
    x = lf.tensor(np.arange(1 << 20, dtype=np.float32), device="cpu")
    y = (x * 2).realize()  # enqueued on the untimed queue, not waited for
    assert not rt.queue.properties & profiling
    with lf.profile() as prof:
        z = (y + 1).realize()  # the timed queue runs it after the untimed queue's kernels
        assert rt.queue.properties & profiling
    w = (z * 3).realize()
    assert not rt.queue.properties & profiling
    np.testing.assert_array_equal(w.numpy(), (np.arange(1 << 20, dtype=np.float32) * 2 + 1) * 3)
    assert len(prof.kernels) == 1 and prof.kernels[0].seconds > 0


def test_small_kernels_are_built_behind_one_dispatching_kernel_and_large_ones_alone(monkeypatch):
    """PoCL compiles each kernel function at ~0.2 s however small: kernels taking little
    memory are members of one kernel function (kernels/opencl_group.py), each launched
    with its own buffers, whatever their number."""
    import numpy as np

    import lazyfuse as lf
    from lazyfuse.kernels import opencl_group
    built = []
    grouping = opencl_group.groups
    monkeypatch.setattr(opencl_group, "groups", lambda rendered: built.append(grouping(rendered)) or built[-1])
    rng = np.random.default_rng(7)
    # one kernel each: odd sizes (kernels over whole vectors of different sizes can share their code)
    small = [rng.standard_normal(n).astype(np.float32) for n in range(31, 53, 2)]
    large = rng.standard_normal(1 << 19).astype(np.float32)  # 2 MiB
    other = rng.standard_normal(64).astype(np.float32)
    tensors, others = [lf.tensor(a) for a in small + [large]], lf.tensor(other)
    # members taking one buffer and members taking two
    two = [i % 2 == 1 for i in range(len(small))] + [False]
    results = [t.exp() * 2 + (others[:t.shape[0]] if two[i] else 1) for i, t in enumerate(tensors)]
    lf.realize(*results)
    assert [len(g) for g in built[-1]] == [1, 8, 3]  # the large kernel alone, then the eleven small ones
    widths = [len(r.args) for g in built[-1][1:] for r in g]
    assert widths == sorted(widths) and widths[0] < widths[-1]  # narrow members together: launches pass fewer buffers
    rt = opencl_device.OpenCLDevice.open("cpu").rt
    members = {type(rt._programs[r.source]).__name__ for g in built[-1] for r in g}
    assert members == {"Kernel", "_GroupMember"}
    for i, (t, got) in enumerate(zip(small + [large], results)):
        np.testing.assert_allclose(got.numpy(), np.exp(t) * 2 + (other[:len(t)] if two[i] else 1), rtol=1e-5, atol=1e-6)



def test_matrix_products_are_grouped_apart_from_kernels_of_many_work_items_per_group(monkeypatch):
    """PoCL gives each work-item of a group its own copy of a dispatching kernel's private
    arrays, every member's: a product's arrays (launched one work-item per group) times
    the 256 work-items of another member's groups overran a worker thread's stack."""
    import numpy as np

    import lazyfuse as lf
    from lazyfuse.kernels import opencl_group
    built = []
    grouping = opencl_group.groups
    monkeypatch.setattr(opencl_group, "groups", lambda rendered: built.append(grouping(rendered)) or built[-1])
    rng = np.random.default_rng(8)
    a, b = (rng.standard_normal((32, 32)).astype(np.float32) for _ in range(2))
    x = rng.standard_normal(1 << 16).astype(np.float32)  # 256 KiB: a small kernel, groups of 256 work-items
    product, mapped = lf.tensor(a) @ lf.tensor(b), lf.tensor(x).exp() * 2
    lf.realize(product, mapped)
    local_sizes = [{r.local_size == 1 for r in g} for g in built[-1]]
    assert any(r.name.startswith("matmul") for g in built[-1] for r in g) and all(len(k) == 1 for k in local_sizes)
    assert {True, False} == set().union(*local_sizes)
    np.testing.assert_allclose(product.numpy(), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mapped.numpy(), np.exp(x) * 2, rtol=1e-5)

@pytest.mark.parametrize("n", [1 << 16, (1 << 16) + 3])
def test_a_pointwise_kernel_tests_bounds_only_where_its_work_items_run_past_the_end(n):
    """Over whole vectors and whole work-groups every work-item stores one whole vector:
    the kernel tests nothing (the tests cost the 2-op chain on 2^24 floats 7 %)."""
    import numpy as np

    import lazyfuse as lf
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal((2, n)).astype(np.float32)
    with lf.profile() as prof:
        got = (lf.tensor(x) * lf.tensor(y) + lf.tensor(x)).numpy()
    np.testing.assert_array_equal(got, x * y + x)
    (kernel,) = prof.kernels
    assert ("if (" in kernel.source) == (n % 8 != 0)


def test_where_picks_lanes_with_a_vector_conditional_not_the_library_select():
    """PoCL calls select() out of line (a relu cost ~11 cycles more per 8 floats with it)."""
    import numpy as np

    import lazyfuse as lf
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 4099)).astype(np.float32)
    cond = rng.standard_normal(4099) > 0
    with lf.profile() as prof:
        got = lf.where(lf.tensor(cond), lf.tensor(x), lf.tensor(y) * 2).numpy()
        relu = lf.nn.functional.relu(lf.tensor(x) * 3).numpy()
    np.testing.assert_array_equal(got, np.where(cond, x, y * 2))
    np.testing.assert_array_equal(relu, np.maximum(x * 3, 0))
    assert len(prof.kernels) == 2 and not any("select(" in k.source for k in prof.kernels)


def _transparent_huge_pages() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def _huge_page_bytes_at(address: int) -> int:
    """AnonHugePages of the mapping holding `address`, in bytes (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                low, high = (int(v, 16) for v in head.split("-"))
                inside = low <= address < high
            elif inside and head == "AnonHugePages:":
                return int(line.split()[1]) * 1024
    return 0


def test_host_memory_starts_on_a_huge_page_and_is_backed_by_huge_pages():
    from lazyfuse.runtime.host_memory import HUGE_PAGE_BYTES, huge_page_backed
    memory = huge_page_backed(3 * HUGE_PAGE_BYTES + 5)
    if memory is None:
        pytest.skip("this system cannot advise huge pages")
    assert memory.nbytes == 3 * HUGE_PAGE_BYTES + 5 and memory.ctypes.data % HUGE_PAGE_BYTES == 0
    assert not memory.any()  # zeroed, as fresh memory is
    memory[:] = 7  # touched: the kernel backs it now
    if not _transparent_huge_pages():
        pytest.skip("transparent huge pages are off here")
    # whole huge pages only: one over the end would hold up to 2 MiB that no buffer uses
    assert _huge_page_bytes_at(memory.ctypes.data) == 3 * HUGE_PAGE_BYTES
    assert _huge_page_bytes_at(memory.ctypes.data + 3 * HUGE_PAGE_BYTES) == 0


def test_a_cpu_devices_large_buffers_live_in_huge_page_host_memory_and_small_ones_do_not(rng):
    """PoCL's own buffers are in 4 KiB pages; a kernel streaming several inputs ran
    10-20 % faster reading huge pages (runtime/host_memory.py)."""
    import numpy as np
    import pyopencl as cl

    import lazyfuse as lf
    from lazyfuse.runtime.devices import backend
    from lazyfuse.runtime.host_memory import HUGE_PAGE_BYTES
    if not backend("cpu").rt.cl_device.type & cl.device_type.CPU:
        pytest.skip("not a CPU device")
    big, small = rng.standard_normal(HUGE_PAGE_BYTES // 4 + 3).astype(np.float32), np.arange(10, dtype=np.float32)
    x, s = lf.tensor(big), lf.tensor(small)
    out = ((x - 1) * 2).numpy()  # written and read by kernels in that memory
    np.testing.assert_array_equal(out, (big - 1) * 2)
    uses_host = [bool(t.node.buffer.handle.get_info(cl.mem_info.FLAGS) & cl.mem_flags.USE_HOST_PTR) for t in (x, s)]
    assert uses_host == [True, False]
    assert x.node.buffer.handle.get_host_array((big.size,), np.float32).ctypes.data % HUGE_PAGE_BYTES == 0


def test_the_pool_hands_buffers_back_to_the_driver_only_after_the_kernels_enqueued_before():
    """A buffer in host memory is unmapped when the driver has it back, so a kernel
    still queued to read it would read unmapped memory: releasing waits for the queues."""
    import numpy as np

    import lazyfuse as lf
    values = np.linspace(-1, 1, 1 << 24, dtype=np.float32)
    x = lf.tensor(values)
    rt = opencl_device.OpenCLDevice.open("cpu").rt
    y = x
    for _ in range(8):  # one kernel of tens of milliseconds
        y = y.sin() * 1.5
    y.realize()  # enqueued, not waited for
    pending = rt.last_launch.event
    rt.pool.take(1 << 21, "cpu")  # a buffer that goes straight back to the pool
    rt.pool.clear()
    assert pending.command_execution_status == 0  # complete before any buffer went back
    expected = values.astype(np.float64)
    for _ in range(8):
        expected = np.sin(expected) * 1.5
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-5)
