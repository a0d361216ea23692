"""lazyfuse.capture: call a function again by replaying its kernels, not its Python.

    step = lazyfuse.capture(train_step)
    for x, y in batches:
        loss = step(x, y)   # early calls run train_step; later ones replay its launches

Arguments are tensors or numbers; on a method, each instance has its own capture.

A small training step spends almost all of its time in Python: recording ops,
backward, scheduling. A captured function runs its Python once while every
kernel launch is recorded, then later calls launch the same kernels again:
the tensors it read (its arguments, and tensors it reached otherwise, such as
parameters and their .grad) are read as they are at the call, and every
tensor it wrote (values, .grad, version counters) is left as the function
would have left it. Like CUDA graphs (`torch.cuda.make_graphed_callables`)
and tinygrad's TinyJit, the Python is not run again: what it decided in
Python stays as the captured call decided it, such as numbers it computed (a
step count) and which tensors it found in lists, dicts or attributes of plain
objects; hooks (Tensor.register_hook, a module's forward and backward hooks) ran
when it was captured, and their effect is replayed, not the hooks. It returns
tensors as values, without autograd history.

Every call first checks what the replay takes as given: the same argument
shapes, dtypes and devices and grad mode; each tensor the function used still
of the same shape, dtype and device (a constant, which kernels build in, the
same constant) and with the same .grad where the function used it; the
tensors, numbers and modules (their parameters, train or eval) that the
function and the functions it calls name still the same; the optimizers it
stepped with the same hyper-parameters. Otherwise the call runs the function
and captures it again. A function that reads a value on the host, makes
tensors from host data, keeps tensors it made or rebinds a name it reads
cannot be replayed, and the error says which.
"""
from __future__ import annotations

import functools
import gc
import types
import warnings
import weakref
from typing import Any, Callable, Optional

from lazyfuse.runtime import capture as recording
from lazyfuse.runtime import debug
from lazyfuse.runtime.graph import Node, Op
from lazyfuse.runtime.realize import realize
from lazyfuse.runtime.writeback import replay

from .autograd.grad_mode import grad_enabled
from .tensor import Tensor

# calls in a row that may run the function without capturing it (the first call
# makes .grad and optimizer state, so its end state does not match its start)
MAX_ATTEMPTS = 3
# captures in a row, none replayed, after which a warning says why (LAZYFUSE_DEBUG=1
# logs every capture after the first, with its reason)
CAPTURES_WITHOUT_REPLAY = 8

# mappings of Python numbers a function's kernels depend on (an optimizer's
# hyper-parameters), noted while capturing: a replay needs them unchanged
_watched: Optional[list] = None


def watch(values: dict) -> None:
    """Note that the launches being recorded depend on `values` staying as they are."""
    if _watched is not None:
        _watched.append((values, dict(values)))


def capture(fn: Callable) -> "CapturedFunction":
    """`fn`, called by replaying its kernel launches once they have been captured."""
    return CapturedFunction(fn)


class CannotReplay(Exception):
    """Why a captured call cannot stand for later calls. `lasting`: the function
    would fail the same way every call (after MAX_ATTEMPTS in a row, an error);
    otherwise it is the state the call found, which a later call may not find."""

    def __init__(self, why: str, lasting: bool = True):
        super().__init__(why)
        self.lasting = lasting


