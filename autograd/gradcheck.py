"""gradcheck and gradgradcheck: analytical gradients against central finite
differences in float64, with PyTorch's defaults."""
from __future__ import annotations

import warnings

import numpy as np


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(fn, inputs):
    return [o for o in _as_tuple(fn(*inputs))]


def _numerical_jacobians(fn, inputs, eps: float):
    """J[i][o] of shape (numel(out o), numel(in i)), from central differences."""
    from lazyfuse.creation import tensor
    jacobians = []
    # grad mode stays on: fn may itself differentiate (gradgradcheck)
    for i, x in enumerate(inputs):
        if not (hasattr(x, "requires_grad") and x.requires_grad):
            jacobians.append(None)
            continue
        base = x.detach()._value().astype(np.float64).ravel()
        columns = []
        for j in range(base.size):
            values = []
            for sign in (1, -1):
                shifted = base.copy()
                shifted[j] += sign * eps
                args = list(inputs)
                args[i] = tensor(shifted.reshape(x.shape), dtype=x.dtype, device=x.device, requires_grad=True)
                values.append([o._value().astype(np.float64).ravel() for o in _outputs(fn, args)])
            columns.append([(p - m) / (2 * eps) for p, m in zip(*values)])
        n_out = len(columns[0]) if columns else len(_outputs(fn, inputs))
        jacobians.append([np.stack([c[o] for c in columns], axis=1) if columns else None for o in range(n_out)])
    return jacobians


def _analytical_jacobians(fn, inputs):
    from lazyfuse.creation import zeros_like
    from . import grad
    outputs = _outputs(fn, inputs)
    diff_inputs = [x for x in inputs if hasattr(x, "requires_grad") and x.requires_grad]
    rows = {id(x): [[] for _ in outputs] for x in diff_inputs}
    for o, out in enumerate(outputs):
        for k in range(out.numel()):
            onehot = np.zeros(out.numel())
            onehot[k] = 1.0
            grad_outputs = [zeros_like(other) for other in outputs]
            from lazyfuse.creation import tensor
            grad_outputs[o] = tensor(onehot.reshape(out.shape), dtype=out.dtype, device=out.device)
            if not out.requires_grad:
                grads = [None] * len(diff_inputs)
            else:
                grads = grad(outputs, diff_inputs, grad_outputs, retain_graph=True, allow_unused=True)
            for x, g in zip(diff_inputs, grads):
                rows[id(x)][o].append(np.zeros(x.numel()) if g is None else g.detach()._value().astype(np.float64).ravel())
    return [[np.stack(r, axis=0) if r else np.zeros((0, x.numel())) for r in rows[id(x)]]
            if id(x) in rows else None for x in inputs]


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              **_ignored) -> bool:
    """Check fn's analytical gradients against finite differences.

    `inputs` is a tensor or a tuple of them; those with requires_grad are checked.
    Use float64 inputs: float32 finite differences are too coarse (a warning says so).
    Returns True, or raises GradcheckError naming the worst mismatching element.
    """
    inputs = _as_tuple(inputs)
    for x in inputs:
        if hasattr(x, "requires_grad") and x.requires_grad and x.dtype.name != "float64":
            warnings.warn(f"gradcheck: input of dtype {x.dtype.name} is not float64; finite differences in low "
                          f"precision will likely fail. Use .double() inputs.", UserWarning, stacklevel=2)
    numerical = _numerical_jacobians(fn, inputs, eps)
    analytical = _analytical_jacobians(fn, inputs)
    for i, (num, ana) in enumerate(zip(numerical, analytical)):
        if num is None:
            continue
        for o, (n, a) in enumerate(zip(num, ana)):
            if n is None:
                continue
            if n.shape != a.shape:
                a = a.reshape(n.shape)
            bad = np.abs(a - n) > atol + rtol * np.abs(n)
            if bad.any():
                err = np.abs(a - n) - (atol + rtol * np.abs(n))
                r, c = np.unravel_index(np.argmax(err), err.shape)
                message = (f"Jacobian mismatch for output {o} with respect to input {i}: worst at output element {r}, "
                           f"input element {c}: analytical {a[r, c]!r} vs numerical {n[r, c]!r} "
                           f"({int(bad.sum())} of {bad.size} elements outside atol={atol}, rtol={rtol})")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, **_ignored) -> bool:
    """gradcheck of the first derivative (with create_graph=True): checks second derivatives."""
    from lazyfuse.creation import randn
    from . import grad
    inputs = _as_tuple(inputs)
    outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        grad_outputs = [randn(o.shape, dtype=o.dtype, device=o.device, requires_grad=True) for o in outputs]
    grad_outputs = _as_tuple(grad_outputs)
    diff = [k for k, x in enumerate(inputs) if hasattr(x, "requires_grad") and x.requires_grad]

    def first_derivative(*args):
        xs, gs = args[:len(inputs)], args[len(inputs):]
        outs = _outputs(fn, xs)
        return grad(outs, [xs[k] for k in diff], list(gs), create_graph=True, allow_unused=True,
                    materialize_grads=True)

    return gradcheck(first_derivative, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
