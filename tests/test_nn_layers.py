"""The smaller layers, losses and initialisers of lazyfuse.nn: values and gradients
against numpy formulas and finite differences, and against PyTorch when installed."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

_rng = np.random.default_rng(0)
X = _rng.standard_normal((6, 4))
T = (_rng.random((6, 4)) > 0.5).astype(np.float64)
P = np.clip(1 / (1 + np.exp(-X)), 0.02, 0.98)
CLASSES = np.array([0, 3, 1, 2, 3, 0])


_erf = np.vectorize(math.erf)


def _log_softmax(x, axis):
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)


# name: (the same code for lazyfuse and torch, given the module and X as a tensor; numpy's answer)
CASES = {
    "leaky_relu": (lambda m, x: m.nn.functional.leaky_relu(x, 0.2) + m.nn.LeakyReLU()(x),
                   lambda x: np.where(x > 0, x, 0.2 * x) + np.where(x > 0, x, 0.01 * x)),
    "silu": (lambda m, x: m.nn.SiLU()(x), lambda x: x / (1 + np.exp(-x))),
    "gelu": (lambda m, x: m.nn.GELU()(x) + m.nn.functional.gelu(x * 3, approximate="tanh"),
             lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))
             + 1.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (3 * x + 0.044715 * 27 * x ** 3)))),
    "softmax_modules": (lambda m, x: m.nn.Softmax(1)(x) + m.nn.LogSoftmax(0)(x),
                        lambda x: np.exp(_log_softmax(x, 1)) + _log_softmax(x, 0)),
    "flatten_identity": (lambda m, x: m.nn.Flatten()(x.reshape(2, 3, 4)) + m.nn.Identity()(x).reshape(2, 12),
                         lambda x: 2 * x.reshape(2, 12)),
    "l1_loss": (lambda m, x: m.nn.functional.l1_loss(x, m.tensor(T)) + m.nn.L1Loss(reduction="sum")(x, m.tensor(T)),
                lambda x: np.abs(x - T).mean() + np.abs(x - T).sum()),
    "binary_cross_entropy": (
        lambda m, x: m.nn.BCELoss(weight=m.tensor(T + 1))(x.sigmoid().clamp(0.02, 0.98), m.tensor(T)),
        lambda x: (-(T * np.log(P) + (1 - T) * np.log(1 - P)) * (T + 1)).mean()),
    "bce_with_logits": (
        lambda m, x: m.nn.functional.binary_cross_entropy_with_logits(x, m.tensor(T), reduction="sum")
        + m.nn.BCEWithLogitsLoss(pos_weight=m.tensor([1.0, 2.0, 3.0, 0.5], dtype=m.float64))(x * 30, m.tensor(T)),
        lambda x: ((1 - T) * x + _softplus(x)).sum()
        + ((1 - T) * 30 * x + (1 + (np.array([1.0, 2.0, 3.0, 0.5]) - 1) * T) * _softplus(30 * x)).mean()),
    "nll_loss": (
        lambda m, x: m.nn.functional.nll_loss(x.log_softmax(1), m.tensor(CLASSES))
        + m.nn.NLLLoss(weight=m.tensor([1.0, 2.0, 0.5, 1.0], dtype=m.float64), ignore_index=3)(
            x.log_softmax(1), m.tensor(CLASSES)),
        lambda x: -_log_softmax(x, 1)[range(6), CLASSES].mean()
        + _weighted_nll(_log_softmax(x, 1), np.array([1.0, 2.0, 0.5, 1.0]), ignore=3)),
    "embedding": (lambda m, x: m.nn.functional.embedding(m.tensor(CLASSES.reshape(2, 3)), x),
                  lambda x: x[CLASSES.reshape(2, 3)]),
}


def _weighted_nll(logp, weight, ignore):
    kept = CLASSES != ignore
    w = weight[CLASSES[kept]]
    return -(logp[kept, CLASSES[kept]] * w).sum() / w.sum()


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy_and_gradients_finite_differences(name):
    fn, expected = CASES[name]
    np.testing.assert_allclose(fn(lf, lf.tensor(X)).numpy(), expected(X), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x: fn(lf, x), (lf.tensor(X, requires_grad=True),))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name):
    check_against_pytorch(CASES[name][0], [X])


def test_binary_cross_entropy_clamps_its_logs_at_minus_100():
    p, t = lf.tensor([0.0, 1.0, 0.3, 0.0, 1.0]), lf.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    loss = lf.nn.functional.binary_cross_entropy(p, t, reduction="none").numpy()
    np.testing.assert_allclose(loss, [100.0, 100.0, -np.log(0.3), 0.0, 0.0], rtol=1e-6)


def test_one_hot_and_its_class_count():
    c = lf.tensor(CLASSES)
    np.testing.assert_array_equal(lf.nn.functional.one_hot(c).numpy(), np.eye(4, dtype=np.int64)[CLASSES])
    assert lf.nn.functional.one_hot(c, 6).shape == (6, 6) and lf.nn.functional.one_hot(c).dtype is lf.int64


def test_dropout_zeroes_a_share_and_scales_the_rest_only_when_training():
    lf.manual_seed(0)
    layer = lf.nn.Dropout(0.25)
    out = layer(lf.ones(40000)).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01
    layer.eval()
    np.testing.assert_array_equal(layer(lf.tensor(X)).numpy(), X)
    with pytest.raises(ValueError, match="between 0 and 1"):
        lf.nn.Dropout(1.5)


def test_module_list_and_embedding_register_their_parameters():
    class Net(lf.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = lf.nn.Embedding(10, 3)
            self.layers = lf.nn.ModuleList([lf.nn.Linear(3, 3) for _ in range(2)]).append(lf.nn.Linear(3, 1))

        def forward(self, tokens):
            h = self.embed(tokens)
            for layer in self.layers:
                h = layer(h)
            return h

    net = Net()
    assert len(list(net.parameters())) == 1 + 3 * 2 and len(net.layers) == 3
    net(lf.tensor([[1, 2], [9, 0]])).sum().backward()
    grad = net.embed.weight.grad.numpy()
    assert np.all(grad[[1, 2, 9, 0]] != 0) and np.all(grad[3:9] == 0)  # only the rows looked up


def test_initialisers_fill_parameters_with_pytorchs_distributions():
    init = lf.nn.init
    lf.manual_seed(0)
    w = lf.nn.Parameter(lf.empty(400, 300))
    bound = math.sqrt(6 / 700)
    values = init.xavier_uniform_(w).detach().numpy()
    assert w.is_leaf and w.requires_grad and values.min() >= -bound and values.max() <= bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.01 * bound
    std = init.kaiming_normal_(w, nonlinearity="relu").detach().numpy().std()
    assert abs(std - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    bound = math.sqrt(3) * init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(300)  # Linear's default
    values = init.kaiming_uniform_(w, a=math.sqrt(5)).detach().numpy()
    assert values.min() >= -bound and values.max() <= bound and values.max() > 0.99 * bound
    np.testing.assert_array_equal(init.eye_(lf.empty(2, 3)).numpy(), np.eye(2, 3))
    np.testing.assert_array_equal(init.constant_(lf.empty(2), 0.5).numpy(), [0.5, 0.5])
    assert init.zeros_(w).detach().numpy().max() == 0 and init.ones_(w).detach().numpy().min() == 1
    assert init.calculate_gain("tanh") == 5 / 3
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(lf.empty(3))


@pytest.mark.parametrize("kind, shape, options", [("BatchNorm1d", (8, 3), {}), ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
                                                  ("BatchNorm2d", (4, 3, 5, 6), {"affine": False}),
                                                  ("BatchNorm2d", (2, 3, 4, 4), {"track_running_stats": False})])
def test_batch_norm_trains_and_evaluates_as_in_pytorch(kind, shape, options):
    """Outputs, input and weight gradients, running statistics over three training
    steps, then evaluation with the running statistics; the state dict's keys."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    ours, theirs = getattr(lf.nn, kind)(3, **options).double(), getattr(torch.nn, kind)(3, **options).double()
    for step in range(3):
        x = rng.standard_normal(shape) * 2 + step
        mine, ref = lf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out_mine, out_ref = ours(mine), theirs(ref)
        np.testing.assert_allclose(out_mine.detach().numpy(), out_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        weights = np.cos(np.arange(x.size)).reshape(shape)
        (out_mine * lf.tensor(weights)).sum().backward()
        (out_ref * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), value.numpy(), rtol=1e-10)
    if options.get("affine", True):
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-9)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(lf.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ours.train()(lf.zeros((1, 3) + (1,) * (len(shape) - 2), dtype=lf.float64))


def test_a_model_prints_and_walks_its_modules_as_in_pytorch():
    torch = pytest.importorskip("torch")

    def build(m):
        class Net(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.flatten = m.nn.Flatten()
                self.stack = m.nn.Sequential(
                    m.nn.Linear(784, 512), m.nn.ReLU(), m.nn.Dropout(0.2), m.nn.Linear(512, 10, bias=False),
                    m.nn.LeakyReLU(), m.nn.GELU(), m.nn.Softmax(dim=1), m.nn.LayerNorm(10, bias=False),
                    m.nn.BatchNorm1d(10), m.nn.Identity())
                self.convs = m.nn.ModuleList([
                    m.nn.Conv2d(3, 6, 5), m.nn.Conv2d(6, 8, 3, stride=2, padding=1, groups=2, bias=False),
                    m.nn.MaxPool2d(2, 2), m.nn.AvgPool2d(3), m.nn.AdaptiveAvgPool2d(1), m.nn.Conv1d(2, 4, 3, dilation=2),
                    m.nn.Embedding(10, 3), m.nn.Tanh(), m.nn.Sigmoid(), m.nn.SiLU(), m.nn.MSELoss(),
                    m.nn.CrossEntropyLoss(), m.nn.BatchNorm2d(3, affine=False)])
        return Net()

    ours, theirs = build(lf), build(torch)
    assert repr(ours) == repr(theirs)
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    seen = []
    ours.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Conv2d") == 2 and len(seen) == len(list(ours.modules()))
    ours.requires_grad_(False)
    assert not any(p.requires_grad for p in ours.parameters())


def _functional(m):
    return m.nn.functional


ACTIVATIONS_AND_LOSSES = {
    "hardtanh": (lambda m, x: _functional(m).hardtanh(x, -0.5, 0.7), {}),
    "relu6": (lambda m, x: _functional(m).relu6(x * 4), {}),
    "elu": (lambda m, x: _functional(m).elu(x, 0.7), {}),
    "selu": (lambda m, x: _functional(m).selu(x), {}),
    "celu": (lambda m, x: _functional(m).celu(x, 0.5), {}),
    "softplus": (lambda m, x: _functional(m).softplus(x * 10, 2.0, 15.0), {}),
    "softplus_defaults_far_out": (lambda m, x: _functional(m).softplus(x * 30), {}),
    "logsigmoid": (lambda m, x: _functional(m).logsigmoid(x * 30), {}),
    "mish": (lambda m, x: _functional(m).mish(x), {}),
    "softsign": (lambda m, x: _functional(m).softsign(x), {}),
    # PyTorch's float64 hardsigmoid gradient is 1/6 rounded to float32
    "hardsigmoid": (lambda m, x: _functional(m).hardsigmoid(x * 4), dict(grad_rtol=1e-7)),
    "hardswish": (lambda m, x: _functional(m).hardswish(x * 4), {}),
    "threshold": (lambda m, x: _functional(m).threshold(x, 0.1, -2.0), {}),
    "glu": (lambda m, x: _functional(m).glu(x, 1), {}),
    "softmin": (lambda m, x: _functional(m).softmin(x, 0), {}),
    "normalize": (lambda m, x: _functional(m).normalize(x, dim=1), {}),
    "normalize_p1": (lambda m, x: _functional(m).normalize(x, p=1.0, dim=0), {}),
    "cosine_similarity": (lambda m, x: _functional(m).cosine_similarity(x, x.flip(1) * 2), {}),
    "smooth_l1_loss": (lambda m, x: _functional(m).smooth_l1_loss(x, x.flip(0), beta=0.5), {}),
    "smooth_l1_loss_sum": (lambda m, x: _functional(m).smooth_l1_loss(x, x * 0, reduction="sum"), {}),
    "huber_loss": (lambda m, x: _functional(m).huber_loss(x * 2, x.flip(0), delta=0.8), {}),
    "huber_loss_none": (lambda m, x: _functional(m).huber_loss(x, x * 0.5, reduction="none"), {}),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS_AND_LOSSES))
def test_activations_and_losses_match_pytorch(name):
    fn, tolerances = ACTIVATIONS_AND_LOSSES[name]
    check_against_pytorch(fn, [np.random.default_rng(1).standard_normal((4, 6))], **tolerances)


MODULES = [("ReLU", (), {"inplace": True}), ("ReLU", (True,), {}), ("LeakyReLU", (0.2,), {}), ("LeakyReLU", (0.2, True), {}),
           ("ReLU6", (), {}), ("Hardtanh", (-2.0, 2.0), {}),
           ("ELU", (), {"alpha": 0.5, "inplace": True}), ("SELU", (), {}), ("CELU", (), {}), ("Softplus", (2.0,), {}),
           ("LogSigmoid", (), {}), ("Mish", (), {}), ("Softsign", (), {}), ("Hardsigmoid", (), {}), ("Hardswish", (), {}),
           ("Threshold", (0.1, 20.0), {}), ("GLU", (), {}), ("Softmin", (), {"dim": 1}), ("SiLU", (), {})]


@pytest.mark.parametrize("name, args, options", MODULES, ids=[m[0] + ("_inplace" if m[2].get("inplace") else "")
                                                                 + ("_positional" if True in m[1] else "") for m in MODULES])
def test_activation_modules_are_pytorchs(name, args, options):
    """The same repr and values; inplace=True writes the result into the input, as in PyTorch."""
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(lf.nn, name)(*args, **options), getattr(torch.nn, name)(*args, **options)
    assert repr(ours) == repr(theirs)
    a = np.random.default_rng(2).standard_normal((3, 4)) * 3
    x, xt = lf.tensor(a), torch.tensor(a)
    out, out_t = ours(x), theirs(xt)
    np.testing.assert_allclose(out.numpy(), out_t.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-12, atol=1e-12)  # written into only when inplace


def test_loss_modules_pass_their_options():
    torch = pytest.importorskip("torch")
    a, b = np.random.default_rng(3).standard_normal((2, 5, 3)) * 2
    for name, options in (("SmoothL1Loss", dict(beta=0.5, reduction="sum")), ("HuberLoss", dict(delta=1.5))):
        ours, theirs = getattr(lf.nn, name)(**options), getattr(torch.nn, name)(**options)
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(lf.tensor(a), lf.tensor(b)).item(),
                                   theirs(torch.tensor(a), torch.tensor(b)).item(), rtol=1e-12)
    with pytest.raises(TypeError, match=r"ELU takes the options \['alpha'\] and inplace"):
        lf.nn.ELU(beta=2.0)


