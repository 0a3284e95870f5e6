"""list_head / hlist / xarray walking on synthetic memory: order, bounds, cycles and faults."""

from __future__ import annotations

import pytest

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import (
    ListError,
    hlist_for_each,
    hlist_for_each_entry,
    list_count,
    list_empty,
    list_for_each,
    list_for_each_entry,
    xarray_for_each,
)
from crashcompat.testing.synthetic import SyntheticTarget


def _target() -> SyntheticTarget:
    t = SyntheticTarget()
    t.add_struct(
        "struct list_head", 16, {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "struct list_head *")}
    )
    t.add_struct("struct hlist_head", 8, {"first": (0, 8, "struct hlist_node *")})
    t.add_struct(
        "struct hlist_node",
        16,
        {"next": (0, 8, "struct hlist_node *"), "pprev": (8, 8, "struct hlist_node **")},
    )
    # struct item { int value; struct list_head node; struct hlist_node hnode; }
    t.add_struct(
        "struct item",
        48,
        {"value": (0, 4, "int"), "node": (8, 16, "struct list_head"), "hnode": (24, 16, "struct hlist_node")},
    )
    return t


def _circular(t: SyntheticTarget, count: int) -> tuple[int, list[int]]:
    """A list head and *count* struct items linked through ``node``; returns (head, item addresses)."""
    head = t.alloc(16)
    items = [t.alloc(48) for _ in range(count)]
    nodes = [head] + [i + 8 for i in items]
    for i, node in enumerate(nodes):
        t.write_u64(node, nodes[(i + 1) % len(nodes)])
        t.write_u64(node + 8, nodes[i - 1])
    for n, item in enumerate(items):
        t.write_u32(item, n)
    return head, items


def test_list_order_entries_reverse_and_count() -> None:
    t = _target()
    head, items = _circular(t, 5)
    k = Kernel(t)
    assert list(list_for_each(k, head)) == [i + 8 for i in items]
    assert list(list_for_each_entry(k, head, "struct item", "node")) == items
    assert list(list_for_each_entry(k, head, "struct item", "node", reverse=True)) == items[::-1]
    assert list_count(k, head) == 5
    assert not list_empty(k, head)


def test_empty_list() -> None:
    t = _target()
    head, _ = _circular(t, 0)
    k = Kernel(t)
    assert list_empty(k, head)
    assert list(list_for_each(k, head)) == []


def test_cycle_not_through_head_is_bounded() -> None:
    t = _target()
    head, items = _circular(t, 4)
    t.write_u64(items[3] + 8, items[1] + 8)  # item3.next -> item1: a loop that never returns to head
    k = Kernel(t)
    with pytest.raises(ListError) as err:
        list(list_for_each(k, head))
    assert err.value.kind == "cycle"
    assert err.value.address == items[1] + 8
    assert "duplicate list entry" in str(err.value)
    assert list(list_for_each(k, head, on_error="stop")) == [i + 8 for i in items]


def test_null_and_unreadable_links() -> None:
    t = _target()
    head, items = _circular(t, 3)
    t.write_u64(items[1] + 8, 0)
    k = Kernel(t)
    with pytest.raises(ListError) as err:
        list(list_for_each(k, head))
    assert err.value.kind == "null"
    assert list(list_for_each(k, head, on_error="stop")) == [items[0] + 8, items[1] + 8]

    t.write_u64(items[1] + 8, 0xDEAD0000)  # unmapped
    k = Kernel(t)
    with pytest.raises(ListError) as err:
        list(list_for_each(k, head))
    assert err.value.kind == "fault"
    assert list(list_for_each(k, head, on_error="stop")) == [items[0] + 8, items[1] + 8, 0xDEAD0000]


def test_limit() -> None:
    t = _target()
    head, _ = _circular(t, 10)
    k = Kernel(t)
    with pytest.raises(ListError) as err:
        list(list_for_each(k, head, limit=4))
    assert err.value.kind == "limit"
    assert len(list(list_for_each(k, head, limit=4, on_error="stop"))) == 4