class CapturedFunction:
    """A function and its last captured call; `captures` and `replays` count calls of each kind."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.captures = self.replays = 0
        self._call: Optional[_Captured] = None
        self._attempts = 0
        self._captures_in_a_row = 0
        functools.update_wrapper(self, fn)

    def __get__(self, obj, objtype=None):
        """As a method: a captured function per instance, bound to it and kept on it."""
        if obj is None:
            return self
        try:
            kept = vars(obj)
        except TypeError:
            raise TypeError(f"lazyfuse.capture: {type(obj).__name__} objects have no __dict__ to keep a captured "
                            f"method in") from None
        key = f"_lazyfuse_captured_{id(self)}"
        if key not in kept:
            kept[key] = CapturedFunction(types.MethodType(self.fn, obj))
        return kept[key]

    def __call__(self, *args):
        for a in args:
            if not isinstance(a, (Tensor, bool, int, float)):
                raise TypeError(f"lazyfuse.capture: arguments must be tensors or numbers, got {type(a).__name__}")
        if recording.active is not None:  # called while another function is captured: part of its launches
            return self.fn(*args)
        call = self._call
        why_again = call.mismatch(args) if call is not None else None
        if call is not None and why_again is None:
            self.replays += 1
            self._captures_in_a_row = 0
            return call.replay(args)
        if why_again is not None:
            debug.log(1, f"capture({_name(self.fn)}) captures again: {why_again}")
        self._call = None
        result, call, why = _capture(self.fn, args)
        if call is None:
            debug.log(1, f"capture({_name(self.fn)}) could not capture this call: {why}")
            if why.lasting:
                self._attempts += 1
            if self._attempts >= MAX_ATTEMPTS:
                raise RuntimeError(f"lazyfuse.capture({_name(self.fn)}): {MAX_ATTEMPTS} calls in a row could not be "
                                   f"captured: {why}")
        else:
            self._call, self._attempts = call, 0
            self.captures += 1
            self._captures_in_a_row += 1
            if self._captures_in_a_row == CAPTURES_WITHOUT_REPLAY:
                warnings.warn(f"lazyfuse.capture({_name(self.fn)}) captured {CAPTURES_WITHOUT_REPLAY} calls in a row "
                              f"without replaying one, each a little slower than a plain call; the last time "
                              f"because {why_again}", RuntimeWarning, stacklevel=2)
        return result


def _name(fn) -> str:
    return getattr(fn, "__qualname__", repr(fn))


class _State:
    """A tensor as a call found it, when the call first used it."""

    __slots__ = ("tensor", "node", "version", "grad", "requires_grad", "grad_fn", "computed")

    def __init__(self, t: Tensor, grad):
        self.tensor = t
        self.node, self.version, self.grad = t._node, t._version, grad
        self.computed = t._node.buffer is not None or t._node.op is Op.CONST
        self.requires_grad, self.grad_fn = t.requires_grad, t.grad_fn

    def holds(self) -> bool:
        t = self.tensor
        return (t._node is self.node and t._version == self.version and t.grad is self.grad
                and t.requires_grad == self.requires_grad and t.grad_fn is self.grad_fn)


class _Observer:
    """While active, notes the tensors that existed before and that the call uses (as
    they were before it changed them), the tensors it makes, and those whose .grad it
    reads or sets: Tensor's `node`, `grad` and `_init` are swapped for noting versions."""

    def __init__(self):
        self.first_use: dict[int, _State] = {}
        self.made: dict[int, weakref.ref] = {}
        self.grad_used: set[int] = set()
        self.grad_set: dict[int, Tensor] = {}  # tensors given a .grad, by id
        self._node, self._grad, self._init = Tensor.node, Tensor.grad, Tensor._init

    def __enter__(self) -> "_Observer":
        node, grad, init = self._node, self._grad, self._init

        def noting_node(t: Tensor) -> Node:
            self._note(t)
            return node.fget(t)

        def reading_grad(t: Tensor):
            self.grad_used.add(id(t))
            return grad.__get__(t)

        def writing_grad(t: Tensor, value) -> None:  # zero_grad() sets .grad before the tensor is used
            self._note(t)
            self.grad_used.add(id(t))
            if id(t) not in self.made:  # (a tensor being made sets its .grad to None)
                self.grad_set[id(t)] = t
            grad.__set__(t, value)

        def noting_init(t: Tensor, *a, **kw) -> Tensor:
            self.made[id(t)] = weakref.ref(t)
            return init(t, *a, **kw)

        Tensor.node, Tensor.grad, Tensor._init = property(noting_node), property(reading_grad, writing_grad), noting_init
        return self

    def __exit__(self, *exc) -> None:
        Tensor.node, Tensor.grad, Tensor._init = self._node, self._grad, self._init

    def _note(self, t: Tensor) -> None:
        if id(t) not in self.first_use and id(t) not in self.made:
            if t._base is not None:
                # a view written in place holds its new value's graph, which may read a
                # buffer its base no longer holds: read it through the base instead (the
                # same values), so that the replay reads the base
                self._note(t._base)
                t._node, t._seen_version = replay(t._base._node, t._steps), t._base._version
            self.first_use[id(t)] = _State(t, self._grad.__get__(t))  # not through the noting property

    def kept(self, allowed: set) -> list:
        """Tensors the call made that are still alive, but for those in `allowed` (ids)."""
        return [r() for key, r in self.made.items() if r() is not None and key not in allowed]


