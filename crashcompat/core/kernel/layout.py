"""The x86_64 kernel's virtual address layout and stack and register shapes, in one place.

Every other module asks here; none keeps its own copy of these numbers.  The constants are the kernel's
(arch/x86/include/asm/page_64_types.h, pgtable_64_types.h, Documentation/x86/x86_64/mm.rst); what depends
on the kernel being examined — KASLR'd bases, 4- or 5-level paging, the size of the kernel image window,
``THREAD_SIZE``, the ``struct pt_regs`` member offsets — is learnt from that kernel by a feature test and
computed once:

- :func:`layout` (a :class:`Layout`: the direct map, vmalloc, vmemmap and module areas, with crash's
  ``IS_VMALLOC_ADDR()``, ``IS_KVADDR()`` and ``IS_UVADDR()``) and :func:`modules_range` are kept per
  Target, because a backend's own ``read()`` needs them (through :mod:`.pagetable`) before any
  :class:`~crashcompat.core.kernel.Kernel` exists;
- :func:`thread_size` and :func:`pt_regs_offsets` are kept in the Kernel facade's memo.

crash's references: x86_64.c ``x86_64_init()`` (PRE_GDB and POST_GDB: ``RANDOMIZED``, ``modules_vaddr``),
``x86_64_IS_VMALLOC_ADDR()``, ``x86_64_is_kvaddr()``, ``x86_64_is_uvaddr()``; task.c ``task_init()``
(``STACKSIZE()``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from crashcompat.core.target import FaultError, SymbolNotFound, Target, TargetError, TypeNotFound

if TYPE_CHECKING:
    from crashcompat.core.kernel import Kernel

__all__ = [
    "CPU_ENTRY_AREA_END",
    "CPU_ENTRY_AREA_START",
    "IRQ_STACK_SIZE_DEFAULT",
    "KERNEL_IMAGE_SIZE_KASLR",
    "KERNEL_IMAGE_SIZE_NOKASLR",
    "MODULES_END",
    "PAGE_OFFSET_4LEVEL",
    "PAGE_OFFSET_5LEVEL",
    "PT_REGS_MEMBERS",
    "PT_REGS_ORDER",
    "START_KERNEL_MAP",
    "THREAD_SIZE_DEFAULT",
    "USERSPACE_TOP_4LEVEL",
    "USERSPACE_TOP_5LEVEL",
    "VMALLOC_SIZE_4LEVEL",
    "VMALLOC_SIZE_5LEVEL",
    "VMALLOC_START_4LEVEL",
    "VMALLOC_START_5LEVEL",
    "VMEMMAP_SIZE",
    "VMEMMAP_START_4LEVEL",
    "VMEMMAP_START_5LEVEL",
    "VSYSCALL_END",
    "VSYSCALL_START",
    "Layout",
    "is_kernel_image",
    "kernel_image_size",
    "layout",
    "modules_range",
    "pt_regs_offsets",
    "thread_size",
    "top_of_stack_padding",
]

T = TypeVar("T")
_TIB = 1 << 40

# ---- constants --------------------------------------------------------------------------------------------

#: ``__START_KERNEL_map``: where the kernel image is linked (its text, data and bss are mapped from here).
START_KERNEL_MAP = 0xFFFFFFFF80000000
#: ``KERNEL_IMAGE_SIZE`` (page_64_types.h): the kernel image window above :data:`START_KERNEL_MAP` —
#: 1 GiB with CONFIG_RANDOMIZE_BASE (KASLR places the image anywhere in it), else 512 MiB.  The module
#: area starts where the window ends (``MODULES_VADDR``).
KERNEL_IMAGE_SIZE_KASLR = 1 << 30
KERNEL_IMAGE_SIZE_NOKASLR = 512 << 20
#: ``MODULES_END`` (pgtable_64_types.h), the same with 4- and 5-level paging.
MODULES_END = 0xFFFFFFFFFF000000

#: The bases without CONFIG_RANDOMIZE_MEMORY (``__PAGE_OFFSET_BASE_L4/L5``, ``__VMALLOC_BASE_L4/L5``,
#: ``__VMEMMAP_BASE_L4/L5``), of the layout since v4.20 (commit d52888aa2753 "x86/mm: Move LDT remap out
#: of KASLR region on 5-level paging" moved the 4-level direct map from 0xffff880000000000).
PAGE_OFFSET_4LEVEL, PAGE_OFFSET_5LEVEL = 0xFFFF888000000000, 0xFF11000000000000
VMALLOC_START_4LEVEL, VMALLOC_START_5LEVEL = 0xFFFFC90000000000, 0xFFA0000000000000
VMEMMAP_START_4LEVEL, VMEMMAP_START_5LEVEL = 0xFFFFEA0000000000, 0xFFD4000000000000
#: The sizes crash gives the vmalloc and vmemmap areas from their bases (x86_64.c, ``RANDOMIZED``).
VMALLOC_SIZE_4LEVEL, VMALLOC_SIZE_5LEVEL = 32 * _TIB, 1280 * _TIB
VMEMMAP_SIZE = 1 * _TIB
#: The legacy vsyscall page (``VSYSCALL_ADDR``) and the cpu_entry_area (``CPU_ENTRY_AREA_BASE``, 512 GiB;
#: out of the fixmap since v4.15, commit 92a0f81d8957 "x86/cpu_entry_area: Move it out of the fixmap"),
#: end exclusive.
VSYSCALL_START, VSYSCALL_END = 0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000
CPU_ENTRY_AREA_START, CPU_ENTRY_AREA_END = 0xFFFFFE0000000000, 0xFFFFFE8000000000
#: ``TASK_SIZE_MAX`` rounded up to the hole: crash's ``USERSPACE_TOP`` (4-level) and ``USERSPACE_TOP_5LEVEL``.
USERSPACE_TOP_4LEVEL, USERSPACE_TOP_5LEVEL = 0x0000800000000000, 0x0100000000000000

#: x86_64's ``THREAD_SIZE`` without KASAN: ``PAGE_SIZE << THREAD_SIZE_ORDER`` with order 2 since v3.15
#: (commit 6538b8ea886e "x86_64: expand kernel stack to 16K").  Used only when the debug info does not
#: tell (:func:`thread_size`).
THREAD_SIZE_DEFAULT = 16 << 10
#: ``IRQ_STACK_SIZE``: the hard-IRQ stack has ``THREAD_SIZE``'s order (``IRQ_STACK_ORDER``).
IRQ_STACK_SIZE_DEFAULT = THREAD_SIZE_DEFAULT

#: x86_64 general-purpose registers in the order of ``struct pt_regs`` (arch/x86/include/asm/ptrace.h).
#: ``struct user_regs_struct`` (``NT_PRSTATUS``'s ``pr_reg``) starts with the same 21 registers.
PT_REGS_ORDER = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
)  # fmt: skip
#: crash's register name → the ``struct pt_regs`` member, newest name first: v2.6.25 (commit
#: 65ea5b034990 "x86: rename the struct pt_regs members for 32/64-bit consistency") dropped the ``r``/``e``.
PT_REGS_MEMBERS: dict[str, tuple[str, ...]] = {
    "rip": ("ip", "rip"), "rsp": ("sp", "rsp"), "eflags": ("flags", "eflags"), "rax": ("ax", "rax"),
    "rbx": ("bx", "rbx"), "rcx": ("cx", "rcx"), "rdx": ("dx", "rdx"), "rsi": ("si", "rsi"),
    "rdi": ("di", "rdi"), "rbp": ("bp", "rbp"), "r8": ("r8",), "r9": ("r9",), "r10": ("r10",),
    "r11": ("r11",), "r12": ("r12",), "r13": ("r13",), "r14": ("r14",), "r15": ("r15",),
    "orig_rax": ("orig_ax", "orig_rax"), "cs": ("cs",), "ss": ("ss",),
}  # fmt: skip


# ---- the layout of one kernel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where a kernel's areas are (see :func:`layout`).  Ends are inclusive, as crash keeps them.

    :param five_level: 5-level paging (``pgtable_l5_enabled()``).
    :param page_offset: ``PAGE_OFFSET``, the direct map's base (``page_offset_base`` with
        CONFIG_RANDOMIZE_MEMORY); likewise *vmalloc_start* (``vmalloc_base``) and *vmemmap_start*
        (``vmemmap_base``).
    :param modules_vaddr: ``MODULES_VADDR``; *modules_end*: ``MODULES_END``.
    :param cpu_entry_area: whether the kernel has the cpu_entry_area (``struct cpu_entry_area``, v4.15+).
    """

    five_level: bool
    page_offset: int
    vmalloc_start: int
    vmalloc_end: int
    vmemmap_start: int
    vmemmap_end: int
    modules_vaddr: int
    modules_end: int
    cpu_entry_area: bool = True

    @property
    def userspace_top(self) -> int:
        return USERSPACE_TOP_5LEVEL if self.five_level else USERSPACE_TOP_4LEVEL

    def is_kvaddr(self, address: int) -> bool:
        """crash's ``IS_KVADDR()`` (``x86_64_is_kvaddr()``): at or above ``PAGE_OFFSET``."""
        return address >= self.page_offset

    def is_uvaddr(self, address: int) -> bool:
        """crash's ``IS_UVADDR()`` (``x86_64_is_uvaddr()``): below ``USERSPACE_TOP``."""
        return address < self.userspace_top

    def is_module_addr(self, address: int) -> bool:
        """crash's ``x86_64_is_module_addr()``: in ``[MODULES_VADDR, MODULES_END]``."""
        return self.modules_vaddr <= address <= self.modules_end

    def is_vmalloc_addr(self, address: int) -> bool:
        """crash's ``IS_VMALLOC_ADDR()`` (``x86_64_IS_VMALLOC_ADDR()``): vmalloc, vmemmap, module,
        vsyscall and cpu_entry_area space, and on 5-level kernels the hole between vmalloc and vmemmap —
        the kernel addresses crash translates through the page tables (the direct map and the kernel
        image it computes)."""
        return (
            self.vmalloc_start <= address <= self.vmalloc_end
            or self.vmemmap_start <= address <= self.vmemmap_end
            or self.modules_vaddr <= address <= self.modules_end
            or VSYSCALL_START <= address < VSYSCALL_END
            or (self.cpu_entry_area and CPU_ENTRY_AREA_START <= address < CPU_ENTRY_AREA_END)
            or (self.five_level and self.vmalloc_end < address < self.vmemmap_start)
        )


