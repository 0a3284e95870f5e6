"""Addresses to symbol names and back, exactly as crash computes them — the one place commands do this.

crash builds two tables (symbols.c):

* **vmlinux**: every ``.symtab`` symbol of the vmlinux file (bfd ``bfd_read_minisymbols``) sorted by
  value then name (``numeric_forward``), filtered by ``x86_64_verify_symbol`` (nothing before ``_text``/
  ``_stext`` but the per-cpu symbols), with gcc clone suffixes cut (``strip_symbol_end``: ``.isra.``,
  ``.part.``, ``.llvm.``) and values inside ``[.text start, last section end]`` moved by the KASLR offset.
  Type letters are bfd's (``bfd_decode_symclass``, see :mod:`crashcompat.core.elf`).
* **modules**: per module, ``_MODULE_START_<name>``, the exported symbols, the core kallsyms
  (``mod->core_kallsyms``: ``Elf64_Sym`` in module memory) and ``_MODULE_END_<name>``, sorted by value
  (``store_module_symbols_v2``, ``compare_syms``).  crash takes the type letter from ``st_info`` (printable
  byte as is, 0x02 → ``t``, 0x12 → ``T``, anything else ``?``), not from ``kallsyms->typetab``; so does
  this module, so ``sym`` prints the same letters.  After ``mod -s`` the module's table is replaced by the
  ``.ko``'s own symbols (:func:`load_module_object`).

Address lookup follows ``value_search``: an exact hit returns the first symbol at that value (with
crash's ``.text.*``/``SyS_*``/``*_text_start`` alias rules), otherwise the **last** symbol at the nearest
lower value, however far below.  Without a readable vmlinux path the Target's own symbols are used.

The parsed vmlinux table is cached per (path, size, mtime) in memory and on disk
(``$XDG_CACHE_HOME/crashcompat``): parsing Debian's 590 MB debug vmlinux (119 000 symbols) takes about
0.4 s; the cached table is mapped, not read (:func:`_read_cache`), so opening it costs well under a
millisecond and a lookup touches a few pages.
"""

from __future__ import annotations

import array
import bisect
import collections
import contextlib
import hashlib
import marshal
import mmap
import operator
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, overload

from crashcompat.core.cache import cache_path, write_atomically
from crashcompat.core.elf import SHN_UNDEF, ElfError, ElfFile, ElfSymbol
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import modules as _modules
from crashcompat.core.opening import kaslr_offset
from crashcompat.core.target import Symbol, SymbolBinding, SymbolKind, SymbolNotFound, TargetError

__all__ = [
    "Symbol",
    "SymbolNotFound",
    "address_of",
    "adjacent",
    "format_offset",
    "is_kernel_text",
    "is_pseudo",
    "kernel_symbols",
    "load_module_object",
    "loaded_module_object",
    "lookup",
    "lookup_all",
    "module_symbols",
    "pseudo_label",
    "search",
    "section_of",
    "strip_symbol_end",
    "unload_module_object",
]


_STRIP = (".isra.", ".part.", ".llvm.")

#: crash's module marker symbols (``MODULE_PSEUDO_SYMBOL``).
_PSEUDO: tuple[str, ...] = (
    "_MODULE_START_",
    "_MODULE_END_",
    "_MODULE_INIT_START_",
    "_MODULE_INIT_END_",
    "_MODULE_SECTION_",
)
#: Linux >= 6.4 (commit ac3b43283923): one START/END pair per ``struct module_memory`` type.
_MEM_TYPES = ("TEXT", "DATA", "RODATA", "RO_AFTER_INIT", "INIT_TEXT", "INIT_DATA", "INIT_RODATA")
_PSEUDO += tuple(f"_MODULE_{t}_{edge}_" for t in _MEM_TYPES for edge in ("START", "END"))
_PSEUDO_RE = re.compile(r"_MODULE_(?:([A-Z_]+?)_)?(START|END)_")


def pseudo_label(sym: Symbol) -> str | None:
    """How ``sym -l``/``sym -m`` show a module marker: ``"MODULE START"``, ``"MODULE TEXT END"`` …
    (``None`` for other symbols)."""
    if sym.module is None or not sym.name.startswith(_PSEUDO):
        return None
    m = _PSEUDO_RE.match(sym.name)
    if m is None:
        return None
    kind = f"{m.group(1)} " if m.group(1) else ""  # the type as named: "MODULE RO_AFTER_INIT START"
    return f"MODULE {kind}{m.group(2)}"


def _is_end_marker(name: str) -> bool:
    m = _PSEUDO_RE.match(name) if name.startswith(_PSEUDO) else None
    return m is not None and m.group(2) == "END"


def _is_region_start(name: str) -> bool:
    """A 6.4+ ``_MODULE_<type>_START_`` marker, which crash names addresses after (``+offset``)."""
    m = _PSEUDO_RE.match(name) if name.startswith(_PSEUDO) else None
    return m is not None and m.group(2) == "START" and bool(m.group(1)) and m.group(1) != "INIT"


