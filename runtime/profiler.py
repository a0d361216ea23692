"""`lazyfuse.profile()`: records each kernel launched inside the block."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class KernelRecord:
    name: str
    device: str
    source: str
    bytes: int
    seconds: float = 0.0
    _timer: Optional[Callable[[], float]] = field(default=None, repr=False)

    @property
    def gbps(self) -> float:
        return self.bytes / self.seconds / 1e9 if self.seconds > 0 else 0.0


class Profile:
    """Context manager; `kernels` holds a KernelRecord per launch, timed on exit."""

    active: list["Profile"] = []

    def __init__(self):
        self.kernels: list[KernelRecord] = []

    def __enter__(self) -> "Profile":
        Profile.active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        Profile.active.remove(self)
        for record in self.kernels:
            if record._timer is not None:
                record.seconds = record._timer()
                record._timer = None

    @staticmethod
    def record(record: KernelRecord) -> None:
        for profile in Profile.active:
            profile.kernels.append(record)

    def __str__(self) -> str:
        rows = [f"{'kernel':<44} {'device':<10} {'time (us)':>10} {'MB':>9} {'GB/s':>7}"]
        for r in self.kernels:
            rows.append(f"{r.name[:44]:<44} {r.device:<10} {r.seconds * 1e6:>10.1f} {r.bytes / 1e6:>9.2f} {r.gbps:>7.1f}")
        total = sum(r.seconds for r in self.kernels)
        rows.append(f"{len(self.kernels)} kernel(s), {total * 1e3:.3f} ms")
        return "\n".join(rows)

    __repr__ = __str__
