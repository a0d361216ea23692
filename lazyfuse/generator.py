"""The random number generator: draws made on the device, inside the kernels
that use them.

Each device has a counter, an int64 tensor. A draw of n values is an Op.RAND
node reading the counter (see runtime/random_bits.py for the numbers it
gives), after which the counter advances by n in place. So `x * (rand_like(x)
> p)` is one kernel, nothing is made on the host, and a step run under
lazyfuse.capture reads and advances the counter like a parameter: each replay
draws new numbers, the ones the step's Python would have drawn.

As in PyTorch, the default seed is fixed (a fresh process draws the same
numbers) and `manual_seed` restarts every device's generator. The numbers are
lazyfuse's own: the same seed does not give PyTorch's values.
"""
from __future__ import annotations

import math
import os

import numpy as np

from lazyfuse.runtime import dtypes, movement, random_bits
from lazyfuse.runtime.graph import Node, Op

from .autograd.grad_mode import no_grad
from .tensor import Tensor

DEFAULT_SEED = 67280421310721  # PyTorch's default seed

_seed = DEFAULT_SEED
_seeding = 0  # how many times manual_seed was called
_counters: dict[str, tuple[int, Tensor]] = {}  # canonical device name -> (_seeding when it started, its counter)


def manual_seed(seed: int) -> None:
    """Restart the generators of all devices from `seed` (an int, as in PyTorch). Each
    device's counter restarts at its next draw, so no other device is touched."""
    global _seed, _seeding
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int, got {type(seed).__name__}")
    _seed, _seeding = seed, _seeding + 1


def seed() -> int:
    """Seed every device's generator from the operating system's entropy, and return the seed."""
    fresh = int.from_bytes(os.urandom(8), "little") >> 1
    manual_seed(fresh)
    return fresh


def initial_seed() -> int:
    return _seed


_host: tuple[int, np.random.Generator] | None = None  # (_seeding when it started, the generator)


def host_generator() -> np.random.Generator:
    """numpy's generator for what is drawn on the host (a DataLoader's shuffles,
    random_split's permutation), restarted from the seed by manual_seed as the
    devices' generators are."""
    global _host
    if _host is None or _host[0] != _seeding:
        _host = (_seeding, np.random.default_rng(_seed))
    return _host[1]


def uniform(shape: tuple[int, ...], dtype: dtypes.DType, device: str) -> Tensor:
    """Uniform values in [0, 1) of a float dtype, drawn from `device`'s generator."""
    bits_dtype = dtype if dtype.name in ("float16", "float32", "float64") else dtypes.float32
    counter = _counter(device)
    at_every_index = movement.broadcast(counter.node, shape)
    values = Tensor._wrap(Node.make(Op.RAND, (at_every_index,), None, shape, bits_dtype, device))
    n = math.prod(shape)
    if n:
        with no_grad():
            counter.add_(n)
    return values.cast(dtype)


def normal(shape: tuple[int, ...], dtype: dtypes.DType, device: str) -> Tensor:
    """Standard normal values: the Box-Muller transform of two uniform draws, computed
    in float32 at least (float16's 11 random bits would cut the tails short)."""
    work = dtype if dtype is dtypes.float64 else dtypes.float32
    u, v = uniform(shape, work, device), uniform(shape, work, device)
    radius = ((1.0 - u).log() * -2.0).sqrt()  # 1 - u is in (0, 1]: no log of 0
    return (radius * (v * (2 * math.pi)).cos()).cast(dtype)


def _counter(device: str) -> Tensor:
    seeding, counter = _counters.get(device, (None, None))
    if counter is None:
        counter = _start(_seed, device)
    elif seeding != _seeding:
        with no_grad():  # in place: a captured step keeps reading this counter
            counter.copy_(_start(_seed, device))
    if seeding != _seeding:
        _counters[device] = (_seeding, counter)
    return counter


def _start(seed: int, device: str) -> Tensor:
    # a value in a buffer, not a constant: kernels built around a constant counter
    # would be built anew for every draw
    from .creation import tensor
    return tensor(np.array(random_bits.first_counter(seed), dtype=np.int64), device=device)