def strip_symbol_end(name: str) -> str:
    """crash's ``strip_symbol_end``: cut gcc clone suffixes (``foo.isra.0`` → ``foo``); ``.cold`` stays."""
    if "." not in name:
        return name
    for marker in _STRIP:
        cut = name.find(marker)
        if cut >= 0:
            return name[:cut]
    return name


def _strip_module_symbol_end(name: str) -> str:
    """crash's ``strip_module_symbol_end``: drop ``_Rsmp_<crc>`` / ``_R<crc>`` modversion suffixes."""
    last = name.rfind("R")
    if last < 1 or name[last - 1] != "_":
        return name
    if name.startswith("_Rsmp_", last - 1):
        return name[: last - 1]
    rest = name[last + 1 :]
    if rest and all(c in "0123456789abcdefABCDEF" for c in rest):
        return name[: last - 1]
    return name


# ---- the vmlinux table ----------------------------------------------------------------------------------


@dataclass
class _VmlinuxTable:
    """vmlinux symbols in crash's order, values not yet relocated (lists when parsed; views of the mapped
    cache file when loaded from it, which index without unpacking everything)."""

    values: Sequence[int]
    names: Sequence[str]
    types: Sequence[str]
    sizes: Sequence[int]
    first_ksymbol: int
    percpu_syms: bool
    text_start: int
    last_section_end: int
    stext: int | None
    code_ranges: list[tuple[int, int]]
    sections: list[tuple[str, int, int]]


_TABLES: dict[tuple[str, int, int], _VmlinuxTable] = {}
_TABLES_LOCK = threading.Lock()


#: Bump when :class:`_VmlinuxTable` or the parsing rules change (invalidates the disk cache).
_CACHE_FORMAT = 4


def _load_vmlinux(path: str) -> _VmlinuxTable:
    """The parsed table of *path*: from memory, else from the disk cache, else parsed (and cached)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is None:
            cache = _cache_file(key)
            table = _read_cache(cache)
            if table is None:
                table = _parse_vmlinux(path)
                _write_cache(cache, table)
            _TABLES[key] = table
        return table


def _cache_file(key: tuple[str, int, int]) -> str:
    """``$XDG_CACHE_HOME/crashcompat/symtab-<hash>.bin`` for a (path, size, mtime) key."""
    digest = hashlib.sha1(repr((key, _CACHE_FORMAT)).encode()).hexdigest()[:24]
    return cache_path(f"symtab-{digest}.bin")


#: The cache file: an 8-byte little-endian length, that many bytes of ``marshal``-ed scalars and section
#: lists, then (at the offsets the scalars give) the packed values, sizes and name starts, the type letters
#: and the ``\\0``-joined UTF-8 names.  The file is mapped, not read: a lookup touches a few pages.
_HEADER = 8


def _read_cache(cache: str) -> _VmlinuxTable | None:
    try:
        with open(cache, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(data)
        meta = marshal.loads(view[_HEADER : _HEADER + int.from_bytes(view[:_HEADER], "little")])
        scalars, code, sections, parts = meta
        (v0, v1), (s0, s1), (n0, n1), (t0, t1), (j0, j1) = parts
        table = _VmlinuxTable(
            values=view[v0:v1].cast("Q"),
            names=_Names(data, j0, j1, view[n0:n1].cast("I")),
            types=str(view[t0:t1], "ascii"),
            sizes=view[s0:s1].cast("Q"),
            code_ranges=[tuple(r) for r in code],
            sections=[tuple(s) for s in sections],
            **scalars,
        )
    except (OSError, EOFError, ValueError, TypeError):
        return None
    count = len(table.values)
    if not len(table.sizes) == len(table.names) == len(table.types) == count or j1 > len(data):
        return None  # a damaged file: parse again
    return table


def _write_cache(cache: str, table: _VmlinuxTable) -> None:
    """Best effort: an unwritable cache directory only costs the next session a re-parse."""
    scalars = {
        "first_ksymbol": table.first_ksymbol,
        "percpu_syms": table.percpu_syms,
        "text_start": table.text_start,
        "last_section_end": table.last_section_end,
        "stext": table.stext,
    }
    encoded = [name.encode() for name in table.names]
    starts = array.array("I")
    start = 0
    for name in encoded:
        starts.append(start)
        start += len(name) + 1
    blobs = [
        array.array("Q", table.values).tobytes(),
        array.array("Q", table.sizes).tobytes(),
        starts.tobytes(),
        "".join(table.types).encode("ascii"),
        b"\0".join(encoded),
    ]

    def layout(meta_size: int) -> list[tuple[int, int]]:
        parts, offset = [], _HEADER + meta_size
        for blob in blobs:
            offset += -offset % 8  # aligned for the casts
            parts.append((offset, offset + len(blob)))
            offset += len(blob)
        return parts

    # The offsets depend on the metadata's size and vice versa: settle it.
    meta = b""
    while True:
        parts = layout(len(meta))
        again = marshal.dumps((scalars, table.code_ranges, table.sections, parts))
        if len(again) == len(meta):
            meta = again
            break
        meta = again

    def write(f: BinaryIO) -> None:
        f.write(len(meta).to_bytes(_HEADER, "little") + meta)
        for (offset, _), blob in zip(parts, blobs, strict=True):
            f.write(b"\0" * (offset - f.tell()) + blob)

    write_atomically(cache, write)


class _Names(Sequence[str]):
    """The names of the cached table, sliced out of the mapped file one by one (the list of all of them is
    made on the first walk over them)."""

    def __init__(self, data: mmap.mmap, start: int, end: int, starts: Sequence[int]) -> None:
        self._data = data
        self._end = end
        self._base = start
        self._starts = starts
        self._list: list[str] | None = None

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return self.list()[i]
        start = self._base + self._starts[i]
        end = self._data.find(b"\0", start, self._end)
        return self._data[start : end if end >= 0 else self._end].decode()

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __reversed__(self) -> Iterator[str]:
        return reversed(self.list())

    def list(self) -> list[str]:
        if self._list is None:
            self._list = self._data[self._base : self._end].decode().split("\0")
        return self._list


class _Relocated(Sequence[int]):
    """*values* (sorted) with those in ``[low, high]`` moved by *offset*, computed per item on access:
    relocating all 119 000 up front costs more than a command's few lookups."""

    def __init__(self, values: Sequence[int], low: int, high: int, offset: int) -> None:
        self._values = values
        self._offset = offset
        self._first = bisect.bisect_left(values, low)
        self._stop = bisect.bisect_right(values, high)

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[int]: ...
    def __getitem__(self, i: int | slice) -> int | Sequence[int]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self._values)
        if not 0 <= i < len(self._values):
            raise IndexError(i)
        value = self._values[i]
        return value + self._offset if self._first <= i < self._stop else value

    def bisect_left(self, x: int) -> int:
        """``bisect.bisect_left(self, x)`` done by C bisects of the underlying values (the whole sequence
        is sorted, its middle part moved by the offset): a lookup's one call instead of 17 of
        :meth:`__getitem__`."""
        values, first, stop, offset = self._values, self._first, self._stop, self._offset
        if first >= stop:
            return bisect.bisect_left(values, x)
        if x <= values[first] + offset:
            return bisect.bisect_left(values, x, 0, first) if first else 0
        if x <= values[stop - 1] + offset:
            return bisect.bisect_left(values, x - offset, first, stop)
        return bisect.bisect_left(values, x, stop, len(values))


