"""lazyfuse.amp: GradScaler's scaling, skipped steps and scale schedule against
PyTorch's (and against unscaled training); autocast leaves dtypes alone."""
import numpy as np
import pytest

import lazyfuse as lf

RNG = np.random.default_rng(8)
X, Y = RNG.standard_normal((16, 4)).astype(np.float32), RNG.standard_normal((16, 1)).astype(np.float32)
W0 = RNG.standard_normal((4, 1)).astype(np.float32)


def _train(m, scaler_options, clip: bool, steps: int = 8):
    w = m.tensor(W0.copy(), requires_grad=True)
    opt = m.optim.SGD([w], lr=0.05)
    scaler = m.amp.GradScaler("cpu", **scaler_options)
    scales, losses = [], []
    for _ in range(steps):
        opt.zero_grad()
        with m.autocast(device_type="cpu", dtype=m.bfloat16, enabled=False):
            loss = ((m.tensor(X) @ w - m.tensor(Y)) ** 2).mean()
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(opt)
            m.nn.utils.clip_grad_norm_([w], 0.5)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
        losses.append(loss.item())
    return w.detach().numpy(), scales, losses, scaler.state_dict()


@pytest.mark.parametrize("options, clip", [(dict(init_scale=2.0 ** 120, growth_interval=3), False),
                                           (dict(init_scale=1024.0, growth_interval=2), True),
                                           (dict(enabled=False), False)])
def test_grad_scaler_steps_skips_and_scales_as_pytorchs(options, clip):
    torch = pytest.importorskip("torch")
    ours, theirs = _train(lf, options, clip), _train(torch, options, clip)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-7)
    assert ours[1] == theirs[1]  # 2**120 overflows the gradients: steps skipped, the scale backed off, then grown
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
    assert {k: v for k, v in ours[3].items()} == {k: v for k, v in theirs[3].items()}


def test_scaled_training_equals_unscaled_training():
    scaled, unscaled = _train(lf, dict(init_scale=2.0 ** 10), False), _train(lf, dict(enabled=False), False)
    np.testing.assert_array_equal(scaled[0], unscaled[0])  # powers of two scale exactly
    skipped = _train(lf, dict(init_scale=2.0 ** 127, growth_interval=100), False, steps=1)
    assert skipped[1] == [2.0 ** 126] and np.array_equal(skipped[0], W0)  # the step overflowed: not taken


def test_autocast_leaves_dtypes_and_wraps_functions():
    @lf.autocast(device_type="cpu")
    def product(a, b):
        return a @ b
    with lf.autocast("cpu", dtype=lf.float16):
        assert (lf.ones(2, 2) @ lf.ones(2, 2)).dtype is lf.float32
    assert product(lf.ones(2, 2, dtype=lf.float64), lf.ones(2, 2, dtype=lf.float64)).dtype is lf.float64
    scaler = lf.amp.GradScaler()
    w = lf.ones(2, requires_grad=True)
    opt = lf.optim.SGD([w], lr=0.1)
    scaler.scale(w.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
