"""Feature tests of the kernel model for the 5.10 … 7.x series, each branch on a synthetic kernel.

Each test builds only the members/symbols the branch looks at, with the newer and the older shape.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel, layout, mm, orc, system, tasks
from crashcompat.core.kernel import symbols as ksymbols
from crashcompat.core.target import Symbol, SymbolBinding, SymbolKind
from crashcompat.testing.synthetic import SyntheticTarget

# ---- per-cpu offsets (Linux 6.15: relative to __per_cpu_start) ----------------------------------------------


def _percpu_target(per_cpu_start: int, offset: int) -> SyntheticTarget:
    t = SyntheticTarget()
    table = t.alloc(16)
    t.write_u64(table, offset)
    t.add_symbol("__per_cpu_offset", table, 16)
    t.add_symbol("__per_cpu_start", per_cpu_start)
    return t


def test_zero_based_per_cpu_offset_is_the_area() -> None:
    k = Kernel(_percpu_target(0, 0xFFFF8C211E000000))
    assert k.per_cpu_offset(0) == 0xFFFF8C211E000000


def test_relative_per_cpu_offset_lands_on_the_area() -> None:
    start, area = 0xFFFFFFFF83DA5000, 0xFFFF8C211E000000
    k = Kernel(_percpu_target(start, (area - start) & (1 << 64) - 1))
    k.target.add_symbol("cpu_number", start + 0x18034)  # type: ignore[attr-defined]
    assert k.per_cpu_address("cpu_number", 0) == area + 0x18034
    assert k.per_cpu_offset(0) & (1 << 64) - 1 == (area - start) & (1 << 64) - 1  # what kmem -o prints


# ---- ORC register numbering (Linux 7.1) -------------------------------------------------------------------


@dataclass
class _StubOrc:
    """What :func:`orc._register_map` asks of the tables: symbols, lookups, ORC_TYPE_CALL."""

    kernel: Kernel
    entry: orc.OrcEntry
    type_call: int = 2

    def find(self, ip: int) -> orc.OrcEntry | None:
        return self.entry


def _entry_orc(sp_reg: int) -> _StubOrc:
    t = SyntheticTarget()
    t.add_symbol("panic", 0xFFFFFFFF81000100, kind=SymbolKind.FUNC)
    entry = orc.OrcEntry(ip=0xFFFFFFFF810000F0, sp_offset=8, bp_offset=0, sp_reg=sp_reg, bp_reg=0, type=2)
    return _StubOrc(Kernel(t), entry)


def test_orc_registers_renumbered_when_entry_names_sp_3() -> None:
    mapping = orc._register_map(_entry_orc(3))  # type: ignore[arg-type]
    assert mapping[3] == orc.ORC_REG_SP and mapping[8] == orc.ORC_REG_PREV_SP


def test_orc_registers_kept_before_7_1() -> None:
    assert orc._register_map(_entry_orc(orc.ORC_REG_SP)) == {}  # type: ignore[arg-type]


# ---- FRED stack padding (Linux 6.9) -----------------------------------------------------------------------


def test_top_of_stack_padding_follows_fred_frame() -> None:
    t = SyntheticTarget()
    assert layout.top_of_stack_padding(Kernel(t)) == 0
    t.add_type("struct fred_frame", 16)
    assert layout.top_of_stack_padding(Kernel(t)) == 16


# ---- wall clock: struct tk_data (Linux 6.13), timekeeper_data[] (6.17) ----------------------------------------


def _timekeeper_target() -> SyntheticTarget:
    t = SyntheticTarget()
    t.add_struct("struct timekeeper", 64, {"xtime_sec": (16, 8, "u64")})
    return t


def test_date_from_timekeeper_data() -> None:
    t = _timekeeper_target()
    t.add_struct("struct tk_data", 128, {"timekeeper": (8, 64, "struct timekeeper")})
    data = t.alloc(256)
    t.write_u64(data + 8 + 16, 1_796_582_429)
    t.add_symbol("timekeeper_data", data, 256)
    assert system.date(Kernel(t)) == 1_796_582_429


def test_date_from_shadow_timekeeper_before_6_13() -> None:
    t = _timekeeper_target()
    shadow = t.alloc(64)
    t.write_u64(shadow + 16, 1_700_000_000)
    t.add_symbol("shadow_timekeeper", shadow, 64)
    assert system.date(Kernel(t)) == 1_700_000_000


# ---- slab pages: PG_slab flag, then page type (Linux 6.10) --------------------------------------------------


def _page_target(flag_enum: dict[str, int] | None) -> SyntheticTarget:
    t = SyntheticTarget()
    t.add_struct("struct page", 64, {"flags": (0, 8, "unsigned long"), "page_type": (48, 4, "unsigned int")})
    if flag_enum is not None:
        t.add_enum("enum pageflags", flag_enum)
    return t


def test_slab_page_by_page_type_like_crash() -> None:
    t = _page_target({"PG_locked": 0, "PG_reserved": 10})  # no PG_slab flag any more
    k = Kernel(t)
    test = mm.slab_test(k)
    assert test.flag_bit is None and test.type_mask == 0xF0000007
    assert test.matches(0, 0xF5000000)  # PGTY_slab << 24
    assert not test.matches(0, 0xFFFFFFFF)  # no type
    page = t.alloc(64)
    t.write_u32(page + 48, 0xF5000000)
    assert mm.page_is_slab(k, page)
    data = b"".join(
        struct.pack("<Q40xI12x", 0, value) for value in (0xF5000000, 0xFFFFFFFF, 0xF5000000, 0x00000000)
    )
    assert mm._count_slab_column(data, 64, 0, test) == 2


def test_slab_page_by_flag_before_6_10() -> None:
    t = _page_target({"PG_locked": 0, "PG_slab": 9, "PG_reserved": 10})
    k = Kernel(t)
    assert mm.slab_test(k).flag_bit == 9
    page = t.alloc(64)
    t.write_u64(page, 1 << 9)
    assert mm.page_is_slab(k, page)


# ---- compound pages: compound_info (Linux 7.1) --------------------------------------------------------------


def test_compound_head_through_compound_info() -> None:
    t = SyntheticTarget()
    members = {"flags": (0, 8, "unsigned long"), "compound_info": (8, 8, "unsigned long")}
    t.add_struct("struct page", 64, members)
    pages = t.alloc(64 * 4, align=256)
    t.write_u64(pages + 64 + 8, pages + 1)  # a tail naming its head + 1
    k = Kernel(t)
    assert mm.compound_head(k, pages + 64) == pages
    assert mm.compound_head(k, pages) == pages


# ---- task_struct size: arch_task_struct_size ----------------------------------------------------------------


def test_task_struct_size_prefers_arch_size() -> None:
    t = SyntheticTarget()
    t.add_type("struct task_struct", 9792)
    assert tasks.task_struct_size(Kernel(t)) == 9792
    size = t.alloc(4)
    t.write_u32(size, 7936)
    t.add_symbol("arch_task_struct_size", size, 4)
    assert tasks.task_struct_size(Kernel(t)) == 7936


# ---- module region markers (Linux 6.4) ----------------------------------------------------------------------


def _marker(name: str) -> Symbol:
    return Symbol(name, 0xFFFFFFFFC0561000, 0, SymbolBinding.LOCAL, SymbolKind.OTHER, "crashme", "m")


def test_module_marker_labels() -> None:
    assert ksymbols.pseudo_label(_marker("_MODULE_START_crashme")) == "MODULE START"
    assert ksymbols.pseudo_label(_marker("_MODULE_INIT_END_crashme")) == "MODULE INIT END"
    assert ksymbols.pseudo_label(_marker("_MODULE_TEXT_START_crashme")) == "MODULE TEXT START"
    assert (
        ksymbols.pseudo_label(_marker("_MODULE_RO_AFTER_INIT_END_crashme")) == "MODULE RO_AFTER_INIT END"
    )  # crash 9.0 symbols.c MODULE_STR
    assert ksymbols.pseudo_label(_marker("_MODULE_INIT_RODATA_START_crashme")) == "MODULE INIT_RODATA START"
    assert ksymbols.pseudo_label(_marker("crashme_open")) is None


# ---- SLUB sheaves (Linux 6.18+) -----------------------------------------------------------------------------


def test_sheaf_objects_count_as_free() -> None:
    from crashcompat.core.kernel import slub

    t = _percpu_target(0, 0)
    ids, number = t.alloc(4), t.alloc(4)
    t.write_u32(ids, 1)
    t.add_symbol("nr_cpu_ids", ids, 4)
    t.add_symbol("cpu_number", number, 4)  # CPU 0's area holds 0
    t.add_struct("struct list_head", 16, {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "void *")})
    t.add_struct(
        "struct slab_sheaf",
        32,
        {
            "barn_list": (0, 16, "struct list_head"),
            "size": (24, 4, "unsigned int"),
            "objects": (32, 0, "void *[]"),
        },
    )
    t.add_struct("struct slub_percpu_sheaves", 32, {"main": (8, 8, "void *"), "spare": (16, 8, "void *")})
    t.add_struct("struct node_barn", 48, {"sheaves_full": (8, 16, "struct list_head")})
    memory = 0xFFFF888003EC3000

    def sheaf(*objects: int) -> int:
        address = t.alloc(32 + 8 * len(objects))
        t.write_u32(address + 24, len(objects))
        t.write(address + 32, struct.pack(f"<{len(objects)}Q", *objects))
        return address

    pcs = t.alloc(32)
    t.write_u64(pcs + 8, sheaf(memory, memory + 48))
    barn = t.alloc(48)
    full = sheaf(memory + 96)
    t.write(barn + 8, struct.pack("<QQ", full, full))  # sheaves_full: the one full sheaf
    t.write(full, struct.pack("<QQ", barn + 8, barn + 8))
    cache = slub.Cache(
        address=0xFFFF888001000000, name="c", objsize=48, size=48, objects=73, order=0, offset=24, flags=0,
        red_left_pad=0, random=None, cpu_slab=0, nodes=(0,), cpu_sheaves=pcs, barns=(barn,),
    )  # fmt: skip
    k = Kernel(t)
    assert slub.sheaf_objects(k, cache) == {memory, memory + 48, memory + 96}
    slab = slub.Slab(address=0, memory=memory, node=0, inuse=60, objects=73, freelist=0, cache=cache.address)
    assert slub.slab_inuse(k, cache, slab) == 57
