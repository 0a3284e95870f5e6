"""Reading memory the way crash's ``readmem()`` does, with crash's reasons when a read fails.

A read names its address space — kernel virtual, user virtual (through a task's ``mm->pgd``) or physical —
and fails the way crash fails:

- an address outside the space (crash's ``IS_KVADDR``/``IS_UVADDR``) or one the page tables do not map:
  ``invalid kernel virtual address`` / ``invalid user virtual address``;
- a physical page the dump does not describe (no ELF ``PT_LOAD`` holds it; a kdump-compressed file's RAM
  bitmap lacks it): ``seek error``;
- a page of RAM that makedumpfile left out: ``page excluded``, which crash keeps quiet about (it prints it
  only at debug level 8) — the command just stops;
- anything else the backend cannot read: ``read error``.

The successful part of a read is returned with the failure, so a command prints what it could read before
the error, as crash's item-by-item loops do.  Nothing here prints.
"""

from __future__ import annotations

import os

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from crashcompat.core.dumpfile import PhysicalMap, physical_map
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel import mm as _mm
from crashcompat.core.kernel import pagetable as _pagetable
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "MemoryFault",
    "MemoryReadError",
    "Region",
    "Space",
    "kernel_regions",
    "physical_status",
    "read_memory",
    "read_prefix",
    "search_chunks",
    "space_name",
    "translate",
    "user_pgd",
]

#: Where an address lives: crash's ``KVADDR``, ``UVADDR``, ``PHYSADDR``, and ``FILEADDR`` (an offset in the
#: dump file itself, ``rd -f``).
Space = Literal["kernel", "user", "physical", "file"]

#: crash's ``memtype_string(memtype, 0)`` and ``(memtype, 1)``.
_SPACE_WORDS: dict[str, tuple[str, str]] = {
    "kernel": ("kernel virtual", "KVADDR"),
    "user": ("user virtual", "UVADDR"),
    "physical": ("physical", "PHYSADDR"),
    "file": ("dumpfile", "FILEADDR"),
}


@dataclass(frozen=True)
class MemoryFault:
    """Why a read stopped.

    :param kind: ``"invalid"`` (not an address of the space, or not mapped), ``"seek"`` (not in the dump),
        ``"excluded"`` (RAM the dump left out), ``"read"`` (the backend could not read it).
    :param address: the address (in the read's space) where the read stopped.
    """

    kind: str
    space: Space
    address: int

    def message(self, what: str) -> str | None:
        """crash's error text for a read of *what* (``"64-bit KVADDR"``), without the command's name and
        newline; ``None`` for an excluded page (crash says nothing)."""
        words = _SPACE_WORDS[self.space][0]
        if self.kind == "excluded":
            return None
        if self.kind == "invalid":
            space = "user" if self.space == "user" else "kernel"
            return f'invalid {space} virtual address: {self.address:x}  type: "{what}"'
        word = "seek" if self.kind == "seek" else "read"
        return f'{word} error: {words} address: {self.address:x}  type: "{what}"'


class MemoryReadError(TargetError):
    """A failed :func:`read_memory`; :attr:`fault` says why."""

    def __init__(self, fault: MemoryFault, what: str) -> None:
        self.fault = fault
        self.text = fault.message(what)
        super().__init__(self.text or f"page excluded: {fault.address:x}")


def space_name(space: Space) -> str:
    """crash's short memory-type name: ``KVADDR``, ``UVADDR`` or ``PHYSADDR``."""
    return _SPACE_WORDS[space][1]


def _dump_map(kernel: Kernel) -> PhysicalMap | None:
    def compute() -> PhysicalMap | None:
        info = kernel.target.info
        if info.live or info.path is None:
            return None
        try:
            return physical_map(info.path)
        except OSError:
            return None

    return kernel.memo("memory.physical_map", compute)


