"""SLUB caches, slabs and objects, counted exactly as crash's memory.c counts them for ``kmem -s/-S``.

crash (``get_kmem_cache_slub_data()``) takes a cache's TOTAL from ``kmem_cache_node.total_objects`` and its
free objects from the per-cpu slabs (``slab->objects - slab->inuse`` plus the per-cpu freelist), the
per-cpu partial lists and the node partial lists; ALLOCATED is the difference.  It looks at CPUs
``0 .. kt->cpus-1`` (:func:`~crashcompat.core.kernel.tasks.cpu_count`), online or not.

Since 5.17 (commit d122019bf061 "mm: Split slab into its own type") slabs are ``struct slab``, overlaying
``struct page``; before, the same fields were in ``struct page``.  Every read here goes through
:func:`_layout`, which picks whichever type the kernel has.
"""

from __future__ import annotations

import contextlib
import struct as _struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from crashcompat.core.kernel import Kernel, Struct, mm, pagetable
from crashcompat.core.kernel.lists import list_for_each_entry
from crashcompat.core.kernel.tasks import cpu_count
from crashcompat.core.target import FaultError, TargetError, TypeNotFound

__all__ = [
    "Cache",
    "CacheStats",
    "CpuSlab",
    "Slab",
    "SlabObjects",
    "cache_at",
    "cache_by_name",
    "cache_stats",
    "caches",
    "cpu_partial_slabs",
    "cpu_slabs",
    "find_object",
    "freelist",
    "full_slabs",
    "node_partial_slabs",
    "read_slab",
    "sheaf_objects",
    "slab_inuse",
    "slab_objects",
    "slab_of_address",
    "slab_page_cache",
    "stores_user",
]

#: Longest freelist or slab list followed before giving up (corruption or a cycle).
_LIMIT = 1 << 16
_SLAB_RED_ZONE = 0x400
_SLAB_STORE_USER = 0x10000


@dataclass(frozen=True)
class _Layout:
    slab_type: str  # "struct slab" (5.17+) or "struct page"
    list_member: str  # the partial-list link
    cpu_slab_member: str  # kmem_cache_cpu.slab (5.17+) or .page
    inuse: int  # offset of the inuse/objects/frozen counters word
    freelist: int
    next: int  # per-cpu partial chain link
    slab_cache: int


def _layout(kernel: Kernel) -> _Layout:
    def compute() -> _Layout:
        slab = "struct slab" if kernel.has_member("struct slab", "slab_cache") else "struct page"
        lst = "slab_list" if kernel.has_member(slab, "slab_list") else "lru"
        cpu = "slab" if kernel.has_member("struct kmem_cache_cpu", "slab") else "page"
        # No per-cpu partial chain once per-cpu slabs gave way to sheaves (Linux 7.0): no slab->next.
        nxt = kernel.offsetof(slab, "next") if kernel.has_member(slab, "next") else -1
        return _Layout(
            slab,
            lst,
            cpu,
            kernel.offsetof(slab, "inuse"),
            kernel.offsetof(slab, "freelist"),
            nxt,
            kernel.offsetof(slab, "slab_cache"),
        )

    return kernel.memo("slub:layout", compute)


@dataclass(frozen=True)
class Cache:
    """A ``struct kmem_cache *`` and the fields crash uses.

    :param objsize: ``object_size`` (crash's OBJSIZE); :param size: the object stride (``size``).
    :param objects: objects per slab of the cache's order (``oo``); :param order: that page order.
    :param offset: the free pointer's offset in an object; :param random: ``s->random``
        (CONFIG_SLAB_FREELIST_HARDENED), else ``None``.
    :param cpu_slab: ``struct kmem_cache_cpu __percpu *``; :param nodes: ``node[]`` pointers by node id, up to
        the highest online node's.
    """

    address: int
    name: str
    objsize: int
    size: int
    objects: int
    order: int
    offset: int
    flags: int
    red_left_pad: int
    random: int | None
    cpu_slab: int
    nodes: tuple[int, ...]
    #: ``struct slub_percpu_sheaves __percpu *`` (Linux 6.18+), else 0.
    cpu_sheaves: int = 0
    #: ``per_node[].barn`` (Linux 7.1+) by node id, else empty.
    barns: tuple[int, ...] = ()

    @property
    def slab_size(self) -> int:
        return 4096 << self.order


