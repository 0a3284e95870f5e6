"""A small, fast reader for 64-bit little-endian ELF files (vmlinux, ``.ko``).

It reads only what the kernel model needs — section headers, one section's bytes, the symbol table and
the GNU build-id note — with plain ``seek``/``read`` and ``struct.iter_unpack``, so the 590 MB debug
vmlinux's ~120 000 symbols load in a fraction of a second (pyelftools decodes symbols one by one and takes
seconds).  Symbol classification into ``nm`` letters follows bfd (``bfd_decode_symclass``), which is what
crash's symbol table prints.
"""

from __future__ import annotations

import array
import struct
import sys
from dataclasses import dataclass
from typing import NamedTuple

# Section header types and flags (ELF gABI).
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4

# Special section indexes.
SHN_UNDEF = 0
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2

# Symbol bindings and types.
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_COMMON, STT_GNU_IFUNC = 1, 2, 3, 4, 5, 10

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
#: ``sizeof(Elf64_Sym)``.
SYM_SIZE = _SYM.size

#: bfd's section-name table (``coff_section_type``) as built into crash 8.0.2's bfd: only PE names, so
#: ELF sections are always classified by their flags.
_PE_SECTION_TYPES = ((".drectve", "i"), (".edata", "e"), (".idata", "i"), (".pdata", "p"))


class ElfError(Exception):
    """Not a readable 64-bit little-endian ELF file."""


@dataclass(frozen=True)
class Section:
    """One section header.  :param index: its index in the section header table."""

    index: int
    name: str
    type: int
    flags: int
    address: int
    offset: int
    size: int
    link: int

    @property
    def alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def code(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    def nm_letter(self) -> str:
        """The lower-case ``nm`` letter of a symbol defined in this section (bfd ``decode_section_type``
        over the flags bfd derives from the ELF header: ``_bfd_elf_make_section_from_shdr``)."""
        for prefix, letter in _PE_SECTION_TYPES:
            rest = self.name[len(prefix) : len(prefix) + 1]
            if self.name.startswith(prefix) and (rest == "" or rest in ".$0123456789"):
                return letter
        if self.flags & SHF_EXECINSTR:
            return "t"
        has_contents = self.type != SHT_NOBITS
        if self.flags & SHF_ALLOC and has_contents:  # SEC_DATA
            return "d" if self.flags & SHF_WRITE else "r"
        if not has_contents:
            return "b"
        if self.name.startswith((".debug", ".gnu.linkonce.wi.", ".zdebug", ".line", ".stab")):
            return "N"
        if not self.flags & SHF_WRITE:
            return "n"
        return "?"


class ElfSymbol(NamedTuple):
    """One ``Elf64_Sym`` with its name resolved the way bfd names it (a section symbol without a name
    takes its section's name) and its bfd/nm class letter."""

    name: str
    value: int
    size: int
    info: int
    shndx: int
    letter: str

    @property
    def binding(self) -> int:
        return self.info >> 4

    @property
    def type(self) -> int:
        return self.info & 0xF


@dataclass
class RawSymbols:
    """An ELF file's ``.symtab`` (but the null symbol) as parallel lists in file order: ``Elf64_Sym``'s
    ``st_value``, ``st_size``, ``st_info`` and ``st_shndx``, and the names (an unnamed section symbol takes
    its section's name, as bfd and :meth:`ElfFile.symbols` name it).  :meth:`ElfFile.symbol_columns` reads
    them without an object per symbol."""

    names: list[str]
    values: list[int]
    sizes: list[int]
    infos: list[int]
    shndx: list[int]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, keep: list[int]) -> RawSymbols:
        """The symbols at indexes *keep*, in that order."""
        return RawSymbols(
            [self.names[i] for i in keep],
            [self.values[i] for i in keep],
            [self.sizes[i] for i in keep],
            [self.infos[i] for i in keep],
            [self.shndx[i] for i in keep],
        )


