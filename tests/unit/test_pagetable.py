"""x86_64 page-table walks on synthetic page tables built in physical memory."""

from __future__ import annotations

import pytest

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.pagetable import (
    PAGE_SIZE_1G,
    PAGE_SIZE_2M,
    paging,
    pte_flags,
    swap_entry,
    translate,
)
from crashcompat.core.target import FaultError
from crashcompat.testing.synthetic import SyntheticTarget

START_KERNEL_MAP = 0xFFFFFFFF80000000
PHYS_BASE = 0x3C00000
PGD_VIRT = 0xFFFFFFFF83E10000  # init_top_pgt, as on the lab dumps
PGD_PHYS = PGD_VIRT - START_KERNEL_MAP + PHYS_BASE
PRESENT_RW = 0x63  # PRESENT|RW|ACCESSED|DIRTY
NX = 1 << 63


class Tables:
    """Page tables in a SyntheticTarget's physical memory; every table is a fresh 4 KiB page."""

    def __init__(self, target: SyntheticTarget, top: int, five_level: bool = False) -> None:
        self.target = target
        self.five_level = five_level
        self.pages: dict[int, bytearray] = {}
        self.next_page = 0x10_0000_0000
        self._table(top)
        self.top = top

    def _table(self, address: int) -> None:
        self.pages[address] = bytearray(4096)
        self.target.map_physical(address, bytes(4096))

    def _entry(self, table: int, index: int, value: int) -> None:
        self.pages[table][8 * index : 8 * index + 8] = value.to_bytes(8, "little")
        self.target.map_physical(table, bytes(self.pages[table]))  # map_physical copies

    def _get(self, table: int, index: int) -> int:
        return int.from_bytes(self.pages[table][8 * index : 8 * index + 8], "little")

    def map(self, virt: int, phys: int, leaf_level: str = "PTE", flags: int = PRESENT_RW | NX) -> None:
        shifts = {"PGD": 48 if self.five_level else 39, "P4D": 39, "PUD": 30, "PMD": 21, "PTE": 12}
        levels = ["PGD", "P4D", "PUD", "PMD", "PTE"] if self.five_level else ["PGD", "PUD", "PMD", "PTE"]
        table = self.top
        for level in levels:
            index = (virt >> shifts[level]) & 511
            if level == leaf_level:
                self._entry(table, index, phys | flags | (0x80 if level != "PTE" else 0))
                return
            entry = self._get(table, index)
            if not entry:
                new = self.next_page
                self.next_page += 4096
                self._table(new)
                entry = new | 0x67
                self._entry(table, index, entry)
            table = entry & 0x000F_FFFF_FFFF_F000


def make_target(vmcoreinfo: dict[str, str] | None = None) -> SyntheticTarget:
    t = SyntheticTarget()
    t.add_symbol("init_top_pgt", PGD_VIRT, 4096)
    t.set_vmcoreinfo(vmcoreinfo if vmcoreinfo is not None else {"NUMBER(phys_base)": str(PHYS_BASE)})
    return t


def test_4level_4k_page() -> None:
    t = make_target()
    tables = Tables(t, PGD_PHYS)
    tables.map(0xFFFFFFFFC03D8000, 0x264F000)
    walk = translate(t, 0xFFFFFFFFC03D8040)
    assert walk.ok and walk.physical == 0x264F040 and walk.page == 0x264F000
    assert [e.level for e in walk.entries] == ["PGD", "PUD", "PMD", "PTE"]
    assert walk.entries[0].address == PGD_PHYS + 8 * 511
    assert walk.pte == 0x264F000 | PRESENT_RW | NX


def test_large_pages_and_kernel_object() -> None:
    t = make_target()
    tables = Tables(t, PGD_PHYS)
    tables.map(0xFFFF8DAA41800000, 0x1800000, "PMD")
    tables.map(0xFFFF8DAA80000000, 0x80000000, "PUD")
    walk = translate(Kernel(t), 0xFFFF8DAA41933000)
    assert walk.physical == 0x1933000 and walk.page == 0x1800000 and walk.page_size == PAGE_SIZE_2M
    assert [e.level for e in walk.entries] == ["PGD", "PUD", "PMD"]
    walk = translate(t, 0xFFFF8DAA8ABCDEF0)
    assert walk.physical == 0x8ABCDEF0 and walk.page_size == PAGE_SIZE_1G


