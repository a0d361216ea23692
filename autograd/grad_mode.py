"""Grad mode: no_grad, enable_grad, set_grad_enabled and is_grad_enabled."""
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
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)() if not isinstance(self, set_grad_enabled) else set_grad_enabled(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    enabled = False


class enable_grad(_GradMode):
    enabled = True


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
