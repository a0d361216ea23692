"""lazyfuse.utils.data against torch.utils.data: datasets, samplers, collation
and DataLoader batches (PyTorch as the oracle where installed)."""
import collections

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.utils import data


def _torch():
    return pytest.importorskip("torch")


def _same(ours, theirs):
    """Equal batches: the same structure, tensor dtypes and values."""
    torch = _torch()
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, lf.Tensor) and ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and ours.keys() == theirs.keys()
        for key in theirs:
            _same(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours).__name__ == type(theirs).__name__ and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b)
    else:
        assert ours == theirs


Point = collections.namedtuple("Point", "x y")


def _samples(module, rng):
    """A map-style dataset as a tutorial writes one, in `module` (lazyfuse or torch)."""
    features = rng.standard_normal((10, 3)).astype(np.float32)
    labels = rng.integers(0, 5, 10)

    class Samples(module.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return {"x": module.tensor(features[i]), "label": int(labels[i]), "weight": float(i) / 2,
                    "name": f"s{i}", "pair": (features[i, :2], Point(np.int32(i), True))}
    return Samples()


@pytest.mark.parametrize("batch_size, drop_last", [(4, False), (4, True), (1, False), (None, False)])
def test_a_custom_datasets_batches_equal_pytorchs(rng, batch_size, drop_last):
    torch = _torch()
    seed = int(rng.integers(1 << 30))
    ours = list(data.DataLoader(_samples(lf, np.random.default_rng(seed)), batch_size=batch_size, drop_last=drop_last))
    theirs = list(torch.utils.data.DataLoader(_samples(torch, np.random.default_rng(seed)), batch_size=batch_size,
                                              drop_last=drop_last))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        _same(a, b)


def test_default_collate_and_convert_equal_pytorchs(rng):
    torch = _torch()
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    for batch in ([1.5, 2.0], [3, 4], [True, False], [np.float32(1), np.float32(2)], arrays, ["a", "b"],
                  [(a, i) for i, a in enumerate(arrays)], [{"a": a} for a in arrays], [Point(1, 2.0), Point(3, 4.0)]):
        _same(data.default_collate(batch), torch.utils.data.default_collate(batch))
    for sample in (arrays[0], (arrays[0], 1), {"a": arrays[1], "b": "x"}, 3):
        _same(data.default_convert(sample), torch.utils.data.default_convert(sample))


def test_collate_stacks_tensors_and_refuses_unequal_shapes():
    batch = [lf.arange(3.0) * i for i in range(4)]  # computed, not stored: realized together
    np.testing.assert_array_equal(data.default_collate(batch).numpy(), np.arange(3.0) * np.arange(4)[:, None])
    with pytest.raises(RuntimeError, match=r"equal size, but got \[3\] at entry 0 and \[2\] at entry 1"):
        data.default_collate([lf.zeros(3), lf.zeros(2)])


def test_collated_samples_that_require_grad_keep_their_gradient():
    w = lf.tensor([1.0, 2.0], requires_grad=True)
    batch = data.default_collate([w * 2, w * 3])
    batch.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [5.0, 5.0])


