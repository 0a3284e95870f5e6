"""Inside GDB, on a lab dump opened by the host test (``file VMLINUX`` without any KASLR offset, then
``core-file`` or ``target remote | crashcompat-gdbserver``): the session attaches by itself, KASLR is
applied to GDB's own symbols, crash's line syntax and GDB's ``pipe`` work, errors are crash lines, memory
GDB's core file lacks is still read, every task is a thread on the bridge — and drgn never enters GDB."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import gdb
import pytest
from gdbhelp import context, execute

from crashcompat.core.kernel import tasks
from crashcompat.core.target import SymbolNotFound, TypeNotFound
from crashcompat.gdb import command
from crashcompat.gdb.target import GdbTarget

STACK_END_MAGIC = 0x57AC6E9D  # include/uapi/linux/magic.h: the lowest word of every kernel stack


@pytest.fixture(scope="module")
def target() -> GdbTarget:
    found = command.session().target
    assert isinstance(found, GdbTarget)
    return found


def facts() -> dict:  # type: ignore[type-arg]
    return context()["dump"]["facts"]  # type: ignore[no-any-return]


def test_attaches_with_kaslr_applied(target: GdbTarget) -> None:
    assert target.kind == context()["mode"]
    offset = int(facts()["kaslr_offset"])
    assert target.vmlinux.offset == offset
    # GDB's own symbols moved too: GDB's print reads the kernel's banner (where GDB can read the kernel's
    # virtual memory: not in a QEMU dump without paging, whose segments are physical) …
    banner = int(gdb.parse_and_eval("(unsigned long)&linux_banner"))
    assert banner == target.vmlinux.facts.banner_address + offset
    if context()["mode"] == "bridge" or context()["dump"].get("paging") is not False:
        assert f"Linux version {facts()['release']}" in execute("output linux_banner")
    # … while per-cpu symbols of a zero-based per-cpu section (x86-64 before Linux 6.15's "x86/percpu/64:
    # Use relative percpu offsets") stay offsets into each CPU's area, as the kernel uses them, and move
    # with the kernel where the section is linked in place.
    runqueues = int(gdb.parse_and_eval("(unsigned long)&runqueues"))
    assert runqueues == target.symbol_address("runqueues")
    assert (runqueues < 1 << 24) == target.vmlinux.facts.has_percpu


def test_log_pipes_and_gdb_pipe(tmp_path: Path) -> None:
    log = execute("crash log")
    for marker in facts()["markers"]:
        assert marker in log
    last = "".join(log.splitlines(keepends=True)[-2:])
    assert execute("crash log | tail -2") == last
    execute(f"pipe crash log | tail -2 > {tmp_path}/tail")  # the shell's output is not GDB's to capture
    assert (tmp_path / "tail").read_text() == last


def test_commands_see_the_dump(target: GdbTarget) -> None:
    out = execute("crash sys")
    assert f"NODENAME: {facts()['hostname']}" in out and f"RELEASE: {facts()['release']}" in out
    ps = execute("crash ps")
    assert any(line.split()[-1] == facts()["crash_comm"] for line in ps.splitlines()[1:])
    assert target.stats.reads > 0 and target.stats.bytes > 0


def test_errors_are_crash_lines() -> None:
    assert execute("crash nosuchcommand") == "crash: command not found: nosuchcommand\n"
    out = execute("crash ps -Z")  # the complaint on GDB's stderr, the usage on its stdout
    assert "ps: invalid option -- 'Z'" in out and "Usage:" in out and "Traceback" not in out


def test_reads_vmalloced_stacks(target: GdbTarget) -> None:
    """The crashed task's stack is vmalloc'd (VMAP_STACK): not in a makedumpfile ELF's PT_LOADs, so the
    core target walks the page tables for it."""
    session = command.session()
    task = tasks.task_by_pid(session.kernel, int(facts()["crash_pid"]))
    assert task is not None
    assert target.read_u32(task.stack) == STACK_END_MAGIC


def test_every_task_is_a_thread_on_the_bridge() -> None:
    threads = {t.name: t for t in gdb.selected_inferior().threads()}
    if context()["mode"] != "bridge":
        # GDB's own core file shows one thread per CPU note, not the tasks
        assert len(gdb.selected_inferior().threads()) == len(tasks.active_tasks(command.session().kernel))
        return
    for task in facts()["tasks"]:
        # /proc's comm may be shorter than the kernel's (6.12's "kworker/R" for "kworker/R-rcu_g")
        assert any(name and name.startswith(task["comm"]) for name in threads), task["comm"]
    sleeper = facts()["sleepers"][0]
    threads[sleeper["comm"]].switch()
    assert gdb.selected_thread().ptid[1] == sleeper["pid"]
    frames = [line for line in execute("bt").splitlines() if line.startswith("#")]
    kernel = frames[: next(i for i, f in enumerate(frames) if "do_syscall_64" in f) + 1]
    assert "__schedule" in "".join(kernel) and not [f for f in kernel if "?? ()" in f]
    # (GDB goes on past the system call entry, where DWARF CFI ends, into user-space garbage.)


def test_no_drgn_in_gdb() -> None:
    assert not [m for m in sys.modules if m == "drgn" or m.startswith(("drgn.", "_drgn"))]


def test_kept_layouts_are_what_gdb_answers(target: GdbTarget) -> None:
    """The type layouts kept across sessions (:class:`LayoutCache`) are GDB's own answers now."""
    execute("crash ps > /dev/null")
    execute("crash mod > /dev/null")
    assert target.layouts is not None and target.layouts.entries
    compute: dict[str, Callable[..., Any]] = {
        "size": target._type_size,
        "member": lambda t, m: list(astuple(target._member(t, m))),
        "enumerator": target._enumerator,
        "enums": lambda t: [list(e) for e in target._enumerators(t)],
    }
    for key, kept in target.layouts.entries.items():
        kind, *args = key.split("\0")
        try:
            fresh: Any = compute[kind](*args)
        except TypeNotFound as e:
            fresh = {"type": str(e)}
        except SymbolNotFound as e:
            fresh = {"symbol": e.args[0]}
        assert kept == fresh, key