class ElfFile:
    """An ELF64 little-endian file opened for reading section headers, sections and symbols.

    :param path: the file.  Raises :class:`ElfError` (or ``OSError``).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as f:
            header = f.read(_EHDR.size)
            if len(header) < _EHDR.size or header[:4] != b"\x7fELF":
                raise ElfError(f"{path}: not an ELF file")
            if header[4] != 2 or header[5] != 1:
                raise ElfError(f"{path}: not a 64-bit little-endian ELF file")
            fields = _EHDR.unpack(header)
            self.type: int = fields[1]
            self.machine: int = fields[2]
            shoff, shentsize, shnum, shstrndx = fields[6], fields[11], fields[12], fields[13]
            if shoff == 0 or shentsize != _SHDR.size:
                raise ElfError(f"{path}: no section headers")
            f.seek(shoff)
            raw = f.read(shnum * shentsize)
            headers = list(_SHDR.iter_unpack(raw[: shnum * shentsize]))
            names = b""
            if shstrndx < len(headers):
                strhdr = headers[shstrndx]
                f.seek(strhdr[4])
                names = f.read(strhdr[5])
        self.sections: list[Section] = [
            Section(i, _cstr(names, h[0]), h[1], h[2], h[3], h[4], h[5], h[6]) for i, h in enumerate(headers)
        ]

    def section(self, name: str) -> Section | None:
        """The first section called *name*, or ``None``."""
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def read_section(self, section: Section) -> bytes:
        """A section's file contents (empty for ``SHT_NOBITS``)."""
        if section.type == SHT_NOBITS or section.size == 0:
            return b""
        with open(self.path, "rb") as f:
            f.seek(section.offset)
            return f.read(section.size)

    def _symtab(self) -> tuple[bytes, bytes]:
        """``.symtab``'s entries (less the null one) and its string table; empty when there is none."""
        symtab = next((s for s in self.sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return b"", b""
        data = self.read_section(symtab)[SYM_SIZE:]
        strtab = self.read_section(self.sections[symtab.link]) if symtab.link < len(self.sections) else b""
        return data[: len(data) // SYM_SIZE * SYM_SIZE], strtab

    def symbol_columns(self) -> RawSymbols:
        """The symbols, read column by column (each ``Elf64_Sym`` is three little-endian 64-bit words:
        ``st_name | st_info << 32 | st_other << 40 | st_shndx << 48``, ``st_value``, ``st_size``)."""
        data, strtab = self._symtab()
        words = array.array("Q", data)
        if sys.byteorder == "big":
            words.byteswap()
        first, values, sizes = words[0::3].tolist(), words[1::3].tolist(), words[2::3].tolist()
        offsets = [w & 0xFFFFFFFF for w in first]
        infos = [w >> 32 & 0xFF for w in first]
        shndx = [w >> 48 for w in first]
        if strtab.isascii():  # the usual case: slicing the decoded table is faster
            text = strtab.decode("ascii")
            find = text.find
            names = [text[o : find("\0", o)] for o in offsets]
        else:
            bfind = strtab.find
            names = [strtab[o : bfind(b"\0", o)].decode("utf-8", "replace") for o in offsets]
        for i, offset in enumerate(offsets):
            if not offset and infos[i] & 0xF == STT_SECTION and shndx[i] < len(self.sections):
                names[i] = self.sections[shndx[i]].name
        return RawSymbols(names, values, sizes, infos, shndx)

    def find_symbol(self, name: str) -> tuple[int, int, int] | None:
        """``(st_value, st_size, st_shndx)`` of the first symbol called *name*, found without reading the
        whole table: the string's offsets in the string table, then the entries that point at one of them
        (the linker shares string tails, so a name may start inside a longer one).  Each offset scans the
        table once: fast for a name few others end with (``linux_banner``: ~10 ms)."""
        data, strtab = self._symtab()
        needle = name.encode() + b"\0"
        best: tuple[int, int, int, int] | None = None
        at = strtab.find(needle)
        while at > 0:
            word = struct.pack("<I", at)
            pos = data.find(word)
            while pos >= 0 and (best is None or pos < best[0]):
                if pos % SYM_SIZE == 0:
                    _, _, _, section, value, size = _SYM.unpack_from(data, pos)
                    best = (pos, value, size, section)
                    break
                pos = data.find(word, pos + 1)
            at = strtab.find(needle, at + 1)
        return best[1:] if best is not None else None

    def symbols(self) -> list[ElfSymbol]:
        """Every ``.symtab`` symbol but the null one at index 0, in file order, classified like
        bfd's ``bfd_decode_symclass`` (what ``nm`` and crash print)."""
        data, strtab = self._symtab()
        sections = self.sections
        letters = [s.nm_letter() for s in sections]
        nsec = len(sections)
        out: list[ElfSymbol] = []
        find = strtab.find
        make = tuple.__new__
        classes: dict[tuple[int, int], str] = {}
        for st_name, st_info, _other, st_shndx, st_value, st_size in _SYM.iter_unpack(data):
            if st_name == 0 and st_info & 0xF == STT_SECTION and st_shndx < nsec:
                name = sections[st_shndx].name
            else:
                end = find(b"\0", st_name)
                name = strtab[st_name : end if end >= 0 else len(strtab)].decode("utf-8", "replace")
            letter = classes.get((st_info, st_shndx))
            if letter is None:
                letter = classes[st_info, st_shndx] = _symclass(st_info, st_shndx, letters)
            out.append(make(ElfSymbol, (name, st_value, st_size, st_info, st_shndx, letter)))
        return out

    def build_id(self) -> str | None:
        """The GNU build-id (hex) from the first ``NT_GNU_BUILD_ID`` note, or ``None``."""
        for sec in self.sections:
            if sec.type != SHT_NOTE:
                continue
            data = self.read_section(sec)
            pos = 0
            while pos + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                name_start = pos + 12
                desc_start = name_start + (namesz + 3) // 4 * 4
                if ntype == 3 and data[name_start : name_start + namesz].rstrip(b"\0") == b"GNU":
                    return data[desc_start : desc_start + descsz].hex()
                pos = desc_start + (descsz + 3) // 4 * 4
        return None


def _cstr(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    return table[offset : end if end >= 0 else len(table)].decode("utf-8", "replace")


def _symclass(info: int, shndx: int, section_letters: list[str]) -> str:
    """bfd's ``bfd_decode_symclass`` for an ELF symbol (flags as ``elf_slurp_symbol_table`` sets them)."""
    bind = info >> 4
    stype = info & 0xF
    if shndx == SHN_COMMON:
        return "C"
    if shndx == SHN_UNDEF:
        if bind == STB_WEAK:
            return "v" if stype in (STT_OBJECT, STT_COMMON) else "w"
        return "U"
    if stype == STT_GNU_IFUNC:
        return "i"
    if bind == STB_WEAK:
        return "V" if stype in (STT_OBJECT, STT_COMMON) else "W"
    if bind == STB_GNU_UNIQUE:
        return "u"
    if bind not in (STB_LOCAL, STB_GLOBAL):
        return "?"
    if shndx == SHN_ABS:
        letter = "a"
    elif shndx < len(section_letters):
        letter = section_letters[shndx]
    else:
        return "?"
    return letter.upper() if bind == STB_GLOBAL else letter
