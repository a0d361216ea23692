"""nn and optim: training matches PyTorch step by step; an optimizer step is one
fused kernel per parameter."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
import lazyfuse.nn as nn
import lazyfuse.nn.functional as F


def test_cross_entropy_matches_numpy(rng):
    logits = rng.standard_normal((6, 3)).astype(np.float32)
    target = rng.integers(0, 3, size=6)
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -logp[np.arange(6), target].mean()
    with lf.profile() as prof:
        loss = F.cross_entropy(lf.tensor(logits), lf.tensor(target)).realize()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    assert len(prof.kernels) <= 2, prof  # log_softmax and the pick share the row kernel
    np.testing.assert_allclose(F.mse_loss(lf.tensor(logits), lf.zeros(6, 3), reduction="sum").item(),
                               (logits ** 2).sum(), rtol=1e-6)


def test_cross_entropy_of_a_target_out_of_range_is_nan(rng):
    """PyTorch raises; lazyfuse would have to read the targets on the host, so the
    row's loss is NaN instead (and so is any reduction over it), never a silent 0."""
    logits = lf.tensor(rng.standard_normal((3, 4)))
    rows = F.cross_entropy(logits, lf.tensor([0, 4, -100]), reduction="none").numpy()
    assert np.isfinite(rows[0]) and np.isnan(rows[1]) and rows[2] == 0.0
    assert np.isnan(F.cross_entropy(logits, lf.tensor([-2, 1, 1])).item())
    assert np.isfinite(F.cross_entropy(logits, lf.tensor([3, 1, -100])).item())


@pytest.mark.parametrize("target_kind", ["classes", "classes, ignoring class 1", "probabilities"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_options_match_pytorch(rng, reduction, label_smoothing, weighted, target_kind):
    """Values and gradients, batched and for one sample, with the module too; a target
    of -100 (the default ignore_index) counts for nothing."""
    torch = pytest.importorskip("torch")
    logits, weight = rng.standard_normal((6, 4)), rng.random(4) + 0.5
    target = {"classes": np.array([0, 3, 1, -100, 2, 1]), "classes, ignoring class 1": np.array([0, 3, 1, 0, 2, 1]),
              "probabilities": rng.random((6, 4))}[target_kind]
    options = dict(ignore_index=1 if "ignoring" in target_kind else -100, reduction=reduction,
                   label_smoothing=label_smoothing)
    for rows in (slice(None), 0):
        results = []
        for m in (lf, torch):
            x = m.tensor(logits[rows], requires_grad=True)
            loss = m.nn.functional.cross_entropy(x, m.tensor(target[rows]), m.tensor(weight) if weighted else None,
                                                 **options)
            loss.sum().backward()
            results.append((loss.detach().numpy(), x.grad.numpy()))
        (ours, our_grad), (theirs, their_grad) = results
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(our_grad, their_grad, rtol=1e-9, atol=1e-12)
    module = nn.CrossEntropyLoss(lf.tensor(weight) if weighted else None, **options)
    np.testing.assert_allclose(module(lf.tensor(logits), lf.tensor(target)).numpy(),
                               F.cross_entropy(lf.tensor(logits), lf.tensor(target), lf.tensor(weight) if weighted
                                               else None, **options).numpy())


def test_module_api(rng):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in model.parameters())
    w = model[0].weight.detach().numpy()
    assert np.abs(w).max() <= 0.5 and w.std() > 0.1  # U(-1/sqrt(4), 1/sqrt(4))
    state = model.state_dict()
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    other.load_state_dict(state)
    x = lf.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_allclose(other(x).detach().numpy(), model(x).detach().numpy())
    assert model.eval().training is False and model[0].training is False
    with pytest.raises(RuntimeError, match="missing keys"):
        other.load_state_dict({})
    model(x).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def _optimizer_step_kernels(opt_factory, rng) -> tuple[int, int]:
    """Kernels of the gradients alone, and of an optimizer step (the gradients,
    which backward leaves deferred, with the updates)."""
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = opt_factory(model.parameters())
    x, y = lf.tensor(rng.standard_normal((32, 8)).astype(np.float32)), lf.tensor(rng.standard_normal((32, 1)).astype(np.float32))
    counts = []
    for _ in range(3):
        opt.zero_grad()
        nn.MSELoss()(model(x), y).backward()
        with lf.profile() as prof:
            opt.step()
        counts.append(len(prof.kernels))
    opt.zero_grad()
    nn.MSELoss()(model(x), y).backward()
    with lf.profile() as prof:
        lf.realize(*[p.grad for p in model.parameters()])
    return len(prof.kernels), max(counts)


@pytest.mark.parametrize("factory", [lambda p: lf.optim.SGD(p, lr=0.1, momentum=0.9),
                                     lambda p: lf.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                     lambda p: lf.optim.Adam(p, lr=1e-2), lambda p: lf.optim.AdamW(p, lr=1e-2),
                                     lambda p: lf.optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True),
                                     lambda p: lf.optim.Adagrad(p, lr=1e-2, lr_decay=0.01),
                                     lambda p: lf.optim.Adadelta(p), lambda p: lf.optim.Adamax(p),
                                     lambda p: lf.optim.NAdam(p), lambda p: lf.optim.RAdam(p), lambda p: lf.optim.Rprop(p)],
                         ids=["sgd_momentum", "sgd_nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax",
                              "nadam", "radam", "rprop"])
