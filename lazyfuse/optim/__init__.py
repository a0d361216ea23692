"""lazyfuse.optim: SGD (momentum, weight decay, nesterov), RMSprop, Adagrad, Adam and AdamW
(Adadelta, Adamax, NAdam, RAdam and Rprop in adaptive.py);
learning-rate schedules in lazyfuse.optim.lr_scheduler.

A step records in-place updates of the parameters and of the optimizer state
(kept in device memory) and realises them together in one schedule, so each
parameter's update with its state is one fused kernel, or part of the kernel
computing its gradient when backward() left the gradients to this schedule."""
from __future__ import annotations

from typing import Iterable

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from ..step_capture import watch
from ..runtime.realize import realize


IMPLEMENTATION_OPTIONS = {"foreach", "fused", "capturable", "differentiable"}


class Optimizer:
    """Parameters in `param_groups`, as in PyTorch: each group a dict of its
    parameters ("params") and its hyper-parameters, which default to the
    constructor's and may be changed between steps (a learning-rate schedule)."""

    def __init__(self, params: Iterable, defaults: dict, maximize: bool = False, **implementation):
        """`maximize` ascends the objective (each gradient negated), an option of each group
        as in PyTorch. PyTorch's choices of implementation (foreach, fused, capturable,
        differentiable) are accepted and change nothing: a step is always recorded as
        lazy updates, fused with the gradients' kernels, its counts on the device."""
        unknown = set(implementation) - IMPLEMENTATION_OPTIONS
        if unknown:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                            f"'{sorted(unknown)[0]}'")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = {**defaults, "maximize": maximize}
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        for group in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        params = group["params"]
        group = {**self.defaults, **group, "params": [params] if isinstance(params, Tensor) else list(params)}
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"unknown option(s) {sorted(unknown)} in a parameter group; "
                             f"{type(self).__name__} takes {sorted(self.defaults)}")
        self.param_groups.append(group)
        for p in group["params"]:
            self.state.setdefault(id(p), {})

    @property
    def params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self) -> None:
        for group in self.param_groups:
            watch(group)  # a captured step bakes the hyper-parameters into its kernels
        with no_grad():
            written = self._count_step()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        grad = -p.grad if group["maximize"] else p.grad
                        written += self._update(p, grad, self.state[id(p)], group)
            realize([t.node for t in written])

    def _count_step(self) -> list:
        """Record what a step updates once for all parameters; return the tensors it wrote."""
        return []

    def state_dict(self) -> dict:
        """PyTorch's layout: "state" maps a parameter's position (counted over the groups)
        to its state, "param_groups" holds each group's options with its positions."""
        position = {id(p): i for i, p in enumerate(self.params)}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [position[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        state = {position[id(p)]: self._exported_state(p) for p in self.params if self.state[id(p)]}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take the options and state of `state_dict` (from state_dict(), here or in
        PyTorch), matched to this optimizer's parameters by position; state tensors are
        copied to each parameter's dtype and device."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(ours["params"]) for g, ours in zip(saved, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        by_position = {i: p for ours, g in zip(self.param_groups, saved) for i, p in zip(g["params"], ours["params"])}
        # options the saved groups lack (saved by an older version) keep this optimizer's defaults
        self.param_groups = [{**self.defaults, **{k: v for k, v in g.items() if k != "params"},
                              "params": ours["params"]} for g, ours in zip(saved, self.param_groups)]
        for p in self.params:
            self.state[id(p)] = {}
        for position, values in state_dict["state"].items():
            p = by_position[int(position)]
            self.state[id(p)] = {key: _state_value(value, p) for key, value in values.items()}

    def _exported_state(self, p) -> dict:
        return dict(self.state[id(p)])

    def _update(self, p, grad, state: dict, options: dict) -> list:
        """Record the update of one parameter with its group's options; return the tensors it wrote."""
        raise NotImplementedError


def _state_value(value, p):
    """A saved state value as this optimizer keeps it: a tensor of its own (steps update
    it in place), floating values in p's dtype, on p's device; a number as it is."""
    from ..creation import tensor
    if not isinstance(value, Tensor):
        return value
    values = value.detach()._value()
    return tensor(values, dtype=p.dtype if value.dtype.is_floating_point else None, device=p.node.device)


def bias_correction(beta: float, step, dtype):
    """1 - beta ** step in float64, as PyTorch's host computes it (float32 leaves it
    1e-4 off in the first steps: beta ** step is near 1), in `dtype`."""
    return (1 - beta ** step.double()).to(dtype)


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, **flags):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid SGD hyper-parameters: lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov), **flags)

    def _update(self, p, grad, state, d):
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