def _crash_sorted(symbols: list[ElfSymbol]) -> list[ElfSymbol]:
    """crash's ``numeric_forward`` order: undefined symbols first, then by value, then by name."""
    by_value_name = operator.itemgetter(1, 0)
    undefined = sorted((s for s in symbols if s.shndx == SHN_UNDEF), key=by_value_name)
    return undefined + sorted((s for s in symbols if s.shndx != SHN_UNDEF), key=by_value_name)


def _parse_vmlinux(path: str) -> _VmlinuxTable:
    elf = ElfFile(path)
    text = elf.section(".text")
    text_start = text.address if text else 0
    last_end = 0
    if text is not None:
        for sec in elf.sections[text.index :]:
            last_end = max(last_end, sec.address + sec.size)
    values: list[int] = []
    names: list[str] = []
    types: list[str] = []
    sizes: list[int] = []
    started = percpu = False
    first_ksymbol = 0
    stext = None
    for sym in _crash_sorted(elf.symbols()):
        name = strip_symbol_end(sym.name)
        if sym.name == "_stext" and stext is None:
            stext = sym.value
        if not name:
            continue
        if not started:  # x86_64_verify_symbol
            if name in ("_text", "_stext"):
                started = True
                first_ksymbol = first_ksymbol or sym.value
            elif name == "__per_cpu_start":
                percpu = True
            elif not (
                percpu and (name.startswith("per_cpu") or name == "__per_cpu_end" or sym.letter in "VdD")
            ):
                continue
        values.append(sym.value)
        names.append(name)
        types.append(sym.letter)
        sizes.append(sym.size)
    code = [(s.address, s.address + s.size) for s in elf.sections[1:] if s.code and s.alloc]
    secs = [(s.name, s.address, s.address + s.size) for s in elf.sections[1:] if s.alloc]
    return _VmlinuxTable(
        values, names, types, sizes, first_ksymbol, percpu, text_start, last_end, stext, code, secs
    )


# ---- per-kernel state -----------------------------------------------------------------------------------


