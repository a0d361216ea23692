"""The speed targets lazyfuse is held to, checked against one report's results:
each is a ratio of two systems' median times on one workload, measured in the
same run, and a floor it must reach."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    label: str
    workload: str
    slower: str  # the system expected to take longer...
    faster: str  # ...than this one, by at least `at_least` times
    at_least: float

    def ratio(self, results: dict) -> float | None:
        """slower's median / faster's median, or None when either did not run."""
        systems = results.get(self.workload, {})
        if self.slower not in systems or self.faster not in systems:
            return None
        return systems[self.slower]["median"] / systems[self.faster]["median"]


CHAIN8 = "chain of 8 op(s), 2^24"
IDEAL = "hand-written kernel"  # OpenCL, bench/peers.py
NATIVE = "hand-written C (OpenMP)"  # the sums, bench/native_sums.c
TARGETS = [
    Target("8-op chain at least 7x faster than numpy", CHAIN8, "numpy", "lazyfuse", 7),
    Target("8-op chain at least 1.3x faster than torch.compile", CHAIN8, "torch.compile", "lazyfuse", 1.3),
    Target("8-op chain within 1.1x of the hand-written kernel", CHAIN8, IDEAL, "lazyfuse", 1 / 1.1),
    Target("sum(x) at least 4x faster than numpy", "sum(x), 2^24", "numpy", "lazyfuse", 4),
    Target("mean((x-y)**2) at least 7x faster than numpy", "mean((x-y)**2), 2^24", "numpy", "lazyfuse", 7),
    Target("mean((x-y)**2) no slower than torch.compile", "mean((x-y)**2), 2^24", "torch.compile", "lazyfuse", 1),
    Target("softmax at least 5x faster than numpy", "softmax rows, 4096x4096", "numpy", "lazyfuse", 5),
    Target("softmax at least 2x faster than torch.softmax", "softmax rows, 4096x4096", "torch eager", "lazyfuse", 2),
    Target("65536x64 step no slower than numpy with hand-written gradients", "train step 65536x64",
           "numpy (hand-written gradients)", "lazyfuse", 1),
    Target("256x8 step no slower than PyTorch eager", "train step 256x8", "torch eager", "lazyfuse", 1),
    Target("256x8 step under lazyfuse.capture no slower than PyTorch eager", "train step 256x8", "torch eager",
           "lazyfuse, captured step", 1),
    Target("x + 1 read back within 1.5x of raw PyOpenCL", "x + 1 on 1024, read back", "raw pyopencl", "lazyfuse",
           1 / 1.5),
    Target("warm-cache first step at least 5x faster than cold", "first step, fresh process",
           "lazyfuse, cold compile cache", "lazyfuse, warm compile cache", 5),
]


def markdown(results: dict) -> str:
    """A table of the targets whose workloads ran: the measured ratio, whether it is
    met, and, where lazyfuse is held to a peer that hand-written code (the OpenCL
    kernel, the C sums) also ran against, the best ratio that code reached: what
    this machine allows (a sum reads memory as fast as the cores can, whoever wrote
    the kernel)."""
    lines = ["| target | ratio (slower / faster) | needed | met | best hand-written ratio |",
             "|---|---:|---:|---|---:|"]
    for t in TARGETS:
        ratio = t.ratio(results)
        if ratio is None:
            continue
        held_to_peer = t.faster == "lazyfuse" and t.slower != IDEAL
        reached = [dataclasses.replace(t, faster=code).ratio(results) for code in (IDEAL, NATIVE)] if held_to_peer else []
        best = max((r for r in reached if r is not None), default=None)
        lines.append(f"| {t.label} | {ratio:.2f} | {t.at_least:.2f} | {'yes' if ratio >= t.at_least else 'NO'} | "
                     f"{'' if best is None else f'{best:.2f}'} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""
