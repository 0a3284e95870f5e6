"""What a dump file is, read from its headers with the standard library only: the format, whether pages
were filtered out (crash's ``[PARTIAL DUMP]``), and its ELF notes (``NT_PRSTATUS`` registers, VMCOREINFO).

Formats (crash's names in parentheses):

- ELF (netdump/kdump ELF): QEMU ``dump-guest-memory``, ``/proc/vmcore``, ``makedumpfile -E``.
- kdump-compressed (diskdump): ``makedumpfile -c/-l/-p`` and QEMU's ``format=kdump-*``.  Header layout from
  makedumpfile's ``diskdump_mod.h`` (``struct disk_dump_header``, then ``struct kdump_sub_header`` one
  block later), 64-bit little-endian here.
- flattened: makedumpfile ``-F`` output and every QEMU kdump file: a 4 KiB ``makedumpfile`` header, then
  records ``{int64 offset; int64 size; data}`` (big-endian) that place data at offsets of the
  kdump-compressed file it flattens; an offset of -1 ends the stream.

Nothing here writes to a dump.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from crashcompat.core.kernel.layout import PT_REGS_ORDER
from crashcompat.core.target import DumpFormat

ELF_MAGIC = b"\x7fELF"
KDUMP_SIGNATURE = b"KDUMP   "
DISKDUMP_SIGNATURE = b"DISKDUMP"
FLAT_SIGNATURE = b"makedumpfile"
FLAT_HEADER_SIZE = 4096

PT_NOTE = 4
NT_PRSTATUS = 1
#: crash's ``NT_DISKDUMP`` (netdump.h): a non-zero first word marks a partial ELF dump.
NT_DISKDUMP = 0x70000001
ET_EXEC = 2
ET_CORE = 4

# struct disk_dump_header (64-bit): header_version at 8, block_size at 428, then struct kdump_sub_header
# at block_size: dump_level at +8, offset_note at +48, size_note at +56 (header_version >= 4).
_HEADER_VERSION = 8
_STATUS = 424
_BLOCK_SIZE = 428
_SUB_DUMP_LEVEL = 8
_SUB_NOTE = 48
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8

#: ``struct elf_prstatus`` on x86_64: ``pr_pid`` at 32, ``pr_reg`` (``struct user_regs_struct``) at 112.
PRSTATUS_PID = 32
PRSTATUS_REGS = 112
#: ``struct user_regs_struct`` (arch/x86/include/asm/user_64.h): the ``struct pt_regs`` registers, then the
#: segment bases and selectors.
USER_REGS = (*PT_REGS_ORDER, "fs_base", "gs_base", "ds", "es", "fs", "gs")


@dataclass(frozen=True)
class Note:
    """One ELF note: owner name (``"CORE"``, ``"VMCOREINFO"`` …), type and payload."""

    name: str
    type: int
    desc: bytes


@dataclass
class DumpHeader:
    """What :func:`read_header` learned about a dump file.

    :param dump_level: makedumpfile's ``-d`` level of a kdump-compressed file (``None`` if not recorded).
    :param partial: crash's ``[PARTIAL DUMP]`` rule: kdump ``dump_level > 0``, or an ELF ``NT_DISKDUMP``
        note with a non-zero value (makedumpfile's ELF output has none, so crash never marks it partial).
    """

    format: DumpFormat
    dump_level: int | None = None
    partial: bool = False
    incomplete: bool = False
    notes: list[Note] = field(default_factory=list)


class DumpFile:
    """Random access to a dump's bytes at the offsets of its unflattened form.

    :param f: the dump, opened ``"rb"``.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.flattened = f.read(len(FLAT_SIGNATURE)) == FLAT_SIGNATURE
        self._records: list[tuple[int, int, int]] = []  # (offset in unflattened file, offset in f, size)
        self._scan_pos = FLAT_HEADER_SIZE
        self._scan_end = 0  # the furthest unflattened offset the scanned records reach
        self._scan_done = False

    def read(self, offset: int, size: int) -> bytes:
        """*size* bytes at *offset* (fewer at the end of the data)."""
        if not self.flattened:
            self.f.seek(offset)
            return self.f.read(size)
        out = bytearray(size)
        covered = 0
        for start, where, length in self._records_until(offset + size):
            lo, hi = max(start, offset), min(start + length, offset + size)
            if lo < hi:
                self.f.seek(where + lo - start)
                out[lo - offset : hi - offset] = self.f.read(hi - lo)
                covered = max(covered, hi - offset)
        return bytes(out[:covered])

    def _records_until(self, end: int) -> list[tuple[int, int, int]]:
        """Scan flattened records in file order until they reach *end* (writers put the headers and notes
        first), or the stream ends."""
        while not self._scan_done and self._scan_end < end:
            self.f.seek(self._scan_pos)
            head = self.f.read(16)
            if len(head) < 16:
                self._scan_done = True
                break
            offset, size = struct.unpack(">qq", head)
            if offset < 0 or size < 0:
                self._scan_done = True
                break
            self._records.append((offset, self._scan_pos + 16, size))
            self._scan_pos += 16 + size
            self._scan_end = max(self._scan_end, offset + size)
        return self._records


def detect_format(path: str) -> DumpFormat:
    """The dump format from the first bytes of *path* (raises OSError)."""
    with open(path, "rb") as f:
        magic = f.read(16)
    if magic.startswith(FLAT_SIGNATURE):
        return DumpFormat.FLATTENED
    if magic.startswith(ELF_MAGIC):
        return DumpFormat.ELF
    if magic.startswith((KDUMP_SIGNATURE, DISKDUMP_SIGNATURE)):
        return DumpFormat.KDUMP_COMPRESSED
    return DumpFormat.UNKNOWN


def is_elf_executable(path: str) -> bool:
    """Whether *path* is an ELF executable or relocatable file (a vmlinux), not an ELF core (a dump)."""
    try:
        with open(path, "rb") as f:
            ident = f.read(18)
    except OSError:
        return False
    if len(ident) < 18 or not ident.startswith(ELF_MAGIC):
        return False
    e_type = int.from_bytes(ident[16:18], "little" if ident[5] == 1 else "big")
    return e_type != ET_CORE


def read_header(path: str) -> DumpHeader:
    """Parse *path*'s header and notes (raises OSError).  Unknown or truncated headers give what was read."""
    fmt = detect_format(path)
    header = DumpHeader(fmt)
    with open(path, "rb") as f:
        dump = DumpFile(f)
        if fmt is DumpFormat.ELF:
            header.notes = _elf_notes(dump)
            header.partial = any(
                n.type == NT_DISKDUMP and n.desc[:4] != b"\0\0\0\0" for n in header.notes if len(n.desc) >= 4
            )
        elif fmt in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED):
            _read_kdump_header(dump, header)
    return header