def test_an_optimizer_step_adds_no_kernels_to_the_gradients(rng, factory, request):
    gradients, step = _optimizer_step_kernels(factory, rng)
    # each parameter and its state are updated in its gradient's kernel; Adam's step
    # counts (scalars on the device, which those kernels read) ride in an earlier kernel.
    # RAdam's update of one weight takes a kernel of its own (measured; not chased)
    assert step == gradients + (request.node.callspec.id == "radam")


def test_parameters_of_one_shape_are_each_updated_in_their_own_gradient_kernel(rng):
    xs, ys = rng.standard_normal((64, 4)), rng.standard_normal(64)
    x, y = lf.tensor(xs), lf.tensor(ys)
    p1, p2 = lf.tensor(np.zeros(4), requires_grad=True), lf.tensor(np.ones(4), requires_grad=True)
    opt = lf.optim.SGD([p1, p2], lr=0.1)
    v1, v2 = np.zeros(4), np.ones(4)
    for _ in range(3):
        opt.zero_grad()
        (((x * p1).sum(1) - y) ** 2 + ((x * p2).sum(1) - y) ** 2).mean().backward()
        with lf.profile() as prof:
            opt.step()
        g1, g2 = (2 * (xs @ v - ys) @ xs / 64 for v in (v1, v2))
        v1, v2 = v1 - 0.1 * g1, v2 - 0.1 * g2
        np.testing.assert_allclose(p1.detach().numpy(), v1, rtol=1e-12)
        np.testing.assert_allclose(p2.detach().numpy(), v2, rtol=1e-12)
    opt.zero_grad()
    (((x * p1).sum(1) - y) ** 2 + ((x * p2).sum(1) - y) ** 2).mean().backward()
    with lf.profile() as gradients_only:
        lf.realize(p1.grad, p2.grad)
    assert len(prof.kernels) == len(gradients_only.kernels)


def _pair(torch, rng, sizes, out_features):
    layers_t = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                   torch.nn.Linear(sizes[1], out_features))
    layers_l = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], out_features))
    layers_l.load_state_dict({k: lf.tensor(v.detach().numpy()) for k, v in layers_t.state_dict().items()})
    return layers_t, layers_l


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "classifier"])
def test_training_matches_pytorch_at_every_step(rng, optimizer):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # 32 -> 48 -> out: the first layer's products (forward, and the weight's gradient) are tiled kernels
    x = rng.standard_normal((64, 32)).astype(np.float32)
    if optimizer == "classifier":
        y = rng.integers(0, 3, size=64)
        model_t, model_l = _pair(torch, rng, (32, 48), 3)
        loss_t, loss_l = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
        yt, yl = torch.tensor(y), lf.tensor(y)
    else:
        y = rng.standard_normal((64, 1)).astype(np.float32)
        model_t, model_l = _pair(torch, rng, (32, 48), 1)
        loss_t, loss_l = torch.nn.MSELoss(), nn.MSELoss()
        yt, yl = torch.tensor(y), lf.tensor(y)
    if optimizer == "adam":
        opt_t, opt_l = torch.optim.Adam(model_t.parameters(), lr=1e-2), lf.optim.Adam(model_l.parameters(), lr=1e-2)
    else:
        opt_t = torch.optim.SGD(model_t.parameters(), lr=0.05, momentum=0.9)
        opt_l = lf.optim.SGD(model_l.parameters(), lr=0.05, momentum=0.9)
    xt, xl = torch.tensor(x), lf.tensor(x)
    losses_t, losses_l = [], []
    for _ in range(50):
        opt_t.zero_grad()
        lt = loss_t(model_t(xt), yt)
        lt.backward()
        opt_t.step()
        losses_t.append(lt.item())
        opt_l.zero_grad()
        ll = loss_l(model_l(xl), yl)
        ll.backward()
        opt_l.step()
        losses_l.append(ll.item())
    np.testing.assert_allclose(losses_l, losses_t, rtol=2e-4, atol=1e-6)
    assert losses_l[-1] < losses_l[0]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                       "RAdam", "Rprop"])
