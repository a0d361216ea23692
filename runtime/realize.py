"""Realize: schedule the pending graph under some nodes and run its kernels."""
from __future__ import annotations

import weakref
from collections import OrderedDict, defaultdict

import numpy as np

from . import capture, changing_constants, debug, dtypes, schedule_store, slices
from .devices import backend
from .graph import Node, Op
from .schedule import Scheduler


# schedules by graph structure: a repeated computation (a training step) skips
# scheduling, rendering and compiling, and goes straight to its launches
_schedules: "OrderedDict[tuple, _CachedSchedule]" = OrderedDict()
MAX_CACHED_SCHEDULES = 256


# tensors whose values are computed with the next schedule, whatever it is for:
# those written in place since (so a parameter updated every step does not grow a
# chain of pending updates) and the loss and gradients of the last backward (so an
# optimizer's update that follows fuses into the kernels computing the gradients)
_deferred: dict[int, "weakref.ref"] = {}

# a value computed by this many schedules without being stored is stored by the next
# one: the first two may be a step's forward and backward, which fuse it into their
# kernels (a relu's mask); a third means a tensor read step after step (the inputs of
# PyTorch's tutorials, `x = torch.randn(...)`, were drawn again in every kernel
# reading them, in every step)
WALKS_BEFORE_STORING = 2


def defer(tensor) -> None:
    """Compute `tensor`'s value (anything with a `.node`) with the next schedule."""
    _deferred[id(tensor)] = weakref.ref(tensor)


def _take_deferred() -> list[Node]:
    if not _deferred:
        return []
    tensors = [ref() for ref in _deferred.values()]
    _deferred.clear()
    return [t.node for t in tensors if t is not None and not t.node.is_realized and t.node.op is not Op.CONST]


def realize(nodes: list[Node]) -> None:
    """Compute every node in `nodes` not computed yet, and the deferred values,
    one schedule per device."""
    pending: dict[str, list[Node]] = defaultdict(list)
    for n in list(nodes) + _take_deferred():
        if not n.is_realized:
            pending[n.device].append(n)
    for device_name, group in pending.items():
        device = backend(device_name)
        order, structure, again = _walk(group)
        if again:  # values an earlier schedule computed without storing them: store them this time
            group += again
            order, structure, _ = _walk(group, counting=False)
        key = (structure, device.parallelism, debug.fusion_enabled())
        schedule = _schedules.get(key)
        # a step being captured keeps its numbers: its replay reads no new upload
        if schedule is None and capture.active is None and changing_constants.lift(
                order, structure, lambda array, dtype: upload(array, device_name, dtype, wait=False)):
            order, structure, _ = _walk(group, counting=False)
            key = (structure, device.parallelism, debug.fusion_enabled())
            schedule = _schedules.get(key)
        if schedule is None:
            # devices whose launches can be described (OpenCL's) keep their schedules on disk too
            stored_as = schedule_store.digest(key, getattr(device, "identity", None))
            schedule = _stored_schedule(stored_as, device, order) if stored_as is not None else None
            if schedule is None:
                kernels = Scheduler(device.parallelism, debug.fusion_enabled()).schedule(group)
                parts = slices.read_from_parts(kernels, device.part_alignment)
                schedule = _CachedSchedule(device.prepare(kernels), order, parts)
                if stored_as is not None:
                    schedule_store.save(stored_as, schedule.describe(device))
            _schedules[key] = schedule
            if len(_schedules) > MAX_CACHED_SCHEDULES:
                _schedules.popitem(last=False)
        else:
            _schedules.move_to_end(key)
        schedule.run(device, order)


def _walk(targets: list[Node], counting: bool = True) -> tuple[list[Node], tuple, list[Node]]:
    """The nodes below targets, sources first (a depth-first walk without recursion);
    the graph's structure: a part per node of that order and the targets'
    positions, equal for graphs that differ only in which buffers they read; and
    the nodes that compute a value and were in WALKS_BEFORE_STORING earlier walks'
    graphs without being stored (a tensor made lazily, `x = randn(...)`, and read
    at every step), which the caller stores; `counting`: this walk counts as one
    (a second walk of the same realize does not).
    One pass: these were half the Python time of realizing a cached schedule."""
    order: list[Node] = []
    parts: list[tuple] = []
    again: list[Node] = []
    position: dict[int, int] = {}
    for root in targets:
        if id(root) in position:
            continue
        stack = [(root, 0)]
        while stack:
            node, next_src = stack[-1]
            srcs = node.srcs
            while next_src < len(srcs) and id(srcs[next_src]) in position:
                next_src += 1
            if next_src < len(srcs):
                stack[-1] = (node, next_src + 1)
                src = srcs[next_src]
                position[id(src)] = -1  # on the stack
                stack.append((src, 0))
                continue
            stack.pop()
            position[id(node)] = len(order)
            order.append(node)
            if node.buffer is not None:
                parts.append((node.shape, node.dtype))
                continue
            if len(srcs) == 1:  # (the commonest cases without a comprehension: a third of the walk's time)
                at = (position[id(srcs[0])],)
            elif len(srcs) == 2:
                at = (position[id(srcs[0])], position[id(srcs[1])])
            else:
                at = tuple([position[id(s)] for s in srcs])
            parts.append((node.op, node._key[1], node.shape, node.dtype, at))
            if node.walks >= WALKS_BEFORE_STORING and node.op is not Op.VIEW and node.op is not Op.CONST:
                again.append(node)  # (a view or a constant costs nothing to read)
            node.walks += counting
    return order, (tuple(parts), tuple([position[id(t)] for t in targets])), again