def _read_kdump_header(dump: DumpFile, header: DumpHeader) -> None:
    head = dump.read(0, _BLOCK_SIZE + 4)
    if len(head) < _BLOCK_SIZE + 4 or head[:8] != KDUMP_SIGNATURE:
        return  # DISKDUMP keeps dump_level in the kernel's own ``dump_level`` variable; not read here
    version = struct.unpack_from("<i", head, _HEADER_VERSION)[0]
    status, block_size = struct.unpack_from("<Ii", head, _STATUS)
    header.incomplete = bool(status & DUMP_DH_COMPRESSED_INCOMPLETE)
    if version < 1 or block_size <= 0:
        return
    sub = dump.read(block_size, _SUB_NOTE + 16)
    if len(sub) >= _SUB_DUMP_LEVEL + 4:
        header.dump_level = struct.unpack_from("<i", sub, _SUB_DUMP_LEVEL)[0]
        header.partial = header.dump_level > 0
    if version >= 4 and len(sub) >= _SUB_NOTE + 16:
        offset, size = struct.unpack_from("<qQ", sub, _SUB_NOTE)
        if 0 < size < 1 << 24:
            header.notes = parse_notes(dump.read(offset, size))


def _elf_notes(dump: DumpFile) -> list[Note]:
    ehdr = dump.read(0, 64)
    if len(ehdr) < 64 or ehdr[4] != 2 or ehdr[5] != 1:  # ELFCLASS64, ELFDATA2LSB only (x86_64)
        return []
    phoff, = struct.unpack_from("<Q", ehdr, 32)  # fmt: skip
    phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
    notes: list[Note] = []
    table = dump.read(phoff, phentsize * phnum)
    for i in range(min(phnum, len(table) // max(phentsize, 1))):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", table, i * phentsize)
        if p_type == PT_NOTE and 0 < p_filesz < 1 << 24:
            notes += parse_notes(dump.read(p_offset, p_filesz))
    return notes


def parse_notes(data: bytes) -> list[Note]:
    """ELF notes (4-byte aligned ``Elf64_Nhdr`` + name + desc) in *data*; stops at garbage."""
    notes = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, n_type = struct.unpack_from("<III", data, pos)
        if namesz == 0 and descsz == 0:
            break
        name_at = pos + 12
        desc_at = name_at + (namesz + 3) // 4 * 4
        end = desc_at + (descsz + 3) // 4 * 4
        if end > len(data) + 3:
            break
        name = data[name_at : name_at + namesz].rstrip(b"\0").decode("ascii", "replace")
        notes.append(Note(name, n_type, data[desc_at : desc_at + descsz]))
        pos = end
    return notes


def prstatus_registers(desc: bytes) -> dict[str, int]:
    """The x86_64 registers in an ``NT_PRSTATUS`` payload (``struct elf_prstatus``), by lower-case name."""
    count = min(len(USER_REGS), max(0, (len(desc) - PRSTATUS_REGS) // 8))
    values = struct.unpack_from(f"<{count}Q", desc, PRSTATUS_REGS)
    return dict(zip(USER_REGS, values, strict=False))


def prstatus_pid(desc: bytes) -> int:
    """``pr_pid`` of an ``NT_PRSTATUS`` payload."""
    return int(struct.unpack_from("<i", desc, PRSTATUS_PID)[0]) if len(desc) >= PRSTATUS_PID + 4 else -1