def test_parameter_groups_and_a_learning_rate_schedule_match_pytorch(rng, optimizer):
    """Per-layer options in param_groups, and the learning rate changed through them
    every 10 steps, as a scheduler does."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x, y = rng.standard_normal((64, 8)).astype(np.float32), rng.standard_normal((64, 1)).astype(np.float32)
    model_t, model_l = _pair(torch, rng, (8, 16), 1)
    first = {"SGD": dict(momentum=0.5), "Adam": dict(betas=(0.8, 0.99), amsgrad=True),
             "AdamW": dict(weight_decay=0.1, amsgrad=True),
             "RMSprop": dict(centered=True, momentum=0.5, weight_decay=0.01),
             "Adagrad": dict(lr_decay=0.05, initial_accumulator_value=0.1, weight_decay=0.01),
             "Adadelta": dict(rho=0.8, weight_decay=0.01), "Adamax": dict(betas=(0.8, 0.99), weight_decay=0.01),
             "NAdam": dict(momentum_decay=0.01, weight_decay=0.01), "RAdam": dict(weight_decay=0.01),
             "Rprop": dict(etas=(0.4, 1.3), step_sizes=(1e-4, 0.05))}[optimizer]
    defaults = dict(lr=0.05, momentum=0.9) if optimizer == "SGD" else dict(lr=0.01)
    optimizers = [getattr(m.optim, optimizer)([{"params": model[0].parameters(), **first},
                                               {"params": model[2].parameters()}], **defaults)
                  for m, model in ((torch, model_t), (lf, model_l))]
    for ours, theirs in zip(optimizers[1].param_groups, optimizers[0].param_groups):  # PyTorch's names and values
        assert {k: v for k, v in ours.items() if k != "params"}.items() <= theirs.items()
    losses = {"torch": [], "lazyfuse": []}
    for step in range(30):
        for name, m, model, opt, xs, ys in (("torch", torch, model_t, optimizers[0], torch.tensor(x), torch.tensor(y)),
                                            ("lazyfuse", lf, model_l, optimizers[1], lf.tensor(x), lf.tensor(y))):
            if step % 10 == 9:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            opt.zero_grad()
            loss = ((model(xs) - ys) ** 2).mean()
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    np.testing.assert_allclose(losses["lazyfuse"], losses["torch"], rtol=2e-4, atol=1e-6)


def test_dataloader_batches_shuffles_and_drops_last(rng):
    from lazyfuse.utils.data import DataLoader, Generator, TensorDataset
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    data = TensorDataset(lf.tensor(x), y)
    batches = list(DataLoader(data, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 1), (4, 1), (2, 1)]
    assert batches[2][1].tolist() == [8, 9]
    assert len(DataLoader(data, batch_size=4, drop_last=True)) == 2
    first = [b[1].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, generator=Generator().manual_seed(3))]
    again = [b[1].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, generator=Generator().manual_seed(3))]
    assert first == again and sorted(first[0] + first[1]) == list(range(10)) and first[0] != [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, y[:3])


def _example(name: str):
    """The module of examples/<name>.py."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_training_script_learns_and_learns_the_same_captured():
    import io
    module = _example("train_mlp")
    out, captured_out = io.StringIO(), io.StringIO()
    final = module.main(steps=30, out=out)
    first = float(out.getvalue().split("loss ")[1].split()[0])
    assert final < first and "kernels/step" in out.getvalue()
    assert module.main(steps=30, capture=True, out=captured_out) == pytest.approx(final, rel=1e-5)


