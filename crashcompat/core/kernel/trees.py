"""Generic tree walks the way crash's ``tree`` command does them (tools.c ``rbtree_iteration``,
``do_xarray_traverse``; maple_tree.c ``do_maple_tree_traverse``): every node or slot crash visits, with
the position crash names it by.

- red-black trees: ``struct rb_root`` / ``struct rb_node`` (``rb_left``, ``rb_right``), root first then
  left then right, or in key order;
- xarrays (and radix trees, which are xarrays since 4.20, commit f8d5d0cc145c "xarray: Add definition
  of struct xarray"): ``xa_head`` and ``struct xa_node`` (``shift``, ``slots[XA_CHUNK_SIZE]``), every
  non-NULL slot at the leaf level, crash's height taken from the top node's ``shift``;
- maple trees (6.1, commit 54a611b60590 "Maple Tree: add new data structure"): the non-NULL entries, or
  every node and slot as crash's ``tree -t maple -v`` dumps them (``struct maple_node``: ``parent``,
  ``slot[]`` of ``maple_dense``, ``mr64``/``ma64`` ``pivot[]``, ``slot[]``, ``gap[]``, ``meta``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "MapleBadPivot",
    "MapleEntry",
    "MapleEvent",
    "MapleNode",
    "MapleTreeHead",
    "MapleUnknown",
    "TreeEntry",
    "maple_dump",
    "maple_entry_kind",
    "maple_walk",
    "rbtree_walk",
    "xarray_walk",
]

_XA_TAG_MASK = 3
_XA_TAG_INTERNAL = 2


@dataclass(frozen=True)
class TreeEntry:
    """A visited node or slot: :param value: the ``rb_node *`` / slot value; :param position: crash's
    ``root/l/r`` or ``root/3/17`` path; :param index: the slot's index (xarrays), the first index of the
    entry's range (maple trees)."""

    value: int
    position: str
    index: int = 0


class TreeError(TargetError):
    """crash's fatal tree messages (a duplicate node, a corrupted link)."""


def rbtree_walk(kernel: Kernel, start: int, *, node_pointer: bool = False, linear: bool = False,
                warnings: list[str] | None = None) -> Iterator[TreeEntry]:  # fmt: skip
    """The nodes of a red-black tree from a ``struct rb_root *`` (or, with *node_pointer*, a
    ``struct rb_node *``): pre-order as crash prints them, or in key order with *linear*.  A child whose
    own ``rb_left`` cannot be read is skipped with crash's message appended to *warnings*."""
    left_off = kernel.offsetof("struct rb_node", "rb_left")
    right_off = kernel.offsetof("struct rb_node", "rb_right")
    root = (
        start if node_pointer else kernel.read_pointer(start + kernel.offsetof("struct rb_root", "rb_node"))
    )
    seen: set[int] = set()

    def child(node: int, offset: int, side: str) -> int:
        try:
            value = kernel.read_pointer(node + offset)
        except FaultError:
            return 0
        if not value:
            return 0
        try:
            kernel.read_pointer(value + left_off)
        except FaultError:
            if warnings is not None:
                warnings.append(f"rb_node: {node:x}: corrupted rb_{side} pointer: {value:x}")
            return 0
        return value

    def visit(node: int, position: str) -> Iterator[TreeEntry]:
        if not node:
            return
        if node in seen:
            raise TreeError(f"\nduplicate tree entry: {node:x}")
        seen.add(node)
        left = child(node, left_off, "left")
        if linear and left:
            yield from visit(left, f"{position}/l")
        yield TreeEntry(node, position)
        if not linear and left:
            yield from visit(left, f"{position}/l")
        right = child(node, right_off, "right")
        if right:
            yield from visit(right, f"{position}/r")

    yield from visit(root, "root")


