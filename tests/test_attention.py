"""scaled_dot_product_attention and nn.MultiheadAttention: against a numpy softmax
formula, and against PyTorch (values, attention weights, gradients) with its weights."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check_against_pytorch

_rng = np.random.default_rng(15)
Q, K, V = _rng.standard_normal((2, 3, 5, 4)), _rng.standard_normal((2, 3, 6, 4)), _rng.standard_normal((2, 3, 6, 4))
BOOL_MASK = _rng.random((5, 6)) > 0.3
BOOL_MASK[:, 0] = True  # every query sees at least one key
FLOAT_MASK = _rng.standard_normal((5, 6))


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_attention_follows_the_softmax_formula():
    got = lf.nn.functional.scaled_dot_product_attention(lf.tensor(Q), lf.tensor(K), lf.tensor(V),
                                                        attn_mask=lf.tensor(BOOL_MASK))
    scores = np.where(BOOL_MASK, Q @ K.swapaxes(-1, -2) / 2.0, -np.inf)  # scale 1 / sqrt(4)
    np.testing.assert_allclose(got.numpy(), _softmax(scores) @ V, rtol=1e-12)
    causal = lf.nn.functional.scaled_dot_product_attention(lf.tensor(Q), lf.tensor(Q), lf.tensor(Q), is_causal=True)
    scores = np.where(np.tril(np.ones((5, 5), bool)), Q @ Q.swapaxes(-1, -2) / 2.0, -np.inf)
    np.testing.assert_allclose(causal.numpy(), _softmax(scores) @ Q, rtol=1e-12)


@pytest.mark.parametrize("mask", [None, "bool", "float", "causal"])
def test_scaled_dot_product_attention_matches_pytorch(mask):
    def attend(m, q, k, v, *float_mask):
        if mask == "causal":
            return m.nn.functional.scaled_dot_product_attention(q, q, v[..., :5, :], is_causal=True)
        attn_mask = m.tensor(BOOL_MASK) if mask == "bool" else float_mask[0] if float_mask else None
        return m.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=0.7)
    check_against_pytorch(attend, [Q, K, V] + ([FLOAT_MASK] if mask == "float" else []))


CASES = [dict(batch_first=False), dict(batch_first=True, masks=("bool", "padding")),
         dict(batch_first=False, masks=("float",), average=False), dict(batch_first=True, unbatched=True)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_multihead_attention_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=case["batch_first"], dtype=torch.float64)
    ours = lf.nn.MultiheadAttention(8, 2, batch_first=case["batch_first"], dtype=lf.float64)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    state = {k: v + 0.1 * torch.randn_like(v) for k, v in theirs.state_dict().items()}  # biases not all zero
    theirs.load_state_dict(state)
    ours.load_state_dict({k: lf.tensor(v.numpy()) for k, v in state.items()})
    rng = np.random.default_rng(16)
    unbatched = case.get("unbatched", False)
    shape = (5, 8) if unbatched else ((3, 5, 8) if case["batch_first"] else (5, 3, 8))
    source = (6, 8) if unbatched else ((3, 6, 8) if case["batch_first"] else (6, 3, 8))
    q0, k0 = rng.standard_normal(shape), rng.standard_normal(source)
    masks = case.get("masks", ())
    padding = np.zeros((3, 6), bool)
    padding[1, 4:] = True
    results = []
    for m, module in ((torch, theirs), (lf, ours)):
        q, k = m.tensor(q0, requires_grad=True), m.tensor(k0, requires_grad=True)
        options = dict(average_attn_weights=case.get("average", True))
        if "bool" in masks:
            options["attn_mask"] = m.tensor(~BOOL_MASK)  # True: left out
        if "float" in masks:
            options["attn_mask"] = m.tensor(FLOAT_MASK)
        if "padding" in masks:
            options["key_padding_mask"] = m.tensor(padding)
        out, weights = module(q, k, k, **options)
        ((out ** 2).sum() + (weights * 3).sum()).backward()
        results.append([out.detach().numpy(), weights.detach().numpy(), q.grad.numpy(), k.grad.numpy()]
                       + [p.grad.numpy() for p in module.parameters()])
    for theirs_value, ours_value in zip(*results):
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("options", [dict(), dict(norm_first=True, activation="gelu", batch_first=True)],
                         ids=["post-norm", "pre-norm-gelu-batch-first"])
def test_transformer_encoder_matches_pytorch(options):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, dtype=torch.float64, **options), 2,
                                         norm=torch.nn.LayerNorm(8, dtype=torch.float64), enable_nested_tensor=False)
    ours = lf.nn.TransformerEncoder(lf.nn.TransformerEncoderLayer(8, 2, 16, dtype=lf.float64, **options), 2,
                                    norm=lf.nn.LayerNorm(8, dtype=lf.float64))
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    state = {k: v + 0.1 * torch.randn_like(v) for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(state)
    ours.load_state_dict({k: lf.tensor(v.numpy()) for k, v in state.items()})
    theirs.eval(), ours.eval()  # no dropout
    x0 = np.random.default_rng(17).standard_normal((3, 5, 8) if options.get("batch_first") else (5, 3, 8))
    causal = np.triu(np.full((5, 5), -np.inf), 1)
    results = []
    for m, module in ((torch, theirs), (lf, ours)):
        x = m.tensor(x0, requires_grad=True)
        out = module(x, mask=m.tensor(causal))
        (out * m.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))).sum().backward()
        results.append([out.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in module.parameters()])
    for theirs_value, ours_value in zip(*results):
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-9, atol=1e-11)
    assert ours.layers[0].self_attn is not ours.layers[1].self_attn  # copies, each with its own parameters


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # (PyTorch's, about its own fast path)
@pytest.mark.parametrize("options", [dict(), dict(norm_first=True, activation="gelu", batch_first=True)],
                         ids=["post-norm", "pre-norm-gelu-batch-first"])
def test_transformer_matches_pytorch(options):
    """Encoder and decoder stacks with masks: outputs, input and parameter gradients."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Transformer(8, 2, 2, 2, 16, dtype=torch.float64, **options)
    ours = lf.nn.Transformer(8, 2, 2, 2, 16, dtype=lf.float64, **options)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    ours.load_state_dict({k: lf.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    theirs.eval(), ours.eval()
    rng = np.random.default_rng(19)
    layout = (lambda length: (3, length, 8)) if options.get("batch_first") else (lambda length: (length, 3, 8))
    src0, tgt0 = rng.standard_normal(layout(5)), rng.standard_normal(layout(4))
    padding = np.zeros((3, 5), bool)
    padding[1, 3:] = True
    results = []
    for m, module in ((torch, theirs), (lf, ours)):
        src, tgt = m.tensor(src0, requires_grad=True), m.tensor(tgt0, requires_grad=True)
        mask = module.generate_square_subsequent_mask(4, dtype=m.float64)
        out = module(src, tgt, tgt_mask=mask, src_key_padding_mask=m.tensor(padding),
                     memory_key_padding_mask=m.tensor(padding))
        (out * m.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)))).sum().backward()
        results.append([mask.numpy(), out.detach().numpy(), src.grad.numpy(), tgt.grad.numpy()]
                       + [p.grad.numpy() for p in module.parameters()])
    for theirs_value, ours_value in zip(*results):
        np.testing.assert_allclose(ours_value, theirs_value, rtol=1e-9, atol=1e-11)


def test_transformer_initialises_weight_matrices_xavier_uniform():
    model = lf.nn.Transformer(16, 2, 1, 1, 32)
    weight = model.decoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6 / (16 + 32))
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
        model(lf.zeros(3, 2, 16), lf.zeros(3, 2, 8))