#: The ``struct kmem_cache`` members :func:`_read_cache` uses (``oo.x`` before 6.1's plain ``oo``).
_CACHE_MEMBERS = (
    "cpu_slab",
    "cpu_sheaves",
    "flags",
    "size",
    "object_size",
    "offset",
    "red_left_pad",
    "name",
    "random",
)


@dataclass(frozen=True)
class _CacheLayout:
    oo: str  # the member path of the order/objects word
    node: int  # offset of node[] (of per_node[].node since Linux 7.1)
    stride: int  # bytes between two nodes' pointers
    barn: int  # offset of per_node[].barn (Linux 7.1+), else -1
    nodes: int  # node[] entries read: up to the highest online node id
    length: int  # bytes read per cache: through the last member used and those node[] entries


def _cache_layout(kernel: Kernel) -> _CacheLayout:
    def compute() -> _CacheLayout:
        oo = "oo.x" if kernel.has_member("struct kmem_cache", "oo.x") else "oo"
        used = [kernel.member("struct kmem_cache", m) for m in (*_CACHE_MEMBERS, oo)
                if kernel.has_member("struct kmem_cache", m)]  # fmt: skip
        if kernel.has_member("struct kmem_cache", "per_node"):
            # Linux 7.1: node[] became per_node[] of struct kmem_cache_per_node_ptrs {barn, node}
            # (crash commit bb9a3fa).
            node = kernel.offsetof("struct kmem_cache", "per_node") + kernel.offsetof(
                "struct kmem_cache_per_node_ptrs", "node"
            )
            stride = kernel.sizeof("struct kmem_cache_per_node_ptrs")
            barn = kernel.offsetof("struct kmem_cache", "per_node") + kernel.offsetof(
                "struct kmem_cache_per_node_ptrs", "barn"
            )
        else:
            node, stride, barn = kernel.offsetof("struct kmem_cache", "node"), 8, -1
        nodes = max((n.id for n in mm.nodes(kernel)), default=0) + 1
        length = max([node + stride * (nodes - 1) + 8] + [m.offset + m.size for m in used])
        length = max(length, barn + stride * (nodes - 1) + 8)
        return _CacheLayout(oo, node, stride, barn, nodes, length)

    return kernel.memo("slub:cache_layout", compute)


def _read_cache(kernel: Kernel, address: int) -> Cache:
    """The fields of the ``struct kmem_cache *`` at *address*, in one read of the part holding them
    (``node[MAX_NUMNODES]`` alone is 8 KiB with MAXSMP, of which only the online nodes' entries are read)."""
    lay = _cache_layout(kernel)
    s = Struct(kernel, "struct kmem_cache", address, kernel.read(address, lay.length))
    oo = s.uint(lay.oo)
    try:
        name = kernel.read_cstring(s.ptr("name"), 256)
    except FaultError:
        name = "(unknown)"
    return Cache(
        address=address,
        name=name,
        objsize=s.uint("object_size"),
        size=s.uint("size"),
        objects=oo & 0xFFFF,
        order=oo >> 16,
        offset=s.uint("offset"),
        flags=s.uint("flags"),
        red_left_pad=s.uint("red_left_pad") if s.has("red_left_pad") else 0,
        random=s.uint("random") if s.has("random") else None,
        cpu_slab=s.ptr("cpu_slab") if s.has("cpu_slab") else 0,
        nodes=tuple(int.from_bytes(s.raw(lay.node + lay.stride * i, 8), "little") for i in range(lay.nodes)),
        cpu_sheaves=s.ptr("cpu_sheaves") if s.has("cpu_sheaves") else 0,
        barns=tuple(int.from_bytes(s.raw(lay.barn + lay.stride * i, 8), "little") for i in range(lay.nodes))
        if lay.barn >= 0
        else (),
    )


