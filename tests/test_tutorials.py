"""The PyTorch tutorials lazyfuse exists for, run with `import lazyfuse as torch`,
checked against PyTorch's printed numbers and a numpy re-implementation."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as torch


def test_scalar_autograd():
    x = torch.tensor(2.0, requires_grad=True)
    y = x**2 + 3*x + 4
    y.backward()
    assert x.grad.item() == 7.0
    assert repr(x.grad) == "tensor(7.)"


def test_vector_output_needs_a_gradient():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    x.grad.zero_()
    (x * 2).backward(gradient=torch.tensor([1., 1., 1.]))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_external_gradient():
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3*a**3 - b**2
    Q.backward(gradient=torch.tensor([1., 1.]))
    assert a.grad.tolist() == [36., 81.]
    assert b.grad.tolist() == [-12., -8.]


def test_mean_of_a_polynomial():
    x = torch.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward()
    assert x.grad.tolist() == [[4.5, 4.5], [4.5, 4.5]]
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"


def test_no_grad_requires_grad_false_and_detach():
    x = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        assert (x * 2).requires_grad is False
    assert torch.ones(3, requires_grad=False).requires_grad is False
    assert x.detach().requires_grad is False


def _regression_numpy(x, y, w, b, steps=100, lr=0.01):
    """The same training loop with hand-written gradients, in float32."""
    losses = []
    for _ in range(steps):
        pred = x @ w + b
        err = pred - y
        losses.append(float((err * err).mean()))
        grad_pred = 2 * err / err.size
        w = w - np.float32(lr) * (x.T @ grad_pred)
        b = b - np.float32(lr) * grad_pred.sum(0)
    return losses, w, b


@pytest.mark.parametrize("use_device", [False, True])
def test_linear_regression(use_device):
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(10, 3)
    y = torch.randn(10, 1)
    w = torch.randn(3, 1, requires_grad=True)
    b = torch.randn(1, requires_grad=True)
    expected_losses, expected_w, expected_b = _regression_numpy(x.numpy(), y.numpy(), w.detach().numpy(),
                                                                b.detach().numpy())
    if use_device:
        x, y = x.to(device), y.to(device)
        w = w.detach().to(device).requires_grad_()
        b = b.detach().to(device).requires_grad_()
    losses = []
    for _ in range(100):
        pred = x @ w + b
        loss = (pred - y).pow(2).mean()
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            w -= 0.01 * w.grad
            b -= 0.01 * b.grad
            w.grad.zero_()
            b.grad.zero_()
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    np.testing.assert_allclose(w.cpu().detach().numpy(), expected_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.cpu().detach().numpy(), expected_b, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]
    assert repr(w.cpu().detach()).startswith("tensor([[")


def test_quickstart_save_load_and_deepcopy_of_a_model(tmp_path):
    """PyTorch's quickstart: train, keep the best model with copy.deepcopy, save the
    state dict, load it into a new model (on another device), predict the same."""
    import copy
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(3, (64,))

    def model_fn():
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    model = model_fn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    best = copy.deepcopy(model)
    before = model(x).detach().numpy()
    torch.save(model.state_dict(), tmp_path / "model.pth")
    with torch.no_grad():
        model[0].weight.mul_(0)  # the copy and the file keep the trained values
    np.testing.assert_array_equal(best(x).detach().numpy(), before)
    assert best[0].weight is not model[0].weight and isinstance(best[0].weight, torch.nn.Parameter)
    loaded = model_fn().to("opencl")
    loaded.load_state_dict(torch.load(tmp_path / "model.pth", map_location="opencl"))
    assert loaded[0].weight.device == torch.device("opencl")
    np.testing.assert_array_equal(loaded(x.to("opencl")).detach().numpy(), before)
    torch.save({"step": 3, "logits": model(x)[:2].detach(), "names": ["a", "b"], "count": torch.tensor(7)},
               tmp_path / "state.pth")
    state = torch.load(tmp_path / "state.pth")
    assert state["step"] == 3 and state["names"] == ["a", "b"] and state["logits"].shape == (2, 3)
    assert state["count"].shape == () and state["count"].item() == 7
    torch.save(model, tmp_path / "whole.pth")
    with pytest.raises(Exception, match="weights_only load refuses"):
        torch.load(tmp_path / "whole.pth")
    assert isinstance(torch.load(tmp_path / "whole.pth", weights_only=False), torch.nn.Sequential)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(model(x))


def _quickstart(m, state, batches):
    """PyTorch's quickstart: device from torch.accelerator, the NeuralNetwork class, its
    train and test loops over a DataLoader; the printed numbers are returned."""
    device = m.accelerator.current_accelerator().type if m.accelerator.is_available() else "cpu"

    class NeuralNetwork(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = m.nn.Flatten()
            self.linear_relu_stack = m.nn.Sequential(m.nn.Linear(28 * 28, 64), m.nn.ReLU(), m.nn.Linear(64, 64),
                                                     m.nn.ReLU(), m.nn.Linear(64, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))

    model = NeuralNetwork().to(device)
    model.load_state_dict({k: m.tensor(v) for k, v in state.items()})
    dataset = m.utils.data.TensorDataset(m.tensor(batches[0]), m.tensor(batches[1]))
    dataloader = m.utils.data.DataLoader(dataset, batch_size=16)
    loss_fn, optimizer = m.nn.CrossEntropyLoss(), m.optim.SGD(model.parameters(), lr=1e-1)
    printed = []
    model.train()
    for X, y in dataloader:
        X, y = X.to(device), y.to(device)
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        printed.append(loss.item())
    model.eval()
    test_loss, correct = 0, 0
    with m.no_grad():
        for X, y in dataloader:
            pred = model(X.to(device))
            test_loss += loss_fn(pred, y.to(device)).item()
            correct += (pred.argmax(1) == y.to(device)).type(m.float).sum().item()
    return printed + [test_loss / len(dataloader), correct / len(dataloader.dataset)]


def test_quickstart_train_and_test_loops_match_pytorch():
    torch_module = pytest.importorskip("torch")
    import torch.utils.data  # noqa: F401 - the quickstart's DataLoader
    rng = np.random.default_rng(0)
    batches = (rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 64))
    reference = torch_module.nn.Sequential(torch_module.nn.Linear(784, 64), torch_module.nn.ReLU(),
                                           torch_module.nn.Linear(64, 64), torch_module.nn.ReLU(),
                                           torch_module.nn.Linear(64, 10))
    state = {f"linear_relu_stack.{k}": v.detach().numpy() for k, v in reference.state_dict().items()}
    ours, theirs = _quickstart(torch, state, batches), _quickstart(torch_module, state, batches)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_tensors_tutorial_operations():
    """"Tensors" tutorial: indexing, joining, the three ways to multiply matrices
    and elements (operator, method, function with out=), a single-element
    aggregate and an in-place add."""
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    expected = np.ones((4, 4), np.float32)
    expected[:, 1] = 0
    assert torch.cat([tensor, tensor, tensor], dim=1).tolist() == np.concatenate([expected] * 3, axis=1).tolist()

    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(y1)
    assert torch.matmul(tensor, tensor.T, out=y3) is y3
    for y in (y1, y2, y3):
        np.testing.assert_array_equal(y.numpy(), expected @ expected.T)

    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    for z in (z1, z2, z3):
        np.testing.assert_array_equal(z.numpy(), expected * expected)

    agg_item = tensor.sum().item()
    assert agg_item == 12.0 and isinstance(agg_item, float)
    tensor.add_(5)
    np.testing.assert_array_equal(tensor.numpy(), expected + 5)
