"""nn.RNN, LSTM, GRU and their cells: PyTorch's parameter names, reprs, outputs,
states and gradients with PyTorch's weights (when PyTorch is installed), the
gate equations against numpy, and gradcheck in float64."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck

CONFIGS = [("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}), ("LSTM", {}),
           ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
           ("GRU", {"bias": False, "bidirectional": True}), ("GRU", {"num_layers": 3, "batch_first": True})]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _pair(torch, name: str, options: dict):
    """The PyTorch module and ours (3 inputs, 5 hidden units) in float64, ours holding PyTorch's weights."""
    theirs = getattr(torch.nn, name)(3, 5, dtype=torch.float64, **options)
    ours = getattr(lf.nn, name)(3, 5, dtype=lf.float64, **options)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: lf.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    assert repr(ours) == repr(theirs)
    return theirs, ours


def _grads(module_params, *tensors):
    return [t.grad.numpy() for t in tensors] + [p.grad.numpy() for p in module_params]


@pytest.mark.parametrize("name, options", CONFIGS, ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, o in CONFIGS])
@pytest.mark.parametrize("batched", [True, False])
def test_layers_are_pytorchs(name, options, batched):
    torch = pytest.importorskip("torch")
    theirs, ours = _pair(torch, name, options)
    rng = np.random.default_rng(4)
    shape = ((2, 4, 3) if options.get("batch_first") else (4, 2, 3)) if batched else (4, 3)
    x0 = rng.standard_normal(shape)
    directions = 2 if options.get("bidirectional") else 1
    state_shape = (options.get("num_layers", 1) * directions,) + ((2,) if batched else ()) + (5,)
    h0 = rng.standard_normal(state_shape)
    results = []
    for m, module in ((torch, theirs), (lf, ours)):
        x, h = m.tensor(x0, requires_grad=True), m.tensor(h0, requires_grad=True)
        state = (h, h * 0.5) if name == "LSTM" else h
        out, last = module(x, state)
        (h_n, c_n) = last if name == "LSTM" else (last, last)
        ((out ** 2).sum() + (h_n * 3).sum() + c_n.sum()).backward()
        results.append([out.detach().numpy(), h_n.detach().numpy(), c_n.detach().numpy()]
                       + _grads(module.parameters(), x, h))
    for theirs_value, ours_value in zip(*results):
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    theirs, ours = _pair(torch, name, {})
    x0 = np.random.default_rng(5).standard_normal((2, 3))
    results = []
    for m, module in ((torch, theirs), (lf, ours)):
        x = m.tensor(x0, requires_grad=True)
        h = module(x)
        h = module(x * 2, h)  # a second step from the first's state
        first = h[0] if name == "LSTMCell" else h
        (first ** 2).sum().backward()
        results.append([first.detach().numpy()] + _grads(module.parameters(), x))
    for theirs_value, ours_value in zip(*results):
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-10, atol=1e-12)


def test_an_lstm_step_follows_the_gate_equations():
    rng = np.random.default_rng(6)
    cell = lf.nn.LSTMCell(3, 2, dtype=lf.float64)
    x, h, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    h1, c1 = cell(lf.tensor(x), (lf.tensor(h), lf.tensor(c)))
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in cell.parameters())
    i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
    c_expected = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(c1.detach().numpy(), c_expected, rtol=1e-12)
    np.testing.assert_allclose(h1.detach().numpy(), _sigmoid(o) * np.tanh(c_expected), rtol=1e-12)


def test_a_gru_layer_follows_the_gate_equations_over_time():
    rng = np.random.default_rng(7)
    gru = lf.nn.GRU(3, 2, dtype=lf.float64)
    x = rng.standard_normal((5, 1, 3))
    out, h_n = gru(lf.tensor(x))
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in gru.parameters())
    h, expected = np.zeros((1, 2)), []
    for t in range(5):
        x_r, x_z, x_n = np.split(x[t] @ w_ih.T + b_ih, 3, axis=1)
        h_r, h_z, h_n_part = np.split(h @ w_hh.T + b_hh, 3, axis=1)
        r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n_part)
        h = (1 - z) * n + z * h
        expected.append(h)
    np.testing.assert_allclose(out.detach().numpy(), np.stack(expected), rtol=1e-12)
    np.testing.assert_allclose(h_n.detach().numpy(), h[None], rtol=1e-12)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_gradcheck(name):
    module = getattr(lf.nn, name)(2, 3, num_layers=2, bidirectional=True, dtype=lf.float64)
    x = lf.tensor(np.random.default_rng(8).standard_normal((3, 2, 2)), requires_grad=True)
    assert gradcheck(lambda x: module(x)[0], (x,))


def test_bad_input_is_named():
    lstm = lf.nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        lstm(lf.zeros(2, 1, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 1, 4\), got \(1, 2, 4\)"):
        lstm(lf.zeros(2, 1, 3), (lf.zeros(1, 2, 4), lf.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="expected input to be 2-D or 3-D"):
        lstm(lf.zeros(3))