_layouts: weakref.WeakKeyDictionary[Target, Layout] = weakref.WeakKeyDictionary()
_modules: weakref.WeakKeyDictionary[Target, tuple[int, int]] = weakref.WeakKeyDictionary()
_busy = threading.local()


def _target_of(kernel_or_target: Kernel | Target) -> Target:
    return kernel_or_target if isinstance(kernel_or_target, Target) else kernel_or_target.target


def _per_target(
    cache: weakref.WeakKeyDictionary[Target, T], target: Target, what: str, compute: Callable[[Target], T]
) -> T:
    """*compute(target)* once per target.  Should a backend's ``read()`` come back here while it runs
    (a read that needs the page tables, which need the layout), that inner call raises
    :class:`FaultError` instead of recursing."""
    found = cache.get(target)
    if found is not None:
        return found
    busy: set[tuple[int, str]] = _busy.__dict__.setdefault("targets", set())
    key = (id(target), what)
    if key in busy:
        raise FaultError(0, reason=f"the kernel's {what} is not known yet")
    busy.add(key)
    try:
        found = cache[target] = compute(target)
    finally:
        busy.discard(key)
    return found


def layout(kernel_or_target: Kernel | Target) -> Layout:
    """The :class:`Layout` of the kernel, computed once per target the way crash's ``x86_64_init()``
    does.

    - 5-level paging: VMCOREINFO ``NUMBER(pgtable_l5_enabled)`` (arch/x86/kernel/machine_kexec_64.c),
      else the kernel's ``__pgtable_l5_enabled`` (arch/x86/kernel/head64.c); neither means 4-level.
    - The bases: the CONFIG_RANDOMIZE_MEMORY variables ``page_offset_base``, ``vmalloc_base`` and
      ``vmemmap_base`` (arch/x86/mm/kaslr.c, v4.8 commit 021182e52fe0 "x86/mm: Enable KASLR for
      physical mapping memory regions"; ``vmemmap_base`` since v4.9) where the kernel has them, else the
      fixed bases for its paging depth.
    - The module area: :func:`modules_range`.
    - The cpu_entry_area only where ``struct cpu_entry_area`` exists (crash's test).
    """
    return _per_target(_layouts, _target_of(kernel_or_target), "layout", _compute_layout)