def _capture(fn, args) -> tuple[Any, Optional["_Captured"], str]:
    """Run fn(*args) with its launches recorded: (its result, a replay of it or None, why not)."""
    global _watched
    realize([a.node for a in args if isinstance(a, Tensor)])  # and what earlier calls left deferred: not fn's work
    arg_nodes = [a.node if isinstance(a, Tensor) else None for a in args]
    python_inputs = _python_inputs(fn)  # as fn finds them; a replay needs them as fn leaves them too
    recording.active, _watched = recording.Recording(), []
    try:
        with _Observer() as observed:
            result = fn(*args)
            outputs = _outputs(fn, result)
            # and everything fn wrote in place, which is deferred, and the .grads it set
            new_grads = [t.grad._node for t in observed.grad_set.values() if t.grad is not None]
            realize([t.node for t in outputs] + [n for n in new_grads if n.op is not Op.CONST])
    finally:
        rec, watched = recording.active, _watched
        recording.active, _watched = None, None
    if rec.host_reads:
        raise RuntimeError(f"lazyfuse.capture({_name(fn)}): the function reads a tensor's value on the host (item(), "
                           f"numpy(), tolist(), print() or an `if` on a tensor); a replayed call would not read it "
                           f"again. Return the tensor and read it after the call.")
    returned = [t.node for t in outputs]
    result_shape = None if result is None else (len(outputs) if isinstance(result, (tuple, list)) else -1)
    del result, outputs  # their autograd history would keep the call's intermediate tensors alive
    # views are read through their bases: a base's value must have been computed
    unready = [s.node for s in observed.first_use.values() if s.tensor._base is None and not s.computed]
    if unready:  # computed now, so that the next call can be captured
        realize(unready)
        return _values(returned, result_shape), None, CannotReplay(
            "the function used tensors whose values were still being computed when it was called", lasting=False)
    try:
        call = _Captured(fn, args, arg_nodes, rec, observed, watched, python_inputs)
        call.returned = [call.binding(n) for n in returned]
        call.result_shape = result_shape
    except CannotReplay as e:
        return _values(returned, result_shape), None, e
    return _values(returned, result_shape), call, None


def _values(nodes: list[Node], shape):
    """Returned tensors as values (no autograd history), in the shape fn returned them."""
    tensors = [Tensor._wrap(n) for n in nodes]
    return None if shape is None else tensors[0] if shape == -1 else tuple(tensors)


def _outputs(fn, result) -> list[Tensor]:
    values = [] if result is None else list(result) if isinstance(result, (tuple, list)) else [result]
    for v in values:
        if not isinstance(v, Tensor):
            raise RuntimeError(f"lazyfuse.capture({_name(fn)}): the function must return a tensor, a tuple of "
                               f"tensors or None, got {type(v).__name__}")
    return values


