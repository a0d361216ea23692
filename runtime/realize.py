"""Realize: schedule the pending graph under some nodes and run its kernels."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from . import debug
from .devices import backend
from .graph import Node, Op
from .schedule import Scheduler


def realize(nodes: list[Node]) -> None:
    """Compute every node in `nodes` that is not computed yet, one schedule per device."""
    pending: dict[str, list[Node]] = defaultdict(list)
    for n in nodes:
        if not n.is_realized:
            pending[n.device].append(n)
    for device_name, group in pending.items():
        device = backend(device_name)
        for kernel in Scheduler(device.parallelism, debug.fusion_enabled()).schedule(group):
            device.run(kernel)


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
