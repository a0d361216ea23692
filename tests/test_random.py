"""Random numbers drawn on the device: bit-for-bit equal to the reference
executor wherever a kernel reads them, distributed as they should be,
reproducible from a seed, fused into the kernels using them, and replayed
by lazyfuse.capture with fresh draws."""
from __future__ import annotations

import math

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyfuse as lf
from test_capture import optimizer_step
from test_random_graphs import SHAPES, Recorder, build
from lazyfuse.runtime import random_bits
from lazyfuse.runtime.reference import evaluate

FLOATS = [lf.float16, lf.float32, lf.float64]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (1000,), (37, 53), (3, 8, 17)])
def test_draws_equal_the_reference_bit_for_bit(shape, dtype):
    r = lf.rand(shape, dtype=dtype)
    expected = evaluate(r.node)
    got = r.numpy()
    assert got.dtype == dtype.np_dtype and got.shape == shape
    np.testing.assert_array_equal(got, expected)
    assert ((got >= 0) & (got < 1)).all()


def test_the_reference_is_splitmix64():
    """SplitMix64's published first outputs for seed 1234567 (the state before its
    first output is the seed, plus the gamma for each output)."""
    published = [6457827717110365317, 3203168211198807973, 9817491932198370423]
    # the counter c with c * gamma = seed + gamma (mod 2^64): position i gives seed + (i + 1) * gamma
    first = (1234567 * pow(random_bits.GAMMA, -1, 2 ** 64) + 1) % 2 ** 64
    counter = np.full(3, first, dtype=np.uint64).astype(np.int64)
    values = random_bits.uniform(counter, lf.float64)
    np.testing.assert_array_equal(values, [(v >> 11) * 2.0 ** -53 for v in published])


def test_views_and_reductions_read_each_element_where_it_was_drawn(rng):
    r = lf.rand(24, 40)
    drawn = evaluate(r.node)
    np.testing.assert_array_equal((r.T * 2).numpy(), drawn.T * 2)
    np.testing.assert_array_equal(r[3:17:2, 5:30].numpy(), drawn[3:17:2, 5:30])
    np.testing.assert_allclose(r.sum(0).numpy(), drawn.sum(0), rtol=1e-6)
    np.testing.assert_allclose(r.exp().sum(1).numpy(), np.exp(drawn).sum(1), rtol=1e-6)
    np.testing.assert_allclose(lf.cat([r, r.flip(0)], 1).numpy(), np.concatenate([drawn, drawn[::-1]], 1))
    column = lf.rand(5, 1)
    np.testing.assert_array_equal(column.expand(5, 6).numpy(), np.broadcast_to(evaluate(column.node), (5, 6)))
    np.testing.assert_array_equal(r.numpy(), drawn)  # computed again from the same counter: the same values


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")) // 4, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), shapes=st.lists(SHAPES, min_size=1, max_size=3))
def test_random_programs_on_draws_fused_unfused_and_in_the_reference_agree(data, shapes, monkeypatch):
    """Draws not yet computed as the leaves of random programs (views, reductions,
    matmuls, in-place writes): every kernel reads each value where it was drawn."""
    lf.manual_seed(0)
    rec = Recorder(data)
    fused = build(rec, [lf.randn(s) for s in shapes])
    reference = evaluate(fused.node)
    fused_values = fused.numpy()
    lf.manual_seed(0)
    monkeypatch.setenv("LAZYFUSE_FUSION", "0")
    unfused_values = build(Recorder(choices=rec.choices), [lf.randn(s) for s in shapes]).numpy()
    monkeypatch.delenv("LAZYFUSE_FUSION")
    np.testing.assert_allclose(fused_values, reference, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(unfused_values, reference, rtol=1e-4, atol=1e-5)


def _ks_statistic(samples: np.ndarray, cdf) -> float:
    x = np.sort(samples.astype(np.float64))
    n = x.size
    f = cdf(x)
    return max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max())


def test_uniform_and_normal_draws_follow_their_distributions():
    """Kolmogorov-Smirnov distance of 2^20 draws: 0.0017 is the 1% critical value."""
    lf.manual_seed(2024)
    n = 1 << 20
    assert _ks_statistic(lf.rand(n).numpy(), lambda x: x) < 0.0017
    assert _ks_statistic(lf.rand(n, dtype=lf.float64).numpy(), lambda x: x) < 0.0017
    normal_cdf = np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))
    z = lf.randn(n).numpy()
    assert _ks_statistic(z[::16], normal_cdf) < 0.0017 * 4
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert (np.abs(z) > 4).sum() in range(40, 100)  # 66 expected
    h = lf.rand(n, dtype=lf.float16).numpy()
    assert h.max() < 1 and len(np.unique(h)) == 2 ** 11  # every float16 value k / 2048