def xarray_walk(kernel: Kernel, start: int, *, node_pointer: bool = False) -> Iterator[TreeEntry]:
    """crash's ``do_xarray_traverse()`` from a ``struct xarray *`` (or an ``xa_node`` with
    *node_pointer*): a head that is not a node is the one "direct" entry (even NULL); under a node
    every non-NULL leaf slot, internal tags dropped."""
    slots = kernel.member("struct xa_node", "slots")
    chunk = slots.size // 8
    chunk_shift = chunk.bit_length() - 1
    shift_off = kernel.offsetof("struct xa_node", "shift")
    height = 0
    if node_pointer:
        node = start & ~_XA_TAG_MASK if start & _XA_TAG_MASK == _XA_TAG_INTERNAL else start
        height = kernel.read(node + shift_off, 1)[0] // chunk_shift + 1
    else:
        node = kernel.read_pointer(start + kernel.offsetof("struct xarray", "xa_head"))
        internal = node & _XA_TAG_MASK == _XA_TAG_INTERNAL
        node &= ~_XA_TAG_MASK
        if internal:
            height = kernel.read(node + shift_off, 1)[0] // chunk_shift + 1
    if height == 0:
        yield TreeEntry(node, "direct", 0)
        return
    seen: set[int] = set()

    def visit(node: int, level: int, path: str, index: int) -> Iterator[TreeEntry]:
        if node in seen:
            raise TreeError(f"\nduplicate tree node: {node:x}")
        seen.add(node)
        shift = (level - 1) * chunk_shift
        values = kernel.target.read_pointers(node + slots.offset, chunk)
        for off, slot in enumerate(values):
            if not slot:
                continue
            if slot & _XA_TAG_MASK == _XA_TAG_INTERNAL:
                slot &= ~_XA_TAG_INTERNAL
            if level == 1:
                yield TreeEntry(slot, path, index | off)
            else:
                yield from visit(slot, level - 1, f"{path}/{off}", index | (off << shift))

    yield from visit(node, height, "root", 0)


def maple_walk(kernel: Kernel, start: int) -> Iterator[TreeEntry]:
    """The non-NULL entries of a ``struct maple_tree *`` in index order, each with crash's ``-p`` path
    (:func:`maple_dump`'s visit, its entries only)."""
    for event in maple_dump(kernel, start):
        if isinstance(event, MapleEntry) and event.value:
            yield TreeEntry(event.value, f"{event.position}/{event.index}", event.minimum)


# ---- maple trees, as crash's tree -t maple visits them ---------------------------------------------------------

#: ``enum maple_type``; crash's ``mt_max[]`` of the 64-bit node types (``maple_dense``: its slot count).
_MAPLE_DENSE, _MAPLE_LEAF_64, _MAPLE_RANGE_64, _MAPLE_ARANGE_64 = range(4)
_MAPLE_NODE_MASK = 255
_MAPLE_RESERVED_RANGE = 4096
_ULONG_MAX = (1 << 64) - 1
_XA_ZERO_ENTRY = (257 << 2) | 2


@dataclass(frozen=True)
class MapleTreeHead:
    """``maple_tree(ADDR) flags F, height H root R``: a ``struct maple_tree``'s head (``-v``)."""

    address: int
    flags: int
    height: int
    root: int


@dataclass(frozen=True)
class MapleNode:
    """A node crash visits: its range, *depth*, *type* (``enum maple_type``), ``parent`` and, for the
    ``-v`` dump, its *contents* (pivots and slots, and for ``maple_arange_64`` the gaps and metadata)."""

    minimum: int
    maximum: int
    depth: int
    address: int
    type: int
    parent: int
    slots: tuple[int, ...]
    pivots: tuple[int, ...]
    gaps: tuple[int, ...] = ()
    meta_end: int = 0
    meta_gap: int = 0


@dataclass(frozen=True)
class MapleEntry:
    """A slot of a leaf (NULL ones too: ``-v`` shows them): its range, *depth*, *value*, and crash's
    ``-p`` *position* (the path of node slots from ``root``, or ``direct`` for a node given by -N)."""

    minimum: int
    maximum: int
    depth: int
    value: int
    position: str
    index: int
    out_of_range: bool = False  # a dense node's slot past the node's maximum


@dataclass(frozen=True)
class MapleUnknown:
    """A node of a type crash does not know (`` UNKNOWN TYPE``)."""


@dataclass(frozen=True)
class MapleBadPivot:
    """``node ADDR last (L) > max (M) at pivot I!``: a pivot beyond its node's range."""

    node_data: int
    last: int
    maximum: int
    pivot: int


MapleEvent = MapleTreeHead | MapleNode | MapleEntry | MapleUnknown | MapleBadPivot


