"""User-defined autograd functions, as PyTorch writes them: a subclass of
`lazyfuse.autograd.Function` with static `forward(ctx, *args)` and
`backward(ctx, *grad_outputs)`, called through `apply`. Both are ordinary
tensor code, so the backward is more lazy graph and fuses like the rules'.

A backward is Python the structure of the graph cannot describe (it may read
anything `ctx` holds), so a backward through one is never replayed from a
template (template.py): its `backward` runs every time.
"""
from __future__ import annotations

from .function import _version_owner, record, shown_as
from .grad_mode import grad_enabled, no_grad

# the op of the GradFn a Function's output gets; the rules call its `arg.gradients`
OP = "custom_function"


class FunctionCtx:
    """`ctx`: what forward leaves for backward. Tensors go through save_for_backward
    (so an in-place write to one before backward is caught, as in PyTorch); anything
    else may be set as an attribute."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple = ()
        self._versions: list = []

    def save_for_backward(self, *tensors) -> None:
        self._saved = tensors
        self._versions = [(_version_owner(t), _version_owner(t)._version) if t is not None else None
                          for t in tensors]

    @property
    def saved_tensors(self) -> tuple:
        for t, version in zip(self._saved, self._versions):
            if version is not None and version[0]._version != version[1]:
                raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: [{t.dtype.name} {list(t.shape)}] is at version "
                                   f"{version[0]._version}; expected version {version[1]} instead.")
        return self._saved


class Function:
    """Subclass with `forward(ctx, *args, **kwargs)` returning one tensor and
    `backward(ctx, grad_output)` returning one gradient (or None) per argument of
    forward; call as `MyFunction.apply(*args)`."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        from lazyfuse.tensor import Tensor
        inputs = [(i, a) for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            result = cls.forward(ctx, *args, **kwargs)
        if not isinstance(result, Tensor):
            raise TypeError(f"{cls.__name__}.forward returned {type(result).__name__}: lazyfuse.autograd.Function "
                            f"supports forward functions returning one tensor")
        out = Tensor._wrap(result.node)  # a new tensor, even where forward returned an input
        if not (grad_enabled() and any(ctx.needs_input_grad)):
            return out
        call = _Call(cls, ctx, [i for i, _ in inputs], len(args), [a.shape for _, a in inputs])
        return shown_as(record(out, OP, call, [a for _, a in inputs]), f"{cls.__name__}Backward")


class _Call:
    """One `apply`: the rules ask it for its inputs' gradients."""

    def __init__(self, cls, ctx: FunctionCtx, positions: list[int], arguments: int, shapes: list[tuple]):
        self.cls, self.ctx, self.positions, self.arguments, self.shapes = cls, ctx, positions, arguments, shapes

    def gradients(self, g, needed: list[bool]) -> list:
        """backward's gradient for each tensor input that needs one (None for the rest)."""
        grads = self.cls.backward(self.ctx, g)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != self.arguments:
            raise RuntimeError(f"function {self.cls.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {self.arguments}, got {len(grads)})")
        out = []
        for position, shape, need in zip(self.positions, self.shapes, needed):
            grad = grads[position] if need else None
            if grad is not None and tuple(grad.shape) != shape:
                raise RuntimeError(f"Function {self.cls.__name__}Backward returned an invalid gradient at index "
                                   f"{position} - got {list(grad.shape)} but expected shape compatible with "
                                   f"{list(shape)}")
            out.append(grad)
        return out