def _compute_layout(target: Target) -> Layout:
    def global_value(name: str, size: int = 8) -> int | None:
        try:
            return int.from_bytes(target.read(target.symbol_address(name), size), "little")
        except TargetError:
            return None

    text = target.vmcoreinfo.get("NUMBER(pgtable_l5_enabled)")
    try:
        l5 = int(text, 0) if text is not None else None
    except ValueError:
        l5 = None
    if l5 is None:
        l5 = global_value("__pgtable_l5_enabled", 4) or 0
    five = bool(l5)
    page_offset = global_value("page_offset_base") or (PAGE_OFFSET_5LEVEL if five else PAGE_OFFSET_4LEVEL)
    vmalloc = global_value("vmalloc_base") or (VMALLOC_START_5LEVEL if five else VMALLOC_START_4LEVEL)
    vmemmap = global_value("vmemmap_base") or (VMEMMAP_START_5LEVEL if five else VMEMMAP_START_4LEVEL)
    try:
        target.type_size("struct cpu_entry_area")
        cpu_entry_area = True
    except TypeNotFound:
        cpu_entry_area = False
    modules_vaddr, modules_end = modules_range(target)
    return Layout(
        five_level=five,
        page_offset=page_offset,
        vmalloc_start=vmalloc,
        vmalloc_end=vmalloc + (VMALLOC_SIZE_5LEVEL if five else VMALLOC_SIZE_4LEVEL) - 1,
        vmemmap_start=vmemmap,
        vmemmap_end=vmemmap + VMEMMAP_SIZE - 1,
        modules_vaddr=modules_vaddr,
        modules_end=modules_end,
        cpu_entry_area=cpu_entry_area,
    )


