"""Convolution and pooling: values and gradients against PyTorch (float64),
against float64 finite differences and against the reference executor; the
modules' initialisation; a CIFAR-tutorial network's training losses."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check, check_against_pytorch
from lazyfuse.autograd import gradcheck
from lazyfuse.runtime.graph import Op, postorder
from lazyfuse.runtime.matmul import is_product

CONV2D = {
    "plain": dict(),
    "stride_padding": dict(stride=2, padding=1),
    "dilation_groups": dict(padding=(2, 1), dilation=(2, 1), groups=2),
    "same_even_kernel": dict(padding="same", groups=2),
    "valid_stride_per_dim": dict(padding="valid", stride=(1, 3)),
}


@pytest.mark.parametrize("name", sorted(CONV2D))
def test_conv2d_matches_pytorch(rng, name):
    kw = CONV2D[name]
    groups = kw.get("groups", 1)
    arrays = [rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 2)), rng.standard_normal(6)]
    check_against_pytorch(lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, **kw), arrays, grad_rtol=1e-9)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=2, dilation=2), dict(groups=3, padding="same")])
def test_conv1d_and_unbatched_input_match_pytorch(rng, kw):
    arrays = [rng.standard_normal((6, 11)), rng.standard_normal((3, 6 // kw.get("groups", 1), 3))]
    check_against_pytorch(lambda m, x, w: m.nn.functional.conv1d(x, w, **kw), arrays, grad_rtol=1e-9)
    arrays[0] = arrays[0][None].repeat(2, 0)
    check_against_pytorch(lambda m, x, w: m.nn.functional.conv1d(x, w, **kw), arrays, grad_rtol=1e-9)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("layer", [dict(cls="Conv2d", kernel_size=(3, 2), padding=(1, 2), stride=(2, 1)),
                                   dict(cls="Conv2d", kernel_size=3, padding="same", dilation=(1, 2)),
                                   dict(cls="Conv1d", kernel_size=3, padding=2)], ids=["2d", "2d_same", "1d"])
def test_conv_padding_modes_match_pytorch(rng, padding_mode, layer):
    """Conv layers padding with the input's own elements (F.pad), from PyTorch's weights."""
    torch = pytest.importorskip("torch")
    options = {k: v for k, v in layer.items() if k != "cls"}
    theirs = getattr(torch.nn, layer["cls"])(4, 6, padding_mode=padding_mode, dtype=torch.float64, **options)
    ours = getattr(lf.nn, layer["cls"])(4, 6, padding_mode=padding_mode, dtype=lf.float64, **options)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    x = rng.standard_normal((2, 4, 7, 6)[:2 + (layer["cls"] == "Conv2d") + 1])
    xt, xl = torch.tensor(x, requires_grad=True), lf.tensor(x, requires_grad=True)
    out_t, out_l = theirs(xt), ours(xl)
    np.testing.assert_allclose(out_l.detach().numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.cos(np.arange(out_t.numel())).reshape(tuple(out_t.shape))
    (out_t * torch.tensor(weights)).sum().backward()
    (out_l * lf.tensor(weights)).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


POOLS = {
    "max2": ("max_pool2d", dict(kernel_size=2)),
    "max3_stride_pad": ("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "max_ceil": ("max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    "max_dilated": ("max_pool2d", dict(kernel_size=2, dilation=2, padding=1)),
    "max1d": ("max_pool1d", dict(kernel_size=3, stride=1)),
    "avg2": ("avg_pool2d", dict(kernel_size=2)),
    "avg_pad": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "avg_pad_uncounted": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    "avg_divisor": ("avg_pool2d", dict(kernel_size=2, divisor_override=3)),
    "avg1d": ("avg_pool1d", dict(kernel_size=2, stride=1)),
    "avg_ceil": ("avg_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    "avg_ceil_pad": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "avg_ceil_pad_uncounted": ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                  count_include_pad=False)),
    "avg_ceil1d": ("avg_pool1d", dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    "adaptive_uneven": ("adaptive_avg_pool2d", dict(output_size=(3, 5))),
    "adaptive_one": ("adaptive_avg_pool2d", dict(output_size=1)),
    "adaptive1d": ("adaptive_avg_pool1d", dict(output_size=4)),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_matches_pytorch_ties_included(rng, name):
    """Values rounded to integers, so windows hold ties: the max's gradient goes to
    the first largest, as PyTorch's does."""
    fn, kw = POOLS[name]
    shape = (2, 3, 9, 8) if fn.endswith("2d") else (3, 10)
    check_against_pytorch(lambda m, x: getattr(m.nn.functional, fn)(x, **kw), [np.round(rng.standard_normal(shape))])


