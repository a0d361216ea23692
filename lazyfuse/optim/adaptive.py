"""Adadelta, Adamax, NAdam, RAdam and Rprop, as PyTorch computes them: each
parameter's step scaled from its gradients' history.

As in Adagrad, a parameter's step count is a scalar on the device and every
number derived from it (bias corrections, NAdam's momentum schedule, RAdam's
rectification) is computed there, so one set of kernels serves every step.
PyTorch computes those numbers in float64 on the host: the weights agree to
float32 rounding."""
from __future__ import annotations

from ..functional import where
from . import Optimizer, bias_correction


def _check(name: str, **values) -> None:
    """Each of `values` non-negative; (a, b) pairs each in [0, 1)."""
    for key, value in values.items():
        bad = not all(0 <= v < 1 for v in value) if isinstance(value, tuple) else value < 0
        if bad:
            raise ValueError(f"Invalid {key} value for {name}: {value}")


def _step(state: dict, p):
    """The parameter's step count, advanced by one (made at its first step)."""
    from ..creation import zeros
    if "step" not in state:
        state["step"] = zeros((), dtype=p.dtype, device=p.node.device)
    return state["step"].add_(1)


def _decayed(p, grad, d: dict, decoupled: bool = False):
    """The gradient with weight decay added (or, decoupled, p decayed in place)."""
    if not d["weight_decay"]:
        return grad
    if decoupled:
        p.mul_(1 - d["lr"] * d["weight_decay"])
        return grad
    return grad + d["weight_decay"] * p


def _moments(state: dict, p, grad, beta1: float, beta2: float):
    """Adam's running mean of the gradient and of its square, updated in place."""
    from ..creation import zeros_like
    if "exp_avg" not in state:
        state.update(exp_avg=zeros_like(p), exp_avg_sq=zeros_like(p))
    return (state["exp_avg"].lerp_(grad, 1 - beta1),
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2))


class Adadelta(Optimizer):
    """Steps of the root of a running mean of past squared steps over that of squared
    gradients, times lr."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 **flags):
        _check("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0 <= rho <= 1:
            raise ValueError(f"Invalid rho value for Adadelta: {rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay), **flags)

    def _update(self, p, grad, state, d):
        from ..creation import zeros_like
        grad = _decayed(p, grad, d)
        step = _step(state, p)
        if "square_avg" not in state:
            state.update(square_avg=zeros_like(p), acc_delta=zeros_like(p))
        rho, eps = d["rho"], d["eps"]
        square_avg = state["square_avg"].mul_(rho).addcmul_(grad, grad, value=1 - rho)
        delta = (state["acc_delta"] + eps).sqrt() / (square_avg + eps).sqrt() * grad
        acc_delta = state["acc_delta"].mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.sub_(d["lr"] * delta)
        return [p, step, square_avg, acc_delta]


class Adamax(Optimizer):
    """Adam with the infinity norm: steps of the mean gradient over a decaying maximum
    of its magnitude."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, **flags):
        _check("Adamax", lr=lr, eps=eps, weight_decay=weight_decay, betas=tuple(betas))
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay), **flags)

    def _update(self, p, grad, state, d):
        from ..creation import zeros_like
        grad = _decayed(p, grad, d)
        step = _step(state, p)
        beta1, beta2 = d["betas"]
        if "exp_avg" not in state:
            state.update(exp_avg=zeros_like(p), exp_inf=zeros_like(p))
        exp_avg = state["exp_avg"].lerp_(grad, 1 - beta1)
        exp_inf = state["exp_inf"].copy_((state["exp_inf"] * beta2).maximum(grad.abs() + d["eps"]))
        p.sub_(d["lr"] / bias_correction(beta1, step, p.dtype) * (exp_avg / exp_inf))
        return [p, step, exp_avg, exp_inf]


class NAdam(Optimizer):
    """Adam with Nesterov momentum, its momentum warming up by momentum_decay."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 **flags):
        _check("NAdam", lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
               betas=tuple(betas))
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay),
                         **flags)

    def _update(self, p, grad, state, d):
        from ..creation import ones
        grad = _decayed(p, grad, d, d["decoupled_weight_decay"])
        step = _step(state, p)
        beta1, beta2 = d["betas"]
        if "mu_product" not in state:
            state["mu_product"] = ones((), dtype=p.dtype, device=p.node.device)
        exact = step.double()  # the momentum schedule in float64, as PyTorch's host computes it
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (exact * d["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((exact + 1) * d["momentum_decay"]))
        mu_product = state["mu_product"].mul_(mu.to(p.dtype))
        exp_avg, exp_avg_sq = _moments(state, p, grad, beta1, beta2)
        denominator = (exp_avg_sq / bias_correction(beta2, step, p.dtype)).sqrt() + d["eps"]
        lr, product = d["lr"], mu_product.double()
        p.sub_((lr * (1.0 - mu) / (1.0 - product)).to(p.dtype) * (grad / denominator))
        p.sub_((lr * mu_next / (1.0 - product * mu_next)).to(p.dtype) * (exp_avg / denominator))
        return [p, step, mu_product, exp_avg, exp_avg_sq]


class RAdam(Optimizer):
    """Adam whose adaptive step is rectified by its variance, and plain momentum SGD
    while that variance is intractable (the first steps)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, **flags):
        _check("RAdam", lr=lr, eps=eps, weight_decay=weight_decay, betas=tuple(betas))
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay), **flags)

    def _update(self, p, grad, state, d):
        grad = _decayed(p, grad, d, d["decoupled_weight_decay"])
        step = _step(state, p)
        beta1, beta2 = d["betas"]
        exp_avg, exp_avg_sq = _moments(state, p, grad, beta1, beta2)
        # in float64, as PyTorch computes them on the host: rho is a difference of two
        # numbers near 2 / (1 - beta2), which float32 leaves a few 1e-4 off
        exact = step.double()
        second_correction = 1 - beta2 ** exact
        rho_inf = 2 / (1 - beta2) - 1
        rho = rho_inf - 2 * exact * beta2 ** exact / second_correction
        rectification = ((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)).sqrt()
        adaptive = (second_correction.sqrt() * rectification).to(p.dtype) / (exp_avg_sq.sqrt() + d["eps"])
        scale = where(rho > 5.0, adaptive, 1.0)
        p.sub_(exp_avg / bias_correction(beta1, step, p.dtype) * d["lr"] * scale)
        return [p, step, exp_avg, exp_avg_sq]


class Rprop(Optimizer):
    """Steps of a per-element size times the gradient's sign, the size grown by etas[1]
    while the sign holds and cut by etas[0] when it flips (then no step), within
    step_sizes. lr is the first step size."""

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), **flags):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes)), **flags)

    def _update(self, p, grad, state, d):
        from ..creation import full_like, zeros_like
        step = _step(state, p)
        if "prev" not in state:
            state.update(prev=zeros_like(p), step_size=full_like(p, d["lr"]))
        shrink, grow = d["etas"]
        sign = (grad * state["prev"]).sign()
        factor = where(sign > 0, grow, where(sign < 0, shrink, 1.0))
        step_size = state["step_size"].mul_(factor).clamp_(*d["step_sizes"])
        grad = where(sign < 0, 0.0, grad)
        p.sub_(grad.sign() * step_size)
        prev = state["prev"].copy_(grad)
        return [p, step, step_size, prev]
