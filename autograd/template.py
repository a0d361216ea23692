"""Backward templates: the first backward over an autograd graph of some
structure runs the derivative rules and logs every node they make; a later
backward over a graph of the same structure (the next training step) replays
that log, a few `Node.make` calls, instead of running the rules' Tensor-level
code, which was two fifths of a small training step's Python time.

A log is kept only when every node it makes reads nodes the structure key
describes (the gradients flowing in, the saved inputs and the sources of
saved views) or nodes made earlier in the log, so replaying it on equal keys
makes the graph the rules would make.
"""
from __future__ import annotations

from collections import OrderedDict

from lazyfuse.runtime.graph import Node, Op

from .function import AccumulateGrad

# structure key -> _Template, or None for a structure whose rules' log cannot be replayed
_templates: "OrderedDict[tuple, _Template | None]" = OrderedDict()
MAX_TEMPLATES = 64


def leaf_gradients(order: list, roots: list, grad_outputs: list, retain_graph: bool, propagate) -> dict:
    """The gradient reaching each AccumulateGrad in `order` (by id), as `propagate()`
    computes it: by replaying a template of the graph's structure when there is one."""
    described = _describe(order, roots, grad_outputs)
    if described is None:
        return propagate()
    key, inputs = described
    if key in _templates:
        _templates.move_to_end(key)
        template = _templates[key]
        return propagate() if template is None else template.replay(order, inputs, grad_outputs[0], retain_graph)
    Node.made_log = []
    try:
        arrived = propagate()
        log = Node.made_log
    finally:
        Node.made_log = None
    _templates[key] = _Template.from_log(log, order, inputs, arrived)
    if len(_templates) > MAX_TEMPLATES:
        _templates.popitem(last=False)
    return arrived


def _describe(order, roots, grad_outputs):
    """(structure key, input nodes), or None for a graph no template may stand for
    (freed saved values, retain_grad outputs, gradient hooks, a user-defined Function's backward)."""
    position = {id(fn): i for i, fn in enumerate(order)}
    inputs = [g.node for g in grad_outputs]
    parts: list = [tuple([position[id(r)] for r in roots]), tuple([g.requires_grad for g in grad_outputs])]
    for fn in order:
        if fn._hooks:  # Python to run on the gradient
            return None
        if isinstance(fn, AccumulateGrad):
            parts.append(None)
            continue
        if fn.saved is None or fn.retained is not None or fn.op == "custom_function":
            return None
        parts.append((fn.op, fn.arg, tuple([None if n is None else position[id(n)] for n in fn.next]),
                      tuple([t.requires_grad for t in fn.saved])))
        inputs += [t.node for t in fn.saved]
    # movement ops on a view compose into the view, reading the view's source
    inputs += [n.srcs[0] for n in inputs if n.op is Op.VIEW]
    first: dict[int, int] = {}
    parts += [(first.setdefault(id(n), i), n.op, n.shape, n.dtype, n.device,
               (type(n.arg).__name__, repr(n.arg)) if n.op is Op.CONST else n.arg if n.op is Op.VIEW else None)
              for i, n in enumerate(inputs)]
    return tuple(parts), inputs


class _Template:
    """Node.make calls with sources as positions: inputs first, then each call's result."""

    def __init__(self, calls, processed, results):
        self.calls = calls  # (source positions, op, arg, shape, dtype, device)
        self.processed = processed  # positions in the order of GradFns whose rules ran
        self.results = results  # (position of an AccumulateGrad in the order, position of its gradient)

    @staticmethod
    def from_log(log, order, inputs, arrived) -> "_Template | None":
        where = {id(n): i for i, n in reversed(list(enumerate(inputs)))}
        calls = []
        for node, op, srcs, arg, shape, dtype, device in log:
            if any(id(s) not in where for s in srcs):
                return None
            calls.append((tuple(where[id(s)] for s in srcs), op, arg, shape, dtype, device))
            where[id(node)] = len(inputs) + len(calls) - 1
        results = []
        for i, fn in enumerate(order):
            g = arrived.get(id(fn))
            if isinstance(fn, AccumulateGrad) and g is not None:
                if id(g.node) not in where:
                    return None
                results.append((i, where[id(g.node)]))
        processed = [i for i, fn in enumerate(order) if not isinstance(fn, AccumulateGrad) and id(fn) in arrived]
        return _Template(calls, processed, results)

    def replay(self, order, inputs, like, retain_graph: bool) -> dict:
        for i in self.processed:
            order[i].saved_tensors()  # raises if a saved value was modified in place since
        nodes = list(inputs)
        make = Node.make
        for srcs, op, arg, shape, dtype, device in self.calls:
            nodes.append(make(op, tuple([nodes[s] for s in srcs]), arg, shape, dtype, device))
        if not retain_graph:
            for i in self.processed:
                order[i].free()
        wrap = type(like)._wrap
        return {id(order[i]): wrap(nodes[at]) for i, at in self.results}
