"""The x86_64 layout (:mod:`crashcompat.core.kernel.layout`): KASLR'd and fixed bases, 4- and 5-level
paging, the module area with and without CONFIG_RANDOMIZE_BASE, crash's address classes, THREAD_SIZE and
the pt_regs registers — and that the kernel model's users agree with it."""

from __future__ import annotations

import pytest

from crashcompat.core.kernel import Kernel, layout, pagetable, stacks
from crashcompat.core.target import TypeNotFound
from crashcompat.testing.synthetic import SyntheticTarget

TIB = 1 << 40
MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map, written out: the expectations do not come from layout.py


def global_u64(t: SyntheticTarget, name: str, value: int, size: int = 8) -> None:
    address = t.alloc(8)
    t.write_u64(address, value)
    t.add_symbol(name, address, size)


def kaslr_target() -> SyntheticTarget:
    """A CONFIG_RANDOMIZE_MEMORY kernel: the bases are variables."""
    t = SyntheticTarget()
    global_u64(t, "page_offset_base", 0xFFFF9A0000000000)
    global_u64(t, "vmalloc_base", 0xFFFFB10000000000)
    global_u64(t, "vmemmap_base", 0xFFFFE80000000000)
    t.add_type("struct cpu_entry_area", 0x1000)
    return t


def test_kaslr_bases_are_read_from_the_kernel() -> None:
    t = kaslr_target()
    lay = layout.layout(t)
    assert (lay.page_offset, lay.vmalloc_start, lay.vmemmap_start) == (
        0xFFFF9A0000000000,
        0xFFFFB10000000000,
        0xFFFFE80000000000,
    )
    assert lay.vmalloc_end == 0xFFFFB10000000000 + 32 * TIB - 1
    assert lay.vmemmap_end == 0xFFFFE80000000000 + TIB - 1
    assert not lay.five_level and lay.userspace_top == 1 << 47
    # RANDOMIZE_MEMORY implies RANDOMIZE_BASE: the 1 GiB image window
    assert (lay.modules_vaddr, lay.modules_end) == (0xFFFFFFFFC0000000, 0xFFFFFFFFFF000000)
    assert layout.layout(Kernel(t)) is lay  # once per target, whether asked with the Kernel or the Target
    assert Kernel(t).page_offset() == 0xFFFF9A0000000000


def test_fixed_bases_without_randomize_memory() -> None:
    lay = layout.layout(SyntheticTarget())
    assert (lay.page_offset, lay.vmalloc_start, lay.vmemmap_start) == (
        0xFFFF888000000000,
        0xFFFFC90000000000,
        0xFFFFEA0000000000,
    )
    assert Kernel(SyntheticTarget()).page_offset() == 0xFFFF888000000000


def test_five_level_from_vmcoreinfo_or_the_kernel() -> None:
    t = SyntheticTarget()
    t.set_vmcoreinfo({"NUMBER(pgtable_l5_enabled)": "1"})
    lay = layout.layout(t)
    assert lay.five_level and lay.userspace_top == 1 << 56
    assert (lay.page_offset, lay.vmalloc_start, lay.vmemmap_start) == (
        0xFF11000000000000,
        0xFFA0000000000000,
        0xFFD4000000000000,
    )
    assert lay.vmalloc_end == 0xFFA0000000000000 + 1280 * TIB - 1
    t = SyntheticTarget()
    global_u64(t, "__pgtable_l5_enabled", 1, 4)
    assert layout.layout(t).five_level
    assert pagetable.Paging(0, 0, 0, layout.layout(t)).levels == ("PGD", "P4D", "PUD", "PMD", "PTE")


# ---- the module area: KERNEL_IMAGE_SIZE --------------------------------------------------------------------


def test_module_area_from_vmcoreinfo() -> None:
    t = SyntheticTarget()
    t.set_vmcoreinfo({"NUMBER(KERNEL_IMAGE_SIZE)": "1073741824"})
    assert layout.modules_range(t) == (0xFFFFFFFFC0000000, 0xFFFFFFFFFF000000)
    t = SyntheticTarget()
    t.set_vmcoreinfo({"NUMBER(KERNEL_IMAGE_SIZE)": "536870912"})
    assert layout.modules_range(t)[0] == 0xFFFFFFFFA0000000


def test_module_area_without_kaslr() -> None:
    """A kernel built without CONFIG_RANDOMIZE_BASE: 512 MiB image window, modules from 0xffffffffa0000000
    — also when its VMCOREINFO has KERNELOFFSET=0, which every kernel writes."""
    t = SyntheticTarget()
    t.set_vmcoreinfo({"KERNELOFFSET": "0", "OSRELEASE": "6.1.0"})
    kernel = Kernel(t)
    assert layout.kernel_image_size(t) == 512 << 20
    assert layout.modules_range(kernel) == (0xFFFFFFFFA0000000, 0xFFFFFFFFFF000000)
    lay = layout.layout(kernel)
    module_text = 0xFFFFFFFFA0123000
    assert lay.is_module_addr(module_text) and lay.is_vmalloc_addr(module_text)
    assert not layout.is_kernel_image(kernel, module_text)
    assert layout.is_kernel_image(kernel, MAP + 0x1000000)


