"""The type model and crash's value printer on GDB's types (``in_gdb/gdbtest_data.py``): an ELF dump GDB
opens as a core file, and a compressed dump through ``crashcompat-gdbserver``."""

from __future__ import annotations

from typing import Any

import pytest
from gdbtools import open_dump_commands, pytest_in_gdb_on_dump

pytestmark = [pytest.mark.gdb, pytest.mark.lab]


@pytest.mark.lab_dumps("kdump-null-elf-d31", where=lambda d: not d.reference_error)
def test_data_on_core_file(lab_manifest: Any, lab_dump: Any) -> None:
    setup = open_dump_commands(lab_manifest.vmlinux, lab_dump.path, "core")
    pytest_in_gdb_on_dump("gdbtest_data.py", lab_manifest, lab_dump, setup)


@pytest.mark.lab_dumps("kdump-null-zlib-d31", where=lambda d: not d.reference_error)
def test_data_on_bridge(lab_manifest: Any, lab_dump: Any) -> None:
    # The bridge opens the dump before it answers GDB's first packet: on a busy machine that takes longer
    # than GDB's default 2 s remote timeout, and GDB's retry then gets a stale reply.
    setup = open_dump_commands(lab_manifest.vmlinux, lab_dump.path, "bridge", remote_timeout=60)
    pytest_in_gdb_on_dump("gdbtest_data.py", lab_manifest, lab_dump, setup)
