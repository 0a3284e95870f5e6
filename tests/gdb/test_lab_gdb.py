"""The GDB backend on the lab's dumps against drgn as the oracle: the ELF symbol table gives drgn's symbols
for names and addresses, the bridge serves drgn's memory, and GDB's own ``bt`` of a sleeping task shows
the frames drgn unwinds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from gdbtools import bridge_command, run_gdb

from crashcompat.core.elf import ElfFile
from crashcompat.gdb.symtab import SymbolTable, preferred

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def drgn_target(lab_manifest: Any) -> Any:
    from crashcompat.drgn import open_dump_target

    return open_dump_target(lab_manifest.default_dump.path, lab_manifest.vmlinux)


@pytest.fixture(scope="module")
def table(lab_manifest: Any) -> SymbolTable:
    return SymbolTable.vmlinux(
        ElfFile(lab_manifest.vmlinux), int(lab_manifest.default_dump.facts["kaslr_offset"])
    )


def _key(sym: Any) -> tuple[str, int, int, str] | None:
    return None if sym is None else (sym.name, sym.address, sym.size, sym.binding.value)


def test_symbols_by_name_match_drgn(drgn_target: Any, table: SymbolTable) -> None:
    names = {s.name for s in list(table)[::97]}
    names |= {
        "runqueues",
        "__init_begin",
        "__per_cpu_load",
        "_text",
        "jiffies",
        "L4_PAGE_OFFSET",
        "init_top_pgt",
    }
    mismatched = []
    for name in sorted(names):
        try:
            expected = _key(drgn_target.lookup_symbol(name))
        except LookupError:
            expected = None
        got = _key(preferred(table.by_name(name)))
        if got != expected:
            mismatched.append(f"{name}: drgn {expected} ours {got}")
    assert not mismatched, "\n".join(mismatched[:20])


def test_symbols_by_address_match_drgn(drgn_target: Any, table: SymbolTable) -> None:
    addresses: set[int] = set()
    for sym in list(table)[::53]:
        addresses |= {
            sym.address,
            sym.address + 1,
            sym.address + max(sym.size, 1) - 1,
            sym.address + sym.size,
        }
    addresses |= {drgn_target.symbol_address("_end") + d for d in (-1, 0, 0x1000)}
    mismatched = []
    for address in sorted(addresses):
        got, expected = _key(table.at(address)), _key(drgn_target.symbol_at(address))
        if got != expected:
            mismatched.append(f"{address:#x}: drgn {expected} ours {got}")
    assert not mismatched, f"{len(mismatched)} of {len(addresses)}:\n" + "\n".join(mismatched[:20])


FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\w+)")


@pytest.mark.gdb
def test_gdb_bt_of_sleeping_tasks_through_the_bridge(lab_manifest: Any, drgn_target: Any) -> None:
    """GDB's own unwinder (DWARF CFI), started from the registers the bridge gives a sleeping task, finds
    the frames drgn finds, down to the system call entry."""
    dump = lab_manifest.default_dump
    sleepers = dump.facts["sleepers"]
    commands = [
        f"file {lab_manifest.vmlinux}",
        f"target remote | {bridge_command(lab_manifest.vmlinux, dump.path)}",
    ]
    commands.append(
        "crash sys > /dev/null"
    )  # the first crash command moves GDB's symbols to the KASLR offset
    for sleeper in sleepers:
        commands += [
            f"python [t.switch() for t in gdb.selected_inferior().threads() if t.ptid[1] == {sleeper['pid']}]",
            f"echo ==={sleeper['pid']}===\\n",
            "bt",
        ]
    out = run_gdb(commands).stdout
    for sleeper in sleepers:
        section = out.split(f"==={sleeper['pid']}===\n", 1)[1].split("===", 1)[0]
        gdb_names = [m.group(1) for line in section.splitlines() if (m := FRAME.match(line))]
        drgn_names = [frame.name for frame in drgn_target.prog.stack_trace(sleeper["pid"]) if frame.name]
        cut = drgn_names.index("do_syscall_64") + 1
        assert gdb_names[:cut] == drgn_names[:cut], f"{sleeper['comm']}:\n{section}"