def kernel_image_size(kernel_or_target: Kernel | Target) -> int:
    """``KERNEL_IMAGE_SIZE``, read without touching kernel memory (so a backend may ask it while it
    cannot read yet).

    VMCOREINFO ``NUMBER(KERNEL_IMAGE_SIZE)`` (arch/x86/kernel/machine_kexec_64.c
    ``arch_crash_save_vmcoreinfo()``) when the dump has it.  Otherwise the feature test crash makes for
    CONFIG_RANDOMIZE_BASE (symbols.c ``kaslr_init()``, x86_64.c ``x86_64_init()``): the kernel has
    ``kaslr_get_random_long`` (arch/x86/lib/kaslr.c, built only with RANDOMIZE_BASE since v4.7, commit
    d899a7d146a2 "x86/mm: Refactor KASLR entropy functions") or ``module_load_offset`` (the module
    load randomisation, v3.14 commit e2b32e678513 "x86, kaslr: randomize module base load address"), or
    CONFIG_RANDOMIZE_MEMORY's ``page_offset_base`` and ``vmalloc_base`` (crash's ``RANDOMIZED``, which
    depends on RANDOMIZE_BASE): 1 GiB; else 512 MiB.  ``KERNELOFFSET`` says nothing here: VMCOREINFO has it
    with or without KASLR.
    """
    target = _target_of(kernel_or_target)
    text = target.vmcoreinfo.get("NUMBER(KERNEL_IMAGE_SIZE)")
    if text is not None:
        try:
            size = int(text, 0)
        except ValueError:
            size = 0
        if size > 0:
            return size

    def has(name: str) -> bool:
        try:
            target.lookup_symbol(name)
        except SymbolNotFound:
            return False
        return True

    if has("kaslr_get_random_long") or has("module_load_offset"):
        return KERNEL_IMAGE_SIZE_KASLR
    if has("page_offset_base") and has("vmalloc_base"):
        return KERNEL_IMAGE_SIZE_KASLR
    return KERNEL_IMAGE_SIZE_NOKASLR


