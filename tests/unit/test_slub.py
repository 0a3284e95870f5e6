"""SLUB counting on a synthetic kernel: crash's ALLOCATED/TOTAL/SLABS arithmetic, freelists (plain,
hardened, cyclic) and per-slab object states."""

from __future__ import annotations

import itertools

import pytest

from crashcompat.core.kernel import Kernel, slub
from crashcompat.testing.synthetic import SyntheticTarget

PAGE_OFFSET = 0xFFFF888000000000
VMEMMAP = 0xFFFFEA0000000000
PERCPU = 0xFFFF888100000000
OBJ_SIZE, STRIDE, PER_SLAB, FREEPTR = 48, 64, 64, 32


def swab(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "little"), "big")


class World:
    """A kernel with one SLUB cache: CPU 0 has an active slab, CPU 1 none, node 0 one partial slab and
    one full slab."""

    def __init__(self, random: int | None = None) -> None:
        self.random = random
        t = self.t = SyntheticTarget()
        t.set_vmcoreinfo({"NUMBER(phys_base)": "0", "NUMBER(pgtable_l5_enabled)": "0"})
        t.add_symbol("init_top_pgt", 0xFFFFFFFF82E10000, 4096)
        self.global_u64("page_offset_base", PAGE_OFFSET)
        t.add_struct(
            "struct list_head",
            16,
            {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "struct list_head *")},
        )
        t.add_struct("struct mem_section", 16, {"section_mem_map": (0, 8, "unsigned long")})
        t.add_struct("struct page", 64, {"flags": (0, 8, "unsigned long"), "compound_head": (8, 8, "unsigned long"),
                                         "mapping": (24, 8, "void *"), "index": (32, 8, "unsigned long"),
                                         "private": (40, 8, "unsigned long"), "_mapcount": (48, 4, "int"),
                                         "_refcount": (52, 4, "int")})  # fmt: skip
        t.add_struct("struct slab", 64, {"__page_flags": (0, 8, "unsigned long"),
                                         "slab_list": (8, 16, "struct list_head"), "next": (8, 8, "struct slab *"),
                                         "slab_cache": (24, 8, "struct kmem_cache *"), "freelist": (32, 8, "void *"),
                                         "inuse": (40, 4, "unsigned int", 0, 16),
                                         "objects": (40, 4, "unsigned int", 16, 15)})  # fmt: skip
        t.add_struct("struct kmem_cache_cpu", 32, {"freelist": (0, 8, "void **"), "tid": (8, 8, "unsigned long"),
                                                   "slab": (16, 8, "struct slab *"),
                                                   "partial": (24, 8, "struct slab *")})  # fmt: skip
        t.add_struct("struct kmem_cache_node", 64, {"nr_partial": (8, 8, "unsigned long"),
                                                    "partial": (16, 16, "struct list_head"),
                                                    "nr_slabs": (32, 8, "atomic_long_t"),
                                                    "total_objects": (40, 8, "atomic_long_t"),
                                                    "full": (48, 16, "struct list_head")})  # fmt: skip
        cache_members = {"cpu_slab": (0, 8, "struct kmem_cache_cpu *"), "flags": (8, 4, "unsigned int"),
                         "size": (16, 4, "unsigned int"), "object_size": (20, 4, "unsigned int"),
                         "offset": (24, 4, "unsigned int"), "oo": (28, 4, "unsigned int"),
                         "red_left_pad": (32, 4, "unsigned int"), "name": (40, 8, "const char *"),
                         "list": (48, 16, "struct list_head"), "node": (72, 8 * 64, "struct kmem_cache_node *[64]")}  # fmt: skip
        if random is not None:
            cache_members["random"] = (64, 8, "unsigned long")
        t.add_struct("struct kmem_cache", 1024, cache_members)
        t.add_struct("struct pglist_data", 64, {"node_start_pfn": (0, 8, "unsigned long"),
                                                "node_spanned_pages": (8, 8, "unsigned long"),
                                                "node_present_pages": (16, 8, "unsigned long")})  # fmt: skip
        # one memory node of 256 pages, one SPARSEMEM section whose page structs start at VMEMMAP
        pgdat = t.alloc(64)
        t.write_u64(pgdat + 8, 256)
        t.write_u64(pgdat + 16, 256)
        t.add_symbol("contig_page_data", pgdat, 64)
        t.map(VMEMMAP, bytes(64 * 256))
        root = t.alloc(4096)
        t.write_u64(root, VMEMMAP | 1)
        roots = t.alloc(8 * 2048)
        t.write_u64(roots, root)
        self.global_u64("mem_section", roots)
        # two CPUs, both present, with per-cpu areas at PERCPU + 0x10000 * cpu
        t.map(PERCPU, bytes(0x20000))
        t.add_symbol("cpu_number", PERCPU - 0x10000 + 0x100, 4)
        t.add_symbol("__per_cpu_offset", t.alloc(16), 16)
        for cpu in (0, 1):
            t.write_u64(t.symbol_address("__per_cpu_offset") + 8 * cpu, 0x10000 * (cpu + 1))
            t.write_u32(PERCPU + 0x10000 * cpu + 0x100, cpu)
        self.global_u64("nr_cpu_ids", 2, size=4)
        self.global_u64("__cpu_present_mask", 3)
        # the cache
        self.cache = cache = t.alloc(1024)
        head = t.alloc(16)
        t.add_symbol("slab_caches", head, 16)
        for link, value in (
            (head, cache + 48),
            (head + 8, cache + 48),
            (cache + 48, head),
            (cache + 56, head),
        ):
            t.write_u64(link, value)
        name = t.alloc(256)
        t.write(name, b"test\0")
        t.write_u64(cache + 40, name)
        t.write_u32(cache + 16, STRIDE)
        t.write_u32(cache + 20, OBJ_SIZE)
        t.write_u32(cache + 24, FREEPTR)
        t.write_u32(cache + 28, PER_SLAB)  # order 0
        if random is not None:
            t.write_u64(cache + 64, random)
        t.write_u64(cache, PERCPU - 0x10000 + 0x200)  # cpu_slab: per-cpu offset of kmem_cache_cpu
        self.node = t.alloc(64)
        t.write_u64(cache + 72, self.node)

    def global_u64(self, name: str, value: int, size: int = 8) -> None:
        address = self.t.alloc(8)
        self.t.write_u64(address, value)
        self.t.add_symbol(name, address, size)

    def slab(self, pfn: int, inuse: int, free: list[int] | None = None) -> tuple[int, int]:
        """A slab at *pfn* with *inuse* objects counted and the objects at indexes *free* chained on its
        freelist; returns (struct slab *, first object address)."""
        page = VMEMMAP + 64 * pfn
        memory = PAGE_OFFSET + (pfn << 12)
        self.t.map(memory, bytes(4096))
        self.t.write_u64(page + 24, self.cache)
        self.t.write_u32(page + 40, inuse | PER_SLAB << 16)
        self.t.write_u64(page + 32, self.chain(memory, free or []))
        return page, memory

    def chain(self, memory: int, indexes: list[int]) -> int:
        """Link objects *indexes* of the slab at *memory* into a freelist; return its head."""
        objects = [memory + STRIDE * i for i in indexes]
        for obj, nxt in zip(objects, [*objects[1:], 0], strict=False):
            where = obj + FREEPTR
            stored = nxt if self.random is None else nxt ^ self.random ^ swab(where)
            self.t.write_u64(where, stored)
        return objects[0] if objects else 0

    def cpu(self, cpu: int, slab: int = 0, freelist: int = 0) -> None:
        kcc = PERCPU + 0x10000 * cpu + 0x200
        self.t.write_u64(kcc + 16, slab)
        self.t.write_u64(kcc, freelist)

    def node_lists(self, partial: list[int], nr_slabs: int, total: int) -> None:
        head = self.node + 16
        links = [head, *(p + 8 for p in partial)]
        for here, nxt in zip(links, links[1:] + links[:1], strict=True):
            self.t.write_u64(here, nxt)
            self.t.write_u64(nxt + 8, here)
        self.t.write_u64(self.node + 8, len(partial))
        self.t.write_u64(self.node + 32, nr_slabs)
        self.t.write_u64(self.node + 40, total)


