"""lazyfuse.capture: replayed calls give what running the function gives (the
same function run eagerly on a twin of its state, and numpy in float64), and
calls that cannot be replayed run the function again or say why not."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyfuse as lf


def regression_step(x, y, w, b, lr=0.01):
    """The bench's training step, returning the loss instead of reading it."""
    def step():
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with lf.no_grad():
            w.sub_(lr * w.grad)
            b.sub_(lr * b.grad)
            w.grad.zero_()
            b.grad.zero_()
        return loss
    return step


def regression_state(rng, rows=64, features=8):
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = rng.standard_normal((rows, 1)).astype(np.float32)
    w = rng.standard_normal((features, 1)).astype(np.float32)
    return x, y, w, np.zeros(1, np.float32)


def optimizer_step(model, optimizer, x, y):
    """zero_grad, the mean squared error, backward and an optimizer step, returning the loss."""
    def step():
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        return loss
    return step


def lazyfuse_state(x, y, w, b):
    return lf.tensor(x), lf.tensor(y), lf.tensor(w, requires_grad=True), lf.tensor(b, requires_grad=True)


def test_replayed_regression_steps_match_eager_steps_and_numpy(rng, fusion):
    arrays = regression_state(rng)
    eager_state, captured_state = lazyfuse_state(*arrays), lazyfuse_state(*arrays)
    eager, captured = regression_step(*eager_state), lf.capture(regression_step(*captured_state))
    x, y, w, b = (a.astype(np.float64) for a in arrays)
    for _ in range(6):
        err = x @ w + b - y
        expected_loss = (err ** 2).mean()
        grad = 2 * err / err.size
        w, b = w - 0.01 * (x.T @ grad), b - 0.01 * grad.sum(0)
        loss = captured()
        assert loss.shape == () and not loss.requires_grad
        assert loss.item() == pytest.approx(eager().item(), rel=1e-6)
        assert loss.item() == pytest.approx(expected_loss, rel=1e-5)
        np.testing.assert_allclose(captured_state[2].detach().numpy(), w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(captured_state[3].detach().numpy(), b, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(captured_state[2].grad.numpy(), np.zeros_like(w))
    # the first call makes .grad, so the second is the one captured
    assert (captured.captures, captured.replays) == (1, 4)


def test_module_and_optimizer_loop_with_batches_as_arguments(rng):
    """zero_grad(set_to_none=True), backward, SGD with momentum: each replay makes a new .grad, as PyTorch does."""
    def model_and_optimizer():
        lf.manual_seed(7)
        model = lf.nn.Sequential(lf.nn.Linear(4, 8), lf.nn.Tanh(), lf.nn.Linear(8, 1))
        return model, lf.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def training_step(model, optimizer):
        def step(x, y):
            optimizer.zero_grad()
            loss = lf.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            return loss
        return step

    eager_model, eager_opt = model_and_optimizer()
    model, opt = model_and_optimizer()
    eager, captured = training_step(eager_model, eager_opt), lf.capture(training_step(model, opt))
    for _ in range(6):
        x = rng.standard_normal((16, 4)).astype(np.float32)
        y = rng.standard_normal((16, 1)).astype(np.float32)
        expected = eager(lf.tensor(x), lf.tensor(y)).item()
        assert captured(lf.tensor(x), lf.tensor(y)).item() == pytest.approx(expected, rel=1e-5)
        for p, q in zip(model.parameters(), eager_model.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert captured.replays >= 3


def test_writes_between_calls_are_read_and_a_new_learning_rate_captures_again(rng):
    arrays = regression_state(rng)
    eager_state, captured_state = lazyfuse_state(*arrays), lazyfuse_state(*arrays)
    model = lf.nn.Linear(8, 1)
    eager_model = lf.nn.Linear(8, 1)
    with lf.no_grad():
        eager_model.weight.copy_(model.weight)
        eager_model.bias.copy_(model.bias)

    eager_opt, opt = lf.optim.SGD(eager_model.parameters(), lr=0.01), lf.optim.SGD(model.parameters(), lr=0.01)
    eager = optimizer_step(eager_model, eager_opt, *eager_state[:2])
    captured = lf.capture(optimizer_step(model, opt, *captured_state[:2]))
    for i in range(8):
        if i == 4:  # a write the replay did not make: the next call runs the function
            for m in (model, eager_model):
                with lf.no_grad():
                    m.weight.mul_(0.5)
        if i == 6:
            for o in (opt, eager_opt):
                o.param_groups[0]["lr"] = 0.1
        assert captured().item() == pytest.approx(eager().item(), rel=1e-5)
        np.testing.assert_allclose(model.weight.detach().numpy(), eager_model.weight.detach().numpy(), rtol=1e-5)
    # call 0 makes .grad; 1 and 6 (new lr) capture; the rest replay
    assert (captured.captures, captured.replays) == (2, 5)


def test_arguments_of_another_shape_capture_again():
    captured = lf.capture(lambda a, b: (a * b + 1).sum(0))
    for shape in [(4, 3), (4, 3), (4, 3), (5, 2), (5, 2)]:
        a, b = np.arange(np.prod(shape), dtype=np.float32).reshape(shape), np.full(shape, 2.0, np.float32)
        np.testing.assert_allclose(captured(lf.tensor(a), lf.tensor(b)).numpy(), (a * b + 1).sum(0))
    assert (captured.captures, captured.replays) == (2, 3)


def test_tuple_and_none_results():
    t = lf.tensor(np.arange(6, dtype=np.float32))
    pair = lf.capture(lambda: (t * 2, t.exp().sum()))
    for _ in range(3):
        doubled, total = pair()
        np.testing.assert_allclose(doubled.numpy(), np.arange(6) * 2)
        assert total.item() == pytest.approx(np.exp(np.arange(6)).sum(), rel=1e-6)
    assert pair.replays == 2

    def scale():
        with lf.no_grad():
            t.mul_(2)
    nothing = lf.capture(scale)
    for _ in range(3):
        assert nothing() is None
    np.testing.assert_allclose(t.numpy(), np.arange(6) * 8)
    assert nothing.replays == 2


def test_reading_a_value_inside_is_refused():
    t = lf.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"reads a tensor's value on the host .* Return the tensor"):
        lf.capture(lambda: t * t.sum().item())()


def test_tensors_made_from_host_data_inside_are_refused():
    t = lf.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="makes a tensor from host data"):
        lf.capture(lambda: t + lf.tensor([3.0, 4.0]))()


@pytest.mark.parametrize("optimizer", [lf.optim.Adam, lf.optim.AdamW])
def test_adam_steps_replay_like_eager_steps(rng, optimizer):
    """Adam's step count is on the device, so a replay counts steps as the function would."""
    x = lf.tensor(rng.standard_normal((32, 3)).astype(np.float32))

    def parameter_and_step():
        p = lf.tensor(np.ones((3, 1), np.float32), requires_grad=True)
        opt = optimizer([p], lr=0.1)

        def step():
            opt.zero_grad()
            loss = ((x @ p).tanh() ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return p, step
    (p_eager, eager), (p_captured, step) = parameter_and_step(), parameter_and_step()
    captured = lf.capture(step)
    for _ in range(8):
        assert captured().item() == pytest.approx(eager().item(), rel=1e-5)
        np.testing.assert_allclose(p_captured.detach().numpy(), p_eager.detach().numpy(), rtol=1e-5)
    assert captured.replays >= 5


def test_a_function_keeping_tensors_it_made_is_refused():
    t = lf.tensor([1.0, 2.0])
    history = []
    keep = lf.capture(lambda: history.append(t * 2))
    keep()
    keep()
    with pytest.raises(RuntimeError, match=r"3 calls in a row could not be captured: .*keeps 1 tensor"):
        keep()
    assert [h.numpy().tolist() for h in history] == [[2.0, 4.0]] * 3


def test_captured_function_inside_another_runs_as_part_of_it():
    t = lf.tensor([1.0, 2.0])
    inner = lf.capture(lambda: t + 1)
    outer = lf.capture(lambda: inner() * 3)
    for _ in range(3):
        np.testing.assert_allclose(outer().numpy(), [6.0, 9.0])
    assert outer.replays == 2 and inner.replays == 0


LEARNING_RATE = 0.01


def test_a_number_or_tensor_the_function_names_is_checked_at_every_call(rng):
    """Rebinding a global number or a closure's tensor makes the next call capture again."""
    global LEARNING_RATE
    w = lf.tensor(np.ones(4, np.float32))
    g = lf.tensor(np.arange(4, dtype=np.float32))

    def step():
        with lf.no_grad():
            w.sub_(LEARNING_RATE * g)
        return w * 1
    captured = lf.capture(step)
    expected = np.ones(4)
    try:
        for i in range(9):
            if i == 3:
                LEARNING_RATE = 0.5
            if i == 6:
                g = lf.tensor(np.full(4, 2.0, np.float32))  # noqa: F841 - read by step through its closure
            expected = expected - LEARNING_RATE * (np.arange(4) if i < 6 else np.full(4, 2.0))
            np.testing.assert_allclose(captured().numpy(), expected, rtol=1e-6)
    finally:
        LEARNING_RATE = 0.01
    assert (captured.captures, captured.replays) == (3, 6)


def test_training_and_evaluation_steps_replay_in_turn(rng):
    """Each reads the parameters the other wrote: values are read at the call, so neither captures again."""
    x = lf.tensor(rng.standard_normal((32, 4)).astype(np.float32))
    y = lf.tensor(rng.standard_normal((32, 1)).astype(np.float32))
    lf.manual_seed(3)
    model = lf.nn.Linear(4, 1)
    train = optimizer_step(model, lf.optim.SGD(model.parameters(), lr=0.1), x, y)

    def evaluate():
        with lf.no_grad():
            return ((model(x) - y) ** 2).mean()
    train_step, eval_step = lf.capture(train), lf.capture(evaluate)
    xs, ys = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    for _ in range(6):
        train_step()
        w = model.weight.detach().numpy().astype(np.float64)
        b = model.bias.detach().numpy().astype(np.float64)
        assert eval_step().item() == pytest.approx(((xs @ w.T + b - ys) ** 2).mean(), rel=1e-5)
    assert train_step.replays >= 3 and eval_step.replays == 5


def _predict(model, x):
    return model(x) * LEARNING_RATE


def test_modules_and_helpers_the_function_names_are_checked_too(rng):
    """A module given a new Parameter, and a number a helper function reads, make the next call capture again."""
    global LEARNING_RATE
    x_np = rng.standard_normal((8, 3)).astype(np.float32)
    x = lf.tensor(x_np)
    model = lf.nn.Linear(3, 2)
    captured = lf.capture(lambda: _predict(model, x))
    try:
        for i in range(9):
            if i == 3:
                model.weight = lf.nn.Parameter(lf.tensor(np.ones((2, 3), np.float32)))
            if i == 6:
                LEARNING_RATE = 2.0
            w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
            np.testing.assert_allclose(captured().numpy(), (x_np @ w.T + b) * LEARNING_RATE, rtol=1e-5, atol=1e-6)
    finally:
        LEARNING_RATE = 0.01
    assert (captured.captures, captured.replays) == (3, 6)


# random programs: statements (target, op, first source, second source, number) that
# write tensors in place, run as a captured function and eagerly on a twin state,
# with writes from outside the function between some calls
_OPS = {"add": lambda u, v, k: u + v * k, "mul": lambda u, v, k: u * (v * 0.1 + k),
        "max": lambda u, v, k: u.maximum(v) - k, "copy": lambda u, v, k: v + 0 * u}
_WRITES = {"add_": lambda t, v: t.add_(v), "copy_": lambda t, v: t.copy_(v), "mul_": lambda t, v: t.mul_(v)}


def _random_program_state(seed: int):
    """Three tensors and a view of the first: (tensors the program names, the bases)."""
    values = np.random.default_rng(seed).standard_normal((3, 4)).astype(np.float32)
    a, b, c = (lf.tensor(v) for v in values)
    return [a, b, c, a[1:3].reshape(2).reshape(2)], [a, b, c]


def _run_program(tensors, program):
    with lf.no_grad():
        for target, op, i, j, k, write in program:
            u, v = tensors[i], tensors[j]
            if tensors[target].shape != u.shape or u.shape != v.shape:
                continue
            _WRITES[write](tensors[target], _OPS[op](u, v, k))
    return tensors[0] * 2 + tensors[1]


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(sorted(_OPS)), st.integers(0, 3),
                                  st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from(sorted(_WRITES))),
                        min_size=1, max_size=5),
       outside=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from([-1.0, 3.0])), max_size=3),
       seed=st.integers(0, 1000))