@pytest.mark.parametrize("shape, groups", [((2, 6, 5), 3), ((2, 4, 3, 5), 2), ((3, 4), 4)])
def test_group_norm_matches_pytorch(shape, groups):
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    check_against_pytorch(lambda m, x, w, b: m.nn.functional.group_norm(x, groups, w, b, eps=1e-3), arrays)
    torch = pytest.importorskip("torch")
    assert repr(lf.nn.GroupNorm(groups, shape[1])) == repr(torch.nn.GroupNorm(groups, shape[1]))


@pytest.mark.parametrize("options", [dict(), dict(reduction="batchmean"), dict(reduction="sum"),
                                     dict(reduction="none", log_target=True)], ids=lambda o: "-".join(map(str, o.values())))
def test_kl_div_matches_numpy_and_pytorch(options):
    rng = np.random.default_rng(22)
    log_input = np.log(rng.random((2, 3, 4)) + 0.1)
    target = rng.random((2, 3, 4))
    target[0, 0, 0] = 0.0  # contributes 0, not NaN
    given = np.log(target + 0.5) if options.get("log_target") else target
    got = lf.nn.KLDivLoss(**options)(lf.tensor(log_input), lf.tensor(given)).numpy()
    pointwise = (np.exp(given) * (given - log_input) if options.get("log_target")
                 else np.where(target == 0, 0, target * np.log(np.where(target == 0, 1, target))) - target * log_input)
    expected = {"mean": pointwise.mean(), "batchmean": pointwise.sum() / 2, "sum": pointwise.sum(),
                "none": pointwise}[options.get("reduction", "mean")]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    check_against_pytorch(lambda m, x, t: m.nn.functional.kl_div(x, t, **options), [log_input, given])


