"""x86_64 page tables: 4- and 5-level walks, PTE flag names and swap entries, as crash computes them.

Everything here reads page tables through :meth:`Target.read_physical` only, and :func:`translate` accepts
a bare :class:`~crashcompat.core.target.Target`, so a backend can call it from its own ``read()`` fallback
to reach vmalloc'd memory its core file does not map.  What a walk needs besides the tables (the
kernel's top-level table, ``phys_base``) comes from VMCOREINFO and symbols, see :func:`paging`; the
address layout (paging depth, ``PAGE_OFFSET``, the vmalloc and module areas) from :mod:`.layout`.

crash's references: ``x86_64_kvtop()``, ``x86_64_uvtop_level4()``, ``x86_64_translate_pte()``,
``x86_64_swp_type()/x86_64_swp_offset()`` in x86_64.c.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crashcompat.core.kernel import layout as _layout
from crashcompat.core.target import FaultError, SymbolNotFound, Target, TargetError

if TYPE_CHECKING:
    from crashcompat.core.kernel import Kernel

__all__ = [
    "PAGE_SIZE_1G",
    "PAGE_SIZE_2M",
    "PAGE_SIZE_4K",
    "Entry",
    "Paging",
    "Walk",
    "kvtop",
    "paging",
    "pte_flags",
    "pte_physical",
    "pte_present",
    "swap_entry",
    "translate",
]

PAGE_SIZE_4K = 1 << 12
PAGE_SIZE_2M = 1 << 21
PAGE_SIZE_1G = 1 << 30


_PAGE_PRESENT = 0x001
_PAGE_RW = 0x002
_PAGE_USER = 0x004
_PAGE_PWT = 0x008
_PAGE_PCD = 0x010
_PAGE_ACCESSED = 0x020
_PAGE_DIRTY = 0x040
_PAGE_PSE = 0x080
_PAGE_GLOBAL = 0x100
#: ``_PAGE_PROTNONE`` shares the GLOBAL bit (2.6.28+), meaningful only when PRESENT is clear.
_PAGE_PROTNONE = _PAGE_GLOBAL
_PAGE_NX = 1 << 63
#: ``__PHYSICAL_MASK_SHIFT`` is 52 on x86_64; crash uses 46 on 4-level kernels, which only differs for
#: physical addresses at or above 64 TiB.
PHYSICAL_PAGE_MASK = ((1 << 52) - 1) & ~(PAGE_SIZE_4K - 1)

_FLAG_NAMES = (
    (_PAGE_PRESENT, "PRESENT"),
    (_PAGE_RW, "RW"),
    (_PAGE_USER, "USER"),
    (_PAGE_PWT, "PWT"),
    (_PAGE_PCD, "PCD"),
    (_PAGE_ACCESSED, "ACCESSED"),
    (_PAGE_DIRTY, "DIRTY"),
)


def pte_flags(value: int) -> list[str]:
    """The flag names crash's ``pte`` prints for a page-table entry, in crash's order.

    PSE only on a present entry, PROTNONE only on a non-present one (``x86_64_translate_pte()``);
    an empty list for 0 (crash prints ``(no mapping)``).

    :param value: a ``pte_t``/``pmd_t``/``pud_t`` value.
    """
    if not value:
        return []
    names = [name for bit, name in _FLAG_NAMES if value & bit]
    present = bool(value & _PAGE_PRESENT)
    if value & _PAGE_PSE and present:
        names.append("PSE")
    if value & _PAGE_PROTNONE and not present:
        names.append("PROTNONE")
    if value & _PAGE_GLOBAL:
        names.append("GLOBAL")
    if value & _PAGE_NX:
        names.append("NX")
    return names


def pte_present(value: int) -> bool:
    """``pte_present()``: PRESENT or PROTNONE (a PROT_NONE or NUMA-hinting mapping still maps a page)."""
    return bool(value & (_PAGE_PRESENT | _PAGE_PROTNONE))


def pte_physical(value: int) -> int:
    """The page frame address in an entry (``pte & PHYSICAL_PAGE_MASK``), SME bit not removed."""
    return value & PHYSICAL_PAGE_MASK


def swap_entry(value: int, l1tf: bool = True) -> tuple[int, int]:
    """(swap type, swap offset) of a non-present, non-zero PTE.

    Since 4.18 (commit 2f22b4cd45b6 "x86/speculation/l1tf: Protect swap entries against L1TF") the type
    is in bits 59-63 and the offset is stored inverted in bits 9-58; before, type in bits 9-13 and offset
    from bit 14 (4.8+).

    :param value: a ``pte_t`` holding a swap entry.
    :param l1tf: whether the kernel has the L1TF layout.
    """
    if l1tf:
        return value >> 59, ((~value << 5) & ((1 << 64) - 1)) >> 14
    return (value >> 9) & 0x1F, value >> 14


# ---- what a walk needs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    """The kernel's paging setup.

    :param kernel_pgd: virtual address of the kernel's top-level table (``init_top_pgt``).
    :param kernel_pgd_physical: its physical address.
    :param phys_base: ``phys_base``: physical address of the kernel image minus its link address.
    :param layout: the kernel's address layout (:func:`crashcompat.core.kernel.layout.layout`).
    :param sme_mask: the AMD SME encryption bit(s) to remove from entries (``sme_me_mask``).
    """

    kernel_pgd: int
    kernel_pgd_physical: int
    phys_base: int
    layout: _layout.Layout
    sme_mask: int = 0

    @property
    def five_level(self) -> bool:
        return self.layout.five_level

    def virt_to_phys(self, address: int) -> int:
        """``__pa()`` of a kernel-image or direct-map address (``x86_64_VTOP()``); no table walk."""
        if address >= _layout.START_KERNEL_MAP:
            return (address - _layout.START_KERNEL_MAP + self.phys_base) & (1 << 64) - 1
        return address - self.layout.page_offset

    @property
    def levels(self) -> tuple[str, ...]:
        return ("PGD", "P4D", "PUD", "PMD", "PTE") if self.five_level else ("PGD", "PUD", "PMD", "PTE")


_cache: weakref.WeakKeyDictionary[Target, Paging] = weakref.WeakKeyDictionary()
_busy = threading.local()


def _target_of(kernel_or_target: Kernel | Target) -> Target:
    return kernel_or_target if isinstance(kernel_or_target, Target) else kernel_or_target.target


def paging(kernel_or_target: Kernel | Target) -> Paging:
    """The :class:`Paging` facts of a kernel, computed once per target.

    Sources, in order: VMCOREINFO (``SYMBOL(init_top_pgt)``, ``NUMBER(phys_base)``,
    ``NUMBER(sme_mask)``; arch/x86/kernel/machine_kexec_64.c), then the
    symbols and the global ``phys_base``, which lives in the kernel image (no page-table walk needed to
    read it); the layout from :func:`crashcompat.core.kernel.layout.layout`.  If a backend's ``read()``
    calls :func:`translate` while these are being computed, that inner call raises :class:`FaultError`
    instead of recursing.

    :raises TargetError: when the kernel's top-level table cannot be found.
    """
    target = _target_of(kernel_or_target)
    found = _cache.get(target)
    if found is not None:
        return found
    busy: set[int] = _busy.__dict__.setdefault("targets", set())
    if id(target) in busy:
        raise FaultError(0, reason="page tables are not known yet")
    busy.add(id(target))
    try:
        found = _cache[target] = _compute_paging(target)
    finally:
        busy.discard(id(target))
    return found


def _compute_paging(target: Target) -> Paging:
    info = target.vmcoreinfo

    def number(key: str) -> int | None:
        text = info.get(key)
        try:  # VMCOREINFO prints unsigned values with %ld: phys_base may read negative
            return int(text, 0) & (1 << 64) - 1 if text is not None else None
        except ValueError:
            return None

    def symbol(*names: str) -> int | None:
        for name in names:
            try:
                return target.symbol_address(name)
            except SymbolNotFound:
                continue
        for name in names:
            text = info.get(f"SYMBOL({name})")
            if text:
                return int(text, 16)
        return None

    def global_u64(name: str) -> int | None:
        address = symbol(name)
        if address is None:
            return None
        try:
            return int.from_bytes(target.read(address, 8), "little")
        except TargetError:
            return None

    # init_level4_pgt was renamed init_top_pgt in 4.13 (commit 65ade2f872b4 "x86/boot/64: Rename
    # init_level4_pgt and early_level4_pgt").
    pgd = symbol("init_top_pgt", "init_level4_pgt")
    if pgd is None:
        raise TargetError("cannot find the kernel page table (init_top_pgt)")
    phys_base = number("NUMBER(phys_base)")
    if phys_base is None:
        phys_base = global_u64("phys_base") or 0
    return Paging(
        kernel_pgd=pgd,
        kernel_pgd_physical=(pgd - _layout.START_KERNEL_MAP + phys_base) & (1 << 64) - 1,
        phys_base=phys_base,
        layout=_layout.layout(target),
        sme_mask=number("NUMBER(sme_mask)") or 0,
    )


# ---- the walk -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One level of a walk.

    :param level: ``"PGD"``, ``"P4D"``, ``"PUD"``, ``"PMD"`` or ``"PTE"``.
    :param table: physical address of the table.
    :param address: physical address of the entry (what crash prints left of ``=>``).
    :param value: the entry, SME bit removed (what crash prints right of ``=>``).
    """

    level: str
    table: int
    address: int
    value: int


