"""torch.nn.utils' gradient clipping and parameter flattening (and, in rnn.py,
pad_sequence). Clipping by norm
scales the gradients on the device by min(1, max_norm / (norm + 1e-6)), as
PyTorch does, so a training step that clips reads nothing on the host."""
from __future__ import annotations

import math

from ... import creation, functional
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from . import rnn  # noqa: F401 - torch.nn.utils.rnn


def _as_list(parameters) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients in place so that their joint norm is at most max_norm;
    return that norm (before scaling)."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return creation.tensor(0.0)
    norm_type = float(norm_type)
    with no_grad():
        norms = functional.stack([g.norm(norm_type) for g in grads])
        total = norms.amax() if norm_type == math.inf else norms.norm(norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               f"so it cannot be clipped. To disable this error and scale the gradients by the "
                               f"non-finite norm anyway, set `error_if_nonfinite=False`")
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.cast(g.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters) -> Tensor:
    return functional.cat([p.reshape(-1) for p in _as_list(parameters)])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of vec into the parameters (in place, outside autograd)."""
    if vec.ndim != 1:
        raise TypeError(f"expected a 1-D vector, got {vec.ndim}-D")
    at = 0
    with no_grad():
        for p in _as_list(parameters):
            p.copy_(vec[at:at + p.numel()].reshape(p.shape))
            at += p.numel()
