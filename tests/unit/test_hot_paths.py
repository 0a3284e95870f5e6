"""The shortcuts of the hot paths give what the long way gives: the lazily relocated vmlinux table, the
cached table's names, the task count of ``sys`` and the ``task->mm`` that ``vtop`` reads directly."""

from __future__ import annotations

import array
import dataclasses
import os
from pathlib import Path

import pytest
from test_tasks import FakeKernel, fake  # noqa: F401 - the fixture

from crashcompat.core.kernel import symbols, tasks
from crashcompat.core.target import FaultError


def test_relocated_values_equal_eager_relocation() -> None:
    raw = [
        0x0,
        0x1000,
        0x31980,
        0xFFFFFFFF81000000,
        0xFFFFFFFF81000010,
        0xFFFFFFFF82000000,
        0xFFFFFFFFFF600000,
    ]
    low, high, offset = 0xFFFFFFFF81000000, 0xFFFFFFFF82000000, 0x1C000000
    eager = [v + offset if low <= v <= high else v for v in raw]
    lazy = symbols._Relocated(array.array("Q", raw), low, high, offset)
    assert len(lazy) == len(eager)
    assert [lazy[i] for i in range(len(lazy))] == eager
    assert lazy[-1] == eager[-1] and lazy[-len(raw)] == eager[0]
    assert list(lazy[1:4]) == eager[1:4]
    with pytest.raises(IndexError):
        lazy[len(raw)]
    with pytest.raises(IndexError):
        lazy[-len(raw) - 1]


def test_cached_table_maps_back(tmp_path: Path) -> None:
    table = symbols._VmlinuxTable(
        values=[0x31980, 0xFFFFFFFF81000000, 0xFFFFFFFF81000010, 0xFFFFFFFF81000020],
        names=["runqueues", "_text", "caf\u00e9", "helper.cold"],
        types=["D", "T", "t", "t"],
        sizes=[8, 0, 16, 1 << 40],
        first_ksymbol=0xFFFFFFFF81000000,
        percpu_syms=True,
        text_start=0xFFFFFFFF81000000,
        last_section_end=0xFFFFFFFF83000000,
        stext=None,
        code_ranges=[(0xFFFFFFFF81000000, 0xFFFFFFFF82000000)],
        sections=[(".text", 0xFFFFFFFF81000000, 0xFFFFFFFF82000000)],
    )
    cache = str(tmp_path / "symtab.bin")
    symbols._write_cache(cache, table)
    loaded = symbols._read_cache(cache)
    assert loaded is not None
    for name in ("values", "names", "types", "sizes"):
        got, want = getattr(loaded, name), getattr(table, name)
        assert [got[i] for i in range(len(got))] == list(got) == want
    assert list(reversed(loaded.names)) == table.names[::-1]
    assert loaded.code_ranges == table.code_ranges and loaded.sections == table.sections
    assert (loaded.first_ksymbol, loaded.percpu_syms, loaded.stext) == (0xFFFFFFFF81000000, True, None)
    with open(cache, "r+b") as f:  # damaged: the table is parsed again rather than misread
        f.truncate(os.path.getsize(cache) - 20)
    assert symbols._read_cache(cache) is None


def test_task_count_is_the_table_size(fake: FakeKernel) -> None:  # noqa: F811
    k = fake.kernel()
    assert tasks.task_count(k) == 7
    assert tasks.task_count(k) == len(list(tasks.for_each_task(fake.kernel())))


def test_task_count_leaves_out_unreadable_tasks(fake: FakeKernel) -> None:  # noqa: F811
    k = fake.kernel()
    addresses = tasks._task_addresses(k)
    # A task_struct the dump lacks: the table drops it, and so does the count.
    fake.t.read = _failing_at(fake.t.read, addresses[-1])  # type: ignore[method-assign]
    assert tasks.task_count(k) == len(addresses) - 1 == len(list(tasks.for_each_task(k)))


def test_task_mm_and_fields_read_alone(fake: FakeKernel) -> None:  # noqa: F811
    k = fake.kernel()
    for task in tasks.for_each_task(k):
        assert tasks.task_mm(k, task.address) == task.mm
        alone = tasks.read_task_fields(fake.kernel(), task.address)
        assert dataclasses.replace(alone, ppid=task.ppid, rss=task.rss, total_vm=task.total_vm) == task


def _failing_at(read, bad: int):  # type: ignore[no-untyped-def]
    def wrapped(address: int, size: int) -> bytes:
        if address <= bad < address + size:
            raise FaultError(bad)
        return read(address, size)  # type: ignore[no-any-return]

    return wrapped