@dataclass
class _KernelTable:
    """The vmlinux table relocated for one kernel."""

    values: Sequence[int]
    names: Sequence[str]
    types: Sequence[str]
    sizes: Sequence[int]
    offset: int
    first_ksymbol: int
    percpu_syms: bool
    code_ranges: list[tuple[int, int]]
    first: dict[str, int] | None = None
    repeated: dict[str, list[int]] = field(default_factory=dict)

    def indexes(self, name: str) -> list[int]:
        """Table indexes of the symbols called *name*, in table order."""
        if self.first is None:
            names = self.names
            last = len(names) - 1
            # C-level work: a per-name list for ~117 000 names would cost a tenth of a second.
            self.first = dict(zip(reversed(names), range(last, -1, -1), strict=True))
            repeated = {n for n, count in collections.Counter(names).items() if count > 1}
            self.repeated = {n: [] for n in repeated}
            for i, n in enumerate(names):
                if n in repeated:
                    self.repeated[n].append(i)
        if name in self.repeated:
            return self.repeated[name]
        found = self.first.get(name)
        return [] if found is None else [found]


@dataclass
class _ModuleTable:
    """One module's symbols in crash order (``_MODULE_START_`` … ``_MODULE_END_``)."""

    module: _modules.Module
    values: list[int]
    names: list[str]
    types: list[str]
    sizes: list[int]
    #: ``(start, end, is_code)`` of the ``.ko`` sections once ``mod -s`` loaded it.
    sections: list[tuple[str, int, int, bool]] = field(default_factory=list)


@dataclass
class _State:
    """What survives a live target's resume: the relocated vmlinux table and the loaded ``.ko`` files."""

    table: _KernelTable | None = None
    loaded: dict[str, str] = field(default_factory=dict)


_STATE: weakref.WeakKeyDictionary[Kernel, _State] = weakref.WeakKeyDictionary()


def _state(kernel: Kernel) -> _State:
    state = _STATE.get(kernel)
    if state is None:
        state = _STATE[kernel] = _State()
    return state


def _kernel_table(kernel: Kernel) -> _KernelTable | None:
    """The relocated vmlinux table, or ``None`` when the vmlinux file cannot be read."""
    state = _state(kernel)
    if state.table is not None:
        return state.table if state.table.values else None
    path = kernel.target.info.vmlinux
    try:
        if not path:
            raise OSError("no vmlinux")
        raw = _load_vmlinux(path)
    except (OSError, ElfError):
        state.table = _KernelTable([], [], [], [], 0, 0, False, [])
        return None
    offset = _image_offset(kernel, raw)
    low, high = raw.text_start, raw.last_section_end
    values = _Relocated(raw.values, low, high, offset) if offset else raw.values
    code = [(a + offset, b + offset) for a, b in raw.code_ranges]
    state.table = _KernelTable(
        values, raw.names, raw.types, raw.sizes, offset, raw.first_ksymbol, raw.percpu_syms, code
    )
    return state.table


def _image_offset(kernel: Kernel, raw: _VmlinuxTable) -> int:
    """The KASLR offset (:func:`crashcompat.core.opening.kaslr_offset`), the relocated ``_stext`` taken
    from the backend's own symbol when VMCOREINFO has neither ``KERNELOFFSET`` nor ``SYMBOL(_stext)``;
    0 when nothing tells."""

    def running_stext() -> int | None:
        try:
            return kernel.target.lookup_symbol("_stext").address
        except TargetError:
            return None

    return kaslr_offset(kernel.target.vmcoreinfo, raw.stext, running_stext) or 0


def _module_tables(kernel: Kernel) -> list[_ModuleTable]:
    """Every module's table, by base address (recomputed after a live target resumes)."""
    return kernel.memo(
        "symbols.modules", lambda: [_module_table(kernel, mod) for mod in _modules.for_each_module(kernel)]
    )


def _module_table(kernel: Kernel, mod: _modules.Module) -> _ModuleTable:
    """Module *mod*'s table: its ``.ko``'s symbols after ``mod -s``, else its kallsyms.  Built on first use:
    a lookup in one module reads only that module's symbols."""
    tables: dict[int, _ModuleTable] = kernel.memo("symbols.module", dict)
    table = tables.get(mod.address)
    if table is None:
        path = _state(kernel).loaded.get(mod.name)
        if path is not None:
            try:
                table = _ko_table(kernel, mod, path)
            except (OSError, ElfError):
                table = None
        table = tables[mod.address] = table or _kallsyms_table(kernel, mod)
    return table


def _st_info_letter(info: int) -> str:
    """crash's ``Elf64_Sym_to_common`` type letter."""
    if 0x20 <= info < 0x7F:
        return chr(info)
    if info == 0x02:
        return "t"
    if info == 0x12:
        return "T"
    return "?"


def _kallsyms_table(kernel: Kernel, mod: _modules.Module) -> _ModuleTable:
    """``store_module_symbols_v2`` + ``store_module_kallsyms_v2`` for one module (``_6_4`` variants: a
    START/END marker pair per memory region)."""
    if mod.regions:
        return _regions_table(kernel, mod)
    entries: list[tuple[int, str, str, int]] = [(mod.base, f"_MODULE_START_{mod.name}", "m", 0)]
    if mod.init_size > 0:
        entries.append((mod.init_base, f"_MODULE_INIT_START_{mod.name}", "m", 0))
    for name, value in _modules.exported_symbols(kernel, mod):
        entries.append((value, strip_symbol_end(_strip_module_symbol_end(name)), "?", 0))
    exported = len(entries)
    end = mod.base + mod.size
    init_end = mod.init_base + mod.init_size
    for sym in _modules.kallsyms(kernel, mod):
        in_core = any(start <= sym.value <= stop for start, stop in mod.core)
        if not in_core and not mod.init_base <= sym.value <= init_end:
            continue
        if sym.shndx == SHN_UNDEF or not sym.name:
            continue
        name = strip_symbol_end(sym.name)
        letter = _st_info_letter(sym.info)
        for i in range(exported):
            value, ename, etype, _ = entries[i]
            if value == sym.value and ename == name:
                if etype == "?":
                    entries[i] = (value, ename, letter, sym.size)
                break
        else:
            entries.append((sym.value, name, letter, sym.size))
    entries.append((end, f"_MODULE_END_{mod.name}", "m", 0))
    if mod.init_size > 0:
        entries.append((init_end, f"_MODULE_INIT_END_{mod.name}", "m", 0))
    return _sorted_table(mod, entries)


def _regions_table(kernel: Kernel, mod: _modules.Module) -> _ModuleTable:
    """crash's ``store_module_symbols_6_4``: ``_MODULE_<type>_START_`` at each region's base, the exported
    and kallsyms symbols inside the regions, ``_MODULE_<type>_END_`` at each region's last byte."""
    entries = [(base, f"_MODULE_{kind}_START_{mod.name}", "m", 0) for kind, base, _ in mod.regions]
    for name, value in _modules.exported_symbols(kernel, mod):
        entries.append((value, strip_symbol_end(_strip_module_symbol_end(name)), "?", 0))
    exported = len(entries)
    for sym in _modules.kallsyms(kernel, mod):
        if not any(base <= sym.value < base + size for _, base, size in mod.regions):
            continue
        if sym.shndx == SHN_UNDEF or not sym.name:
            continue
        name = strip_symbol_end(sym.name)
        letter = _st_info_letter(sym.info)
        for i in range(len(mod.regions), exported):
            value, ename, etype, _ = entries[i]
            if value == sym.value and ename == name:
                if etype == "?":
                    entries[i] = (value, ename, letter, sym.size)
                break
        else:
            entries.append((sym.value, name, letter, sym.size))
    entries += [
        (base + size - 1, f"_MODULE_{kind}_END_{mod.name}", "m", 0) for kind, base, size in mod.regions
    ]
    return _sorted_table(mod, entries, whole=True)


def _sorted_table(
    mod: _modules.Module, entries: list[tuple[int, str, str, int]], whole: bool = False
) -> _ModuleTable:
    """crash's ``compare_syms`` order: by value, a ``_MODULE_START_`` pseudo symbol first among equals,
    everything else in insertion order (glibc's qsort is a stable merge sort).  Unless *whole*, only the
    core range is kept (``_MODULE_START_`` .. ``_MODULE_END_``), as crash slices its global table."""
    core = sorted(
        entries, key=lambda e: (e[0], not (e[1].startswith("_MODULE_START_") or _is_region_start(e[1])))
    )
    if not whole:
        start = next((i for i, e in enumerate(core) if e[1] == f"_MODULE_START_{mod.name}"), 0)
        stop = next((i for i, e in enumerate(core) if e[1] == f"_MODULE_END_{mod.name}"), len(core) - 1)
        core = core[start : stop + 1]
    return _ModuleTable(
        mod, [e[0] for e in core], [e[1] for e in core], [e[2] for e in core], [e[3] for e in core]
    )


def _ko_table(kernel: Kernel, mod: _modules.Module, path: str) -> _ModuleTable:
    """``store_load_module_symbols``: the ``.ko``'s own symbols placed at their load addresses.

    As crash does (``calculate_load_order_v2``), a section's load address is inferred from the first
    kallsyms symbol found in it (kallsyms value minus the symbol's offset in the object); symbols of
    sections never located that way are dropped.  A symbol takes its kallsyms value when kallsyms has
    that name (first unused match), else its section's address plus its offset; names starting with
    ``.`` are skipped; kallsyms symbols the object lacks (and the module markers) are kept; types are
    bfd's letters from the object file.
    """
    elf = ElfFile(path)
    ko_symbols = _crash_sorted(elf.symbols())
    base_table = _kallsyms_table(kernel, mod)
    sections = [sec for sec in elf.sections[1:] if sec.type not in (2, 3, 4, 9)]  # no SYMTAB/STRTAB/RELA/REL
    size_of = {sec.name: sec.size for sec in sections}
    first_by_name: dict[str, ElfSymbol] = {}
    for sym in ko_symbols:
        first_by_name.setdefault(sym.name, sym)
    found: dict[str, int] = {}
    if mod.percpu:
        for name in (".data.percpu", ".data..percpu"):
            if name in size_of:
                found[name] = mod.percpu
    for name, value in zip(base_table.names, base_table.values, strict=True):
        if name.startswith(_PSEUDO) or any(a <= value < a + size_of[n] for n, a in found.items()):
            continue
        match = first_by_name.get(name)
        if match is None or not 0 < match.shndx < len(elf.sections):
            continue
        secname = elf.sections[match.shndx].name
        if secname in size_of and secname not in found:
            found[secname] = value - match.value
    kall: dict[str, list[int]] = {}
    for name, value in zip(base_table.names, base_table.values, strict=True):
        kall.setdefault(name, []).append(value)
    used: dict[str, int] = {}
    entries: list[tuple[int, str, str, int]] = []
    for sym in ko_symbols:
        if not 0 < sym.shndx < len(elf.sections):
            continue
        secname = elf.sections[sym.shndx].name
        if secname not in found or not sym.name or sym.name.startswith("."):
            continue
        candidates = kall.get(sym.name, [])
        n = used.get(sym.name, 0)
        if n < len(candidates):
            value = candidates[n]
            used[sym.name] = n + 1
        elif mod.percpu and secname in (".data.percpu", ".data..percpu"):
            value = mod.percpu + sym.value
        else:
            value = found[secname] + sym.value
        entries.append((value, strip_symbol_end(_strip_module_symbol_end(sym.name)), sym.letter, sym.size))
    present = {e[1] for e in entries}
    for name, value, letter in zip(base_table.names, base_table.values, base_table.types, strict=True):
        if name not in present:
            entries.append((value, name, letter, 0))
    table = _sorted_table(mod, entries, whole=True)
    # Sections crash never located keep offset 0 (crash's mod_section_data[i].offset).
    table.sections = [
        (sec.name, found.get(sec.name, mod.base), found.get(sec.name, mod.base) + sec.size, sec.code)
        for sec in sections
        if sec.alloc
    ]
    return table


# ---- loading module objects (mod -s) --------------------------------------------------------------------


def load_module_object(kernel: Kernel, name: str, path: str) -> None:
    """Replace module *name*'s kallsyms-based symbols with those of the object file *path* (``mod -s``).

    Raises :class:`~crashcompat.core.elf.ElfError` / ``OSError`` when *path* is unreadable.
    """
    ElfFile(path)  # validate before recording
    _state(kernel).loaded[name] = path
    _forget_module_tables(kernel)


def unload_module_object(kernel: Kernel, name: str | None = None) -> None:
    """Forget the object file of module *name* (every module when ``None``): ``mod -d`` / ``mod -D``."""
    loaded = _state(kernel).loaded
    if name is None:
        loaded.clear()
    else:
        loaded.pop(name, None)
    _forget_module_tables(kernel)


def _forget_module_tables(kernel: Kernel) -> None:
    kernel._memo.pop("symbols.modules", None)
    kernel._memo.pop("symbols.module", None)
    kernel._memo.pop(_ANSWERS, None)
    kernel.forget_types()  # a module's debug info brings types and variables, or takes them away


_ANSWERS = "symbols.answers"
#: Entries :func:`answers` keeps before it starts again (a stack scan meets many words once).
ANSWERS_LIMIT = 1 << 18


def answers(kernel: Kernel) -> tuple[dict[int, Symbol | None], dict[int, bool]]:
    """Memos of :func:`lookup` and :func:`is_kernel_text` answers, by address, for callers that ask about
    the same words again and again (the stack tracer, over every task of ``foreach bt``): valid until the
    kernel runs or ``mod -s``/``mod -d`` changes module symbols.  Callers clear a memo past
    :data:`ANSWERS_LIMIT` entries."""
    return kernel.memo(_ANSWERS, lambda: ({}, {}))


def loaded_module_object(kernel: Kernel, name: str) -> str | None:
    """The object file ``mod -s`` loaded for module *name*, or ``None``."""
    return _state(kernel).loaded.get(name)


# ---- queries --------------------------------------------------------------------------------------------


def _letter_to_symbol(name: str, value: int, letter: str, size: int, module: str | None) -> Symbol:
    if letter in "wWvV":
        binding = SymbolBinding.WEAK
    elif letter.isupper():
        binding = SymbolBinding.GLOBAL
    elif letter.islower():
        binding = SymbolBinding.LOCAL
    else:
        binding = SymbolBinding.UNKNOWN
    lower = letter.lower()
    kind = SymbolKind.FUNC if lower == "t" else SymbolKind.OBJECT if lower in "dbrgs" else SymbolKind.OTHER
    return Symbol(name, value, size, binding, kind, module, letter)


def is_pseudo(sym: Symbol) -> bool:
    """Whether *sym* is one of crash's module marker symbols (``_MODULE_START_x``, ``_MODULE_END_x`` …)."""
    return sym.module is not None and sym.name.startswith(_PSEUDO)


def _module_lookup(tables: list[_ModuleTable], address: int) -> Symbol | None:
    """crash's ``value_search_module`` over the module tables (by base address)."""
    for table in tables:
        values, names = table.values, table.names
        if not values or values[0] > address:
            break
        last: int | None = None
        for i, value in enumerate(values):
            name = names[i]
            pseudo = name.startswith(_PSEUDO)
            if value == address:
                if _is_end_marker(name):
                    break
                j = i
                if pseudo and i + 1 < len(values):
                    if names[i + 1].startswith(_PSEUDO):
                        continue
                    if values[i + 1] == address:
                        j = i + 1
                if names[j].startswith(".") and j + 1 < len(values) and values[j + 1] == address:
                    j += 1
                return _entry(table, j)
            if value > address:
                return _entry(table, last if last is not None else max(i - 1, 0))
            if not pseudo or _is_region_start(name):
                last = i
    return None


def _entry(table: _ModuleTable, i: int) -> Symbol:
    return _letter_to_symbol(
        table.names[i], table.values[i], table.types[i], table.sizes[i], table.module.name
    )


def lookup(kernel: Kernel, address: int) -> Symbol | None:
    """The symbol crash names for *address* (``value_search``), or ``None`` when *address* is outside
    every symbol range (crash: ``invalid address``).  ``Symbol.module`` is set for module symbols;
    ``Symbol.type_char`` is the letter crash prints; ``address - Symbol.address`` is the offset.
    """
    table = _kernel_table(kernel)
    if table is None:
        return _target_lookup(kernel, address)
    # crash sends module-space addresses to the module tables only; an address outside every module and
    # above the last vmlinux symbol is out of range either way.
    mod = _modules.module_at(kernel, address)
    if mod is not None:
        return _module_lookup(_module_tables_for(kernel, mod, address), address)
    if not _in_kernel_range(table, address):
        return None
    values = table.values
    i = values.bisect_left(address) if isinstance(values, _Relocated) else bisect.bisect_left(values, address)
    if i < len(values) and values[i] == address:
        names = table.names
        j = i
        if names[j].startswith(".text.") and j + 1 < len(values) and values[j + 1] == address:
            j += 1
        if names[j].startswith(("SyS_", "compat_SyS_")) and j + 1 < len(values) and values[j + 1] == address:
            j += 1
        if "_text_start" in names[j] and j + 1 < len(values) and values[j + 1] == address:
            j += 1
        return _kernel_entry(table, j)
    return _kernel_entry(table, i - 1) if i > 0 else None


def _in_kernel_range(table: _KernelTable, address: int) -> bool:
    """crash's ``in_ksymbol_range`` (the vmlinux part)."""
    if not table.values or not table.values[0] <= address <= table.values[-1]:
        return False
    return not (table.percpu_syms and address < table.first_ksymbol)


def _module_tables_for(kernel: Kernel, mod: _modules.Module, address: int) -> list[_ModuleTable]:
    """The tables ``value_search_module`` must see for *address* in module *mod*.  Without ``.ko`` files the
    kallsyms tables span their modules' disjoint core ranges (:func:`_sorted_table`), so an address in
    *mod*'s core is settled by *mod*'s table alone; otherwise (a ``.ko`` table holds its init and per-cpu
    symbols too, or an init/per-cpu address) every table, in order."""
    if not _state(kernel).loaded and mod.contains(address):
        return [_module_table(kernel, mod)]
    return _module_tables(kernel)


def _target_lookup(kernel: Kernel, address: int) -> Symbol | None:
    """No vmlinux file: the backend's symbols, then the module tables."""
    mod = _modules.module_at(kernel, address)
    if mod is not None:
        return _module_lookup(_module_tables_for(kernel, mod, address), address)
    try:
        return kernel.target.symbol_at(address)
    except TargetError:
        return None


def lookup_all(kernel: Kernel, name: str) -> list[Symbol]:
    """Every symbol called *name*: vmlinux ones in table order, then module ones by value (what
    ``sym NAME`` lists).  Module marker symbols match only when *name* is one."""
    out: list[Symbol] = []
    table = _kernel_table(kernel)
    if table is not None:
        out += [_kernel_entry(table, i) for i in table.indexes(name)]
    else:
        with contextlib.suppress(TargetError):
            out.append(kernel.target.lookup_symbol(name))
    pseudo_query = name.startswith(_PSEUDO)
    found = []
    for mt in _module_tables(kernel):
        for i, entry_name in enumerate(mt.names):
            if entry_name == name:
                sym = _entry(mt, i)
                if pseudo_query or not is_pseudo(sym):
                    found.append(sym)
    found.sort(key=lambda s: s.address)
    return out + found


def address_of(kernel: Kernel, name: str) -> int:
    """The value of symbol *name*: vmlinux first, then modules (crash ``symbol_search``).

    Raises :class:`SymbolNotFound`.
    """
    found = lookup_all(kernel, name)
    if not found:
        raise SymbolNotFound(name)
    return found[0].address


