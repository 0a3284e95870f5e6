"""``vm``: a task's memory map (crash's memory.c ``cmd_vm``, ``vm_area_dump``, ``vm_area_page_dump``,
``do_vm_flags``)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    Kernel,
    Option,
    command,
    hexadecimal,
    hookimpl,
    mkstring,
    task_header,
)
from crashcompat.api.kernel import fs, mm, pagetable, tasks
from crashcompat.plugins._memfmt import physical_width, swap_device

#: crash's UVADDR_PRLEN on x86_64.
UVADDR_PRLEN = 10
PAGE_SIZE = 4096

#: ``do_vm_flags()`` names, in crash's order, for a kernel without ``expand_upwards`` (x86_64) and with
#: ``mm_struct.pmd_huge_pte`` (transparent huge pages): 0x200 is NOHUGEPAGE, 0x1000000 HUGEPAGE.
VM_FLAG_NAMES = (
    (0x1, "READ"), (0x2, "WRITE"), (0x4, "EXEC"), (0x8, "SHARED"), (0x10, "MAYREAD"), (0x20, "MAYWRITE"),
    (0x40, "MAYEXEC"), (0x80, "MAYSHARE"), (0x100, "GROWSDOWN"), (0x200, "NOHUGEPAGE"), (0x400, "PFNMAP"),
    (0x800, "DENYWRITE"), (0x1000, "EXECUTABLE"), (0x2000, "LOCKED"), (1 << 14, "IO"), (0x8000, "SEQ_READ"),
    (0x10000, "RAND_READ"), (0x20000, "DONTCOPY"), (0x40000, "DONTEXPAND"), (0x80000, "RESERVED"),
    (0x400000, "HUGETLB"), (0x100000, "ACCOUNT"), (0x800000, "NONLINEAR"), (0x1000000, "HUGEPAGE"),
    (0x2000000, "INSERTPAGE"), (0x4000000, "ALWAYSDUMP"), (0x8000000, "CAN_NONLINEAR"),
    (0x10000000, "MIXEDMAP"), (0x20000000, "SAO"), (0x40000000, "PFN_AT_MMAP"), (0x80000000, "MERGEABLE"),
)  # fmt: skip

VMA_HEADER = (
    f"{mkstring('VMA', VADDR_PRLEN, 'cl')} {mkstring('START', UVADDR_PRLEN, 'cr')} "
    f"{mkstring('END', UVADDR_PRLEN, 'cr')}  FLAGS FILE\n"
)


def vm_flags_text(kernel: Kernel, flags: int) -> str:
    """crash's ``vm -f`` line: the value and its ``VM_*`` names."""
    names = []
    for bit, name in VM_FLAG_NAMES:
        if not flags & bit:
            continue
        if bit == 0x200 and kernel.has_symbol("expand_upwards"):
            name = "GROWSUP"
        if bit == 0x1000000 and not kernel.has_member("struct mm_struct", "pmd_huge_pte"):
            name = "MAPPED_COPY"
        names.append(name)
    return f"{flags:x}: ({'|'.join(names)})\n"


def mm_data(task: tasks.Task, pgd: int) -> str:
    """crash's PRINT_VM_DATA: the MM, PGD, RSS and TOTAL_VM block."""
    rss, total = f"{task.rss * PAGE_SIZE // 1024}k", f"{task.total_vm * PAGE_SIZE // 1024}k"
    return (
        f"{mkstring('MM', VADDR_PRLEN, 'cl')}  {mkstring('PGD', VADDR_PRLEN, 'cl')}  "
        f"{mkstring('RSS', 6, 'cl')}  {mkstring('TOTAL_VM', 8, 'cl')}\n"
        f"{mkstring(f'{task.mm:x}', VADDR_PRLEN, 'cl')}  {mkstring(f'{pgd:x}', VADDR_PRLEN, 'cl')}  "
        f"{mkstring(rss, 6, 'cl')}  {mkstring(total, 8, 'cl')}\n"
    )


def _vma_path(kernel: Kernel, vma: mm.Vma) -> str:
    if not vma.file:
        return ""
    f = kernel.struct("struct file", vma.file)
    dentry = f.ptr("f_path.dentry")
    return fs.pathname(kernel, dentry, f.ptr("f_path.mnt")) if dentry else ""


def vma_line(vma: mm.Vma, path: str) -> str:
    """crash's PRINT_VMA_DATA."""
    return (
        f"{mkstring(f'{vma.address:x}', VADDR_PRLEN, 'cl')} {vma.start:>{UVADDR_PRLEN}x} "
        f"{vma.end:>{UVADDR_PRLEN}x} {vma.flags:6x} {path}\n"
    )


@dataclass
class _Page:
    """One page of ``vm_area_page_dump()``: its line, and the numbers ``-R`` compares."""

    line: str
    physical: int | None = None
    swap_offset: int | None = None
    swap_name: str | None = None
    file_offset: int | None = None