def caches(kernel: Kernel) -> list[Cache]:
    """Every cache on ``slab_caches``, in list order (crash's ``get_kmem_cache_list()``).

    :raises TargetError: the kernel is not SLUB.
    """

    def compute() -> list[Cache]:
        # Linux 7.0 replaced the per-cpu slabs by per-cpu sheaves (cpu_sheaves): still SLUB.
        if not (
            kernel.has_member("struct kmem_cache", "cpu_slab")
            or kernel.has_member("struct kmem_cache", "cpu_sheaves")
        ):
            raise TargetError("kmem cache slab subsystem not available")
        head = kernel.symbol("slab_caches")
        return [
            _read_cache(kernel, a) for a in list_for_each_entry(kernel, head, "struct kmem_cache", "list")
        ]

    return kernel.memo("slub:caches", compute)


def cache_by_name(kernel: Kernel, name: str) -> Cache | None:
    """The first cache named *name* on ``slab_caches``."""
    return next((c for c in caches(kernel) if c.name == name), None)


def cache_at(kernel: Kernel, address: int) -> Cache | None:
    """The cache whose ``struct kmem_cache *`` is *address* (crash's ``is_kmem_cache_addr()``)."""
    return next((c for c in caches(kernel) if c.address == address), None)


# ---- slabs and freelists -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slab:
    """A slab (``struct slab *``, the head ``struct page *``).

    :param memory: the first object's address (the page's direct-map address).
    :param node: its memory node's index (crash's ``page_to_nid()``).
    """

    address: int
    memory: int
    node: int
    inuse: int
    objects: int
    freelist: int
    cache: int


def read_slab(kernel: Kernel, address: int) -> Slab:
    """Read the slab at *address* (``struct slab *``).  Raises TargetError if it is not a page struct."""
    lay = _layout(kernel)
    pfn = mm.page_to_pfn(kernel, address)
    if pfn is None:
        raise TargetError(f"invalid slab address: {address:x}")
    data = kernel.read(address, kernel.sizeof(lay.slab_type))
    counters = int.from_bytes(data[lay.inuse : lay.inuse + 4], "little")
    return Slab(
        address=address,
        memory=kernel.phys_to_virt(pfn << 12),
        node=mm.node_of_pfn(kernel, pfn),
        inuse=counters & 0xFFFF,
        objects=(counters >> 16) & 0x7FFF,
        freelist=int.from_bytes(data[lay.freelist : lay.freelist + 8], "little"),
        cache=int.from_bytes(data[lay.slab_cache : lay.slab_cache + 8], "little"),
    )


def _swab64(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "little"), "big")


def _next_free(kernel: Kernel, cache: Cache, obj: int) -> int:
    """``get_freepointer()``: the next free object after *obj*, de-obfuscated under
    CONFIG_SLAB_FREELIST_HARDENED (``ptr ^ s->random ^ swab(ptr_addr)`` since 5.7, commit 1ad53d9fa3f6
    "slub: improve bit diffusion for freelist ptr obfuscation"; ``ptr ^ s->random ^ ptr_addr`` before)
    — tried in that order, as crash 8.0.6 does: the first when it points at readable memory.  Raises
    FaultError."""
    where = obj + cache.offset
    raw = kernel.read_pointer(where)
    if cache.random is None:
        return raw
    swabbed = raw ^ cache.random ^ _swab64(where)
    if swabbed == 0:
        return 0
    try:
        kernel.read(swabbed, 1)
        return swabbed
    except FaultError:
        return raw ^ cache.random ^ where


