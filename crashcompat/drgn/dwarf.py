"""Source lines as crash prints them: GDB's line table semantics, read straight from a debug file's DWARF.

crash asks GDB (``find_pc_line(pc, 0)``) and prints ``DW_AT_comp_dir/file: line`` for a relative file name
(crash's ``gdb_get_line_number()``).  drgn's ``source_location()`` differs in two ways: it omits the
compilation directory (Debian builds with ``-fdebug-prefix-map``, so C units have the relative directory
``debian/build/build_amd64_none_cloud-amd64``), and where several line-table rows share an address it
takes the last one, while GDB takes the last *statement* row.  So this module reads the line program of
the unit that holds an address and applies GDB 10's rules (``lnp_state_machine::record_line()``,
``buildsym_compunit::record_line()`` and ``find_pc_sect_line()``):

- rows with line 0 are dropped; a file switch, and the end of a sequence, put an end marker (line 0) in
  the previous file's table, which first drops that table's rows at the marker's address; a row for the
  same file and line as the previous one is kept unless the line had a non-zero discriminator; a
  non-statement row at an address that already had a statement row is dropped when it switches files;
- each file's table is sorted by address (end markers first among equal addresses);
- lookup: in each file's table (file-table order, the unit's primary file first) the last row at or
  before the address; the latest of those wins (the first file on a tie), and if it is not a statement
  row, an earlier statement row at the same address in that table replaces it; line 0 means no line.

Only ``.debug_aranges`` (to find the unit), the unit's first DIE and its line program are read, never the
whole DWARF of a 600 MB vmlinux.  A relocatable ``.ko`` is read with its ``.rela.debug_*`` relocations and
the module's section addresses.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # pyelftools is imported when a file is first read, not at start-up (about 50 ms)
    from elftools.elf.elffile import ELFFile

DW_AT_NAME = 0x03
DW_AT_STMT_LIST = 0x10
DW_AT_COMP_DIR = 0x1B
DW_FORM_DATA4 = 0x06
DW_FORM_DATA8 = 0x07
DW_FORM_STRING = 0x08
DW_FORM_STRP = 0x0E
DW_FORM_UDATA = 0x0F
DW_FORM_SEC_OFFSET = 0x17
DW_FORM_LINE_STRP = 0x1F
DW_FORM_IMPLICIT_CONST = 0x21
DW_LNCT_PATH = 1
DW_LNCT_DIRECTORY_INDEX = 2
DW_UT_COMPILE = 0x01
DW_UT_PARTIAL = 0x03

#: Fixed sizes of attribute forms; -1: the offset size (4 or 8); -2: the address size.
_FIXED = {
    0x01: -2, 0x05: 2, 0x06: 4, 0x07: 8, 0x0B: 1, 0x0C: 1, 0x0E: -1, 0x10: -1, 0x11: 1, 0x12: 2, 0x13: 4,
    0x14: 8, 0x17: -1, 0x19: 0, 0x1C: 4, 0x1D: -1, 0x1E: 16, 0x1F: -1, 0x20: 8, 0x21: 0, 0x25: 1, 0x26: 2,
    0x27: 3, 0x28: 4, 0x29: 1, 0x2A: 2, 0x2B: 3, 0x2C: 4,
}  # fmt: skip
#: Forms holding a LEB128 value (sdata, udata, ref_udata, strx, addrx, loclistx, rnglistx).
_LEB = {0x0D, 0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23}
#: Block forms: the size of their length prefix (0 for a ULEB128 length).
_BLOCK = {0x0A: 1, 0x03: 2, 0x04: 4, 0x09: 0, 0x18: 0}
_MAX_UNITS = 64


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value - (1 << shift) if byte & 0x40 else value), pos


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", "replace"), end + 1


def _skip(data: bytes, pos: int, form: int, offset_size: int, address_size: int) -> int:
    """The position after an attribute value of *form* at *pos*."""
    if form in _FIXED:
        width = _FIXED[form]
        return pos + (offset_size if width == -1 else address_size if width == -2 else width)
    if form in _LEB:
        return _uleb(data, pos)[1]
    if form == DW_FORM_STRING:
        return data.index(b"\0", pos) + 1
    if form in _BLOCK:
        prefix = _BLOCK[form]
        if prefix:
            return pos + prefix + int.from_bytes(data[pos : pos + prefix], "little")
        length, pos = _uleb(data, pos)
        return pos + length
    raise ValueError(f"unknown DWARF form {form:#x}")


@dataclass
class Unit:
    """A compile unit's header and the attributes of its first DIE that line lookups need."""

    offset: int
    length: int
    name: str | None = None
    comp_dir: str | None = None
    stmt_list: int | None = None


