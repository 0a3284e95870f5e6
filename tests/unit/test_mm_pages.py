"""crash's page-struct tallies for ``kmem -i`` (``dump_mem_map(GET_ALL)``) on a synthetic SPARSEMEM kernel:
the column counts must equal a page-by-page reading of the same random page structs, holes included."""

from __future__ import annotations

import random

from crashcompat.core.kernel import Kernel, mm
from crashcompat.testing.synthetic import SyntheticTarget

PAGE_OFFSET = 0xFFFF888000000000
VMEMMAP = 0xFFFFEA0000000000
SECTION_PAGES = 1 << (27 - 12)  # SECTION_SIZE_BITS 27
CHUNK = 4096  # pages per fallback read
PG_SLAB, PG_RESERVED = 9, 12
FLAGS, REFCOUNT = 0, 52


def world(seed: int) -> tuple[Kernel, list[bytes]]:
    """One present section whose page structs are random, but for the second chunk of 4096 pages, which is
    not mapped; returns the kernel and the mapped page structs."""
    rng = random.Random(seed)
    t = SyntheticTarget()
    t.set_vmcoreinfo({"NUMBER(phys_base)": "0", "NUMBER(pgtable_l5_enabled)": "0"})
    t.add_symbol("init_top_pgt", 0xFFFFFFFF82E10000, 4096)
    t.add_struct("struct mem_section", 16, {"section_mem_map": (0, 8, "unsigned long")})
    t.add_struct("struct page", 64, {"flags": (0, 8, "unsigned long"), "compound_head": (8, 8, "unsigned long"),
                                     "mapping": (24, 8, "void *"), "index": (32, 8, "unsigned long"),
                                     "private": (40, 8, "unsigned long"), "_mapcount": (48, 4, "int"),
                                     "_refcount": (REFCOUNT, 4, "int")})  # fmt: skip
    t.add_enum("enum pageflags", {"PG_locked": 0, "PG_slab": PG_SLAB, "PG_reserved": PG_RESERVED})
    address = t.alloc(8)
    t.write_u64(address, PAGE_OFFSET)
    t.add_symbol("page_offset_base", address, 8)
    refcounts = [0, 1, 2, 3, 255, 256, 0x10000, 0x7FFFFFFF, -1, -128, -0x80000000]
    pages = []
    for _ in range(SECTION_PAGES):
        flags = rng.getrandbits(64) if rng.random() < 0.5 else rng.choice([0, 1 << PG_SLAB, 1 << PG_RESERVED])
        page = bytearray(rng.randbytes(64))
        page[FLAGS : FLAGS + 8] = flags.to_bytes(8, "little")
        page[REFCOUNT : REFCOUNT + 4] = rng.choice(refcounts).to_bytes(4, "little", signed=True)
        pages.append(bytes(page))
    mapped = pages[:CHUNK] + pages[2 * CHUNK :]
    t.map(VMEMMAP, b"".join(pages[:CHUNK]))
    t.map(VMEMMAP + 2 * CHUNK * 64, b"".join(pages[2 * CHUNK :]))
    root = t.alloc(4096)
    t.write_u64(root, VMEMMAP | 1)  # section 0 present, its mem_map at VMEMMAP
    roots = t.alloc(8 * 2048)
    t.write_u64(roots, root)
    address = t.alloc(8)
    t.write_u64(address, roots)
    t.add_symbol("mem_section", address, 8)
    return Kernel(t), mapped


def test_pages_summary_counts_like_a_page_by_page_walk() -> None:
    kernel, mapped = world(7)
    slabs = shared = 0
    for page in mapped:
        flags = int.from_bytes(page[FLAGS : FLAGS + 8], "little")
        count = int.from_bytes(page[REFCOUNT : REFCOUNT + 4], "little", signed=True)
        slabs += bool(flags >> PG_SLAB & 1)
        shared += not flags >> PG_RESERVED & 1 and count > 1
    assert 0 < shared < len(mapped) and 0 < slabs < len(mapped)
    assert mm.pages_summary(kernel) == (slabs, shared)


def test_read_pages_skips_the_unreadable_chunk() -> None:
    kernel, mapped = world(8)
    pages = list(mm.read_pages(kernel, 0, SECTION_PAGES))
    assert len(pages) == len(mapped)
    assert pages[CHUNK].address == VMEMMAP + 2 * CHUNK * 64
    assert [p.count for p in pages] == [
        int.from_bytes(page[REFCOUNT : REFCOUNT + 4], "little", signed=True) for page in mapped
    ]


def test_page_struct_pieces_on_a_slow_link() -> None:
    """In pieces (a slow link), the page structs come in order with the index of each piece's first page,
    and an unreadable piece is left out."""
    t = SyntheticTarget()
    base = 0xFFFFEA0000000000
    t.map(base, bytes(range(256)) * 16)  # 64 page structs of 64 bytes
    t.map(base + 128 * 64, bytes(64 * 64))  # a hole of 64 pages before another 64
    kernel = Kernel(t)
    whole = list(mm._page_struct_blocks(kernel, base, 64, 64))
    pieces = list(mm._page_struct_blocks(kernel, base, 64, 64, piece=16))
    assert [start for start, _ in pieces] == [0, 16, 32, 48]
    assert b"".join(data for _, data in pieces) == whole[0][1]
    gapped = list(mm._page_struct_blocks(kernel, base, 192, 64, piece=64))
    assert [start for start, _ in gapped] == [0, 128]
