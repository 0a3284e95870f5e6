"""Memory as crash's ``kmem`` sees it: page structs, zones, vm_stat, ``kmem -i``, vmalloc areas and VMAs.

Each function computes what crash's memory.c computes (named in its docstring), so the numbers match.
Page structs are found through SPARSEMEM sections (``mem_section``), like crash, which on x86_64 with
SPARSEMEM_VMEMMAP gives the ``vmemmap`` address.  A task's VMAs come from the 6.1 maple tree
(``mm->mm_mt``) or, on older kernels, the ``mm->mmap`` list.
"""

from __future__ import annotations

import contextlib
import struct as _struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from crashcompat.core.kernel import Kernel, layout
from crashcompat.core.kernel import fs as _fs
from crashcompat.core.kernel.lists import list_for_each_entry
from crashcompat.core.kernel.tasks import cpu_count
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "MemInfo",
    "MemoryBlock",
    "Node",
    "Page",
    "Section",
    "SlabTest",
    "SwapDevice",
    "VmStat",
    "Vma",
    "VmapArea",
    "Zone",
    "compound_head",
    "decode_page_flags",
    "file_path",
    "find_vma",
    "for_each_vma",
    "hugetlb_pages",
    "maple_tree_entries",
    "meminfo",
    "memory_blocks",
    "node_of_pfn",
    "nodes",
    "nr_blockdev_pages",
    "page_flag_bits",
    "page_flag_names",
    "page_is_slab",
    "page_struct_size",
    "page_to_pfn",
    "pages_summary",
    "pfn_to_page",
    "phys_to_page",
    "read_page",
    "read_pages",
    "slab_test",
    "swap_devices",
    "swap_totals",
    "valid_sections",
    "vm_events",
    "vm_stat",
    "vm_stat_names",
    "vmap_areas",
    "zones",
]

PAGE_SHIFT = 12
_SECTION_MARKED_PRESENT = 1 << 0
_SECTION_MAP_MASK = ~((1 << 5) - 1) & (1 << 64) - 1  # crash's SECTION_MAP_LAST_BIT (1UL<<5)


def _array(kernel: Kernel, symbol: str, element_size: int) -> tuple[int, int]:
    """(address, number of elements) of a global array, its length from the ELF symbol size, in one symbol
    lookup.  Raises SymbolNotFound."""
    found = kernel.target.lookup_symbol(symbol)
    return found.address, int(found.size) // element_size