def test_not_mapped_and_not_accessible() -> None:
    t = make_target()
    tables = Tables(t, PGD_PHYS)
    tables.map(0xFFFFC90000000000, 0x5000)
    walk = translate(t, 0xFFFFC90000001000)  # same PMD table, empty PTE
    assert not walk.ok and walk.error == "not mapped" and walk.entries[-1].level == "PTE"
    walk = translate(t, 0xFFFFC90000200000)  # empty PMD entry
    assert walk.error == "not mapped" and walk.entries[-1].level == "PMD"
    # a PMD pointing at a physical page the dump does not hold
    pmd_table = walk.entries[-1].table
    tables._entry(pmd_table, 1, 0x7777000 | 0x67)
    walk = translate(t, 0xFFFFC90000200000)
    assert walk.error == "not accessible" and walk.entries[-1].level == "PMD"


def test_5level_from_vmcoreinfo() -> None:
    t = make_target({"NUMBER(phys_base)": str(PHYS_BASE), "NUMBER(pgtable_l5_enabled)": "1"})
    tables = Tables(t, PGD_PHYS, five_level=True)
    tables.map(0xFF11000012345000, 0x12345000)
    walk = translate(t, 0xFF11000012345678)
    assert walk.five_level and walk.physical == 0x12345678
    assert [e.level for e in walk.entries] == ["PGD", "P4D", "PUD", "PMD", "PTE"]
    assert walk.entries[0].address == PGD_PHYS + 8 * ((0xFF11000012345678 >> 48) & 511)


def test_globals_when_vmcoreinfo_is_empty() -> None:
    t = make_target({})
    for name, value, size in (("phys_base", PHYS_BASE, 8), ("__pgtable_l5_enabled", 0, 4)):
        address = t.alloc(8)
        t.write_u64(address, value)
        t.add_symbol(name, address, size)
    p = paging(t)
    assert p.phys_base == PHYS_BASE and not p.five_level and p.kernel_pgd_physical == PGD_PHYS


def test_user_walk_protnone_and_swap() -> None:
    t = make_target()
    offset_base = t.alloc(8)
    t.write_u64(offset_base, 0xFFFF8DAA40000000)
    t.add_symbol("page_offset_base", offset_base, 8)
    user_pgd_phys = 0x4000000
    tables = Tables(t, user_pgd_phys)
    tables.map(0x7F1C7F0E7000, 0x9000000, flags=0x100 | 0x20 | 0x04)  # PROTNONE|ACCESSED|USER
    walk = translate(t, 0x7F1C7F0E7010, pgd=0xFFFF8DAA40000000 + user_pgd_phys)
    assert walk.pgd == user_pgd_phys and walk.physical == 0x9000010
    # a swap entry built with the kernel's __swp_entry() (arch/x86/include/asm/pgtable_64.h, 4.18+)
    swp_type, swp_offset = 1, 0x1234
    value = ((~swp_offset << 14) & (1 << 64) - 1) >> 5 | swp_type << 59
    tables.map(0x7F1C7F0E8000, 0, flags=value)
    walk = translate(t, 0x7F1C7F0E8000, pgd=0xFFFF8DAA40000000 + user_pgd_phys)
    assert walk.error == "not mapped" and walk.pte == value
    assert swap_entry(walk.pte) == (swp_type, swp_offset)


def test_pte_flags_as_crash_prints_them() -> None:
    # crash 8.0.2 on the lab dump qemu-sysrq-elf, 27-pte.txt and 14-vtop_ffff8daa41933000.txt
    assert "|".join(pte_flags(0x800000000264F163)) == "PRESENT|RW|ACCESSED|DIRTY|GLOBAL|NX"
    assert "|".join(pte_flags(0x80000000018001E3)) == "PRESENT|RW|ACCESSED|DIRTY|PSE|GLOBAL|NX"
    assert pte_flags(0) == []
    assert pte_flags(0x100 | 0x80) == ["PROTNONE", "GLOBAL"]  # PSE only when present; PROTNONE is the G bit


def test_recursion_from_a_backend_read_is_a_fault() -> None:
    class Recursive(SyntheticTarget):
        def read(self, address: int, size: int) -> bytes:
            translate(self, address)
            return super().read(address, size)

    t = Recursive()
    t.add_symbol("init_top_pgt", PGD_VIRT, 4096)
    t.add_symbol("phys_base", 0xFFFFFFFF83000000, 8)
    t.set_vmcoreinfo({})
    with pytest.raises(FaultError):
        t.read(0xFFFF888000000000, 8)
