"""Values and gradients against PyTorch (an optional oracle: `pip install -e ".[test]"`)."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check_against_pytorch

torch = pytest.importorskip("torch")

CASES = {
    "chain": (lambda m, a, b: ((a * b).sin() + a.exp() / (1 + b * b)).tanh().sum(), [(3, 4), (3, 4)]),
    "broadcast": (lambda m, a, b: (a - b).abs().pow(1.5).mean(), [(3, 1), (1, 4)]),
    "softmax": (lambda m, a, b: (a.softmax(-1) * b).sum(), [(4, 5), (4, 5)]),
    "log_softmax": (lambda m, a, b: (a.log_softmax(0) * b).sum(), [(4, 5), (4, 5)]),
    "matmul_T": (lambda m, a, b: (a.T @ b).relu().sum(), [(4, 3), (4, 5)]),
    "batched_matmul": (lambda m, a, b: (a @ b).sigmoid().sum(), [(2, 3, 4), (4, 2)]),
    "var_std": (lambda m, a, b: a.var(1).sum() + b.std(0).sum(), [(3, 6), (3, 6)]),
    "amax_logsumexp": (lambda m, a, b: a.amax(1).sum() + b.logsumexp(1).sum(), [(3, 6), (3, 6)]),
    "views": (lambda m, a, b: (a[:, 1::2].reshape(-1) * b.flatten()[:6]).sum(), [(3, 4), (2, 3)]),
    "cat_where": (lambda m, a, b: m.where(a > 0, a, b).sum() + m.cat([a, b], 0).pow(2).sum(), [(2, 3), (2, 3)]),
    "clamp_sqrt": (lambda m, a, b: (a.clamp(-0.5, 0.5) + b.abs().sqrt()).sum(), [(5,), (5,)]),
}
# where PyTorch's gradient is a choice, not the formula: ties, zeros
EDGES = np.array([[0.0, 0.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, -1.0, 0.5]])
EDGE_CASES = {
    "max_dim_ties": lambda a: a.max(1)[0] + a.min(0, keepdim=True)[0].sum(),  # to the returned index only
    "amax_ties": lambda a: a.amax(1) + a.amin(),  # shared among the tied elements
    "maximum_ties": lambda a: a[:, :2].maximum(a[:, 2:]) + a[:, :2].minimum(a[:, 2:]),  # split in halves
    "std_of_a_constant_row": lambda a: a.std(1),  # 0 where the std is 0, not 0 / 0
    "pow_of_zero": lambda a: a ** 0.0 + a.abs() ** a,  # x ** 0 passes no gradient, even at x = 0
    "relu_abs_clamp_at_kinks": lambda a: a.relu() + a.abs() + a.clamp(0.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_pytorch(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(7)
    arrays = [rng.uniform(-2, 2, size=s).astype(np.float32) for s in shapes]
    ours = [lf.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_ours, out_theirs = fn(lf, *ours), fn(torch, *theirs)
    out_ours.backward()
    out_theirs.backward()
    np.testing.assert_allclose(out_ours.item(), out_theirs.item(), rtol=1e-5, atol=1e-5)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_gradients_at_ties_and_zeros_match_pytorch(name):
    ours, theirs = lf.tensor(EDGES, requires_grad=True), torch.tensor(EDGES, requires_grad=True)
    out_ours, out_theirs = EDGE_CASES[name](ours), EDGE_CASES[name](theirs)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


# ops whose result PyTorch shows with a backward named after them, though lazyfuse
# composes them from others (mean is a sum times 1/n: it would show MulBackward0)
SHOWN_AS = {
    "x + 2, x * y": lambda m, x: (x + 2) * x,
    "mean": lambda m, x: x.mean(),
    "mean over a dim": lambda m, x: x.mean(1, keepdim=True),
    "var, std": lambda m, x: (x.var(0), x.std()),
    "softmax, log_softmax": lambda m, x: (x.softmax(-1), m.nn.functional.log_softmax(x, 0)),
    "sigmoid, relu": lambda m, x: (x.sigmoid(), m.nn.functional.relu(x)),
    "pow": lambda m, x: (x ** 2, x ** 3.0, x.abs() ** x),
    "mm, cat": lambda m, x: (x @ x.T, m.cat([x, x])),
    "clamp, maximum, minimum": lambda m, x: (x.clamp(0, 1), x.clamp(min=0), x.maximum(x * 2), x.minimum(-x)),
    "max, min, amax, amin": lambda m, x: (x.max(), x.min(), x.max(1)[0], x.min(0)[0], x.amax(1), x.amin()),
    "views and indexing": lambda m, x: (x[:1, :2], x[:, ::2], x[0], x[0, :2], x[:, 1], x[None], x.reshape(-1),
                                        x.view(3, 2), x.T, x.transpose(0, 1), x.unsqueeze(0), x[None].squeeze(),
                                        x[None].squeeze(0), x.select(1, 1), x.to(m.float32)),
    "split, chunk, unbind": lambda m, x: (x.split(1)[1], x.split([1, 2], 1)[0], x.chunk(3, 1)[2], x.unbind(1)[0]),
    "pad": lambda m, x: (m.nn.functional.pad(x, (1, 2)), m.nn.functional.pad(x, (-1, 1, 1, 0), value=2.0)),
    "losses": lambda m, x: (m.nn.functional.mse_loss(x, x.detach() * 2), m.nn.functional.mse_loss(x, x * 0, reduction="none"),
                            m.nn.functional.binary_cross_entropy(x.sigmoid(), x.detach().sigmoid()),
                            m.nn.functional.binary_cross_entropy_with_logits(x, x.detach().sigmoid(), reduction="sum"),
                            m.nn.functional.cross_entropy(x, m.tensor([0, 2])),
                            m.nn.functional.nll_loss(x.log_softmax(1), m.tensor([1, 0]), reduction="none")),
}


@pytest.mark.parametrize("name", sorted(SHOWN_AS))
def test_results_show_the_backward_pytorch_shows(name):
    a = np.random.default_rng(3).standard_normal((2, 3))
    ours, theirs = SHOWN_AS[name](lf, lf.tensor(a, requires_grad=True)), SHOWN_AS[name](torch, torch.tensor(a, requires_grad=True))
    ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
    assert [repr(t.grad_fn) for t in ours] == [repr(t.grad_fn)[:repr(t.grad_fn).index(" object")] + ">"
                                               for t in theirs]


def _backward_graph(fn) -> list:
    """The backward graph under fn as (depth, name) pairs, depth first through next_functions."""
    if fn is None:
        return [None]
    name = fn.name().replace("torch::autograd::", "")
    return [name] + [[_backward_graph(nxt)] for nxt, _ in fn.next_functions]


GRAPHS = {
    "regression": lambda m, x, w, b: ((x @ w + b - x[:, :1]) ** 2).mean(),
    "broadcasts": lambda m, x, w, b: (x * b - w.T).square().mean(0, keepdim=True).sum() + (b / x).mean(),
    "where_and_activations": lambda m, x, w, b: m.where(x > 0, x, b).relu().sigmoid().sum(1).mean(),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_backward_graphs_are_pytorchs(name):
    """grad_fn.next_functions walks the graph PyTorch records: broadcasting is part of
    the binary op, mean and ** 2 are one op each, leaves end in AccumulateGrad."""
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 1)), rng.standard_normal(1)
    graphs = [_backward_graph(GRAPHS[name](m, m.tensor(x), m.tensor(w, requires_grad=True),
                                           m.tensor(b, requires_grad=True)).grad_fn) for m in (lf, torch)]
    assert graphs[0] == graphs[1]


PADS = [((1, 2),), ((1, 2, 0, 3),), ((-1, 2),), ((2, -1, 1, 1), "constant", 1.5), ((0, 0, 1, 1, 1, 0), "constant", -2.0),
        ((1, 2, 2, 1), "reflect"), ((1, 2, 3, 0), "replicate"), ((2, 1, 1, 2), "circular"), ((0, 4, 1, 0), "circular")]


@pytest.mark.parametrize("args", PADS, ids=[repr(a) for a in PADS])
def test_pad_matches_pytorch(args):
    fn = lambda m, x: m.nn.functional.pad(x, *args)  # noqa: E731
    check_against_pytorch(fn, [np.random.default_rng(5).standard_normal((2, 3, 4, 4))])


SHAPING = {
    "roll": lambda m, x: m.roll(x, 2, 1) + x.roll((1, -1), (0, 1)) + m.roll(x, 5),
    "diff": lambda m, x: m.diff(x, dim=1).sum() + x.diff(n=2, dim=0).sum(),
    "repeat_interleave": lambda m, x: x.repeat_interleave(2, dim=1).sum(0) + m.repeat_interleave(x, 3)[:12],
    "unflatten": lambda m, x: x.unflatten(1, (2, -1)),
    "broadcast": lambda m, x: m.broadcast_to(x[:1], (3, 4, 6)).sum(0) + m.broadcast_tensors(x[:, :1], x[:1])[0],
    "hstack_vstack": lambda m, x: m.hstack([x, x[:, :2]])[:, :6] + m.vstack([x, x[0]])[:4],
    "meshgrid": lambda m, x: (m.meshgrid(x[0], x[1, :3], indexing="ij")[1] + m.meshgrid(x[0], x[1, :3], indexing="xy")[0].T),
}


@pytest.mark.parametrize("name", sorted(SHAPING))
def test_shape_helpers_match_pytorch(name):
    check_against_pytorch(SHAPING[name], [np.random.default_rng(4).standard_normal((4, 6))])


def test_contiguity_count_nonzero_and_grad_modes_are_pytorchs():
    a = np.arange(24.0).reshape(4, 6)
    views = lambda t: [t, t.T, t.T.contiguous(), t[:, ::2], t[1:3], t[:, 1:3], t[1], t[:, 1], t.unsqueeze(1),  # noqa: E731
                       t[:1].expand(3, 6)]
    assert [v.is_contiguous() for v in views(lf.tensor(a))] == [v.is_contiguous() for v in views(torch.tensor(a))]
    counts = [0, 3, 0, 2, 0, 0]
    assert lf.count_nonzero(lf.tensor(counts)).item() == torch.count_nonzero(torch.tensor(counts)).item()
    assert lf.get_default_dtype() is lf.float32 and lf.is_floating_point(lf.ones(1)) and not lf.tensor([1]).is_cuda
    y = lf.ones(2, requires_grad=True)
    with lf.inference_mode():
        assert not (y * 2).requires_grad

    @lf.inference_mode()
    def inside():
        return (y * 2).requires_grad

    @lf.inference_mode(False)
    def recording():
        return (y * 2).requires_grad
    assert (inside(), recording(), (y * 2).requires_grad) == (False, True, True)


EINSUMS = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ii", [(4, 4)]),
           ("ii->i", [(4, 4)]), ("i,j->ij", [(3,), (4,)]), ("ij->", [(3, 4)]), ("ij->ji", [(3, 4)]),
           ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]),
           ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]), ("iij->j", [(3, 3, 2)]), ("...i->...", [(2, 3, 4)])]


@pytest.mark.parametrize("equation, shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_matches_pytorch(equation, shapes):
    rng = np.random.default_rng(6)
    check_against_pytorch(lambda m, *xs: m.einsum(equation, *xs), [rng.standard_normal(s) for s in shapes])


def test_an_einsum_product_is_a_tiled_matmul_kernel():
    a, b = (np.random.default_rng(7).standard_normal((64, 64)).astype(np.float32) for _ in range(2))
    with lf.profile() as prof:
        out = lf.einsum("ij,kj->ik", lf.tensor(a), lf.tensor(b)).numpy()
    np.testing.assert_allclose(out, a @ b.T, rtol=1e-4, atol=1e-4)
    assert [k.name.split("_")[0] for k in prof.kernels] == ["matmul"]
    with pytest.raises(ValueError, match="2 operands in the equation but 1 given"):
        lf.einsum("ij,jk->ik", lf.tensor(a))
    with pytest.raises(ValueError, match="subscripts for operand 0 .* do not match its 2 dimensions"):
        lf.einsum("ijk->i", lf.tensor(a))
