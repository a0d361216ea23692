"""Autograd: gradcheck for every differentiable op, PyTorch's semantics, and
the kernels a backward pass launches."""
from __future__ import annotations

import math

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import GradcheckError, gradcheck, gradgradcheck


def leaf(rng, *shape, low=-2.0, high=2.0):
    return lf.tensor(rng.uniform(low, high, size=shape), dtype=lf.float64, requires_grad=True)


UNARY = {
    "exp": (-2, 2), "exp2": (-2, 2), "log": (0.5, 3), "log2": (0.5, 3), "sqrt": (0.5, 3), "rsqrt": (0.5, 3),
    "sin": (-2, 2), "cos": (-2, 2), "tanh": (-2, 2), "sigmoid": (-3, 3), "relu": (-2, 2), "abs": (-2, 2),
    "neg": (-2, 2), "reciprocal": (0.5, 2), "square": (-2, 2), "erf": (-2, 2),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_gradcheck_unary(rng, name):
    lo, hi = UNARY[name]
    x = leaf(rng, 3, 4, low=lo, high=hi)
    assert gradcheck(lambda t: getattr(t, name)(), (x,))


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b, "maximum": lambda a, b: a.maximum(b), "minimum": lambda a, b: a.minimum(b),
    "where": lambda a, b: lf.where(a > b, a, b), "mod": lambda a, b: a % b,
    "scalar_ops": lambda a, b: 2 - a * 3 + b / 4 + 1 / b,
}


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4))], ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_gradcheck_binary_with_broadcasting(rng, name, shapes):
    a = leaf(rng, *shapes[0], low=0.5, high=2)
    b = leaf(rng, *shapes[1], low=0.5, high=2)
    assert gradcheck(BINARY[name], (a, b))


REDUCTIONS = {
    "sum": lambda t: t.sum(1), "sum_all": lambda t: t.sum(), "mean": lambda t: t.mean((0, 2), keepdim=True),
    "var": lambda t: t.var(-1), "std": lambda t: t.std(0), "amax": lambda t: t.amax(1), "amin": lambda t: t.amin(-1),
    "max_values": lambda t: t.max(2).values, "prod": lambda t: t.prod(1), "logsumexp": lambda t: t.logsumexp(1),
    "softmax": lambda t: t.softmax(-1), "log_softmax": lambda t: t.log_softmax(1), "clamp": lambda t: t.clamp(-0.5, 0.5),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_gradcheck_reductions(rng, name):
    x = leaf(rng, 2, 3, 4, low=0.5 if name == "prod" else -2, high=2)
    assert gradcheck(REDUCTIONS[name], (x,))


def test_amax_shares_the_gradient_among_ties():
    x = lf.tensor([[1.0, 3.0, 3.0]], dtype=lf.float64, requires_grad=True)
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_sigmoid_and_tanh_have_finite_gradients(dtype):
    """1 / (1 + exp(-x)) overflowed below x = -88 in float32: its gradient was NaN."""
    v = np.array([-1000.0, -200.0, -100.0, -50.0, -1.0, 0.0, 1.0, 50.0, 100.0, 1000.0], dtype)
    x = lf.tensor(v, requires_grad=True)
    (x.sigmoid() + x.tanh()).sum().backward()
    e = np.exp(-np.abs(v.astype(np.float64)))  # float64 derivatives, written without overflow
    expected = e / (1 + e) ** 2 + 4 * e * e / (1 + e * e) ** 2
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=2e-7 if dtype == np.float32 else 1e-15)


def test_sigmoid_is_one_primitive(rng):
    """Composed from exp(-|x|) it recorded eight nodes, ~80 us of Python a call (an
    LSTM cell takes three); the device computes 1 / (1 + exp(-x)), whose exp overflows
    to 1 / inf = 0 far below zero, as PyTorch's float32 sigmoid gives (0 at -90)."""
    x = lf.tensor(rng.standard_normal(5), requires_grad=True)
    assert x.sigmoid().node.srcs == (x.node,)
    v = np.array([-1000.0, -90.0, -87.0, -20.0, 0.0, 20.0, 1000.0, np.nan], np.float32)
    expected = [0.0, 0.0, 1.6458115e-38, 2.0611537e-09, 0.5, 1.0, 1.0, np.nan]
    np.testing.assert_allclose(lf.tensor(v).sigmoid().numpy(), expected, rtol=1e-6)


