"""``kmem``: kernel memory — usage summary, SLUB caches and objects, zones, vm_stat, page structs, vmalloc
areas, per-cpu offsets, and what an address belongs to — in crash's layout (memory.c ``cmd_kmem()``).

The figures come from :mod:`crashcompat.core.kernel.mm` and :mod:`crashcompat.core.kernel.slub`, which
compute them as crash does.
"""

from __future__ import annotations

import io

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    CommandError,
    GetoptError,
    Kernel,
    Option,
    SymbolNotFound,
    TargetError,
    command,
    hexadecimal,
    hookimpl,
    mkstring,
    pages_to_size,
)
from crashcompat.api.kernel import layout, mm, pagetable, slub, tasks
from crashcompat.plugins._memfmt import (
    paddr_prlen,
    page_header,
    page_row,
)

#: Options crash has that crashcompat does not implement (yet).
_UNSUPPORTED = "fFcChgrPIml"

KMEM_CACHE_HDR = f"CACHE{' ' * 12} OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n"
SLAB_HDR = f"SLAB{' ' * 14}MEMORY{' ' * 12}NODE  TOTAL  ALLOCATED  FREE\n"
KMEMINFO_HDR = "                 PAGES        TOTAL      PERCENTAGE\n"


def _unsupported(flag: str, metavar: str = "") -> Option:
    """One of crash's kmem options that crashcompat parses but does not implement."""
    return Option(flag, metavar, help="not implemented: the command stops and says so.")


