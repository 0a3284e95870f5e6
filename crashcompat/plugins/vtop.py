"""``pte`` and ``vtop``: page-table entries and virtual-to-physical translations, in crash's layout
(memory.c ``cmd_pte()``/``do_vtop()``, x86_64.c ``x86_64_kvtop()``/``x86_64_uvtop_level4()``).

User translations go through the task's ``mm->pgd`` and name the VMA (6.1 maple tree included), as crash
8.0.6 prints them; kernel translations print as crash 8.0.2 does.
"""

from __future__ import annotations

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    CommandError,
    Kernel,
    Option,
    command,
    hexadecimal,
    hookimpl,
    mkstring,
)
from crashcompat.api.kernel import layout, mm, pagetable, tasks
from crashcompat.api.kernel.pagetable import PAGE_SIZE_1G, PAGE_SIZE_2M, Walk
from crashcompat.plugins._memfmt import page_header, page_row, pte_table, swap_device

#: crash's UVADDR_PRLEN on x86_64.
UVADDR_PRLEN = 10


def _hex(text: str) -> int:
    """crash's ``htol()`` of an argument, with its error line."""
    value = hexadecimal(text)
    if value is None:
        raise CommandError(f'invalid input: "{text}"')
    return value


# ---- pte ----------------------------------------------------------------------------------------------------


@command(
    "pte",
    summary="decode page table entries",
    synopsis="pte contents ...",
    description="""
    Decodes each hexadecimal page-table entry value: the physical page it maps and the names of its flag
    bits, or, for a swapped-out page, the swap device and the offset in it.
    """,
    arguments=[Argument("contents", nargs="*", help="page-table entry values, in hexadecimal.")],
)
def pte(ctx: CommandContext) -> None:
    for text in ctx.args.contents:
        _write_pte_table(ctx, _hex(text))


def _write_pte_table(ctx: CommandContext, value: int) -> None:
    try:
        ctx.write(pte_table(ctx.kernel, value))
    except ValueError as e:
        ctx.write(e.args[1])
        raise CommandError(e.args[0]) from None


# ---- vtop ---------------------------------------------------------------------------------------------------