def test_random_in_place_programs_replay_like_eager_runs(program, outside, seed):
    eager_tensors, eager_bases = _random_program_state(seed)
    captured_tensors, captured_bases = _random_program_state(seed)
    captured = lf.capture(lambda: _run_program(captured_tensors, program))
    for call in range(6):
        for when, target, k in outside:
            if when == call:
                for tensors in (eager_tensors, captured_tensors):
                    with lf.no_grad():
                        tensors[target].add_(k)
        expected = _run_program(eager_tensors, program).numpy()
        np.testing.assert_allclose(captured().numpy(), expected, rtol=1e-5, atol=1e-5)
        for mine, theirs in zip(captured_bases, eager_bases):
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)
    assert captured.replays >= 1


def _training_program(p, q, x, zeroing: str, lr: float):
    def step():
        if zeroing == "none at start":
            p.grad = q.grad = None
        loss = ((x * p).tanh() * q).sum() + (p * q).sum()
        loss.backward()
        with lf.no_grad():
            p.sub_(lr * p.grad)
            q.sub_(lr * q.grad)
            if zeroing == "zero_ at end":
                p.grad.zero_()
                q.grad.zero_()
        return loss
    return step


@settings(max_examples=int(os.environ.get("LAZYFUSE_GRAPH_EXAMPLES", "40")) // 4, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(zeroing=st.sampled_from(["none at start", "zero_ at end", "accumulate"]), lr=st.sampled_from([0.01, 0.1]),
       outside=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["p", "x", "grad"])), max_size=3),
       seed=st.integers(0, 1000))
