"""Text shared by the ``kmem`` and ``vtop``/``pte`` commands: crash's column helpers and the page-struct
table both print (crash's ``dump_mem_map()`` rows and ``x86_64_translate_pte()`` table)."""

from __future__ import annotations

from crashcompat.api import VADDR_PRLEN, Kernel, mkstring
from crashcompat.api.kernel import mm, system
from crashcompat.api.kernel.pagetable import pte_flags, pte_physical, pte_present, swap_entry

# ---- page structs (kmem -p, vtop, kmem ADDRESS) ----------------------------------------------------------------


def paddr_prlen(kernel: Kernel) -> int:
    """crash's PADDR_PRLEN: the hex width of the memory size (``total_node_memory()``)."""
    return len(f"{system.memory_size(kernel):x}")


def physical_width(kernel: Kernel) -> int:
    """``MAX(PADDR_PRLEN, strlen("PHYSICAL"))``, the PHYSICAL column of page-struct rows."""
    return max(paddr_prlen(kernel), 8)


def page_header(kernel: Kernel) -> str:
    return (
        f"{mkstring('PAGE', VADDR_PRLEN, 'c')} {mkstring('PHYSICAL', physical_width(kernel), 'r')} "
        f"{mkstring('MAPPING', VADDR_PRLEN, 'cr')} {mkstring('INDEX', 8, 'cr')}CNT FLAGS\n"
    )


def page_row(kernel: Kernel, page: mm.Page) -> str:
    """One ``kmem -p`` row: ``"%-16lx %*llx %16lx %8lx %2d "`` then the flags word and its names."""
    names = mm.decode_page_flags(kernel, page.flags) if page.flags else []
    flags = f"{page.flags:x}" + (" " + ",".join(names) if names else "")
    width = physical_width(kernel)
    return (
        f"{page.address:<16x} {page.physical:>{width}x} {page.mapping:16x} {page.index:8x} {page.count:2d} "
        f"{flags}\n"
    )


# ---- page-table entries (pte, vtop) ------------------------------------------------------------------------


def pte_table(kernel: Kernel, value: int) -> str:
    """crash's ``x86_64_translate_pte()`` table for one entry: PTE, PHYSICAL and FLAGS, or for a swap
    entry PTE, SWAP and OFFSET.

    :raises ValueError: a swap entry whose device crash cannot name (crash's "cannot determine swap
        location" error); the text printed before the error is in ``args[1]``.
    """
    pte = f"{value:x}"
    len1 = max(len(pte), 3)
    head = mkstring("PTE", len1, "cl") + "  "
    if value and not pte_present(value):
        swap_type, offset = swap_entry(value)
        device = swap_device(kernel, swap_type)
        if device is None or len(device.split()) != 1:
            raise ValueError("cannot determine swap location", head)
        off = str(offset)
        len2, len3 = max(len(device), 4), max(len(off), 6)
        return (
            f"{head}{mkstring('SWAP', len2, 'cl')}  {mkstring('OFFSET', len3, 'cl')}\n"
            f"{mkstring(pte, len1, 'cr')}  {mkstring(device, len2, 'cr')}  {mkstring(off, len3, 'cr')}\n"
        )
    phys = f"{pte_physical(value):x}"
    len2 = max(len(phys), 8)
    flags = "|".join(pte_flags(value)) if value else "no mapping"
    return (
        f"{head}{mkstring('PHYSICAL', len2, 'cl')}  FLAGS\n"
        f"{mkstring(pte, len1, 'cr')}  {mkstring(phys, len2, 'cr')}  ({flags})\n"
    )


def swap_device(kernel: Kernel, swap_type: int) -> str | None:
    """crash's ``get_swapdev()``: the path of ``swap_info[type]->swap_file``, ``"(unknown swap location)"``
    when there is no such device, ``None`` when the kernel has no swap support."""
    if not kernel.has_symbol("swap_info") or not kernel.has_symbol("nr_swapfiles"):
        return None
    length = kernel.target.lookup_symbol("swap_info").size // 8
    if swap_type >= length:
        return "(unknown swap location)"
    si = kernel.read_pointer(kernel.symbol("swap_info") + 8 * swap_type)
    if not si:
        return "(unknown swap location)"
    swap_file = kernel.read_pointer(si + kernel.offsetof("struct swap_info_struct", "swap_file"))
    return mm.file_path(kernel, swap_file) if swap_file else "(unknown swap location)"
