"""Dump headers read without drgn: format, crash's ``[PARTIAL DUMP]`` rule, notes and NT_PRSTATUS registers,
in plain, flattened and ELF files built here byte by byte from the formats' definitions."""

from __future__ import annotations

import struct
from pathlib import Path

from crashcompat.core import dumpfile
from crashcompat.core.dumpfile import (
    NT_DISKDUMP,
    NT_PRSTATUS,
    USER_REGS,
    Note,
    parse_notes,
    prstatus_pid,
    prstatus_registers,
    read_header,
)
from crashcompat.core.target import DumpFormat

BLOCK = 4096


def note(name: str, n_type: int, desc: bytes) -> bytes:
    raw = name.encode() + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(raw), len(desc), n_type) + pad(raw) + pad(desc)


def prstatus(pid: int, regs: dict[str, int]) -> bytes:
    """``struct elf_prstatus`` (x86_64, 336 bytes): ``pr_pid`` at 32, ``pr_reg`` at 112."""
    desc = bytearray(336)
    struct.pack_into("<i", desc, 32, pid)
    struct.pack_into("<27Q", desc, 112, *(regs.get(name, 0) for name in USER_REGS))
    return bytes(desc)


REGS = {
    "rip": 0xFFFFFFFF81000010,
    "rsp": 0xFFFFC90000003F00,
    "orig_rax": 2**64 - 1,
    "eflags": 0x246,
    "cs": 0x10,
}
NOTES = note("CORE", NT_PRSTATUS, prstatus(1, REGS)) + note("VMCOREINFO", 0, b"OSRELEASE=6.1.0\n")


def kdump(dump_level: int, notes: bytes = NOTES) -> bytes:
    """A kdump-compressed file: ``struct disk_dump_header`` (version 6), ``struct kdump_sub_header`` one
    block later, the notes in the sub-header's second block, then one block of bitmaps (no page dumped)."""
    header = bytearray(BLOCK)
    header[:8] = b"KDUMP   "
    struct.pack_into("<i", header, 8, 6)
    struct.pack_into("<IiiIi", header, 424, 0, BLOCK, 2, 1, 64)
    sub = bytearray(BLOCK)
    struct.pack_into("<Qi", sub, 0, 0x1000000, dump_level)
    struct.pack_into("<qQ", sub, 48, 2 * BLOCK, len(notes))
    struct.pack_into("<Q", sub, 96, 64)
    return bytes(header + sub) + notes.ljust(BLOCK, b"\0") + bytes(BLOCK)


def flatten(data: bytes, chunk: int) -> bytes:
    """makedumpfile's flattened format: 4 KiB header, then big-endian ``{offset, size}`` records, -1 ends."""
    out = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    for offset in range(0, len(data), chunk):
        piece = data[offset : offset + chunk]
        out += struct.pack(">qq", offset, len(piece)) + piece
    return bytes(out + struct.pack(">qq", -1, -1))


def elf_core(notes: bytes) -> bytes:
    """An ELF64 core with one PT_NOTE segment and an empty PT_LOAD."""
    ehdr = bytearray(64)
    ehdr[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHI", ehdr, 16, 4, 62, 1)
    struct.pack_into("<QQQ", ehdr, 24, 0, 64, 0)
    struct.pack_into("<HHHHHH", ehdr, 52, 64, 56, 2, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 0, 64 + 2 * 56, 0, 0, len(notes), 0, 4)
    phdr += struct.pack("<IIQQQQQQ", 1, 0, 64 + 2 * 56 + len(notes), 0, 0, 0, 0x1000, 0x1000)
    return bytes(ehdr) + phdr + notes


def test_kdump_header(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(kdump(31))
    header = read_header(str(path))
    assert (header.format, header.dump_level, header.partial) == (DumpFormat.KDUMP_COMPRESSED, 31, True)
    assert [(n.name, n.type) for n in header.notes] == [("CORE", NT_PRSTATUS), ("VMCOREINFO", 0)]
    path.write_bytes(kdump(0))
    assert not read_header(str(path)).partial


def test_flattened_header_in_small_records(tmp_path: Path) -> None:
    """QEMU writes many records; the header, sub-header and notes are found across record bounds."""
    path = tmp_path / "vmcore.flat"
    path.write_bytes(flatten(kdump(1), 1000))
    header = read_header(str(path))
    assert (header.format, header.dump_level, header.partial) == (DumpFormat.FLATTENED, 1, True)
    assert prstatus_registers(header.notes[0].desc) == prstatus_registers(parse_notes(NOTES)[0].desc)


def test_flattened_reads_cover_holes_and_stop_early(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    path = tmp_path / "flat"
    path.write_bytes(flatten(data, 300))
    with open(path, "rb") as f:
        dump = dumpfile.DumpFile(f)
        assert dump.flattened
        assert dump.read(250, 100) == data[250:350]
        assert len(dump._records) < 3
        assert dump.read(len(data) - 10, 100) == data[-10:]


def test_elf_partial_only_with_a_diskdump_note(tmp_path: Path) -> None:
    """crash's rule for ELF dumps (netdump.c): [PARTIAL DUMP] only with a non-zero NT_DISKDUMP note."""
    path = tmp_path / "vmcore.elf"
    path.write_bytes(elf_core(NOTES))
    header = read_header(str(path))
    assert (header.format, header.partial) == (DumpFormat.ELF, False)
    assert header.notes == parse_notes(NOTES)
    path.write_bytes(elf_core(NOTES + note("CORE", NT_DISKDUMP, struct.pack("<Q", 1))))
    assert read_header(str(path)).partial


def test_prstatus_registers() -> None:
    desc = prstatus(3, REGS)
    assert prstatus_pid(desc) == 3
    registers = prstatus_registers(desc)
    assert list(registers) == list(USER_REGS)
    assert {k: registers[k] for k in REGS} == REGS


def test_notes_stop_at_garbage() -> None:
    assert parse_notes(NOTES + b"\xff" * 7) == [
        Note("CORE", NT_PRSTATUS, prstatus(1, REGS)),
        Note("VMCOREINFO", 0, b"OSRELEASE=6.1.0\n"),
    ]
    assert parse_notes(b"") == []


def test_format_detection(tmp_path: Path) -> None:
    for data, fmt in [
        (kdump(0), DumpFormat.KDUMP_COMPRESSED),
        (b"DISKDUMP" + bytes(8), DumpFormat.KDUMP_COMPRESSED),
        (flatten(b"x", 1), DumpFormat.FLATTENED),
        (elf_core(b""), DumpFormat.ELF),
        (b"garbage", DumpFormat.UNKNOWN),
    ]:
        path = tmp_path / "f"
        path.write_bytes(data)
        assert dumpfile.detect_format(str(path)) is fmt
        assert not dumpfile.is_elf_executable(str(path))
