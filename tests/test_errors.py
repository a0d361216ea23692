"""Bad input: a clear error where the op is recorded, never a crash or a wrong answer."""
from __future__ import annotations

import numpy as np
import pytest

import lazyfuse as lf


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(4,\)"):
        lf.ones(2, 3) + lf.ones(4)
    with pytest.raises(RuntimeError, match=r"2x3 and 4x5"):
        lf.ones(2, 3) @ lf.ones(4, 5)
    with pytest.raises(RuntimeError, match="invalid for input of size 6"):
        lf.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="expanded size"):
        lf.ones(2, 3).expand(4, 4)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        lf.cat([lf.ones(2, 3), lf.ones(2, 4)])


def test_bad_devices():
    with pytest.raises(RuntimeError, match="unknown device 'tpu'"):
        lf.ones(3, device="tpu")
    with pytest.raises(RuntimeError, match="invalid device string"):
        lf.device("opencl:x")
    with pytest.raises(RuntimeError, match="does not exist"):
        lf.ones(3, device="opencl:99")
    with pytest.raises(TypeError):
        lf.device(3.5)


@pytest.mark.skipif(lf.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_explained(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert lf.cuda.is_available() is False
    reason = lf.cuda.unavailable_reason()
    assert "driver" in reason or "not installed" in reason or "no GPU" in reason
    with pytest.raises(RuntimeError, match="cannot be used.*TRITON_INTERPRET=1"):
        lf.ones(3, device="cuda")


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="cpu and opencl:0"):
        lf.ones(3) + lf.ones(3, device="opencl:0")


def test_bad_dtypes():
    with pytest.raises(TypeError, match="unknown dtype"):
        lf.ones(3, dtype="complex64")
    with pytest.raises(TypeError, match="not supported"):
        lf.tensor(np.ones(3, dtype=np.complex64))
    with pytest.raises(TypeError, match="bfloat16 is not supported"):
        lf.ones(3).to(lf.bfloat16)
    with pytest.raises(TypeError):
        lf.tensor(["a", "b"])
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
        lf.ones(3, dtype=lf.int64).mean()


def test_ragged_nested_lists():
    with pytest.raises(ValueError, match="ragged"):
        lf.tensor([[1, 2], [3]])


def test_item_on_many_elements():
    with pytest.raises(RuntimeError, match="a Tensor with 3 elements cannot be converted to Scalar"):
        lf.ones(3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(lf.ones(3))


def test_bad_dims_and_indices():
    with pytest.raises(IndexError, match="Dimension out of range"):
        lf.ones(2, 3).sum(2)
    with pytest.raises(IndexError, match="out of bounds"):
        lf.ones(2, 3)[2]
    with pytest.raises(IndexError, match="too many indices"):
        lf.ones(2)[0, 0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        lf.ones(4)[::-1]
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 4"):
        lf.ones(4)[[0, 4]]
    with pytest.raises(IndexError, match="must be long, int, byte or bool tensors"):
        lf.ones(4)[lf.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match="numel\\(\\) == 0"):
        lf.zeros(0).amax()


def test_impossible_allocation_raises_memory_error():
    with pytest.raises((MemoryError, RuntimeError), match="cannot allocate"):
        lf.zeros(1 << 40)
    with pytest.raises((MemoryError, RuntimeError)):
        lf.ones(1 << 20, 1 << 20).sum().item()


def test_operand_types():
    with pytest.raises(TypeError, match="unsupported operand"):
        lf.ones(3) + "x"
    with pytest.raises(RuntimeError, match="Subtraction.*two bool tensors"):
        lf.ones(3, dtype=lf.bool) - lf.ones(3, dtype=lf.bool)
    mask = lf.ones(3, dtype=lf.bool)
    for subtraction in (lambda: lf.ones(3) - mask, lambda: mask - 1, lambda: 1.5 - mask,
                        lambda: lf.ones(3, dtype=lf.int64) - True):
        with pytest.raises(RuntimeError, match="Subtraction.*with a bool tensor"):
            subtraction()
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not allowed"):
        lf.tensor([2, 3]) ** -1


def test_joining_0d_tensors_names_the_position():
    with pytest.raises(RuntimeError, match=r"zero-dimensional tensor \(at position 1\) cannot be concatenated"):
        lf.cat([lf.ones(1).sum().reshape(1), lf.tensor(2.0)])


def test_bad_padding_names_what_is_wrong():
    x = lf.ones(2, 3)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        lf.nn.functional.pad(x, (1, 2, 3))
    with pytest.raises(RuntimeError, match=r"reflect padding of dim 1 \(size 3\) by \(3, 0\) is out of range"):
        lf.nn.functional.pad(x, (3, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match="padding mode 'mirror'"):
        lf.nn.functional.pad(x, (1, 1), mode="mirror")


@pytest.mark.parametrize("layer", [lf.nn.ReLU(), lf.nn.Linear(3, 2), lf.nn.Sequential(lf.nn.Linear(3, 2))])
def test_a_layer_given_a_numpy_array_says_it_takes_a_tensor(layer):
    """As PyTorch: a TypeError naming the layer. Linear computed with the array (numpy's
    @ deferred to the weight) and ReLU failed inside with an AttributeError."""
    with pytest.raises(TypeError, match=f"{type(layer).__name__}: argument 1 must be a Tensor, not numpy.ndarray"):
        layer(np.ones((2, 3), np.float32))
    assert layer(lf.ones(2, 3)).shape == (2, 3 if isinstance(layer, lf.nn.ReLU) else 2)
