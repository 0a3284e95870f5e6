"""Run in a subprocess by the benchmark: drgn 0.3.0's own crash commands (``%crash``) on one dump.

Usage: ``python drgn_driver.py VMCORE VMLINUX FORMAT LEADING_MARKS < commands``, one command per line, as
``drgn.commands.run_command(prog, "crash <command>")`` runs them.  Prints the benchmark's marks
(:data:`crashbench.measure.MARK`) with the time itself: after opening the dump and loading the vmlinux's
debug info (drgn's start-up, as ``crash.py``-style scripts do it), LEADING_MARKS times in a row (the
marks' cost, zero here), and after each command.  A command that raises prints ``@@ERR@@ <type>: <message>``.

Also ``python drgn_driver.py --pte VMCORE VMLINUX FORMAT ADDRESS``: the page-table entry that maps the kernel
virtual ADDRESS (walked from ``init_mm.pgd``), printed in hex, for the ``pte`` benchmark.
"""

from __future__ import annotations

import sys
import time

import drgn
from drgn.commands import run_command

MARK = "@@MARK@@"  # crashbench.measure.MARK (this file runs standalone)
ERROR_TAG = "@@ERR@@"
PRESENT, HUGE = 0x1, 0x80
ADDRESS_MASK = 0x000FFFFFFFFFF000


def mark() -> None:
    sys.stdout.write(f"{MARK}{time.time():.6f}\n")
    sys.stdout.flush()


def open_program(vmcore: str, vmlinux: str, fmt: str) -> drgn.Program:
    """drgn's program on *vmcore*; kdump-compressed and flattened files need the platform given."""
    prog = drgn.Program(drgn.host_platform) if fmt in ("kdump-compressed", "flattened") else drgn.Program()
    prog.set_core_dump(vmcore)
    prog.load_debug_info([vmlinux])
    return prog


def pte_of(prog: drgn.Program, address: int) -> int:
    """The last page-table entry of the kernel virtual *address*'s walk (a PTE, or a huge PMD/PUD)."""
    try:
        levels = 5 if prog["__pgtable_l5_enabled"].value_() else 4
    except KeyError:
        levels = 4
    table, physical = prog["init_mm"].pgd.value_(), False  # the top table by its virtual address
    entry = 0
    for level in range(levels, 0, -1):
        index = (address >> (12 + 9 * (level - 1))) & 0x1FF
        entry = int.from_bytes(prog.read(table + index * 8, 8, physical), "little")
        if not entry & PRESENT or (level in (2, 3) and entry & HUGE):
            break
        table, physical = entry & ADDRESS_MASK, True
    return entry


def main(argv: list[str]) -> int:
    if argv[:1] == ["--pte"]:
        vmcore, vmlinux, fmt, address = argv[1:5]
        print(f"{pte_of(open_program(vmcore, vmlinux, fmt), int(address, 16)):x}")
        return 0
    vmcore, vmlinux, fmt, leading = argv[:4]
    prog = open_program(vmcore, vmlinux, fmt)
    for _ in range(int(leading)):
        mark()
    for line in sys.stdin:
        command = line.strip()
        if not command:
            continue
        if command == "q":
            break
        try:
            run_command(prog, f"crash {command}", globals={})
        except Exception as e:  # the command's own failure is a result of the benchmark
            sys.stdout.write(f"{ERROR_TAG} {type(e).__name__}: {e}\n")
        mark()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
