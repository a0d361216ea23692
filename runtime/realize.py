"""Realize: schedule the pending graph under some nodes and run its kernels."""
from __future__ import annotations

import weakref
from collections import OrderedDict, defaultdict

import numpy as np

from . import debug
from .devices import backend
from .graph import Node, Op, toposort
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
        order = toposort(group)
        key = _structure_key(order, group, device.parallelism)
        schedule = _schedules.get(key)
        if schedule is None:
            kernels = Scheduler(device.parallelism, debug.fusion_enabled()).schedule(group)
            schedule = _CachedSchedule(device.prepare(kernels), order)
            _schedules[key] = schedule
            if len(_schedules) > MAX_CACHED_SCHEDULES:
                _schedules.popitem(last=False)
        else:
            _schedules.move_to_end(key)
        schedule.run(device, order)


def _structure_key(order: list[Node], targets: list[Node], parallelism: int) -> tuple:
    """Equal for graphs that differ only in which buffers they read."""
    position = {id(n): i for i, n in enumerate(order)}
    at = position.__getitem__
    parts = [(n.shape, n.dtype) if n.buffer is not None else
             (n.op, n._key[2], n.shape, n.dtype, tuple(map(at, map(id, n.srcs)))) for n in order]
    return (tuple(parts), tuple(map(at, map(id, targets))), parallelism, debug.fusion_enabled())


class _CachedSchedule:
    """Launches with their nodes replaced by positions in the graph's topological
    order; nodes the scheduler made (partial results) get fresh placeholders."""

    def __init__(self, launches, order: list[Node]):
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

        self.steps = [(launch, [slot(n) for n in launch.outputs], [slot(n) for n in launch.args])
                      for launch in launches]
        for launch in launches:  # keep no nodes alive: they would pin their buffers
            launch.outputs = launch.args = None

    def run(self, device, order: list[Node]) -> None:
        nodes = order + [Node(Op.BUFFER, (), None, shape, dtype, name) for shape, dtype, name in self.made]
        for launch, outputs, args in self.steps:
            device.launch(launch, [nodes[i] for i in outputs], [nodes[i] for i in args])


def read(node: Node) -> np.ndarray:
    """The node's value as a numpy array (this is where the host waits)."""
    if node.op is Op.CONST:
        return np.full(node.shape, node.arg, dtype=node.dtype.np_dtype)
    realize([node])
    flat = backend(node.device).download(node.buffer, node.dtype.np_dtype, node.numel)
    return flat.reshape(node.shape)


def upload(array: np.ndarray, device_name: str, dtype) -> Node:
    array = np.ascontiguousarray(array, dtype=dtype.np_dtype).reshape(np.shape(array))  # keeps 0-d as 0-d
    return Node.from_buffer(backend(device_name).upload(array), tuple(array.shape), dtype, device_name)
