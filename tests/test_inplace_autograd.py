"""In-place ops under autograd: writes through views (PyTorch's CopySlices), views
that see a later write to their base, and in-place products on results. Checked
against float64 finite differences, and against PyTorch when it is installed."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf
from lazyfuse.autograd import gradcheck
from conftest import check_against_pytorch


# each takes the module (lazyfuse or torch) and two float64 vectors of 4 that require grad
def setitem_slice(m, a, c):
    b = a * 2
    b[1:3] = c[:2] * 5
    return b * b


def setitem_strided(m, a, c):
    b = a * 1
    b[::2] = c[1::2].exp()
    return b.sin()


def through_a_view_of_a_view(m, a, c):
    b = (a * 1).reshape(2, 2)
    b.T[0] = c[:2]
    return b.reshape(-1) * a


def view_written_then_used(m, a, c):
    b = a * 1
    v = b[1:]
    v.mul_(c[1:])
    return (v * b[:3]).sum() + b


def view_taken_before_its_base_is_written(m, a, c):
    b = a * 1
    v = b[:2]
    b.mul_(c)
    return v * 3


def into_a_tensor_without_grad(m, a, c):
    z = m.zeros(4, dtype=m.float64)
    z[1:3] = a[2:] * c[:2]
    return z * z + z.sum()


def copy_into_a_tensor_without_grad(m, a, c):
    z = m.zeros(4, dtype=m.float64)
    z.copy_(a)
    return z * c


def fill_part_of_a_result(m, a, c):
    b = a * c
    b[1:].fill_(0.5)
    b[0].zero_()
    return b * a


def fill_a_whole_result(m, a, c):
    b = a * c
    b.fill_(2.0)
    return b * a


def in_place_products_on_a_result(m, a, c):
    b = a * 1
    b.mul_(3)
    b.div_(c)
    return b


def augmented_assignments_on_rows_and_columns(m, a, c):
    b = (a * 1).reshape(2, 2).clone()
    b[0] += c[:2]
    b[:, 1] *= c[2:]
    return b.exp()


SCENARIOS = [setitem_slice, setitem_strided, through_a_view_of_a_view, view_written_then_used,
             view_taken_before_its_base_is_written, into_a_tensor_without_grad, copy_into_a_tensor_without_grad,
             fill_part_of_a_result, fill_a_whole_result, in_place_products_on_a_result,
             augmented_assignments_on_rows_and_columns]


def _inputs(module, seed: int):
    rng = np.random.default_rng(seed)
    return [module.tensor(rng.uniform(0.5, 1.5, 4), requires_grad=True) for _ in range(2)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_gradients_of_in_place_writes_match_finite_differences(scenario):
    assert gradcheck(lambda a, c: scenario(lf, a, c), tuple(_inputs(lf, 0)))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_in_place_writes_match_pytorch(scenario):
    for seed in (1, 2):  # the second backward of the same structure replays the first one's template
        rng = np.random.default_rng(seed)
        ours, theirs = check_against_pytorch(scenario, [rng.uniform(0.5, 1.5, 4) for _ in range(2)])
        assert ours.grad_fn.name() == type(theirs.grad_fn).__name__


def test_a_write_through_a_view_is_recorded_as_copy_slices():
    a = lf.ones(4, requires_grad=True)
    b = a * 2
    v = b[2:]
    b[0] = 3.0
    assert b.grad_fn.name() == "CopySlices" and not b.is_leaf
    assert v.requires_grad and v.grad_fn is not None  # v now sees b's new history


def test_a_value_saved_for_backward_then_written_through_a_view_raises():
    a = lf.ones(4, requires_grad=True)
    b = a * 2
    c = b * b
    b[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_writing_through_a_view_of_a_leaf_that_requires_grad_raises():
    a = lf.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        a[0] = 1.0
    with lf.no_grad():  # allowed outside autograd, as in PyTorch
        a[0] = 5.0
    (a * a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [10.0, 2.0, 2.0, 2.0])
    assert a.is_leaf


def test_a_result_overwritten_by_an_unrelated_value_passes_its_inputs_a_zero_gradient():
    """t.copy_(v) for a v not computed from t: t's old history gets zeros, as in PyTorch, not no gradient at all."""
    x, y = lf.tensor([1.0, 2.0], requires_grad=True), lf.tensor([0.5, -1.0], requires_grad=True)
    t = x * 3
    t.copy_(y.tanh())
    t.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(y.grad.numpy(), 1 - np.tanh([0.5, -1.0]) ** 2, rtol=1e-6)
    a = lf.tensor([1.0, 2.0], requires_grad=True)
    u = a * 3
    u.add_(1)  # a value computed from u carries u's history
    u.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]