@dataclass
class LineTable:
    """One unit's line program, as GDB keeps it: per file (GDB's subfile), rows ``(address, line,
    is_stmt)`` sorted by address."""

    comp_dir: str | None
    files: list[str] = field(default_factory=list)
    rows: list[list[tuple[int, int, bool]]] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)

    def covers(self, address: int) -> bool:
        return any(start <= address < end for start, end in self.ranges)

    def find(self, address: int) -> tuple[str, int] | None:
        """GDB's ``find_pc_sect_line(address, notcurrent=0)``: (file name as GDB spells it, line)."""
        best: tuple[int, int, bool] | None = None
        best_file = -1
        for index, rows in enumerate(self.rows):
            i = bisect.bisect_right(rows, (address, 1 << 62, True))
            if i == 0:
                continue
            prev = rows[i - 1]
            if not prev[1] or (best is not None and prev[0] <= best[0]):
                continue
            best, best_file = prev, index
            if not prev[2]:  # a non-statement row: an earlier statement row at the same address wins
                j = i - 1
                while j > 0 and rows[j - 1][0] == rows[j][0] and rows[j - 1][1] != 0 and not rows[j][2]:
                    j -= 1
                if rows[j][2]:
                    best = rows[j]
        if best is None or not best[1]:
            return None
        return self.files[best_file], best[1]