def _u64s(data: bytes) -> tuple[int, ...]:
    return _struct.unpack(f"<{len(data) // 8}Q", data[: len(data) // 8 * 8])


# ---- SPARSEMEM sections and struct page ------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A present SPARSEMEM section (``struct mem_section``).

    :param address: ``struct mem_section *``; :param raw: its ``section_mem_map`` (coded map and state
        bits); :param mem_map: ``struct page *`` of its first pfn.
    """

    nr: int
    address: int
    raw: int
    mem_map: int
    first_pfn: int
    pages: int

    @property
    def coded_mem_map(self) -> int:
        return self.raw & _SECTION_MAP_MASK


@dataclass(frozen=True)
class _Sparse:
    section_shift: int  # SECTION_SIZE_BITS - PAGE_SHIFT
    page_size: int  # sizeof(struct page)
    sections: dict[int, Section]  # by section number, present sections only


def _sparse(kernel: Kernel) -> _Sparse:
    """crash's ``sparse_mem_init()`` + ``valid_section_nr()`` for every section, computed once."""

    def compute() -> _Sparse:
        target = kernel.target
        info = target.vmcoreinfo
        section_bits = int(info.get("NUMBER(SECTION_SIZE_BITS)", "27"))
        five = layout.layout(target).five_level
        physmem_bits = int(info.get("NUMBER(MAX_PHYSMEM_BITS)", "52" if five else "46"))
        nr_sections = 1 << (physmem_bits - section_bits)
        ms_size = kernel.sizeof("struct mem_section")
        map_off = kernel.offsetof("struct mem_section", "section_mem_map")
        page_size = kernel.sizeof("struct page")
        shift = section_bits - PAGE_SHIFT
        symbol = target.lookup_symbol("mem_section")
        address = symbol.address
        # CONFIG_SPARSEMEM_EXTREME made mem_section a pointer to root arrays in 4.15 (commit 83e3c48729d9
        # "mm/sparsemem: Allocate mem_section at runtime for CONFIG_SPARSEMEM_EXTREME=y").
        per_root = 4096 // ms_size
        extreme = symbol.size in (0, 8)
        sections: dict[int, Section] = {}
        if extreme:
            roots = _u64s(kernel.read(kernel.read_pointer(address), 8 * (nr_sections // per_root)))
        else:
            roots = tuple(address + i * per_root * ms_size for i in range(nr_sections // per_root))
        for r, root in enumerate(roots):
            if not root:
                continue
            try:
                data = kernel.read(root, per_root * ms_size)
            except FaultError:
                continue
            for i in range(per_root):
                value = int.from_bytes(data[i * ms_size + map_off : i * ms_size + map_off + 8], "little")
                if value & _SECTION_MARKED_PRESENT:
                    nr = r * per_root + i
                    first = nr << shift
                    mem_map = ((value & _SECTION_MAP_MASK) + first * page_size) & ((1 << 64) - 1)
                    sections[nr] = Section(nr, root + i * ms_size, value, mem_map, first, 1 << shift)
        return _Sparse(shift, page_size, sections)

    return kernel.memo("mm:sparse", compute)


def page_struct_size(kernel: Kernel) -> int:
    """``sizeof(struct page)``."""
    return kernel.sizeof("struct page")


def valid_sections(kernel: Kernel) -> list[Section]:
    """The present memory sections in section-number order."""
    return [section for _, section in sorted(_sparse(kernel).sections.items())]


def pfn_to_page(kernel: Kernel, pfn: int) -> int | None:
    """``pfn_to_page()`` through the section table (crash's ``pfn_to_map()``); ``None`` outside memory."""
    s = _sparse(kernel)
    section = s.sections.get(pfn >> s.section_shift)
    if section is None:
        return None
    return section.mem_map + (pfn - section.first_pfn) * s.page_size


def phys_to_page(kernel: Kernel, physical: int) -> int | None:
    """The ``struct page *`` of a physical address (crash's ``phys_to_page()``)."""
    return pfn_to_page(kernel, physical >> PAGE_SHIFT)


def page_to_pfn(kernel: Kernel, page: int) -> int | None:
    """The pfn of a ``struct page *``; ``None`` when *page* is not a page struct (crash's ``is_page_ptr()``)."""
    s = _sparse(kernel)
    span = (1 << s.section_shift) * s.page_size
    if s.sections:  # SPARSEMEM_VMEMMAP: one virtually contiguous array, so try the arithmetic first
        first = next(iter(s.sections.values()))
        pfn = (page - (first.mem_map - first.first_pfn * s.page_size)) // s.page_size
        if pfn >= 0 and pfn_to_page(kernel, pfn) == page:
            return pfn
    for section in s.sections.values():
        if section.mem_map <= page < section.mem_map + span:
            if (page - section.mem_map) % s.page_size:
                return None
            return section.first_pfn + (page - section.mem_map) // s.page_size
    return None


@dataclass(frozen=True)
class Page:
    """The fields of a ``struct page`` crash's ``kmem -p`` shows.

    :param address: ``struct page *``; :param physical: the page frame's physical address.
    :param count: ``page->_refcount``; :param mapcount: ``page->_mapcount`` (``page_type`` for typed pages).
    """

    address: int
    physical: int
    flags: int
    mapping: int
    index: int
    private: int
    count: int
    mapcount: int
    compound_head: int


class _PageLayout:
    def __init__(self, kernel: Kernel) -> None:
        m = kernel.offsetof
        self.size = kernel.sizeof("struct page")
        self.flags = m("struct page", "flags")
        self.mapping = m("struct page", "mapping")
        # Linux 6.16 renamed page->index to __folio_index (folio conversion; crash's memory.c follows).
        self.index = m(
            "struct page", "index" if kernel.has_member("struct page", "index") else "__folio_index"
        )
        self.private = m("struct page", "private")
        self.refcount = m("struct page", "_refcount")
        self.mapcount = m("struct page", "_mapcount")
        # Linux 7.1 (commit d50569612c29): compound_head renamed compound_info (see compound_head()).
        self.compound_head = m(
            "struct page",
            "compound_head" if kernel.has_member("struct page", "compound_head") else "compound_info",
        )


def _page_layout(kernel: Kernel) -> _PageLayout:
    return kernel.memo("mm:page_layout", lambda: _PageLayout(kernel))


def _decode_page(lay: _PageLayout, data: bytes, offset: int, address: int, physical: int) -> Page:
    def u64(off: int) -> int:
        return int.from_bytes(data[offset + off : offset + off + 8], "little")

    def s32(off: int) -> int:
        return int.from_bytes(data[offset + off : offset + off + 4], "little", signed=True)

    return Page(
        address=address,
        physical=physical,
        flags=u64(lay.flags),
        mapping=u64(lay.mapping),
        index=u64(lay.index),
        private=u64(lay.private),
        count=s32(lay.refcount),
        mapcount=s32(lay.mapcount),
        compound_head=u64(lay.compound_head),
    )


def read_page(kernel: Kernel, page: int) -> Page:
    """Read one ``struct page *``.  Raises FaultError, or TargetError when *page* is not a page struct."""
    pfn = page_to_pfn(kernel, page)
    if pfn is None:
        raise TargetError(f"invalid page struct address: {page:x}")
    lay = _page_layout(kernel)
    return _decode_page(lay, kernel.read(page, lay.size), 0, page, pfn << PAGE_SHIFT)


#: Page structs :func:`pages_summary` reads at a time on a slow link (16 KiB of 64-byte page structs: about
#: 1.6 s over KGDB's serial line, so progress shows and Ctrl-C is noticed between pieces).
SLOW_LINK_PAGES = 256


def _page_struct_blocks(
    kernel: Kernel, mem_map: int, count: int, size: int, piece: int = 0
) -> Iterator[tuple[int, bytes]]:
    """(index of the first page, its page structs) for *count* page structs from ``struct page *`` *mem_map*:
    one read (or reads of *piece* pages), or chunks of 4096 pages when that faults (unreadable chunks are
    skipped)."""
    if piece:
        for start in range(0, count, piece):
            for sub, data in _page_struct_blocks(
                kernel, mem_map + start * size, min(piece, count - start), size
            ):
                yield start + sub, data
        return
    try:
        data = kernel.read(mem_map, count * size)
    except FaultError:
        for start in range(0, count, 4096):
            try:
                yield start, kernel.read(mem_map + start * size, min(4096, count - start) * size)
            except FaultError:
                continue
    else:
        yield 0, data


def read_pages(kernel: Kernel, first_pfn: int, count: int) -> Iterator[Page]:
    """The page structs of *count* pfns from *first_pfn* (one section at most); pages whose struct cannot be
    read are skipped."""
    mem_map = pfn_to_page(kernel, first_pfn)
    if mem_map is None:
        return
    lay = _page_layout(kernel)
    for start, data in _page_struct_blocks(kernel, mem_map, count, lay.size):
        for i in range(len(data) // lay.size):
            pfn = first_pfn + start + i
            yield _decode_page(lay, data, i * lay.size, mem_map + (start + i) * lay.size, pfn << PAGE_SHIFT)


def page_flag_bits(kernel: Kernel) -> dict[str, int]:
    """``enum pageflags``: ``{"PG_slab": 9, …}`` (aliases included)."""

    def compute() -> dict[str, int]:
        try:
            return dict(kernel.target.enumerators("enum pageflags"))
        except TypeNotFound:
            return {}

    return kernel.memo("mm:pageflags", compute)


def page_flag_names(kernel: Kernel) -> list[tuple[int, str]]:
    """(mask, name) pairs crash decodes ``page->flags`` with: the kernel's ``pageflag_names[]`` (mm/debug.c,
    ``struct trace_print_flags``) up to its ``{0, NULL}`` end, else ``enum pageflags`` minus ``PG_``
    (crash's ``page_flags_init()``)."""

    def compute() -> list[tuple[int, str]]:
        try:
            size = kernel.sizeof("struct trace_print_flags")
            mask_off = kernel.offsetof("struct trace_print_flags", "mask")
            name_off = kernel.offsetof("struct trace_print_flags", "name")
            address, count = _array(kernel, "pageflag_names", size)
            data = kernel.read(address, size * count)
        except (SymbolNotFound, TypeNotFound, FaultError):
            count = 0
        out: list[tuple[int, str]] = []
        for i in range(count):
            mask = int.from_bytes(data[i * size + mask_off : i * size + mask_off + 8], "little")
            name = int.from_bytes(data[i * size + name_off : i * size + name_off + 8], "little")
            if not name:
                break
            out.append((mask, kernel.read_cstring(name, 64)))
        if out:
            return out
        bits = page_flag_bits(kernel)
        limit = bits.get("__NR_PAGEFLAGS", 64)
        return [(1 << v, k[3:]) for k, v in bits.items() if k.startswith("PG_") and v < limit]

    return kernel.memo("mm:pageflag_names", compute)


def decode_page_flags(kernel: Kernel, flags: int) -> list[str]:
    """Names of the flags set in *flags* (crash's ``translate_page_flags()``)."""
    return [name for mask, name in page_flag_names(kernel) if flags & mask]


# bytes.translate tables mapping a byte to 1 where a test holds, else 0
_NONZERO = bytes(b != 0 for b in range(256))
_AT_LEAST_2 = bytes(b >= 2 for b in range(256))
_BELOW_0X80 = bytes(b < 0x80 for b in range(256))
_BIT_SET = [bytes(b >> bit & 1 for b in range(256)) for bit in range(8)]


@dataclass(frozen=True)
class SlabTest:
    """How crash's ``page_slab()`` tells a slab page.

    Up to Linux 6.9 a page flag: bit :attr:`flag_bit` of ``page->flags`` (``PG_slab``).  Since commit
    46df8e73a4a3 "mm: free up PG_slab" (v6.10) a page type: ``(page->page_type & (base | flag)) == base``,
    with ``base`` the ``PAGE_TYPE_BASE`` enumerator (else 0xf0000000) and ``flag`` the ``PG_slab``
    enumerator (else crash's default bit number, 7) — which on 6.12's one-byte types (``PGTY_slab`` in the
    top byte) is crash's test as it stands.  Neither: no page is a slab page.
    """

    flag_bit: int | None
    type_offset: int | None
    type_mask: int = 0
    type_base: int = 0

    def matches(self, flags: int, page_type: int) -> bool:
        """Whether a page with these ``flags`` and ``page_type`` is a slab page."""
        if self.flag_bit is not None:
            return bool(flags >> self.flag_bit & 1)
        return self.type_offset is not None and page_type & self.type_mask == self.type_base


_PAGE_TYPE_BASE = 0xF0000000
_PG_SLAB_DEFAULT = 7


def slab_test(kernel: Kernel) -> SlabTest:
    """The kernel's :class:`SlabTest` (memoised)."""

    def compute() -> SlabTest:
        bits = page_flag_bits(kernel)
        if any(name.startswith("slab") for _, name in page_flag_names(kernel)):
            return SlabTest(flag_bit=bits.get("PG_slab", _PG_SLAB_DEFAULT), type_offset=None)
        if not kernel.has_member("struct page", "page_type"):
            return SlabTest(flag_bit=None, type_offset=None)
        base, flag = _PAGE_TYPE_BASE, _PG_SLAB_DEFAULT
        with contextlib.suppress(SymbolNotFound, TypeNotFound):
            base = kernel.target.enumerator("PAGE_TYPE_BASE")
        with contextlib.suppress(SymbolNotFound, TypeNotFound):
            flag = kernel.target.enumerator("PG_slab")
        offset = kernel.offsetof("struct page", "page_type")
        return SlabTest(
            flag_bit=None, type_offset=offset, type_mask=(base | flag) & 0xFFFFFFFF, type_base=base
        )

    return kernel.memo("mm:slab_test", compute)


def compound_head(kernel: Kernel, page: int) -> int:
    """The head page of ``struct page *`` *page* (crash's ``compound_head()``).

    ``page->compound_head`` holds head + 1 on tail pages.  Linux 7.1 (commit d50569612c29 "mm: rename the
    'compound_head' field in the 'struct page' to 'compound_info'") may store a mask instead: with
    power-of-two page structs and ``zone.vmemmap_tails`` (CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP), a tail's
    value ANDed with its own address gives the head, as crash reads it.  Raises FaultError."""
    info = kernel.has_member("struct page", "compound_info")
    value = kernel.read_pointer(
        page + kernel.offsetof("struct page", "compound_info" if info else "compound_head")
    )
    if info and _compound_info_has_mask(kernel):
        return page & (((value & 1) - 1) | value) & 0xFFFFFFFFFFFFFFFF
    return value - 1 if value & 1 else page


def _compound_info_has_mask(kernel: Kernel) -> bool:
    def compute() -> bool:
        size = kernel.sizeof("struct page")
        return size & (size - 1) == 0 and kernel.has_member("struct zone", "vmemmap_tails")

    return kernel.memo("mm:compound_info_mask", compute)


def page_is_slab(kernel: Kernel, page: int) -> bool:
    """crash's ``page_slab()`` for ``struct page *`` *page*.  Raises FaultError."""
    test = slab_test(kernel)
    flags = (
        kernel.read_u64(page + kernel.offsetof("struct page", "flags")) if test.flag_bit is not None else 0
    )
    page_type = kernel.read_u32(page + test.type_offset) if test.type_offset is not None else 0
    return test.matches(flags, page_type)


def _count_slab_column(data: bytes, size: int, flags: int, test: SlabTest) -> int:
    """Pages of *data* that *test* calls slab pages, counted by byte columns like
    :func:`_count_page_columns`."""
    if test.flag_bit is not None:
        bit = test.flag_bit
        return int.from_bytes(
            data[flags + bit // 8 :: size].translate(_BIT_SET[bit % 8]), "little"
        ).bit_count()
    if test.type_offset is None:
        return 0
    n = len(data) // size
    found = int.from_bytes(b"\x01" * n, "little")  # one byte per page, as the columns are
    for i in range(4):
        mask, base = test.type_mask >> 8 * i & 0xFF, test.type_base >> 8 * i & 0xFF
        if not mask:
            continue
        table = bytes((b & mask) == base for b in range(256))
        found &= int.from_bytes(data[test.type_offset + i :: size].translate(table), "little")
    return found.bit_count()


def _count_page_columns(
    data: bytes, size: int, flags: int, refcount: int, slab_bit: int, reserved_bit: int
) -> tuple[int, int]:
    """(pages with *slab_bit* set in ``flags``, pages without *reserved_bit* whose ``(int)_refcount > 1``)
    over the page structs in *data*, counted at C speed: each test turns one byte column (``data[off::size]``,
    a byte per page) into a 0/1 byte per page with ``bytes.translate``; columns are combined as big integers
    and ``int.bit_count()`` counts the pages."""

    def column(off: int, table: bytes | None = None) -> int:
        return int.from_bytes(data[off::size].translate(table), "little")

    n = len(data) // size
    slabs = column(flags + slab_bit // 8, _BIT_SET[slab_bit % 8]).bit_count()
    reserved = column(flags + reserved_bit // 8, _BIT_SET[reserved_bit % 8])
    # the s32 _refcount's little-endian bytes c0..c3: count > 1  <=>  c3 < 0x80 and (c1|c2|c3 != 0 or c0 >= 2)
    c123 = (column(refcount + 1) | column(refcount + 2) | column(refcount + 3)).to_bytes(n, "little")
    above_1 = (int.from_bytes(c123.translate(_NONZERO), "little") | column(refcount, _AT_LEAST_2)) & column(
        refcount + 3, _BELOW_0X80
    )
    return slabs, (above_1 & ~reserved).bit_count()


def pages_summary(kernel: Kernel) -> tuple[int, int]:
    """(slab pages, shared pages) over every page struct, as crash's ``dump_mem_map(GET_ALL)`` counts them:
    pages with ``PG_slab`` set; non-reserved pages with ``(int)_refcount > 1``.  Each section's page structs
    are read in one piece and counted without decoding a page at a time."""

    def compute() -> tuple[int, int]:
        bits = page_flag_bits(kernel)
        test = slab_test(kernel)
        slab_bit = test.flag_bit if test.flag_bit is not None else 7
        reserved_bit = bits.get("PG_reserved", 10)
        lay = _page_layout(kernel)
        slabs = shared = 0
        sections = valid_sections(kernel)
        # On a slow link, read in pieces and say how far the read is (megabytes: minutes over a serial line).
        piece = SLOW_LINK_PAGES if kernel.target.sparse_reads else 0
        total, done = sum(section.pages for section in sections) * lay.size, 0
        for section in sections:
            blocks = _page_struct_blocks(kernel, section.mem_map, section.pages, lay.size, piece)
            for _, data in blocks:
                s, h = _count_page_columns(data, lay.size, lay.flags, lay.refcount, slab_bit, reserved_bit)
                if test.flag_bit is None:
                    s = _count_slab_column(data, lay.size, lay.flags, test)
                slabs += s
                shared += h
                if piece:
                    done += len(data)
                    kernel.report_progress("page structs", done, total)
        return slabs, shared

    return kernel.memo("mm:pages_summary", compute)


# ---- nodes, zones, vm_stat ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A memory node: :param pgdat: ``pg_data_t *``."""

    id: int
    pgdat: int
    start_pfn: int
    spanned: int
    present: int


def nodes(kernel: Kernel) -> list[Node]:
    """Online memory nodes in node-id order (crash's ``node_table``): ``node_data[nid]`` for each node in
    ``node_states[N_ONLINE]`` on NUMA kernels, else ``contig_page_data``."""

    def compute() -> list[Node]:
        if kernel.has_symbol("node_data"):
            try:
                state = kernel.symbol("node_states") + kernel.sizeof("nodemask_t") * kernel.target.enumerator(
                    "N_ONLINE"
                )
                bits = int.from_bytes(kernel.read(state, kernel.sizeof("nodemask_t")), "little")
            except (SymbolNotFound, TypeNotFound):
                bits = 1
            ids = [n for n in range(bits.bit_length()) if bits >> n & 1]
            pgdats = [(n, kernel.read_pointer(kernel.symbol("node_data") + 8 * n)) for n in ids]
        else:
            pgdats = [(0, kernel.symbol("contig_page_data"))]
        out = []
        for n, pgdat in pgdats:
            if not pgdat:
                continue
            s = kernel.struct("struct pglist_data", pgdat)
            out.append(
                Node(
                    n,
                    pgdat,
                    s.uint("node_start_pfn"),
                    s.uint("node_spanned_pages"),
                    s.uint("node_present_pages"),
                )
            )
        return out

    return kernel.memo("mm:nodes", compute)


def node_of_pfn(kernel: Kernel, pfn: int) -> int:
    """The index in :func:`nodes` whose span holds *pfn* (crash's ``page_to_nid()``); -1 if none."""
    for i, node in enumerate(nodes(kernel)):
        if node.start_pfn <= pfn < node.start_pfn + node.spanned:
            return i
    return -1


@dataclass(frozen=True)
class Zone:
    """One ``struct zone`` of a node.

    :param node: the node's index in :func:`nodes`; :param index: the zone's index in ``node_zones``.
    :param watermarks: (min, low, high) of ``_watermark[]`` (``watermark[]`` before 5.0).
    :param vm_stat: ``zone->vm_stat[]`` values in ``enum zone_stat_item`` order.
    """

    node: int
    index: int
    address: int
    name: str
    spanned: int
    present: int
    managed: int
    start_pfn: int
    watermarks: tuple[int, int, int]
    vm_stat: tuple[int, ...]


def zones(kernel: Kernel) -> list[Zone]:
    """Every zone of every node (crash's ``dump_zone_stats()`` order)."""

    def compute() -> list[Zone]:
        size = kernel.sizeof("struct zone")
        nr_zones = kernel.member("struct pglist_data", "node_zones").size // size
        # The zone watermarks were renamed _watermark in 5.0 (commit 1c30844d2dfe "mm: reclaim small amounts
        # of memory when an external fragmentation event occurs").
        wmark = "_watermark" if kernel.has_member("struct zone", "_watermark") else "watermark"
        wm_idx = []
        for name, default in (("WMARK_MIN", 0), ("WMARK_LOW", 1), ("WMARK_HIGH", 2)):
            try:
                wm_idx.append(kernel.target.enumerator(name))
            except SymbolNotFound:
                wm_idx.append(default)
        nr_items = len(vm_stat_names(kernel)[0])
        out = []
        for n, node in enumerate(nodes(kernel)):
            base = node.pgdat + kernel.offsetof("struct pglist_data", "node_zones")
            for i in range(nr_zones):
                z = kernel.struct("struct zone", base + i * size)
                name_ptr = z.ptr("name")
                try:
                    name = kernel.read_cstring(name_ptr, 32)
                except FaultError:
                    name = "(unknown) "
                wm_off = kernel.offsetof("struct zone", wmark)
                wms = tuple(int.from_bytes(z.raw(wm_off + 8 * k, 8), "little") for k in wm_idx)
                vs_off = kernel.offsetof("struct zone", "vm_stat")
                stats = tuple(
                    int.from_bytes(z.raw(vs_off + 8 * k, 8), "little", signed=True) for k in range(nr_items)
                )
                managed = z.uint("managed_pages") if z.has("managed_pages") else 0
                out.append(
                    Zone(
                        n,
                        i,
                        z.address,
                        name,
                        z.uint("spanned_pages"),
                        z.uint("present_pages"),
                        managed,
                        z.uint("zone_start_pfn"),
                        (wms[0], wms[1], wms[2]),
                        stats,
                    )
                )
        return out

    return kernel.memo("mm:zones", compute)


def _enum_names(kernel: Kernel, type_name: str, end: str) -> list[str]:
    """Enumerator names of *type_name* indexed by value, up to the *end* count enumerator (crash's
    ``vm_stat_init()``)."""
    try:
        items = kernel.target.enumerators(type_name)
    except TypeNotFound:
        return []
    count = dict(items).get(end)
    if count is None:
        return []
    names = [""] * count
    for name, value in items:  # for aliases (NR_ZONE_LRU_BASE = NR_ZONE_INACTIVE_ANON) the last name wins
        if 0 <= value < count:
            names[value] = name
    return names


def vm_stat_names(kernel: Kernel) -> tuple[list[str], list[str]]:
    """(``enum zone_stat_item`` names, ``enum node_stat_item`` names) — the node list is empty before the
    4.8 split (commit 75ef71840539 "mm, vmstat: add infrastructure for per-node vmstats")."""

    def compute() -> tuple[list[str], list[str]]:
        zone_names = _enum_names(kernel, "enum zone_stat_item", "NR_VM_ZONE_STAT_ITEMS")
        node_names = _enum_names(kernel, "enum node_stat_item", "NR_VM_NODE_STAT_ITEMS")
        return zone_names, node_names

    return kernel.memo("mm:vm_stat_names", compute)


@dataclass(frozen=True)
class VmStat:
    """The global counters: ``vm_zone_stat[]`` and ``vm_node_stat[]`` as (name, value) lists."""

    zone: list[tuple[str, int]]
    node: list[tuple[str, int]]
    #: ``vm_numa_stat[]`` (``enum numa_stat_item``), Linux 4.14 to 5.13: commit f19298b9516c "mm/vmstat:
    #: convert NUMA statistics to basic NUMA counters" (v5.14) folded them into per-node events.
    numa: list[tuple[str, int]] = field(default_factory=list)

    def get(self, name: str) -> int | None:
        for key, value in self.zone + self.node:
            if key == name:
                return value
        return None


def vm_stat(kernel: Kernel) -> VmStat:
    """``vm_zone_stat[]`` and ``vm_node_stat[]`` (``vm_stat[]`` before 4.8), as crash's ``dump_vm_stat()``."""

    def compute() -> VmStat:
        zone_names, node_names = vm_stat_names(kernel)

        def read(symbol: str, names: list[str]) -> list[tuple[str, int]]:
            raw = kernel.read(kernel.symbol(symbol), 8 * len(names))
            return list(zip(names, _struct.unpack(f"<{len(names)}q", raw), strict=True))

        zone_symbol = "vm_zone_stat" if kernel.has_symbol("vm_zone_stat") else "vm_stat"
        node = read("vm_node_stat", node_names) if node_names and kernel.has_symbol("vm_node_stat") else []
        numa: list[tuple[str, int]] = []
        if node and kernel.has_symbol("vm_numa_stat"):
            numa_names = _enum_names(kernel, "enum numa_stat_item", "NR_VM_NUMA_STAT_ITEMS")
            numa = read("vm_numa_stat", numa_names) if numa_names else []
        return VmStat(read(zone_symbol, zone_names), node, numa)

    return kernel.memo("mm:vm_stat", compute)


def vm_events(kernel: Kernel) -> list[tuple[str, int]]:
    """``vm_event_states`` summed over crash's CPUs (``dump_vm_event_state()``), in ``enum vm_event_item``
    order; empty without CONFIG_VM_EVENT_COUNTERS."""
    names = _enum_names(kernel, "enum vm_event_item", "NR_VM_EVENT_ITEMS")
    if not names or not kernel.has_symbol("vm_event_states"):
        return []
    totals = [0] * len(names)
    for cpu in range(cpu_count(kernel)):
        raw = kernel.read(kernel.per_cpu_address("vm_event_states", cpu), 8 * len(names))
        for i, value in enumerate(_u64s(raw)):
            totals[i] = (totals[i] + value) & ((1 << 64) - 1)
    return list(zip(names, totals, strict=True))


# ---- kmem -i ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemInfo:
    """crash's ``kmem -i`` figures, in pages.  ``None`` for a row crash does not print.

    :param huge_total: hugetlb pages (``hstates[]``); :param swap_total: pages of swap in use.
    :param commit_limit: crash's COMMIT LIMIT (``None`` when crash bails out before it).
    """

    total: int
    free: int
    shared: int | None  # only when asked for (kmem -i=shared)
    buffers: int
    cached: int
    slab: int
    huge_total: int | None
    huge_free: int | None
    swap_total: int | None
    swap_used: int | None
    commit_limit: int | None
    committed: int | None

    @property
    def used(self) -> int:
        return self.total - self.free


def _global_ulong(kernel: Kernel, *names: str) -> int | None:
    for name in names:
        if kernel.has_symbol(name):
            return kernel.read_global_u64(name)
    return None


def nr_blockdev_pages(kernel: Kernel) -> int:
    """Pages cached for block devices (crash's ``nr_blockdev_pages()``): the ``i_mapping->nrpages`` of every
    inode on ``blockdev_superblock->s_inodes`` (5.9+, commit 1008fe6dc36d "block: remove the all_bdevs
    list"), else of every ``block_device`` on ``all_bdevs``."""
    total = 0
    if kernel.has_symbol("all_bdevs"):
        for bdev in list_for_each_entry(kernel, kernel.symbol("all_bdevs"), "struct block_device", "bd_list"):
            inode = kernel.read_pointer(bdev + kernel.offsetof("struct block_device", "bd_inode"))
            mapping = kernel.read_pointer(inode + kernel.offsetof("struct inode", "i_mapping"))
            total += kernel.read_u64(mapping + kernel.offsetof("struct address_space", "nrpages"))
        return total
    sb = kernel.read_pointer(kernel.symbol("blockdev_superblock"))
    head = sb + kernel.offsetof("struct super_block", "s_inodes")
    for inode in list_for_each_entry(kernel, head, "struct inode", "i_sb_list", on_error="stop"):
        mapping = kernel.read_pointer(inode + kernel.offsetof("struct inode", "i_mapping"))
        total += kernel.read_u64(mapping + kernel.offsetof("struct address_space", "nrpages"))
    return total


def _swapper_pages(kernel: Kernel) -> int:
    """Pages in the swap cache: ``nrpages`` of every ``swapper_spaces[type][0..nr_swapper_spaces[type]]``."""
    try:
        address, length = _array(kernel, "nr_swapper_spaces", 4)
    except SymbolNotFound:
        return 0
    counts = _struct.unpack(f"<{length}I", kernel.read(address, 4 * length))
    size = kernel.sizeof("struct address_space")
    nrpages = kernel.offsetof("struct address_space", "nrpages")
    total = 0
    for i, banks in enumerate(counts):
        if not banks:
            continue
        spaces = kernel.read_pointer(kernel.symbol("swapper_spaces") + 8 * i)
        for j in range(banks if spaces else 0):
            total += kernel.read_u64(spaces + j * size + nrpages)
    return total


def hugetlb_pages(kernel: Kernel) -> tuple[int, int] | None:
    """(total, free) hugetlb memory in base pages over ``hstates[]`` (crash's ``get_hugetlb_total_pages()``);
    ``None`` without hugetlbfs."""
    try:
        size = kernel.sizeof("struct hstate")
        address, count = _array(kernel, "hstates", size)
    except (SymbolNotFound, TypeNotFound):
        return None
    total = free = 0
    for i in range(count):
        h = kernel.struct("struct hstate", address + i * size)
        order = h.uint("order")
        if order:
            total += h.uint("nr_huge_pages") << order
            free += h.uint("free_huge_pages") << order
    return total, free


@dataclass(frozen=True)
class SwapDevice:
    """A ``struct swap_info_struct`` in use (SWP_USED), as crash's ``swap`` shows it.

    :param address: ``swap_info[i]``; :param partition: a block device (``old_block_size`` set, or
    before 6.10 ``swap_device``; from 6.10 the swap file's inode is a block device); :param pages:
    ``pages``; :param used: ``inuse_pages``; :param prio: ``prio``; :param path: the swap file's path
    (``"(unknown)"`` without one).
    """

    address: int
    partition: bool
    pages: int
    used: int
    prio: int
    path: str


def swap_devices(kernel: Kernel) -> list[SwapDevice] | None:
    """The swap devices in ``swap_info[]`` order (crash's ``dump_swap_info()``); ``None`` without swap
    support."""
    if not kernel.has_symbol("swap_info") or not kernel.has_symbol("nr_swapfiles"):
        return None
    out = []
    for i in range(kernel.read_global_u32("nr_swapfiles")):
        si = kernel.read_pointer(kernel.symbol("swap_info") + 8 * i)
        if not si:
            continue
        s = kernel.struct("struct swap_info_struct", si)
        if not s.uint("flags") & 1:  # SWP_USED
            continue
        swap_file = s.ptr("swap_file")
        if s.has("old_block_size"):
            partition = bool(s.sint("old_block_size"))
        elif s.has("swap_device"):
            partition = bool(s.sint("swap_device"))
        else:  # 6.10: commit 1a0bb41d69f8 "mm/swap: remove swap_info_struct->old_block_size"
            inode = (
                kernel.read_pointer(swap_file + kernel.offsetof("struct file", "f_inode")) if swap_file else 0
            )
            mode = kernel.read(inode + kernel.offsetof("struct inode", "i_mode"), 2) if inode else b"\0\0"
            partition = int.from_bytes(mode, "little") & 0o170000 == 0o060000
        path = "(unknown)"
        if swap_file:
            f = kernel.struct("struct file", swap_file)
            mnt = f.ptr("f_path.mnt")
            path = _fs.pathname(kernel, f.ptr("f_path.dentry"), mnt)
            if _fs.mount_devname(kernel, mnt) in ("devtmpfs", "udev") and not path.startswith("/dev/"):
                path = "/dev" + path
        out.append(SwapDevice(si, partition, s.sint("pages"), s.uint("inuse_pages"), s.sint("prio"), path))
    return out


def swap_totals(kernel: Kernel) -> tuple[int, int] | None:
    """(total, used) swap pages over the ``swap_info[]`` devices with SWP_USED (crash's
    ``dump_swap_info()``); ``None`` without swap support."""
    devices = swap_devices(kernel)
    if devices is None:
        return None
    return sum(d.pages for d in devices), sum(d.used for d in devices)


def meminfo(kernel: Kernel, shared: bool = False) -> MemInfo:
    """crash's ``dump_kmeminfo()``.

    SLAB is ``NR_SLAB_RECLAIMABLE_B + NR_SLAB_UNRECLAIMABLE_B`` (names since 5.9, commit d42f3245c7e2
    "mm: memcg: convert vmstat slab counters to bytes"; the counters still hold pages), falling back on
    the older ``NR_SLAB_RECLAIMABLE``/``NR_SLAB_UNRECLAIMABLE`` and ``NR_SLAB``.  Every page struct is read
    (:func:`pages_summary`) only when a figure has no global counter — no slab counter in ``vm_stat``, no
    ``totalram_pages`` — or when *shared* asks for SHARED, crash 9.0's rule (``kmem -i=shared``, crash commit
    b39f8b55); ``MemInfo.shared`` is ``None`` unless asked for.
    """
    stats = vm_stat(kernel)
    slabs: int | None = None
    for names in (("NR_SLAB",), ("NR_SLAB_RECLAIMABLE", "NR_SLAB_UNRECLAIMABLE"),
                  ("NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B")):  # fmt: skip
        first = stats.get(names[0])
        if first is not None:
            slabs = first + sum(stats.get(n) or 0 for n in names[1:])
            break
    has_totalram = kernel.has_symbol("_totalram_pages") or kernel.has_symbol("totalram_pages")
    walked = pages_summary(kernel) if shared or slabs is None or not has_totalram else None
    if slabs is None:
        slabs = walked[0] if walked else 0
    total = _global_ulong(kernel, "_totalram_pages", "totalram_pages") or 0
    free_index = vm_stat_names(kernel)[0].index("NR_FREE_PAGES")
    free = sum(z.vm_stat[free_index] for z in zones(kernel))
    buffers = nr_blockdev_pages(kernel) if kernel.has_symbol("nr_blockdev_pages") else 0
    file_pages = stats.get("NR_FILE_PAGES")
    cached = max(file_pages - _swapper_pages(kernel) - buffers, 0) if file_pages is not None else 0
    huge = hugetlb_pages(kernel)
    swap = swap_totals(kernel)
    limit = committed = None
    if kernel.has_symbol("sysctl_overcommit_memory"):
        kbytes = _global_ulong(kernel, "sysctl_overcommit_kbytes") or 0
        if kbytes:
            limit = kbytes >> (PAGE_SHIFT - 10)
        elif huge is not None:
            ratio = kernel.target.read_s32(kernel.symbol("sysctl_overcommit_ratio"))
            limit = (total - huge[0]) * ratio // 100
        if limit is not None:
            limit += swap[0] if swap else 0
            counter = kernel.symbol("vm_committed_as") + kernel.offsetof("struct percpu_counter", "count")
            committed = max(kernel.target.read_s64(counter), 0)
    return MemInfo(
        total=total,
        free=free,
        shared=walked[1] if shared and walked else None,
        buffers=buffers,
        cached=cached,
        slab=slabs,
        huge_total=huge[0] if huge else None,
        huge_free=huge[1] if huge else None,
        swap_total=swap[0] if swap else None,
        swap_used=swap[1] if swap else None,
        commit_limit=limit,
        committed=committed,
    )


# ---- vmalloc -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VmapArea:
    """A busy ``struct vmap_area`` that has a ``struct vm_struct`` (what crash's ``kmem -v`` lists).

    :param address: ``struct vmap_area *``; :param vm: ``struct vm_struct *``.
    """

    address: int
    vm: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def _vmap_area_addresses(kernel: Kernel) -> list[int]:
    """Every busy ``struct vmap_area *``.  Linux 6.9 (commit d093602919ad "mm: vmalloc: remove global
    vmap_area_root rb-tree") spread them over ``vmap_nodes[nr_vmap_nodes]``, each with its own
    ``busy.head`` list (crash then sorts them by ``va_start``); before, one ``vmap_area_list``."""
    if not kernel.has_symbol("vmap_nodes"):
        return list(list_for_each_entry(kernel, kernel.symbol("vmap_area_list"), "struct vmap_area", "list"))
    nodes = kernel.read_pointer(kernel.symbol("vmap_nodes"))
    count = kernel.target.read_u32(kernel.symbol("nr_vmap_nodes"))
    size = kernel.sizeof("struct vmap_node")
    head = kernel.offsetof("struct vmap_node", "busy.head")
    out: list[int] = []
    for i in range(min(count, 1 << 12)):
        out += list_for_each_entry(kernel, nodes + i * size + head, "struct vmap_area", "list")
    return out


def vmap_areas(kernel: Kernel) -> list[VmapArea]:
    """``vmap_area_list`` entries with a ``vm`` (crash's ``dump_vmap_area()``), in list (address) order."""

    def compute() -> list[VmapArea]:
        out = []
        for va in _vmap_area_addresses(kernel):
            s = kernel.struct("struct vmap_area", va)
            vm = s.ptr("vm")
            if vm:
                out.append(VmapArea(va, vm, s.ptr("va_start"), s.ptr("va_end")))
        if kernel.has_symbol("vmap_nodes"):
            out.sort(key=lambda a: a.start)
        return out

    return kernel.memo("mm:vmap_areas", compute)


# ---- VMAs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vma:
    """A ``struct vm_area_struct``: :param file: ``struct file *`` or 0."""

    address: int
    start: int
    end: int
    flags: int
    file: int
    mm: int
    pgoff: int


_MAPLE_NODE_MASK = 0xFF
_MAPLE_RESERVED_RANGE = 4096
_MAX_VMAS = 1 << 20


def _maple_entries(kernel: Kernel, tree: int) -> Iterator[int]:
    """Non-NULL leaf entries of a ``struct maple_tree *`` in index order (lib/maple_tree.c, 6.1)."""
    root = kernel.read_pointer(tree + kernel.offsetof("struct maple_tree", "ma_root"))
    if not (root & 3 == 2 and root > _MAPLE_RESERVED_RANGE):  # !xa_is_node(): a single entry, or empty
        if root:
            yield root
        return
    enumerators = dict(kernel.target.enumerators("enum maple_type"))
    leaf, arange = enumerators["maple_leaf_64"], enumerators["maple_arange_64"]
    layouts = {}
    for kind, type_name in ((leaf, "struct maple_range_64"), (enumerators["maple_range_64"], "struct maple_range_64"),
                            (arange, "struct maple_arange_64")):  # fmt: skip
        piv = kernel.member(type_name, "pivot")
        slot = kernel.member(type_name, "slot")
        layouts[kind] = (piv.offset, piv.size // 8, slot.offset, slot.size // 8)
    seen = 0

    def walk(enode: int, minimum: int, maximum: int, depth: int) -> Iterator[int]:
        nonlocal seen
        kind = (enode >> 3) & 0xF
        if kind not in layouts or depth > 31:
            raise TargetError(f"maple tree: bad node {enode:x}")
        node = enode & ~_MAPLE_NODE_MASK
        p_off, n_piv, s_off, n_slot = layouts[kind]
        data = kernel.read(node, max(p_off + 8 * n_piv, s_off + 8 * n_slot))
        pivots = _u64s(data[p_off : p_off + 8 * n_piv])
        slots = _u64s(data[s_off : s_off + 8 * n_slot])
        low = minimum
        for i in range(n_slot):
            high = pivots[i] if i < n_piv else maximum
            if i and high == 0:  # an unused pivot ends the node
                break
            entry = slots[i]
            if entry:
                if kind == leaf:
                    seen += 1
                    if seen > _MAX_VMAS:
                        raise TargetError("maple tree: too many entries")
                    yield entry
                else:
                    yield from walk(entry, low, high, depth + 1)
            if high >= maximum:
                break
            low = high + 1

    yield from walk(root, 0, (1 << 64) - 1, 0)


def maple_tree_entries(kernel: Kernel, tree: int) -> Iterator[int]:
    """The non-NULL entries of a ``struct maple_tree *`` in index order."""
    return _maple_entries(kernel, tree)


def for_each_vma(kernel: Kernel, mm: int) -> Iterator[Vma]:
    """The VMAs of ``struct mm_struct *`` *mm* in address order: the maple tree ``mm->mm_mt`` (6.1, commit
    763ecb035029 "mm: remove the vma linked list"), else the ``mm->mmap`` list."""
    if kernel.has_member("struct mm_struct", "mm_mt"):
        addresses: Iterator[int] = _maple_entries(kernel, mm + kernel.offsetof("struct mm_struct", "mm_mt"))
    else:
        addresses = _vma_list(kernel, mm)
    for address in addresses:
        v = kernel.struct("struct vm_area_struct", address)
        yield Vma(address, v.ptr("vm_start"), v.ptr("vm_end"), v.uint("vm_flags"), v.ptr("vm_file"), v.ptr("vm_mm"),
                  v.uint("vm_pgoff"))  # fmt: skip


def _vma_list(kernel: Kernel, mm: int) -> Iterator[int]:
    vma = kernel.read_pointer(mm + kernel.offsetof("struct mm_struct", "mmap"))
    nxt = kernel.offsetof("struct vm_area_struct", "vm_next")
    seen: set[int] = set()
    while vma and vma not in seen and len(seen) < _MAX_VMAS:
        seen.add(vma)
        yield vma
        vma = kernel.read_pointer(vma + nxt)


def find_vma(kernel: Kernel, mm: int, address: int) -> Vma | None:
    """The VMA of *mm* (``struct mm_struct *``) containing user *address*, or ``None``."""
    for vma in for_each_vma(kernel, mm):
        if vma.start <= address < vma.end:
            return vma
        if vma.start > address:
            break
    return None


# ---- paths -----------------------------------------------------------------------------------------------------


def _dentry_name(kernel: Kernel, dentry: int) -> str:
    name = kernel.read_pointer(dentry + kernel.offsetof("struct dentry", "d_name.name"))
    return kernel.read_cstring(name, 256)


def file_path(kernel: Kernel, file: int) -> str:
    """The path of ``struct file *`` *file* from the root of its mount namespace (``d_path()``, as crash's
    ``get_pathname()`` builds it): dentry names up to the mount root, then across each mountpoint."""
    dentry = kernel.read_pointer(file + kernel.offsetof("struct file", "f_path.dentry"))
    vfsmnt = kernel.read_pointer(file + kernel.offsetof("struct file", "f_path.mnt"))
    mount = vfsmnt - kernel.offsetof("struct mount", "mnt")
    parts: list[str] = []
    for _ in range(4096):
        root = kernel.read_pointer(mount + kernel.offsetof("struct mount", "mnt.mnt_root"))
        if dentry == root:
            parent = kernel.read_pointer(mount + kernel.offsetof("struct mount", "mnt_parent"))
            if parent == mount:
                break
            dentry = kernel.read_pointer(mount + kernel.offsetof("struct mount", "mnt_mountpoint"))
            mount = parent
            continue
        up = kernel.read_pointer(dentry + kernel.offsetof("struct dentry", "d_parent"))
        if up == dentry:
            break
        parts.append(_dentry_name(kernel, dentry))
        dentry = up
    return "/" + "/".join(reversed(parts))


# ---- memory blocks -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryBlock:
    """A ``struct memory_block`` (drivers/base/memory.c): :param end: its last physical byte, ``None``
    when the kernel does not tell."""

    address: int
    name: str
    start_section: int
    state: int
    nid: int | None
    start: int
    end: int | None


def _memory_subsys_private(kernel: Kernel) -> int:
    """The memory bus's ``struct subsys_private *``: ``memory_subsys.p`` until Linux 6.3 (commit d2bf38c088e0 "driver core:
    remove private pointer from struct bus_type"); since, the kset of ``bus_kset`` whose kobject is named
    ``memory`` (its ``subsys.kobj``), as crash's ``get_subsys_private()`` finds it.  0 if none."""
    if kernel.has_member("struct bus_type", "p"):
        return kernel.read_pointer(kernel.symbol("memory_subsys") + kernel.offsetof("struct bus_type", "p"))
    if not kernel.has_symbol("bus_kset"):
        return 0
    kset = kernel.read_pointer(kernel.symbol("bus_kset"))
    name_off = kernel.offsetof("struct kobject", "name")
    for kobj in list_for_each_entry(
        kernel, kset + kernel.offsetof("struct kset", "list"), "struct kobject", "entry"
    ):
        if kernel.read_cstring(kernel.read_pointer(kobj + name_off), 32) == "memory":
            return (
                kobj
                - kernel.offsetof("struct kset", "kobj")
                - kernel.offsetof("struct subsys_private", "subsys")
            )
    return 0


def memory_blocks(kernel: Kernel) -> list[MemoryBlock]:
    """The memory blocks on ``memory_subsys``'s device klist, in list order (crash's
    ``dump_memory_blocks()``); empty without memory hotplug support."""
    if not kernel.has_symbol("memory_subsys") or not kernel.has_member("struct memory_block", "dev"):
        return []
    private = _memory_subsys_private(kernel)
    if not private:
        return []
    head = private + kernel.offsetof("struct subsys_private", "klist_devices.k_list")
    dev_off = kernel.offsetof("struct memory_block", "dev")
    name_off = kernel.offsetof("struct device", "kobj.name")
    shift = _sparse(kernel).section_shift + PAGE_SHIFT
    probed = (
        kernel.read_global_u64("memory_block_size_probed")
        if kernel.has_symbol("memory_block_size_probed")
        else None
    )
    out = []
    for private_dev in list_for_each_entry(kernel, head, "struct device_private", "knode_bus.n_node"):
        device = kernel.read_pointer(private_dev + kernel.offsetof("struct device_private", "device"))
        block = kernel.struct("struct memory_block", device - dev_off)
        start_sec = block.uint("start_section_nr")
        end: int | None = None
        if probed is not None:
            end = (start_sec << shift) + probed - 1
        elif block.has("end_section_nr"):
            end = ((block.uint("end_section_nr") + 1) << shift) - 1
        out.append(
            MemoryBlock(
                address=block.address,
                name=kernel.read_cstring(kernel.read_pointer(device + name_off), 64),
                start_section=start_sec,
                state=block.uint("state"),
                nid=block.sint("nid") if block.has("nid") else None,
                start=start_sec << shift,
                end=end,
            )
        )
    return out