@dataclass
class Walk:
    """A page-table walk of one virtual address.

    :param physical: the translation, or ``None`` on failure.
    :param page: physical base of the mapped page; ``page_size`` is 4K, 2M (PMD PSE) or 1G (PUD PSE).
    :param error: ``None``, ``"not mapped"`` (an entry is not present; for a PTE that holds a swap
        entry, :attr:`pte` is that value) or ``"not accessible"`` (a table could not be read).
    """

    virtual: int
    pgd: int
    five_level: bool
    entries: list[Entry] = field(default_factory=list)
    physical: int | None = None
    page: int | None = None
    page_size: int = PAGE_SIZE_4K
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.physical is not None

    @property
    def pte(self) -> int:
        """The last entry read (the leaf on success): what crash's vtop decodes with the ``pte`` table."""
        return self.entries[-1].value if self.entries else 0


def _index(address: int, level: str, five_level: bool) -> int:
    shift = {"PGD": 48 if five_level else 39, "P4D": 39, "PUD": 30, "PMD": 21, "PTE": 12}[level]
    return (address >> shift) & 511


def translate(kernel_or_target: Kernel | Target, address: int, pgd: int | None = None) -> Walk:
    """Walk the page tables for *address*, as crash's ``x86_64_kvtop()``/``x86_64_uvtop_level4()`` do.

    :param kernel_or_target: a :class:`Kernel` or a bare :class:`Target`.
    :param address: the virtual address.
    :param pgd: the ``pgd_t *`` of the address space (``mm->pgd``, a kernel virtual address); ``None``
        for the kernel's own ``init_top_pgt``.
    :returns: a :class:`Walk`; failures are in :attr:`Walk.error`, never raised (except a
        :class:`TargetError` when the paging setup itself cannot be found).
    """
    target = _target_of(kernel_or_target)
    p = paging(target)
    top = p.kernel_pgd_physical if pgd is None else p.virt_to_phys(pgd)
    walk = Walk(virtual=address, pgd=top, five_level=p.five_level)
    user = pgd is not None
    table = top
    for level in p.levels:
        slot = table + 8 * _index(address, level, p.five_level)
        try:
            raw = target.read_physical(slot, 8)
        except TargetError:
            walk.error = "not accessible"
            return walk
        value = int.from_bytes(raw, "little") & ~p.sme_mask
        walk.entries.append(Entry(level, table, slot, value))
        # In a user walk a PROTNONE PMD or PTE still maps its page (crash's uvtop); else PRESENT decides.
        present = pte_present(value) if user and level in ("PMD", "PTE") else bool(value & _PAGE_PRESENT)
        if not present:
            walk.error = "not mapped"
            return walk
        size = {"PUD": PAGE_SIZE_1G, "PMD": PAGE_SIZE_2M, "PTE": PAGE_SIZE_4K}.get(level)
        if size is not None and (level == "PTE" or value & _PAGE_PSE):
            walk.page = pte_physical(value) & ~(size - 1)
            walk.page_size = size
            walk.physical = walk.page + (address & (size - 1))
            return walk
        table = pte_physical(value)
    return walk  # pragma: no cover - the PTE level always returns


def kvtop(kernel_or_target: Kernel | Target, address: int) -> int | None:
    """The physical address of kernel virtual *address* the way crash's quiet ``kvtop()`` finds it: by
    arithmetic outside vmalloc space (:meth:`Layout.is_vmalloc_addr
    <crashcompat.core.kernel.layout.Layout.is_vmalloc_addr>`), else by a page-table walk; ``None`` when
    the walk fails."""
    p = paging(kernel_or_target)
    if not p.layout.is_kvaddr(address):
        return None
    if not p.layout.is_vmalloc_addr(address):
        return p.virt_to_phys(address)
    return translate(kernel_or_target, address).physical
