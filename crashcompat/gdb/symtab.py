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
  one in the file on a tie.
- by address (section, file and TLS symbols never match): the symbol whose ``[address, address + size)``
  holds it and starts closest to it (then the smaller, then the global one); failing that, the closest
  size-0 symbol before it, if no sized symbol ends past that one and the address is inside its section
  (hand-written assembly often has no size).
"""

from __future__ import annotations

import bisect
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
    ElfSymbol,
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
#: Symbol types an address never resolves to.
_NOT_ADDRESSES = (STT_SECTION, STT_FILE, STT_TLS)

#: Run-time ``(start, end)`` of a symbol's section, for the size-0 rule (``None``: not in a section).
SectionRange = tuple[int, int] | None


def _convert(sym: ElfSymbol, address: int, module: str | None) -> Symbol:
    return Symbol(
        sym.name,
        address,
        sym.size,
        _BINDINGS.get(sym.binding, SymbolBinding.UNKNOWN),
        _KINDS.get(sym.type, SymbolKind.OTHER),
        module,
    )


def _rank(sym: Symbol) -> int:
    return _RANK.get(sym.binding, 2)


def preferred(candidates: list[Symbol]) -> Symbol | None:
    """The candidate drgn would return by name: global before weak before the rest, first on a tie."""
    return min(candidates, key=_rank) if candidates else None


class SymbolTable:
    """The symbols of one ELF file at their run-time addresses.

    :param entries: ``(symbol, section range, type)`` in file order (``STT_*`` *type*).
    :param spans: the run-time address ranges the file occupies: addresses elsewhere (per-cpu offsets
        in particular) name none of its symbols.
    """

    def __init__(self, entries: list[tuple[Symbol, SectionRange, int]], spans: list[tuple[int, int]]) -> None:
        self.symbols = [sym for sym, _, _ in entries]
        self.spans = spans
        self._by_name: dict[str, list[Symbol]] = {}
        for sym, _, kind in entries:
            if kind != STT_SECTION:  # drgn knows section symbols by their (empty) ELF name only
                self._by_name.setdefault(sym.name, []).append(sym)
        ordered = sorted(
            ((s, r) for s, r, kind in entries if kind not in _NOT_ADDRESSES), key=lambda e: e[0].address
        )
        self._ordered = [s for s, _ in ordered]
        self._sections = [r for _, r in ordered]
        self._starts = [s.address for s in self._ordered]
        # _reach[i]: the highest end among _ordered[0..i] (sizeless symbols end where they start).
        self._reach: list[int] = []
        reach = 0
        for sym in self._ordered:
            reach = max(reach, sym.address + sym.size)
            self._reach.append(reach)

    @classmethod
    def vmlinux(cls, elf: ElfFile, offset: int, symbols: list[ElfSymbol] | None = None) -> SymbolTable:
        """*elf*'s symbols (*symbols*, when already read) for a kernel loaded at KASLR *offset*."""
        image = [s for s in elf.sections if s.alloc and s.address]
        start = min((s.address for s in image), default=0)
        end = max((s.address + s.size for s in image), default=0)
        entries: list[tuple[Symbol, SectionRange, int]] = []
        for sym in elf.symbols() if symbols is None else symbols:
            if sym.shndx == SHN_UNDEF:
                continue
            address = sym.value + offset if start <= sym.value < end else sym.value
            section = None
            if sym.shndx < len(elf.sections):
                sec = elf.sections[sym.shndx]
                section = (sec.address + offset, sec.address + offset + sec.size)
            entries.append((_convert(sym, address, None), section, sym.type))
        return cls(entries, [(start + offset, end + offset)])

    @classmethod
    def module(cls, elf: ElfFile, name: str, sections: Mapping[str, int]) -> SymbolTable:
        """The symbols of module *name*'s ``.ko`` *elf* whose sections are loaded at *sections*."""
        entries: list[tuple[Symbol, SectionRange, int]] = []
        spans = []
        for sec in elf.sections:
            if sec.name in sections and sec.alloc and sec.size:
                spans.append((sections[sec.name], sections[sec.name] + sec.size))
        for sym in elf.symbols():
            if sym.shndx == SHN_ABS:
                address, section = sym.value, None
            elif sym.shndx < len(elf.sections) and elf.sections[sym.shndx].name in sections:
                sec = elf.sections[sym.shndx]
                base = sections[sec.name]
                address, section = base + sym.value, (base, base + sec.size)
            else:
                continue
            entries.append((_convert(sym, address, name), section, sym.type))
        return cls(entries, spans)

    def __iter__(self) -> Iterator[Symbol]:
        return iter(self.symbols)

    def by_name(self, name: str) -> list[Symbol]:
        return self._by_name.get(name, [])

    def containing(self, address: int) -> list[Symbol]:
        """Sized symbols whose extent holds *address*, the closest start first."""
        out = []
        i = bisect.bisect_right(self._starts, address) - 1
        while i >= 0 and self._reach[i] > address:
            sym = self._ordered[i]
            if address < sym.address + sym.size:
                out.append(sym)
            i -= 1
        return out

    def at(self, address: int) -> Symbol | None:
        """The symbol drgn's ``Program.symbol(address)`` names (see the module docstring)."""
        if not any(start <= address < end for start, end in self.spans):
            return None
        found = self.containing(address)
        if found:  # closest start, then smallest, then global first; the first in the file on a tie
            return min(reversed(found), key=lambda s: (-s.address, s.size, _rank(s)))
        last = bisect.bisect_right(self._starts, address) - 1
        i = last
        while i >= 0 and self._ordered[i].size:
            i -= 1
        # The closest size-0 symbol counts only if no sized symbol before it ends after it.
        if i < 0 or self._ordered[i].address < self._reach[last]:
            return None
        closest = self._ordered[i].address
        best = i
        while i >= 0 and self._ordered[i].address == closest:
            if not self._ordered[i].size and _rank(self._ordered[i]) <= _rank(self._ordered[best]):
                best = i
            i -= 1
        section = self._sections[best]
        return self._ordered[best] if section is not None and section[0] <= address < section[1] else None
