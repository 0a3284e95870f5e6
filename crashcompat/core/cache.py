"""crashcompat's files under the user's cache directory (``$XDG_CACHE_HOME/crashcompat``, else
``~/.cache/crashcompat``): what is slow to compute once per vmlinux and never changes for it — the parsed
ELF symbol table, GDB's index and type layouts.  Every writer goes through :func:`write_atomically`, so
sessions that end together never leave a torn file, and a cache that cannot be written only costs the next
session the work again.
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
    return True