@pytest.mark.parametrize("name", sorted(n for n in POOLS if n.startswith("max")))
def test_max_pool_indices_are_pytorchs_ties_and_nan_included(rng, name):
    torch = pytest.importorskip("torch")
    fn, kw = POOLS[name]
    shape = (2, 3, 9, 8) if fn.endswith("2d") else (3, 10)
    x = np.round(rng.standard_normal(shape))
    x.flat[5] = np.nan  # a window holding a NaN gives the NaN and its index
    out, indices = getattr(lf.nn.functional, fn)(lf.tensor(x), return_indices=True, **kw)
    expected, expected_indices = getattr(torch.nn.functional, fn)(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert indices.dtype == lf.int64
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    module = (lf.nn.MaxPool1d if fn.endswith("1d") else lf.nn.MaxPool2d)(return_indices=True, **kw)
    np.testing.assert_array_equal(module(lf.tensor(x))[1].numpy(), expected_indices.numpy())


def test_max_pool_over_computed_values_stores_them_once(rng):
    """Overlapping windows read each value several times: a computed input is stored,
    not computed again at every read (runtime/schedule.py's cuts)."""
    x = lf.tensor(rng.standard_normal((2, 3, 12, 12)))
    y = lf.nn.functional.max_pool2d((x.sin() * 2 + 1).exp(), 3, stride=1)
    with lf.profile() as prof:
        y.realize()
    assert len(prof.kernels) == 2, prof
    check(y)


def test_gradients_match_finite_differences():
    """The windows view's own gradient rule, with padding, stride and dilation."""
    rng = np.random.default_rng(0)
    x = lf.tensor(rng.standard_normal((1, 2, 6, 5)), requires_grad=True)
    w = lf.tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    assert gradcheck(lambda x, w: lf.nn.functional.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2)).sin(),
                     (x, w))
    assert gradcheck(lambda x: lf.nn.functional.avg_pool2d(x, 3, stride=2, padding=1).exp(), (x,))


def test_convolution_and_pooling_equal_the_reference_executor(rng):
    x = lf.tensor(rng.standard_normal((2, 3, 12, 12)).astype(np.float32))
    w = lf.tensor(rng.standard_normal((16, 3, 3, 3)).astype(np.float32))
    y = lf.nn.functional.max_pool2d(lf.nn.functional.conv2d(x, w, padding=1).relu(), 2)
    check(lf.nn.functional.conv2d(y, lf.tensor(rng.standard_normal((20, 16, 3, 3)).astype(np.float32))).sum((2, 3)))


def test_modules_initialise_and_check_their_arguments():
    conv = lf.nn.Conv2d(4, 8, (3, 5), groups=2, bias=True)
    bound = 1 / math.sqrt(2 * 3 * 5)
    w = conv.weight.detach().numpy()
    assert w.shape == (8, 2, 3, 5) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert conv(lf.zeros(1, 4, 6, 7)).shape == (1, 8, 4, 3)
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    with pytest.raises(RuntimeError, match="to have 4 channels, but got 3"):
        conv(lf.zeros(1, 3, 6, 7))
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        lf.nn.functional.conv2d(lf.zeros(1, 4, 2, 7), conv.weight, groups=2)
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d"):
        conv(lf.zeros(4, 6))
    with pytest.raises(ValueError, match="divisible by groups"):
        lf.nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of 'zeros', 'reflect'"):
        lf.nn.Conv2d(3, 8, 3, padding_mode="mirror")
    with pytest.raises(RuntimeError, match="at most half"):
        lf.nn.MaxPool2d(2, padding=2)(lf.zeros(1, 1, 6, 6))


def test_cifar_tutorial_network_trains_as_in_pytorch():
    """PyTorch's "Training a classifier" network and loop, from the same initial
    weights: the same losses step by step."""
    torch = pytest.importorskip("torch")

    def network(m):
        class Net(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1, self.pool, self.conv2 = m.nn.Conv2d(3, 6, 5), m.nn.MaxPool2d(2, 2), m.nn.Conv2d(6, 16, 5)
                self.fc1, self.fc2, self.fc3 = m.nn.Linear(400, 120), m.nn.Linear(120, 84), m.nn.Linear(84, 10)

            def forward(self, x):
                x = self.pool(m.nn.functional.relu(self.conv1(x)))
                x = self.pool(m.nn.functional.relu(self.conv2(x)))
                x = m.flatten(x, 1)
                return self.fc3(m.nn.functional.relu(self.fc2(m.nn.functional.relu(self.fc1(x)))))
        return Net()

    theirs, ours = network(torch), network(lf)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 4)) for _ in range(4)]
    losses = {}
    for m, net in ((torch, theirs), (lf, ours)):
        optimizer = m.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        criterion = m.nn.CrossEntropyLoss()
        losses[m.__name__] = []
        for inputs, labels in batches:
            optimizer.zero_grad()
            loss = criterion(net(m.tensor(inputs)), m.tensor(labels))
            loss.backward()
            optimizer.step()
            losses[m.__name__].append(loss.item())
    np.testing.assert_allclose(losses["lazyfuse"], losses["torch"], rtol=2e-5)