def build(random: int | None = None) -> tuple[World, Kernel, int, int]:
    w = World(random)
    active, memory = w.slab(16, inuse=PER_SLAB)  # frozen on CPU 0: all objects counted in use ...
    w.cpu(0, active, w.chain(memory, [0, 3, 5, 7, 9, 11, 13, 15, 17, 19]))  # ... ten free on the CPU freelist
    partial, _ = w.slab(17, inuse=20, free=list(range(20, 64)))
    w.slab(18, inuse=PER_SLAB)
    w.node_lists([partial], nr_slabs=3, total=3 * PER_SLAB)
    return w, Kernel(w.t), active, partial


@pytest.mark.parametrize("random", [None, 0x5A5A5A5A12345678])
def test_cache_stats_follow_crash(random: int | None) -> None:
    """crash: free = per-cpu slab (objects - inuse) + its cpu freelist + node partial slabs' free objects;
    TOTAL = kmem_cache_node.total_objects; ALLOCATED = TOTAL - free; SLABS = cpu slabs + nr_partial +
    (nr_slabs - cpu slabs - nr_partial)."""
    _, kernel, _, _ = build(random)
    (cache,) = slub.caches(kernel)
    assert (cache.name, cache.objsize, cache.size, cache.objects, cache.slab_size) == (
        "test",
        48,
        64,
        64,
        4096,
    )
    stats = slub.cache_stats(kernel, cache)
    free = (PER_SLAB - PER_SLAB) + 10 + (PER_SLAB - 20)
    assert (stats.total, stats.allocated, stats.slabs) == (3 * PER_SLAB, 3 * PER_SLAB - free, 3)