@pytest.mark.parametrize("channels", [1, 3])
def test_prelu_matches_pytorch(channels):
    x = np.random.default_rng(23).standard_normal((2, 3, 4))
    check_against_pytorch(lambda m, x, w: m.nn.functional.prelu(x, w), [x, np.array([0.25, -0.5, 2.0][:channels])])
    module = lf.nn.PReLU(channels, dtype=lf.float64)
    np.testing.assert_array_equal(module(lf.tensor(x)).detach().numpy(), np.where(x > 0, x, 0.25 * x))
    assert repr(module) == f"PReLU(num_parameters={channels})"


def test_module_dict_holds_modules_by_name():
    d = lf.nn.ModuleDict({"a": lf.nn.Linear(2, 3), "b": lf.nn.ReLU()})
    d["c"] = lf.nn.Linear(3, 1)
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert isinstance(d.pop("a"), lf.nn.Linear) and list(d.keys()) == ["b", "c"]
    assert [n for n, _ in d.named_parameters()] == ["c.weight", "c.bias"]
    assert repr(d) == "ModuleDict(\n  (b): ReLU()\n  (c): Linear(in_features=3, out_features=1, bias=True)\n)"


def test_dropout2d_zeroes_whole_channels():
    x = lf.ones(8, 16, 3, 3)
    lf.manual_seed(1)
    out = lf.nn.Dropout2d(0.25)(x).numpy()
    per_channel = out.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, np.float32(1 / 0.75)}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # a channel is kept or dropped whole
    assert 0.1 < (per_channel[..., 0] == 0).mean() < 0.4
    assert (lf.nn.Dropout2d(0.25).eval()(x).numpy() == 1).all()


