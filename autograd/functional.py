"""lazyfuse.autograd.functional: jacobian, hessian, vjp, vhp and hvp of a
function, as PyTorch computes them, from reverse-mode gradients (one backward
per output element for a Jacobian). The backward's seed is uploaded data, not a
lazy one-hot, so every row's backward has the same graph and reuses one
schedule's kernels."""
from __future__ import annotations

import numpy as np

from .grad_mode import enable_grad


def _as_tuple(x) -> tuple[tuple, bool]:
    """(x as a tuple, whether it was a tuple or list)."""
    return (tuple(x), True) if isinstance(x, (tuple, list)) else ((x,), False)


def _leaves(inputs: tuple) -> tuple:
    """Fresh leaves requiring grad with the inputs' values, so the function's graph starts at them."""
    return tuple(x.detach().requires_grad_(True) for x in inputs)


def _gradients(outputs, inputs, seeds, create_graph: bool) -> tuple:
    """The gradients of outputs (seeded by seeds) with respect to each input, zeros where none reaches it."""
    from lazyfuse.creation import zeros_like

    from . import grad
    wanted = [o for o in outputs if o.requires_grad]
    found = grad(wanted, list(inputs), [s for o, s in zip(outputs, seeds) if o.requires_grad], retain_graph=True,
                 create_graph=create_graph, allow_unused=True) if wanted else [None] * len(inputs)
    return tuple(zeros_like(x) if g is None else g for g, x in zip(found, inputs))


def _finish(t, create_graph: bool):
    return t if create_graph else t.detach()


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """d func(inputs) / d inputs: for each output and input, a tensor of the output's
    shape followed by the input's; nested as PyTorch nests them (a tensor for one
    input and one output, else tuples)."""
    from lazyfuse.creation import tensor
    from lazyfuse.functional import stack
    if strategy != "reverse-mode":
        raise NotImplementedError("jacobian: only strategy='reverse-mode' is supported")
    inputs, many_inputs = _as_tuple(inputs)
    with enable_grad():
        xs = _leaves(inputs)
        outputs, many_outputs = _as_tuple(func(*xs))
        rows = []
        for out in outputs:
            per_input: list[list] = [[] for _ in xs]
            for i in range(out.numel()):
                seed = np.zeros(out.numel(), dtype=out.dtype.np_dtype)
                seed[i] = 1
                for k, g in enumerate(_gradients([out], xs, [tensor(seed, device=out.device).reshape(out.shape)],
                                                 create_graph)):
                    per_input[k].append(g)
            rows.append(tuple(_finish(stack(gs).reshape(tuple(out.shape) + tuple(x.shape)) if gs else
                                      x.new_zeros(tuple(out.shape) + tuple(x.shape)), create_graph)
                              for gs, x in zip(per_input, xs)))
    rows = [r if many_inputs else r[0] for r in rows]
    return tuple(rows) if many_outputs else rows[0]


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The second derivatives of a function returning one number: the Jacobian of its gradient."""
    inputs, many_inputs = _as_tuple(inputs)

    def gradient(*xs):
        out = func(*xs)
        if out.numel() != 1:
            raise RuntimeError(f"The function given to hessian should return a single element Tensor, "
                               f"but it returned a Tensor with {out.numel()} elements")
        grads = _gradients([out.reshape(())], xs, [None], create_graph=True)
        return grads if many_inputs else grads[0]

    return jacobian(gradient, inputs if many_inputs else inputs[0], create_graph, strategy=outer_jacobian_strategy)


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T times the Jacobian): the gradients of the outputs weighted by v."""
    inputs, many_inputs = _as_tuple(inputs)
    with enable_grad():
        xs = _leaves(inputs)
        outputs, many_outputs = _as_tuple(func(*xs))
        seeds = _as_tuple(v)[0] if v is not None else (None,) * len(outputs)
        found = _gradients(outputs, xs, seeds, create_graph)
    results = tuple(_finish(g, create_graph) for g in found)
    outputs = tuple(_finish(o, create_graph) for o in outputs)
    return (outputs if many_outputs else outputs[0]), (results if many_inputs else results[0])


def vhp(func, inputs, v, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T times the Hessian) for a function returning one number."""
    inputs, many_inputs = _as_tuple(inputs)
    with enable_grad():
        xs = _leaves(inputs)
        out = func(*xs)
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hvp should contain a single element")
        first = _gradients([out.reshape(())], xs, [None], create_graph=True)
        weighted = sum((g * w).sum() for g, w in zip(first, _as_tuple(v)[0]))
        second = _gradients([weighted], xs, [None], create_graph)
    results = tuple(_finish(g, create_graph) for g in second)
    return _finish(out, create_graph), (results if many_inputs else results[0])


def hvp(func, inputs, v, create_graph: bool = False, strict: bool = False):
    """(func(inputs), the Hessian times v): vhp, as the Hessian of a twice
    differentiable function is symmetric."""
    return vhp(func, inputs, v, create_graph, strict)
