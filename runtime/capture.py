"""Recording one run's kernel launches, and replaying them on other buffers.

While a Recording is active, realize notes every launch with the buffers it
wrote and read, and counts host reads and uploads. A Replay made from it
launches the same compiled kernels in the same order with fresh output
buffers, reading the input buffers its caller names: no graph is recorded,
walked or scheduled. `lazyfuse.capture` decides what the inputs are and what
a replay leaves in which tensor.
"""
from __future__ import annotations

from typing import Callable, Optional

from .graph import Node

# the Recording that launches, reads and uploads are noted in, while one is active
active: Optional["Recording"] = None


class Recording:
    def __init__(self):
        # (device, launch, (shape, dtype, device) of each output, output buffers, argument
        # buffers, (shape, dtype, device) of each argument)
        self.launches: list[tuple] = []
        # every buffer seen, held so that no buffer is recycled (and no id reused) while recording
        self.buffers: list = []
        self.host_reads = 0
        self.uploaded: set[int] = set()  # ids of buffers made from host data

    def launched(self, device, launch, outputs: list[Node], args: list[Node]) -> None:
        written, read = [n.buffer for n in outputs], [n.buffer for n in args]
        self.buffers += written + read
        self.launches.append((device, launch, [_spec(n) for n in outputs], written, read, [_spec(n) for n in args]))

    def uploaded_buffer(self, buffer) -> None:
        self.buffers.append(buffer)
        self.uploaded.add(id(buffer))


def _spec(node: Node) -> tuple:
    return node.shape, node.dtype, node.device


class Replay:
    """The recorded launches with buffers as slots: each output in launch order is
    slot 0, 1, ...; input k, a buffer the run read but did not write, is slot -1-k,
    as `input_slot(buffer)` names it (or raises): `run` puts the inputs after the
    outputs in reverse order, so both index one list. A part of an output's buffer
    (a slice read by a later kernel: runtime/slices.py) is made again from the
    output's new buffer."""

    def __init__(self, recording: Recording, input_slot: Callable[[object], int]):
        self.made: list[tuple] = []  # (shape, dtype, device) of each output slot
        self.slot: dict[int, int] = {}  # id(buffer) of the recorded run -> its output slot
        # (device, launch, output slots, argument slots, parts: (argument position, output slot,
        # start, nbytes, (shape, dtype, device)) of each argument that is a part of an output)
        self.steps: list[tuple] = []
        for device, launch, specs, written, read, read_specs in recording.launches:
            for spec, buffer in zip(specs, written):
                self.slot[id(buffer)] = len(self.made)
                self.made.append(spec)
            args, parts = [], []
            for at, (buffer, spec) in enumerate(zip(read, read_specs)):
                whole = getattr(buffer, "whole", None)
                if id(buffer) not in self.slot and whole is not None and id(whole) in self.slot:
                    parts.append((at, self.slot[id(whole)], buffer.start, buffer.nbytes, spec))
                    args.append(self.slot[id(whole)])  # (stands for the part until run makes it)
                else:
                    args.append(self.slot[id(buffer)] if id(buffer) in self.slot else input_slot(buffer))
            self.steps.append((device, launch, [self.slot[id(b)] for b in written], args, parts))

    def run(self, inputs: list[Node]) -> list[Node]:
        """Launch every step; the node of every slot, each output holding its new buffer."""
        nodes = [Node.placeholder(*spec) for spec in self.made] + inputs[::-1]
        for device, launch, outputs, args, parts in self.steps:
            read = [nodes[i] for i in args]
            for at, slot, start, nbytes, spec in parts:
                read[at] = Node.from_buffer(device.part(nodes[slot].buffer, start, nbytes), *spec)
            device.launch(launch, [nodes[i] for i in outputs], read)
        return nodes
