"""Tests run inside GDB (``in_gdb/``), driven from here: the frontend without a target, and each lab dump
opened by GDB itself (ELF as a core file) and through ``crashcompat-gdbserver`` (every format)."""

from __future__ import annotations

from typing import Any

import pytest
from gdbtools import open_dump_commands, pytest_in_gdb

from crashcompat.testing.lab import expect_failure

pytestmark = pytest.mark.gdb


def test_frontend() -> None:
    pytest_in_gdb("gdbtest_frontend.py")


def _run_dump(lab_manifest: Any, lab_dump: Any, mode: str) -> None:
    context = {"dump": dict(lab_dump), "vmlinux": lab_manifest.vmlinux, "mode": mode}
    # The bridge hands GDB the vmlinux itself (qXfer:exec-file) when GDB has none.
    pytest_in_gdb("gdbtest_dump.py", open_dump_commands(lab_manifest.vmlinux, lab_dump.path, mode), context)


#: Series where GDB cannot run these checks yet -> why; strict expected failures (issue 15 stays open).
KNOWN_BUGS: dict[str, str] = {}


def _known_bug(request: pytest.FixtureRequest, lab_dump: Any) -> None:
    expect_failure(request, KNOWN_BUGS.get(lab_dump.kernel))


@pytest.mark.lab
@pytest.mark.lab_dumps(format="elf")  # GDB opens only ELF dumps as core files
def test_dump_core(lab_manifest: Any, lab_dump: Any, request: pytest.FixtureRequest) -> None:
    _known_bug(request, lab_dump)
    _run_dump(lab_manifest, lab_dump, "core")


@pytest.mark.lab
def test_dump_bridge(lab_manifest: Any, lab_dump: Any, request: pytest.FixtureRequest) -> None:
    _known_bug(request, lab_dump)
    _run_dump(lab_manifest, lab_dump, "bridge")
