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

import os
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

PT_LOAD = 1
PT_NOTE = 4
#: ``sizeof(Elf64_Phdr)``.
_PHDR_SIZE = 56
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
_SUB_HDR_SIZE = 432
_BITMAP_BLOCKS = 436
_MAX_MAPNR = 440
_SUB_MAX_MAPNR_64 = 96  # header_version >= 6
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
#: ``struct page_desc`` (diskdump_mod.h): offset (i64), size (u32), flags (u32), page_flags (u64).
PAGE_DESC = struct.Struct("<qIIQ")
#: Bounds that no real dump exceeds: a flattened record's size, notes, a block.
_MAX_RECORD = 1 << 31
_MAX_NOTES = 1 << 24
_MAX_BLOCK = 1 << 20

#: ``struct elf_prstatus`` on x86_64: ``pr_pid`` at 32, ``pr_reg`` (``struct user_regs_struct``) at 112.
PRSTATUS_PID = 32
PRSTATUS_REGS = 112
#: ``struct user_regs_struct`` (arch/x86/include/asm/user_64.h): the ``struct pt_regs`` registers, then the
#: segment bases and selectors.
USER_REGS = (*PT_REGS_ORDER, "fs_base", "gs_base", "ds", "es", "fs", "gs")


@dataclass(frozen=True)
class Note:
    """One ELF note: owner name (``"CORE"``, ``"VMCOREINFO"`` …), type, payload, and where its header is in
    the (unflattened) dump file (-1 when not read from a file)."""

    name: str
    type: int
    desc: bytes
    offset: int = field(default=-1, compare=False)


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
    #: What makes the file unusable (a damaged header): :func:`crashcompat.core.opening.dump_header` refuses
    #: it with this message.
    damage: str | None = None
    #: Why pages are missing (a truncated file, makedumpfile's ``DUMP_DH_COMPRESSED_INCOMPLETE``): the
    #: dump opens with a warning, and reads of the missing pages fail.
    truncated: str | None = None


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
        #: How the flattened stream ended: ``"end"`` (its end marker), ``"cut"`` (end of file without it),
        #: ``"bad"`` (a record header that makes no sense); ``None`` until scanned.
        self.stream_end: str | None = None
        #: The file offset of the record header that ended the stream as ``"bad"``.
        self.bad_record = 0
        self.file_size = os.fstat(f.fileno()).st_size

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
                self.stream_end = "cut"
                break
            offset, size = struct.unpack(">qq", head)
            if offset == -1 and size == -1:  # makedumpfile's END_FLAG_FLAT_HEADER
                self._scan_done = True
                self.stream_end = "end"
                break
            if offset < 0 or size < 0 or size > _MAX_RECORD:
                self._scan_done = True
                self.stream_end = "bad"
                self.bad_record = self._scan_pos
                break
            if self._scan_pos + 16 + size > self.file_size:
                self._scan_done = True
                self.stream_end = "cut"
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
    """Parse *path*'s header and notes, and check them against the file (raises OSError).

    A header that cannot describe a dump sets :attr:`DumpHeader.damage`; pages that the header promises
    but the file lacks set :attr:`DumpHeader.truncated`.  Unknown formats give what was read.
    """
    fmt = detect_format(path)
    header = DumpHeader(fmt)
    with open(path, "rb") as f:
        dump = DumpFile(f)
        if fmt is DumpFormat.ELF:
            _read_elf_header(dump, header)
            header.partial = any(
                n.type == NT_DISKDUMP and n.desc[:4] != b"\0\0\0\0" for n in header.notes if len(n.desc) >= 4
            )
        elif fmt in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED):
            _read_kdump_header(dump, header)
            if header.damage is not None and dump.stream_end == "bad":
                header.damage = f"invalid flattened record at file offset {dump.bad_record}: {header.damage}"
    return header


def _data_size(dump: DumpFile) -> int:
    """How many bytes of the (unflattened) dump the file holds."""
    if not dump.flattened:
        return dump.file_size
    dump._records_until(1 << 62)
    return dump._scan_end


