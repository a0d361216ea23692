"""Schedules kept on disk, so a new process runs a graph it ran before without
scheduling or rendering it again.

Schedules in memory (runtime/realize.py) live as long as their process, and a
new run of the same script scheduled and rendered every graph again: 40% of
a later run of PyTorch's nn.Transformer tutorial (its training loop took
4.2-4.6 s with kernels from the program cache, 2.5-2.7 s with schedules too). A stored schedule holds its
kernels' code and launch sizes and, for each launch, the positions of its
outputs and arguments in the graph's order (as a schedule in memory does),
as compressed JSON (that tutorial's schedules: 520 KB each, 73 KB compressed).
It is found by a digest of the graph's structure, the device's
identity and lazyfuse's scheduler and renderers' own source, so a graph
differing in anything the schedule depends on, or an edit to lazyfuse,
finds nothing. Where the files are kept: runtime/disk_cache.py.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import zlib
from pathlib import Path
from typing import Optional

from . import disk_cache

# the test suite turns this off: its tests count schedules and change the scheduler's constants
STORE_SCHEDULES = True


def digest(key: tuple, device_identity: Optional[str]) -> Optional[str]:
    """The file name for a schedule of `key` (a schedule key of realize.py), or None
    when schedules are not stored, the device has no identity (its launches cannot be
    described) or the key's text would name objects by address."""
    if device_identity is None or not (STORE_SCHEDULES and disk_cache.enabled()):
        return None
    text = repr(key)
    if " at 0x" in text:  # an argument without a value-based repr: it would differ in every process
        return None
    return hashlib.sha256("\0".join([_source_fingerprint(), device_identity, text]).encode()).hexdigest()


def load(name: str) -> Optional[dict]:
    data = disk_cache.read(_path(name))
    try:
        return json.loads(zlib.decompress(data)) if data is not None else None
    except (ValueError, zlib.error):
        return None


def save(name: str, schedule: dict) -> None:
    disk_cache.write(_path(name), zlib.compress(json.dumps(schedule).encode()))


def _path(name: str) -> Path:
    return disk_cache.directory("schedules") / f"{name}.json.z"


@functools.lru_cache(maxsize=None)
def _source_fingerprint() -> str:
    """A digest of the scheduler's and the renderers' source files."""
    folders = [Path(__file__).parent] + [Path(p) for p in importlib.util.find_spec("lazyfuse.kernels")
                                         .submodule_search_locations]
    contents = hashlib.sha256()
    for path in sorted(p for folder in folders for p in folder.glob("*.py")):
        contents.update(path.name.encode() + b"\0" + path.read_bytes())
    return contents.hexdigest()