TRANSPOSED = [dict(stride=1), dict(stride=2, padding=1, output_padding=1), dict(stride=3, padding=2, dilation=2, groups=2),
              dict(stride=2, output_padding=1, dilation=2), dict(stride=2, padding=3),
              dict(stride=1, output_padding=1, dilation=2)]  # (output padding past the stride: one more window)


@pytest.mark.parametrize("options", TRANSPOSED, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(options):
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for the same stride, padding,
    dilation and groups, with the output size chosen to fit x (no torch needed)."""
    rng = np.random.default_rng(9)
    groups = options.get("groups", 1)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 2))
    conv_options = {k: v for k, v in options.items() if k != "output_padding"}
    forward = lf.nn.functional.conv2d(lf.tensor(x), lf.tensor(w), **conv_options)
    y = rng.standard_normal(forward.shape)
    back = lf.nn.functional.conv_transpose2d(lf.tensor(y), lf.tensor(w), **conv_options,
                                             output_padding=tuple((9, 8)[i] - (forward.shape[2 + i] - 1) * options["stride"]
                                                                  + 2 * options.get("padding", 0)
                                                                  - options.get("dilation", 1) * ((3, 2)[i] - 1) - 1
                                                                  for i in range(2)))
    assert back.shape == x.shape
    np.testing.assert_allclose((forward.numpy() * y).sum(), (x * back.numpy()).sum(), rtol=1e-12)


@pytest.mark.parametrize("options", TRANSPOSED, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()))
def test_conv_transpose2d_matches_pytorch(options):
    groups = options.get("groups", 1)
    rng = np.random.default_rng(10)
    arrays = [rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 6 // groups, 3, 2)), rng.standard_normal(6)]
    check_against_pytorch(lambda m, x, w, b: m.nn.functional.conv_transpose2d(x, w, b, **options), arrays)


def test_conv_transpose_modules_are_pytorchs():
    torch = pytest.importorskip("torch")
    for name, args, options, shape in (("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, groups=2), (2, 4, 5, 5)),
                                       ("ConvTranspose1d", (4, 2, 4), dict(stride=3, output_padding=2, bias=False),
                                        (4, 7))):
        theirs = getattr(torch.nn, name)(*args, dtype=torch.float64, **options)
        ours = getattr(lf.nn, name)(*args, dtype=lf.float64, **options)
        assert repr(ours) == repr(theirs)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
        ours.load_state_dict({k: lf.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
        x = np.random.default_rng(11).standard_normal(shape)
        np.testing.assert_allclose(ours(lf.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
    up = lf.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, dtype=lf.float64)
    assert up(lf.zeros(1, 3, 4, 4, dtype=lf.float64), output_size=(8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="output padding"):
        up(lf.zeros(1, 3, 4, 4, dtype=lf.float64), output_size=(10, 10))


INTERPOLATIONS = [dict(scale_factor=2), dict(size=(3, 11)), dict(scale_factor=1.7, mode="nearest-exact"),
                  dict(size=(8, 4), mode="bilinear"), dict(size=(8, 4), mode="bilinear", align_corners=True),
                  dict(scale_factor=(2.5, 0.6), mode="bilinear"),
                  dict(scale_factor=(2.5, 0.6), mode="bilinear", recompute_scale_factor=True)]


@pytest.mark.parametrize("options", INTERPOLATIONS, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()))
def test_interpolate_matches_pytorch(options):
    x = np.random.default_rng(12).standard_normal((2, 3, 5, 7))
    check_against_pytorch(lambda m, x: m.nn.functional.interpolate(x, **options), [x])


def test_interpolate_against_numpy():
    x = np.random.default_rng(13).standard_normal((1, 2, 4, 3))
    nearest = lf.nn.functional.interpolate(lf.tensor(x), scale_factor=(2, 3)).numpy()
    np.testing.assert_array_equal(nearest, x.repeat(2, axis=2).repeat(3, axis=3))
    line = np.random.default_rng(14).standard_normal((1, 1, 5))
    corners = lf.nn.functional.interpolate(lf.tensor(line), size=9, mode="linear", align_corners=True).numpy()
    np.testing.assert_allclose(corners[0, 0], np.interp(np.linspace(0, 4, 9), np.arange(5), line[0, 0]), rtol=1e-14)
    up = lf.nn.Upsample(scale_factor=2, mode="bilinear")
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    assert up(lf.tensor(x)).shape == (1, 2, 8, 6)
    with pytest.raises(ValueError, match="expects 4-D input"):
        lf.nn.functional.interpolate(lf.tensor(line), scale_factor=2, mode="bilinear")


def _products(node) -> list[tuple[int, ...]]:
    """The (*batch, M, N, K)-space shapes of the multiply-reduces in node's graph."""
    return [n.srcs[0].shape for n in postorder([node], lambda n: n.srcs) if is_product(n)]


def test_a_strided_transposed_convolution_multiplies_each_input_position_once():
    """Each input position times the weight, then added where its window lands: the
    product has a row per input position, not per position of an input spread out by
    zeros (stride^2 = 4x the work), and the backward reads the output's gradient
    through one windows view, not a padded, strided piece per kernel position."""
    rng = np.random.default_rng(12)
    x = lf.tensor(rng.standard_normal((2, 6, 5, 5)), requires_grad=True)
    w = lf.tensor(rng.standard_normal((6, 4, 4, 4)), requires_grad=True)
    y = lf.nn.functional.conv_transpose2d(x, w, stride=2, padding=1)
    assert y.shape == (2, 4, 10, 10)
    (space,) = _products(y.node)
    assert math.prod(space) == 2 * 5 * 5 * 6 * (4 * 4 * 4)
    y.backward(lf.tensor(rng.standard_normal(y.shape)))  # (x.grad stays lazy: its graph is the backward's)
    masked = [n for n in postorder([x.grad.node], lambda n: n.srcs) if n.op is Op.VIEW and n.arg.mask is not None]
    assert len(masked) <= 1, len(masked)  # the crop's gradient; piece by piece, 48
    check_against_pytorch(lambda m, x, w: m.nn.functional.conv_transpose2d(x, w, stride=2, padding=1) ** 2,
                          [x.detach().numpy(), w.detach().numpy()])


@pytest.mark.parametrize("kernel, stride", [(4, 2), (3, 2), (5, 3)])
def test_a_strided_windows_gradient_has_a_term_per_phase(kernel, stride):
    """The gradient of strided windows (a strided convolution's input gradient, a
    transposed convolution) adds, for each input position, the window elements that
    read it: ceil(kernel / stride) terms per dim, each a shifted slice of the window
    gradient, rather than one piece per kernel position spread out by zeros (a
    stride-2 4x4 convolution's input gradient 6.3-8.1 -> 1.5-2.4 ms)."""
    rng = np.random.default_rng(14)
    x = lf.tensor(rng.standard_normal((2, 3, 11, 10)), requires_grad=True)
    w = lf.tensor(rng.standard_normal((4, 3, kernel, kernel)))
    y = lf.nn.functional.conv2d(x, w, stride=stride, padding=1)
    y.backward(lf.tensor(rng.standard_normal(y.shape)))
    sums = [n for n in postorder([x.grad.node], lambda n: n.srcs) if n.op is Op.ADD and n.shape == (2, 3, 13, 12)]
    phases = -(-kernel // stride)
    assert len(sums) == phases * phases - 1  # the terms of the padded input's gradient, added
    check_against_pytorch(lambda m, x, w: m.nn.functional.conv2d(x, w, stride=stride, padding=1) ** 2,
                          [x.detach().numpy(), w.numpy()])


def test_a_transposed_convolution_of_one_position_is_one_view():
    """DCGAN's first layer (a 1x1 input to 4x4): one window per dim, so its parts are
    placed by a view, with no sum of a piece per kernel position."""
    rng = np.random.default_rng(15)
    x, w = rng.standard_normal((3, 5, 1, 1)), rng.standard_normal((5, 4, 4, 4))
    y = lf.nn.functional.conv_transpose2d(lf.tensor(x), lf.tensor(w), stride=1, padding=0)
    assert not [n for n in postorder([y.node], lambda n: n.srcs) if n.op is Op.ADD]
    check_against_pytorch(lambda m, x, w: m.nn.functional.conv_transpose2d(x, w), [x, w])


FOLDS = [((2, 3, 9, 8), dict(kernel_size=3)),
         ((2, 3, 9, 8), dict(kernel_size=(2, 3), stride=2, padding=1, dilation=(1, 2))),
         ((3, 7, 7), dict(kernel_size=2, stride=(2, 1)))]


@pytest.mark.parametrize("shape,geometry", FOLDS)
def test_unfold_and_fold_match_pytorch(rng, shape, geometry):
    """F.unfold (im2col) and F.fold (col2im), values and gradients, batched and not."""
    x = rng.standard_normal(shape)
    check_against_pytorch(lambda m, t: m.nn.functional.unfold(t, **geometry), [x])
    columns = rng.standard_normal(tuple(lf.nn.functional.unfold(lf.tensor(x), **geometry).shape))
    check_against_pytorch(lambda m, t: m.nn.Fold(shape[-2:], **geometry)(t), [columns])


def test_unfold_is_im2col_and_fold_adds_the_columns_back(rng):
    """Against numpy: unfold's column of window (i, j) holds the window's elements in
    (channel, row, column) order, and folding adds each back where it was read, so
    fold(unfold(x)) is x times how many windows read each position."""
    x = rng.standard_normal((2, 3, 5, 6))
    columns = lf.nn.Unfold(kernel_size=(2, 3), padding=1)(lf.tensor(x)).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.stack([padded[:, :, i:i + 2, j:j + 3].reshape(2, -1) for i in range(6) for j in range(6)], -1)
    np.testing.assert_array_equal(columns, expected)
    folded = lf.nn.functional.fold(lf.tensor(columns), (5, 6), (2, 3), padding=1).numpy()
    reads = np.zeros((7, 8))
    for i in range(6):
        for j in range(6):
            reads[i:i + 2, j:j + 3] += 1
    np.testing.assert_allclose(folded, x * reads[1:6, 1:7], rtol=1e-12)
    with pytest.raises(RuntimeError, match=r"fold: expected an input of size \(N, C \* 6, 36\)"):
        lf.nn.functional.fold(lf.tensor(columns[..., :-1]), (5, 6), (2, 3), padding=1)


THREE_D = {
    "conv3d": (lambda m, x, w, b: m.nn.functional.conv3d(x, w, b, stride=(1, 2, 1), padding=1), (4, 3, 3, 2, 3)),
    "conv3d_groups": (lambda m, x, w, b: m.nn.functional.conv3d(x, w, b, groups=3, dilation=(1, 1, 2)), (6, 1, 2, 2, 2)),
    "conv_transpose3d": (lambda m, x, w, b: m.nn.functional.conv_transpose3d(x, w, stride=2, output_padding=1),
                         (3, 2, 2, 2, 2)),
    "max_pool3d": (lambda m, x, w, b: m.nn.functional.max_pool3d(x, 2, stride=(2, 1, 2), ceil_mode=True), None),
    "avg_pool3d": (lambda m, x, w, b: m.nn.functional.avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False),
                   None),
    "adaptive_avg_pool3d": (lambda m, x, w, b: m.nn.functional.adaptive_avg_pool3d(x, (2, 3, 4)), None),
    "adaptive_max_pool3d": (lambda m, x, w, b: m.nn.functional.adaptive_max_pool3d(x, (3, 2, 2)), None),
}


@pytest.mark.parametrize("name", THREE_D)
def test_volumetric_convolutions_and_pools_match_pytorch(rng, name):
    """The 3-D forms are the same windows as the 1-D and 2-D ones, over three dims."""
    fn, weight_shape = THREE_D[name]
    x = rng.standard_normal((2, 3, 6, 5, 7))
    if weight_shape is None:
        check_against_pytorch(lambda m, t: fn(m, t, None, None), [x])
    else:
        w, b = rng.standard_normal(weight_shape), rng.standard_normal(weight_shape[0])
        check_against_pytorch(lambda m, t, u, v: fn(m, t, u, v), [x, w, b], rtol=1e-10, grad_rtol=1e-9)


def test_volumetric_layers_have_pytorchs_shapes(rng):
    x = lf.tensor(rng.standard_normal((2, 3, 6, 5, 7)).astype(np.float32))
    net = lf.nn.Sequential(lf.nn.Conv3d(3, 4, 3, padding=1), lf.nn.BatchNorm3d(4), lf.nn.MaxPool3d(2),
                           lf.nn.ConvTranspose3d(4, 2, 2, stride=2), lf.nn.AvgPool3d(2), lf.nn.AdaptiveAvgPool3d(1),
                           lf.nn.AdaptiveMaxPool3d(1))
    out = net(x)
    assert tuple(out.shape) == (2, 2, 1, 1, 1) and np.isfinite(out.detach().numpy()).all()
    with pytest.raises(ValueError, match="expected 5D input"):
        lf.nn.BatchNorm3d(3)(x[0])
