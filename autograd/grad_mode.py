"""Grad mode: no_grad, enable_grad, inference_mode, set_grad_enabled and is_grad_enabled."""
from __future__ import annotations

import functools
import threading

_state = threading.local()


def grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


is_grad_enabled = grad_enabled


class _GradMode:
    """Context manager and decorator setting whether ops record gradients."""

    enabled = True

    def __enter__(self):
        self._previous = grad_enabled()
        _state.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False

    def __call__(self, fn):
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _Setting(enabled):
                return fn(*args, **kwargs)
        return wrapper


class _Setting(_GradMode):
    """A decorated function's grad mode, entered on each call."""

    def __init__(self, enabled: bool):
        self.enabled = enabled


class no_grad(_GradMode):
    enabled = False


class enable_grad(_GradMode):
    enabled = True


class inference_mode(_GradMode):
    """PyTorch's inference_mode: no_grad here (lazyfuse has no separate inference tensors)."""

    def __init__(self, mode: bool = True):
        self.enabled = not mode


class set_grad_enabled(_GradMode):
    def __init__(self, mode: bool):
        self.enabled = bool(mode)
        self._previous = grad_enabled()
        _state.enabled = self.enabled  # takes effect at once when used as a function, as in PyTorch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False
