"""Helpers for the tests that run inside GDB's Python (see ``tests/gdb/gdbtools.py``)."""

from __future__ import annotations

import json
import os
from typing import Any

import gdb


def context() -> dict[str, Any]:
    """What the host test set up: ``dump`` (the lab manifest entry), ``vmlinux``, ``mode``."""
    data: dict[str, Any] = json.loads(os.environ.get("CRASHCOMPAT_GDBTEST", "{}"))
    return data


def execute(command: str) -> str:
    """A GDB command's output."""
    return str(gdb.execute(command, to_string=True))