def test_linear_with_bias_and_relu_is_one_kernel(rng):
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((64, 32), (32, 16), (16,)))
    out = (lf.tensor(x) @ lf.tensor(w) + lf.tensor(b)).relu()
    with lf.profile() as prof:
        out.realize()
    assert len(prof.kernels) == 1 and prof.kernels[0].name.startswith("matmul"), prof
    np.testing.assert_allclose(out.numpy(), np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-5)


def test_layer_norm_is_one_kernel_and_matches_pytorch(rng):
    x = rng.standard_normal((6, 5, 40)).astype(np.float32)
    norm = nn.LayerNorm(40)
    weight, bias = rng.standard_normal((2, 40)).astype(np.float32)
    with lf.no_grad():
        norm.weight.copy_(weight)
        norm.bias.copy_(bias)
    out = norm(lf.tensor(x))
    with lf.profile() as prof:
        out.realize()
    assert len(prof.kernels) == 1, prof
    mean = x.mean(-1, keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * weight + bias
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    torch = pytest.importorskip("torch")
    reference = torch.nn.functional.layer_norm(torch.tensor(x), (40,), torch.tensor(weight),
                                               torch.tensor(bias))
    np.testing.assert_allclose(out.detach().numpy(), reference.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        lf.nn.functional.layer_norm(lf.tensor(x), (5,))


def test_example_cnn_learns_saves_and_loads_and_learns_the_same_captured():
    import io
    module = _example("train_cnn")
    plain, captured = io.StringIO(), io.StringIO()
    assert module.main(steps=10, out=plain) > 0.9
    assert module.main(steps=10, capture=True, out=captured) > 0.9
    last_loss = [line for line in plain.getvalue().splitlines() if line.startswith("step")][-1]
    assert last_loss in captured.getvalue()  # dropout's draws replayed as the plain steps drew them


SCHEDULES = {
    "StepLR": lambda m, opt: m.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, opt: m.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, opt: m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
    "LambdaLR": lambda m, opt: m.optim.lr_scheduler.LambdaLR(opt, [lambda e: 0.95 ** e, lambda e: 1 / (e + 1)]),
    "CosineAnnealingLR": lambda m, opt: m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.001),
    "MultiplicativeLR": lambda m, opt: m.optim.lr_scheduler.MultiplicativeLR(opt, lambda e: 0.9 + 0.01 * (e % 3)),
    "ConstantLR": lambda m, opt: m.optim.lr_scheduler.ConstantLR(opt, factor=0.3, total_iters=4),
    "LinearLR": lambda m, opt: m.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=0.9, total_iters=7),
    "PolynomialLR": lambda m, opt: m.optim.lr_scheduler.PolynomialLR(opt, total_iters=10, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, opt: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=3, T_mult=2, eta_min=0.01),
    "OneCycleLR": lambda m, opt: m.optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.4, 1.0], total_steps=26,
                                                                 cycle_momentum=False),
    "OneCycleLR three phases, linear": lambda m, opt: m.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.3, epochs=2, steps_per_epoch=13, pct_start=0.4, anneal_strategy="linear", three_phase=True,
        cycle_momentum=False),
    "SequentialLR warm-up then cosine": lambda m, opt: m.optim.lr_scheduler.SequentialLR(
        opt, [m.optim.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=4),
              m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10), m.optim.lr_scheduler.ConstantLR(opt, 0.5, 3)],
        milestones=[5, 15]),
    "ChainedScheduler": lambda m, opt: m.optim.lr_scheduler.ChainedScheduler(
        [m.optim.lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=2),
         m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_learning_rate_schedules_are_pytorchs(name):
    """The same rates, to the last bit, over 25 steps of two parameter groups; and the
    optimizer uses them (a parameter moved by lr * gradient)."""
    torch = pytest.importorskip("torch")
    rates = {}
    for m in (torch, lf):
        a, b = m.zeros(2, dtype=m.float64, requires_grad=True), m.zeros(3, dtype=m.float64, requires_grad=True)
        opt = m.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        scheduler = SCHEDULES[name](m, opt)
        rates[m.__name__] = []
        for _ in range(25):
            a.sum().backward()
            before = a.detach().numpy().copy()
            opt.step()
            opt.zero_grad()
            assert np.allclose(before - a.detach().numpy(), scheduler.get_last_lr()[0])
            scheduler.step()
            rates[m.__name__].append(scheduler.get_last_lr())
    assert rates["lazyfuse"] == rates["torch"]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_one_cycle_momentum_is_pytorchs_and_steers_the_optimizer(rng, optimizer):
    """OneCycleLR cycles SGD's momentum or Adam's beta1 every step; Adam's bias
    corrections follow the changing beta1 (they were kept per pair of betas, and each
    new pair restarted its count at 1)."""
    torch = pytest.importorskip("torch")
    w0 = rng.standard_normal(5).astype(np.float32)
    weights, momenta = {}, {}
    for m in (torch, lf):
        w = m.tensor(w0.copy(), requires_grad=True)
        opt = getattr(m.optim, optimizer)([w], lr=0.1, **({"momentum": 0.9} if optimizer == "SGD" else {}))
        scheduler = m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=12, base_momentum=0.7)
        momenta[m.__name__] = []
        for _ in range(12):
            (w * w * w).sum().backward()
            opt.step()
            opt.zero_grad()
            scheduler.step()
            group = opt.param_groups[0]
            momenta[m.__name__].append(group["momentum"] if optimizer == "SGD" else group["betas"])
        weights[m.__name__] = w.detach().numpy()
    assert momenta["lazyfuse"] == momenta["torch"]
    np.testing.assert_allclose(weights["lazyfuse"], weights["torch"], rtol=1e-4, atol=1e-6)