def test_an_embeddings_padding_row_starts_at_zero_and_gets_no_gradient(rng):
    """nn.Embedding(padding_idx=...) as in PyTorch: the row is zero at first, its picks
    read it, and it receives no gradient (negative indices count from the end)."""
    index = rng.integers(0, 50, (4, 9))
    index[0, :3] = 47
    upstream = rng.standard_normal((4, 9, 6)).astype(np.float32)
    emb = lf.nn.Embedding(50, 6, padding_idx=-3)
    table = emb.weight.detach().numpy()
    assert emb.padding_idx == 47 and not table[47].any()
    out = emb(lf.tensor(index))
    (out * lf.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), table[index])
    expected = np.zeros_like(table)
    np.add.at(expected, index.ravel(), upstream.reshape(-1, 6))
    expected[47] = 0
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-6)
    frozen = lf.nn.Embedding.from_pretrained(lf.tensor(table))
    assert not frozen.weight.requires_grad and np.array_equal(frozen(lf.tensor(index)).numpy(), table[index])
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        lf.nn.Embedding(50, 6, padding_idx=50)
    with pytest.raises(NotImplementedError, match="max_norm"):
        lf.nn.Embedding(50, 6, max_norm=1.0)(lf.tensor(index))


def test_bilinear_is_each_outputs_quadratic_form(rng):
    """nn.Bilinear: y[..., o] = x1 . A[o] x2 + b[o], against numpy's einsum, with
    gradients against finite differences."""
    layer = lf.nn.Bilinear(3, 5, 2)
    x1, x2 = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    a, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    np.testing.assert_allclose(layer(lf.tensor(x1), lf.tensor(x2)).detach().numpy(),
                               np.einsum("bi,oij,bj->bo", x1, a, x2) + b, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda p, q, w: lf.nn.functional.bilinear(p, q, w),
                     [lf.tensor(v.astype(np.float64), requires_grad=True) for v in (x1, x2, a)])
    with pytest.raises(RuntimeError, match="do not fit a weight"):
        layer(lf.tensor(x2), lf.tensor(x1))