def _read_kdump_header(dump: DumpFile, header: DumpHeader) -> None:
    """``struct disk_dump_header`` and ``struct kdump_sub_header`` (makedumpfile's diskdump_mod.h), checked
    as crash's diskdump.c reads them, then the page descriptors against the file's size."""
    head = dump.read(0, _MAX_MAPNR + 4)
    if len(head) < _MAX_MAPNR + 4:
        header.damage = "truncated kdump header"
        return
    if head[:8] != KDUMP_SIGNATURE:
        return  # DISKDUMP keeps dump_level in the kernel's own ``dump_level`` variable; not read here
    version = struct.unpack_from("<i", head, _HEADER_VERSION)[0]
    status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from("<IiiIi", head, _STATUS)
    header.incomplete = bool(status & DUMP_DH_COMPRESSED_INCOMPLETE)
    if not 0 < version < 64:
        header.damage = f"invalid kdump header: header_version {version}"
        return
    if not 512 <= block_size <= _MAX_BLOCK or block_size & (block_size - 1):
        header.damage = f"invalid kdump header: block_size {block_size}"
        return
    if not 0 < sub_hdr_size < 1 << 16:
        header.damage = f"invalid kdump header: sub_hdr_size {sub_hdr_size}"
        return
    size = _data_size(dump)
    bitmap_at = block_size * (1 + sub_hdr_size)
    bitmap_len = bitmap_blocks * block_size
    if bitmap_blocks == 0 or bitmap_at + bitmap_len > size:
        header.damage = (
            f"invalid kdump header: bitmap_blocks {bitmap_blocks} (the bitmaps end beyond the file)"
        )
        return
    sub = dump.read(block_size, _SUB_MAX_MAPNR_64 + 8)
    if len(sub) < _SUB_DUMP_LEVEL + 4:
        header.damage = "truncated kdump sub-header"
        return
    header.dump_level = struct.unpack_from("<i", sub, _SUB_DUMP_LEVEL)[0]
    header.partial = header.dump_level > 0
    if version >= 6 and len(sub) >= _SUB_MAX_MAPNR_64 + 8:
        max_mapnr = struct.unpack_from("<Q", sub, _SUB_MAX_MAPNR_64)[0]
    if not 0 < max_mapnr <= bitmap_len * 4:  # two bitmaps of one bit per page frame
        header.damage = f"invalid kdump header: max_mapnr {max_mapnr} (bitmap_blocks {bitmap_blocks})"
        return
    for what, at, since in (("vmcoreinfo", _SUB_NOTE - 16, 3), ("note", _SUB_NOTE, 4)):
        if version < since or len(sub) < at + 16:
            continue
        offset, length = struct.unpack_from("<qQ", sub, at)
        if length == 0:
            continue
        if not (offset > 0 and length < _MAX_NOTES and offset + length <= max(size, bitmap_at)):
            header.damage = f"invalid kdump sub-header: {what} offset {offset:#x}, size {length:#x}"
            return
        if what == "note":
            header.notes = parse_notes(dump.read(offset, length), offset)
    _check_pages(dump, header, bitmap_at, bitmap_len, max_mapnr, size)
    if header.incomplete and header.truncated is None:
        header.truncated = "incomplete dump (makedumpfile marked it DUMP_DH_COMPRESSED_INCOMPLETE)"