def test_successive_draws_are_uncorrelated_and_seeds_reproduce():
    lf.manual_seed(7)
    a, b = lf.rand(100_000).numpy(), lf.rand(100_000).numpy()
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01
    lf.manual_seed(7)
    np.testing.assert_array_equal(lf.rand(100_000).numpy(), a)
    np.testing.assert_array_equal(lf.rand(100_000).numpy(), b)
    assert lf.initial_seed() == 7
    lf.manual_seed(8)
    assert not np.array_equal(lf.rand(100_000).numpy(), a)
    chosen = lf.seed()
    first = lf.rand(10).numpy()
    lf.manual_seed(chosen)
    np.testing.assert_array_equal(lf.rand(10).numpy(), first)


def test_each_device_has_its_own_generator():
    lf.manual_seed(3)
    on_cpu = lf.rand(50).numpy()
    lf.manual_seed(3)
    on_opencl = lf.rand(50, device="opencl").numpy()
    np.testing.assert_array_equal(on_cpu, on_opencl)  # the same seed, a counter each
    np.testing.assert_array_equal(lf.rand(50).numpy(), on_cpu)


def test_randint_in_both_signatures_is_uniform_over_its_range():
    lf.manual_seed(11)
    r = lf.randint(-3, 4, (70_000,))
    assert r.dtype is lf.int64
    values = r.numpy()
    counts = np.bincount(values + 3, minlength=7)
    assert values.min() == -3 and values.max() == 3
    chi2 = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi2 < 16.8  # the 1% critical value for 6 degrees of freedom
    assert lf.randint(5, (3, 4)).shape == (3, 4)
    assert set(np.unique(lf.randint(5, (1000,)).numpy())) == set(range(5))
    assert lf.randint(2, (4,), dtype=lf.float32).dtype is lf.float32
    with pytest.raises(RuntimeError, match="from=4 >= to=4"):
        lf.randint(4, 4, (2,))
    with pytest.raises(TypeError, match="size"):
        lf.randint(4)


def test_randperm_bernoulli_normal_and_in_place_draws():
    lf.manual_seed(5)
    p = lf.randperm(1000).numpy()
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    assert (p != np.arange(1000)).mean() > 0.99
    probabilities = lf.tensor(np.linspace(0, 1, 11, dtype=np.float32)).expand(20_000, 11)
    means = lf.bernoulli(probabilities).mean(0).numpy()
    np.testing.assert_allclose(means, np.linspace(0, 1, 11), atol=0.015)
    assert set(np.unique(lf.zeros(1000).bernoulli_(0.5).numpy())) == {0.0, 1.0}
    samples = lf.normal(lf.tensor([-5.0, 10.0]).expand(50_000, 2), lf.tensor([1.0, 0.1])).numpy()
    np.testing.assert_allclose(samples.mean(0), [-5, 10], atol=0.02)
    np.testing.assert_allclose(samples.std(0), [1, 0.1], rtol=0.02)
    assert lf.normal(2.0, 3.0, (4, 5)).shape == (4, 5)
    u = lf.empty(100_000).uniform_(-2, 6).numpy()
    assert u.min() >= -2 and u.max() < 6 and abs(u.mean() - 2) < 0.05


def test_dropout_fuses_into_its_consumer_and_backward_uses_the_same_mask():
    x = lf.tensor(np.linspace(1, 2, 4096, dtype=np.float32), requires_grad=True)
    lf.rand(1).numpy()  # the generator's counter is made
    with lf.profile() as prof:
        out = lf.nn.functional.dropout(x, 0.4)
        total = (out * 3).sum()
        total.item()
    names = [k.name for k in prof.kernels]
    assert len(names) == 1 and "rand" in names[0], names  # the draw, and the counter's advance, fused into the sum
    total.backward()
    kept = out.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 3 / 0.6, 0), rtol=1e-6)
    assert abs(kept.mean() - 0.6) < 0.03


def test_a_captured_step_with_dropout_replays_new_masks_like_the_plain_steps(rng):
    x = lf.tensor(rng.standard_normal((32, 8)).astype(np.float32))
    y = lf.tensor(rng.standard_normal((32, 1)).astype(np.float32))

    def losses(wrap):
        lf.manual_seed(1)
        model = lf.nn.Sequential(lf.nn.Linear(8, 16), lf.nn.ReLU(), lf.nn.Dropout(0.3), lf.nn.Linear(16, 1))
        run = wrap(optimizer_step(model, lf.optim.SGD(model.parameters(), lr=0.05), x, y))
        return [run().item() for _ in range(8)], run

    plain, _ = losses(lambda f: f)
    replayed, captured = losses(lf.capture)
    assert captured.replays >= 5
    np.testing.assert_allclose(replayed, plain, rtol=1e-6)
    assert len(set(plain)) == len(plain)


def test_random_arguments_are_checked():
    with pytest.raises(TypeError, match="floating point"):
        lf.rand(3, dtype=lf.int64)
    with pytest.raises(TypeError, match="int"):
        lf.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="non-negative"):
        lf.randperm(-1)
    with pytest.raises(TypeError, match="size"):
        lf.normal(0.0, 1.0)