class RMSprop(Optimizer):
    """PyTorch's RMSprop: each gradient divided by the root of a running mean of its
    squares (centered: of its variance), then optionally through a momentum buffer."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, **flags):
        if lr < 0 or eps < 0 or momentum < 0 or weight_decay < 0 or not 0 <= alpha:
            raise ValueError(f"invalid RMSprop hyper-parameters: lr={lr}, alpha={alpha}, eps={eps}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered), **flags)

    def _update(self, p, grad, state, d):
        from ..creation import zeros_like
        if d["weight_decay"]:
            grad = grad + d["weight_decay"] * p
        if not state:
            state["square_avg"] = zeros_like(p)
            if d["momentum"]:
                state["momentum_buffer"] = zeros_like(p)
            if d["centered"]:
                state["grad_avg"] = zeros_like(p)
        square_avg = state["square_avg"].mul_(d["alpha"]).add_(grad * grad, alpha=1 - d["alpha"])
        written = [p, square_avg]
        if d["centered"]:
            grad_avg = state["grad_avg"].mul_(d["alpha"]).add_(grad, alpha=1 - d["alpha"])
            average = (square_avg - grad_avg * grad_avg).sqrt() + d["eps"]
            written.append(grad_avg)
        else:
            average = square_avg.sqrt() + d["eps"]
        step = grad / average
        if d["momentum"]:
            step = state["momentum_buffer"].mul_(d["momentum"]).add_(step)
            written.append(step)
        p.sub_(d["lr"] * step)
        return written


class Adagrad(Optimizer):
    """PyTorch's Adagrad: each gradient divided by the root of the sum of its squares
    so far; with lr_decay the rate falls as lr / (1 + (step - 1) lr_decay), the step
    counted on the device (so the same kernels serve every step)."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, **flags):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError(f"invalid Adagrad hyper-parameters: lr={lr}, lr_decay={lr_decay}, "
                             f"weight_decay={weight_decay}, initial_accumulator_value={initial_accumulator_value}, "
                             f"eps={eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps), **flags)
        # PyTorch fills the sums from this argument, whatever a parameter group says
        self.initial_accumulator_value = initial_accumulator_value

    def _update(self, p, grad, state, d):
        from ..creation import full_like, zeros
        if d["weight_decay"]:
            grad = grad + d["weight_decay"] * p
        if not state:
            state.update(step=zeros((), dtype=p.dtype, device=p.node.device),
                         sum=full_like(p, self.initial_accumulator_value))
        step, total = state["step"].add_(1), state["sum"].add_(grad * grad)
        rate = d["lr"]
        if d["lr_decay"]:
            rate = rate / (1 + (step - 1) * d["lr_decay"])
        p.sub_(rate * grad / (total.sqrt() + d["eps"]))
        return [p, step, total]


class Adam(Optimizer):
    decoupled = False  # AdamW decays the weights directly instead of through the gradient

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, **flags):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid Adam hyper-parameters: lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
                         **flags)
        self._steps: dict = {}  # device -> steps taken on it
        self._corrections: dict = {}  # (device, id of a group) -> [1 / first moment's bias correction, 1 / second's]

    def _count_step(self) -> list:
        """Count the step on each device that has parameters, and compute from that count
        each group's bias corrections with the group's betas of this step (a schedule
        may change them: OneCycleLR cycles beta1). All are scalars kept on the device,
        as PyTorch's capturable Adam keeps its step: the same kernels serve every step,
        and a captured step (lazyfuse.capture) counts on replay."""
        from ..creation import zeros
        stepped = {(p.node.device, id(group)): group["betas"] for group in self.param_groups
                   for p in group["params"] if p.grad is not None}
        for device in dict.fromkeys(device for device, _ in stepped):
            if device not in self._steps:
                self._steps[device] = zeros((), device=device)
            self._steps[device].add_(1)
        for key, (beta1, beta2) in stepped.items():
            if key not in self._corrections:
                self._corrections[key] = [zeros((), device=key[0]) for _ in range(2)]
            count, (first, second) = self._steps[key[0]], self._corrections[key]
            first.copy_(1 / bias_correction(beta1, count, first.dtype))
            second.copy_(1 / bias_correction(beta2, count, second.dtype))
        return list(self._steps.values()) + [t for pair in self._corrections.values() for t in pair]

    def _exported_state(self, p) -> dict:
        """With PyTorch's per-parameter "step" (lazyfuse counts a device's steps once)."""
        state = super()._exported_state(p)
        if state and p.node.device in self._steps:
            state["step"] = self._steps[p.node.device].clone()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        from ..creation import zeros
        super().load_state_dict(state_dict)
        steps: dict = {}  # device -> the steps its parameters' saved states took
        for p in self.params:
            step = self.state[id(p)].pop("step", None)
            if step is not None:
                steps.setdefault(p.node.device, set()).add(float(step.item()))
        for device, taken in steps.items():
            if len(taken) > 1:
                raise ValueError(f"lazyfuse's Adam counts the steps of the parameters on a device together: the "
                                 f"loaded state has parameters on {device} at steps {sorted(taken)}")
            if device not in self._steps:
                self._steps[device] = zeros((), device=device)
            with no_grad():  # in place: a captured step reads this count
                self._steps[device].fill_(taken.pop())

    def _update(self, p, grad, state, d):
        from ..creation import zeros_like
        beta1, beta2 = d["betas"]
        if d["weight_decay"] and not self.decoupled:
            grad = grad + d["weight_decay"] * p
        if not state:
            state.update(exp_avg=zeros_like(p), exp_avg_sq=zeros_like(p))
        if d["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = zeros_like(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        first, second = self._corrections[(p.node.device, id(d))]
        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        v.mul_(beta2).add_(grad * grad, alpha=1 - beta2)
        written = [p, m, v]
        if d["amsgrad"]:  # the largest second moment so far scales the step
            largest = state["max_exp_avg_sq"]
            largest.copy_(largest.maximum(v))
            v = largest
            written.append(largest)
        denominator = (v * second).sqrt() + d["eps"]
        rate = d["lr"]
        if d["weight_decay"] and self.decoupled:
            p.mul_(1 - rate * d["weight_decay"])
        p.sub_(rate * first * m / denominator)
        return written


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, **flags):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, **flags)


from . import lr_scheduler  # noqa: E402 - PyTorch's torch.optim.lr_scheduler
from .adaptive import Adadelta, Adamax, NAdam, RAdam, Rprop  # noqa: E402 - they subclass Optimizer

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam", "Rprop",
           "lr_scheduler"]