def physical_status(kernel: Kernel, physical: int) -> str:
    """``"ok"``, ``"seek"`` or ``"excluded"``: whether the dump holds the byte at *physical* (always
    ``"ok"`` on a live kernel)."""
    found = _dump_map(kernel)
    return "ok" if found is None else found.status(physical)


def translate(kernel: Kernel, address: int, space: Space, pgd: int | None = None) -> int | None:
    """The physical address of *address* as crash's ``kvtop()``/``uvtop()`` find it (``None``: not mapped).

    :param pgd: for user addresses, the task's ``pgd_t *`` (``mm->pgd``); ``None`` for a task without an mm.
    """
    if space == "physical":
        return address
    if space == "kernel":
        return _pagetable.kvtop(kernel, address)
    if pgd is None:
        return None
    return _pagetable.translate(kernel, address, pgd).physical


def _in_space(kernel: Kernel, address: int, space: Space) -> bool:
    lay = _layout.layout(kernel)
    if space == "kernel":
        return lay.is_kvaddr(address)
    if space == "user":
        return lay.is_uvaddr(address)
    return True


def _read_dump_file(kernel: Kernel, offset: int, size: int) -> tuple[bytes, MemoryFault | None]:
    """The dump file's own bytes at *offset* (crash's ``generic_read_dumpfile``: the file as it is; an
    offset the file system cannot seek to is a seek error, a short read a read error)."""
    path = kernel.target.info.path
    if not path:
        return b"", MemoryFault("seek", "file", offset)
    with open(path, "rb") as f:
        try:
            os.lseek(f.fileno(), offset, os.SEEK_SET)
        except (OSError, OverflowError):
            return b"", MemoryFault("seek", "file", offset)
        data = f.read(size)
    return data, (MemoryFault("read", "file", offset + len(data)) if len(data) < size else None)


def user_pgd(kernel: Kernel, mm: int | None) -> int | None:
    """``mm->pgd`` of a ``struct mm_struct *`` (``None`` for 0: a kernel thread has no user space)."""
    if not mm:
        return None
    return kernel.read_pointer(mm + kernel.offsetof("struct mm_struct", "pgd"))


def read_prefix(
    kernel: Kernel, address: int, size: int, space: Space, mm: int | None = None
) -> tuple[bytes, MemoryFault | None]:
    """Read *size* bytes at *address*: everything readable from the start, and why the rest is not.

    :param space: the address space of *address*.
    :param mm: for user addresses, the context task's ``struct mm_struct *`` (0 or ``None``: a kernel
        thread, which has no user addresses).
    """
    target = kernel.target
    if space == "file":
        return _read_dump_file(kernel, address, size)
    if not _in_space(kernel, address, space):
        return b"", MemoryFault("invalid", space, address)
    if space == "kernel":
        try:
            return target.read(address, size), None
        except FaultError:
            pass
    elif space == "physical":
        try:
            return target.read_physical(address, size), None
        except FaultError:
            pass
    pgd = user_pgd(kernel, mm) if space == "user" else None
    page = target.page_size
    out = bytearray()
    at = address
    end = address + size
    while at < end:
        count = min(page - at % page, end - at)
        physical = translate(kernel, at, space, pgd)
        if physical is None:
            return bytes(out), MemoryFault("invalid", space, at)
        status = physical_status(kernel, physical)
        if status != "ok":
            return bytes(out), MemoryFault(status, space, at)
        try:  # as crash reads it: the physical page its own translation finds
            out += target.read_physical(physical, count)
        except FaultError:
            return bytes(out), MemoryFault("read", space, at)
        at += count
    return bytes(out), None


def read_memory(
    kernel: Kernel, address: int, size: int, space: Space, what: str, mm: int | None = None
) -> bytes:
    """Read *size* bytes or raise :class:`MemoryReadError` with crash's message for a read of *what*."""
    data, fault = read_prefix(kernel, address, size, space, mm)
    if fault is not None:
        raise MemoryReadError(fault, what)
    return data


# ---- what ``search`` reads: crash's kernel address ranges and the readable pages in them ----------------------


