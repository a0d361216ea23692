"""lazyfuse.optim: SGD (momentum, weight decay, nesterov), Adam and AdamW.

A step records in-place updates of the parameters and of the optimizer state
(kept in device memory) and realises them together in one schedule, so each
parameter's update with its state is one fused kernel, or part of the kernel
computing its gradient when backward() left the gradients to this schedule."""
from __future__ import annotations

from typing import Iterable

from .autograd.grad_mode import no_grad
from .runtime.realize import realize


class Optimizer:
    def __init__(self, params: Iterable, defaults: dict):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = defaults
        self.state: dict[int, dict] = {id(p): {} for p in self.params}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self) -> None:
        with no_grad():
            written = []
            for p in self.params:
                if p.grad is not None:
                    written += self._update(p, p.grad, self.state[id(p)])
            realize([t.node for t in written])

    def _update(self, p, grad, state: dict) -> list:
        """Record the update of one parameter; return the tensors it wrote."""
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid SGD hyper-parameters: lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _update(self, p, grad, state):
        d = self.defaults
        if d["weight_decay"]:
            grad = grad + d["weight_decay"] * p
        written = [p]
        if d["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.clone()
            else:
                state["momentum_buffer"].mul_(d["momentum"]).add_(grad, alpha=1 - d["dampening"])
            buf = state["momentum_buffer"]
            grad = grad + d["momentum"] * buf if d["nesterov"] else buf
            written.append(buf)
        p.sub_(d["lr"] * grad)
        return written


class Adam(Optimizer):
    decoupled = False  # AdamW decays the weights directly instead of through the gradient

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Adam hyper-parameters: lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _update(self, p, grad, state):
        from .creation import tensor, zeros_like
        d = self.defaults
        beta1, beta2 = d["betas"]
        if d["weight_decay"] and not self.decoupled:
            grad = grad + d["weight_decay"] * p
        if not state:
            state.update(step=0, exp_avg=zeros_like(p), exp_avg_sq=zeros_like(p))
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        v.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        # the bias corrections change every step: passed as tensors, not baked into the
        # kernel as constants, so every step reuses the same compiled kernel
        step_size = tensor(d["lr"] / (1 - beta1 ** t), dtype=p.dtype, device=p.device)
        correction = tensor(1 / (1 - beta2 ** t), dtype=p.dtype, device=p.device)
        denominator = (v * correction).sqrt() + d["eps"]
        if d["weight_decay"] and self.decoupled:
            p.mul_(1 - d["lr"] * d["weight_decay"])
        p.sub_(step_size * m / denominator)
        return [p, m, v]


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
