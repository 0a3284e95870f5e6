"""``rd``, ``ptov``, ``wr``, ``list``, ``search`` and ``dis`` on the GDB backend (``in_gdb/gdbtest_memory.py``):
an ELF dump GDB opens as a core file, and a compressed dump through ``crashcompat-gdbserver``."""

from __future__ import annotations

from typing import Any

import pytest
from gdbtools import open_dump_commands, pytest_in_gdb_on_dump

pytestmark = [pytest.mark.gdb, pytest.mark.lab]


# makedumpfile's ELF dump lacks pages in use (fact_pages_missing): QEMU's ELF dump is the core file here
@pytest.mark.lab_dumps("qemu-sysrq-elf", where=lambda d: not d.reference_error)
def test_memory_on_core_file(lab_manifest: Any, lab_dump: Any) -> None:
    setup = open_dump_commands(lab_manifest.vmlinux, lab_dump.path, "core")
    pytest_in_gdb_on_dump("gdbtest_memory.py", lab_manifest, lab_dump, setup)


@pytest.mark.lab_dumps("kdump-null-zlib-d31", where=lambda d: not d.reference_error)
def test_memory_on_bridge(lab_manifest: Any, lab_dump: Any) -> None:
    setup = open_dump_commands(lab_manifest.vmlinux, lab_dump.path, "bridge", remote_timeout=60)
    pytest_in_gdb_on_dump("gdbtest_memory.py", lab_manifest, lab_dump, setup)