def _slab_next_free(kernel: Kernel, cache: Cache, slab: Slab) -> dict[int, int]:
    """Object → the de-obfuscated free pointer in it, for every object of *slab*, from one read of the
    objects and decoded a slab at a time (a big-integer XOR of the free-pointer column).  Empty when this
    cannot be done: the objects cannot be read or do not fit the slab, the free pointers are unaligned,
    or on a :attr:`~crashcompat.core.target.Target.sparse_reads` target (a slow live link, where the walk
    reads only the pointers it follows)."""
    n, size, offset = slab.objects, cache.size, cache.offset
    if (
        kernel.target.sparse_reads
        or not 0 < n * size <= cache.slab_size
        or size % 8
        or offset % 8
        or offset + 8 > size
    ):
        return {}
    first = slab.memory + (cache.red_left_pad if cache.flags & _SLAB_RED_ZONE else 0)
    try:
        data = kernel.read(first, n * size)
    except FaultError:
        return {}
    column = memoryview(data).cast("Q")[offset // 8 :: size // 8].tobytes()
    objects = range(first, first + n * size, size)
    if cache.random is not None:
        swabbed = _struct.pack(f">{n}Q", *range(first + offset, first + offset + n * size, size))
        mixed = (
            int.from_bytes(column, "little")
            ^ int.from_bytes(swabbed, "little")
            ^ int.from_bytes(cache.random.to_bytes(8, "little") * n, "little")
        )
        column = mixed.to_bytes(8 * n, "little")
    return dict(zip(objects, _struct.unpack(f"<{n}Q", column), strict=True))


def freelist(kernel: Kernel, cache: Cache, slab: Slab, head: int) -> list[int]:
    """The objects on a freelist of *slab* starting at *head*, as crash's ``count_free_objects()`` walks it:
    it stops at NULL, at a pointer with bit 0 set, at an unreadable object or at a repeat.  A step from an
    object of *slab* to NULL or to another of its objects is decoded a slab at a time
    (:func:`_slab_next_free`: readable, so the first decoding holds); any other step is read as
    :func:`_next_free`."""
    nexts = _slab_next_free(kernel, cache, slab)
    seen: dict[int, None] = {}  # the objects in walk order
    obj = head
    while obj and not obj & 1 and obj not in seen and len(seen) < _LIMIT:
        seen[obj] = None
        known = nexts.get(obj)
        if known is not None and (not known or known in nexts):
            obj = known
            continue
        try:
            obj = _next_free(kernel, cache, obj)
        except FaultError:
            break
    return list(seen)


@dataclass(frozen=True)
class CpuSlab:
    """What ``per_cpu_ptr(cache->cpu_slab, cpu)`` holds: :param kmem_cache_cpu: its address."""

    cpu: int
    kmem_cache_cpu: int
    slab: int
    freelist: int
    partial: int


def cpu_slabs(kernel: Kernel, cache: Cache) -> list[CpuSlab]:
    """The ``kmem_cache_cpu`` of every CPU crash looks at (``0 .. kt->cpus-1``)."""
    if not cache.cpu_slab:
        return []  # per-cpu sheaves (Linux 7.0+): objects held there count as allocated, as in crash
    lay = _layout(kernel)
    out = []
    has_partial = kernel.has_member("struct kmem_cache_cpu", "partial")
    for cpu in range(cpu_count(kernel)):
        kcc = cache.cpu_slab + kernel.per_cpu_offset(cpu)
        s = kernel.struct("struct kmem_cache_cpu", kcc)
        out.append(CpuSlab(cpu, kcc, s.ptr(lay.cpu_slab_member), s.ptr("freelist"),
                           s.ptr("partial") if has_partial else 0))  # fmt: skip
    return out


def cpu_partial_slabs(kernel: Kernel, first: int) -> Iterator[int]:
    """A per-cpu partial list: ``slab->next`` from *first* (``struct slab *``), bounded."""
    nxt = _layout(kernel).next
    seen: set[int] = set()
    slab = first
    while slab and slab not in seen and len(seen) < _LIMIT:
        seen.add(slab)
        yield slab
        slab = kernel.read_pointer(slab + nxt)


def node_partial_slabs(kernel: Kernel, node: int) -> Iterator[int]:
    """``struct slab *`` on ``kmem_cache_node.partial`` of ``struct kmem_cache_node *`` *node*."""
    lay = _layout(kernel)
    head = node + kernel.offsetof("struct kmem_cache_node", "partial")
    yield from list_for_each_entry(kernel, head, lay.slab_type, lay.list_member, _LIMIT)


def _online_nodes(kernel: Kernel, cache: Cache) -> list[tuple[int, int]]:
    """(node index, ``struct kmem_cache_node *``) for crash's node table."""
    return [(i, cache.nodes[n.id] if n.id < len(cache.nodes) else 0) for i, n in enumerate(mm.nodes(kernel))]


# ---- per-cache figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheStats:
    """One ``kmem -s`` row: ALLOCATED, TOTAL, SLABS (``None`` each when crash cannot gather them)."""

    cache: Cache
    allocated: int | None
    total: int | None
    slabs: int | None


def cache_stats(kernel: Kernel, cache: Cache) -> CacheStats:
    """crash's ``get_kmem_cache_slub_data(GET_SLUB_SLABS)`` and ``(GET_SLUB_OBJECTS)`` for *cache*."""
    try:
        return _cache_stats(kernel, cache)
    except (TargetError, ValueError):
        return CacheStats(cache, None, None, None)


def _cache_stats(kernel: Kernel, cache: Cache) -> CacheStats:
    node_count = len(mm.nodes(kernel))
    per_cpu = [0] * max(node_count, 1)
    free = total_objects = cpu_slab_count = 0
    for c in cpu_slabs(kernel, cache):
        if not c.slab:
            continue
        slab = read_slab(kernel, c.slab)
        if slab.node < 0 or not slab.objects:
            raise TargetError("cannot gather relevant slab data")
        free += slab.objects - slab.inuse
        free += len(freelist(kernel, cache, slab, c.freelist))
        free += _cpu_partial_free(kernel, c.partial)
        cpu_slab_count += 1
        per_cpu[slab.node] += 1
    slabs = cpu_slab_count
    for n, node in _online_nodes(kernel, cache):
        if not node:
            continue
        s = kernel.struct("struct kmem_cache_node", node)
        nr_partial = s.uint("nr_partial")
        nr_slabs = s.sint("nr_slabs")
        for address in node_partial_slabs(kernel, node):
            slab = read_slab(kernel, address)
            if not slab.objects:
                raise TargetError("cannot gather relevant slab data")
            free += slab.objects - slab.inuse
        total_objects += s.sint("total_objects")
        slabs += nr_partial + (nr_slabs - per_cpu[n] - nr_partial)
    free += len(sheaf_objects(kernel, cache))
    return CacheStats(cache, total_objects - free, total_objects, slabs)


def slab_inuse(kernel: Kernel, cache: Cache, slab: Slab) -> int:
    """*slab*'s ``inuse`` less its objects parked in sheaves (:func:`sheaf_objects`)."""
    parked = sheaf_objects(kernel, cache)
    if not parked:
        return slab.inuse
    end = slab.memory + slab.objects * cache.size
    return slab.inuse - sum(1 for obj in parked if slab.memory <= obj < end)


def sheaf_objects(kernel: Kernel, cache: Cache) -> frozenset[int]:
    """Objects parked in sheaves: each CPU's ``main`` and ``spare`` sheaf and every node barn's full
    sheaves (``slab_sheaf.objects[size]``).  Free for the allocator, yet counted in their slab's ``inuse``
    — Linux 6.18 (commit 2d517aa09bbc "slab: add opt-in caching layer of percpu sheaves"; the only per-cpu
    cache since 7.0).  crash 9.0.2 predates sheaves and counts them allocated; the guest and drgn do not,
    and neither do we."""
    if not cache.cpu_sheaves:
        return frozenset()

    def compute() -> frozenset[int]:
        found: set[int] = set()
        size_off = kernel.offsetof("struct slab_sheaf", "size")
        objects_off = kernel.offsetof("struct slab_sheaf", "objects")

        def add(sheaf: int) -> None:
            count = kernel.target.read_u32(sheaf + size_off)
            if 0 < count <= 1 << 12:
                raw = kernel.read(sheaf + objects_off, 8 * count)
                found.update(_struct.unpack(f"<{count}Q", raw))

        with contextlib.suppress(FaultError, TargetError):
            for cpu in range(cpu_count(kernel)):
                pcs = cache.cpu_sheaves + kernel.per_cpu_offset(cpu)
                for member in ("main", "spare"):
                    sheaf = kernel.read_pointer(pcs + kernel.offsetof("struct slub_percpu_sheaves", member))
                    if sheaf:
                        add(sheaf)
            for barn in cache.barns:
                if barn:
                    head = barn + kernel.offsetof("struct node_barn", "sheaves_full")
                    for sheaf in list_for_each_entry(kernel, head, "struct slab_sheaf", "barn_list", _LIMIT):
                        add(sheaf)
        found.discard(0)
        return frozenset(found)

    return kernel.memo(f"slub:sheaves:{cache.address:x}", compute)


def _cpu_partial_free(kernel: Kernel, first: int) -> int:
    """crash's ``count_cpu_partial()``: free objects on a per-cpu partial list (0 if it looks invalid)."""
    free = 0
    for address in cpu_partial_slabs(kernel, first):
        try:
            slab = read_slab(kernel, address)
        except TargetError:
            return 0
        if not slab.objects:
            return 0
        free += slab.objects - slab.inuse
    return free


# ---- objects -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlabObjects:
    """A slab's objects as crash's ``do_slab_slub()`` shows them.

    :param inuse: ALLOCATED (for a CPU's slab: objects minus its free objects).
    :param cpu: the CPU whose active slab this is, or ``None``.
    :param objects: (address, free) of each object; addresses already include ``red_left_pad``
        the way crash prints them.
    """

    slab: Slab
    inuse: int
    cpu: int | None
    objects: list[tuple[int, bool]] = field(default_factory=list)


def slab_objects(kernel: Kernel, cache: Cache, address: int) -> SlabObjects:
    """The objects of the slab at *address* (``struct slab *``) of *cache*."""
    slab = read_slab(kernel, address)
    inuse = slab.inuse
    cpu = None
    cpu_free: list[int] = []
    for c in cpu_slabs(kernel, cache):
        if c.slab and c.slab == address:
            cpu = c.cpu
            cpu_free = freelist(kernel, cache, slab, c.freelist)
            free = len(cpu_free) + (slab.objects - slab.inuse if slab.freelist else 0)
            inuse = slab.objects - free
            break
    free_set = set(freelist(kernel, cache, slab, slab.freelist)) | set(cpu_free)
    pad = cache.red_left_pad if cache.flags & _SLAB_RED_ZONE else 0
    parked = sheaf_objects(kernel, cache)
    objects = []
    for i in range(slab.objects):
        obj = slab.memory + i * cache.size
        in_sheaf = obj + pad in parked
        inuse -= in_sheaf
        objects.append((obj + pad, obj + pad in free_set or in_sheaf))
    return SlabObjects(slab, inuse, cpu, objects)


def slab_of_address(kernel: Kernel, address: int) -> tuple[Cache, int] | None:
    """(cache, ``struct slab *``) of the slab holding kernel virtual *address* (crash's
    ``vaddr_to_kmem_cache()`` + ``vaddr_to_slab()``): the compound head of its page must have PG_slab set
    and point at a known cache."""
    physical = pagetable.kvtop(kernel, address)
    if physical is None:
        return None
    page = mm.phys_to_page(kernel, physical)
    if page is None:
        return None
    head = _compound_head(kernel, page)
    return _slab_page_cache(kernel, head)


def _compound_head(kernel: Kernel, page: int) -> int:
    return mm.compound_head(kernel, page)


def _slab_page_cache(kernel: Kernel, page: int) -> tuple[Cache, int] | None:
    try:
        if not mm.page_is_slab(kernel, page):
            return None
    except (FaultError, TypeNotFound):
        return None
    cache = cache_at(kernel, kernel.read_pointer(page + _layout(kernel).slab_cache))
    return (cache, page) if cache is not None else None


def slab_page_cache(kernel: Kernel, page: int) -> tuple[Cache, int] | None:
    """(cache, slab) when *page* is itself the ``struct page *`` of a slab (crash's ``is_slab_page()``)."""
    if mm.page_to_pfn(kernel, page) is None:
        return None
    return _slab_page_cache(kernel, page)


def find_object(objects: SlabObjects, cache: Cache, address: int) -> tuple[int, bool] | None:
    """The (object, free) of *objects* whose ``[start, start + size)`` holds *address*."""
    for obj, free in objects.objects:
        start = obj - (cache.red_left_pad if cache.flags & _SLAB_RED_ZONE else 0)
        if start <= address < start + cache.size:
            return obj, free
    return None


def stores_user(cache: Cache) -> bool:
    """SLAB_STORE_USER: the kernel tracks full slabs on ``kmem_cache_node.full``."""
    return bool(cache.flags & _SLAB_STORE_USER)


def full_slabs(kernel: Kernel, node: int) -> Iterator[int]:
    """``struct slab *`` on ``kmem_cache_node.full`` (kept only with SLAB_STORE_USER debugging)."""
    lay = _layout(kernel)
    head = node + kernel.offsetof("struct kmem_cache_node", "full")
    yield from list_for_each_entry(kernel, head, lay.slab_type, lay.list_member, _LIMIT)
