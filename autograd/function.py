"""Recording: each op on tensors that require grad gets a GradFn holding its
inputs' values at record time and edges to their own GradFns."""
from __future__ import annotations

import weakref

from lazyfuse.runtime.graph import Op

from .grad_mode import grad_enabled
from .rules import VALUE_FREE, inputs_read


class AccumulateGrad:
    """The edge into a leaf: its gradient is added to `leaf.grad`."""

    __slots__ = ("leaf", "__weakref__")

    def __init__(self, leaf):
        self.leaf = leaf

    @staticmethod
    def of(leaf) -> "AccumulateGrad":
        """The one accumulator of a leaf while a graph holds it, so fan-in to the leaf
        is summed once. The leaf refers to it weakly, as in PyTorch: a cycle would keep
        the leaf (and values left for the next schedule) alive until the cyclic GC ran."""
        accumulator = leaf._grad_accumulator() if leaf._grad_accumulator is not None else None
        if accumulator is None:
            accumulator = AccumulateGrad(leaf)
            leaf._grad_accumulator = weakref.ref(accumulator)
        return accumulator

    def name(self) -> str:
        return "AccumulateGrad"

    @property
    def _hooks(self):
        return self.leaf._hooks

    @property
    def variable(self):
        """The leaf this edge accumulates into (PyTorch's AccumulateGrad.variable)."""
        return self.leaf

    next_functions = ()

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


# PyTorch's names for the backward of ops lazyfuse names otherwise
_PYTORCH_NAMES = {"copy_slices": "CopySlices", "shrink": "SliceBackward0", "stride": "SliceBackward0",
                  "reshape": "ViewBackward0", "to": "ToCopyBackward0", Op.CAST: "ToCopyBackward0",
                  "pad": "ConstantPadNdBackward0"}


class GradFn:
    """The backward of one recorded op: `op` and `arg` select the derivative rule."""

    __slots__ = ("op", "arg", "next", "saved", "owners", "versions", "retained", "shown", "_hooks", "__weakref__")

    def __init__(self, op, arg, srcs):
        self.op, self.arg = op, arg
        self.shown = None  # the name PyTorch shows for the op this one ends (see shown_as)
        self.retained = None  # a weak reference to the output, when it called retain_grad()
        self._hooks = None  # the output's gradient hooks (Tensor.register_hook)
        self.next = [edge(s) for s in srcs]
        # a value-free rule reads only its inputs' shapes, which no in-place write changes: no snapshot
        self.saved = list(srcs) if op in VALUE_FREE else [_saved(s) for s in srcs]
        self.owners = tuple(map(_version_owner, srcs))  # whose in-place writes change a saved input
        self.versions = tuple([owner._version for owner in self.owners])

    def name(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.op in _PYTORCH_NAMES:
            return _PYTORCH_NAMES[self.op]
        label = self.op if isinstance(self.op, str) else self.op.name
        return "".join(part.capitalize() for part in label.split("_")) + "Backward0"

    @property
    def next_functions(self) -> tuple:
        """(the GradFn or AccumulateGrad each input's gradient goes to, or None, 0) per
        input, as PyTorch shows a backward graph."""
        edges = self.next[1:] if self.op is Op.WHERE else self.next  # (where's condition is no input to PyTorch's)
        return tuple((nxt, 0) for nxt in edges)

    def needed(self) -> list[bool]:
        """Which inputs get a gradient."""
        return [nxt is not None for nxt in self.next]

    def saved_tensors(self):
        if self.saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed). Saved intermediate values of the graph are freed "
                               "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
                               "backward through the graph a second time or if you need to access saved tensors after "
                               "calling backward.")
        if self.op in VALUE_FREE:
            return self.saved
        for i, (owner, version, t) in enumerate(zip(self.owners, self.versions, self.saved)):
            if version is not None and owner._version != version and inputs_read(self.op, self.needed())[i]:
                raise RuntimeError(f"one of the variables needed for gradient computation has been modified by an "
                                   f"inplace operation: [{t.dtype.name} {list(t.shape)}] is at version "
                                   f"{owner._version}; expected version {version} instead.")
        return self.saved

    def free(self) -> None:
        self.saved = None

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def edge(t):
    if not t.requires_grad:
        return None
    return t.grad_fn if t.grad_fn is not None else AccumulateGrad.of(t)


def _version_owner(t):
    """The tensor whose version counter in-place writes to t bump."""
    return t._base if t._base is not None else t


def _saved(t):
    """The input as it is now: a leaf is kept itself (so higher-order gradients
    reach it); any other tensor as a snapshot of its current value and grad_fn."""
    if t.grad_fn is None:
        return t
    snap = type(t)._wrap(t.node)
    snap.requires_grad, snap.grad_fn = t.requires_grad, t.grad_fn
    return snap


def shown_as(out, name: str, *sources):
    """`out`, its backward named as PyTorch names it (`grad_fn=<MeanBackward0>`) where
    `out` ends an op composed of others (mean is a sum times 1/n: MulBackward0);
    unless `out` is one of `sources`, returned as it was (a squeeze with nothing to do)."""
    if out.grad_fn is not None and all(out is not s for s in sources):
        out.grad_fn.shown = name
    return out


def record(out, op, arg, srcs):
    """Attach a GradFn to `out` when grad mode is on and an input requires grad
    (and out can have a gradient: a comparison's bool result has none, as in PyTorch)."""
    if grad_enabled() and any([s.requires_grad for s in srcs]) and out._node.dtype.kind == "float":
        out.requires_grad = True
        out.grad_fn = GradFn(op, arg, srcs)
    return out


def check_inplace(t, name: str) -> None:
    if not grad_enabled() or t._detached:
        return
    owner = t._base if t._base is not None else t
    if owner.requires_grad and owner.grad_fn is None:
        what = "a view of a leaf Variable" if t._base is not None else "a leaf Variable"
        raise RuntimeError(f"{what} that requires grad is being used in an in-place operation ({name}).")


def written_into(value, owner, version: int) -> None:
    """`value` was just written into `owner`, then at `version`. Its op's saved copy
    of owner at that version stays valid, as PyTorch's in-place ops keep the original
    self: the copy holds the old graph node, which the write does not change."""
    fn = value.grad_fn
    if fn is not None:
        fn.versions = tuple(None if o is owner and v == version else v for o, v in zip(fn.owners, fn.versions))


def write_history(t, value):
    """Before `value` is written into `t` in place: the history of the tensor written
    (t, or the base t views) after the write, or None when autograd records nothing.
    A value with history of its own becomes it (`b.add_(x)` computed `b + x`). Any
    other write, and every write through a view, is PyTorch's CopySlices: the
    written part's gradient goes to `value`, the rest to the old value."""
    if not grad_enabled() or t._detached:
        return None
    base = t._base
    if base is None:
        # a value computed from t itself (t + x for add_) carries t's history; any other
        # value (copy_ of another result) replaces it, and t's old history then gets a
        # zero gradient, as in PyTorch (not none at all)
        if value.grad_fn is not None and (t.grad_fn is None or any(n is t.grad_fn for n in value.grad_fn.next)):
            return value.grad_fn
        return GradFn("copy_slices", (), (t, value)) if value.requires_grad or t.requires_grad else None
    if not (value.requires_grad or base.requires_grad):
        return None
    return GradFn("copy_slices", tuple(t._steps), (base, value))
