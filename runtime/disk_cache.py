"""Where lazyfuse keeps what a later process can reuse: built OpenCL programs
(kernels/program_cache.py) and schedules (runtime/schedule_store.py).

LAZYFUSE_CACHE_DIR moves it (default ~/.cache/lazyfuse); LAZYFUSE_NO_CACHE=1
turns it off. Files are written atomically, so a concurrent reader never sees
half of one; a cache that cannot be written only costs the next process the
work again. Each folder is kept under BUDGET_BYTES: a file read is marked as
used, and the first write of a process removes the least recently used files
past the budget (a test suite's programs had grown to 1.1 GB in 12,845 files).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

BUDGET_BYTES = 512 << 20

_pruned: set[Path] = set()  # folders this process has kept under the budget


def directory(kind: str) -> Path:
    """The cache's folder for one kind of file."""
    return Path(os.environ.get("LAZYFUSE_CACHE_DIR") or Path.home() / ".cache" / "lazyfuse") / kind


def enabled() -> bool:
    return os.environ.get("LAZYFUSE_NO_CACHE", "0") in ("", "0")


def read(path: Path) -> Optional[bytes]:
    """The file's bytes, the file marked as just used; None when it cannot be read."""
    try:
        data = path.read_bytes()
        os.utime(path)
    except OSError:
        return None
    return data


def write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        return
    if path.parent not in _pruned:
        _pruned.add(path.parent)
        _keep_under_budget(path.parent)


def _keep_under_budget(folder: Path) -> None:
    """Remove the least recently used files of `folder` past BUDGET_BYTES."""
    files = []
    for entry in os.scandir(folder):
        try:
            stat = entry.stat()
        except OSError:  # removed meanwhile by another process
            continue
        files.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    for _, size, name in sorted(files):
        if total <= BUDGET_BYTES:
            break
        try:
            os.remove(name)
        except OSError:
            pass
        total -= size
