"""What PyTorch scripts call as they set up: the default dtype, deterministic
algorithms, and torch.compile (which lazyfuse has no need of)."""
from __future__ import annotations

from lazyfuse.runtime import dtypes


def set_default_dtype(d) -> None:
    """The dtype of tensors made from Python floats and of factory functions' floats
    (float32, float64 or float16), as in PyTorch."""
    d = dtypes.as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d.name}")
    dtypes.default_float = d


def compile(model=None, **options):  # noqa: A001 - PyTorch's name
    """`model` (a module or function) unchanged, as a decorator too: lazyfuse fuses every
    program without being asked, so torch.compile's options (mode, backend, fullgraph,
    dynamic) have nothing to choose. To skip a training step's Python as well, see
    lazyfuse.capture."""
    return (lambda fn: fn) if model is None else model


_deterministic = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded only: lazyfuse's kernels always give the same result for the same
    inputs (no atomics; reductions in a fixed order)."""
    global _deterministic
    _deterministic = bool(mode)


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic
