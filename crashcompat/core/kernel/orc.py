"""The kernel's ORC unwind tables, read from kernel memory, looked up the way crash's ``orc_find`` does.

vmlinux: ``__start_orc_unwind_ip`` (an ``int`` per entry: the entry's address relative to itself),
``__start_orc_unwind`` (``struct orc_entry`` per entry) and the ``orc_lookup`` block index
(``lookup_num_blocks`` blocks of ``LOOKUP_BLOCK_SIZE`` bytes of text from ``_stext``).  Modules: the
``struct module`` member ``arch`` (``struct mod_arch_specific``: ``num_orcs``, ``orc_unwind_ip``,
``orc_unwind``).  Entry layouts (arch/x86/include/asm/orc_types.h):

* v4.14 (commit 39358a033b2e): ``s16 sp_offset; s16 bp_offset; unsigned sp_reg:4, bp_reg:4, type:2``;
* v4.19 (commit d31a580266ee) added ``end:1``; v6.3 (commit ffb1b4a41016) added ``signal:1`` before it;
* v6.4 (commit fb799447ae29) dropped ``end``, widened ``type`` to 3 bits and renumbered the types:
  ``ORC_TYPE_CALL`` went from 0 to 2.

The bit fields are decoded from the debug info's member layout, so every variant reads right; like crash,
a ``signal`` member without an ``end`` member means the 6.4 layout and its type numbers.

Linux 7.1 (commit 1735858caa4b "objtool/x86: Reorder ORC register numbering") renumbered the registers:
``ORC_REG_SP`` went from 5 to 3 and ``ORC_REG_PREV_SP`` from 1 to 8.  Nothing in the debug info says so (the
numbers are macros), so the numbering is read off the table itself: a C function's first instruction has
the CFA at SP + 8, and the register its entry names there is ``ORC_REG_SP``.  Entries are handed out in
the old numbering (the constants below) whatever the kernel's.

Like crash, a lookup returns the last entry whose address is ≤ the one asked for inside the
``orc_lookup`` block (no "is this the end of the table" checks): the unwinder decides what to trust.
"""

from __future__ import annotations

import bisect
import itertools
import os
import struct
from dataclasses import dataclass

from crashcompat.core.elf import ElfError, ElfFile
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel import modules as _modules
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "ORC_REG_BP",
    "ORC_REG_PREV_SP",
    "ORC_REG_SP",
    "ORC_REG_UNDEFINED",
    "OrcEntry",
    "OrcTables",
    "find",
    "tables",
]

ORC_REG_UNDEFINED = 0
ORC_REG_PREV_SP = 1
ORC_REG_BP = 4
ORC_REG_SP = 5

LOOKUP_BLOCK_ORDER = 8
LOOKUP_BLOCK_SIZE = 1 << LOOKUP_BLOCK_ORDER


@dataclass(frozen=True)
class OrcEntry:
    """One ``struct orc_entry``.

    :param ip: the text address the entry starts at.
    :param type: the raw ``type`` field; compare with :attr:`OrcTables.type_call`.
    :param end: the ``end`` bit (kernels 4.19 to 6.3), else 0.
    """

    ip: int
    sp_offset: int
    bp_offset: int
    sp_reg: int
    bp_reg: int
    type: int
    end: int = 0
    signal: int = 0


@dataclass
class _Layout:
    size: int
    fields: dict[str, tuple[int, int, int]]  # name -> (byte offset, bit offset, bit size)


class OrcTables:
    """The vmlinux ORC tables of one kernel plus the module tables read so far.

    Build with :func:`tables` (memoised per session); look addresses up with :func:`find`.
    """

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        target = kernel.target
        self.layout = _entry_layout(kernel)
        self.stext = kernel.symbol("_stext")
        self.etext = kernel.symbol("_etext")
        self.start_ip = kernel.symbol("__start_orc_unwind_ip")
        self.start_orc = kernel.symbol("__start_orc_unwind")
        self.stop_orc = kernel.symbol("__stop_orc_unwind")
        #: On a slow link the vmlinux tables come from the vmlinux file when they are the kernel's
        #: (:func:`_image_tables`): a lookup then crosses the link not at all instead of three times.
        self._image = _image_tables(self) if target.sparse_reads else None
        if self._image is not None:  # the size of ``orc_lookup``, as unwind_init computes it
            self.num_blocks = (kernel.symbol("orc_lookup_end") - kernel.symbol("orc_lookup")) // 4
        else:
            self.num_blocks = target.read_u32(kernel.symbol("lookup_num_blocks"))
        #: ``orc_lookup``: read two entries per lookup (the whole table is hundreds of KiB: a minute on a
        #: serial link).
        self.lookup = kernel.symbol("orc_lookup")
        #: ``ORC_TYPE_CALL``: 2 since v6.4 (commit fb799447ae29), 0 before.
        self.type_call = _type_call(self.layout)
        self.modules_vaddr, self.modules_end = _layout.modules_range(kernel)
        self._modules: dict[int, tuple[list[int], int] | None] = {}
        self._cache: dict[int, OrcEntry | None] = {}
        #: Raw register number -> the old numbering's (identity before Linux 7.1).
        self._registers: dict[int, int] = {}
        self._registers = _register_map(self)

    # ---- lookups ------------------------------------------------------------------------------------------

    def find(self, ip: int) -> OrcEntry | None:
        """crash's ``orc_find(ip)``: the entry covering *ip* in vmlinux or module text, or ``None``."""
        if ip in self._cache:
            return self._cache[ip]
        try:
            entry = self._find(ip)
        except TargetError:
            entry = None
        self._cache[ip] = entry
        return entry

    def in_text(self, ip: int) -> bool:
        """Whether crash's ``orc_find`` would look *ip* up at all (vmlinux ``[_stext, _etext)`` or module
        space); crash warns ``ip is outside kernel and module text ranges`` otherwise."""
        return self.stext <= ip < self.etext or self.modules_vaddr <= ip < self.modules_end

    def _find(self, ip: int) -> OrcEntry | None:
        if not self.stext <= ip < self.etext:
            if self.modules_vaddr <= ip < self.modules_end:
                return self._module_find(ip)
            return None
        idx = (ip - self.stext) // LOOKUP_BLOCK_SIZE
        if idx >= self.num_blocks - 1:
            return None
        if self._image is not None:
            # The last entry <= ip of the whole table is the last one <= ip inside ip's orc_lookup block:
            # the block's range starts at the last entry <= the block's start (unwind_init) and ends at
            # the last entry <= the next block's start.
            image = self._image
            index = _search(image.ips, ip)
            offset = index * image.size
            return self._decode(image.entries[offset : offset + image.size], image.ips[index])
        start, stop = struct.unpack("<2I", self.kernel.target.read(self.lookup + 4 * idx, 8))
        stop += 1
        size = self.layout.size
        if self.start_orc + start * size >= self.stop_orc or self.start_orc + stop * size > self.stop_orc:
            return None
        count = stop - start
        ip_table = self.start_ip + 4 * start
        ips = _absolute_ips(self.kernel.target.read(ip_table, 4 * count), ip_table)
        index = _search(ips, ip)
        return self._entry(self.start_orc + (start + index) * size, ips[index])

    def _module_find(self, ip: int) -> OrcEntry | None:
        mod = _modules.module_at(self.kernel, ip)
        if mod is None:
            return None
        if mod.address not in self._modules:
            self._modules[mod.address] = self._read_module(mod.address)
        table = self._modules[mod.address]
        if table is None:
            return None
        ips, orc = table
        if not ips:
            return None
        index = _search(ips, ip)
        return self._entry(orc + index * self.layout.size, ips[index])

    def _read_module(self, module: int) -> tuple[list[int], int] | None:
        """(absolute ips, address of the orc_entry array) of ``struct module *`` *module*."""
        k = self.kernel
        try:
            arch = module + k.offsetof("struct module", "arch")
            num = k.target.read_u32(arch + k.offsetof("struct mod_arch_specific", "num_orcs"))
            ip_table = k.read_pointer(arch + k.offsetof("struct mod_arch_specific", "orc_unwind_ip"))
            orc = k.read_pointer(arch + k.offsetof("struct mod_arch_specific", "orc_unwind"))
            if not num or not ip_table or num > 1 << 22:
                return [], orc
            return _absolute_ips(k.target.read(ip_table, 4 * num), ip_table), orc
        except (TypeNotFound, FaultError):
            return None

    def _entry(self, address: int, ip: int) -> OrcEntry | None:
        try:
            raw = self.kernel.target.read(address, self.layout.size)
        except FaultError:
            return None
        return self._decode(raw, ip)

    def _decode(self, raw: bytes, ip: int) -> OrcEntry:
        values = {name: _field(raw, spec) for name, spec in self.layout.fields.items()}
        return OrcEntry(
            ip=ip,
            sp_offset=values["sp_offset"],
            bp_offset=values["bp_offset"],
            sp_reg=self._registers.get(values["sp_reg"], values["sp_reg"]),
            bp_reg=self._registers.get(values["bp_reg"], values["bp_reg"]),
            type=values["type"],
            end=values.get("end", 0),
            signal=values.get("signal", 0),
        )


@dataclass(frozen=True)
class _ImageTables:
    """The vmlinux ORC tables as the vmlinux file holds them: absolute ips (relocated) and the raw
    ``struct orc_entry`` array."""

    ips: list[int]
    entries: bytes
    size: int


#: (vmlinux path, size, mtime, relocated table address) → the file's tables, or ``None`` when they are not
#: the kernel's; kept for the process (they never change after boot).
_IMAGES: dict[tuple[str, int, float, int], _ImageTables | None] = {}


def _image_tables(orc: OrcTables) -> _ImageTables | None:
    """The vmlinux ORC tables read from the vmlinux file instead of kernel memory, when they are the ones the
    kernel uses: the file's ip table is sorted (scripts/sorttable sorts it at build time since v5.12, commit
    57fa18994285, and unwind_init then leaves it alone) and its first bytes equal kernel memory's.  Without
    a file, on older kernels (sorted at boot) or on any mismatch: ``None`` (the tables are read from kernel
    memory).  Used on slow live links only; dumps always read the dump."""
    kernel = orc.kernel
    path = kernel.target.info.vmlinux
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_size, st.st_mtime, orc.start_ip)
    if key in _IMAGES:
        return _IMAGES[key]
    _IMAGES[key] = None
    try:
        elf = ElfFile(path)
        ip_sec, orc_sec = elf.section(".orc_unwind_ip"), elf.section(".orc_unwind")
        if ip_sec is None or orc_sec is None:
            return None
        offset = orc.start_ip - ip_sec.address
        size = orc.layout.size
        if orc.start_orc - orc_sec.address != offset or orc.stop_orc - orc.start_orc != orc_sec.size:
            return None
        raw_ips, entries = elf.read_section(ip_sec), elf.read_section(orc_sec)
        if len(raw_ips) // 4 != len(entries) // size or len(raw_ips) < 64:
            return None
        if kernel.target.read(orc.start_ip, 64) != raw_ips[:64]:
            return None
    except (ElfError, OSError, TargetError):
        return None
    ips = _absolute_ips(raw_ips, orc.start_ip)
    if any(a > b for a, b in itertools.pairwise(ips)):  # sorted at boot: not the kernel's order
        return None
    _IMAGES[key] = _ImageTables(ips, entries, size)
    return _IMAGES[key]


def tables(kernel: Kernel) -> OrcTables | None:
    """The kernel's ORC tables (memoised), or ``None`` when the kernel has no ORC unwinder
    (CONFIG_UNWINDER_ORC off: no ``orc_lookup``) or its ``struct orc_entry`` is unknown."""

    def compute() -> OrcTables | None:
        try:
            return OrcTables(kernel)
        except (SymbolNotFound, TypeNotFound, FaultError):
            return None

    return kernel.memo("orc:tables", compute)


def find(kernel: Kernel, ip: int) -> OrcEntry | None:
    """Shortcut: ``tables(kernel).find(ip)``, ``None`` without ORC."""
    t = tables(kernel)
    return t.find(ip) if t is not None else None


# ---- helpers ----------------------------------------------------------------------------------------------


def _absolute_ips(raw: bytes, table: int) -> list[int]:
    """Decode an ``int orc_unwind_ip[]`` whose entries are relative to their own address."""
    rel = struct.unpack(f"<{len(raw) // 4}i", raw)
    return [(table + 4 * i + r) & 0xFFFFFFFFFFFFFFFF for i, r in enumerate(rel)]


def _search(ips: list[int], ip: int) -> int:
    """crash's ``__orc_find`` binary search: the last index whose ip is ≤ *ip*, 0 if none."""
    return max(bisect.bisect_right(ips, ip) - 1, 0)


def _entry_layout(kernel: Kernel) -> _Layout:
    type_name = "struct orc_entry"
    size = kernel.sizeof(type_name)
    fields: dict[str, tuple[int, int, int]] = {}
    for name in ("sp_offset", "bp_offset", "sp_reg", "bp_reg", "type", "end", "signal"):
        try:
            m = kernel.member(type_name, name)
        except TypeNotFound:
            if name in ("end", "signal"):
                continue
            raise
        if m.bit_size is None:
            fields[name] = (m.offset, -1, 8 * m.size)  # a whole (signed) integer member
        else:
            fields[name] = (m.offset, m.bit_offset or 0, m.bit_size)
    return _Layout(size, fields)


def _field(raw: bytes, spec: tuple[int, int, int]) -> int:
    offset, bit_offset, bits = spec
    if bit_offset < 0:
        return int.from_bytes(raw[offset : offset + bits // 8], "little", signed=True)
    value = int.from_bytes(raw[offset:], "little") >> bit_offset
    return value & ((1 << bits) - 1)


#: Linux 7.1's numbers for SP and PREV_SP, swapped with the old holders of those numbers.
_REORDERED = {3: ORC_REG_SP, ORC_REG_SP: 3, 8: ORC_REG_PREV_SP, ORC_REG_PREV_SP: 8}

#: Plain C functions, in every kernel, whose first instruction probes the numbering.
_PROBES = ("panic", "schedule", "do_exit", "vfs_write")


def _register_map(orc: OrcTables) -> dict[int, int]:
    """The raw → old register numbering: :data:`_REORDERED` when a function's entry instruction names
    SP as register 3 (Linux >= 7.1, commit 1735858caa4b), else the identity (an empty map)."""
    for name in _PROBES:
        try:
            address = orc.kernel.symbol(name)
            entry = orc.find(address)
        except (SymbolNotFound, TargetError):
            continue
        # The entry may start before the symbol (function padding); it covers the first instruction.
        if entry is None or entry.sp_offset != 8 or entry.type != orc.type_call:
            continue
        return dict(_REORDERED) if entry.sp_reg == 3 else {}
    return {}


def _type_call(layout: _Layout) -> int:
    """``ORC_TYPE_CALL``: 2 on the v6.4 layout (``signal`` but no ``end``), 0 before (crash's ORC_6_4)."""
    return 2 if "signal" in layout.fields and "end" not in layout.fields else 0