def test_prod_gradient_with_zeros():
    x = lf.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 3.0]], dtype=lf.float64, requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0]])


MOVEMENT = {
    "reshape": lambda t: t.reshape(4, 6), "permute": lambda t: t.permute(2, 0, 1) * 2, "T": lambda t: t[0].T.exp(),
    "slice": lambda t: t[:, 1:, ::2], "int_index": lambda t: t[1, 2], "expand": lambda t: t[:, :1].expand(2, 5, 4),
    "cat": lambda t: lf.cat([t, t[:, :1] * 2], 1), "stack": lambda t: lf.stack([t, t.sin()], -1),
    "squeeze": lambda t: t[:, None].squeeze(1).flatten(), "transposed_matmul": lambda t: t[0].T @ t[1],
}


@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_gradcheck_movement_and_non_contiguous(rng, name):
    x = leaf(rng, 2, 3, 4)
    assert gradcheck(MOVEMENT[name], (x,))


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3, 2))], ids=str)
def test_gradcheck_matmul(rng, shapes):
    assert gradcheck(lambda a, b: a @ b, (leaf(rng, *shapes[0]), leaf(rng, *shapes[1])))


@pytest.mark.parametrize("fn", [lambda a, b: (a * b).sin() + a.exp() / b, lambda a, b: a @ b.T,
                                lambda a, b: (a - b).softmax(-1)], ids=["elementwise", "matmul", "softmax"])
def test_gradgradcheck(rng, fn):
    assert gradgradcheck(fn, (leaf(rng, 2, 3, low=0.5), leaf(rng, 2, 3, low=0.5)))


def test_gradcheck_reports_the_worst_mismatch(rng):
    def wrong(t):  # a function whose gradient is deliberately broken: detach hides a term
        return t * t.detach()
    with pytest.raises(GradcheckError, match="worst at output element"):
        gradcheck(wrong, (leaf(rng, 3),))


def test_gradcheck_warns_on_float32(rng):
    x = lf.tensor(rng.uniform(size=3), dtype=lf.float32, requires_grad=True)
    with pytest.warns(UserWarning, match="not float64"):
        gradcheck(lambda t: t * 2, (x,), atol=1e-2, rtol=1e-2, eps=1e-3)


# ---------------------------------------------------------------- semantics
def test_requires_grad_propagation_and_leaves():
    x = lf.ones(3, requires_grad=True)
    y = x * 2
    z = lf.ones(3) + 1
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert x.is_leaf and x.grad_fn is None
    assert not z.requires_grad and z.is_leaf
    with lf.no_grad():
        assert not (x * 2).requires_grad
        with lf.enable_grad():
            assert (x * 2).requires_grad
    assert not x.detach().requires_grad

    @lf.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and lf.is_grad_enabled()
    with pytest.raises(RuntimeError, match="floating point"):
        lf.ones(3, dtype=lf.int64).requires_grad_()


def test_retain_graph_and_second_backward():
    x = lf.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_non_scalar_backward_needs_gradient():
    x = lf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()


def test_inplace_on_leaf_requiring_grad():
    w = lf.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1
    with lf.no_grad():
        w -= 0.5
    np.testing.assert_allclose(w.detach().numpy(), [0.5] * 3)
    assert w.requires_grad and w.is_leaf


