"""ELF symbol tables at run-time addresses: the vmlinux's (KASLR applied) and those of module ``.ko`` files
loaded with ``mod -s``.

GDB's own symbol lookups see debug info, not the ELF symbol table, and know nothing of a kernel's per-cpu
section, so :class:`~crashcompat.gdb.target.GdbTarget` answers symbol questions from these tables instead,
by the rules drgn documents for ``Program.symbol()`` — the drgn backend's answers:

- placement: a vmlinux symbol moves by the KASLR offset when its value lies in the kernel image (the
  span of its allocated sections); values outside it — per-cpu offsets (``.data..percpu`` is linked at
  0), absolute constants — stay as they are.  A module symbol is its section's load address plus its
  value (a ``.ko`` is relocatable); symbols of sections not loaded are left out.
- by name: a global (or unique) symbol is preferred to a weak one, a weak one to any other, the first
  one in the file on a tie.  Section symbols have no name for this (drgn sees their empty ELF name).
- by address (section, file and TLS symbols never match): the symbol whose ``[address, address + size)``
  holds it and starts closest to it (then the smaller, then the global one); failing that, the closest
  size-0 symbol before it, if no sized symbol ends past that one and the address is inside its section
  (hand-written assembly often has no size).

The vmlinux has ~120 000 symbols and a session looks up a few hundred, so a table keeps them as parallel
lists read straight from ``.symtab`` (:meth:`ElfFile.symbol_columns <crashcompat.core.elf.ElfFile.symbol_columns>`), builds its by-name and by-address indexes on
first use, and makes a :class:`~crashcompat.core.target.Symbol` only for what a lookup returns.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterator, Mapping

from crashcompat.core.elf import (
    SHN_ABS,
    SHN_UNDEF,
    STB_GLOBAL,
    STB_GNU_UNIQUE,
    STB_LOCAL,
    STB_WEAK,
    STT_COMMON,
    STT_FILE,
    STT_FUNC,
    STT_GNU_IFUNC,
    STT_OBJECT,
    STT_SECTION,
    ElfFile,
    RawSymbols,
)
from crashcompat.core.target import Symbol, SymbolBinding, SymbolKind

STT_TLS = 6

_BINDINGS = {
    STB_GLOBAL: SymbolBinding.GLOBAL,
    STB_GNU_UNIQUE: SymbolBinding.GLOBAL,
    STB_LOCAL: SymbolBinding.LOCAL,
    STB_WEAK: SymbolBinding.WEAK,
}
_KINDS = {
    STT_FUNC: SymbolKind.FUNC,
    STT_GNU_IFUNC: SymbolKind.FUNC,
    STT_OBJECT: SymbolKind.OBJECT,
    STT_COMMON: SymbolKind.OBJECT,
    STT_TLS: SymbolKind.OBJECT,
}
_RANK = {SymbolBinding.GLOBAL: 0, SymbolBinding.WEAK: 1}
#: The by-name rank of each ``st_info`` binding (``st_info >> 4``): global and unique, weak, the rest.
_INFO_RANK = {STB_GLOBAL: 0, STB_GNU_UNIQUE: 0, STB_WEAK: 1}
#: Symbol types an address never resolves to.
_NOT_ADDRESSES = (STT_SECTION, STT_FILE, STT_TLS)


class SymbolTable:
    """The symbols of one ELF file at their run-time addresses.

    :param symbols: the symbols in file order, ``values`` already at their run-time addresses.
    :param sections: run-time ``(start, end)`` of each section a symbol's ``st_shndx`` names (others:
        not in a section).
    :param spans: the run-time address ranges the file occupies: addresses elsewhere (per-cpu offsets
        in particular) name none of its symbols.
    :param module: the module's name, ``None`` for vmlinux.
    """

    def __init__(
        self,
        symbols: RawSymbols,
        sections: Mapping[int, tuple[int, int]],
        spans: list[tuple[int, int]],
        module: str | None = None,
    ) -> None:
        self.raw = symbols
        self.sections = sections
        self.spans = spans
        self.module_name = module
        # The indexes (:meth:`index`): the first index of each name and the later ones of names used more
        # than once; addressable symbols' indexes by address (stable: file order on a tie), their
        # addresses, and _reach[i], the highest end among _ordered[0..i] (size-0 symbols end at their start).
        self._first: dict[str, int] = {}
        self._more: dict[str, list[int]] = {}
        self._ordered: list[int] = []
        self._starts: list[int] = []
        self._reach: list[int] = []
        self._indexed = False

    @classmethod
    def vmlinux(cls, elf: ElfFile, offset: int) -> SymbolTable:
        """*elf*'s symbols for a kernel loaded at KASLR *offset*."""
        raw = elf.symbol_columns()
        if SHN_UNDEF in raw.shndx:
            raw = raw.subset([i for i, s in enumerate(raw.shndx) if s != SHN_UNDEF])
        image = [s for s in elf.sections if s.alloc and s.address]
        start = min((s.address for s in image), default=0)
        end = max((s.address + s.size for s in image), default=0)
        if offset:
            raw.values = [v + offset if start <= v < end else v for v in raw.values]
        sections = {s.index: (s.address + offset, s.address + offset + s.size) for s in elf.sections}
        return cls(raw, sections, [(start + offset, end + offset)])

    @classmethod
    def module(cls, elf: ElfFile, name: str, sections: Mapping[str, int]) -> SymbolTable:
        """The symbols of module *name*'s ``.ko`` *elf* whose sections are loaded at *sections*."""
        ranges: dict[int, tuple[int, int]] = {}
        spans = []
        for sec in elf.sections:
            if sec.name in sections:
                ranges[sec.index] = (sections[sec.name], sections[sec.name] + sec.size)
                if sec.alloc and sec.size:
                    spans.append(ranges[sec.index])
        raw = elf.symbol_columns()
        raw = raw.subset([i for i, s in enumerate(raw.shndx) if s == SHN_ABS or s in ranges])
        raw.values = [
            v if s == SHN_ABS else ranges[s][0] + v for v, s in zip(raw.values, raw.shndx, strict=True)
        ]
        return cls(raw, ranges, spans, name)

    def __len__(self) -> int:
        return len(self.raw)

    def __iter__(self) -> Iterator[Symbol]:
        return map(self.symbol, range(len(self)))

    def symbol(self, i: int) -> Symbol:
        """The *i*-th symbol in file order."""
        raw = self.raw
        info = raw.infos[i]
        binding = _BINDINGS.get(info >> 4, SymbolBinding.UNKNOWN)
        return Symbol(
            raw.names[i],
            raw.values[i],
            raw.sizes[i],
            binding,
            _KINDS.get(info & 0xF, SymbolKind.OTHER),
            self.module_name,
        )

    def index(self) -> None:
        """Build the by-name and by-address indexes now (else the first lookup does)."""
        if self._indexed:
            return
        self._indexed = True
        raw = self.raw
        first = self._first = dict(zip(reversed(raw.names), range(len(raw) - 1, -1, -1), strict=True))
        for i in [i for i, n in enumerate(raw.names) if first[n] != i]:
            self._more.setdefault(raw.names[i], []).append(i)
        ordered = [i for i, info in enumerate(raw.infos) if info & 0xF not in _NOT_ADDRESSES]
        ordered.sort(key=raw.values.__getitem__)
        self._ordered = ordered
        self._starts = list(map(raw.values.__getitem__, ordered))
        ends = map(operator.add, self._starts, map(raw.sizes.__getitem__, ordered))
        self._reach = list(itertools.accumulate(ends, max))

    def by_name(self, name: str) -> list[Symbol]:
        self.index()
        i = self._first.get(name)
        if i is None:
            return []
        infos = self.raw.infos
        found = [i, *self._more.get(name, ())]
        return [self.symbol(i) for i in found if infos[i] & 0xF != STT_SECTION]

    def _containing(self, address: int) -> list[int]:
        """Indexes of the sized symbols whose extent holds *address*, the closest start first."""
        self.index()
        out = []
        values, sizes = self.raw.values, self.raw.sizes
        k = bisect.bisect_right(self._starts, address) - 1
        while k >= 0 and self._reach[k] > address:
            i = self._ordered[k]
            if address < values[i] + sizes[i]:
                out.append(i)
            k -= 1
        return out

    def containing(self, address: int) -> list[Symbol]:
        """Sized symbols whose extent holds *address*, the closest start first."""
        return [self.symbol(i) for i in self._containing(address)]

    def _rank(self, i: int) -> int:
        return _INFO_RANK.get(self.raw.infos[i] >> 4, 2)

    def at(self, address: int) -> Symbol | None:
        """The symbol drgn's ``Program.symbol(address)`` names (see the module docstring)."""
        if not any(start <= address < end for start, end in self.spans):
            return None
        values, sizes = self.raw.values, self.raw.sizes
        found = self._containing(address)
        if found:  # closest start, then smallest, then global first; the first in the file on a tie
            return self.symbol(min(reversed(found), key=lambda i: (-values[i], sizes[i], self._rank(i))))
        last = bisect.bisect_right(self._starts, address) - 1
        k = last
        while k >= 0 and sizes[self._ordered[k]]:
            k -= 1
        # The closest size-0 symbol counts only if no sized symbol before it ends after it.
        if k < 0 or self._starts[k] < self._reach[last]:
            return None
        closest = self._starts[k]
        best = self._ordered[k]
        while k >= 0 and self._starts[k] == closest:
            i = self._ordered[k]
            if not sizes[i] and self._rank(i) <= self._rank(best):
                best = i
            k -= 1
        section = self.sections.get(self.raw.shndx[best])
        return self.symbol(best) if section is not None and section[0] <= address < section[1] else None


def _rank(sym: Symbol) -> int:
    return _RANK.get(sym.binding, 2)


def preferred(candidates: list[Symbol]) -> Symbol | None:
    """The candidate drgn would return by name: global before weak before the rest, first on a tie."""
    return min(candidates, key=_rank) if candidates else None