def maple_dump(kernel: Kernel, start: int, *, node_pointer: bool = False) -> Iterator[MapleEvent]:
    """crash's ``do_maple_tree_traverse`` of a ``struct maple_tree *`` (or, with *node_pointer*, of an
    encoded ``struct maple_enode *``), in crash's order: the tree's head, then each node before its slots
    and each leaf slot; every node read whole (``struct maple_node``).  ``mt_slots[]`` is the kernel's."""
    node_size = kernel.sizeof("struct maple_node")
    parent_off = kernel.offsetof("struct maple_node", "parent")
    dense_off = kernel.offsetof("struct maple_node", "slot")
    mr64 = kernel.offsetof("struct maple_node", "mr64")
    ma64 = kernel.offsetof("struct maple_node", "ma64")
    r_piv, r_slot = (kernel.offsetof("struct maple_range_64", m) for m in ("pivot", "slot"))
    a_piv, a_slot, a_gap = (kernel.offsetof("struct maple_arange_64", m) for m in ("pivot", "slot", "gap"))
    a_meta = kernel.offsetof("struct maple_arange_64", "meta")
    m_end, m_gap = (kernel.offsetof("struct maple_metadata", m) for m in ("end", "gap"))
    try:
        counts = kernel.read(kernel.symbol("mt_slots"), 4)
    except (FaultError, TargetError):
        counts = bytes(
            [
                kernel.member("struct maple_node", "slot").size // 8,
                16,
                16,
                kernel.member("struct maple_arange_64", "slot").size // 8,
            ]
        )
    maxima = {_MAPLE_DENSE: counts[_MAPLE_DENSE], _MAPLE_LEAF_64: _ULONG_MAX, _MAPLE_RANGE_64: _ULONG_MAX,
              _MAPLE_ARANGE_64: _ULONG_MAX}  # fmt: skip
    budget = [_MAX_MAPLE_NODES]

    def words(data: bytes, offset: int, count: int) -> tuple[int, ...]:
        return tuple(
            int.from_bytes(data[offset + 8 * i : offset + 8 * i + 8], "little") for i in range(count)
        )

    def node(enode: int, low: int, high: int, depth: int, path: str) -> Iterator[MapleEvent]:
        budget[0] -= 1
        if budget[0] < 0 or depth > 64:
            raise TreeError(f"maple tree: more than {_MAX_MAPLE_NODES} nodes, or deeper than 64")
        address, kind = enode & ~_MAPLE_NODE_MASK, (enode >> 3) & 0xF
        data = kernel.read(address, node_size)
        parent = int.from_bytes(data[parent_off : parent_off + 8], "little")
        if kind == _MAPLE_DENSE:
            slots = words(data, dense_off, counts[_MAPLE_DENSE])
            yield MapleNode(low, high, depth, address, kind, parent, slots, ())
            for i, value in enumerate(slots):
                yield MapleEntry(low + i, low + i, depth, value, path, i, low + i > high)
            return
        if kind not in (_MAPLE_LEAF_64, _MAPLE_RANGE_64, _MAPLE_ARANGE_64):
            yield MapleNode(low, high, depth, address, kind, parent, (), ())
            yield MapleUnknown()
            return
        arange = kind == _MAPLE_ARANGE_64
        base = ma64 if arange else mr64
        n = counts[kind]
        slots = words(data, base + (a_slot if arange else r_slot), n)
        pivots = words(data, base + (a_piv if arange else r_piv), n - 1)
        if arange:
            meta = base + a_meta
            yield MapleNode(low, high, depth, address, kind, parent, slots, pivots, words(data, base + a_gap, n),
                            data[meta + m_end], data[meta + m_gap])  # fmt: skip
        else:
            yield MapleNode(low, high, depth, address, kind, parent, slots, pivots)
        leaf = kind < _MAPLE_RANGE_64
        first = low
        for i in range(n):
            last = high
            if i < n - 1:
                last = pivots[i]
            elif not slots[i] and (arange or high != maxima[kind]):
                break
            if last == 0 and i > 0:
                break
            if leaf:
                yield MapleEntry(first, last, depth + 1, slots[i], path, i)
            elif slots[i]:
                yield from node(slots[i], first, last, depth + 1, f"{path}/{i}")
            if last == high:
                break
            if last > high:
                yield MapleBadPivot(address + base, last, high, i)
                break
            first = last + 1

    if node_pointer:
        yield from node(start, 0, maxima.get((start >> 3) & 0xF, _ULONG_MAX), 0, "direct")
        return
    root = kernel.read_pointer(start + kernel.offsetof("struct maple_tree", "ma_root"))
    flags = kernel.read_u32(start + kernel.offsetof("struct maple_tree", "ma_flags"))
    yield MapleTreeHead(start, flags, (flags & 0x7C) >> 2, root)
    if not (root & 3 == 2 and root > _MAPLE_RESERVED_RANGE):  # !xa_is_node(): one entry, or none
        yield MapleEntry(0, 0, 0, root, "", 0)
    elif root:
        yield from node(root, 0, maxima.get((root >> 3) & 0xF, _ULONG_MAX), 0, "root")


#: Nodes a maple-tree dump reads before it gives up (a cycle in a damaged tree).
_MAX_MAPLE_NODES = 1 << 20


def maple_entry_kind(value: int) -> str:
    """How crash's ``-v`` dump shows a slot: ``value``, ``zero``, ``reserved`` or ``pointer``."""
    if value & 1:
        return "value"
    if value == _XA_ZERO_ENTRY:
        return "zero"
    if value < _MAPLE_RESERVED_RANGE and value & 3 == 2:
        return "reserved"
    return "pointer"