def test_random_training_steps_replay_like_eager_runs(zeroing, lr, outside, seed):
    """Gradients zeroed, set to None or left to accumulate, with writes to parameters,
    inputs and gradients from outside between calls."""
    values = np.random.default_rng(seed).standard_normal((3, 5)).astype(np.float32)
    twins = []
    for _ in range(2):
        p, q = lf.tensor(values[0], requires_grad=True), lf.tensor(values[1], requires_grad=True)
        x = lf.tensor(values[2])
        twins.append((p, q, x, _training_program(p, q, x, zeroing, lr)))
    (p_e, q_e, x_e, eager), (p_c, q_c, x_c, step) = twins
    captured = lf.capture(step)
    for call in range(6):
        for when, what in outside:
            if when != call:
                continue
            for p, x in ((p_e, x_e), (p_c, x_c)):
                with lf.no_grad():
                    if what == "p":
                        p.mul_(0.5)
                    elif what == "x":
                        x.add_(1.0)
                    elif p.grad is not None:
                        p.grad.add_(1.0)
        assert captured().item() == pytest.approx(eager().item(), rel=1e-5, abs=1e-6)
        for mine, theirs in ((p_c, p_e), (q_c, q_e)):
            np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
            assert (mine.grad is None) == (theirs.grad is None)
            if mine.grad is not None:
                np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
    # a .grad written from outside and then zeroed by the step starts the next call as
    # another kind of value: such calls run the function (eagerly, not refused)
    assert captured.replays >= 1 or any(what == "grad" for _, what in outside)