def test_in_place_writes_through_detach_and_data_are_outside_autograd():
    """As in PyTorch: the SGD idiom `w.data -= lr * w.grad`, and writes through a
    detached view, change the leaf's values and leave it a leaf; a backward that
    saved the values refuses."""
    w = lf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (w * w).sum().backward()
    w.data -= 0.1 * w.grad.data
    w.detach()[1:].add_(100)
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 101.6, 102.4], rtol=1e-6)
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    a = lf.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1
    loss = (b * b).sum()
    b.detach().add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    z = lf.zeros(2)
    z.data = lf.ones(3)
    np.testing.assert_allclose(z.numpy(), [1.0, 1.0, 1.0])


def test_saved_tensor_modified_in_place_raises():
    a = lf.ones(3, requires_grad=True)
    b = a * 2
    c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_inplace_on_non_leaf_is_differentiable():
    a = lf.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3
    b += a * a
    b.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [5.0, 7.0])


def test_grad_of_non_leaf_is_none_unless_retained():
    a = lf.ones(2, requires_grad=True)
    b = a * 2
    c = a * 3
    c.retain_grad()
    (b + c).sum().backward()
    assert b.grad is None
    np.testing.assert_allclose(c.grad.numpy(), [1.0, 1.0])


def test_autograd_grad_and_double_backward():
    x = lf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 3).sum()
    (g,) = lf.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [3.0, 12.0, 27.0])
    (h,) = lf.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, 12.0, 18.0])
    assert x.grad is None
    unused = lf.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        lf.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = lf.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None
    (gw,) = lf.autograd.grad(x * 2, x, grad_outputs=lf.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(gw.numpy(), [2.0, 0.0, 4.0])


def test_long_chain_backward_has_no_recursion_limit():
    x = lf.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


# ---------------------------------------------------------------- kernels launched by backward
def kernel_count(fn) -> int:
    with lf.profile() as prof:
        fn()
    return len(prof.kernels)


def test_regression_backward_from_unrealised_forward_is_at_most_four_kernels(rng):
    x = lf.tensor(rng.standard_normal((256, 64), dtype=np.float32))
    y = lf.tensor(rng.standard_normal(256, dtype=np.float32))
    w = lf.tensor(rng.standard_normal(64, dtype=np.float32), requires_grad=True)
    loss = ((x * w).sum(1) - y).pow(2).mean()
    assert kernel_count(loss.backward) <= 4
    xs, ys, ws = x.numpy(), y.numpy(), w.detach().numpy()
    residual = xs @ ws - ys
    np.testing.assert_allclose(w.grad.numpy(), 2 * xs.T @ residual / 256, rtol=1e-4, atol=1e-5)


def test_elementwise_chain_backward_is_one_kernel_and_accumulates_in_it(rng):
    a = lf.tensor(rng.standard_normal(1000, dtype=np.float32), requires_grad=True)
    b = lf.tensor(rng.standard_normal(1000, dtype=np.float32))

    def step():
        ((a * b).sin() * 2 + a.exp()).backward(gradient=lf.ones(1000))
        lf.realize(a.grad)

    assert kernel_count(step) == 1
    assert kernel_count(step) == 1  # the second backward adds into .grad in the same kernel
    av, bv = a.detach().numpy(), b.numpy()
    # atol: the sum cancels to near zero in places, where one ulp of its terms shows
    np.testing.assert_allclose(a.grad.numpy(), 2 * (2 * np.cos(av * bv) * bv + np.exp(av)), rtol=1e-5, atol=1e-6)


def test_backward_with_inputs_accumulates_only_into_them():
    a, b = lf.ones(2, requires_grad=True), lf.ones(2, requires_grad=True)
    (a * b * 3).sum().backward(inputs=[a])
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0])
    assert b.grad is None


# ---------------------------------------------------------------- backward templates
@pytest.fixture
def rule_calls(monkeypatch):
    """Clears the backward templates and counts how often the derivative rules run."""
    from lazyfuse.autograd import engine, template
    monkeypatch.setattr(template, "_templates", type(template._templates)())
    calls = []
    rules = engine.gradients
    monkeypatch.setattr(engine, "gradients", lambda *a: calls.append(a[0].op) or rules(*a))
    return calls