def test_hlist() -> None:
    t = _target()
    head = t.alloc(8)
    items = [t.alloc(48) for _ in range(3)]
    t.write_u64(head, items[0] + 24)
    t.write_u64(items[0] + 24, items[1] + 24)
    t.write_u64(items[1] + 24, items[2] + 24)
    k = Kernel(t)
    assert list(hlist_for_each(k, head)) == [i + 24 for i in items]
    assert list(hlist_for_each_entry(k, head, "struct item", "hnode")) == items
    t.write_u64(items[2] + 24, items[0] + 24)  # cycle
    k = Kernel(t)
    with pytest.raises(ListError):
        list(hlist_for_each(k, head))
    assert len(list(hlist_for_each(k, head, on_error="stop"))) == 3


def _xarray_target() -> SyntheticTarget:
    t = SyntheticTarget()
    t.add_struct(
        "struct xarray",
        16,
        {"xa_lock": (0, 4, "spinlock_t"), "xa_flags": (4, 4, "gfp_t"), "xa_head": (8, 8, "void *")},
    )
    t.add_struct(
        "struct xa_node",
        576,
        {
            "shift": (0, 1, "unsigned char"),
            "offset": (1, 1, "unsigned char"),
            "slots": (40, 512, "void *[64]"),
        },
    )
    return t


def test_xarray_single_entry_and_two_levels() -> None:
    t = _xarray_target()
    xa = t.alloc(16)
    k = Kernel(t)
    assert list(xarray_for_each(k, xa)) == []
    t.write_u64(xa + 8, 0xFFFF888000123400)  # a lone pointer entry sits at index 0
    assert list(xarray_for_each(Kernel(t), xa)) == [(0, 0xFFFF888000123400)]

    # Root node (shift 6) with children at slots 0 and 2; leaves (shift 0) hold entries.
    root, leaf0, leaf2 = t.alloc(576), t.alloc(576), t.alloc(576)
    t.write(root, bytes([6]))
    t.write_u64(root + 40 + 8 * 0, leaf0 | 2)
    t.write_u64(root + 40 + 8 * 2, leaf2 | 2)
    t.write_u64(leaf0 + 40 + 8 * 5, 0xFFFF888000AAA000)
    t.write_u64(leaf0 + 40 + 8 * 7, (5 << 2) | 2)  # a sibling entry: skipped
    t.write_u64(leaf2 + 40 + 8 * 1, 0xFFFF888000BBB000)
    t.write_u64(xa + 8, root | 2)
    assert list(xarray_for_each(Kernel(t), xa)) == [(5, 0xFFFF888000AAA000), (129, 0xFFFF888000BBB000)]

    t.write_u64(leaf2 + 40 + 8 * 3, root | 2)  # a node that points back up: a cycle
    with pytest.raises(ListError):
        list(xarray_for_each(Kernel(t), xa))
    assert len(list(xarray_for_each(Kernel(t), xa, on_error="stop"))) == 2


def test_list_command_brent_finds_a_loop_away_from_the_start() -> None:
    """``list -B`` on S -> A -> B -> C -> B: the entries until Brent's algorithm meets the loop again, the
    loop's length (2: B, C), how far from the start it begins (2: S, A), and the entry where it does."""
    from crashcompat.core.session import Session

    t = SyntheticTarget()
    s, a, b, c = (t.alloc(16) for _ in range(4))
    for node, following in ((s, a), (a, b), (b, c), (c, b)):
        t.write_u64(node, following)
    session = Session(t)
    assert session.run(f"list -B {s:x}", echo=False) == (
        f"{s:x}\n{a:x}\n{b:x}\n{c:x}\n{b:x}\n"
        "list: loop detected, loop length: 2\n"
        "list: length from start to loop: 2\n"
        f"list: duplicate list entry: {b:x}\n"
    )
    # without a loop -B walks as list does
    t.write_u64(c, 0)
    assert session.run(f"list -B {s:x}", echo=False) == session.run(f"list {s:x}", echo=False)