class _CachedSchedule:
    """Launches with their nodes replaced by positions in the graph's topological
    order; nodes the scheduler made (partial results) get fresh placeholders, and
    parts of stored values (runtime/slices.py) their buffers before the first
    launch that reads them."""

    def __init__(self, launches, order: list[Node], parts: dict[Node, tuple[Node, int]]):
        position = {id(n): i for i, n in enumerate(order)}
        self.made: list[tuple] = []  # (shape, dtype, device) of scheduler-made nodes
        made_slot: dict[int, int] = {}

        def slot(node: Node) -> int:
            if id(node) in position:
                return position[id(node)]
            if id(node) not in made_slot:
                made_slot[id(node)] = len(order) + len(self.made)
                self.made.append((node.shape, node.dtype, node.device))
            return made_slot[id(node)]

        self.steps = []  # (launch, output slots, argument slots, parts to give buffers first)
        bound: set[Node] = set()
        for launch in launches:
            new_parts = [p for p in launch.args if p in parts and p not in bound]
            bound.update(new_parts)
            self.steps.append((launch, [slot(n) for n in launch.outputs], [slot(n) for n in launch.args],
                               [(slot(p), slot(parts[p][0]), parts[p][1], p.numel * p.dtype.itemsize)
                                for p in new_parts]))
        for launch in launches:  # keep no nodes alive: they would pin their buffers
            launch.outputs = launch.args = None

    def describe(self, device) -> dict:
        """The schedule as JSON, for schedule_store (read back by _stored_schedule)."""
        return {"made": [[list(shape), dtype.name] for shape, dtype, _ in self.made],  # on the device run on
                "launches": [{"kernel": device.describe(launch), "outputs": outputs, "args": args, "parts": parts}
                             for launch, outputs, args, parts in self.steps]}

    def run(self, device, order: list[Node]) -> None:
        nodes = order + [Node.placeholder(*spec) for spec in self.made]
        for launch, outputs, args, parts in self.steps:
            for part, value, start, nbytes in parts:
                nodes[part].buffer = device.part(nodes[value].buffer, start, nbytes)
            written, read = [nodes[i] for i in outputs], [nodes[i] for i in args]
            device.launch(launch, written, read)
            if capture.active is not None:
                capture.active.launched(device, launch, written, read)


def _stored_schedule(name: str, device, order: list[Node]) -> "_CachedSchedule | None":
    """The schedule stored as `name` by an earlier process, for this graph's `order`."""
    stored = schedule_store.load(name)
    if stored is None:
        return None
    try:
        nodes = order + [Node.placeholder(tuple(shape), dtypes.as_dtype(dtype), device.name)
                         for shape, dtype in stored["made"]]
        launches = stored["launches"]
        restored = device.restore([launch["kernel"] for launch in launches],
                                  [[nodes[i] for i in launch["outputs"]] for launch in launches],
                                  [[nodes[i] for i in launch["args"]] for launch in launches])
        parts = {nodes[part]: (nodes[value], start) for launch in launches for part, value, start, _ in launch["parts"]}
    except (KeyError, IndexError, TypeError, ValueError):  # not a file this version of lazyfuse wrote
        return None
    return _CachedSchedule(restored, order, parts)


def read(node: Node) -> np.ndarray:
    """The node's value as a numpy array (this is where the host waits)."""
    if capture.active is not None:
        capture.active.host_reads += 1
    if node.op is Op.CONST:
        return np.full(node.shape, node.arg, dtype=node.dtype.np_dtype)
    realize([node])
    flat = backend(node.device).download(node.buffer, node.dtype.np_dtype, node.numel)
    return flat.reshape(node.shape)


def upload(array: np.ndarray, device_name: str, dtype, wait: bool = True) -> Node:
    """A node holding `array`; wait=False for an array nothing writes to afterwards."""
    array = np.ascontiguousarray(array, dtype=dtype.np_dtype).reshape(np.shape(array))  # keeps 0-d as 0-d
    buffer = backend(device_name).upload(array, wait)
    if capture.active is not None:
        capture.active.uploaded_buffer(buffer)
    return Node.from_buffer(buffer, tuple(array.shape), dtype, device_name)