def test_why_a_call_captures_again_is_logged_and_a_loop_that_never_replays_is_warned_about(monkeypatch, capsys):
    global LEARNING_RATE
    monkeypatch.setenv("LAZYFUSE_DEBUG", "1")
    w = lf.tensor(np.ones(3, np.float32))
    captured = lf.capture(lambda: w * LEARNING_RATE)
    try:
        captured()
        LEARNING_RATE = 0.5
        captured()
        assert "captures again: `LEARNING_RATE` changed" in capsys.readouterr().err
        with pytest.warns(RuntimeWarning, match=r"captured 8 calls in a row without replaying one.*`LEARNING_RATE`"):
            for i in range(7):
                LEARNING_RATE = float(i)
                np.testing.assert_allclose(captured().numpy(), np.full(3, float(i)))
    finally:
        LEARNING_RATE = 0.01
    assert captured.replays == 0


def test_numbers_as_arguments_are_built_in_and_a_new_number_captures_again():
    t = lf.tensor(np.arange(4, dtype=np.float32))
    scaled = lf.capture(lambda x, k: x * k + 1)
    for k in (2.0, 2.0, 2.0, 3.0, 3.0):
        np.testing.assert_allclose(scaled(t, k).numpy(), np.arange(4) * k + 1)
    assert (scaled.captures, scaled.replays) == (2, 3)
    with pytest.raises(TypeError, match="tensors or numbers, got str"):
        scaled(t, "2")


def test_a_captured_method_has_one_capture_per_instance(rng):
    class Trainer:
        def __init__(self, seed):
            lf.manual_seed(seed)
            self.model = lf.nn.Linear(3, 1)
            self.opt = lf.optim.SGD(self.model.parameters(), lr=0.1)

        @lf.capture
        def step(self, x, y):
            self.opt.zero_grad()
            loss = ((self.model(x) - y) ** 2).mean()
            loss.backward()
            self.opt.step()
            return loss

    x = lf.tensor(rng.standard_normal((8, 3)).astype(np.float32))
    y = lf.tensor(rng.standard_normal((8, 1)).astype(np.float32))
    first, second, eager = Trainer(1), Trainer(2), Trainer(1)
    for _ in range(5):
        expected = optimizer_step(eager.model, eager.opt, x, y)().item()
        assert first.step(x, y).item() == pytest.approx(expected, rel=1e-5)
        second.step(x, y)
    assert first.step is first.step and first.step is not second.step
    assert first.step.replays == 3 and second.step.replays == 3
    assert not np.allclose(first.model.weight.detach().numpy(), second.model.weight.detach().numpy())


