"""The cache folder (runtime/disk_cache.py): files written atomically, read back,
and each folder kept under its budget by removing the least recently used."""
from __future__ import annotations

import os

from lazyfuse.runtime import disk_cache


def test_the_least_recently_used_files_past_the_budget_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYFUSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(disk_cache, "BUDGET_BYTES", 3000)
    monkeypatch.setattr(disk_cache, "_pruned", set())
    folder = disk_cache.directory("programs")
    folder.mkdir(parents=True)
    for i in range(5):
        (folder / f"f{i}").write_bytes(bytes([i]) * 1000)
        os.utime(folder / f"f{i}", (1000 + i, 1000 + i))  # written long ago, f0 first
    assert disk_cache.read(folder / "f0") == bytes([0]) * 1000  # f0 is now the last used
    assert disk_cache.read(folder / "absent") is None
    disk_cache.write(folder / "new", b"n" * 1000)
    assert sorted(p.name for p in folder.iterdir()) == ["f0", "f4", "new"]  # 3000 bytes kept
    assert (folder / "new").read_bytes() == b"n" * 1000