class DebugFile:
    """Random access to one ELF file's DWARF (see the module docstring).

    :param f: the file, opened ``"rb"``; it stays open for the object's life.
    """

    def __init__(self, f: BinaryIO) -> None:
        from elftools.elf.elffile import ELFFile

        self.f = f
        self.elf: ELFFile = ELFFile(f)
        self.relocatable = self.elf["e_type"] == "ET_REL"
        self._sections = {
            s.name: (s["sh_offset"], s["sh_size"])
            for s in self.elf.iter_sections()
            if s.name.startswith(".debug")
        }
        if ".debug_info" not in self._sections:
            raise ValueError("no .debug_info")
        self._relocations: dict[str, dict[int, tuple[str, int]]] = {}
        self._aranges: list[tuple[int, int, int]] | None = None
        self._units: dict[int, Unit] = {}
        self._tables: dict[tuple[int, tuple[tuple[str, int], ...]], LineTable] = {}

    # ---- raw access ------------------------------------------------------------------------------------

    def read(self, section: str, offset: int, size: int) -> bytes:
        start, length = self._sections[section]
        self.f.seek(start + offset)
        return self.f.read(max(0, min(size, length - offset)))

    def _relocation(self, section: str, offset: int) -> tuple[str, int] | None:
        """For a ``.ko``: (section the relocated value points into, addend) of the relocation at *offset*."""
        if not self.relocatable:
            return None
        table = self._relocations.get(section)
        if table is None:
            table = self._relocations[section] = {}
            from elftools.elf.relocation import RelocationSection

            rela = self.elf.get_section_by_name(".rela" + section)
            if isinstance(rela, RelocationSection):
                symbols = self.elf.get_section(rela["sh_link"])
                for r in rela.iter_relocations():
                    symbol = symbols.get_symbol(r["r_info_sym"])  # type: ignore[attr-defined]
                    shndx = symbol["st_shndx"]
                    target = self.elf.get_section(shndx).name if isinstance(shndx, int) else ""
                    table[r["r_offset"]] = (target, symbol["st_value"] + r["r_addend"])
        return table.get(offset)

    def _offset_value(self, section: str, offset: int, value: int) -> int:
        """A section offset stored at *offset* of *section* (a relocation's addend in a ``.ko``)."""
        relocation = self._relocation(section, offset)
        return relocation[1] if relocation else value

    def _string(self, form: int, data: bytes, pos: int, section: str, base: int, offset_size: int) -> str:
        if form == DW_FORM_STRING:
            return _cstring(data, pos)[0]
        value = int.from_bytes(data[pos : pos + offset_size], "little")
        value = self._offset_value(section, base + pos, value)
        table = ".debug_str" if form == DW_FORM_STRP else ".debug_line_str"
        return _cstring(self.read(table, value, 4096), 0)[0]

    # ---- units -----------------------------------------------------------------------------------------

    def unit(self, offset: int) -> Unit:
        """The unit at *offset* of ``.debug_info``: its length, name, compilation directory, line program."""
        if offset in self._units:
            return self._units[offset]
        data = self.read(".debug_info", offset, 2048)
        (length,) = struct.unpack_from("<I", data, 0)
        pos, size = 4, 4
        if length == 0xFFFFFFFF:
            (length,) = struct.unpack_from("<Q", data, 4)
            pos, size = 12, 8
        unit = self._units[offset] = Unit(offset, pos + length)
        (version,) = struct.unpack_from("<H", data, pos)
        pos += 2
        if version >= 5:
            unit_type, address_size = data[pos], data[pos + 1]
            abbrev_offset = int.from_bytes(data[pos + 2 : pos + 2 + size], "little")
            abbrev_offset = self._offset_value(".debug_info", offset + pos + 2, abbrev_offset)
            pos += 2 + size
            if unit_type not in (DW_UT_COMPILE, DW_UT_PARTIAL):
                return unit
        else:
            abbrev_offset = self._offset_value(
                ".debug_info", offset + pos, int.from_bytes(data[pos : pos + size], "little")
            )
            address_size = data[pos + size]
            pos += size + 1
        code, pos = _uleb(data, pos)
        for attribute, form in self._abbrev(abbrev_offset, code):
            if attribute in (DW_AT_NAME, DW_AT_COMP_DIR) and form in (
                DW_FORM_STRING,
                DW_FORM_STRP,
                DW_FORM_LINE_STRP,
            ):
                text = self._string(form, data, pos, ".debug_info", offset, size)
                if attribute == DW_AT_NAME:
                    unit.name = text
                else:
                    unit.comp_dir = text
            elif attribute == DW_AT_STMT_LIST and form in (DW_FORM_SEC_OFFSET, DW_FORM_DATA4, DW_FORM_DATA8):
                width = size if form == DW_FORM_SEC_OFFSET else 4 if form == DW_FORM_DATA4 else 8
                value = int.from_bytes(data[pos : pos + width], "little")
                unit.stmt_list = self._offset_value(".debug_info", offset + pos, value)
            pos = _skip(data, pos, form, size, address_size)
        return unit

    def _abbrev(self, offset: int, code: int) -> list[tuple[int, int]]:
        """(attribute, form) of abbreviation *code* in the table at *offset* of ``.debug_abbrev``."""
        data = self.read(".debug_abbrev", offset, 1 << 16)
        pos = 0
        while True:
            this, pos = _uleb(data, pos)
            if this == 0:
                raise ValueError("abbreviation not found")
            _, pos = _uleb(data, pos)  # tag
            pos += 1  # has_children
            attributes = []
            while True:
                attribute, pos = _uleb(data, pos)
                form, pos = _uleb(data, pos)
                if form == DW_FORM_IMPLICIT_CONST:
                    _, pos = _sleb(data, pos)
                if attribute == 0 and form == 0:
                    break
                attributes.append((attribute, form))
            if this == code:
                return attributes

    def units(self, limit: int | None = None) -> list[Unit]:
        """The units in ``.debug_info`` order (at most *limit*)."""
        out: list[Unit] = []
        offset, end = 0, self._sections[".debug_info"][1]
        while offset < end and (limit is None or len(out) < limit):
            unit = self.unit(offset)
            out.append(unit)
            offset += unit.length
        return out

    def compile_dir(self) -> str | None:
        """``DW_AT_comp_dir`` of the first unit with a relative name (else of the first unit): the
        directory every C file of one kbuild is compiled in."""
        units = [u for u in self.units(_MAX_UNITS) if u.comp_dir is not None]
        relative = [u for u in units if u.name is not None and not u.name.startswith("/")]
        return (relative or units or [Unit(0, 0)])[0].comp_dir

    def _unit_at(self, address: int) -> int | None:
        """The ``.debug_info`` offset of the unit whose ``.debug_aranges`` cover *address* (a file address)."""
        if self._aranges is None:
            self._aranges = []
            data = self.read(".debug_aranges", 0, self._sections.get(".debug_aranges", (0, 0))[1])
            pos = 0
            while pos + 12 <= len(data):
                (length,) = struct.unpack_from("<I", data, pos)
                header, size = 4, 4
                if length == 0xFFFFFFFF:
                    (length,) = struct.unpack_from("<Q", data, pos + 4)
                    header, size = 12, 8
                cu_offset = int.from_bytes(data[pos + header + 2 : pos + header + 2 + size], "little")
                address_size = data[pos + header + 2 + size]
                tuple_at = pos + header + 2 + size + 2
                tuple_at += -(tuple_at - pos) % (2 * address_size)
                fmt = "<QQ" if address_size == 8 else "<II"
                while tuple_at + 2 * address_size <= pos + header + length:
                    start, span = struct.unpack_from(fmt, data, tuple_at)
                    tuple_at += 2 * address_size
                    if start == 0 and span == 0:
                        break
                    if start:
                        self._aranges.append((start, start + span, cu_offset))
                pos += header + length
            self._aranges.sort()
        i = bisect.bisect_right(self._aranges, (address, 1 << 64, 0)) - 1
        if i >= 0 and self._aranges[i][0] <= address < self._aranges[i][1]:
            return self._aranges[i][2]
        return None

    # ---- lines -----------------------------------------------------------------------------------------

    def source_line(
        self, address: int, sections: Mapping[str, int] | None = None
    ) -> tuple[str, int, str] | None:
        """(file name as crash prints it, line, the line table's own name) for *address*.

        :param address: an address of this file (a vmlinux's link-time address), or for a ``.ko`` a run-time
            address with *sections* giving where each of its sections was loaded.
        """
        if self.relocatable:
            key = tuple(sorted((sections or {}).items()))
            for unit in self.units():
                table = self._line_table(unit, key)
                if table is not None and table.covers(address):
                    return _crash_name(table, table.find(address))
            return None
        offset = self._unit_at(address)
        if offset is None:
            return None
        table = self._line_table(self.unit(offset), ())
        return _crash_name(table, table.find(address)) if table is not None else None

    def _line_table(self, unit: Unit, sections: tuple[tuple[str, int], ...]) -> LineTable | None:
        if unit.stmt_list is None:
            return None
        key = (unit.offset, sections)
        if key not in self._tables:
            self._tables[key] = _LineProgram(self, unit, dict(sections)).run()
        return self._tables[key]