@command(
    "kmem",
    summary="where kernel memory goes, and what owns an address",
    synopsis="kmem [-f|-F|-c|-C|-i[=shared]|-v|-V|-n|-z|-o|-h] [-p | -m member[,member]]\n"
    "       [[-s|-S|-S=cpu[s]|-r] [slab] [-I slab[,slab]]] [-g [flags]] [[-P] address]]",
    description="""
    Reports on kernel memory: one option picks the report, and at most one option is allowed.  Given
    addresses and no option, kmem says what each address belongs to: the kernel symbol it falls in,
    the vmalloc area holding it (and the task whose kernel stack that is), the slab object or slab
    page containing it, the task_struct it lies inside, and finally the page struct of its page.  An
    address is taken as kernel virtual when it is at or above PAGE_OFFSET and as physical below.
    """,
    arguments=[
        Option(
            "-i",
            action="store",
            nargs="?",
            const=True,
            help="a memory usage summary: total, free, used, buffer, page cache and slab pages, huge "
            "pages, swap, and the commit limit and committed memory; -i=shared adds the shared pages, "
            "which takes a pass over every page struct.",
        ),
        Option(
            "-s",
            help="one line per slab cache: object size, allocated and total objects, slabs and slab size; "
            'with a cache name only that cache ("list" prints each cache\'s address and name), with an '
            "address the cache and slab holding it.",
        ),
        Option(
            "-S",
            help="as -s, then the cache's slabs, per CPU and per node, each with its objects: free ones "
            "plain, allocated ones in brackets.  Both need a kernel built with CONFIG_SLUB_DEBUG.",
        ),
        Option("-z", help="for every zone of every node: its size, watermarks and vm_stat counters."),
        Option(
            "-p",
            help="one line per page struct (of the pages holding the given addresses, or of all memory): "
            "its address, physical address, mapping, index, reference count and flags.",
        ),
        Option(
            "-v",
            help="the vmalloc areas, or those holding the given addresses: vmap_area and vm_struct "
            "addresses, address range and size.",
        ),
        Option("-V", help="the kernel-wide vm_zone_stat, vm_node_stat and vm_event_states counters."),
        Option("-o", help="the per-cpu offset of each CPU."),
        Option("-n", help="the memory nodes with their zones, then the memory sections and memory blocks."),
        _unsupported("-f"),
        _unsupported("-F"),
        _unsupported("-c"),
        _unsupported("-C"),
        _unsupported("-h"),
        _unsupported("-g"),
        _unsupported("-r"),
        _unsupported("-P"),
        _unsupported("-I", "slab"),
        _unsupported("-m", "member"),
        _unsupported("-l", "value"),
        Option("-L", "value", help="accepted and ignored."),
        Argument(
            "arguments",
            "address | slab",
            nargs="*",
            help="kernel virtual or physical addresses in hexadecimal; with -s or -S, one slab cache "
            "name instead (prefix a name that looks like a number with a backslash).",
        ),
    ],
)
def kmem(ctx: CommandContext) -> None:
    args = ctx.args
    for flag in _UNSUPPORTED:
        if getattr(args, flag, None):
            raise CommandError(f"-{flag} option is not supported by crashcompat")
    flags = [f for f in "isSzpvVon" if getattr(args, f)]
    if len(flags) > 1:
        raise CommandArgumentError("only one flag allowed!")
    flag = flags[0] if flags else ""
    addresses: list[int] = []
    name: str | None = None
    for text in args.arguments:
        value = hexadecimal(text)
        if value is not None:
            addresses.append(value)
            continue
        if name is not None:
            raise CommandError("only one kmem_cache reference is allowed")
        name = text[1:] if text.startswith("\\") else text
        if flag not in ("s", "S"):
            raise GetoptError("a slab cache name needs -s or -S")
    if addresses and flag in ("i", "z", "V", "o", "n"):
        raise CommandArgumentError("no address arguments allowed with this option")
    if not flag and not addresses:
        raise GetoptError("an option or an address is required")
    kernel = ctx.kernel
    state = _State()
    for i, address in enumerate(addresses):
        if flag == "p":
            _dump_page(ctx, state, address, layout.layout(kernel).is_kvaddr(address))
        elif flag in ("s", "S"):
            if i:
                ctx.write("\n")
            if not layout.layout(kernel).is_kvaddr(
                address
            ):  # crash takes a physical address's direct-map address
                if address < _high_memory(kernel):
                    address = kernel.phys_to_virt(address)
                else:
                    ctx.warning(f"cannot make virtual-to-physical translation: {address:x}")
            cache = slub.cache_at(kernel, address)
            if cache is not None:
                _kmem_caches(ctx, cache.name, flag == "S")
            else:
                _kmem_slab_address(ctx, address, flag == "S")
        elif flag == "v":
            _kmem_vmlist(ctx, state, address)
        else:
            if i:
                ctx.write("\n")
            _kmem_search(ctx, address)
    if addresses:
        return
    if flag == "i":
        _kmem_i(ctx)
    elif flag == "p":
        _kmem_p_all(ctx)
    elif flag in ("s", "S"):
        _kmem_caches(ctx, name, flag == "S")
    elif flag == "v":
        _kmem_vmlist(ctx, state, None)
    elif flag == "z":
        _kmem_z(ctx)
    elif flag == "V":
        _kmem_V(ctx)
    elif flag == "o":
        _kmem_o(ctx)
    elif flag == "n":
        _kmem_n(ctx)


class _State:
    """Per-command state crash keeps in ``pc->curcmd_flags``: whether a table header was printed."""

    def __init__(self) -> None:
        self.header_printed = False


def _high_memory(kernel: Kernel) -> int:
    """``VTOP(high_memory)``: the end of directly mapped physical memory."""
    return tasks.total_pages(kernel) * kernel.target.page_size


# ---- -i -----------------------------------------------------------------------------------------------------


