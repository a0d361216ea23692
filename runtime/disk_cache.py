"""Where lazyfuse keeps what a later process can reuse: built OpenCL programs
(kernels/program_cache.py) and schedules (runtime/schedule_store.py).

LAZYFUSE_CACHE_DIR moves it (default ~/.cache/lazyfuse); LAZYFUSE_NO_CACHE=1
turns it off. Files are written atomically, so a concurrent reader never sees
half of one; a cache that cannot be written only costs the next process the
work again.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def directory(kind: str) -> Path:
    """The cache's folder for one kind of file."""
    return Path(os.environ.get("LAZYFUSE_CACHE_DIR") or Path.home() / ".cache" / "lazyfuse") / kind


def enabled() -> bool:
    return os.environ.get("LAZYFUSE_NO_CACHE", "0") in ("", "0")


def write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        pass