def test_a_repeated_training_step_replays_its_backward_without_running_the_rules(rng, rule_calls):
    xs, ys = rng.standard_normal((64, 3)), rng.standard_normal((64, 1))
    x, y = lf.tensor(xs), lf.tensor(ys)
    w, b = lf.zeros(3, 1, dtype=lf.float64, requires_grad=True), lf.zeros(1, dtype=lf.float64, requires_grad=True)
    ws, bs = np.zeros((3, 1)), np.zeros(1)
    calls_after = []
    for _ in range(4):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        residual = xs @ ws + bs - ys
        np.testing.assert_allclose(w.grad.numpy(), 2 * xs.T @ residual / 64, rtol=1e-12)
        np.testing.assert_allclose(b.grad.numpy(), 2 * residual.sum(0) / 64, rtol=1e-12)
        with lf.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
            w.grad.zero_()
            b.grad.zero_()
        ws, bs = ws - 0.1 * 2 * xs.T @ residual / 64, bs - 0.1 * 2 * residual.sum(0) / 64
        calls_after.append(len(rule_calls))
    # the first step differs (w starts as a constant): the second runs the rules, the rest replay them
    assert calls_after[1] > calls_after[0] and calls_after[3] == calls_after[1]


def test_a_template_is_only_reused_for_the_same_constants_and_aliasing(rng, rule_calls):
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    a, b = lf.tensor(av, requires_grad=True), lf.tensor(bv)
    for c in (2.0, 3.0, 2.0):
        (a * c).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), np.full(5, c))
        a.grad = None
    for same in (True, False, True, False):  # a.detach() is a's own node: the same graph with one input less
        (a * (a.detach() if same else b)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), av if same else bv)
        a.grad = None


def test_a_replayed_backward_still_refuses_values_modified_in_place(rng, rule_calls):
    a = leaf(rng, 4)
    for modify in (False, True):
        z = a * 2
        out = (z * z).sum()
        if modify:
            z.add_(1)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                out.backward()
        else:
            out.backward()
    assert rule_calls  # the first backward ran the rules, so the second was a replay


# ---------------------------------------------------------------- gradients left deferred by backward
def _regression_step(x, y, w, b, read_gradients: bool):
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    if read_gradients:
        lf.realize(w.grad, b.grad)
    with lf.no_grad():
        w.sub_(0.1 * w.grad)
        b.sub_(0.1 * b.grad)
        w.grad.zero_()
        b.grad.zero_()
    return loss


def test_an_sgd_update_fuses_into_the_kernels_computing_the_gradients(rng):
    xs, ys = rng.standard_normal((256, 8)), rng.standard_normal((256, 1))
    x, y = lf.tensor(xs), lf.tensor(ys)
    counts = {}
    for read_gradients in (True, False):
        w = lf.tensor(np.zeros((8, 1)), requires_grad=True)
        b = lf.tensor(np.zeros(1), requires_grad=True)
        ws, bs = np.zeros((8, 1)), np.zeros(1)
        for _ in range(3):
            with lf.profile() as prof:
                loss = _regression_step(x, y, w, b, read_gradients).item()
            residual = xs @ ws + bs - ys
            np.testing.assert_allclose(loss, (residual ** 2).mean(), rtol=1e-12)
            ws, bs = ws - 0.1 * 2 * xs.T @ residual / 256, bs - 0.1 * 2 * residual.sum(0) / 256
        np.testing.assert_allclose(w.detach().numpy(), ws, rtol=1e-12)
        np.testing.assert_allclose(b.detach().numpy(), bs, rtol=1e-12)
        counts[read_gradients] = len(prof.kernels)
    assert counts[False] < counts[True]  # the gradients, zeroed after the update, are never stored


def test_steps_that_read_nothing_do_not_pile_up_into_one_graph(rng):
    from lazyfuse.runtime.graph import toposort
    x, y = lf.tensor(rng.standard_normal((16, 3))), lf.tensor(rng.standard_normal((16, 1)))
    w, b = lf.tensor(np.zeros((3, 1)), requires_grad=True), lf.tensor(np.zeros(1), requires_grad=True)
    sizes = []
    for _ in range(6):
        _regression_step(x, y, w, b, read_gradients=False)
        sizes.append(len(toposort([w.node])))
    assert sizes[-1] == sizes[2]


