"""The backward engine: walks recorded GradFns in reverse topological order
(no recursion, so 100k-op chains work), sums fan-in lazily, accumulates into
leaves' .grad, then computes the loss and every gradient in one schedule, at
once or with the next schedule (see START_AT_ONCE_FROM)."""
from __future__ import annotations

import math

from lazyfuse.runtime.graph import postorder
from lazyfuse.runtime.realize import defer, realize

from . import template
from .function import AccumulateGrad, GradFn
from .grad_mode import no_grad, set_grad_enabled
from .rules import gradients


def _order(roots) -> list:
    """GradFns and AccumulateGrads reachable from roots, each before every fn it feeds."""
    def following(fn):
        return [n for n in fn.next if n is not None] if isinstance(fn, GradFn) else []
    return postorder([r for r in roots if r is not None], following)[::-1]


# a backward whose rules read a value this large starts its kernels at once, so they
# run while an optimizer's update is recorded; a smaller one leaves them to the next
# schedule, where that update fuses into them and one realize serves the whole step.
# Measured on a linear-regression step, the two ways interleaved in one process:
# 65536x64 1.76 ms at once vs 2.18 deferred; 256x8 577 us deferred vs 683 at once
START_AT_ONCE_FROM = 1 << 20  # elements


def run_backward(outputs, grad_outputs, retain_graph: bool, create_graph: bool, capture=None):
    """Propagate grad_outputs from outputs. With `capture` (a list of edges),
    return the gradient reaching each edge instead of accumulating into leaves."""
    realize([])  # what the last step left deferred, so unread steps do not pile up into one graph
    roots = [t.grad_fn if t.grad_fn is not None else AccumulateGrad.of(t) for t in outputs]
    order = _order(roots)
    largest = max([math.prod(t.node.shape) for fn in order if isinstance(fn, GradFn) and fn.saved for t in fn.saved],
                  default=0)

    def propagate():
        return _propagate(order, roots, grad_outputs, retain_graph)
    with set_grad_enabled(create_graph):
        if capture is None and not create_graph:  # the common case, and the one a template can stand for
            arrived = template.leaf_gradients(order, roots, grad_outputs, retain_graph, propagate)
        else:
            arrived = propagate()
        if capture is not None:
            return [arrived.get(id(c)) for c in capture]
        touched = []
        for fn in order:
            g = arrived.get(id(fn))
            if g is None:
                continue
            if isinstance(fn, AccumulateGrad):
                touched.append(accumulate(fn.leaf, g, create_graph))
            elif fn.retained is not None and fn.retained() is not None:
                touched.append(accumulate(fn.retained(), g, create_graph))
    # the loss first: it is usually read next, and its kernels then come before the
    # gradients' (its read does not wait for them)
    if largest >= START_AT_ONCE_FROM:
        realize([t.node for t in outputs + touched])
    else:
        for t in outputs + touched:
            defer(t)
    return None


def _propagate(order, roots, grad_outputs, retain_graph: bool) -> dict:
    """Run the derivative rules from the roots down: the gradient (summed over
    fan-in) arriving at each fn of `order` that gets one, by the fn's id."""
    pending: dict[int, object] = {}
    for root, g in zip(roots, grad_outputs):
        pending[id(root)] = pending[id(root)] + g if id(root) in pending else g
    arrived = {}
    for fn in order:
        g = pending.pop(id(fn), None)
        if g is None:
            continue
        for hook in list(fn._hooks or ()):
            replaced = hook(g)
            g = g if replaced is None else replaced
        arrived[id(fn)] = g
        if isinstance(fn, AccumulateGrad):
            continue
        grads = gradients(fn, g, fn.saved_tensors(), fn.needed())
        for nxt, gi in zip(fn.next, grads):
            if nxt is None or gi is None:
                continue
            pending[id(nxt)] = pending[id(nxt)] + gi if id(nxt) in pending else gi
        if not retain_graph:
            fn.free()
    return arrived


def accumulate(leaf, g, create_graph: bool):
    """Add g to leaf.grad (in place, so the add fuses into the kernel computing g)."""
    if g.shape != leaf.shape:
        g = g.reshape(leaf.shape)
    if not create_graph:
        g = g.detach()
    if leaf.grad is None:
        leaf.grad = g if create_graph else type(g)._wrap(g.node)
    elif create_graph:
        leaf.grad = leaf.grad + g
    else:
        with no_grad():  # grad <- grad + g: the add fuses into the kernel computing g
            leaf.grad.add_(g)
    return leaf.grad
