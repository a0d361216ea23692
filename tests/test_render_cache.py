"""The render cache (kernels/render_cache.py): a kernel of a structure rendered
before is not rendered again, and what the cache gives is what rendering gives
(source, launch sizes, the argument nodes themselves), checked on every hit."""
import numpy as np

import lazyfuse as lf
from conftest import _render_cache_checked


def test_a_training_loop_renders_each_kernel_structure_once_and_hits_match_fresh_renders(rng, monkeypatch):
    from lazyfuse.kernels import render_cache
    monkeypatch.setattr(render_cache, "_cache", type(render_cache._cache)())
    hits = _render_cache_checked(monkeypatch)
    xs = rng.standard_normal((64, 6)).astype(np.float32)
    ys = rng.integers(0, 3, 64)
    model = lf.nn.Sequential(lf.nn.Linear(6, 8), lf.nn.ReLU(), lf.nn.Linear(8, 3))
    opt = lf.optim.Adam(model.parameters(), lr=0.01)
    scheduler = lf.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
    x, y = lf.tensor(xs), lf.tensor(ys)
    losses = []
    for step in range(9):
        batch = slice(step % 4 * 8 + step % 3, step % 4 * 8 + step % 3 + 24)  # batches at other offsets
        opt.zero_grad()
        loss = lf.nn.functional.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        opt.step()
        scheduler.step()
        losses.append(loss.item())
    assert hits, "new schedules of a training loop share kernels with earlier ones"
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_kernels_differing_only_in_a_buffer_extent_render_apart(monkeypatch):
    """Slices of a buffer at several starts read parts of several extents (the part's
    start is aligned; short runs are not copied here): each extent renders its own
    kernel, while the kernel computed beside them, the same each time, comes from the cache."""
    from lazyfuse.kernels import render_cache
    from lazyfuse.runtime import movement
    monkeypatch.setattr(movement, "COPY_MISALIGNED_BYTES", 0)
    monkeypatch.setattr(render_cache, "_cache", type(render_cache._cache)())
    hits = _render_cache_checked(monkeypatch)
    values = np.arange(64, dtype=np.float32)
    base, other = lf.tensor(values), lf.tensor(values[::-1].copy())
    for start in range(12):
        sliced, total = base[start:start + 20] * 2 + 1, (other * 3).sum()
        lf.realize(sliced, total)
        np.testing.assert_array_equal(sliced.numpy(), values[start:start + 20] * 2 + 1)
        assert total.item() == values.sum() * 3
    assert hits and all(name.startswith("reduce_sum") for name in hits)


def test_the_cache_keeps_no_node_alive(monkeypatch):
    """A cached rendering holds no nodes (they would pin their buffers)."""
    import gc
    import weakref

    from lazyfuse.kernels import render_cache
    monkeypatch.setattr(render_cache, "_cache", type(render_cache._cache)())
    x = lf.tensor(np.ones(1000, np.float32))
    y = (x.exp() * 3).sum()
    y.item()
    watched = [weakref.ref(x.node), weakref.ref(y.node)]
    assert render_cache._cache
    del x, y
    gc.collect()
    assert all(ref() is None for ref in watched)