@pytest.mark.parametrize("symbol", ["kaslr_get_random_long", "module_load_offset"])
def test_module_area_with_kaslr_by_feature_test(symbol: str) -> None:
    """crash's CONFIG_RANDOMIZE_BASE test (symbols.c ``kaslr_init()``) when VMCOREINFO does not say."""
    t = SyntheticTarget()
    t.add_symbol(symbol, 0xFFFFFFFF81234000, 16)
    assert layout.modules_range(t)[0] == 0xFFFFFFFFC0000000


def test_the_module_area_needs_no_memory() -> None:
    """A backend asks it from its own read() before anything is readable."""
    t = SyntheticTarget()
    t.add_symbol("page_offset_base", 0xFFFFFFFF82000000, 8)  # unreadable: the symbol is enough
    t.add_symbol("vmalloc_base", 0xFFFFFFFF82000008, 8)
    assert layout.modules_range(t)[0] == 0xFFFFFFFFC0000000


# ---- crash's address classes -------------------------------------------------------------------------------


def test_is_vmalloc_addr_like_crash() -> None:
    lay = layout.layout(kaslr_target())
    assert lay.is_vmalloc_addr(0xFFFFB10000000000)
    assert lay.is_vmalloc_addr(0xFFFFB10000000000 + 32 * TIB - 1)
    assert not lay.is_vmalloc_addr(0xFFFFB10000000000 + 32 * TIB)  # the hole after vmalloc (4-level)
    assert lay.is_vmalloc_addr(0xFFFFE80000000000 + 0x40)  # vmemmap
    assert lay.is_vmalloc_addr(0xFFFFFE0000001000)  # cpu_entry_area
    assert lay.is_vmalloc_addr(0xFFFFFFFFFF600000) and not lay.is_vmalloc_addr(0xFFFFFFFFFF601000)  # vsyscall
    assert lay.is_vmalloc_addr(0xFFFFFFFFC0400000) and lay.is_vmalloc_addr(0xFFFFFFFFFF000000)  # modules
    assert not lay.is_vmalloc_addr(0xFFFFFFFFFF100000)  # the fixmap
    assert not lay.is_vmalloc_addr(0xFFFF9A0000001000)  # the direct map
    assert not lay.is_vmalloc_addr(0xFFFFFFFF81000000)  # the kernel image
    # no struct cpu_entry_area (before v4.15): crash leaves that range out
    assert not layout.layout(SyntheticTarget()).is_vmalloc_addr(0xFFFFFE0000001000)


def test_five_level_hole_counts_as_vmalloc() -> None:
    t = SyntheticTarget()
    t.set_vmcoreinfo({"NUMBER(pgtable_l5_enabled)": "1"})
    lay = layout.layout(t)
    assert lay.is_vmalloc_addr(lay.vmalloc_end + 1) and lay.is_vmalloc_addr(lay.vmemmap_start - 1)


def test_is_kvaddr_and_is_uvaddr() -> None:
    lay = layout.layout(kaslr_target())
    assert lay.is_kvaddr(0xFFFF9A0000000000) and not lay.is_kvaddr(0xFFFF99FFFFFFFFFF)
    assert lay.is_uvaddr(0x7FFFFFFFFFFF) and not lay.is_uvaddr(0x800000000000)
    assert not lay.is_kvaddr(0x800000000000) and not lay.is_uvaddr(0x800000000000)  # the hole: neither


# ---- THREAD_SIZE and pt_regs ----------------------------------------------------------------------------


def test_thread_size_from_debug_info_then_init_stack_then_default() -> None:
    t = SyntheticTarget()
    t.add_type("union thread_union", 0x8000)  # a KASAN kernel's 32 KiB
    assert layout.thread_size(Kernel(t)) == 0x8000
    assert stacks.task_stack(Kernel(t), 0x10000).top == 0x18000
    t = SyntheticTarget()
    t.add_symbol("__start_init_stack", 0xFFFFFFFF82000000)
    t.add_symbol("__end_init_stack", 0xFFFFFFFF82004000)
    assert layout.thread_size(Kernel(t)) == 0x4000
    assert layout.thread_size(Kernel(SyntheticTarget())) == 16 << 10


def test_pt_regs_offsets_new_and_old_names() -> None:
    t = SyntheticTarget()
    new = ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di"]
    new += ["orig_ax", "ip", "cs", "flags", "sp", "ss"]
    t.add_struct("struct pt_regs", 168, {n: (8 * i, 8, "unsigned long") for i, n in enumerate(new)})
    offsets = layout.pt_regs_offsets(Kernel(t))
    assert [offsets[n] // 8 for n in layout.PT_REGS_ORDER] == list(range(21))
    old = [n if n.startswith("r") or n in ("cs", "ss") else "r" + n for n in new]
    old = [{"rflags": "eflags", "rorig_ax": "orig_rax"}.get(n, n) for n in old]
    t = SyntheticTarget()
    t.add_struct("struct pt_regs", 168, {n: (8 * i, 8, "unsigned long") for i, n in enumerate(old)})
    assert layout.pt_regs_offsets(Kernel(t)) == offsets
    t = SyntheticTarget()
    t.add_struct("struct pt_regs", 8, {"ip": (0, 8, "unsigned long")})
    with pytest.raises(TypeNotFound):
        layout.pt_regs_offsets(Kernel(t))