def test_a_checkpointed_segment_gives_the_plain_calls_values_and_gradients(rng):
    x = rng.standard_normal((3, 4))
    grads = []
    for run in (lambda f, t: f(t), lambda f, t: lf.utils.checkpoint.checkpoint(f, t, use_reentrant=False)):
        t = lf.tensor(x, requires_grad=True)
        out = run(lambda v: (v * 2).sin().sum(1), t)
        out.sum().backward()
        grads.append((out.detach().numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
    np.testing.assert_allclose(grads[1][1], 2 * np.cos(2 * x), rtol=1e-12)
    net = lf.nn.Sequential(lf.nn.Linear(4, 4), lf.nn.Tanh())
    np.testing.assert_array_equal(lf.utils.checkpoint.checkpoint_sequential(net, 1, lf.tensor(x)).detach().numpy(),
                                  net(lf.tensor(x)).detach().numpy())


@pytest.mark.parametrize("shape,size", [((2, 7, 4, 5), 3), ((2, 6, 5), 4), ((1, 5, 3, 2, 2), 2)])
def test_local_response_norm_divides_by_its_channel_neighbourhood(rng, shape, size):
    """x / (k + alpha * mean of x^2 over size channels) ** beta, the window running from
    size // 2 channels before to (size - 1) // 2 after, zeros past the edges (numpy's
    loop; PyTorch's values and gradients when installed)."""
    x = rng.standard_normal(shape)
    got = lf.nn.LocalResponseNorm(size, alpha=0.1, beta=0.7, k=1.5)(lf.tensor(x)).numpy()
    squares = np.pad(x * x, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2))
    mean = np.stack([squares[:, c:c + size].sum(1) / size for c in range(shape[1])], 1)
    np.testing.assert_allclose(got, x / (1.5 + 0.1 * mean) ** 0.7, rtol=1e-12)
    check_against_pytorch(lambda m, t: m.nn.functional.local_response_norm(t, size, 0.1, 0.7, 1.5), [x])