def _crash_name(table: LineTable, found: tuple[str, int] | None) -> tuple[str, int, str] | None:
    """crash's spelling: an absolute name as is, else behind the unit's compilation directory; no line
    without a compilation directory (``gdb_get_line_number()``)."""
    if found is None:
        return None
    name, line = found
    full = name
    if not name.startswith("/"):
        if not table.comp_dir:
            return None
        full = f"{table.comp_dir}/{name}"
    return re.sub("/+", "/", full), line, name


class _LineProgram:
    """Runs one unit's line program into a :class:`LineTable` with GDB's recording rules."""

    def __init__(self, debug: DebugFile, unit: Unit, sections: Mapping[str, int]) -> None:
        self.debug = debug
        self.unit = unit
        self.sections = sections
        self.offset = unit.stmt_list or 0
        self.data = debug.read(".debug_line", self.offset, 1 << 26)
        self.table = LineTable(unit.comp_dir)
        self.subfile_of: dict[int, int] = {}  # file register -> index in table.files

    def run(self) -> LineTable:
        data = self.data
        (length,) = struct.unpack_from("<I", data, 0)
        pos, size = 4, 4
        if length == 0xFFFFFFFF:
            (length,) = struct.unpack_from("<Q", data, 4)
            pos, size = 12, 8
        end = pos + length
        (version,) = struct.unpack_from("<H", data, pos)
        pos += 2
        if version >= 5:
            pos += 2  # address_size, segment_selector_size
        header_length = int.from_bytes(data[pos : pos + size], "little")
        pos += size
        program = pos + header_length
        min_length = data[pos]
        pos += 2 if version >= 4 else 1  # maximum_operations_per_instruction (VLIW only)
        default_is_stmt, line_base, line_range, opcode_base = struct.unpack_from("<BbBB", data, pos)
        pos += 4
        lengths = list(data[pos : pos + opcode_base - 1])
        pos += opcode_base - 1
        names = self._file_names(version, pos, size)
        self._primary_first(names)
        self._execute(
            program, end, min_length, bool(default_is_stmt), line_base, line_range, opcode_base, lengths
        )
        for rows in self.table.rows:
            rows.sort(key=lambda r: (r[0], r[1] != 0))  # stable: end markers first at an address
        return self.table

    def _file_names(self, version: int, pos: int, size: int) -> dict[int, str]:
        """File register value -> GDB's subfile name (``dir/name`` unless the name is absolute)."""
        data = self.data
        files: dict[int, str] = {}
        if version >= 5:
            dirs: list[str] = []
            for is_files in (False, True):
                count = data[pos]
                pos += 1
                formats = []
                for _ in range(count):
                    content, pos = _uleb(data, pos)
                    form, pos = _uleb(data, pos)
                    formats.append((content, form))
                entries, pos = _uleb(data, pos)
                for index in range(entries):
                    path, directory = "", 0
                    for content, form in formats:
                        if content == DW_LNCT_PATH:
                            path = self.debug._string(form, data, pos, ".debug_line", self.offset, size)
                        elif content == DW_LNCT_DIRECTORY_INDEX:
                            directory = (
                                _uleb(data, pos)[0]
                                if form == DW_FORM_UDATA
                                else int.from_bytes(
                                    data[pos : pos + {0x0B: 1, 0x05: 2}.get(form, 4)], "little"
                                )
                            )
                        pos = _skip(data, pos, form, size, 8)
                    if is_files:
                        files[index] = _join(dirs[directory] if directory < len(dirs) else None, path)
                    else:
                        dirs.append(path)
            return files
        dirs = []
        while data[pos]:
            name, pos = _cstring(data, pos)
            dirs.append(name)
        pos += 1
        index = 1
        while data[pos]:
            name, pos = _cstring(data, pos)
            directory, pos = _uleb(data, pos)
            _, pos = _uleb(data, pos)  # mtime
            _, pos = _uleb(data, pos)  # length
            files[index] = _join(dirs[directory - 1] if 0 < directory <= len(dirs) else None, name)
            index += 1
        return files

    def _primary_first(self, names: dict[int, str]) -> None:
        """GDB's file order: the unit's own file (``DW_AT_name``) first, then the file table's order."""
        order: list[str] = []
        if self.unit.name:
            order.append(self.unit.name)
        for register in sorted(names):
            if names[register] not in order:
                order.append(names[register])
        self.table.files = order
        self.table.rows = [[] for _ in order]
        self.subfile_of = {register: order.index(name) for register, name in names.items()}

    def _address(self, at: int, value: int) -> int:
        if self.debug.relocatable:
            relocation = self.debug._relocation(".debug_line", at)
            if relocation is not None:
                target, addend = relocation
                return self.sections.get(target, 0) + addend
        return value

    def _execute(
        self,
        pos: int,
        end: int,
        min_length: int,
        default_is_stmt: bool,
        line_base: int,
        line_range: int,
        opcode_base: int,
        lengths: list[int],
    ) -> None:
        data = self.data
        state = _SequenceState(self, default_is_stmt)
        while pos < end:
            opcode = data[pos]
            pos += 1
            if opcode >= opcode_base:
                adjusted = opcode - opcode_base
                state.address += (adjusted // line_range) * min_length
                state.advance_line(line_base + adjusted % line_range)
                state.record(False)
                state.discriminator = 0
            elif opcode == 0:
                length, pos = _uleb(data, pos)
                sub = data[pos]
                if sub == 1:  # DW_LNE_end_sequence
                    state.record(True)
                    if state.start is not None:
                        self.table.ranges.append((state.start, state.address))
                    state = _SequenceState(self, default_is_stmt)
                elif sub == 2:  # DW_LNE_set_address
                    value = int.from_bytes(data[pos + 1 : pos + length], "little")
                    state.address = self._address(pos + 1, value)
                    if state.start is None:
                        state.start = state.address
                elif sub == 4:  # DW_LNE_set_discriminator
                    state.set_discriminator(_uleb(data, pos + 1)[0])
                pos += length
            elif opcode == 1:  # DW_LNS_copy
                state.record(False)
                state.discriminator = 0
            elif opcode == 2:  # DW_LNS_advance_pc
                value, pos = _uleb(data, pos)
                state.address += value * min_length
            elif opcode == 3:  # DW_LNS_advance_line
                value, pos = _sleb(data, pos)
                state.advance_line(value)
            elif opcode == 4:  # DW_LNS_set_file
                state.file, pos = _uleb(data, pos)
            elif opcode == 6:  # DW_LNS_negate_stmt
                state.is_stmt = not state.is_stmt
            elif opcode == 8:  # DW_LNS_const_add_pc
                state.address += ((255 - opcode_base) // line_range) * min_length
            elif opcode == 9:  # DW_LNS_fixed_advance_pc
                state.address += struct.unpack_from("<H", data, pos)[0]
                pos += 2
            else:  # set_column, set_isa and unknown standard opcodes: skip their LEB128 operands
                for _ in range(lengths[opcode - 1]):
                    _, pos = _uleb(data, pos)


class _SequenceState:
    """The line state machine of one sequence with GDB 10's recording (``lnp_state_machine``)."""

    def __init__(self, program: _LineProgram, default_is_stmt: bool) -> None:
        self.program = program
        self.address = 0
        self.start: int | None = None
        self.file = 1
        self.line = 1
        self.is_stmt = default_is_stmt
        self.discriminator = 0
        self.last_subfile: int | None = None
        self.last_line = 0
        self.last_address = 0
        self.stmt_at_address = False
        self.line_has_nonzero_discriminator = False

    def advance_line(self, delta: int) -> None:
        self.line += delta
        if delta:
            self.line_has_nonzero_discriminator = self.discriminator != 0

    def set_discriminator(self, value: int) -> None:
        self.discriminator = value
        self.line_has_nonzero_discriminator |= value != 0

    def _add(self, subfile: int, line: int, is_stmt: bool) -> None:
        rows = self.program.table.rows[subfile]
        if line == 0:  # an end marker drops the rows at its address
            while rows and rows[-1][0] == self.address:
                rows.pop()
        rows.append((self.address, line, is_stmt))

    def record(self, end_sequence: bool) -> None:
        subfile = self.program.subfile_of.get(self.file)
        if subfile is not None:
            file_changed = self.last_subfile != subfile
            ignore = (
                file_changed
                and not end_sequence
                and self.last_address == self.address
                and not self.is_stmt
                and self.stmt_at_address
            ) or (not end_sequence and self.line == 0)
            if ((file_changed and not ignore) or end_sequence) and self.last_subfile is not None:
                self._add(self.last_subfile, 0, True)
            if not end_sequence and not ignore:
                if file_changed or self.line != self.last_line or not self.line_has_nonzero_discriminator:
                    self._add(subfile, self.line, self.is_stmt)
                self.last_subfile = subfile
                self.last_line = self.line
        if self.last_address != self.address:
            self.stmt_at_address = False
            self.last_address = self.address
        self.stmt_at_address |= self.is_stmt


def _join(directory: str | None, name: str) -> str:
    """GDB's ``dwarf2_start_subfile()`` name: ``directory/name`` unless *name* is absolute."""
    if name.startswith("/") or not directory:
        return name
    return f"{directory}/{name}"


@lru_cache(maxsize=32)
def debug_file(path: str) -> DebugFile | None:
    """The :class:`DebugFile` of *path* (kept open and cached), ``None`` if it has no readable DWARF."""
    try:
        return DebugFile(open(path, "rb"))
    except (OSError, ValueError):
        return None