def modules_range(kernel_or_target: Kernel | Target) -> tuple[int, int]:
    """``(MODULES_VADDR, MODULES_END)``: ``MODULES_VADDR`` is ``__START_KERNEL_map + KERNEL_IMAGE_SIZE``
    (pgtable_64_types.h; :func:`kernel_image_size`).  Computed once per target, without reading kernel
    memory."""
    target = _target_of(kernel_or_target)
    return _per_target(
        _modules, target, "module area", lambda t: (START_KERNEL_MAP + kernel_image_size(t), MODULES_END)
    )


def is_kernel_image(kernel_or_target: Kernel | Target, address: int) -> bool:
    """Whether *address* is in the kernel image window ``[__START_KERNEL_map, MODULES_VADDR)``, where
    ``__pa(x) = x - __START_KERNEL_map + phys_base`` (no page-table walk needed)."""
    return START_KERNEL_MAP <= address < modules_range(kernel_or_target)[0]


# ---- stacks and registers ----------------------------------------------------------------------------------


def thread_size(kernel: Kernel) -> int:
    """``THREAD_SIZE``, as crash's ``STACKSIZE()`` learns it (task.c ``task_init()``):
    ``sizeof(union thread_union)`` from the debug info; else the init task's stack, which is one
    ``thread_union`` (``__start_init_stack``..``__end_init_stack``; ``__start_init_task`` and
    ``__end_init_task`` before v5.x); else :data:`THREAD_SIZE_DEFAULT`."""

    def compute() -> int:
        try:
            return kernel.sizeof("union thread_union")
        except TypeNotFound:
            pass
        for start, end in (
            ("__start_init_stack", "__end_init_stack"),
            ("__start_init_task", "__end_init_task"),
        ):
            try:
                size = kernel.symbol(end) - kernel.symbol(start)
            except SymbolNotFound:
                continue
            if size > 0:
                return size
        return THREAD_SIZE_DEFAULT

    return kernel.memo("layout:thread_size", compute)


def top_of_stack_padding(kernel: Kernel) -> int:
    """``TOP_OF_KERNEL_STACK_PADDING``: the bytes left unused above a task's user-mode ``struct pt_regs``.

    Linux 6.9 (commit 65c9cc9e2c14 "x86/fred: Reserve space for the FRED stack frame") reserves 16 with
    CONFIG_X86_FRED; like crash, a ``struct fred_frame`` in the debug info means that configuration."""

    def compute() -> int:
        try:
            kernel.sizeof("struct fred_frame")
        except TypeNotFound:
            return 0
        return 2 * 8

    return kernel.memo("layout:top_of_stack_padding", compute)


def pt_regs_offsets(kernel: Kernel) -> dict[str, int]:
    """Byte offset in ``struct pt_regs`` of each register of :data:`PT_REGS_MEMBERS`, by crash's name.

    :raises TypeNotFound: the debug info lacks ``struct pt_regs`` or one of its registers.
    """

    def compute() -> dict[str, int]:
        offsets: dict[str, int] = {}
        for name, members in PT_REGS_MEMBERS.items():
            for member in members:
                if kernel.has_member("struct pt_regs", member):
                    offsets[name] = kernel.offsetof("struct pt_regs", member)
                    break
            else:
                raise TypeNotFound(f"struct pt_regs.{members[0]}")
        return offsets

    return kernel.memo("layout:pt_regs", compute)
