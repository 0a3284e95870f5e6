"""``struct module``'s memory layout since Linux 6.4: ``mem[MOD_MEM_NUM_TYPES]`` of ``struct module_memory``
(commit ac3b43283923 "module: replace module_layout with module_memory")."""

from __future__ import annotations

import struct

from crashcompat.core.kernel import Kernel, modules
from crashcompat.testing.synthetic import SyntheticTarget

KINDS = {"MOD_TEXT": 0, "MOD_DATA": 1, "MOD_RODATA": 2, "MOD_RO_AFTER_INIT": 3, "MOD_INIT_TEXT": 4,
         "MOD_INIT_DATA": 5, "MOD_INIT_RODATA": 6, "MOD_MEM_NUM_TYPES": 7}  # fmt: skip


def _target(kinds: dict[str, int]) -> tuple[SyntheticTarget, int]:
    t = SyntheticTarget()
    t.add_struct("struct list_head", 16, {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "void *")})
    t.add_struct("struct module_memory", 16, {"base": (0, 8, "void *"), "size": (8, 4, "unsigned int")})
    t.add_enum("enum mod_mem_type", kinds)
    t.add_struct(
        "struct module",
        256,
        {"list": (0, 16, "struct list_head"), "name": (16, 56, "char [56]"),
         "syms": (72, 8, "void *"), "num_syms": (80, 4, "unsigned int"),
         "mem": (96, 7 * 16, "struct module_memory [7]")},
    )  # fmt: skip
    mod = t.alloc(256)
    head = t.alloc(16)
    t.write(head, struct.pack("<QQ", mod, mod))
    t.write(mod, struct.pack("<QQ", head, head) + b"m".ljust(56, b"\0"))
    base = 0xFFFFFFFFC0400000
    for index, (offset, size) in enumerate([(0, 0x1000), (0x2000, 0x1000), (0x4000, 0x800), (0, 0),
                                            (0x8000, 0x100), (0x9000, 0x80), (0, 0)]):  # fmt: skip
        t.write(mod + 96 + 16 * index, struct.pack("<QI", base + offset if size else 0, size))
    t.add_symbol("modules", head, 16)
    return t, base


def test_core_is_every_slot_before_init_text() -> None:
    t, base = _target(KINDS)
    (mod,) = modules.for_each_module(Kernel(t))
    assert (mod.base, mod.size, mod.text_size) == (base, 0x2800, 0x1000)
    assert mod.core == ((base, base + 0x1000), (base + 0x2000, base + 0x3000), (base + 0x4000, base + 0x4800))
    assert (mod.init_base, mod.init_size) == (base + 0x8000, 0x180)


def test_mod_invalid_is_no_slot() -> None:
    """6.12's enum also holds MOD_INVALID = -1, which indexes nothing."""
    t, base = _target({**KINDS, "MOD_INVALID": -1})
    (mod,) = modules.for_each_module(Kernel(t))
    assert (mod.base, mod.size, mod.init_size) == (base, 0x2800, 0x180)
