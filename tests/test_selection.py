"""Selection by index tensors (lazyfuse/selection.py): gather, index_select and
advanced indexing, read and written. Values against numpy's own advanced
indexing, gradients against finite differences, both against PyTorch when it
is installed; bad indices raise where they can be read, else give NaN."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch

X = np.random.default_rng(0).standard_normal((4, 5, 3))
GATHER_INDEX = np.array([[[0, 1, 4]], [[2, 2, 2]], [[4, 3, 0]], [[1, 1, 1]]])


# name: (the same code for lazyfuse and torch, numpy's answer for X)
READS = {
    "list": (lambda m, x: x[[0, 2, -1]], lambda x: x[[0, 2, -1]]),
    "range_and_tensor": (lambda m, x: x[range(4), m.tensor([0, 4, 2, 2])], lambda x: x[range(4), [0, 4, 2, 2]]),
    "in_the_middle": (lambda m, x: x[:, [1, 1, 3]], lambda x: x[:, [1, 1, 3]]),
    "2d_index_beside_a_slice": (lambda m, x: x[:, m.tensor([[1, 0], [3, 4]]), 1:],
                                lambda x: x[:, np.array([[1, 0], [3, 4]]), 1:]),
    "two_adjacent": (lambda m, x: x[1:3, [0, 1], [2, 0]], lambda x: x[1:3, [0, 1], [2, 0]]),
    "two_apart_go_first": (lambda m, x: x[[0, 1], :, [2, 0]], lambda x: x[[0, 1], :, [2, 0]]),
    "broadcast_indices": (lambda m, x: x[m.tensor([[0], [3]]), m.tensor([1, 2, 4])],
                          lambda x: x[np.array([[0], [3]]), np.array([1, 2, 4])]),
    "negative_tensor_index": (lambda m, x: x[m.tensor([-1, 0])], lambda x: x[[-1, 0]]),
    "mask_of_all_dims": (lambda m, x: x[x > 0.5], lambda x: x[x > 0.5]),
    "mask_of_two_dims": (lambda m, x: x[(x > 0).all(-1)], lambda x: x[(x > 0).all(-1)]),
    "mask_of_rows": (lambda m, x: x[m.tensor([True, False, True, True])], lambda x: x[[True, False, True, True]]),
    "gather": (lambda m, x: x.gather(1, m.tensor(GATHER_INDEX)), lambda x: np.take_along_axis(x, GATHER_INDEX, 1)),
    "gather_smaller_index": (lambda m, x: m.gather(x, 0, m.tensor([[[0, 3, 1], [2, 2, 2]]])),
                             lambda x: np.take_along_axis(x[:, :2], np.array([[[0, 3, 1], [2, 2, 2]]]), 0)),
    "index_select": (lambda m, x: x.index_select(2, m.tensor([2, 0, 2])), lambda x: x[:, :, [2, 0, 2]]),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_reads_match_numpy(name):
    fn, expected = READS[name]
    np.testing.assert_array_equal(fn(lf, lf.tensor(X)).numpy(), expected(X))


@pytest.mark.parametrize("name", sorted(READS))
def test_read_gradients_match_finite_differences(name):
    fn, _ = READS[name]
    assert gradcheck(lambda x: fn(lf, x), (lf.tensor(X, requires_grad=True),))


@pytest.mark.parametrize("name", sorted(READS))
def test_reads_and_gradients_match_pytorch(name):
    check_against_pytorch(READS[name][0], [X])


def _writes(m, x):
    y = x * 1
    y[y > 1.5] = 0.0
    y[:, [0, 2]] = -1.0
    y[m.tensor([True, False, False, True])] = m.tensor(3.0, dtype=m.float64)
    y[:, :, m.tensor([2])] = 7
    y[[0, 1]] = x[2:] * 2
    y[m.tensor([3, 3])] = m.tensor([[[5.0]], [[6.0]]], dtype=m.float64)  # the last write at a position wins
    y[:, [4, 0]] = x[:, :2]
    y[(x > 1).any(-1)] = 0.5 * x[(x > 1).any(-1)]
    y[x[..., 0] > 0] = m.tensor([1.0, 2.0, 3.0], dtype=m.float64)
    return y


def test_writes_match_numpy():
    y = X * 1  # the same writes in numpy
    y[y > 1.5] = 0.0
    y[:, [0, 2]] = -1.0
    y[[True, False, False, True]] = 3.0
    y[:, :, [2]] = 7
    y[[0, 1]] = X[2:] * 2
    y[[3, 3]] = np.array([[[5.0]], [[6.0]]])
    y[:, [4, 0]] = X[:, :2]
    y[(X > 1).any(-1)] = 0.5 * X[(X > 1).any(-1)]
    y[X[..., 0] > 0] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(_writes(lf, lf.tensor(X)).numpy(), y)


def test_write_gradients_match_finite_differences():
    assert gradcheck(lambda x: _writes(lf, x), (lf.tensor(X, requires_grad=True),))


def test_writes_and_gradients_match_pytorch():
    check_against_pytorch(lambda m, x: _writes(m, x).sin(), [X])


def test_a_full_shape_mask_with_one_value_is_written_without_reading_the_mask():
    x = lf.tensor(X)
    mask = x > 0
    with lf.profile() as prof:
        x[mask] = 0.0
    assert not prof.kernels  # nothing ran: the write is recorded, as where(mask, 0, x)
    np.testing.assert_array_equal(x.numpy(), np.where(X > 0, 0.0, X))


def test_bad_indices_raise_where_they_can_be_read():
    x = lf.tensor(X)
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        x[[0, 4]]
    with pytest.raises(IndexError, match="index 9 is out of bounds"):
        lf.tensor([1, 2, 3])[lf.tensor([9])]  # an integer result has no NaN to mark it: read
    with pytest.raises(IndexError, match="must be long, int, byte or bool tensors"):
        x[lf.tensor([0.0])]
    with pytest.raises(IndexError, match="does not match the shape of the indexed tensor"):
        x[lf.tensor([True, False])] = 1.0
    with pytest.raises(RuntimeError, match="shape mismatch: value tensor of shape \\[3, 5, 3\\]"):
        x[[0, 1]] = lf.ones(3, 5, 3, dtype=lf.float64)
    with pytest.raises(TypeError, match="one boolean mask or one set of integer indices"):
        x[[0, 1], [1, 2]] = 0.0
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(0, lf.tensor([0]))


def test_a_float_result_of_an_out_of_range_tensor_index_is_nan():
    """Not read on the host, so no error: NaN marks the bad rows (documented)."""
    out = lf.tensor(X).index_select(0, lf.tensor([1, 7])).numpy()
    np.testing.assert_array_equal(out[0], X[1])
    assert np.isnan(out[1]).all()


# ---------------------------------------------------------------- scatter_add, index_add, median, unique, nonzero
SCATTER_INDEX = np.array([[[0, 3, 1]], [[3, 3, 3]], [[2, 0, 0]]])  # (3, 1, 3) into dim 0 of size 4


def _numpy_scatter_add(x, dim, index, src):
    out = x.copy()
    for position in np.ndindex(index.shape):
        target = list(position)
        target[dim] = index[position]
        out[tuple(target)] += src[position]
    return out


@pytest.mark.parametrize("dim", [0, 2])
def test_scatter_add_matches_numpy_and_its_gradients_pytorch(dim):
    index = SCATTER_INDEX if dim == 0 else np.array([[[2, 0, 2, 1]]])
    src = np.random.default_rng(3).standard_normal((4, 2, 5))
    got = lf.scatter_add(lf.tensor(X), dim, lf.tensor(index), lf.tensor(src))
    np.testing.assert_allclose(got.numpy(), _numpy_scatter_add(X, dim, index, src), rtol=1e-15, atol=1e-15)
    fitted = src[tuple(slice(0, n) for n in index.shape)]  # PyTorch's gradient takes src of index's shape only
    check_against_pytorch(lambda m, x, s: x.scatter_add(dim, m.tensor(index), s), [X, fitted])
    x, s = lf.tensor(X, requires_grad=True), lf.tensor(src, requires_grad=True)
    assert gradcheck(lambda x, s: x.scatter_add(dim, lf.tensor(index), s) ** 2, (x, s))


def _numpy_scatter(x, dim, index, src):
    """Each position written in order, so the last index naming a position wins."""
    out = x.copy()
    for position in np.ndindex(index.shape):
        target = list(position)
        target[dim] = index[position]
        out[tuple(target)] = src[position] if np.ndim(src) else src
    return out


@pytest.mark.parametrize("dim", [0, 2])
def test_scatter_writes_the_last_value_named_and_its_gradients_are_pytorchs(dim):
    index = SCATTER_INDEX if dim == 0 else np.array([[[2, 0, 2, 1]]])
    src = np.random.default_rng(6).standard_normal((4, 2, 5))
    got = lf.tensor(X).scatter(dim, lf.tensor(index), lf.tensor(src))
    np.testing.assert_array_equal(got.numpy(), _numpy_scatter(X, dim, index, src))
    np.testing.assert_array_equal(lf.tensor(X).scatter(dim, lf.tensor(index), value=-2.5).numpy(),
                                  _numpy_scatter(X, dim, index, -2.5))
    # PyTorch gives an overwritten src element the gradient of the position too (its
    # gradient is specified for unique indices only): compare with unique ones
    unique = np.array([[[0, 3, 1]], [[3, 2, 2]]]) if dim == 0 else np.array([[[2, 0, 1]]])
    check_against_pytorch(lambda m, x, s: x.scatter(dim, m.tensor(unique), s),
                          [X, src[tuple(slice(0, n) for n in unique.shape)]])


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_pytorch_with_gradients(reduce, include_self):
    src = np.random.default_rng(7).standard_normal((3, 1, 3))
    if include_self:  # a tie with self for amax/amin: the gradient is shared among all tied values (PyTorch
        src[1, 0, 1] = X[3, 0, 1]  # also shares it with a self that is not included: a tie only where it is)
    check_against_pytorch(lambda m, x, s: x.scatter_reduce(0, m.tensor(SCATTER_INDEX), s, reduce,
                                                           include_self=include_self), [X, src])


def test_scatter_forms_and_errors():
    t = lf.tensor(X.copy())
    t.scatter_(0, lf.tensor(SCATTER_INDEX), value=1.0)
    np.testing.assert_array_equal(t.numpy(), _numpy_scatter(X, 0, SCATTER_INDEX, 1.0))
    ints = np.arange(20).reshape(4, 5)
    out = lf.tensor(ints).scatter_reduce(0, lf.tensor([[3, 3, 0, 1, 1]]), lf.tensor(-ints), "mean", include_self=True)
    expected = ints.copy()
    for k, row in enumerate([3, 3, 0, 1, 1]):
        expected[row, k] = (ints[row, k] - ints[0, k]) // 2
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(RuntimeError, match="reduce argument must be one of"):
        lf.tensor(X).scatter_reduce(0, lf.tensor(SCATTER_INDEX), lf.tensor(X), "max")
    with pytest.raises(TypeError, match="either src"):
        lf.tensor(X).scatter(0, lf.tensor(SCATTER_INDEX))
    with pytest.raises(RuntimeError, match="scatter\\(\\): Expected index"):
        lf.tensor(X).scatter(1, lf.tensor(np.zeros((5, 1, 1), np.int64)), value=0.0)


def test_index_add_and_the_in_place_forms():
    source = np.random.default_rng(4).standard_normal((4, 2, 3))
    check_against_pytorch(lambda m, x, s: x.index_add(1, m.tensor([4, 0]), s, alpha=-1.5), [X, source])
    t = lf.tensor(X.copy())
    t.index_add_(1, [4, 4], lf.tensor(source))
    expected = X.copy()
    expected[:, 4] += source[:, 0] + source[:, 1]
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-15)
    u = lf.zeros(4, 5, 3, dtype=lf.float64)
    u.scatter_add_(0, lf.tensor(SCATTER_INDEX), lf.tensor(X))
    np.testing.assert_allclose(u.numpy(), _numpy_scatter_add(np.zeros_like(X), 0, SCATTER_INDEX, X), rtol=1e-15)
    with pytest.raises(RuntimeError, match="Index tensor must have the same number of dimensions"):
        lf.tensor(X).scatter_add(0, lf.tensor([0, 1]), lf.tensor(X))


@pytest.mark.parametrize("rows", [5, 6])
def test_median_and_nanmedian_match_numpy_with_positions(rows):
    x = np.random.default_rng(5).standard_normal((rows, 4))
    x[1, 2] = x[3, 2] = np.nan
    x[:, 3] = np.nan
    t = lf.tensor(x)
    lower = np.sort(x, 0)[(rows - 1) // 2]  # the lower middle, as PyTorch's
    values, indices = t.median(0)
    np.testing.assert_array_equal(values.numpy()[:2], lower[:2])
    assert np.isnan(values.numpy()[2:]).all() and np.isnan(x[indices.numpy()[2:], [2, 3]]).all()
    np.testing.assert_array_equal(x[indices.numpy()[:2], [0, 1]], lower[:2])
    finite = [np.sort(c[~np.isnan(c)])[(np.sum(~np.isnan(c)) - 1) // 2] for c in x.T[:3]]
    np.testing.assert_array_equal(lf.nanmedian(t, 0, keepdim=True).values.numpy()[0, :3], finite)
    assert np.isnan(lf.nanmedian(t, 0).values.numpy()[3]) and np.isnan(lf.median(t).item())
    assert lf.tensor(x[:, :2]).median().item() == np.sort(x[:, :2].ravel())[(2 * rows - 1) // 2]
    check_against_pytorch(lambda m, a: m.median(a, 1).values + a.nanmedian(0, keepdim=True).values.sum(), [x[:, :3]])


def test_unique_and_nonzero_match_numpy():
    a = np.array([[3, 1, 3], [2, 2, 0]])
    values, inverse, counts = lf.unique(lf.tensor(a), return_inverse=True, return_counts=True)
    expected = np.unique(a, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values.numpy(), expected[0])
    np.testing.assert_array_equal(inverse.numpy(), expected[1].reshape(a.shape))
    np.testing.assert_array_equal(counts.numpy(), expected[2])
    np.testing.assert_array_equal(lf.tensor(a).unique(dim=1).numpy(), np.unique(a, axis=1))
    np.testing.assert_array_equal(lf.tensor(a).nonzero().numpy(), np.argwhere(a))
    np.testing.assert_array_equal(lf.argwhere(lf.tensor(a) > 1).numpy(), np.argwhere(a > 1))
    assert [t.numpy().tolist() for t in lf.nonzero(lf.tensor(a), as_tuple=True)] == [r.tolist() for r in np.nonzero(a)]
    # torch.where(condition) alone is nonzero(as_tuple=True), as numpy's where is
    assert [t.numpy().tolist() for t in lf.where(lf.tensor(a) > 1)] == [r.tolist() for r in np.where(a > 1)]
    with pytest.raises(TypeError, match="condition alone"):
        lf.where(lf.tensor(a) > 1, 1.0)


# ---------------------------------------------------------------- long dims: loads
TABLE = np.random.default_rng(2).standard_normal((40, 3, 36))  # dims 0 and 2 reach GATHER_FROM
LONG_READS = {
    "rows": (lambda m, x: x[m.tensor([[39, 0], [7, 7]])], lambda x: x[np.array([[39, 0], [7, 7]])]),
    "last_dim": (lambda m, x: x.index_select(2, m.tensor([35, 1, 1])), lambda x: x[:, :, [35, 1, 1]]),
    "two_dims": (lambda m, x: x[m.tensor([1, 39]), :, m.tensor([0, 35])], lambda x: x[[1, 39], :, [0, 35]]),
    "embedding_of_a_view": (lambda m, x: m.nn.functional.embedding(m.tensor([[3, 39, 3]]), x[:, 1]),
                            lambda x: x[:, 1][np.array([[3, 39, 3]])]),
}


@pytest.mark.parametrize("name", sorted(LONG_READS))
def test_long_dims_are_selected_by_loads(name):
    """Along a dim of GATHER_FROM or more positions a selection loads its elements
    instead of comparing each index with every position (an EmbeddingBag of 1,000
    rows took 419 ms a forward): a pointwise kernel, no reduction."""
    from lazyfuse.selection import GATHER_FROM
    assert TABLE.shape[0] >= GATHER_FROM and TABLE.shape[2] >= GATHER_FROM
    fn, expected = LONG_READS[name]
    x = lf.tensor(TABLE)
    with lf.profile() as prof:
        out = fn(lf, x).realize()
    names = [k.name for k in prof.kernels]
    assert any("gather" in n for n in names) and not any(n.startswith(("reduce", "partial")) for n in names), names
    np.testing.assert_array_equal(out.numpy(), expected(TABLE))


@pytest.mark.parametrize("name", sorted(LONG_READS))
def test_long_dim_selections_have_pytorchs_gradients(name):
    check_against_pytorch(LONG_READS[name][0], [TABLE])


def test_long_dim_selections_of_integers_and_out_of_range_floats():
    ints = np.arange(40 * 3).reshape(40, 3)
    np.testing.assert_array_equal(lf.tensor(ints).index_select(0, lf.tensor([39, 0, 5])).numpy(), ints[[39, 0, 5]])
    out = lf.tensor(TABLE).index_select(0, lf.tensor([2, 40, -1])).numpy()  # not read on the host: NaN rows
    np.testing.assert_array_equal(out[0], TABLE[2])
    assert np.isnan(out[1:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_gradient_of_a_long_selection_is_a_masked_product(dtype):
    """Each pick's gradient is added back at its index by a tiled kernel summing the
    gradients whose index is the row (runtime/matmul.py's masked product; as a row
    reduction an EmbeddingBag's gradient took 283 ms). A non-finite gradient reaches
    its own row only, as with numpy's (and PyTorch's) scatter-add."""
    rng = np.random.default_rng(3)
    table, index = rng.standard_normal((300, 40)).astype(dtype), rng.integers(-300, 300, 500)
    grad = rng.standard_normal((500, 40)).astype(dtype)
    grad[7, 3], grad[9, 0], grad[11, 5] = np.inf, np.nan, -np.inf
    index[12] = index[11]
    grad[12, 5] = np.inf  # inf + -inf in one element: nan
    w = lf.tensor(table, requires_grad=True)
    w[lf.tensor(index)].backward(lf.tensor(grad))
    with lf.profile() as prof:
        got = w.grad.numpy()
    names = [k.name for k in prof.kernels]
    assert any(n.startswith("matmul") for n in names) and not any(n.startswith("reduce") for n in names), names
    expected = np.zeros_like(table)
    with np.errstate(invalid="ignore"):
        np.add.at(expected, index, grad)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.isnan(got).sum() == 2 and np.isinf(got).sum() == 1  # and every other element finite


@pytest.mark.parametrize("columns", [128, 40])
def test_an_embeddings_gradient_adds_each_picks_row_once_per_pick(rng, columns):
    """The gradient of picked rows goes back to their indices (repeats add up, as
    numpy's add.at does) by a kernel that walks the picks once per block of rows:
    the tiled masked product tested every row of the table at every pick (an
    embedding of 20,000 rows took 29 ms for 512 picks of 128 columns; now ~2)."""
    rows = 3000
    index = rng.integers(0, rows, (16, 32))
    index[0, :4] = index[1, 0]  # repeated picks
    table = rng.standard_normal((rows, columns)).astype(np.float32)
    upstream = rng.standard_normal((16, 32, columns)).astype(np.float32)
    weight = lf.tensor(table, requires_grad=True)
    with lf.profile() as p:
        (lf.nn.functional.embedding(lf.tensor(index), weight) * lf.tensor(upstream)).sum().backward()
        got = weight.grad.numpy()
    expected = np.zeros_like(table)
    np.add.at(expected, index.ravel(), upstream.reshape(-1, columns))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    products = [k for k in p.kernels if k.name.startswith("matmul")]
    assert products and all(" == " not in k.source for k in products)  # no row is compared with the index
