"""nn.Module hooks (forward pre-hooks, forward hooks, full backward hooks) and
module lookups, against PyTorch."""
import numpy as np
import pytest

import lazyfuse as lf

RNG = np.random.default_rng(5)
WEIGHTS = [RNG.standard_normal((5, 3)), RNG.standard_normal(5), RNG.standard_normal((2, 5)), RNG.standard_normal(2)]
X = RNG.standard_normal((4, 3))
MIX = np.cos(np.arange(8)).reshape(4, 2)


def _net(m):
    net = m.nn.Sequential(m.nn.Linear(3, 5), m.nn.ReLU(), m.nn.Linear(5, 2)).double()
    with m.no_grad():
        for p, w in zip(net.parameters(), WEIGHTS):
            p.copy_(m.tensor(w))
    return net


def _numpy(grads):
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def _run(m, x_requires_grad: bool, replace: bool):
    """Activations seen, inputs doubled and outputs shifted by hooks; the gradients the
    backward hooks see (and, with `replace`, the first layer's input gradient zeroed)."""
    net = _net(m)
    seen, grads = {}, {}
    handles = [net[1].register_forward_hook(lambda mod, args, out: seen.update(relu=out.detach().numpy())),
               net[0].register_forward_pre_hook(lambda mod, args: (args[0] * 2,)),
               net[2].register_forward_hook(lambda mod, args, out: out + 1)]
    for i in (0, 2):
        def hook(mod, grad_input, grad_output, i=i):
            grads[i] = (_numpy(grad_input), _numpy(grad_output))
            return (grad_input[0] * 0,) if replace and i == 0 else None
        handles.append(net[i].register_full_backward_hook(hook))
    x = m.tensor(X, requires_grad=x_requires_grad)
    out = net(x)
    (out * m.tensor(MIX)).sum().backward()
    for h in handles:
        h.remove()
    after = net(m.tensor(X)).detach().numpy()
    return dict(out=out.detach().numpy(), relu=seen["relu"], grads=grads, after=after,
                x_grad=None if x.grad is None else x.grad.numpy(), w_grad=net[0].weight.grad.numpy())


@pytest.mark.parametrize("x_requires_grad, replace", [(True, False), (False, False), (True, True)])
def test_hooks_see_and_change_what_pytorchs_do(x_requires_grad, replace):
    torch = pytest.importorskip("torch")
    ours, theirs = _run(lf, x_requires_grad, replace), _run(torch, x_requires_grad, replace)
    for key in ("out", "relu", "after", "w_grad", "x_grad"):
        if theirs[key] is None:
            assert ours[key] is None, key
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-12, atol=1e-12, err_msg=key)
    assert ours["grads"].keys() == theirs["grads"].keys()
    for layer in theirs["grads"]:
        for mine, ref in zip(ours["grads"][layer], theirs["grads"][layer]):
            assert [g is None for g in mine] == [g is None for g in ref]
            for a, b in zip(mine, ref):
                if b is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_hook_handles_remove_in_with_blocks_and_prepend_orders():
    net, order = _net(lf), []
    with net.register_forward_hook(lambda mod, args, out: order.append("second")):
        with net.register_forward_hook(lambda mod, args, out: order.append("first"), prepend=True):
            net(lf.tensor(X))
        net(lf.tensor(X))
    net(lf.tensor(X))
    assert order == ["first", "second", "second"]
    kwargs_seen = []
    net[0].register_forward_hook(lambda mod, args, kwargs, out: kwargs_seen.append(kwargs), with_kwargs=True)
    net(lf.tensor(X))
    assert kwargs_seen == [{}]


def test_a_replaced_gradient_of_a_module_with_two_inputs_is_refused():
    class Add(lf.nn.Module):
        def forward(self, a, b):
            return a + b
    add = Add()
    add.register_full_backward_hook(lambda mod, grad_input, grad_output: tuple(g * 2 for g in grad_input))
    a, b = lf.ones(2, requires_grad=True), lf.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only from modules with one input that requires grad"):
        add(a, b).sum().backward()


def test_submodules_and_parameters_are_found_by_name():
    net = _net(lf)
    assert net.get_submodule("2") is net[2] and net.get_submodule("") is net
    assert net.get_parameter("0.bias") is net[0].bias
    with pytest.raises(AttributeError, match="has no attribute `5`"):
        net.get_submodule("5")
    net[1].register_parameter("scale", lf.nn.Parameter(lf.ones(1)))
    net[1].register_module("inner", lf.nn.Identity())
    net[1].register_parameter("unused", None)
    assert "1.scale" in dict(net.named_parameters()) and net[1].unused is None
    assert net.get_submodule("1.inner") is net[1].inner
