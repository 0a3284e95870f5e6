"""crashcompat's cache directory stays within its size cap (least recently used files go first)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crashcompat.core import cache


def _file(path: Path, size: int, used: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ("", 1 << 30),
        ("0", 0),
        ("500", 500),
        ("2K", 2048),
        ("1.5M", 3 << 19),
        ("2GiB", 2 << 30),
        ("x", 1 << 30),
    ],
)
def test_size_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, limit: int) -> None:
    monkeypatch.setenv(cache.CACHE_SIZE_ENV, value)
    assert cache.size_limit() == limit


def test_trim_removes_least_recently_used_first(tmp_path: Path) -> None:
    old = _file(tmp_path / "gdb-index" / "old.gdb-index", 400, 1000)
    middle = _file(tmp_path / "symtab-a.bin", 400, 2000)
    new = _file(tmp_path / "gdb-layouts" / "new.json", 400, 3000)
    assert cache.trim(limit=900, root=str(tmp_path)) == 400
    assert not old.exists() and middle.exists() and new.exists()
    assert cache.trim(limit=0, root=str(tmp_path)) == 0  # no cap
    assert cache.trim(limit=10, root=str(tmp_path)) == 800


def test_writes_keep_the_cache_under_its_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(cache.CACHE_SIZE_ENV, "1000")
    stale = _file(tmp_path / "crashcompat" / "stale.bin", 900, 1000)
    assert cache.write_atomically(cache.cache_path("fresh.bin"), lambda f: f.write(b"y" * 500))
    assert not stale.exists()
    assert Path(cache.cache_path("fresh.bin")).read_bytes() == b"y" * 500