def test_random_split_lengths_equal_pytorchs_and_cover_the_dataset():
    torch = _torch()
    for n, lengths in [(10, [3, 7]), (10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.9])]:
        ours = data.random_split(range(n), lengths, generator=data.Generator().manual_seed(1))
        theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(1))
        assert [len(s) for s in ours] == [len(s) for s in theirs]
        assert sorted(i for s in ours for i in s.indices) == list(range(n))
    again = data.random_split(range(10), [3, 7], generator=data.Generator().manual_seed(1))
    assert again[0].indices == data.random_split(range(10), [3, 7], generator=lf.Generator().manual_seed(1))[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths"):
        data.random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 2 is not between 0 and 1"):
        data.random_split(range(10), [0.5, 0.7, -0.2])


def test_manual_seed_repeats_a_runs_shuffles():
    def orders():
        return [b[0].tolist() for b in data.DataLoader(data.TensorDataset(np.arange(12)), batch_size=4,
                                                       shuffle=True)]
    lf.manual_seed(5)
    first = orders()
    lf.manual_seed(5)
    assert orders() == first and sorted(sum(first, [])) == list(range(12)) and sum(first, []) != list(range(12))
    lf.manual_seed(6)
    assert orders() != first


def test_a_subset_of_a_tensor_dataset_is_fetched_a_batch_at_a_time(monkeypatch):
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    train, _ = data.random_split(data.TensorDataset(lf.tensor(x), lf.tensor(y)), [6, 4])
    one_by_one = [[t.numpy() for t in b]
                  for b in data.DataLoader(train, batch_size=4, collate_fn=lambda b: data.default_collate(b))]
    monkeypatch.setattr(data.TensorDataset, "__getitem__", lambda self, i: pytest.fail("fetched sample by sample"))
    batches = list(data.DataLoader(train, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (2, 2)] and isinstance(batches[0], list)
    for fast, slow in zip(batches, one_by_one):
        np.testing.assert_array_equal(fast[0].numpy(), slow[0])
        np.testing.assert_array_equal(fast[1].numpy(), slow[1])
        np.testing.assert_array_equal(fast[0].numpy(), x[fast[1].numpy()])


def test_samplers_lengths_equal_pytorchs_and_draw_what_they_should():
    torch = _torch()
    for batch_size, drop_last in [(3, False), (3, True), (5, False)]:
        ours = list(data.BatchSampler(data.SequentialSampler(range(10)), batch_size, drop_last))
        assert ours == list(torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(10)), batch_size,
                                                          drop_last))
    g = data.Generator().manual_seed(0)
    assert sorted(data.RandomSampler(range(9), generator=g)) == list(range(9))
    assert len(list(data.RandomSampler(range(4), num_samples=10, generator=g))) == 10
    drawn = list(data.RandomSampler(range(4), replacement=True, num_samples=50, generator=g))
    assert len(drawn) == 50 and set(drawn) <= set(range(4))
    assert sorted(data.SubsetRandomSampler([7, 3, 5], generator=g)) == [3, 5, 7]
    weights = [0.0, 1.0, 3.0]
    drawn = np.array(list(data.WeightedRandomSampler(weights, 4000, generator=g)))
    assert (drawn != 0).all() and abs((drawn == 2).mean() - 0.75) < 0.03
    assert sorted(data.WeightedRandomSampler([1.0, 0.0, 2.0, 1.0], 3, replacement=False, generator=g)) == [0, 2, 3]
    with pytest.raises(RuntimeError, match="without replacement"):
        data.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)


def test_an_iterable_dataset_is_batched_as_a_stream():
    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter(np.arange(7, dtype=np.float32).reshape(7, 1))

        def __len__(self):
            return 7
    batches = list(data.DataLoader(Stream(), batch_size=3))
    assert [b.tolist() for b in batches] == [[[0], [1], [2]], [[3], [4], [5]], [[6]]]
    assert len(data.DataLoader(Stream(), batch_size=3)) == 3 and len(data.DataLoader(Stream(), batch_size=3,
                                                                                     drop_last=True)) == 2
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        data.DataLoader(Stream(), shuffle=True)


def test_concat_dataset_indexes_across_its_parts():
    both = data.TensorDataset(np.arange(3)) + data.TensorDataset(np.arange(10, 14))
    assert len(both) == 7 and [both[i][0].item() for i in (0, 2, 3, 6, -1, -7)] == [0, 2, 10, 13, 13, 0]
    with pytest.raises(ValueError, match="should not exceed dataset length"):
        both[-8]


def test_dataloader_options_that_contradict_each_other_are_refused():
    dataset = data.TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        data.DataLoader(dataset, sampler=data.SequentialSampler(dataset), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        data.DataLoader(dataset, batch_size=2, batch_sampler=data.BatchSampler(range(4), 2, False))
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        data.DataLoader(dataset, num_workers=-1)
    loader = data.DataLoader(dataset, batch_sampler=data.BatchSampler(range(4), 3, False), num_workers=2,
                             pin_memory=True)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2], [3]] and len(loader) == 2