def test_chained_schedules_refuse_plateaus_and_other_optimizers():
    w = lf.zeros(2, requires_grad=True)
    opt, other = lf.optim.SGD([w], lr=0.1), lf.optim.SGD([w], lr=0.1)
    schedules = lf.optim.lr_scheduler
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        schedules.SequentialLR(opt, [schedules.ReduceLROnPlateau(opt), schedules.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="belong to the same optimizer"):
        schedules.ChainedScheduler([schedules.StepLR(opt, 2), schedules.StepLR(other, 2)])
    with pytest.raises(ValueError, match="one more than the number of milestone points"):
        schedules.SequentialLR(opt, [schedules.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="either total_steps OR"):
        schedules.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        schedules.OneCycleLR(lf.optim.Adagrad([w]), max_lr=1.0, total_steps=3)


@pytest.mark.parametrize("factory", [lambda p: lf.optim.SGD(p, lr=0.1, momentum=0.9),
                                     lambda p: lf.optim.AdamW(p, lr=0.1),
                                     lambda p: lf.optim.Adagrad(p, lr=0.1, lr_decay=0.1)], ids=["sgd", "adamw", "adagrad"])
def test_a_learning_rate_changed_every_step_builds_no_new_kernels(monkeypatch, factory):
    """A rate written into the kernels' source as a constant compiled a new program at
    every step of a schedule. A number seen to change is passed in a device scalar
    (runtime/changing_constants.py): its second value compiles once more (here at
    step 2: step 0 makes the optimizer state), later ones nothing."""
    from lazyfuse.kernels import program_cache
    built = []
    original = program_cache.build
    monkeypatch.setattr(program_cache, "build", lambda *args: built.append(1) or original(*args))
    w = lf.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    opt = factory([w])
    scheduler = lf.optim.lr_scheduler.ExponentialLR(opt, gamma=0.7)
    for step in range(6):
        if step == 3:
            built.clear()
        (w * w).sum().backward()
        opt.step()
        opt.zero_grad()
        scheduler.step()
        w.detach().numpy()
    assert built == [] and opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.7 ** 6)


@pytest.mark.parametrize("options", [dict(), dict(mode="max", factor=0.5, patience=2, cooldown=1),
                                     dict(threshold_mode="abs", threshold=0.05, patience=1, min_lr=[0.02, 0.0])],
                         ids=["defaults", "max_cooldown", "abs_min_lr"])
def test_reduce_on_plateau_is_pytorchs(options):
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.89, 0.9, 0.91, 0.92, 0.93, 0.88, 0.88, 0.88] * 2
    rates = {}
    for m in (torch, lf):
        a, b = m.zeros(2, requires_grad=True), m.zeros(3, requires_grad=True)
        opt = m.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
        scheduler = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **{"patience": 3, **options})
        rates[m.__name__] = []
        for value in metrics:
            scheduler.step(value)
            rates[m.__name__].append(tuple(group["lr"] for group in opt.param_groups))
    assert rates["lazyfuse"] == rates["torch"] and len(set(rates["torch"])) > 1