def test_a_captured_module_method_sees_a_new_parameter(rng):
    class Scaled(lf.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = lf.nn.Parameter(lf.tensor(np.ones(3, np.float32)))

        @lf.capture
        def forward(self, x):
            return x * self.weight

    module, x = Scaled(), lf.tensor(np.arange(3, dtype=np.float32))
    for i in range(5):
        if i == 3:
            module.weight = lf.nn.Parameter(lf.tensor(np.full(3, 2.0, np.float32)))
        np.testing.assert_allclose(module(x).numpy(), np.arange(3) * (2.0 if i >= 3 else 1.0))
    assert (module.forward.captures, module.forward.replays) == (2, 3)


def test_a_function_that_uses_a_grad_and_then_replaces_it_is_refused():
    """A replay reads the tensors the captured call read: here the .grad it found, not the next call's."""
    p = lf.tensor([1.0, 2.0], requires_grad=True)

    def step():
        (p * p).sum().backward()
        with lf.no_grad():
            p.sub_(0.1 * p.grad)
        p.grad = p.grad * 0.5  # half of the gradient is carried into the next step's
        return p * 1
    captured = lf.capture(step)
    captured()
    captured()
    with pytest.raises(RuntimeError, match=r"uses a tensor's .grad and then gives it a new one"):
        captured()


STEPS_TAKEN = 0
FIRST, SECOND = lf.tensor([1.0]), lf.tensor([2.0])


def test_a_function_rebinding_a_name_it_reads_is_refused():
    """Swapping two global tensors, or counting in a global, inside the function: a replay would do neither."""
    def swap():
        global FIRST, SECOND
        FIRST, SECOND = SECOND, FIRST
        return FIRST * 10

    def count():
        global STEPS_TAKEN
        STEPS_TAKEN += 1
        return FIRST * STEPS_TAKEN
    for fn in (swap, count):
        captured = lf.capture(fn)
        captured()
        captured()
        with pytest.raises(RuntimeError, match="rebinds `(FIRST|SECOND|STEPS_TAKEN)`"):
            captured()


def test_an_instance_with_a_captured_method_is_freed():
    import gc
    import weakref

    class Doubler:
        @lf.capture
        def twice(self, x):
            return x * 2
    d = Doubler()
    np.testing.assert_allclose(d.twice(lf.tensor([1.0])).numpy(), [2.0])
    gone = weakref.ref(d)
    del d
    gc.collect()
    assert gone() is None


def test_a_step_with_batch_norm_replays_its_running_statistics(rng):
    """Buffers written in place each step (running mean and variance, the batch count)
    advance on every replay as in the plain steps."""
    x = lf.tensor(rng.standard_normal((16, 4)).astype(np.float32))
    y = lf.tensor(rng.standard_normal((16, 1)).astype(np.float32))

    def run(wrap):
        lf.manual_seed(0)
        model = lf.nn.Sequential(lf.nn.Linear(4, 8), lf.nn.BatchNorm1d(8, momentum=None), lf.nn.ReLU(),
                                 lf.nn.Linear(8, 1))
        run_step = wrap(optimizer_step(model, lf.optim.SGD(model.parameters(), lr=0.1), x, y))
        losses = [run_step().item() for _ in range(6)]
        return losses, model[1].state_dict(), run_step

    plain, plain_state, _ = run(lambda f: f)
    replayed, replayed_state, captured = run(lf.capture)
    assert captured.replays >= 3
    np.testing.assert_allclose(replayed, plain, rtol=1e-6)
    for name, value in plain_state.items():
        np.testing.assert_allclose(replayed_state[name].numpy(), value.numpy(), rtol=1e-6)
    assert replayed_state["num_batches_tracked"].item() == 6


def test_arange_inside_is_computed_on_the_device_and_replays(rng):
    """arange uploads nothing (each element is computed from its position), so a step
    using it (cross_entropy's class positions, a mask from positions) replays."""
    x = lf.tensor(rng.standard_normal((4, 5)).astype(np.float32))
    target = lf.tensor(np.array([0, 4, 2, 1]))
    step = lf.capture(lambda x, t: lf.nn.functional.cross_entropy(x, t) + (x * (lf.arange(5) < 3)).sum())
    expected = [step(x * k, target).item() for k in (1.0, 2.0, 3.0)]
    assert step.replays >= 1
    logits = x.numpy() * 3.0
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    np.testing.assert_allclose(expected[-1], -logp[np.arange(4), [0, 4, 2, 1]].mean() + logits[:, :3].sum(), rtol=1e-5)
