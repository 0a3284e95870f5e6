"""x86-64 disassembly in GDB's AT&T syntax, by binutils' ``objdump`` (the same libopcodes GDB uses), for
targets that have no disassembler of their own (drgn).  Inside GDB, :class:`crashcompat.core.target.Target`
implementations use GDB's own.

The bytes are handed over as a raw binary image placed at its address (``objdump -b binary
--adjust-vma``), so objdump knows no symbols: operands that are addresses come out bare (``call
0xffffffff81234567``, ``# 0xffffffff82345678``) and the caller names them, as crash renames GDB's names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

__all__ = ["DisassemblerError", "Instruction", "objdump_available", "objdump_disassemble"]

#: ``objdump`` prints ``ADDRESS:\tTEXT`` per instruction (``--no-show-raw-insn``).
_LINE = re.compile(r"^\s*([0-9a-f]+):\t(.*)$")


class DisassemblerError(Exception):
    """No disassembler, or it failed."""


@dataclass(frozen=True)
class Instruction:
    """One instruction: its address, length in bytes and GDB-style text (``mov    %rsp,%rbp``)."""

    address: int
    length: int
    text: str


def objdump_available() -> bool:
    return shutil.which("objdump") is not None


def objdump_disassemble(address: int, code: bytes, timeout: float = 30.0) -> list[Instruction]:
    """Disassemble *code* placed at *address* with ``objdump``; the last instruction may be cut short by
    the end of *code* (then objdump shows ``(bad)``: callers pass some bytes more than they need).

    :raises DisassemblerError: objdump is missing or fails.
    """
    objdump = shutil.which("objdump")
    if objdump is None:
        raise DisassemblerError("objdump not found (install binutils)")
    fd, path = tempfile.mkstemp(suffix=".bin")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(code)
        proc = subprocess.run(
            [
                objdump,
                "-D",
                "-z",  # zero bytes too (objdump skips a run of them as "...", GDB decodes them)
                "-b",
                "binary",
                "-m",
                "i386:x86-64",
                f"--adjust-vma={address:#x}",
                "--no-show-raw-insn",
                "-w",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise DisassemblerError(str(e)) from None
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise DisassemblerError(proc.stderr.strip() or f"objdump exited with {proc.returncode}")
    found: list[tuple[int, str]] = []
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            found.append((int(m.group(1), 16), m.group(2).rstrip()))
    end = address + len(code)
    return [
        Instruction(at, (found[i + 1][0] if i + 1 < len(found) else end) - at, text)
        for i, (at, text) in enumerate(found)
    ]