def format_offset(sym: Symbol, address: int, radix: int = 10) -> str:
    """``name+off`` the way crash prints it: ``+0x%lx`` with output radix 16, ``+%ld`` otherwise, and no
    ``+0`` at the symbol's own address."""
    offset = address - sym.address
    if not offset:
        return sym.name
    return f"{sym.name}+0x{offset:x}" if radix == 16 else f"{sym.name}+{offset}"


def kernel_symbols(kernel: Kernel) -> list[Symbol]:
    """Every vmlinux symbol in crash's table order (``sym -l``'s first part)."""
    table = _kernel_table(kernel)
    if table is None:
        return sorted(kernel.target.symbols(), key=lambda s: (s.address, s.name))
    return [_kernel_entry(table, i) for i in range(len(table.values))]


def module_symbols(kernel: Kernel, module: str | None = None) -> list[Symbol]:
    """The symbols of module *module* (every module when ``None``) in crash's order, including the
    ``_MODULE_START_``/``_MODULE_END_`` markers (see :func:`is_pseudo`)."""
    out: list[Symbol] = []
    for mt in _module_tables(kernel):
        if module is None or mt.module.name == module:
            out += [_entry(mt, i) for i in range(len(mt.values))]
    return out


def adjacent(kernel: Kernel, sym: Symbol, step: int) -> Symbol | None:
    """The symbol before (*step* -1) or after (+1) *sym* in crash's walk over the vmlinux table and then
    every module's symbols without markers (``prev_symbol``/``next_symbol``: the next vmlinux symbol is
    the first with a larger value)."""
    table = _kernel_table(kernel)
    kernel_entries = len(table.values) if table is not None else 0
    mods = [s for s in module_symbols(kernel) if not is_pseudo(s)]
    if sym.module is None and table is not None:
        candidates = [i for i in table.indexes(sym.name) if table.values[i] == sym.address]
        if not candidates:
            return None
        i = candidates[0]
        if step < 0:
            return _kernel_entry(table, i - 1) if i > 0 else None
        for j in range(i + 1, kernel_entries):
            if table.values[j] > sym.address:
                return _kernel_entry(table, j)
        return mods[0] if mods else None
    for i, entry in enumerate(mods):
        if entry == sym:
            if step < 0:
                if i > 0:
                    return mods[i - 1]
                return (
                    _kernel_entry(table, kernel_entries - 1) if table is not None and kernel_entries else None
                )
            return mods[i + 1] if i + 1 < len(mods) else None
    return None


def _kernel_entry(table: _KernelTable, i: int) -> Symbol:
    return _letter_to_symbol(table.names[i], table.values[i], table.types[i], table.sizes[i], None)


def search(kernel: Kernel, pattern: str) -> list[Symbol]:
    """Symbols whose name contains *pattern* (``sym -q``): vmlinux in table order, then each module's
    (markers excluded)."""
    table = _kernel_table(kernel)
    if table is None:
        out = [s for s in kernel_symbols(kernel) if pattern in s.name]
    else:
        out = [_kernel_entry(table, i) for i, name in enumerate(table.names) if pattern in name]
    out += [s for s in module_symbols(kernel) if pattern in s.name and not is_pseudo(s)]
    return out


def is_kernel_text(kernel: Kernel, address: int) -> bool:
    """crash's ``is_kernel_text``: inside a vmlinux code section, at a text symbol, or inside a module's
    text (its loaded ``.ko`` code sections, else ``[base, base + text_size)``)."""
    table = _kernel_table(kernel)
    if table is not None and any(start <= address < end for start, end in table.code_ranges):
        return True
    sym = lookup(kernel, address)
    if sym is not None and sym.type_char in ("t", "T"):
        return True
    loaded = _state(kernel).loaded
    for mod in _modules.for_each_module(kernel):
        if not (mod.contains(address) or mod.contains_init(address)):
            continue
        mt = _module_table(kernel, mod) if mod.name in loaded else None  # only .ko tables have sections
        if mt is not None and mt.sections:
            return any(start <= address < end for _, start, end, code in mt.sections if code)
        if mod.contains_init(address):
            return mod.init_base <= address < mod.init_base + mod.init_size
        return mod.base <= address < mod.base + mod.text_size
    return False


def section_of(kernel: Kernel, address: int) -> str:
    """The section name holding *address* (``sym -s``): a vmlinux section, a loaded module's ``.ko``
    section, or ``in <module> module``; ``""`` if none."""
    for mt in _module_tables(kernel):
        mod = mt.module
        if mod.contains(address) or mod.contains_init(address) or mod.contains_percpu(address):
            for name, start, end, _ in reversed(mt.sections):
                if start <= address < end:
                    return name
            return "" if mt.sections else f"in {mod.name} module"
    path = kernel.target.info.vmlinux
    if path and _kernel_table(kernel) is not None:
        # crash's get_section compares with the vmlinux's unrelocated section addresses.
        for name, start, end in _load_vmlinux(path).sections:
            if start <= address < end:
                return name
    return ""