@dataclass(frozen=True)
class Region:
    """One of crash's kernel virtual address ranges (``x86_64_get_kvaddr_ranges()``).

    :param kind: ``"unity"`` (the direct map, ``PAGE_OFFSET`` to ``high_memory``), ``"start"`` (the kernel
        image, ``__START_KERNEL_map`` to ``_end``), ``"vmalloc"`` (``VMALLOC_START`` to the end of the last
        vmalloc area, module areas included), ``"vmemmap"`` (the page structs).
    """

    kind: str
    start: int
    end: int


def kernel_regions(kernel: Kernel) -> list[Region]:
    """crash's kernel address ranges, in address order."""

    def compute() -> list[Region]:
        lay = _layout.layout(kernel)
        regions = [
            Region("unity", lay.page_offset, kernel.read_pointer(kernel.symbol("high_memory"))),
            Region("start", _layout.START_KERNEL_MAP, kernel.symbol("_end")),
        ]
        areas = _mm.vmap_areas(kernel)
        if areas:
            regions.append(Region("vmalloc", lay.vmalloc_start, max(a.end for a in areas)))
        nodes = _mm.nodes(kernel)
        if nodes:
            last = nodes[-1]
            regions.append(
                Region(
                    "vmemmap",
                    lay.vmemmap_start,
                    lay.vmemmap_start + (last.start_pfn + last.spanned) * _mm.page_struct_size(kernel),
                )
            )
        return sorted(regions, key=lambda r: r.start)

    return kernel.memo("memory.kernel_regions", compute)


def _section_ranges(kernel: Kernel) -> list[tuple[int, int]]:
    """The ``[first_pfn, end_pfn)`` ranges that have page structs (crash's ``phys_to_page()``), merged."""

    def compute() -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for section in _mm.valid_sections(kernel):
            lo, hi = section.first_pfn, section.first_pfn + section.pages
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return out

    return kernel.memo("memory.section_ranges", compute)


def _page_ok(kernel: Kernel, physical: int) -> bool:
    pfn = physical // kernel.target.page_size
    if not any(lo <= pfn < hi for lo, hi in _section_ranges(kernel)):
        return False
    return physical_status(kernel, physical) == "ok"


