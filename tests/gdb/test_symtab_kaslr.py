"""The GDB backend's pure parts: the ELF symbol table's lookup rules and the KASLR search.  (On the lab's
vmlinux, ``test_lab_gdb.py`` checks the symbol table against drgn's own lookups.)"""

from __future__ import annotations

from crashcompat.core.elf import STB_GLOBAL, STB_LOCAL, STB_WEAK, RawSymbols
from crashcompat.core.kernel.layout import KERNEL_IMAGE_SIZE_KASLR
from crashcompat.core.target import Symbol, SymbolBinding
from crashcompat.gdb import kaslr
from crashcompat.gdb.symtab import SymbolTable, preferred

G, W, L = SymbolBinding.GLOBAL, SymbolBinding.WEAK, SymbolBinding.LOCAL


def sym(name: str, address: int, size: int, binding: SymbolBinding = G) -> Symbol:
    return Symbol(name, address, size, binding)


def table(*symbols: Symbol, section: tuple[int, int] = (0, 1 << 64)) -> SymbolTable:
    """*symbols* (no type: ``STT_NOTYPE``) in file order, all in section 1 at *section*."""
    stb = {G: STB_GLOBAL, W: STB_WEAK, L: STB_LOCAL}
    raw = RawSymbols(
        [s.name for s in symbols],
        [s.address for s in symbols],
        [s.size for s in symbols],
        [stb[s.binding] << 4 for s in symbols],
        [1] * len(symbols),
    )
    return SymbolTable(raw, {1: section}, [(0, 1 << 64)])


def test_name_lookup_prefers_global_then_weak() -> None:
    t = table(sym("x", 0x10, 8, L), sym("x", 0x20, 8, W), sym("x", 0x30, 8, G), sym("y", 0x40, 8, L))
    assert preferred(t.by_name("x")) == sym("x", 0x30, 8, G)
    assert preferred(t.by_name("y")) == sym("y", 0x40, 8, L)
    assert preferred(t.by_name("z")) is None
    assert preferred([sym("x", 0x10, 8, L), sym("x", 0x20, 8, W)]) == sym("x", 0x20, 8, W)


def test_address_lookup_closest_containing() -> None:
    big = sym("big", 0x1000, 0x1000)
    inner = sym("inner", 0x1800, 0x10, L)
    alias_local = sym("alias_l", 0x1800, 0x10, L)
    alias_global = sym("alias_g", 0x1800, 0x10, G)
    smaller = sym("smaller", 0x1800, 0x8, L)
    t = table(
        big, inner, alias_local, alias_global, smaller, sym("marker", 0x1900, 0), sym("after", 0x2000, 0x10)
    )
    assert t.at(0x1000) == big
    assert t.at(0x1805) == smaller  # closest start, then the smaller one
    assert t.at(0x180A) == alias_global  # then the global one
    assert set(t.containing(0x180A)) == {big, inner, alias_local, alias_global}
    assert t.at(0x1900) == big  # a sized symbol holds it: the size-0 marker does not count
    assert t.at(0x2000) == sym("after", 0x2000, 0x10)
    assert t.at(0xFFF) is None


def test_size_0_symbols_stand_for_what_follows_them() -> None:
    sized = sym("sized", 0x1000, 0x10)
    asm_l = sym("asm_l", 0x1100, 0, L)
    asm_g = sym("asm_g", 0x1100, 0, G)
    t = table(sized, asm_l, asm_g, section=(0x1000, 0x2000))
    assert t.at(0x1105) == asm_g  # no sized symbol holds it: the closest size-0 one, global first
    assert t.at(0x1050) is None  # no size-0 symbol before it
    assert t.at(0x2005) is None  # outside the size-0 symbol's section
    covered = table(asm_g, sym("long", 0x1000, 0x200), section=(0x1000, 0x2000))
    assert covered.at(0x1300) is None  # "long" ends after asm_g starts: asm_g does not reach here


def test_candidates_put_the_pc_window_first() -> None:
    text_start, text_end = 0xFFFFFFFF81000000, 0xFFFFFFFF81E00000
    offset = 0x22600000
    pc = text_start + offset + 0x123456
    everything = list(kaslr.candidates(pc, text_start, text_end))
    window = (text_end - text_start) // kaslr.KASLR_ALIGN  # offsets that put pc inside the text
    first = everything[:window]
    assert offset in first
    assert all(c % kaslr.KASLR_ALIGN == 0 and text_start + c <= pc < text_end + c for c in first)
    assert everything[window] == 0  # then the whole window, in order
    assert len(everything) == len(set(everything)) == KERNEL_IMAGE_SIZE_KASLR // kaslr.KASLR_ALIGN
    assert list(kaslr.candidates(None, text_start, text_end))[:2] == [0, kaslr.KASLR_ALIGN]


def test_find_offset_reads_the_banner_back() -> None:
    banner = b"Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)"
    link = 0xFFFFFFFF82000100
    offset = 0x2CE00000
    memory = {link + offset: banner}
    reads = []

    def read(address: int, size: int) -> bytes:
        reads.append(address)
        if address in memory:
            return memory[address][:size]
        if address % 0x400000 == 0x100:  # some candidates are mapped but hold something else
            return b"\0" * size
        raise OSError("unmapped")

    assert kaslr.find_offset(read, link, banner, iter(range(0, 1 << 30, kaslr.KASLR_ALIGN))) == offset
    assert kaslr.find_offset(read, link, banner, iter([0, kaslr.KASLR_ALIGN])) is None


def test_gdb_quote() -> None:
    assert kaslr.gdb_quote("/a/b") == "/a/b"
    assert kaslr.gdb_quote('/a b/"c"') == '"/a b/\\"c\\""'