@command(
    "vtop",
    summary="translate virtual addresses to physical ones",
    synopsis="vtop [-c [pid | taskp]] [-u|-k] address ...",
    description="""
    Walks the page tables for each virtual address and shows every level's entry, the physical address,
    the decoded final entry and the page struct of the physical page.  User addresses are looked up in
    the current context's address space (or that of -c) and also show the VMA holding them.
    """,
    arguments=[
        Option(
            "-u", help="treat the addresses as user addresses (needed only where user and kernel overlap)."
        ),
        Option("-k", help="treat the addresses as kernel addresses."),
        Option(
            "-c",
            "pid | taskp",
            dest="context",
            help="use the address space of this task (a pid, or a task_struct address).",
        ),
        Argument("addresses", "address", nargs="+", help="virtual addresses, in hexadecimal."),
    ],
)
def vtop(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.u and args.k:
        raise CommandError("-u and -k options are mutually exclusive")
    context = None
    if args.context is not None:
        context = tasks.find_task(kernel, args.context)
        if context is None:
            raise CommandError(f"invalid task or pid value: {args.context}")
    pages = _PageBlock()
    for i, text in enumerate(args.addresses):
        address = _hex(text)
        user = args.u or (not args.k and _vaddr_type(kernel, address))
        if i:
            ctx.write("\n")
        if user:
            # Only a user address needs the context (a kernel one needs no task at all).
            if context is None:
                context = ctx.session.current_task()
            _vtop_user(ctx, tasks.task_mm(kernel, context), address, pages)
        else:
            _vtop_kernel(ctx, address, pages)


def _vaddr_type(kernel: Kernel, address: int) -> bool:
    """crash's ``vaddr_type()``: True for a user address; raises for an ambiguous one."""
    lay = layout.layout(kernel)
    is_user = lay.is_uvaddr(address)
    is_kernel = lay.is_kvaddr(address)
    if is_user == is_kernel:
        raise CommandError(f"ambiguous address: {address:x}  (requires -u or -k)")
    return is_user


def _vtop_kernel(ctx: CommandContext, address: int, pages: _PageBlock) -> None:
    kernel = ctx.kernel
    ctx.write(f"{mkstring('VIRTUAL', 16)}  {mkstring('PHYSICAL', 16)}\n")
    if not layout.layout(kernel).is_kvaddr(address):
        ctx.write(f"{address:<8x}  (not a kernel virtual address)\n\n")
        return
    # crash translates direct-map and kernel-image addresses arithmetically, then shows the walk anyway
    p = pagetable.paging(kernel)
    walk = pagetable.translate(kernel, address)
    physical = pagetable.kvtop(kernel, address)
    if physical is None:
        ctx.write(f"{address:<16x}  (not mapped)\n\n")
    else:
        ctx.write(f"{address:<16x}  {physical:<16x}\n\n")
    ctx.write(f"PGD DIRECTORY: {p.kernel_pgd:x}\n")
    if walk.entries:
        ctx.write(f"PAGE DIRECTORY: {walk.entries[0].value:x}\n")
    _write_walk(ctx, walk, user=False)
    ctx.write("\n")
    if physical is not None:
        pages.write(ctx, physical)


def _vtop_user(ctx: CommandContext, task_mm: int, address: int, pages: _PageBlock) -> None:
    """:param task_mm: the context task's ``struct mm_struct *`` (0 for a kernel thread)."""
    kernel = ctx.kernel
    ctx.write(f"{mkstring('VIRTUAL', UVADDR_PRLEN)}  {mkstring('PHYSICAL', 16)}\n")
    vma = mm.find_vma(kernel, task_mm, address) if task_mm else None
    if vma is None:
        ctx.write(f"{mkstring(f'{address:x}', UVADDR_PRLEN)}  (not accessible)\n\n")
        return
    pgd = kernel.read_pointer(task_mm + kernel.offsetof("struct mm_struct", "pgd"))
    walk = pagetable.translate(kernel, address, pgd)
    if walk.physical is None:
        ctx.write(f"{mkstring(f'{address:x}', UVADDR_PRLEN)}  (not mapped)\n\n")
    else:
        ctx.write(f"{mkstring(f'{address:x}', UVADDR_PRLEN)}  {walk.physical:<16x}\n\n")
    _write_walk(ctx, walk, user=True)
    ctx.write("\n")
    ctx.write(_vma_header() + _vma_row(kernel, vma))
    if walk.physical is None:
        value = walk.pte if walk.entries and walk.entries[-1].level == "PTE" else 0
        if value and kernel.has_symbol("swap_info") and kernel.has_symbol("nr_swapfiles"):
            swap_type, offset = pagetable.swap_entry(value)
            ctx.write(f"\nSWAP: {swap_device(kernel, swap_type)}  OFFSET: {offset}\n")
        elif vma.file:
            page_offset = (((address - vma.start) >> 12) + vma.pgoff) << 12
            ctx.write(f"\nFILE: {mm.file_path(kernel, vma.file)}  OFFSET: {page_offset:x}\n")
    ctx.write("\n")
    if walk.physical is not None:
        pages.write(ctx, walk.physical)


def _write_walk(ctx: CommandContext, walk: Walk, user: bool) -> None:
    """The verbose part of crash's walkers: one ``NAME: entry => value`` line per level read (the kernel
    PGD is on the ``PAGE DIRECTORY`` line instead), then the PAGE line and the entry's pte table."""
    for entry in walk.entries:
        if entry.level != "PGD" or user:
            ctx.write(f"   {entry.level}: {entry.address:x} => {entry.value:x}\n")
    if walk.page is None:
        if walk.error == "not mapped" and walk.entries[-1].level == "PTE" and walk.pte:
            ctx.write("\n")
            _write_pte_table(ctx, walk.pte)
        return
    if walk.page_size == PAGE_SIZE_1G:
        ctx.write(f"  PAGE: {walk.page:x}  (1GB)\n\n")
    elif walk.page_size == PAGE_SIZE_2M:  # crash 8.0.6 (commit a0eceb041dfa) names zero pages in user walks
        zero = ", ZERO PAGE" if user and _is_zero_page(ctx.kernel, walk.page) else ""
        ctx.write(f"  PAGE: {walk.page:x}  (2MB{zero})\n\n")
    elif user:
        zero = "(ZERO PAGE)" if _is_zero_page(ctx.kernel, walk.page) else ""
        ctx.write(f"  PAGE: {walk.page:x}  {zero}\n\n")
    else:
        ctx.write(f"  PAGE: {walk.page:x}\n\n")
    _write_pte_table(ctx, walk.pte)


def _is_zero_page(kernel: Kernel, physical: int) -> bool:
    """crash 8.0.6's ``IS_ZEROPAGE()``: the page of ``zero_pfn`` or of ``huge_zero_pfn``."""
    for name in ("zero_pfn", "huge_zero_pfn"):
        if kernel.has_symbol(name):
            pfn = kernel.read_global_u64(name)
            if pfn != (1 << 64) - 1 and pfn << 12 == physical:
                return True
    return False


def _vma_header() -> str:
    return (
        f"{mkstring('VMA', 16, 'cl')} {mkstring('START', UVADDR_PRLEN, 'cr')} "
        f"{mkstring('END', UVADDR_PRLEN, 'cr')}  FLAGS FILE\n"
    )


def _vma_row(kernel: Kernel, vma: mm.Vma) -> str:
    """crash's ``PRINT_VMA_DATA``: VMA, START, END, FLAGS (``%6llx``) and the file path."""
    path = mm.file_path(kernel, vma.file) if vma.file else ""
    return (
        f"{mkstring(f'{vma.address:x}', 16, 'cl')} {vma.start:>{UVADDR_PRLEN}x} {vma.end:>{UVADDR_PRLEN}x} "
        f"{vma.flags:6x} {path}\n"
    )


class _PageBlock:
    """crash's ``dump_mem_map()`` block for one physical address (nothing outside the mem map); its header
    is printed once per command, as crash's per-command HEADER_PRINTED flag does."""

    def __init__(self) -> None:
        self.header_printed = False

    def write(self, ctx: CommandContext, physical: int) -> None:
        page = mm.phys_to_page(ctx.kernel, physical)
        if page is None:
            return
        if not self.header_printed:
            ctx.write(page_header(ctx.kernel))
            self.header_printed = True
        ctx.write(page_row(ctx.kernel, mm.read_page(ctx.kernel, page)))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [pte, vtop]