def _page(kernel: Kernel, vma: mm.Vma, path: str, pgd: int, address: int) -> _Page:
    walk = pagetable.translate(kernel, address, pgd)
    virtual = mkstring(f"{address:x}", UVADDR_PRLEN)
    if walk.physical is not None:
        return _Page(f"{virtual}  {walk.physical:>{physical_width(kernel)}x}\n", physical=walk.physical)
    value = walk.pte if walk.entries and walk.entries[-1].level == "PTE" else 0
    if value and kernel.has_symbol("swap_info") and kernel.has_symbol("nr_swapfiles"):
        swap_type, offset = pagetable.swap_entry(value)
        name = swap_device(kernel, swap_type)
        if name is not None:
            return _Page(f"{virtual}  SWAP: {name}  OFFSET: {offset}\n", swap_offset=offset, swap_name=name)
    if vma.file:
        offset = (((address - vma.start) >> 12) + vma.pgoff) << 12
        return _Page(f"{virtual}  FILE: {path}  OFFSET: {offset:x}\n", file_offset=offset)
    return _Page(f"{virtual}  (not mapped)\n")


def _page_header(kernel: Kernel) -> str:
    return f"{mkstring('VIRTUAL', UVADDR_PRLEN)}  {mkstring('PHYSICAL', physical_width(kernel))}\n"


@dataclass
class _Ref:
    """``vm -R``: the text, and its values when it is a number (crash's VM_REF_NUMBER)."""

    text: str
    hexval: int | None = None
    decval: int | None = None

    def __post_init__(self) -> None:
        t = self.text
        if t and (t.isdigit() or hexadecimal(t) is not None):
            self.hexval = hexadecimal(t)
            if t.isdigit():
                self.decval = int(t)

    def string(self, path: str) -> bool:
        return bool(path) and ((path == "/" and self.text == "/") or (self.text != "/" and self.text in path))

    def page_hit(self, address: int, page: _Page) -> bool:
        return (
            (self.hexval is not None and self.hexval in (address, page.physical, page.file_offset))
            or (self.decval is not None and page.swap_offset is not None and self.decval == page.swap_offset)
            or (page.swap_name is not None and self.string(page.swap_name))
        )


def _struct(ctx: CommandContext, argv: list[str]) -> str:
    out = io.StringIO()
    ctx.session.run_argv("struct", argv, out)
    return out.getvalue()


def vm_structs_text(ctx: CommandContext, address: int, which: str, radix: list[str], subsequent: bool) -> str:
    """crash's ``vm -m`` (*which* ``"mm"``: the task's whole ``mm_struct``) and ``vm -v`` (``"vma"``: each
    ``vm_area_struct`` in full) of a ``struct task_struct *``, after its task header."""
    kernel = ctx.kernel
    task = tasks.read_task(kernel, address)
    out = [task_header(task.pid, task.address, task.cpu, task.comm, newline=subsequent)]
    if not task.mm:
        return "".join(out)
    if which == "mm":
        out.append(_struct(ctx, [*radix, "mm_struct", f"{task.mm:x}"]))
    else:
        for vma in mm.for_each_vma(kernel, task.mm):
            out.append(_struct(ctx, [*radix, "vm_area_struct", f"{vma.address:x}"]))
    return "".join(out)


def vm_text(kernel: Kernel, address: int, *, physical: bool = False, ref: str | None = None,
            single_vma: int | None = None, subsequent: bool = False) -> str:  # fmt: skip
    """crash's ``vm_area_dump()`` of a ``struct task_struct *`` (with its task header, unless *ref*)."""
    task = tasks.read_task(kernel, address)
    header = task_header(task.pid, task.address, task.cpu, task.comm, newline=subsequent)
    pgd = kernel.read_pointer(task.mm + kernel.offsetof("struct mm_struct", "pgd")) if task.mm else 0
    out = [] if ref is not None else [header]
    reference = _Ref(ref) if ref is not None else None
    if (
        reference is not None
        and reference.hexval is not None
        and reference.hexval in (task.mm, pgd)
        and task.mm
    ):
        return task_header(task.pid, task.address, task.cpu, task.comm) + mm_data(task, pgd) + "\n"
    if single_vma is None and reference is None:
        out.append(mm_data(task, pgd))
    if not task.mm:
        return "".join(out)
    if not physical and single_vma is None and reference is None:
        out.append(VMA_HEADER)
    user = task.mm != kernel.symbol("init_mm")
    found_header = False
    shown_vma: int | None = None
    ref_vma = ref_page = False
    single_found = False
    for vma in mm.for_each_vma(kernel, task.mm):
        if physical and reference is None:
            out.append(VMA_HEADER)
        path = _vma_path(kernel, vma)
        if single_vma is not None:
            if vma.address != single_vma:
                continue
            out.append(VMA_HEADER)
            single_found = True
        if reference is not None:
            pages = [
                (a, _page(kernel, vma, path, pgd, a)) for a in range(vma.start, vma.end, PAGE_SIZE)
            ] if user else []  # fmt: skip
            vma_hit = (reference.hexval is not None and reference.hexval in (vma.address, vma.flags)) or (
                reference.string(path)
            )
            hits = [(a, p) for a, p in pages if reference.page_hit(a, p)]
            if (vma_hit or hits) and not found_header:
                out += [task_header(task.pid, task.address, task.cpu, task.comm), mm_data(task, pgd)]
                found_header = True
            if vma_hit:
                if not ref_vma or ref_page:
                    out.append(VMA_HEADER)
                    ref_vma, ref_page, shown_vma = True, False, vma.address
                out.append(vma_line(vma, path))
            if hits:
                ref_page = True
                if not ref_vma or shown_vma != vma.address:
                    out += [VMA_HEADER, vma_line(vma, path)]
                    ref_vma, shown_vma = True, vma.address
                out.append(_page_header(kernel))
                out += [p.line for _, p in hits]
            continue
        out.append(vma_line(vma, path))
        if (physical or single_vma is not None) and user:
            out.append(_page_header(kernel))
            out += [_page(kernel, vma, path, pgd, a).line for a in range(vma.start, vma.end, PAGE_SIZE)]
    if single_vma is not None and not single_found:
        out.append("(not found)\n")
    if found_header:
        out.append("\n")
    return "".join(out)


