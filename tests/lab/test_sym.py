"""``sym`` and the symbol table on the lab's real dumps.

Oracles: Debian crash 8.0.2 — the lab's reference files, and (when crash is installed) a run of crash on the
same dump for the command lines the lab did not record (the whole ``sym -l``, ``sym -M``, errors, ``-p``/
``-n``/``-s``, the table after ``mod -s``); binutils ``nm`` on the vmlinux for every type letter; the symbol
addresses and the KASLR offset the guest read from ``/proc/kallsyms``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from crash_oracle import run_crash
from line_match import assert_like_crash

from crashcompat.core import elf
from crashcompat.core.kernel import symbols
from crashcompat.core.session import Session

pytestmark = pytest.mark.lab


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Iterator[Session]:
    session = crash_session(lab_dump)
    yield session
    session.run("mod -D", echo=False)


def sym_lines(lab_dump: Any) -> list[str]:
    """The dump's usable crash 8.0.2 reference command lines of ``sym``."""
    return [
        line
        for line in lab_dump.get("reference", {})
        if line.split()[0] == "sym" and not lab_dump.known_wrong(line)
    ]


@pytest.mark.lab_dumps(where=lambda d: bool(sym_lines(d)))
def test_sym_matches_crash_references(lab_dump: Any, session: Session) -> None:
    for line in sym_lines(lab_dump):
        reference = lab_dump.reference(line)
        if "pipe operation failed" in reference:  # crash's own failure writing into "| head"
            continue
        assert_like_crash(session.run(line, echo=False), reference, line)


def oracle_commands(lab_dump: Any, lab_manifest: Any) -> list[str]:
    deref = int(lab_dump.facts["symbols"]["crashme_deref"], 16)
    return [
        "sym -l",
        "sym -M",
        "sym -q crashme",
        "sym -Q crashme",
        "sym crashme_magic",
        f"sym {deref + 5:x}",
        f"sym -s {deref + 5:x}",
        "sym panic schedule jiffies",
        "sym -s panic",
        "sym -p -n jiffies",
        "sym -p -n crashme_deref",
        "sym _text _stext",
        "sym nosuchsym",
        "sym ffff000000000000",
        f"mod -s crashme {lab_manifest.crashme_ko}",
        "sym -m crashme",
        f"sym {deref + 5:x}",
        "sym -q crashme",
        "sym crashme_magic",
    ]


@pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf", where=lambda d: not d.reference_error)
def test_sym_matches_crash_run(lab_dump: Any, session: Session, lab_manifest: Any) -> None:
    commands = oracle_commands(lab_dump, lab_manifest)
    crash = run_crash(lab_manifest.vmlinux, lab_dump.path, commands)
    assert crash, "crash printed nothing"
    outputs: dict[str, str] = {}
    for command in commands:
        outputs.setdefault(command, session.run(command, echo=False))  # first run, as crash's parser keeps
    for command in commands:
        if command.startswith("mod -s"):
            continue
        assert_like_crash(outputs[command], crash[command], command)


def test_symbols_match_facts(lab_dump: Any, session: Session) -> None:
    kernel = session.kernel
    assert symbols._kernel_table(kernel).offset == lab_dump.facts["kaslr_offset"]  # type: ignore[union-attr]
    for name, address in lab_dump.facts["symbols"].items():
        assert symbols.address_of(kernel, name) == int(address, 16), name
        found = symbols.lookup(kernel, int(address, 16))
        assert found is not None and found.address == int(address, 16)


@pytest.mark.lab_dumps("kdump-null-zlib-d31")
@pytest.mark.skipif(shutil.which("nm") is None, reason="binutils nm not installed")
def test_kernel_table_agrees_with_nm(lab_dump: Any, session: Session, lab_manifest: Any) -> None:
    """Every vmlinux symbol crash keeps is an nm symbol (name before any clone suffix, same letter) at
    the vmlinux value plus the KASLR offset; every nm symbol from ``_text`` on is kept."""
    listed = subprocess.run(["nm", lab_manifest.vmlinux], capture_output=True, text=True, check=True).stdout
    offset = lab_dump.facts["kaslr_offset"]
    nm = set()
    for line in listed.splitlines():
        value, letter, name = line[:16], line[17], line[19:]
        if value.strip():
            nm.add((int(value, 16), letter, symbols.strip_symbol_end(name)))
    text = int(lab_dump.facts["symbols"]["_text"], 16) - offset
    ours = set()
    for sym in symbols.kernel_symbols(session.kernel):
        value = sym.address - offset if sym.address >= text + offset else sym.address
        ours.add((value, sym.type_char, sym.name))
    sections = {sec.name for sec in elf.ElfFile(lab_manifest.vmlinux).sections}
    assert {s for s in ours if s[2] not in sections} <= nm  # nm hides section symbols
    assert {s for s in nm if s[0] >= text} <= ours
