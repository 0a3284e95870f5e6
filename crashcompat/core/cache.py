"""crashcompat's files under the user's cache directory (``$XDG_CACHE_HOME/crashcompat``, else
``~/.cache/crashcompat``): what is slow to compute once per vmlinux and never changes for it — the parsed
ELF symbol table, GDB's index and type layouts.  Every writer goes through :func:`write_atomically`, so
sessions that end together never leave a torn file, and a cache that cannot be written only costs the next
session the work again.

The cache is bounded: :func:`trim` removes the least recently used files until the whole directory fits in
``CRASHCOMPAT_CACHE_SIZE`` bytes (a number with an optional ``K``, ``M`` or ``G`` suffix; 1 GiB when unset;
``0`` turns the cache's trimming off).  Every write trims, and so does each GDB session before GDB writes its
index there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import BinaryIO


def cache_path(*parts: str) -> str:
    """``$XDG_CACHE_HOME/crashcompat/<parts...>`` (the directory is not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "crashcompat", *parts)


#: The cache's size cap when ``CRASHCOMPAT_CACHE_SIZE`` is not set: 1 GiB.
DEFAULT_CACHE_SIZE = 1 << 30
CACHE_SIZE_ENV = "CRASHCOMPAT_CACHE_SIZE"
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def size_limit() -> int:
    """The cache's cap in bytes from ``CRASHCOMPAT_CACHE_SIZE`` (``0``: no cap); a value that does not
    parse gives the default."""
    text = os.environ.get(CACHE_SIZE_ENV, "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return DEFAULT_CACHE_SIZE
    number, suffix = (text[:-1], text[-1]) if text[-1] in _SUFFIXES else (text, "")
    try:
        value = float(number)
    except ValueError:
        return DEFAULT_CACHE_SIZE
    return max(0, int(value * _SUFFIXES[suffix]))


def trim(limit: int | None = None, root: str | None = None) -> int:
    """Remove the least recently used files (latest of access and modification time) under the cache
    until what is left takes at most *limit* bytes (default :func:`size_limit`; ``0`` means no cap).

    :returns: the bytes removed.
    """
    limit = size_limit() if limit is None else limit
    root = cache_path() if root is None else root
    if limit <= 0 or not os.path.isdir(root):
        return 0
    files: list[tuple[float, int, str]] = []
    total = 0
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
            total += st.st_size
    removed = 0
    for _used, size, path in sorted(files):
        if total - removed <= limit:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += size
    return removed


def write_atomically(path: str, write: Callable[[BinaryIO], object]) -> bool:
    """Create *path* with what *write* puts in the open file, through a temporary file renamed into place.

    :returns: whether the file was written (``False`` when the cache is not writable).
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as f:
            write(f)
        os.replace(temporary, path)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False
    trim()
    return True