def test_a_leaf_dropped_after_backward_is_freed_at_once():
    import gc
    import weakref
    gc.disable()  # no cyclic collection: the leaf must go on its reference count alone
    try:
        w = lf.ones(3, requires_grad=True)
        (w * 2).sum().backward()
        ref = weakref.ref(w)
        del w
        assert ref() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("size", [10, 1000])
def test_a_backward_reading_large_values_starts_its_kernels_at_once(rng, monkeypatch, size):
    from lazyfuse.autograd import engine
    monkeypatch.setattr(engine, "START_AT_ONCE_FROM", 100)
    xs = rng.standard_normal(size)
    x, w = lf.tensor(xs), lf.tensor([1.5], requires_grad=True)
    loss = (x * w).sum()
    loss.backward()
    assert w.grad.node.is_realized == loss.node.is_realized == (size >= 100)
    np.testing.assert_allclose(w.grad.numpy(), [xs.sum()])
    np.testing.assert_allclose(loss.item(), 1.5 * xs.sum())


class LegendrePolynomial3(lf.autograd.Function):
    """PyTorch's "Defining new autograd functions" example."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class ScaledProduct(lf.autograd.Function):
    """Two tensor inputs and a number; the number's gradient is None."""

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (g * b * ctx.scale if ctx.needs_input_grad[0] else None, None,
                g * a * ctx.scale if ctx.needs_input_grad[2] else None)


def test_a_user_defined_function_matches_finite_differences(rng):
    x = lf.tensor(rng.uniform(-1, 1, (3, 4)), requires_grad=True)
    assert gradcheck(LegendrePolynomial3.apply, (x,))
    a, b = (lf.tensor(rng.standard_normal(5), requires_grad=True) for _ in range(2))
    assert gradcheck(lambda a, b: ScaledProduct.apply(a, 2.5, b), (a, b))
    out = LegendrePolynomial3.apply(x)
    assert repr(out.grad_fn) == "<LegendrePolynomial3Backward>" and out.requires_grad
    np.testing.assert_allclose(out.detach().numpy(), 0.5 * (5 * x.detach().numpy() ** 3 - 3 * x.detach().numpy()))


def test_a_user_defined_function_gets_a_gradient_only_where_needed_and_runs_its_backward_each_step():
    a = lf.tensor([1.0, 2.0], requires_grad=True)
    b = lf.tensor([3.0, 4.0])
    for scale in (2.0, 3.0):  # the same graph structure; the backward reads this step's ctx.scale
        a.grad = None
        ScaledProduct.apply(a, scale, b).sum().backward()
        assert a.grad.tolist() == [3.0 * scale, 4.0 * scale] and b.grad is None
    with lf.no_grad():
        assert ScaledProduct.apply(a, 2.0, b).grad_fn is None


def test_a_user_defined_function_training_loop_matches_pytorch():
    """The tutorial's loop fitting sin(x) with a + b * P3(c + d * x), a few steps, from the same start."""
    torch = pytest.importorskip("torch")

    class TorchP3(torch.autograd.Function):
        forward, backward = staticmethod(LegendrePolynomial3.forward), staticmethod(LegendrePolynomial3.backward)

    results = []
    for m, p3 in ((lf, LegendrePolynomial3), (torch, TorchP3)):
        x = m.linspace(-math.pi, math.pi, 200, dtype=m.float64)
        y = m.sin(x)
        a, b, c, d = (m.full((), v, dtype=m.float64, requires_grad=True) for v in (0.0, -1.0, 0.0, 0.3))
        for _ in range(5):
            loss = (a + b * p3.apply(c + d * x) - y).pow(2).sum()
            loss.backward()
            with m.no_grad():
                for p in (a, b, c, d):
                    p -= 5e-6 * p.grad
                    p.grad = None
        results.append([loss.item()] + [p.item() for p in (a, b, c, d)])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-12)


