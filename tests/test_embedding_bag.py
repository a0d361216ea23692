"""nn.EmbeddingBag / F.embedding_bag: bags from offsets or rows, sum, mean and max,
empty bags, per-sample weights and padding_idx, against numpy and PyTorch (values
and the table's gradient)."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf

_rng = np.random.default_rng(0)
TABLE = _rng.standard_normal((10, 3))
INDICES = np.array([1, 2, 4, 5, 4, 3, 2, 9])
OFFSETS = np.array([0, 4, 4, 6])  # the second bag is empty


def test_bags_from_offsets_match_numpy():
    bags = [INDICES[0:4], INDICES[4:4], INDICES[4:6], INDICES[6:8]]
    reduce = {"sum": lambda r: r.sum(0), "mean": lambda r: r.mean(0), "max": lambda r: r.max(0)}
    for mode, fn in reduce.items():
        expected = np.stack([fn(TABLE[b]) if len(b) else np.zeros(3) for b in bags])
        got = lf.nn.functional.embedding_bag(lf.tensor(INDICES), lf.tensor(TABLE), lf.tensor(OFFSETS), mode=mode)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, err_msg=mode)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_values_and_table_gradients_match_pytorch(mode):
    torch = pytest.importorskip("torch")
    results = []
    for m in (lf, torch):
        table = m.tensor(TABLE, requires_grad=True)
        by_offsets = m.nn.functional.embedding_bag(m.tensor(INDICES), table, m.tensor(OFFSETS), mode=mode)
        by_rows = m.nn.functional.embedding_bag(m.tensor(INDICES.reshape(2, 4)), table, mode=mode, padding_idx=2)
        (by_offsets * m.tensor(np.cos(np.arange(12.0)).reshape(4, 3))).sum().backward()
        (by_rows ** 2).sum().backward()
        results.append([by_offsets.detach().numpy(), by_rows.detach().numpy(), table.grad.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_module_with_per_sample_weights_and_a_last_offset_matches_pytorch():
    torch = pytest.importorskip("torch")
    weights = np.linspace(0.0, 1.0, 8)
    outs = []
    for m in (lf, torch):
        bag = m.nn.EmbeddingBag(10, 3, mode="sum", include_last_offset=True, dtype=m.float64)
        bag.load_state_dict({"weight": m.tensor(TABLE)})
        outs.append(bag(m.tensor(INDICES), m.tensor(np.append(OFFSETS, 8)), m.tensor(weights)).detach().numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)
    padded = lf.nn.EmbeddingBag(5, 2, padding_idx=1)
    assert (padded.weight.detach().numpy()[1] == 0).all()
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        lf.nn.functional.embedding_bag(lf.tensor(INDICES), lf.tensor(TABLE), lf.tensor(OFFSETS),
                                       per_sample_weights=lf.tensor(weights))
