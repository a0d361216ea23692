"""Autograd for lazyfuse: backward, grad, gradcheck. The backward pass is more
nodes of the lazy graph, so it is fused into kernels like the forward pass."""
from __future__ import annotations

from lazyfuse.runtime.realize import realize

from . import functional
from .custom_function import Function, FunctionCtx
from .engine import accumulate, run_backward
from .function import AccumulateGrad
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _default_grads(outputs, grad_outputs):
    from lazyfuse.creation import ones_like
    grads = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad_outputs has {len(grads)} tensors but there are {len(outputs)} outputs")
    result = []
    for out, g in zip(outputs, grads):
        if not out.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(out)
        elif tuple(g.shape) != out.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} and output[0] "
                               f"has a shape of {out.shape}.")
        result.append(g)
    return result


def backward(tensor, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
    outputs = [tensor]
    grads = _default_grads(outputs, [gradient] if gradient is not None else None)
    retain = create_graph if retain_graph is None else retain_graph
    if inputs is not None:
        inputs = _as_list(inputs)
        results = run_backward(outputs, grads, retain, create_graph, capture=[_edge(t) for t in inputs])
        realize([accumulate(t, g, create_graph).node for t, g in zip(inputs, results) if g is not None])
        return
    run_backward(outputs, grads, retain, create_graph)


def _edge(t):
    if not t.requires_grad:
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    return t.grad_fn if t.grad_fn is not None else AccumulateGrad.of(t)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False):
    """Gradients of outputs with respect to inputs, returned (not accumulated into .grad)."""
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grads = _default_grads(outputs, grad_outputs)
    retain = create_graph if retain_graph is None else retain_graph
    results = run_backward(outputs, grads, retain, create_graph, capture=[_edge(t) for t in inputs])
    out = []
    for t, g in zip(inputs, results):
        if g is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                from lazyfuse.creation import zeros_like
                g = zeros_like(t)
        elif g.shape != t.shape:
            g = g.reshape(t.shape)
        out.append(g)
    realize([g.node for g in out if g is not None])
    return tuple(out)


__all__ = ["functional", "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode", "Function", "FunctionCtx"]