def _disjoint(runs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping ``[a, b)`` runs covering *runs* (an ELF dump's PT_LOAD segments may overlap:
    kdump's ELF files describe the kernel image's pages in a segment of their own as well)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(runs):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _linear_runs(kernel: Kernel, physical: int, size: int) -> list[tuple[int, int]]:
    """The readable ``(offset, length)`` runs of physical ``[physical, physical + size)``: whole pages that
    have page structs and that the dump holds, clipped to the range."""
    page = kernel.target.page_size
    dump = _dump_map(kernel)
    runs = dump.readable_runs() if dump is not None else None
    held = _disjoint(runs) if runs is not None else None
    first_pfn, end_pfn = physical // page, (physical + size + page - 1) // page
    out = []
    for lo, hi in _section_ranges(kernel):
        lo, hi = max(lo, first_pfn), min(hi, end_pfn)
        if lo >= hi:
            continue
        pieces = (
            [(lo, hi)] if held is None else [(max(lo, a), min(hi, b)) for a, b in held if a < hi and b > lo]
        )
        for a_pfn, b_pfn in pieces:
            a, b = max(a_pfn * page, physical), min(b_pfn * page, physical + size)
            if a < b:
                out.append((a - physical, b - a))
    return out


#: How much one read of a search asks the target for.
_CHUNK = 1 << 20


def search_chunks(
    kernel: Kernel,
    start: int,
    end: int,
    space: Space,
    mm: int | None = None,
    kinds: frozenset[str] | None = None,
) -> Iterator[tuple[int, bytes]]:
    """The readable memory between *start* and *end* as crash's ``search`` visits it: ``(address, bytes)``
    pieces in address order, each a run of whole readable pages (clipped to *start* and *end*); pages
    that are not mapped, have no page struct or are not in the dump are skipped.

    :param kinds: for kernel addresses, the :func:`kernel_regions` kinds to visit (``None``: all).
    :param mm: for user addresses, the context's ``struct mm_struct *``.
    """
    if space == "physical":
        yield from _physical_chunks(kernel, start, end, start)
        return
    if space == "user":
        yield from _user_chunks(kernel, start, end, mm)
        return
    for region in kernel_regions(kernel):
        if kinds is not None and region.kind not in kinds:
            continue
        lo, hi = max(start, region.start), min(end, region.end)
        if lo >= hi:
            continue
        if region.kind == "unity":
            yield from _physical_chunks(kernel, lo - region.start, hi - region.start, lo)
        elif region.kind == "start":
            # phys_base is negative when the image sits lower than its link address (KASLR): the addresses
            # that would map below physical 0 are skipped
            base = _pagetable.paging(kernel).phys_base
            base = base - (1 << 64) if base >> 63 else base
            lo = max(lo, region.start - base)
            if lo < hi:
                yield from _physical_chunks(kernel, lo - region.start + base, hi - region.start + base, lo)
        elif region.kind == "vmalloc":
            for area in _mm.vmap_areas(kernel):
                a, b = max(lo, area.start), min(hi, area.end)
                if a < b:
                    yield from _walked_chunks(kernel, a, b, None)
        else:
            yield from _walked_chunks(kernel, lo, hi, None)


def _physical_chunks(kernel: Kernel, pstart: int, pend: int, vstart: int) -> Iterator[tuple[int, bytes]]:
    """Readable runs of physical ``[pstart, pend)``, reported at virtual addresses from *vstart*."""
    target = kernel.target
    for offset, length in _linear_runs(kernel, pstart, pend - pstart):
        at = 0
        while at < length:
            size = min(_CHUNK, length - at)
            try:
                data: bytes | None = target.read_physical(pstart + offset + at, size)
            except FaultError:
                data = _page_by_page(kernel, pstart + offset + at, size)
            if data is not None:
                yield vstart + offset + at, data
            at += size


def _page_by_page(kernel: Kernel, physical: int, size: int) -> bytes | None:
    """A failed large read again a page at a time (a live target, a damaged dump): the readable prefix."""
    page = kernel.target.page_size
    out = bytearray()
    for at in range(physical, physical + size, page):
        try:
            out += kernel.target.read_physical(at, min(page, physical + size - at))
        except FaultError:
            break
    return bytes(out) or None


def _walked_chunks(kernel: Kernel, start: int, end: int, pgd: int | None) -> Iterator[tuple[int, bytes]]:
    """Pages of ``[start, end)`` translated one by one through the page tables (vmalloc, vmemmap, user)."""
    page = kernel.target.page_size
    at = start
    piece_start = start
    piece = bytearray()
    while at < end:
        count = min(page - at % page, end - at)
        physical = (
            _pagetable.translate(kernel, at, pgd).physical
            if pgd is not None
            else _pagetable.kvtop(kernel, at)
        )
        data = None
        if physical is not None and _page_ok(kernel, physical):
            try:
                data = kernel.target.read_physical(physical, count)
            except FaultError:
                data = None
        if data is None:
            if piece:
                yield piece_start, bytes(piece)
                piece = bytearray()
            at += count
            piece_start = at
            continue
        piece += data
        at += count
    if piece:
        yield piece_start, bytes(piece)


def _user_chunks(kernel: Kernel, start: int, end: int, mm: int | None) -> Iterator[tuple[int, bytes]]:
    pgd = user_pgd(kernel, mm)
    if not mm or pgd is None:
        return
    for vma in _mm.for_each_vma(kernel, mm):
        lo, hi = max(start, vma.start), min(end, vma.end)
        if lo < hi:
            yield from _walked_chunks(kernel, lo, hi, pgd)