class _Captured:
    """One captured call: its launches (a Replay), where each input of the replay is
    read from, what a replay leaves in each tensor the call wrote, and what the next
    call must find for a replay to stand for it."""

    returned: list  # binding of each returned tensor
    result_shape: Optional[int]  # None: fn returned None; -1: one tensor; n: a tuple of n

    def __init__(self, fn, args, arg_nodes: list[Node], rec, observed: _Observer, watched: list,
                 python_inputs: list[tuple]):
        self.fn, self._uploaded = fn, rec.uploaded
        # each argument's shape, dtype and device, or a number itself (built into the kernels)
        self.args = [(n.shape, n.dtype, n.device) if n is not None else a for a, n in zip(args, arg_nodes)]
        self.grad_mode = grad_enabled()
        self.watched = watched
        existing = [s for s in observed.first_use.values() if s.tensor._base is None]
        tensor_args = [(i, n) for i, n in enumerate(arg_nodes) if n is not None]
        self.sources: list = [("arg", i) for i, _ in tensor_args]  # where input k of the replay is read from
        self._input_of = {id(n.buffer): -1 - k for k, (_, n) in enumerate(tensor_args)}
        self._owners: dict[int, list[Tensor]] = {}  # tensors holding each buffer when fn first used them
        for s in existing:
            if s.node.buffer is not None:
                self._owners.setdefault(id(s.node.buffer), []).append(s.tensor)
        self.replay_plan = recording.Replay(rec, self.input_slot)
        self.written = self._writes(existing, args, observed)
        for name, get, value in python_inputs:
            if not _same_python_value(get(), value):
                raise CannotReplay(f"the function rebinds `{name}` (a replayed call would not): keep what changes "
                                   f"from call to call outside it, or pass it as an argument")
        self.python_inputs = python_inputs
        # what a replay needs of each tensor fn used (the next call reads its arguments
        # and these tensors' values at the call, whatever they are)
        self.expected = [_Expectation(s.tensor, id(s.tensor) in observed.grad_used) for s in existing
                         if not any(s.tensor is a for a in args)]
        # a replay leaves each written tensor's value of the same kind; only a new .grad changes an expectation
        self._expected_grad = {id(e.tensor): e for e in self.expected if e.grad is not _ANY}

    def input_slot(self, buffer) -> int:
        """The replay's slot for a buffer the call read but did not write."""
        if id(buffer) not in self._input_of:
            if id(buffer) in self._uploaded:
                raise RuntimeError(f"lazyfuse.capture({_name(self.fn)}): the function makes a tensor from host data "
                                   f"(torch.tensor(...), from_numpy, an optimizer that uploads numbers); a replayed "
                                   f"call would read the captured copy. Pass it as an argument.")
            if id(buffer) not in self._owners:
                raise RuntimeError(f"lazyfuse.capture({_name(self.fn)}): the function reads a value that no tensor "
                                   f"it was given or used held when it was called")
            self._input_of[id(buffer)] = -1 - len(self.sources)
            self.sources.append(("tensors", self._owners[id(buffer)]))
        return self._input_of[id(buffer)]

    def binding(self, node: Node):
        """How a replay finds a node the call left in a tensor: a slot, or the node itself (a constant)."""
        if node.op is Op.CONST:
            return node
        if node.buffer is None:
            raise CannotReplay("the function leaves a tensor unevaluated")
        made = self.replay_plan.slot
        return made[id(node.buffer)] if id(node.buffer) in made else self.input_slot(node.buffer)

    def _writes(self, existing: list[_State], args, observed: _Observer) -> list[tuple]:
        """(tensor, binding of its new node, version increase, binding of its new .grad
        or None) for each tensor the call wrote."""
        written = []
        for s in existing:
            t = s.tensor
            if s.holds():
                continue
            if any(t is a for a in args):
                raise CannotReplay("the function writes to its argument in place")
            if t.requires_grad != s.requires_grad or t.grad_fn is not s.grad_fn:
                raise CannotReplay("the function changes which tensors require grad")
            if not _of_kind(t._node, _kind(s.node)):  # as a .grad written from outside, then zeroed
                raise CannotReplay(f"a tensor {list(t.shape)} the function writes ends in another kind of value than "
                                   f"it started with (a constant and a computed value)", lasting=False)
            new_grad = None
            if t.grad is not s.grad:
                if (t.grad is None) != (s.grad is None) or id(t.grad) not in observed.made:
                    raise CannotReplay("the function gives a tensor a .grad it did not have, or takes it away")
                if id(s.grad) in observed.first_use:
                    raise CannotReplay("the function uses a tensor's .grad and then gives it a new one; a replay "
                                       "would use the .grad the captured call found")
                new_grad = self.binding(t.grad._node)
            written.append((t, self.binding(t._node), t._version - s.version, new_grad))
        grads = {id(t.grad) for t, _, _, g in written if g is not None}
        if observed.kept(grads):
            gc.collect()  # the cycles of autograd's records are freed only by the cycle collector
        kept = observed.kept(grads)
        if kept:
            raise CannotReplay(f"the function keeps {len(kept)} tensor(s) it made (in a list, on an object, in an "
                               f"optimizer's state); a replayed call would not make them")
        return written

    def mismatch(self, args) -> Optional[str]:
        """Why a replay cannot stand for a call of fn now, or None when it can."""
        if grad_enabled() != self.grad_mode:
            return f"grad mode is {'on' if grad_enabled() else 'off'} now"
        if len(args) != len(self.args):
            return f"{len(args)} arguments now, {len(self.args)} before"
        for i, (a, spec) in enumerate(zip(args, self.args)):
            if isinstance(a, Tensor) != isinstance(spec, tuple):
                return f"argument {i} is a {type(a).__name__} now"
            if not isinstance(a, Tensor):
                if not _same_python_value(a, spec):
                    return f"argument {i} is {a!r} now"
            elif (a.shape, a.dtype, a.node.device) != spec:
                return f"argument {i} is {list(a.shape)} {a.dtype.name} on {a.node.device} now"
        if not all(values == before for values, before in self.watched):
            return "an optimizer's hyper-parameters changed"
        for name, get, value in self.python_inputs:
            if not _same_python_value(get(), value):
                return f"`{name}` changed"
        for e in self.expected:
            why = e.unmet()
            if why is not None:
                return why
        # tensors that shared a buffer when captured are read through one input: they still must
        for kind, where in self.sources:
            if kind == "tensors" and any(t._node is not where[0]._node for t in where):
                return "tensors that held one value when captured hold different ones now"
        return None

    def replay(self, args):
        inputs = [args[where].node if kind == "arg" else where[0]._node for kind, where in self.sources]
        pending = [n for n in inputs if n.buffer is None]
        if pending:  # written since, and not computed yet
            realize(pending)
        nodes = self.replay_plan.run(inputs)
        for t, bound, version_step, new_grad in self.written:
            t._node = bound if isinstance(bound, Node) else nodes[bound]
            t._version += version_step
            if new_grad is not None:
                t.grad = Tensor._wrap(new_grad if isinstance(new_grad, Node) else nodes[new_grad])
                expected = self._expected_grad.get(id(t))
                if expected is not None:
                    expected.grad = t.grad
        return _values([b if isinstance(b, Node) else nodes[b] for b in self.returned], self.result_shape)


