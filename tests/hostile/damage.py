"""Damaged copies of the lab's dumps, made byte by byte from the formats' definitions (makedumpfile's
``diskdump_mod.h`` for kdump-compressed and flattened files, ``elf.h`` for ELF dumps), and foreign files.

Every function writes a new file under a temporary directory and never opens a lab dump for writing.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

# struct disk_dump_header (64-bit)
HEADER_VERSION = 8
BLOCK_SIZE = 428
SUB_HDR_SIZE = 432
BITMAP_BLOCKS = 436
MAX_MAPNR = 440
# struct kdump_sub_header, one block after the header
SUB_OFFSET_VMCOREINFO = 32
SUB_OFFSET_NOTE = 48
SUB_SIZE_NOTE = 56
SUB_MAX_MAPNR_64 = 96
# Elf64_Ehdr / Elf64_Phdr
E_PHOFF = 32
E_PHNUM = 56
PHDR_SIZE = 56
P_OFFSET = 8
P_PADDR = 24
P_FILESZ = 32
P_MEMSZ = 40
PT_LOAD = 1
PT_NOTE = 4


def copy(source: str, dest: Path, size: int | None = None) -> Path:
    """*source*'s first *size* bytes (all by default) as the new file *dest*."""
    with open(source, "rb") as src, open(dest, "wb") as out:
        if size is None:
            shutil.copyfileobj(src, out, 1 << 22)
        else:
            left = size
            while left > 0:
                chunk = src.read(min(left, 1 << 22))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
    return dest


def truncated(source: str, dest: Path, percent: int) -> Path:
    return copy(source, dest, os.path.getsize(source) * percent // 100)


def patch(path: Path, offset: int, data: bytes) -> Path:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
    return path


def read(path: str | Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


# ---- kdump-compressed ----------------------------------------------------------------------------------------


def kdump_block_size(path: str | Path) -> int:
    return int(struct.unpack("<i", read(path, BLOCK_SIZE, 4))[0])


def kdump_field(source: str, dest: Path, offset: int, fmt: str, value: int, *, sub: bool = False) -> Path:
    """A copy of *source* with the header (or, with *sub*, the sub-header) field at *offset* set."""
    copy(source, dest)
    base = kdump_block_size(source) if sub else 0
    return patch(dest, base + offset, struct.pack(fmt, value))


def kdump_bitmaps(source: str, dest: Path, fill: bytes) -> Path:
    """*source* with its second bitmap (the dumped pages) overwritten by *fill*."""
    copy(source, dest)
    block = kdump_block_size(source)
    sub_hdr_size, bitmap_blocks = struct.unpack("<iI", read(source, SUB_HDR_SIZE, 8))
    half = bitmap_blocks * block // 2
    return patch(dest, block * (1 + sub_hdr_size) + half, (fill * half)[:half])


def kdump_notes(source: str, dest: Path, transform: str) -> Path:
    """*source* with its ELF notes damaged: ``"vmcoreinfo"`` garbles the VMCOREINFO text, ``"prstatus"``
    cuts the first note's ``n_descsz``."""
    copy(source, dest)
    block = kdump_block_size(source)
    offset, size = struct.unpack("<qQ", read(source, block + SUB_OFFSET_NOTE, 16))
    notes = read(source, offset, size)
    if transform == "prstatus":
        return patch(dest, offset + 4, struct.pack("<I", 40))
    at = notes.find(b"OSRELEASE=")
    return patch(dest, offset + at, b"\x8f\xffGARBLE\x00" * 40)


# ---- ELF -------------------------------------------------------------------------------------------------------


def elf_phdrs(path: str | Path) -> Iterator[tuple[int, int, int, int, int]]:
    """(file offset of the header, p_type, p_offset, p_paddr, p_filesz) of each program header."""
    phoff = struct.unpack("<Q", read(path, E_PHOFF, 8))[0]
    phnum = struct.unpack("<H", read(path, E_PHNUM, 2))[0]
    table = read(path, phoff, phnum * PHDR_SIZE)
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", table, i * PHDR_SIZE)
        yield phoff + i * PHDR_SIZE, p_type, p_offset, p_paddr, p_filesz


def elf_phdr_field(source: str, dest: Path, p_type: int, field: int, value: int) -> Path:
    """A copy of *source* with *field* of its first program header of *p_type* set to *value*."""
    copy(source, dest)
    where = next(at for at, kind, *_ in elf_phdrs(source) if kind == p_type)
    return patch(dest, where + field, struct.pack("<Q", value))


def elf_physical_offset(path: str | Path, physical: int) -> int:
    """The file offset of *physical* in an ELF dump (its PT_LOAD segments)."""
    for _, p_type, p_offset, p_paddr, p_filesz in elf_phdrs(path):
        if p_type == PT_LOAD and p_paddr <= physical < p_paddr + p_filesz:
            return p_offset + physical - p_paddr
    raise LookupError(f"physical address {physical:#x} is not in {path}")


def elf_physical_patch(source: str, dest: Path, physical: int, data: bytes) -> Path:
    copy(source, dest)
    return patch(dest, elf_physical_offset(source, physical), data)


# ---- flattened ---------------------------------------------------------------------------------------------------


def flat_record(source: str, index: int) -> int:
    """The file offset of the *index*-th record header of a flattened file (after the 4 KiB header)."""
    pos = 4096
    for _ in range(index):
        size = struct.unpack(">q", read(source, pos + 8, 8))[0]
        pos += 16 + size
    return pos
