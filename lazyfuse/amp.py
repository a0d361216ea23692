"""lazyfuse.amp: autocast and GradScaler, so mixed-precision training scripts run.

autocast changes nothing: lazyfuse computes each op in its inputs' dtype (it
casts nothing to float16 or bfloat16 for you; cast a model with .half() for
float16). GradScaler does what PyTorch's does: the loss is multiplied by a
scale, the gradients divided by it before the optimizer's step, a step whose
gradients hold an inf or NaN is skipped and the scale backed off, and the
scale grows after growth_interval clean steps. Whether to step is read on the
host (one wait per step), as PyTorch's scaler reads it.
"""
from __future__ import annotations

import functools
from typing import Optional

from .autograd.grad_mode import no_grad
from .tensor import Tensor


class autocast:  # noqa: N801 - PyTorch's name
    """A context manager (and decorator) that leaves every op in its inputs' dtype."""

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None):
        self.device_type, self.dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self) -> "autocast":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapped


class GradScaler:
    """PyTorch's dynamic loss scaling: scale(loss).backward(); step(optimizer); update()."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError("The growth factor must be > 1.0 and the backoff factor in (0, 1).")
        self.device, self._enabled = device, enabled
        self._scale, self._growth_factor, self._backoff_factor = float(init_scale), growth_factor, backoff_factor
        self._growth_interval, self._growth_tracker = growth_interval, 0
        self._found_inf: dict[int, bool] = {}  # by id of an optimizer unscaled in this iteration

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """outputs (a tensor, or tensors in lists, tuples and dicts) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, dict):
            return {key: self.scale(value) for key, value in outputs.items()}
        return type(outputs)(self.scale(o) for o in outputs)

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale (before clipping them, say)."""
        if not self._enabled:
            return
        if id(optimizer) in self._found_inf:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        from .functional import stack
        grads = [p.grad for p in optimizer.params if p.grad is not None]
        with no_grad():
            for g in grads:
                g.mul_(1.0 / self._scale)
            flags = [(~g.isfinite()).any() for g in grads]
        self._found_inf[id(optimizer)] = bool(stack(flags).any().item()) if flags else False  # one read

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step() unless the unscaled gradients hold an inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if id(optimizer) not in self._found_inf:
            self.unscale_(optimizer)
        return None if self._found_inf[id(optimizer)] else optimizer.step(*args, **kwargs)

    def update(self, new_scale: Optional[float] = None) -> None:
        """Back the scale off after a skipped step, grow it after growth_interval clean ones."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        elif any(self._found_inf.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._found_inf.clear()

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        self._scale, self._growth_tracker = float(state["scale"]), state["_growth_tracker"]
        self._growth_factor, self._backoff_factor = state["growth_factor"], state["backoff_factor"]
        self._growth_interval = state["growth_interval"]