_ANY = object()  # a .grad fn never read or set: any will do


class _Expectation:
    """What a replay needs of a tensor: a value of the same kind (see _kind), the same
    requires_grad and grad_fn, and the same .grad if fn used it."""

    __slots__ = ("tensor", "value", "grad", "requires_grad", "grad_fn")

    def __init__(self, t: Tensor, grad_used: bool):
        self.tensor, self.requires_grad, self.grad_fn = t, t.requires_grad, t.grad_fn
        self.grad = t.grad if grad_used else _ANY
        self.value = _kind(t._node)

    def unmet(self) -> Optional[str]:
        """Why the tensor is not as a replay needs it, or None when it is."""
        t = self.tensor
        if t.requires_grad != self.requires_grad or t.grad_fn is not self.grad_fn:
            return f"a tensor {list(t.shape)} the function uses changed requires_grad or grad_fn"
        if self.grad is not _ANY and t.grad is not self.grad:
            return f"a tensor {list(t.shape)} the function uses has another .grad"
        if not _of_kind(t._node, self.value):
            return f"a tensor {list(t.shape)} the function uses holds another kind of value"
        return None


def _python_inputs(fn, seen: Optional[set] = None) -> list[tuple]:
    """(name, getter, value) of each tensor, number and module fn names in its closure or its
    globals, and those the functions it names name: a replay stands for fn only while
    each is what it was when captured (a module: the same parameters, and train or eval)."""
    from .nn.modules import Module
    seen = set() if seen is None else seen
    owner = getattr(fn, "__self__", None)  # a method's instance: checked when it is a module
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return []
    seen.add(id(fn))
    named = [] if owner is None else [("self", lambda: owner, owner)]
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            named.append((name, lambda cell=cell: cell.cell_contents, cell.cell_contents))
        except ValueError:  # not assigned yet
            pass
    names = fn.__globals__
    named += [(name, lambda name=name: names.get(name), names[name]) for name in code.co_names if name in names]
    found = []
    for name, get, value in named:
        if isinstance(value, (Tensor, bool, int, float)):
            found.append((name, get, value))
        elif isinstance(value, Module):
            found.append((name, lambda get=get: _module_state(get()), _module_state(value)))
        elif isinstance(value, types.FunctionType):
            found.append((name, get, value))
            found += _python_inputs(value, seen)
    return found


def _module_state(module) -> tuple:
    from .nn.modules import Module
    if not isinstance(module, Module):
        return (module,)
    return (module, module.training, *module.parameters())


def _same_python_value(now, then) -> bool:
    if isinstance(then, tuple):  # a module's state: the same objects
        return len(now) == len(then) and all(a is b for a, b in zip(now, then))
    if isinstance(then, (bool, int, float)):
        return type(now) is type(then) and now == then
    return now is then


def _kind(node: Node):
    """What a replay needs a tensor's value to stay: the same constant (kernels build it
    in), or a computed value of the same shape, dtype and device."""
    return node if node.op is Op.CONST else (node.shape, node.dtype, node.device)


def _of_kind(node: Node, kind) -> bool:
    if isinstance(kind, Node):
        return node is kind or node.op is Op.CONST and node._key == kind._key
    return node.op is not Op.CONST and (node.shape, node.dtype, node.device) == kind
