"""The settings read from the environment at every use (tests and the benchmarks
change them while running): LAZYFUSE_DEBUG logging (1 logs each kernel launch
and each refusal to fuse, 2 also prints the generated source) and
LAZYFUSE_FUSION=0 (one kernel per op)."""
from __future__ import annotations

import os
import sys

# os.environ.get costs ~1 us (it encodes the name and decodes the value), and a
# realize reads these settings once per launch: on POSIX, os.environ keeps its
# table of encoded names and values up to date, and that table is read directly
_ENCODED_ENVIRON = getattr(os.environ, "_data", None) if os.name == "posix" else None


def _setting(name: bytes, default: str) -> str:
    if _ENCODED_ENVIRON is None:
        return os.environ.get(name.decode(), default)
    value = _ENCODED_ENVIRON.get(name)
    return default if value is None else value.decode()


def level() -> int:
    value = _setting(b"LAZYFUSE_DEBUG", "0")
    if value == "0":
        return 0
    try:
        return int(value)
    except ValueError:
        return 0


def log(min_level: int, message: str) -> None:
    if level() >= min_level:
        print(f"[lazyfuse] {message}", file=sys.stderr)


def fusion_enabled() -> bool:
    return _setting(b"LAZYFUSE_FUSION", "1") != "0"
