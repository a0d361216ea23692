"""lazyfuse.nn's padding, reshaping, instance and RMS normalisation, adaptive max
pooling, shrink activations, channel dropout, distances, ranking and likelihood
losses, and parameter containers: values against numpy, values and gradients
against PyTorch (when installed), gradcheck in float64."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

_rng = np.random.default_rng(21)
IMAGES = _rng.standard_normal((2, 8, 5, 6))
ROWS, OTHER = _rng.standard_normal((6, 4)), _rng.standard_normal((6, 4))
SIGNS = np.where(_rng.random(6) > 0.5, 1.0, -1.0)


def test_padding_modules_match_numpy():
    x = IMAGES[:, :2]
    cases = [(lf.nn.ZeroPad2d((1, 2, 0, 3)), np.pad(x, ((0, 0), (0, 0), (0, 3), (1, 2)))),
             (lf.nn.ConstantPad1d(2, 3.5), np.pad(x, ((0, 0), (0, 0), (0, 0), (2, 2)), constant_values=3.5)),
             (lf.nn.ReflectionPad2d(2), np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")),
             (lf.nn.ReplicationPad1d((3, 1)), np.pad(x, ((0, 0), (0, 0), (0, 0), (3, 1)), mode="edge")),
             (lf.nn.CircularPad2d((1, 1, 2, 0)), np.pad(x, ((0, 0), (0, 0), (2, 0), (1, 1)), mode="wrap")),
             (lf.nn.ZeroPad3d(1), np.pad(x, ((0, 0), (1, 1), (1, 1), (1, 1))))]
    for module, expected in cases:
        np.testing.assert_array_equal(module(lf.tensor(x)).numpy(), expected, err_msg=repr(module))
    with pytest.raises(ValueError, match="padding must be an int or 4 ints"):
        lf.nn.ZeroPad2d((1, 2))


def test_pixel_shuffle_and_unshuffle_match_numpy_and_invert_each_other():
    r = 2
    x = IMAGES[:, :, :4, :4]
    expected = x.reshape(2, 2, r, r, 4, 4).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 8, 8)
    shuffled = lf.nn.PixelShuffle(r)(lf.tensor(x))
    np.testing.assert_array_equal(shuffled.numpy(), expected)
    np.testing.assert_array_equal(lf.nn.PixelUnshuffle(r)(shuffled).numpy(), x)
    check_against_pytorch(lambda m, x: m.nn.functional.pixel_unshuffle(m.nn.functional.pixel_shuffle(x, 2) * 2, 4),
                          [x])
    check_against_pytorch(lambda m, x: m.nn.ChannelShuffle(4)(x), [IMAGES], differentiable=False)
    assert lf.nn.Unflatten(1, (2, -1))(lf.tensor(ROWS)).shape == (6, 2, 2)
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        lf.nn.functional.pixel_shuffle(lf.tensor(IMAGES), 3)


def test_instance_norm_matches_numpy_and_pytorch_with_running_statistics():
    mean = IMAGES.mean((2, 3), keepdims=True)
    expected = (IMAGES - mean) / np.sqrt(IMAGES.var((2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(lf.nn.InstanceNorm2d(8)(lf.tensor(IMAGES)).numpy(), expected, rtol=1e-10, atol=1e-12)
    check_against_pytorch(lambda m, x: m.nn.functional.instance_norm(x, eps=1e-3), [IMAGES])
    torch = pytest.importorskip("torch")
    for m in (lf, torch):
        norm = m.nn.InstanceNorm1d(8, affine=True, track_running_stats=True).double()
        with m.no_grad():
            norm.weight.mul_(1.5)
        x = m.tensor(IMAGES[:, :, 0])
        trained = norm(x)
        norm.eval()
        results = [trained, norm(x), norm.running_mean, norm.running_var]
        if m is lf:
            ours = [t.detach().numpy() for t in results]
    for mine, theirs in zip(ours, [t.detach().numpy() for t in results]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_rms_norm_matches_numpy_and_pytorch():
    expected = ROWS / np.sqrt((ROWS ** 2).mean(-1, keepdims=True) + np.finfo(np.float64).eps)
    np.testing.assert_allclose(lf.nn.functional.rms_norm(lf.tensor(ROWS), 4).numpy(), expected, rtol=1e-12)
    check_against_pytorch(lambda m, x: m.nn.functional.rms_norm(x, (4,), m.tensor(OTHER[0]), eps=1e-6), [ROWS])
    assert len(list(lf.nn.RMSNorm([6, 4]).parameters())) == 1


@pytest.mark.parametrize("size", [(3, 4), (1, 1), (None, 4), 2])
def test_adaptive_max_pool_matches_pytorch(size):
    check_against_pytorch(lambda m, x: m.nn.AdaptiveMaxPool2d(size)(x), [IMAGES])
    if not isinstance(size, tuple) or None not in size:
        check_against_pytorch(lambda m, x: m.nn.functional.adaptive_max_pool1d(x, size[0] if isinstance(size, tuple)
                                                                               else size), [IMAGES[0]])


def test_adaptive_max_pool_takes_the_largest_of_each_cell():
    x = IMAGES[:, :, :5, :6]
    out = lf.nn.functional.adaptive_max_pool2d(lf.tensor(x), (2, 3)).numpy()
    cells = [(0, 3), (2, 5)], [(0, 2), (2, 4), (4, 6)]
    for i, (r0, r1) in enumerate(cells[0]):
        for j, (c0, c1) in enumerate(cells[1]):
            np.testing.assert_array_equal(out[:, :, i, j], x[:, :, r0:r1, c0:c1].max((2, 3)))


ACTIVATIONS = {
    "hardshrink": (lambda m, x: m.nn.Hardshrink(0.7)(x), lambda x: np.where(np.abs(x) > 0.7, x, 0)),
    "softshrink": (lambda m, x: m.nn.Softshrink()(x), lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0)),
    "tanhshrink": (lambda m, x: m.nn.Tanhshrink()(x), lambda x: x - np.tanh(x)),
    "softmax2d": (lambda m, x: m.nn.Softmax2d()(x.reshape(2, 3, 2, 2)),
                  lambda x: np.exp(x.reshape(2, 3, 2, 2)) / np.exp(x.reshape(2, 3, 2, 2)).sum(1, keepdims=True)),
    "pairwise_distance": (lambda m, x: m.nn.PairwiseDistance(p=3)(x, x.flip(0)),
                          lambda x: (np.abs(x - x[::-1] + 1e-6) ** 3).sum(-1) ** (1 / 3)),
    "cosine_similarity": (lambda m, x: m.nn.CosineSimilarity(dim=0)(x, x * x),
                          lambda x: (x ** 3).sum(0) / np.sqrt((x ** 2).sum(0) * (x ** 4).sum(0))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_and_distances_match_numpy_and_pytorch(name):
    ours, expected = ACTIVATIONS[name]
    np.testing.assert_allclose(ours(lf, lf.tensor(ROWS)).numpy(), expected(ROWS), rtol=1e-12, atol=1e-12)
    check_against_pytorch(ours, [ROWS])


LOSSES = {
    "margin_ranking": lambda m, a, b: m.nn.MarginRankingLoss(0.3)(a[:, 0], b[:, 0], m.tensor(SIGNS)),
    "hinge_embedding": lambda m, a, b: m.nn.HingeEmbeddingLoss(0.5, reduction="sum")(a[:, 0], m.tensor(SIGNS)),
    "soft_margin": lambda m, a, b: m.nn.SoftMarginLoss()(a * 20, m.tensor(np.sign(OTHER))),
    "cosine_embedding": lambda m, a, b: m.nn.CosineEmbeddingLoss(0.1, reduction="none")(a, b, m.tensor(SIGNS)),
    "triplet_margin": lambda m, a, b: m.nn.TripletMarginLoss(swap=True)(a, b, a.flip(0)),
    "multilabel_soft_margin": lambda m, a, b: m.nn.MultiLabelSoftMarginLoss(weight=m.tensor(OTHER[0] ** 2))(
        a, m.tensor((OTHER > 0) * 1.0)),
    "poisson_nll": lambda m, a, b: m.nn.PoissonNLLLoss()(a, m.tensor(np.abs(OTHER) * 3))
    + m.nn.functional.poisson_nll_loss(a.exp(), m.tensor(np.abs(OTHER) * 3), log_input=False, full=True),
    "gaussian_nll": lambda m, a, b: m.nn.GaussianNLLLoss(full=True)(a, m.tensor(OTHER), b.abs()[:, 0] + 0.1)
    + m.nn.functional.gaussian_nll_loss(a, m.tensor(OTHER), (b * 0.01).abs(), eps=1e-3, reduction="sum"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_match_pytorch(name):
    check_against_pytorch(LOSSES[name], [ROWS, OTHER], rtol=1e-11, grad_rtol=1e-9)


def test_loss_gradients_pass_gradcheck():
    a, b = lf.tensor(ROWS, requires_grad=True), lf.tensor(OTHER, requires_grad=True)
    assert gradcheck(lambda a, b: lf.nn.functional.triplet_margin_loss(a, b, a.flip(0) * 2, margin=3.0), (a, b))
    assert gradcheck(lambda a, b: lf.nn.functional.cosine_embedding_loss(a, b, lf.tensor(SIGNS), 0.1), (a, b))
    with pytest.raises(ValueError, match="var has negative"):
        lf.nn.functional.gaussian_nll_loss(a, b, -b)


def test_channel_dropout_zeroes_whole_channels():
    x = lf.ones(4, 16, 8)
    kept = lf.nn.Dropout1d(0.5)(x).numpy()
    assert ((kept == 0) | (kept == 2)).all() and (kept == kept[:, :, :1]).all()
    volume = lf.nn.Dropout3d(0.5)(lf.ones(2, 8, 2, 3, 2)).numpy()
    assert (volume.reshape(2, 8, -1) == volume.reshape(2, 8, -1)[:, :, :1]).all()
    dropout = lf.nn.Dropout1d(0.5)
    dropout.eval()
    assert dropout(x) is x
    with pytest.raises(RuntimeError, match="Expected 2D or 3D input"):
        lf.nn.functional.dropout1d(lf.ones(2, 3, 4, 5))


def test_parameter_containers_register_their_parameters():
    class Net(lf.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = lf.nn.ParameterList([lf.ones(3), lf.nn.Parameter(lf.zeros(2))])
            self.named = lf.nn.ParameterDict({"bias": lf.zeros(4)})

    net = Net()
    net.scales.append(lf.full((1,), 2.0))
    net.named["gain"] = lf.ones(1)
    assert [n for n, _ in net.named_parameters()] == ["scales.0", "scales.1", "scales.2", "named.bias", "named.gain"]
    assert all(p.requires_grad and isinstance(p, lf.nn.Parameter) for p in net.parameters())
    assert len(net.scales) == 3 and net.scales[-1].item() == 2.0 and "gain" in net.named
    del net.named["bias"]
    assert list(net.state_dict()) == ["scales.0", "scales.1", "scales.2", "named.gain"]


@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_a_part_of_padding_alone_reads_zero_also_as_a_0d_tensor(dtype):
    """A slice of a padded tensor that holds padding only, reshaped to 0-d: the view's
    mask could not say "nothing valid" without dims, and it read the padded value
    (the gradient of pad(s.reshape(1, 1), (5, 0))[0, :4].sum() was 1 for s)."""
    from lazyfuse.nn.padding import pad
    values = np.array([[3, 1]]).astype(dtype)
    padded = np.pad(values, ((0, 0), (0, 3)))
    for lo in range(5):
        ours = pad(lf.tensor(values), (0, 3))[:, lo:lo + 1].reshape(())
        assert ours.item() == padded[0, lo]
    s = lf.tensor(2.0, dtype=lf.float64, requires_grad=True)
    (pad(s.reshape(1, 1), (5, 0))[0, :4]).sum().backward()
    assert s.grad.item() == 0.0