def test_adagrad_options_are_pytorchs():
    """The constructor's initial_accumulator_value fills the sums (PyTorch ignores a group's), lr_decay counts steps."""
    torch = pytest.importorskip("torch")
    values = {}
    for m in (torch, lf):
        p = m.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
        opt = m.optim.Adagrad([{"params": [p], "initial_accumulator_value": 9.0}], lr=0.1, lr_decay=0.2,
                              initial_accumulator_value=5.0, weight_decay=0.1, eps=1e-6)
        for _ in range(4):
            (p * p * p).sum().backward()
            opt.step()
            opt.zero_grad()
        values[m.__name__] = p.detach().numpy()
    np.testing.assert_allclose(values["lazyfuse"], values["torch"], rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_scales_as_pytorch_without_reading_the_host(norm_type, monkeypatch):
    arrays = [np.random.default_rng(20).standard_normal((3, 4)), np.random.default_rng(21).standard_normal(5)]
    params = [lf.tensor(a, requires_grad=True) for a in arrays]
    sum(((p * 3) ** 2).sum() for p in params).backward()
    grads = [2 * 9 * a for a in arrays]
    expected_norm = (np.max([np.abs(g).max() for g in grads]) if norm_type == math.inf
                     else np.sum([np.sum(np.abs(g) ** norm_type) for g in grads]) ** (1 / norm_type))
    import importlib
    tensor_module = importlib.import_module("lazyfuse.tensor")  # (lf.tensor is the function)
    reads = []
    original = tensor_module.read
    monkeypatch.setattr(tensor_module, "read", lambda node: reads.append(1) or original(node))
    total = lf.nn.utils.clip_grad_norm_(params, 5.0, norm_type=norm_type)
    assert reads == []
    np.testing.assert_allclose(total.item(), expected_norm, rtol=1e-12)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * min(1.0, 5.0 / (expected_norm + 1e-6)), rtol=1e-12)
    check = pytest.importorskip("torch")
    theirs = [check.tensor(a, requires_grad=True) for a in arrays]
    sum(((p * 3) ** 2).sum() for p in theirs).backward()
    assert check.nn.utils.clip_grad_norm_(theirs, 5.0, norm_type=norm_type).item() == pytest.approx(total.item(), rel=1e-12)


