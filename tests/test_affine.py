"""Render-time index arithmetic (kernels/affine.py) against plain integer arithmetic,
and what it buys in generated code."""
from __future__ import annotations

import re

import numpy as np
import pytest

import lazyfuse as lf
from conftest import check
from lazyfuse.kernels.affine import Affine


def evaluate(affine: Affine, values: dict[str, int]) -> int:
    """The rendered C expression's value (its operands are non-negative, so C's / is //)."""
    return eval(str(affine).replace(" / ", " // "), {}, dict(values))


@pytest.mark.parametrize("seed", range(40))
def test_divmod_matches_integer_arithmetic(seed):
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c"][: rng.integers(1, 4)]
    bounds = {n: int(rng.choice([1, 3, 8, 64, 100, 4096])) for n in names}
    coefficients = {n: int(rng.choice([1, 2, 8, 30, 64, 100, 4096, 65536])) for n in names}
    index = Affine(constant=int(rng.integers(0, 200)))
    for n in names:
        index = index + Affine.of(n, bounds[n], coefficients[n])
    m = int(rng.choice([1, 2, 7, 8, 30, 64, 100, 4096]))
    quotient, remainder = index.divmod(m)
    for _ in range(50):
        values = {n: int(rng.integers(0, bounds[n])) for n in names}
        whole = index.constant + sum(coefficients[n] * values[n] for n in names if bounds[n] > 1)
        assert evaluate(index, values) == whole
        assert evaluate(quotient, values) == whole // m
        assert evaluate(remainder, values) == whole % m
        assert remainder.low <= whole % m <= remainder.high
        assert quotient.low <= whole // m <= quotient.high


def test_divmod_splits_exact_terms_without_division():
    index = Affine.of("row", 64, 65536) + Affine.of("r", 65536) + 8 * 65536
    quotient, remainder = index.divmod(65536)
    assert str(quotient) == "(row + 8)" and str(remainder) == "r"


def test_negative_coefficients_fall_back_to_dividing_the_whole_index():
    index = Affine.of("i", 10, -3) + 40  # a reversed view: 40 - 3 i, always positive
    quotient, remainder = index.divmod(7)
    for i in range(10):
        assert evaluate(quotient, {"i": i}) == (40 - 3 * i) // 7
        assert evaluate(remainder, {"i": i}) == (40 - 3 * i) % 7


def test_column_sum_computes_the_per_row_factor_once(rng):
    """x.T @ g over a tall x: lanes walk x's columns, and g (the same for every column)
    is loaded once per row of x rather than once per vector of columns."""
    x = rng.standard_normal((4096, 64), dtype=np.float32)
    g = rng.standard_normal((4096, 1), dtype=np.float32)
    with lf.profile() as prof:
        out = lf.tensor(x).T @ (lf.tensor(g) * 2 + 1)
        check(out, x.T @ (g * 2 + 1), rtol=1e-4, atol=1e-3)
    (source,) = [k.source for k in prof.kernels if "reduce" in k.name or "partial" in k.name]
    loop = source[source.index("for ("):]
    assert "/" not in loop.split("}")[0] and "%" not in loop.split("}")[0]
    assert len(re.findall(r"v\d+ \* v\d+", loop)) == 8  # one product per vector of 8 columns


def test_divmod_keeps_a_multiple_of_the_coefficient():
    """gid * 8 % 32 is 8 (gid % 4): its lanes' coordinates are known to stay below 32."""
    quotient, remainder = Affine.of("gid", 100, 8).divmod(32)
    assert str(quotient) == "(gid / 4)" and str(remainder) == "(gid % 4) * 8"
    assert remainder.high == 24


def test_pieces_joined_along_a_dim_are_read_in_vectors():
    """A stack of concatenations (an RNN's gradient of its per-step gate chunks) is a
    sum of padded pieces read through two views; lanes of 8 stay inside one piece's
    64 columns, so each piece is one vector load under one scalar condition, not a
    gather with a division per lane (60 pieces of 32x64: 5.5-7.2 -> 0.8-1.3 ms)."""
    rng = np.random.default_rng(0)
    parts = [[rng.standard_normal((32, 64)).astype(np.float32) for _ in range(3)] for _ in range(20)]
    with lf.profile() as prof:
        out = lf.stack([lf.cat([lf.tensor(p) for p in ps], -1) for ps in parts]).numpy()
    np.testing.assert_array_equal(out, np.stack([np.concatenate(ps, -1) for ps in parts]))
    (source,) = [k.source for k in prof.kernels]
    start = source.index("base = ")
    vectors = source[start:]  # (no scalar tail: the pieces are whole vectors)
    lanes = re.search(r"float(\d+)_unaligned", vectors).group(1)  # the device's native vector
    assert f"(float{lanes})(in" not in vectors and vectors.count(f"float{lanes}_unaligned*)(in") == 60
    assert "as_uint" not in vectors  # no lane's position is divided


def test_a_multiple_plus_a_smaller_term_keeps_its_multiple_through_a_remainder():
    """row * 9 + r with r < 9, modulo 144: 9 (row % 16) + r, with row / 16 as the quotient
    (a product's rows of 9 terms, 16 output channels: a one-channel convolution)."""
    index = Affine.of("row", 100352, 9) + Affine.of("r", 9)
    quotient, remainder = index.divmod(144)
    assert str(quotient) == "(row / 16)" and str(remainder) == "((row % 16) * 9 + r)"
    assert remainder.high == 143


def test_a_one_channel_convolution_reads_its_weights_as_vectors(rng):
    """Conv2d(1, 16, 3): each output's 9 terms are one row of the product, and a vector
    step's 8 lanes stay inside one output channel's 9 weights, so they are one vector
    load, not a gather with a remainder per lane (32x1x28x28: 1.27 -> 0.45 ms)."""
    xs = rng.random((32, 1, 28, 28), dtype=np.float32)
    ws = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    out = lf.nn.functional.conv2d(lf.tensor(xs), lf.tensor(ws), stride=2, padding=1)
    with lf.profile() as prof:
        out.realize()
    product = [k for k in prof.kernels if k.name.startswith("reduce")]
    assert product and not re.search(r"\(float8\)\(in\d+\[", product[0].source), product[0].source
    padded = np.pad(xs, ((0, 0), (0, 0), (1, 1), (1, 1))).astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    expected = np.einsum("nchwij,ocij->nohw", windows, ws.astype(np.float64))
    check(out, expected, rtol=1e-5, atol=1e-5)
