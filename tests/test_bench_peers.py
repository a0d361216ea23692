"""The benchmark's hand-written OpenCL kernels (bench/peers.py), the ideal line lazyfuse
is drawn against, and its C sums (bench/native.py): each computes its workload,
checked against numpy at small sizes."""
from __future__ import annotations

import numpy as np
import pytest

from bench.peers import HandWrittenKernel, HandWrittenRows, HandWrittenSum


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_the_elementwise_kernel_computes_its_expression(rng):
    x, y = rng.standard_normal((2, 1 << 12), dtype=np.float32)
    x[5] = y[700] = 3e9  # where PoCL's native sin and cos are wrong (off by 0.2-0.9): those vectors take the slow forms
    ideal = HandWrittenKernel("exp(-x * x) * y + sin(x) * 0.5f - cos(y)", 2, x.size)
    out, ins = ideal.buffers(x, y)
    ideal(out, *ins)
    expected = np.exp(-x * x) * y + np.sin(x.astype(np.float64)) * 0.5 - np.cos(y.astype(np.float64))
    np.testing.assert_allclose(ideal.read(out, x.shape), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("term,inputs,scale", [("x", 1, 1.0), ("(x - y) * (x - y)", 2, 1 / (1 << 16))])
def test_the_two_stage_sum_adds_every_element(rng, term, inputs, scale):
    arrays = rng.standard_normal((inputs, 1 << 16), dtype=np.float32)
    ideal = HandWrittenSum(term, inputs, 1 << 16, scale)
    out, ins = ideal.buffers(*arrays)
    ideal(out, *ins)
    x = arrays[0].astype(np.float64)
    expected = (x if inputs == 1 else (x - arrays[1]) ** 2).sum() * scale
    np.testing.assert_allclose(ideal.read(out, (1,))[0], expected, rtol=1e-4, atol=1e-3)


def test_the_row_kernels_compute_softmax_and_layer_norm(rng):
    x = rng.standard_normal((8, 256), dtype=np.float32) * 4
    weight, bias = rng.standard_normal((2, 256), dtype=np.float32)
    softmax, layernorm = HandWrittenRows("softmax", 8, 256), HandWrittenRows("layernorm", 8, 256)
    out, ins = softmax.buffers(x)
    softmax(out, *ins)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(softmax.read(out, x.shape), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    out, ins = layernorm.buffers(x, weight, bias)
    layernorm(out, *ins)
    centred = x - x.mean(1, keepdims=True)
    expected = centred / np.sqrt((centred ** 2).mean(1, keepdims=True) + 1e-5) * weight + bias
    np.testing.assert_allclose(layernorm.read(out, x.shape), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n", [1, 63, 1000, (1 << 16) + 7])
def test_the_c_sums_add_every_element(rng, n):
    """Lengths that no thread's share, stretch or vector divides: the tails are summed too."""
    from bench import native
    lib, why = native.load()
    if lib is None:
        pytest.skip(why)
    x, y = rng.standard_normal((2, n), dtype=np.float32)
    np.testing.assert_allclose(native.summing(lib.sum, x)(), x.astype(np.float64).sum(), rtol=1e-4, atol=1e-3)
    expected = ((x.astype(np.float64) - y) ** 2).mean()
    np.testing.assert_allclose(native.summing(lib.sum_of_squared_differences, x, y, scale=1 / n)(), expected,
                               rtol=1e-4, atol=1e-6)