def test_clip_grad_value_and_parameter_vectors():
    p = lf.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (p * p).sum().backward()
    lf.nn.utils.clip_grad_value_([p], 3.0)
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, -3.0, 3.0])
    q = lf.tensor(np.arange(6.0).reshape(2, 3))
    vector = lf.nn.utils.parameters_to_vector([p, q])
    np.testing.assert_array_equal(vector.detach().numpy(), [1.0, -2.0, 3.0, 0, 1, 2, 3, 4, 5])
    lf.nn.utils.vector_to_parameters(vector.detach() * 2, [p, q])
    np.testing.assert_array_equal(q.numpy(), np.arange(6.0).reshape(2, 3) * 2)
    with pytest.raises(RuntimeError, match="non-finite"):
        r = lf.tensor(np.array([1.0]), requires_grad=True)
        (r * math.inf).sum().backward()
        lf.nn.utils.clip_grad_norm_(r, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("optimizer, options", [("SGD", dict(momentum=0.9)), ("Adam", dict(betas=(0.8, 0.99))),
                                                ("AdamW", {}), ("RMSprop", dict(momentum=0.5, centered=True)),
                                                ("Adagrad", dict(lr_decay=0.1)), ("NAdam", {}), ("RAdam", {}),
                                                ("Adadelta", {}), ("Adamax", {}), ("Rprop", {})])
def test_an_optimizer_checkpoint_resumes_training_where_it_stopped(rng, tmp_path, optimizer, options):
    """The checkpoint tutorial: state_dict saved with lazyfuse.save, loaded into a new
    optimizer (whose own lr the checkpoint's replaces); the resumed run equals one run
    straight through, and PyTorch's run, checkpointed the same way."""
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    w0 = rng.standard_normal((4, 1)).astype(np.float32)

    def train(m, checkpoint: bool):
        w = m.tensor(w0.copy(), requires_grad=True)
        opt = getattr(m.optim, optimizer)([w], lr=0.05, **options)
        for step in range(6):
            if checkpoint and step == 3:
                path = tmp_path / f"{m.__name__}.pt"
                m.save({"w": w.detach(), "optimizer": opt.state_dict()}, path)
                saved = m.load(path)
                w = m.tensor(saved["w"].numpy(), requires_grad=True)
                opt = getattr(m.optim, optimizer)([w], lr=1.0)
                opt.load_state_dict(saved["optimizer"])
            opt.zero_grad()
            ((m.tensor(x) @ w - m.tensor(y)) ** 2).mean().backward()
            opt.step()
        return w.detach().numpy(), opt.state_dict()

    resumed, state = train(lf, True)
    np.testing.assert_allclose(resumed, train(lf, False)[0], rtol=1e-6, atol=1e-7)
    assert state["param_groups"][0]["lr"] == 0.05 and state["param_groups"][0]["params"] == [0]
    torch = pytest.importorskip("torch")
    theirs, their_state = train(torch, True)
    np.testing.assert_allclose(resumed, theirs, rtol=1e-5, atol=1e-6)
    assert set(state["state"][0]) <= set(their_state["state"][0])


def test_loading_an_optimizer_state_of_another_shape_is_refused():
    a, b = lf.zeros(2, requires_grad=True), lf.zeros(3, requires_grad=True)
    state = lf.optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        lf.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        lf.optim.SGD([a], lr=0.1).load_state_dict(state)
    older = lf.optim.SGD([a, b], lr=0.3).state_dict()
    del older["param_groups"][0]["maximize"]  # an option a state saved earlier lacks
    resumed = lf.optim.SGD([a, b], lr=0.1)
    resumed.load_state_dict(older)
    assert resumed.param_groups[0]["maximize"] is False and resumed.param_groups[0]["lr"] == 0.3
    opt = lf.optim.Adam([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    state = opt.state_dict()
    state["state"][1]["step"] = lf.tensor(5.0)
    with pytest.raises(ValueError, match=r"counts the steps of the parameters on a device together.*\[1.0, 5.0\]"):
        lf.optim.Adam([a, b], lr=0.1).load_state_dict(state)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop"])
def test_maximize_ascends_as_pytorch_and_implementation_options_are_accepted(rng, optimizer):
    torch = pytest.importorskip("torch")
    w0 = rng.standard_normal(4).astype(np.float32)
    weights = {}
    for m in (torch, lf):
        w = m.tensor(w0.copy(), requires_grad=True)
        opt = getattr(m.optim, optimizer)([w], lr=0.01, maximize=True, foreach=False, differentiable=False)
        for _ in range(5):
            opt.zero_grad()
            (-(w - 1) ** 2).sum().backward()  # its maximum is at 1
            opt.step()
        weights[m.__name__] = w.detach().numpy()
    np.testing.assert_allclose(weights["lazyfuse"], weights["torch"], rtol=1e-5, atol=1e-6)
    assert np.abs(weights["lazyfuse"] - 1).sum() < np.abs(w0 - 1).sum()
    with pytest.raises(TypeError, match="unexpected keyword argument 'maximise'"):
        getattr(lf.optim, optimizer)([lf.zeros(2, requires_grad=True)], lr=0.01, maximise=True)


@pytest.mark.parametrize("optimizer", ["Adam", "AdamW"])
def test_amsgrad_steps_by_the_largest_second_moment_so_far(optimizer):
    """Large gradients first, then small ones: AMSGrad keeps dividing by the largest
    second moment seen, where Adam's decays (numpy's reference of PyTorch's formula)."""
    grads = np.array([[10.0, -8.0], [0.1, 0.2], [-0.1, 0.1], [0.05, -0.2], [0.1, 0.1]], np.float32)
    lr, (b1, b2), eps, decay = 0.1, (0.5, 0.6), 1e-8, 0.01 if optimizer == "AdamW" else 0.0
    results = {}
    for amsgrad in (True, False):
        p = lf.nn.Parameter(lf.tensor([1.0, -1.0]))
        opt = getattr(lf.optim, optimizer)([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=decay, amsgrad=amsgrad)
        for g in grads:
            p.grad = lf.tensor(g)
            opt.step()
        results[amsgrad] = p.detach().numpy()
    q, m, v, top = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for t, g in enumerate(grads.astype(np.float64), 1):
        q *= 1 - lr * decay
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        top = np.maximum(top, v)
        q -= lr / (1 - b1 ** t) * m / (np.sqrt(top) / np.sqrt(1 - b2 ** t) + eps)
    np.testing.assert_allclose(results[True], q, rtol=1e-5)
    assert not np.allclose(results[True], results[False], rtol=1e-3)