@pytest.mark.parametrize("random", [None, 0x5A5A5A5A12345678])
def test_slab_objects(random: int | None) -> None:
    _, kernel, active, partial = build(random)
    (cache,) = slub.caches(kernel)
    cpu_slab = slub.slab_objects(kernel, cache, active)
    assert cpu_slab.cpu == 0 and cpu_slab.inuse == PER_SLAB - 10
    memory = cpu_slab.slab.memory
    assert [i for i, (obj, free) in enumerate(cpu_slab.objects) if free] == [
        0,
        3,
        5,
        7,
        9,
        11,
        13,
        15,
        17,
        19,
    ]
    assert cpu_slab.objects[1] == (memory + STRIDE, False)
    node_slab = slub.slab_objects(kernel, cache, partial)
    assert node_slab.cpu is None and node_slab.inuse == 20
    assert sum(free for _, free in node_slab.objects) == 44
    assert slub.find_object(node_slab, cache, node_slab.slab.memory + 21 * STRIDE + 5) == (
        node_slab.slab.memory + 21 * STRIDE,
        True,
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_cyclic_freelist_is_bounded(sparse: bool) -> None:
    w, kernel, _, partial = build()
    w.t.sparse_reads = sparse
    (cache,) = slub.caches(kernel)
    memory = PAGE_OFFSET + (17 << 12)
    w.t.write_u64(memory + 20 * STRIDE + FREEPTR, memory + 21 * STRIDE)
    w.t.write_u64(memory + 21 * STRIDE + FREEPTR, memory + 20 * STRIDE)  # 20 -> 21 -> 20 ...
    slab = slub.read_slab(kernel, partial)
    assert slub.freelist(kernel, cache, slab, memory + 20 * STRIDE) == [
        memory + 20 * STRIDE,
        memory + 21 * STRIDE,
    ]


@pytest.mark.parametrize("random", [None, 0x5A5A5A5A12345678])
@pytest.mark.parametrize("sparse", [False, True])
def test_freelist_leaving_the_slab(random: int | None, sparse: bool) -> None:
    """A freelist that runs from the partial slab into the full slab's objects, then back, then ends in
    an object whose pointer decodes to unmapped memory under the 5.7+ scheme: crash 8.0.6 then takes the
    pre-5.7 decoding.  The same objects whether the slab's pointers are decoded in bulk or read one by one
    (``sparse_reads``)."""
    w, kernel, _, partial = build(random)
    w.t.sparse_reads = sparse
    (cache,) = slub.caches(kernel)
    memory, other = PAGE_OFFSET + (17 << 12), PAGE_OFFSET + (18 << 12)
    objects = [memory + 20 * STRIDE, other + 5 * STRIDE, memory + 22 * STRIDE, memory + 23 * STRIDE]
    for obj, nxt in itertools.pairwise(objects):
        where = obj + FREEPTR
        w.t.write_u64(where, nxt if random is None else nxt ^ random ^ swab(where))
    last = objects[-1] + FREEPTR
    beyond = memory + 30 * STRIDE  # what the pre-5.7 decoding gives; the 5.7+ one points at no memory
    w.t.write_u64(last, beyond if random is None else beyond ^ random ^ last)
    slab = slub.read_slab(kernel, partial)
    walk = slub.freelist(kernel, cache, slab, objects[0])
    assert walk[: len(objects) + 1] == [*objects, beyond]


def test_unreadable_slab_gives_unknown_counts() -> None:
    w, kernel, _, _ = build()
    w.cpu(1, VMEMMAP + 64 * 4096)  # a slab pointer past the mem map
    (cache,) = slub.caches(kernel)
    assert slub.cache_stats(kernel, cache).allocated is None