def _check_pages(
    dump: DumpFile, header: DumpHeader, bitmap_at: int, bitmap_len: int, max_mapnr: int, size: int
) -> None:
    """Whether the file holds every page its second bitmap says was dumped (crash reads a page's
    ``struct page_desc`` and then its data: a short read is a read error)."""
    half = bitmap_len // 2
    bitmap = dump.read(bitmap_at + half, min(half, (max_mapnr + 7) // 8))
    if len(bitmap) < min(half, (max_mapnr + 7) // 8):
        header.truncated = _truncated(bitmap_at + bitmap_len, size)
        return
    dumped = (int.from_bytes(bitmap, "little") & ((1 << max_mapnr) - 1)).bit_count()
    table_at = bitmap_at + bitmap_len
    required = table_at + dumped * PAGE_DESC.size
    table = dump.read(table_at, dumped * PAGE_DESC.size)
    usable = len(table) // PAGE_DESC.size * PAGE_DESC.size
    for offset, length, _, _ in PAGE_DESC.iter_unpack(table[:usable]):
        if offset > 0:
            required = max(required, offset + length)
    if required > size or dump.stream_end == "cut":
        header.truncated = _truncated(required, size)
    elif dump.stream_end == "bad":
        header.truncated = f"invalid flattened record at file offset {dump.bad_record}: the rest is lost"


def _truncated(required: int, size: int) -> str:
    return f"may be truncated or incomplete (bytes required: {required}, dumpfile size: {size})"


def _read_elf_header(dump: DumpFile, header: DumpHeader) -> None:
    """The ELF header and program headers of an ELF dump, checked as crash's netdump.c does (its
    ``check_dumpfile_size()`` for ``PT_LOAD`` segments beyond the end of the file), and its notes."""
    ehdr = dump.read(0, 64)
    if len(ehdr) < 64:
        header.damage = "truncated ELF header"
        return
    if ehdr[4] != 2 or ehdr[5] != 1:  # ELFCLASS64, ELFDATA2LSB only (x86_64)
        return
    e_type, = struct.unpack_from("<H", ehdr, 16)  # fmt: skip
    if e_type != ET_CORE:
        header.damage = f"not an ELF core file (e_type {e_type})"
        return
    phoff, = struct.unpack_from("<Q", ehdr, 32)  # fmt: skip
    phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
    size = dump.file_size
    if phnum == 0 or phentsize != _PHDR_SIZE:
        header.damage = f"invalid ELF header: e_phnum {phnum}, e_phentsize {phentsize}"
        return
    if phoff + phentsize * phnum > size:
        header.damage = f"invalid ELF header: e_phoff {phoff:#x} and e_phnum {phnum} reach beyond the file"
        return
    table = dump.read(phoff, phentsize * phnum)
    table_end = phoff + phentsize * phnum
    loads = 0
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz, p_memsz = struct.unpack_from("<IIQQQQQ", table, i * phentsize)
        if p_type in (PT_LOAD, PT_NOTE) and p_filesz and phoff <= p_offset < table_end:
            # The table runs into the data the segments it has read so far describe.
            header.damage = f"invalid ELF header: e_phnum {phnum}: the program headers overlap segment data"
            return
        if p_type == PT_NOTE:
            if p_filesz >= _MAX_NOTES or p_offset + p_filesz > size:
                header.damage = f"invalid PT_NOTE: p_offset {p_offset:#x}, p_filesz {p_filesz:#x}"
                return
            header.notes += parse_notes(dump.read(p_offset, p_filesz), p_offset)
        elif p_type == PT_LOAD:
            loads += 1
            if p_filesz > p_memsz or p_offset >= 1 << 62:
                header.damage = f"invalid PT_LOAD: p_offset {p_offset:#x}, p_filesz {p_filesz:#x}"
                return
            if header.truncated is None and p_offset + p_filesz > size:
                header.truncated = _truncated(p_offset + p_filesz, size)
    if loads == 0:
        header.damage = "invalid ELF dump: no PT_LOAD segment"


def parse_notes(data: bytes, base: int = -1) -> list[Note]:
    """ELF notes (4-byte aligned ``Elf64_Nhdr`` + name + desc) in *data*, read from file offset *base*;
    stops at garbage."""
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
        notes.append(Note(name, n_type, data[desc_at : desc_at + descsz], base + pos if base >= 0 else -1))
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


# ---- which physical pages a dump holds (crash's SEEK_ERROR and PAGE_EXCLUDED) -----------------------------


@dataclass
class PhysicalMap:
    """Which physical addresses a dump file holds, as crash's readers tell them apart.

    An ELF dump holds its ``PT_LOAD`` segments (the part past ``p_filesz`` reads as zeros); anything else
    is crash's *read error*.  A kdump-compressed dump has two bitmaps of page frames: the first marks RAM
    (outside it: *seek error*, as beyond ``max_mapnr``), the second the pages written (RAM left out:
    *page excluded*, which crash reports only at debug level 8).

    :param segments: ELF ``(p_paddr, p_paddr + p_memsz)`` ranges.
    """

    format: DumpFormat
    segments: list[tuple[int, int]] = field(default_factory=list)
    ram: bytes = b""
    dumped: bytes = b""
    max_mapnr: int = 0
    page_size: int = 4096

    def status(self, physical: int) -> str:
        """``"ok"``, ``"seek"``, ``"read"`` or ``"excluded"`` for the byte at *physical*."""
        if self.format is DumpFormat.ELF:
            if any(lo <= physical < hi for lo, hi in self.segments):
                return "ok"
            # crash's read_netdump(): with one segment an address below it fails to seek; else it is not found
            return "seek" if len(self.segments) == 1 and physical < self.segments[0][0] else "read"
        if self.format not in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED):
            return "ok"
        pfn = physical // self.page_size
        if pfn >= self.max_mapnr or not _bit(self.ram, pfn):
            return "seek"
        return "ok" if _bit(self.dumped, pfn) else "excluded"

    def readable_runs(self) -> list[tuple[int, int]] | None:
        """The ``[first_pfn, end_pfn)`` runs of pages the dump holds (``None``: every page, as far as the
        map knows).  Computed once."""
        cached: list[tuple[int, int]] | None = self.__dict__.get("_runs")
        if cached is not None or "_runs" in self.__dict__:
            return cached
        runs: list[tuple[int, int]] | None
        if self.format is DumpFormat.ELF:
            page = self.page_size
            runs = sorted((lo // page, (hi + page - 1) // page) for lo, hi in self.segments)
        elif self.format in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED):
            both = int.from_bytes(self.ram, "little") & int.from_bytes(self.dumped, "little")
            both &= (1 << self.max_mapnr) - 1
            runs = []
            bits = bin(both)[2:][::-1]  # bit i of the bitmaps is page frame i
            pfn = bits.find("1")
            while pfn >= 0:
                end = bits.find("0", pfn)
                end = len(bits) if end < 0 else end
                runs.append((pfn, end))
                pfn = bits.find("1", end)
        else:
            runs = None
        self.__dict__["_runs"] = runs
        return runs


def _bit(bitmap: bytes, n: int) -> bool:
    return n >> 3 < len(bitmap) and bool(bitmap[n >> 3] >> (n & 7) & 1)


def physical_map(path: str) -> PhysicalMap:
    """The :class:`PhysicalMap` of the dump at *path* (raises OSError; an unreadable header gives a map
    that calls every address ``"ok"``, so the backend's own read decides)."""
    fmt = detect_format(path)
    found = PhysicalMap(fmt)
    with open(path, "rb") as f:
        dump = DumpFile(f)
        if fmt is DumpFormat.ELF:
            ehdr = dump.read(0, 64)
            if len(ehdr) < 64:
                return PhysicalMap(DumpFormat.UNKNOWN)
            phoff, = struct.unpack_from("<Q", ehdr, 32)  # fmt: skip
            phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
            table = dump.read(phoff, phentsize * phnum)
            for i in range(min(phnum, len(table) // max(phentsize, 1))):
                p_type, _, _, _, p_paddr, _, p_memsz = struct.unpack_from("<IIQQQQQ", table, i * phentsize)
                if p_type == PT_LOAD:
                    found.segments.append((p_paddr, p_paddr + p_memsz))
            return found
        head = dump.read(0, _MAX_MAPNR + 4)
        if len(head) < _MAX_MAPNR + 4 or head[:8] != KDUMP_SIGNATURE:
            return PhysicalMap(DumpFormat.UNKNOWN)
        version = struct.unpack_from("<i", head, _HEADER_VERSION)[0]
        _, block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from("<IiiIi", head, _STATUS)
        if version >= 6:
            sub = dump.read(block_size, _SUB_MAX_MAPNR_64 + 8)
            if len(sub) >= _SUB_MAX_MAPNR_64 + 8:
                max_mapnr = struct.unpack_from("<Q", sub, _SUB_MAX_MAPNR_64)[0]
        half = bitmap_blocks * block_size // 2
        at = block_size * (1 + sub_hdr_size)
        if dump.flattened:
            dump._records_until(1 << 62)  # QEMU writes the two bitmaps' pieces in turn: read every record
        found.ram = dump.read(at, half)
        found.dumped = dump.read(at + half, half)
        found.max_mapnr = max_mapnr
        found.page_size = block_size
    return found
