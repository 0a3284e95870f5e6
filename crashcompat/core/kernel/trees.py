"""Generic tree walks the way crash's ``tree`` command does them (tools.c ``rbtree_iteration``,
``do_xarray_traverse``; maple_tree.c ``do_maple_tree_traverse``): every node or slot crash visits, with
the position crash names it by.

- red-black trees: ``struct rb_root`` / ``struct rb_node`` (``rb_left``, ``rb_right``), root first then
  left then right, or in key order;
- xarrays (and radix trees, which are xarrays since 4.20, commit f8d5d0cc145c "xarray: Add definition
  of struct xarray"): ``xa_head`` and ``struct xa_node`` (``shift``, ``slots[XA_CHUNK_SIZE]``), every
  non-NULL slot at the leaf level, crash's height taken from the top node's ``shift``;
- maple trees (6.1, commit 54a611b60590 "Maple Tree: add new data structure"): the non-NULL entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.mm import maple_tree_entries
from crashcompat.core.target import FaultError, TargetError

__all__ = ["TreeEntry", "maple_walk", "rbtree_walk", "xarray_walk"]

_XA_TAG_MASK = 3
_XA_TAG_INTERNAL = 2


@dataclass(frozen=True)
class TreeEntry:
    """A visited node or slot: :param value: the ``rb_node *`` / slot value; :param position: crash's
    ``root/l/r`` or ``root/3/17`` path; :param index: the slot's index (xarrays)."""

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
    """The non-NULL entries of a ``struct maple_tree *`` in index order."""
    for entry in maple_tree_entries(kernel, start):
        yield TreeEntry(entry, "")
