"""Walking the kernel's linked containers: ``struct list_head``, ``struct hlist_head`` and ``struct xarray``.

Every walk is bounded: a seen-set stops cycles that do not pass through the head, *limit* caps the
number of nodes, and a NULL or unreadable link ends the walk.  What happens on such corruption is the
caller's choice (*on_error*):

- ``"raise"`` (default) raises :class:`ListError` (a :class:`~crashcompat.core.target.TargetError`, so a
  command that lets it through prints a crash-style ``<cmd>: ...`` line);
- ``"stop"`` ends the iteration quietly after the last good node (for ``ps``-like views that should show
  what they can).

Addresses go in and come out as plain ``int``; wrap them with :meth:`Kernel.struct` when fields are needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from crashcompat.core.kernel import Kernel
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "DEFAULT_LIMIT",
    "ListError",
    "OnError",
    "hlist_for_each",
    "hlist_for_each_entry",
    "list_count",
    "list_empty",
    "list_for_each",
    "list_for_each_entry",
    "rbtree_inorder",
    "xarray_for_each",
]

#: Upper bound on nodes visited by one walk unless the caller gives its own *limit*.
DEFAULT_LIMIT = 1 << 20

OnError = Literal["raise", "stop"]


class ListError(TargetError):
    """A list walk met corruption: a NULL or unreadable link, a cycle, or more than *limit* nodes.

    :param address: the offending node (or link) address.
    :param kind: ``"null"``, ``"fault"``, ``"cycle"`` or ``"limit"``.
    """

    def __init__(self, address: int, kind: str, message: str) -> None:
        self.address = address
        self.kind = kind
        super().__init__(message)


def _fail(on_error: OnError, address: int, kind: str, message: str) -> None:
    """Raise :class:`ListError` for ``"raise"``; the caller then stops (``"stop"``)."""
    if on_error == "raise":
        raise ListError(address, kind, message)


def list_for_each(
    kernel: Kernel,
    head: int,
    limit: int = DEFAULT_LIMIT,
    *,
    reverse: bool = False,
    on_error: OnError = "raise",
) -> Iterator[int]:
    """Yield each node of a circular doubly linked list, excluding *head* itself.

    :param head: ``struct list_head *`` — the list's head (not itself an entry).
    :param limit: the most nodes to yield.
    :param reverse: follow ``prev`` instead of ``next`` (crash's ``list -r``).
    :returns: each ``struct list_head *`` node address, in list order.
    """
    link = kernel.offsetof("struct list_head", "prev" if reverse else "next")
    seen: set[int] = set()
    node = head
    while True:
        try:
            node = kernel.read_pointer(node + link)
        except FaultError as e:
            _fail(on_error, e.address, "fault", f"invalid list entry: cannot read {node:x}")
            return
        if node == head:
            return
        if node == 0:
            _fail(on_error, node, "null", "list ends in a NULL pointer")
            return
        if node in seen:
            _fail(on_error, node, "cycle", f"duplicate list entry: {node:x}")
            return
        if len(seen) >= limit:
            _fail(on_error, node, "limit", f"list longer than {limit} entries")
            return
        seen.add(node)
        yield node


def list_for_each_entry(
    kernel: Kernel,
    head: int,
    type_name: str,
    member: str,
    limit: int = DEFAULT_LIMIT,
    *,
    reverse: bool = False,
    on_error: OnError = "raise",
) -> Iterator[int]:
    """Yield the address of each entry of type *type_name* linked through its ``struct list_head`` *member*
    (``list_for_each_entry(pos, head, member)``).

    :param head: ``struct list_head *``.
    :param type_name: the entries' C type, e.g. ``"struct task_struct"``.
    :param member: the ``struct list_head`` member path inside *type_name*, e.g. ``"tasks"``.
    """
    offset = kernel.offsetof(type_name, member)
    for node in list_for_each(kernel, head, limit, reverse=reverse, on_error=on_error):
        yield node - offset


def list_empty(kernel: Kernel, head: int) -> bool:
    """``list_empty(head)``.  :param head: ``struct list_head *``."""
    return kernel.read_pointer(head + kernel.offsetof("struct list_head", "next")) == head


def list_count(kernel: Kernel, head: int, limit: int = DEFAULT_LIMIT, *, on_error: OnError = "raise") -> int:
    """Number of nodes on the list at *head* (``struct list_head *``)."""
    return sum(1 for _ in list_for_each(kernel, head, limit, on_error=on_error))


def hlist_for_each(
    kernel: Kernel, head: int, limit: int = DEFAULT_LIMIT, *, on_error: OnError = "raise"
) -> Iterator[int]:
    """Yield each node of a NULL-terminated hash list.

    :param head: ``struct hlist_head *``.
    :returns: each ``struct hlist_node *`` address.
    """
    link = kernel.offsetof("struct hlist_node", "next")
    seen: set[int] = set()
    where = head + kernel.offsetof("struct hlist_head", "first")
    while True:
        try:
            node = kernel.read_pointer(where)
        except FaultError as e:
            _fail(on_error, e.address, "fault", f"invalid hlist entry: cannot read {where:x}")
            return
        if node == 0:
            return
        if node in seen:
            _fail(on_error, node, "cycle", f"duplicate list entry: {node:x}")
            return
        if len(seen) >= limit:
            _fail(on_error, node, "limit", f"list longer than {limit} entries")
            return
        seen.add(node)
        yield node
        where = node + link


def hlist_for_each_entry(
    kernel: Kernel,
    head: int,
    type_name: str,
    member: str,
    limit: int = DEFAULT_LIMIT,
    *,
    on_error: OnError = "raise",
) -> Iterator[int]:
    """Yield each entry of a hash list linked through its ``struct hlist_node`` *member*.

    :param head: ``struct hlist_head *``.
    :param type_name: the entries' C type; :param member: the ``struct hlist_node`` member path.
    """
    offset = kernel.offsetof(type_name, member)
    for node in hlist_for_each(kernel, head, limit, on_error=on_error):
        yield node - offset


# ---- xarray (include/linux/xarray.h; also the IDR and the radix tree since 4.20) -------------------------

_XA_INTERNAL = 2  # xa_is_internal(): low two bits == 0b10
_XA_NODE_MIN = 4096  # xa_is_node(): an internal entry above 4096 points to a struct xa_node


def xarray_for_each(
    kernel: Kernel, xa: int, limit: int = DEFAULT_LIMIT, *, on_error: OnError = "raise"
) -> Iterator[tuple[int, int]]:
    """Yield ``(index, entry)`` for every present entry of an xarray, in index order.

    Value entries (``xa_mk_value``) are yielded as stored; internal entries that are not nodes (sibling,
    retry and zero entries) are skipped.  An IDR's ``idr_rt`` and a radix tree root (``struct
    radix_tree_root`` is ``struct xarray`` since 4.20, commit f8d5d0cc145c "xarray: Add definition of
    struct xarray") are walked the same way.

    :param xa: ``struct xarray *``.
    """
    head = kernel.read_pointer(xa + kernel.offsetof("struct xarray", "xa_head"))
    slots = kernel.member("struct xa_node", "slots")
    shift_off = kernel.offsetof("struct xa_node", "shift")
    nslots = slots.size // 8
    count = 0
    # Depth-first, index order: a stack of (entry, base index) pairs, pushed in reverse.
    stack: list[tuple[int, int]] = [(head, 0)]
    seen: set[int] = set()
    while stack:
        entry, base = stack.pop()
        if entry == 0:
            continue
        if entry & 3 != _XA_INTERNAL:
            count += 1
            if count > limit:
                _fail(on_error, entry, "limit", f"xarray has more than {limit} entries")
                return
            yield base, entry
            continue
        if entry <= _XA_NODE_MIN:
            continue  # sibling / retry / zero entry
        node = entry - _XA_INTERNAL
        if node in seen:
            _fail(on_error, node, "cycle", f"duplicate xarray node: {node:x}")
            return
        seen.add(node)
        try:
            shift = kernel.read(node + shift_off, 1)[0]
            children = kernel.target.read_pointers(node + slots.offset, nslots)
        except FaultError as e:
            _fail(on_error, e.address, "fault", f"invalid xarray node: {node:x}")
            return
        for i in reversed(range(nslots)):
            if children[i]:
                stack.append((children[i], base + (i << shift)))


# ---- red-black trees (include/linux/rbtree.h) ------------------------------------------------------------


def rbtree_inorder(
    kernel: Kernel, root: int, limit: int = DEFAULT_LIMIT, *, on_error: OnError = "raise"
) -> Iterator[int]:
    """Yield every ``struct rb_node *`` of a ``struct rb_root *`` in key order (``rb_first``/``rb_next``).

    :param root: ``struct rb_root *`` (a ``struct rb_root_cached`` starts with one).
    """
    left_off = kernel.offsetof("struct rb_node", "rb_left")
    right_off = kernel.offsetof("struct rb_node", "rb_right")
    stack: list[int] = []
    seen: set[int] = set()
    try:
        node = kernel.read_pointer(root + kernel.offsetof("struct rb_root", "rb_node"))
    except FaultError as e:
        _fail(on_error, e.address, "fault", f"invalid rb_root: {root:x}")
        return
    while stack or node:
        while node:
            if node in seen or len(seen) >= limit:
                _fail(on_error, node, "cycle" if node in seen else "limit", f"bad rbtree node: {node:x}")
                return
            seen.add(node)
            stack.append(node)
            try:
                node = kernel.read_pointer(node + left_off)
            except FaultError as e:
                _fail(on_error, e.address, "fault", f"invalid rb_node: {node:x}")
                return
        node = stack.pop()
        yield node
        try:
            node = kernel.read_pointer(node + right_off)
        except FaultError as e:
            _fail(on_error, e.address, "fault", f"invalid rb_node: {node:x}")
            return