def _kmem_i(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    info = mm.meminfo(kernel, shared=ctx.args.i == "shared")
    total = info.total

    def row(label: str, pages: int) -> str:
        return f"{label:>13}  {pages:7d}  {pages_to_size(pages):>11}         ----\n"

    def pct(label: str, pages: int, of: int, name: str) -> str:
        percent = pages * 100 // of if of else 0
        return f"{label:>13}  {pages:7d}  {pages_to_size(pages):>11}  {percent:3d}% of {name}\n"

    out = [KMEMINFO_HDR, row("TOTAL MEM", total)]
    for label, pages in (("FREE", info.free), ("USED", info.used), ("SHARED", info.shared),
                         ("BUFFERS", info.buffers), ("CACHED", info.cached), ("SLAB", info.slab)):  # fmt: skip
        if pages is not None:
            out.append(pct(label, pages, total, "TOTAL MEM"))
    if info.huge_total is not None and info.huge_free is not None:
        out.append("\n" + row("TOTAL HUGE", info.huge_total))
        out.append(pct("HUGE FREE", info.huge_free, info.huge_total, "TOTAL HUGE"))
    out.append("\n")
    if info.swap_total is not None and info.swap_used is not None:
        out.append(row("TOTAL SWAP", info.swap_total))
        out.append(pct("SWAP USED", info.swap_used, info.swap_total, "TOTAL SWAP"))
        out.append(pct("SWAP FREE", info.swap_total - info.swap_used, info.swap_total, "TOTAL SWAP"))
    if kernel.has_symbol("sysctl_overcommit_memory"):
        out.append("\n")
        if info.commit_limit is not None and info.committed is not None:
            out.append(row("COMMIT LIMIT", info.commit_limit))
            if info.commit_limit:
                out.append(pct("COMMITTED", info.committed, info.commit_limit, "TOTAL LIMIT"))
            else:
                out.append(row("COMMITTED", info.committed))
    ctx.write("".join(out))


# ---- -s / -S ------------------------------------------------------------------------------------------------


def _cache_row(ctx: CommandContext, cache: slub.Cache) -> slub.CacheStats:
    """crash's ``dump_kmem_cache_info()``; a cache crash cannot count gets ``?`` columns."""
    stats = slub.cache_stats(ctx.kernel, cache)
    if stats.allocated is None:
        ctx.write(f"kmem: {cache.name}: cannot gather relevant slab data\n")
        counts = f"{'?':>9}  {'?':>8}  {'?':>5}  "
    else:
        counts = f"{stats.allocated:9d}  {stats.total:8d}  {stats.slabs:5d}  "
    ctx.write(
        f"{cache.address:<16x} {cache.objsize:8d}  {counts}{cache.slab_size // 1024:4d}k  {cache.name}\n"
    )
    return stats


def _kmem_caches(ctx: CommandContext, name: str | None, verbose: bool) -> None:
    """``kmem -s|-S [name]`` (crash's ``dump_kmem_cache_slub()`` without an address)."""
    kernel = ctx.kernel
    if name == "list":
        for cache in slub.caches(kernel):
            ctx.write(f"{cache.address:x} {cache.name}\n")
        return
    caches = slub.caches(kernel)
    _require_slub_debug(kernel)
    if name is None:
        ctx.write(KMEM_CACHE_HDR)
    for i, cache in enumerate(caches):
        if name is not None:
            if cache.name != name:
                continue
            ctx.write(KMEM_CACHE_HDR)
        stats = _cache_row(ctx, cache)
        if verbose and stats.allocated is not None:
            _kmem_cache_detail(ctx, cache)
            if name is None and i + 1 < len(caches):
                ctx.write(KMEM_CACHE_HDR)
        if name is not None:
            break


def _require_slub_debug(kernel: Kernel) -> None:
    if not kernel.has_member("struct kmem_cache_node", "nr_slabs"):
        raise CommandError(
            "option requires kmem_cache_node.nr_slabs member!\n(the kernel must be built with CONFIG_SLUB_DEBUG)"
        )


def _slab_line(slab: slub.Slab, inuse: int) -> str:
    return (
        f"  {slab.address:<16x}  {slab.memory:<16x}  {slab.node:4d}  {slab.objects:5d}  {inuse:9d}  "
        f"{slab.objects - inuse:4d}\n"
    )


def _write_slab(ctx: CommandContext, cache: slub.Cache, slab: int, only: int | None = None) -> None:
    """crash's verbose ``do_slab_slub()``: the slab line and its objects (only the one holding *only*)."""
    objects = slub.slab_objects(ctx.kernel, cache, slab)
    ctx.write("  " + SLAB_HDR + _slab_line(objects.slab, objects.inuse) + "  FREE / [ALLOCATED]\n")
    holder = slub.find_object(objects, cache, only) if only is not None else None
    for obj, free in objects.objects:
        if only is not None and holder != (obj, free):
            continue
        if free:
            ctx.write(
                f"   {obj:x}  " + (f"(cpu {objects.cpu} cache)" if objects.cpu is not None else "") + "\n"
            )
        else:
            ctx.write(f"  [{obj:x}]\n")


def _kmem_cache_detail(ctx: CommandContext, cache: slub.Cache) -> None:
    """crash's ``do_kmem_cache_slub()``: per-cpu slabs and partial lists, then each node's lists."""
    kernel = ctx.kernel
    per_node = [0] * max(len(mm.nodes(kernel)), 1)
    for c in slub.cpu_slabs(kernel, cache):
        ctx.write(f"CPU {c.cpu} KMEM_CACHE_CPU:\n  {c.kmem_cache_cpu:x}\nCPU {c.cpu} SLAB:\n")
        if not c.slab:
            ctx.write("  (empty)\n")
        else:
            try:
                slab = slub.read_slab(kernel, c.slab)
            except TargetError:
                ctx.write(f"kmem: {cache.name}: invalid slab address: {c.slab:x}\n")
                continue
            if slab.node >= 0:
                per_node[slab.node] += 1
            _write_slab(ctx, cache, c.slab)
        ctx.write(f"CPU {c.cpu} PARTIAL:\n" + ("" if c.partial else "  (empty)\n"))
        for address in slub.cpu_partial_slabs(kernel, c.partial):
            if mm.page_to_pfn(kernel, address) is None:
                ctx.write(f"kmem: {cache.name}: invalid partial list slab pointer: {address:x}\n")
                break
            _write_slab(ctx, cache, address)
    for n, node in enumerate(mm.nodes(kernel)):
        ptr = cache.nodes[node.id] if node.id < len(cache.nodes) else 0
        nr_slabs = nr_partial = 0
        if ptr:
            s = kernel.struct("struct kmem_cache_node", ptr)
            nr_slabs, nr_partial = s.sint("nr_slabs"), s.uint("nr_partial")
        ctx.write("KMEM_CACHE_NODE   NODE  SLABS  PARTIAL  PER-CPU\n")
        ctx.write(f"{ptr:x}  {n:4d}  {nr_slabs:5d}  {nr_partial:7d}  {per_node[n]:7d}\n")
        if ptr:
            _write_node_lists(ctx, cache, n, ptr)
    ctx.write("\n")


def _write_node_lists(ctx: CommandContext, cache: slub.Cache, n: int, node: int) -> None:
    """crash's ``do_node_lists_slub()``: the node's partial slabs, and its full slabs when tracked."""
    kernel = ctx.kernel
    lists = [("PARTIAL", list(slub.node_partial_slabs(kernel, node)))]
    if not slub.stores_user(cache) or not kernel.has_member("struct kmem_cache_node", "full"):
        lists.append(("FULL", []))
    else:
        lists.append(("FULL", list(slub.full_slabs(kernel, node))))
    for title, slabs in lists:
        ctx.write(f"NODE {n} {title}:\n")
        if title == "FULL" and not slub.stores_user(cache):
            ctx.write("  (not tracked)\n")
            continue
        ctx.write("" if slabs else "  (empty)\n")
        for i, address in enumerate(slabs):
            if not i:
                ctx.write("  " + SLAB_HDR)
            slab = slub.read_slab(kernel, address)
            ctx.write(_slab_line(slab, slub.slab_inuse(kernel, cache, slab)))


def _kmem_slab_address(ctx: CommandContext, address: int, verbose: bool) -> None:
    """``kmem -s|-S ADDRESS``: the cache line and the slab holding *address*, or a struct page of a slab
    (then every object)."""
    kernel = ctx.kernel
    found = slub.slab_page_cache(kernel, address)
    if found is not None:
        verbose = True
    else:
        found = slub.slab_of_address(kernel, address)
    if found is None:
        ctx.write(f"kmem: address is not allocated in slab subsystem: {address:x}\n")
        return
    cache, slab = found
    ctx.write(KMEM_CACHE_HDR)
    _cache_row(ctx, cache)
    _write_slab(ctx, cache, slab, None if verbose else address)


# ---- -p -----------------------------------------------------------------------------------------------------


def _dump_page(ctx: CommandContext, state: _State, address: int, virtual: bool) -> bool:
    """crash's ``dump_mem_map()`` for one address (a page struct, a kernel virtual or a physical address);
    False when it is outside the mem map."""
    kernel = ctx.kernel
    if virtual and mm.page_to_pfn(kernel, address) is not None:
        page = address
    else:
        if virtual:
            physical = pagetable.kvtop(kernel, address)
            if physical is None:
                return False
            address = physical
        found = mm.phys_to_page(kernel, address)
        if found is None:
            return False
        page = found
    if not state.header_printed:
        ctx.write(page_header(kernel))
        state.header_printed = True
    ctx.write(page_row(kernel, mm.read_page(kernel, page)))
    return True


def _kmem_p_all(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    ctx.write(page_header(kernel))
    for section in mm.valid_sections(kernel):
        ctx.write(
            "".join(
                page_row(kernel, page) for page in mm.read_pages(kernel, section.first_pfn, section.pages)
            )
        )


# ---- -v -----------------------------------------------------------------------------------------------------


def _vmlist_header() -> str:
    return (
        f"{mkstring('VMAP_AREA', VADDR_PRLEN, 'cl')}  {mkstring('VM_STRUCT', VADDR_PRLEN, 'cl')}  "
        f"{mkstring('ADDRESS RANGE', VADDR_PRLEN * 2 + 3, 'cl')}     SIZE\n"
    )


def _vmlist_row(area: mm.VmapArea) -> str:
    return (
        f"{mkstring(f'{area.address:x}', VADDR_PRLEN, 'cl')}  {mkstring(f'{area.vm:x}', VADDR_PRLEN, 'cl')}  "
        f"{area.start:>16x} - {area.end:<16x}  {area.size:7d}\n"
    )


def _kmem_vmlist(ctx: CommandContext, state: _State, address: int | None) -> bool:
    """crash's ``dump_vmap_area()``: every area, or those holding kernel virtual *address*; True if any."""
    found = False
    for area in mm.vmap_areas(ctx.kernel):
        if address is not None and not area.start <= address < area.end:
            continue
        if not state.header_printed:
            ctx.write(_vmlist_header())
            state.header_printed = True
        ctx.write(_vmlist_row(area))
        found = True
    return found


# ---- -z, -V, -o ---------------------------------------------------------------------------------------------


def _kmem_z(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    zone_names = mm.vm_stat_names(kernel)[0]
    width = max((len(n) for n in zone_names), default=0)
    for zone in mm.zones(kernel):
        ctx.write(f'NODE: {zone.node}  ZONE: {zone.index}  ADDR: {zone.address:x}  NAME: "{zone.name}"\n')
        if not zone.spanned:
            ctx.write("  [unpopulated]\n\n")
            continue
        present = f"  PRESENT: {zone.present}" if zone.present < zone.spanned else ""
        low, mid, high = zone.watermarks
        ctx.write(f"  SIZE: {zone.spanned}{present}  MIN/LOW/HIGH: {low}/{mid}/{high}\n  VM_STAT:\n")
        ctx.write("".join(f"{n:>{width}}: {v}\n" for n, v in zip(zone_names, zone.vm_stat, strict=True)))
        ctx.write("\n\n")


def _kmem_V(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    stats = mm.vm_stat(kernel)
    width = max((len(n) for n, _ in stats.zone + stats.node + stats.numa), default=0)
    title = "VM_ZONE_STAT" if kernel.has_symbol("vm_zone_stat") else "VM_STAT"
    out = [f"  {title}:\n"] + [f"{n:>{width}}: {v}\n" for n, v in stats.zone]
    if stats.node:
        out += ["\n  VM_NODE_STAT:\n"] + [f"{n:>{width}}: {v}\n" for n, v in stats.node]
    if stats.numa:
        out += ["\n  VM_NUMA_STAT:\n"] + [f"{n:>{width}}: {v}\n" for n, v in stats.numa]
    events = mm.vm_events(kernel)
    if events:
        width = max(len(n) for n, _ in events)
        out += ["\n  VM_EVENT_STATES:\n"] + [f"{n:>{width}}: {v}\n" for n, v in events]
    ctx.write("".join(out))


def _kmem_o(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    lines = ["PER-CPU OFFSET VALUES:\n"]
    for cpu in range(tasks.cpu_count(kernel)):
        lines.append(f"{'CPU ' + str(cpu):>7}: {kernel.per_cpu_offset(cpu) & 0xFFFFFFFFFFFFFFFF:x}\n")
    ctx.write("".join(lines))


def _kmem_n(ctx: CommandContext) -> None:
    """crash's ``dump_memory_nodes()``, ``dump_mem_sections()`` and ``dump_memory_blocks()``."""
    kernel = ctx.kernel
    zone_size = kernel.sizeof("struct zone")
    zones = mm.zones(kernel)
    zone_hdr = f"ZONE  NAME         SIZE  {mkstring('MEM_MAP', VADDR_PRLEN, 'cr')}  START_PADDR  START_MAPNR"
    out: list[str] = []
    for n, node in enumerate(mm.nodes(kernel)):
        if n:
            out.append("\n" + "-" * len(zone_hdr))
        first_zone = node.pgdat + kernel.offsetof("struct pglist_data", "node_zones")
        out.append(
            f"{chr(10) * 2 if n else ''}NODE  {mkstring('SIZE', 8, 'c')}  {mkstring('PGLIST_DATA', 16, 'cl')}  "
            f"{mkstring('BOOTMEM_DATA', 16, 'cl')}  {mkstring('NODE_ZONES', 16, 'cl')}\n"
        )
        size = mkstring(str(node.spanned), 8, "cl")
        pgdat = mkstring(f"{node.pgdat:x}", 16, "cl")
        bdata = mkstring("----", 16, "c")
        out.append(f" {node.id:2d}   {size}  {pgdat}  {bdata}  {mkstring(f'{first_zone:x}', 16, 'cl')}\n")
        node_zones = [z for z in zones if z.node == n]
        indent = " " * (12 + len(size) + len(pgdat) + len(bdata))
        out += [f"{indent}{first_zone + i * zone_size:x}\n" for i in range(1, len(node_zones))]
        mem_map = mm.pfn_to_page(kernel, node.start_pfn) or 0
        out.append(f"{mkstring('MEM_MAP', VADDR_PRLEN, 'cl')}     START_PADDR    START_MAPNR\n")
        out.append(
            f"{mkstring(f'{mem_map:x}', VADDR_PRLEN, 'c')}  {mkstring(f'{node.start_pfn << 12:x}', 16, 'cr')}  "
            f"{mkstring(str(node.start_pfn), 11, 'cr')}\n"
        )
        out.append(f"\n{zone_hdr}\n")
        for zone in node_zones:
            zone_map = (mm.pfn_to_page(kernel, zone.start_pfn) or 0) if zone.spanned else 0
            mapnr = zone.start_pfn if zone.spanned else 0
            out.append(
                f" {zone.index:2d}   {zone.name:<9} {zone.spanned:7d}  {zone_map:>16x}  "
                f"{zone.start_pfn << 12:>11x}  {mapnr:>11d}\n"
            )
    out.append("\n" + "-" * 67 + "\n\n")
    out.append(
        f"NR  {mkstring('SECTION', 16, 'cl')}  {mkstring('CODED_MEM_MAP', 16, 'cl')}  "
        f"{mkstring('MEM_MAP', 16, 'cl')}  STATE PFN\n"
    )
    for section in mm.valid_sections(kernel):
        state = "".join(c for bit, c in enumerate("PMOED") if section.raw >> bit & 1)
        pfn = f"{section.first_pfn:d}" if ctx.radix == 10 else f"{section.first_pfn:x}"
        out.append(
            f"{section.nr:2d}  {mkstring(f'{section.address:x}', 16, 'c')}  "
            f"{mkstring(f'{section.coded_mem_map:x}', 16, 'cr')}  {mkstring(f'{section.mem_map:x}', 16, 'cr')}  "
            f"{mkstring(state, 5, 'c')} {pfn:<16}\n"
        )
    blocks = mm.memory_blocks(kernel)
    if blocks:
        out.append(_memory_blocks(kernel, blocks))
    ctx.write("".join(out))


_BLOCK_STATES = {1: "ONLINE", 2: "GOING_OFFLINE", 4: "OFFLINE", 8: "GOING_ONLINE", 16: "CANCEL_ONLINE",
                 32: "CANCEL_OFFLINE"}  # fmt: skip


def _memory_blocks(kernel: Kernel, blocks: list[mm.MemoryBlock]) -> str:
    """crash's ``dump_memory_blocks()`` table."""
    width = paddr_prlen(kernel)
    title = "PHYSICAL RANGE" if blocks[0].end is not None else "PHYSICAL START"
    with_nid = blocks[0].nid is not None
    if with_nid:
        out = [
            f"\n{mkstring('MEM_BLOCK', 16, 'cl')} {mkstring('NAME', 10, 'c')}   "
            f"{mkstring(title, width * 2 + 2, 'c')}   NODE  STATE   {mkstring('START_SECTION_NO', 12)}\n"
        ]
    else:
        out = [
            f"\n{mkstring('MEM_BLOCK', 16, 'cl')} {mkstring('NAME', 10, 'c')}   "
            f"{mkstring(title, width * 2, 'c')}    STATE   {mkstring('START_SECTION_NO', 12)}\n"
        ]
    for block in blocks:
        if block.end is None:
            span = mkstring(f"{block.start:x}", width * 2 + 3, "c")
        else:
            span = f"{block.start:>{width}x} - {block.end:>{width}x}"
        state = mkstring(_BLOCK_STATES.get(block.state, "UNKNOWN"), 7)
        section = mkstring(str(block.start_section), 12)
        if with_nid:
            nid = mkstring(str(block.nid), 4, "c")
            out.append(
                f" {block.address:<16x} {mkstring(block.name, 12, 'c')} {span} {nid}  {state} {section}\n"
            )
        else:
            out.append(f" {block.address:<16x} {mkstring(block.name, 10, 'c')} {span}  {state} {section}\n")
    return "".join(out)


# ---- kmem ADDRESS -------------------------------------------------------------------------------------------


def _in_symbol_range(kernel: Kernel, address: int) -> bool:
    """Kernel image (``_stext`` .. ``_end``) or module space, where crash first looks for a symbol."""
    try:
        if kernel.symbol("_stext") <= address <= kernel.symbol("_end"):
            return True
    except SymbolNotFound:
        pass
    return layout.layout(kernel).is_module_addr(address)


def _task_of_struct(kernel: Kernel, address: int) -> int | None:
    """crash's ``vaddr_in_task_struct()``: the task whose ``task_struct`` holds *address*.  crash takes the
    first task (by pid) within ``sizeof(struct task_struct)``, which exceeds the slab object (the FPU
    state is sized at boot), so it can name the task allocated just before; we take the nearest one."""
    size = kernel.sizeof("struct task_struct")
    holders = [t.address for t in tasks.for_each_task(kernel) if t.address <= address < t.address + size]
    return max(holders, default=None)


def _task_of_stack(kernel: Kernel, address: int) -> int | None:
    """crash's ``stkptr_to_task()``: the task whose kernel stack holds *address*."""
    size = layout.thread_size(kernel)
    return next((t.address for t in tasks.for_each_task(kernel) if t.stack <= address < t.stack + size), None)


def _phys_to_vmalloc(kernel: Kernel, physical: int) -> tuple[mm.VmapArea, int] | None:
    """The vmalloc area and address mapping *physical* (crash's ``GET_PHYS_TO_VMALLOC`` scan)."""
    for area in mm.vmap_areas(kernel):
        for page in range(area.start, area.end, 4096):
            walk = pagetable.translate(kernel, page)
            if walk.physical is not None and walk.physical >> 12 == physical >> 12:
                return area, page + (physical & 4095)
    return None


def _symbol_block(ctx: CommandContext, address: int) -> None:
    """crash's ``show_symbol()`` line, which is what ``sym ADDRESS`` prints."""
    if ctx.session.lookup("sym") is None:
        return
    buffer = io.StringIO()
    ctx.session.run_argv("sym", [f"{address:x}"], buffer)
    text = buffer.getvalue()
    if text and not text.startswith("sym:"):
        ctx.write(text + "\n")


def _kmem_search(ctx: CommandContext, address: int) -> None:
    """crash's ``kmem_search()``: each subsystem that owns *address*, then its page struct."""
    kernel = ctx.kernel
    lay = layout.layout(kernel)
    virtual = lay.is_kvaddr(address)
    vaddr = address if virtual else (kernel.phys_to_virt(address) if address < _high_memory(kernel) else None)
    if vaddr is not None and _in_symbol_range(kernel, vaddr):
        _symbol_block(ctx, vaddr)
    if virtual and lay.is_vmalloc_addr(address):
        owner = _task_of_stack(kernel, address)
        if owner is not None:
            ctx.write(tasks.render_context(kernel, owner) + "\n")
        walk = pagetable.translate(kernel, address)
        if walk.physical is not None and _kmem_vmlist(ctx, _State(), address):
            ctx.write("\n")
            _search_page(ctx, walk.physical, False)
            return
    if not virtual:
        hit = _phys_to_vmalloc(kernel, address)
        if hit is not None:
            area, mapped = hit
            owner = _task_of_stack(kernel, mapped)
            if owner is not None:
                ctx.write(tasks.render_context(kernel, owner) + "\n")
            _symbol_block(ctx, mapped)
            ctx.write(_vmlist_header() + _vmlist_row(area) + "\n")
            _search_page(ctx, address, False)
            return
    if vaddr is not None:
        for found, only in (
            (slub.slab_of_address(kernel, vaddr), vaddr),
            (slub.slab_page_cache(kernel, vaddr), None),
        ):
            if found is not None:
                cache, slab = found
                ctx.write(KMEM_CACHE_HDR)
                _cache_row(ctx, cache)
                _write_slab(ctx, cache, slab, only)
                ctx.write("\n")
    # crash's free-page search runs here; it reports an address whose page struct cannot be found
    if not virtual or mm.page_to_pfn(kernel, address) is None:
        physical = pagetable.kvtop(kernel, address) if virtual else address
        if physical is not None and mm.phys_to_page(kernel, physical) is None:
            ctx.write(f"kmem: cannot determine page for {address:x}\n")
    if vaddr is not None:
        owner = _task_of_struct(kernel, vaddr)
        if owner is None:
            owner = _task_of_stack(kernel, vaddr)
        if owner is not None:
            ctx.write(tasks.render_context(kernel, owner) + "\n")
    if vaddr is None:
        ctx.write(f"{address:x}: physical address not found in mem map\n")
    else:
        _search_page(ctx, address, virtual)


def _search_page(ctx: CommandContext, address: int, virtual: bool) -> None:
    if not _dump_page(ctx, _State(), address, virtual):
        ctx.write(
            f"{address:x}: {'kernel virtual' if virtual else 'physical'} address not found in mem map\n"
        )


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [kmem]
