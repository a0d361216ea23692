"""The counter-based random numbers that every backend computes alike.

A draw of n values takes n counters from its device's generator: the element
at flat position i gets counter c + i (Op.RAND reads c at every index), and
its 64 random bits are SplitMix64's output for that counter (Steele, Lea and
Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014; the
sequence passes BigCrush): the counter times the golden gamma, two rounds of
xor-shift then multiply, and a final xor-shift. The top bits, as many as the
dtype's significand holds, times 2^-bits give a uniform value in [0, 1) that
the dtype represents exactly (a float16 draw never rounds up to 1).

Each renderer spells these steps in its own language from the constants
here; `uniform` is the numpy spelling, which the reference executor runs.
"""
from __future__ import annotations

import numpy as np

from .dtypes import DType

GAMMA = 0x9E3779B97F4A7C15
MIX_ROUNDS = ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB))  # (shift, multiplier)
FINAL_SHIFT = 31
_MASK = (1 << 64) - 1
# random bits per value: float16 computes in float registers and stores exactly
_SIGNIFICAND_BITS = {"float16": 11, "float32": 24, "float64": 53}


def significand_bits(dtype: DType) -> int:
    return _SIGNIFICAND_BITS[dtype.name]


def uniform(counter: np.ndarray, dtype: DType) -> np.ndarray:
    """The values Op.RAND gives for `counter` (an int64 array of the result's shape)."""
    positions = np.arange(counter.size, dtype=np.uint64).reshape(counter.shape)
    z = (counter.astype(np.uint64) + positions) * np.uint64(GAMMA)  # arrays wrap modulo 2^64
    for shift, multiplier in MIX_ROUNDS:
        z = (z ^ (z >> np.uint64(shift))) * np.uint64(multiplier)
    z = z ^ (z >> np.uint64(FINAL_SHIFT))
    bits = significand_bits(dtype)
    return ((z >> np.uint64(64 - bits)).astype(np.float64) * 2.0 ** -bits).astype(dtype.np_dtype)


def first_counter(seed: int) -> int:
    """Where a generator seeded with `seed` starts: SplitMix64's mix of seed + 1 (it
    advances before its first output; the mix of 0 is 0), kept to 62 bits so that
    adding the sizes of draws never overflows an int64."""
    z = ((seed + 1) * GAMMA) & _MASK
    for shift, multiplier in MIX_ROUNDS:
        z = ((z ^ (z >> shift)) * multiplier) & _MASK
    return (z ^ (z >> FINAL_SHIFT)) >> 2
