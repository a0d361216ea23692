"""LAZYFUSE_DEBUG logging: 1 logs each kernel launch and each refusal to fuse,
2 also prints the generated source."""
from __future__ import annotations

import os
import sys


def level() -> int:
    try:
        return int(os.environ.get("LAZYFUSE_DEBUG", "0"))
    except ValueError:
        return 0


def log(min_level: int, message: str) -> None:
    if level() >= min_level:
        print(f"[lazyfuse] {message}", file=sys.stderr)


def fusion_enabled() -> bool:
    return os.environ.get("LAZYFUSE_FUSION", "1") != "0"
