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
        # (device, launch, (shape, dtype, device) of each output, output buffers, argument buffers)
        self.launches: list[tuple] = []
        # every buffer seen, held so that no buffer is recycled (and no id reused) while recording
        self.buffers: list = []
        self.host_reads = 0
        self.uploaded: set[int] = set()  # ids of buffers made from host data

    def launched(self, device, launch, outputs: list[Node], args: list[Node]) -> None:
        written, read = [n.buffer for n in outputs], [n.buffer for n in args]
        self.buffers += written + read
        self.launches.append((device, launch, [(n.shape, n.dtype, n.device) for n in outputs], written, read))

    def uploaded_buffer(self, buffer) -> None:
        self.buffers.append(buffer)
        self.uploaded.add(id(buffer))


class Replay:
    """The recorded launches with buffers as slots: each output in launch order is
    slot 0, 1, ...; input k, a buffer the run read but did not write, is slot -1-k,
    as `input_slot(buffer)` names it (or raises): `run` puts the inputs after the
    outputs in reverse order, so both index one list."""

    def __init__(self, recording: Recording, input_slot: Callable[[object], int]):
        self.made: list[tuple] = []  # (shape, dtype, device) of each output slot
        self.slot: dict[int, int] = {}  # id(buffer) of the recorded run -> its output slot
        self.steps: list[tuple] = []  # (device, launch, output slots, argument slots)
        for device, launch, specs, written, read in recording.launches:
            for spec, buffer in zip(specs, written):
                self.slot[id(buffer)] = len(self.made)
                self.made.append(spec)
            args = [self.slot[id(b)] if id(b) in self.slot else input_slot(b) for b in read]
            self.steps.append((device, launch, [self.slot[id(b)] for b in written], args))

    def run(self, inputs: list[Node]) -> list[Node]:
        """Launch every step; the node of every slot, each output holding its new buffer."""
        nodes = [Node.placeholder(*spec) for spec in self.made] + inputs[::-1]
        for device, launch, outputs, args in self.steps:
            device.launch(launch, [nodes[i] for i in outputs], [nodes[i] for i in args])
        return nodes