def test_a_user_defined_function_reports_bad_gradients_and_stale_saved_values():
    class WrongCount(lf.autograd.Function):
        forward = staticmethod(lambda ctx, a, b: a + b)
        backward = staticmethod(lambda ctx, g: g)

    class WrongShape(lf.autograd.Function):
        forward = staticmethod(lambda ctx, a: a.sum())
        backward = staticmethod(lambda ctx, g: g.reshape(1))

    a = lf.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WrongCountBackward returned an incorrect number of gradients \(expected 2, got 1\)"):
        WrongCount.apply(a, a).sum().backward()
    with pytest.raises(RuntimeError, match=r"WrongShapeBackward returned an invalid gradient at index 0 - got \[1\] but "
                                           r"expected shape compatible with \[2, 3\]"):
        WrongShape.apply(a).backward()
    x = a * 1
    out = LegendrePolynomial3.apply(x)
    x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    with pytest.raises(TypeError, match="supports forward functions returning one tensor"):
        type("Pair", (lf.autograd.Function,), {"forward": staticmethod(lambda ctx, a: (a, a))}).apply(a)


def test_an_op_returning_its_input_unchanged_keeps_the_inputs_backward_name():
    x = lf.ones(2, 3, requires_grad=True) * 2
    for same in (x.squeeze(), x.squeeze(0), x[:], x[..., :]):
        assert same is x
    assert repr(x.grad_fn) == "<MulBackward0>"
    assert repr(x.unsqueeze(0).squeeze(0).grad_fn) == "<SqueezeBackward1>"


@pytest.mark.parametrize("name, slope", [("sigmoid", lambda x: 1 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x)))),
                                         ("relu", lambda x: (x > 0).astype(x.dtype))])
def test_a_composite_activation_records_one_op_with_pytorchs_formula(name, slope):
    """sigmoid (eight primitives) and relu record one GradFn each, straight onto x's
    accumulator, whose rule is PyTorch's: s * (1 - s) from the output, g where x > 0."""
    x0 = np.array([-40.0, -3.0, -0.5, 0.0, 0.5, 3.0, 40.0, np.nan])
    x = lf.tensor(x0, requires_grad=True)
    y = getattr(x, name)()
    assert type(y.grad_fn.next[0]).__name__ == "AccumulateGrad"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.nan_to_num(slope(x0), nan=0.0 if name == "relu" else np.nan),
                               rtol=1e-12, atol=0)


def test_hooks_see_and_replace_gradients_as_in_pytorch():
    """A leaf's hook runs before accumulation, a non-leaf's on its gradient summed over
    its uses; a returned tensor replaces the gradient; remove() takes a hook off."""
    a = np.array([1.0, -2.0, 3.0])
    x = lf.tensor(a, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
    y = x * x
    y.register_hook(lambda g: g * 10)
    (y * 3 + y).sum().backward()  # y's gradient is 4, summed over its two uses, then 40
    np.testing.assert_array_equal(seen[0], 80 * a)
    np.testing.assert_array_equal(x.grad.numpy(), 80 * a)
    handle.remove()
    x.register_hook(lambda g: g + 1)
    (gx,) = lf.autograd.grad((x * 2).sum(), [x])
    np.testing.assert_array_equal(gx.numpy(), np.full(3, 3.0))
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        lf.ones(2).register_hook(print)


def test_hooks_match_pytorch_in_a_small_network():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    w0, x0 = rng.standard_normal((3, 4)), rng.standard_normal((5, 3))
    grads = []
    for m in (lf, torch):
        w = m.tensor(w0, requires_grad=True)
        h = (m.tensor(x0) @ w).tanh()
        h.register_hook(lambda g: g.clamp(-0.1, 0.1))
        w.register_hook(lambda g: g * 0.5)
        for _ in range(2):  # hooks run on every backward, and the template of a hooked graph is not reused
            (h * h).sum().backward(retain_graph=True)
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)
