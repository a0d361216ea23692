"""Module hooks, as PyTorch's: forward pre-hooks (which may replace the inputs),
forward hooks (which may replace the output) and full backward hooks, called
with the gradients of the module's inputs and of its outputs.

A module with a backward hook passes its tensor inputs and outputs through
`clone` (no copy: the same graph node) and puts tensor hooks on the clones, so
the gradients the hook sees are the ones through this call of the module. A
hook's replacement grad_input is taken for a module with one input that
requires grad; with several, the gradients have gone on one by one before the
last arrives, and lazyfuse says so instead of dropping the replacement.
"""
from __future__ import annotations

from ..autograd.grad_mode import grad_enabled
from ..tensor import Tensor


def new_hooks() -> dict:
    return {"forward_pre": [], "forward": [], "backward": []}


def call(module, args: tuple, kwargs: dict, hooks: dict):
    """module.forward(*args, **kwargs) with its hooks."""
    for hook, with_kwargs in list(hooks["forward_pre"]):
        result = hook(module, args, kwargs) if with_kwargs else hook(module, args)
        if result is not None:
            if with_kwargs:
                args, kwargs = result
            else:
                args = result if isinstance(result, tuple) else (result,)
    watch = _BackwardCall(module, hooks["backward"]) if hooks["backward"] and grad_enabled() else None
    if watch is not None:
        args = watch.inputs(args)
    output = module.forward(*args, **kwargs)
    for hook, with_kwargs in list(hooks["forward"]):
        result = hook(module, args, kwargs, output) if with_kwargs else hook(module, args, output)
        if result is not None:
            output = result
    return output if watch is None else watch.outputs(output)


class _BackwardCall:
    """One call of a module with backward hooks: the gradients of its inputs and
    outputs as backward reaches them."""

    def __init__(self, module, hooks: list):
        self.module, self.hooks = module, hooks
        self.grad_inputs: list = []
        self.grad_outputs: list = []
        self.waiting_inputs = self.waiting_outputs = 0

    def inputs(self, args: tuple) -> tuple:
        self.grad_inputs = [None] * len(args)
        watched = list(args)
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and a.requires_grad:
                watched[i] = a.clone()
                watched[i].register_hook(lambda g, i=i: self._input_arrived(i, g))
                self.waiting_inputs += 1
        return tuple(watched)

    def outputs(self, output):
        many = isinstance(output, (tuple, list))
        outputs = list(output) if many else [output]
        self.grad_outputs = [None] * len(outputs)
        for i, o in enumerate(outputs):
            if isinstance(o, Tensor) and o.requires_grad:
                outputs[i] = o.clone()
                outputs[i].register_hook(lambda g, i=i: self._output_arrived(i, g))
                self.waiting_outputs += 1
        return type(output)(outputs) if many else outputs[0]

    def _output_arrived(self, i: int, g):
        self.grad_outputs[i] = g
        self.waiting_outputs -= 1
        if not self.waiting_inputs and not self.waiting_outputs:  # no input needs a gradient
            self._call_hooks()

    def _input_arrived(self, i: int, g):
        self.grad_inputs[i] = g
        self.waiting_inputs -= 1
        if self.waiting_inputs:
            return None
        replaced = self._call_hooks()
        if replaced is None:
            return None
        if sum(x is not None for x in self.grad_inputs) != 1:
            raise RuntimeError(f"a backward hook of {type(self.module).__name__} returned new gradients for its "
                               f"inputs; lazyfuse takes them only from modules with one input that requires grad")
        return replaced[i]

    def _call_hooks(self):
        grad_input, replaced = tuple(self.grad_inputs), None
        for hook in list(self.hooks):
            result = hook(self.module, grad_input, tuple(self.grad_outputs))
            if result is not None:
                grad_input = replaced = tuple(result)
        return replaced
