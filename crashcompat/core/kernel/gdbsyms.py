"""The ``<symbol+offset>`` GDB appends to an address it prints, as GDB runs inside crash.

GDB names an address by its minimal symbols (gdb/minsyms.c ``lookup_minimal_symbol_by_pc_section``,
gdb/printcmd.c ``build_address_symbolic``): the address must lie in a section of the vmlinux; the symbol
is the nearest one at or below it in that section that has a size and contains it, else the nearest
size-less label if there is one; a size-less symbol outside code is never used.  crash patches GDB so
that NULL and addresses below ``PAGE_OFFSET`` are never named (``gdb_print_callback``), and so that an
address GDB cannot name is looked up among crash's module symbols (``gdb_lookup_module_symbol``, crash's
``value_search_module``).  Offsets print in decimal.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from crashcompat.core.kernel import Kernel, TargetError
from crashcompat.core.kernel import modules as _modules
from crashcompat.core.kernel import symbols as _symbols

__all__ = ["gdb_symbol"]

#: x86_64's lowest ``PAGE_OFFSET`` (4-level paging), when the kernel's own cannot be read.
_DEFAULT_PAGE_OFFSET = 0xFFFF880000000000


def gdb_symbol(kernel: Kernel, address: int) -> tuple[str, int] | None:
    """``(name, offset)`` GDB inside crash prints after *address* (``<init_task+5568>``), or ``None``."""
    if address == 0:
        return None
    try:
        page_offset = kernel.page_offset()
    except TargetError:
        page_offset = _DEFAULT_PAGE_OFFSET
    if address < page_offset:
        return None
    found = _vmlinux_symbol(kernel, address)
    if found is not None:
        return found
    if _modules.module_at(kernel, address) is None:
        return None
    sym = _symbols.lookup(kernel, address)
    if sym is None or sym.module is None:
        return None
    return sym.name, address - sym.address


def _sections(kernel: Kernel) -> list[tuple[int, int]]:
    """The vmlinux's allocated sections as the kernel has them (KASLR applied), sorted."""

    def compute() -> list[tuple[int, int]]:
        table = _symbols._kernel_table(kernel)
        path = kernel.target.info.vmlinux
        if table is None or not path:
            return []
        raw = _symbols._load_vmlinux(path)
        out = []
        for _, start, end in raw.sections:
            if start >= raw.text_start and end > start:
                out.append((start + table.offset, end + table.offset))
        return sorted(out)

    return kernel.memo("gdbsyms.sections", compute)


def _section(sections: Sequence[tuple[int, int]], address: int) -> tuple[int, int] | None:
    i = bisect.bisect_right(sections, (address, 1 << 64)) - 1
    if i >= 0 and sections[i][0] <= address < sections[i][1]:
        return sections[i]
    return None


def _vmlinux_symbol(kernel: Kernel, address: int) -> tuple[str, int] | None:
    table = _symbols._kernel_table(kernel)
    if table is None:
        return None
    section = _section(_sections(kernel), address)
    if section is None:
        return None
    start, end = section
    values, sizes = table.values, table.sizes
    i = bisect.bisect_right(values, address) - 1
    best_zero: int | None = None
    while i >= 0:
        value = values[i]
        if value < start:
            i = -1
            break
        if value >= end:
            i -= 1
            continue
        if sizes[i] == 0:
            if best_zero is None:
                best_zero = i
            i -= 1
            continue
        break
    hi: int | None = i if i >= 0 else best_zero
    if hi is not None and sizes[hi] and address >= values[hi] + sizes[hi]:
        hi = best_zero
    if hi is None:
        return None
    if sizes[hi] == 0 and not any(a <= values[hi] < b for a, b in table.code_ranges):
        return None
    return table.names[hi], address - values[hi]