@command(
    "vm",
    summary="show a task's memory map",
    synopsis="vm [-p | -P vma | -m | -v | -R reference | -f flags] [-x | -d] [pid | task] ...",
    description="""
    For the current task, or each task named by pid or task_struct address, prints the address of
    its mm_struct and page directory, its resident and virtual size, then one line per mapping
    (vm_area_struct): its address, start and end, its vm_flags and the file mapped.
    """,
    arguments=[
        Option(
            "-p",
            help="under each mapping, translate each of its pages: physical address, swap "
            "location, file offset, or not mapped.",
        ),
        Option(
            "-P", "vma", dest="vma", help="only the mapping at this vm_area_struct address, with -p's pages."
        ),
        Option(
            "-R",
            "reference",
            dest="reference",
            action="append",
            help="show only the tasks, mappings and pages that refer to it: an address (of the "
            "mm_struct, page directory, vm_area_struct, a page, a physical page), vm_flags, a "
            "file-name part or a swap offset.",
        ),
        Option("-m", help="print the task's whole mm_struct instead."),
        Option("-v", help="print each of the task's vm_area_structs in full instead."),
        Option("-x", help="with -m or -v: numbers in hexadecimal."),
        Option("-d", help="with -m or -v: numbers in decimal."),
        Option("-f", "flags", dest="flags", help="name the VM_* bits of a vm_flags value (hexadecimal)."),
        Argument("targets", "pid | task", nargs="*", help="the tasks: pids or task_struct addresses."),
    ],
)
def vm(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.flags is not None:
        value = hexadecimal(args.flags)
        if value is None:
            ctx.error(f'invalid input: "{args.flags}"')
        ctx.write(vm_flags_text(kernel, value))
        return
    if args.reference and len(args.reference) > 1:
        raise CommandArgumentError("only one -R option allowed")
    if args.x and args.d:
        ctx.error("-d and -x are mutually exclusive")
    if sum(bool(x) for x in (args.p, args.vma is not None, args.reference, args.m, args.v)) > 1 and not (
        args.p and args.reference and args.vma is None
    ):
        raise CommandArgumentError("-p, -P and -R exclude one another")
    single = None
    if args.vma is not None:
        single = hexadecimal(args.vma)
        if single is None:
            ctx.error(f'invalid input: "{args.vma}"')
    ref = args.reference[0] if args.reference else None
    options = {"physical": args.p, "ref": ref, "single_vma": single}
    radix = ["-x"] if args.x else ["-d"] if args.d else []
    which = "mm" if args.m else "vma" if args.v else None

    def show(address: int, subsequent: bool = False) -> str:
        if which is not None:
            return vm_structs_text(ctx, address, which, radix, subsequent)
        return vm_text(kernel, address, subsequent=subsequent, **options)

    if not args.targets:
        ctx.write(show(ctx.session.current_task()))
        return
    subsequent = 0
    for text in args.targets:
        parsed = tasks.parse_task_spec(kernel, text)
        if parsed is None:
            ctx.write(f"vm: {chr(10) if subsequent else ''}invalid task or pid value: {text}\n")
            subsequent += 1
            continue
        found = (
            [parsed[1]] if parsed[0] == "task" else [t.address for t in tasks.tasks_by_pid(kernel, parsed[1])]
        )
        for address in found:
            ctx.write(show(address, subsequent > 0))
            if ref is None:
                subsequent += 1


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [vm]
