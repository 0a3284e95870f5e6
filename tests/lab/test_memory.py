"""``rd``, ``wr``, ``ptov``, ``list``, ``search`` and ``dis`` on every lab dump, drgn backend, against the lab's
crash (crash's newest release, run by :mod:`crash_oracle`): each command line's output must be identical.

The addresses come from the facts the guest recorded (the crashme module's objects and list, the sleepers'
user-space marker pages) and from the dump's own symbols.  ``set PID`` lines switch the context for ``-u``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crash_oracle import run_crash

from crashcompat.core.kernel import Kernel, tasks
from crashcompat.core.session import Session

pytestmark = [pytest.mark.lab]


def rd_lines(kernel: Kernel, facts: dict[str, Any]) -> list[str]:
    """``rd`` in each size, radix and display, with crash's errors."""
    objects = [o["address"] for o in facts["test_module"]["list_objects"][:2]]
    first = int(objects[0], 16)
    sleeper = facts["sleepers"][0]
    marker = sleeper["marker_address"]
    size = os.path.getsize(str(kernel.target.info.path))
    return [
        # the dump file's own bytes (-f): its start, and past its end, where crash goes on item by item
        "rd -f 0 8",
        "rd -f -32 40 9",
        "rd -f -8 1 20",
        f"rd -f {size - 8:x} 3",
        f"rd -f -32 {size - 8:x} 5",
        "rd -f 7fffffffffffff 2",
        "rd jiffies",
        "rd -8 jiffies 20",
        "rd -16 jiffies 20",
        "rd -32 jiffies 9",
        "rd -64 jiffies 5",
        "rd -a linux_banner",
        "rd -a linux_banner 20",
        "rd -a crashme_banner",
        f"rd -s {objects[0]} 8",
        f"rd -S {objects[0]} 8",
        f"rd -SS {objects[1]} 6",
        "rd -s crashme_list 4",
        "rd -x jiffies 4",
        "rd -d jiffies 4",
        "rd -d -32 jiffies 5",
        "rd -d -8 jiffies 5",
        "rd -d -16 jiffies 5",
        "rd -D jiffies 3",
        "rd -o 8 jiffies 2",
        f"rd -e {first + 40:#x} {objects[0]}",
        f"rd -e {first + 40:x} -32 {objects[0]}",
        "rd -N -32 jiffies 4",
        "rd -N -16 jiffies 4",
        "rd -32 -N -x jiffies 4",
        "rd -R jiffies 4",
        "rd -p 1000 4",
        "rd -p 0 4",
        "rd -p 7fffffffff000 2",
        "rd nosuchsym",
        "rd 0 4",
        "rd ffffffffffff0000 4",
        "rd ffff888000000000 2",
        "rd jiffies 0",
        "rd jiffies abc",
        "rd -e 0 jiffies",
        "rd -32 -s jiffies 4",
        "rd -8 -s jiffies",
        "rd",
        "rd -16 crashme_magic 4",
        "rd -8 crashme_magic 32",
        "rd crashme_magic 7",
        f"rd -32 {objects[0]} 13",
        "rd -d crashme_magic",
        "rd -D -8 crashme_magic 9",
        "rd -u 7ffff000 2",
        f"set {sleeper['pid']}",
        f"rd -u {marker} 8",
        f"rd -a -u {marker}",
        f"rd {marker} 2",
        f"rd -8 -u {marker} 48",
        "rd -u ffffffff81000000 1",
        f"set {facts['crash_pid']}",
    ]


def ptov_lines(kernel: Kernel, facts: dict[str, Any]) -> list[str]:
    first = int(facts["test_module"]["list_objects"][0]["address"], 16)
    physical = first - kernel.page_offset()
    return [
        "ptov 0",
        "ptov 1000",
        "ptov 100000 200000",
        f"ptov {physical:x}",
        "ptov nosuch",
        "ptov",
        "ptov 0:a",
        "ptov 1000:0",
        "ptov 2000:",
        "ptov 100 2000:1",
        "wr jiffies 1",
        "wr",
        "wr -8 jiffies 0",
    ]


def list_lines(kernel: Kernel, facts: dict[str, Any]) -> list[str]:
    """``list`` over the crashme module's list (its debug info loaded first) and the task list."""
    objects = [int(o["address"], 16) for o in facts["test_module"]["list_objects"]]
    first = objects[0]
    return [
        "list -H crashme_list",
        "list crashme_list",
        "list -B crashme_list",  # Brent's walk: no loop here, the same entries
        "list -B -h task_struct.tasks -s task_struct.pid init_task",
        f"list -h {first + 32:x}",
        "list -o 32 -H crashme_list",
        "list crashme_obj.node -H crashme_list",
        "list -H crashme_list -o crashme_obj.node -s crashme_obj.index,tag",
        "list -H crashme_list -l crashme_obj.node -s crashme_obj.tag",
        "list -H crashme_list crashme_obj.node -s crashme_obj",
        "list -r -H crashme_list -o crashme_obj.node",
        "list -r crashme_list",
        f"list -h {first:x} -o crashme_obj.node -s crashme_obj.index -x",
        "list -H crashme_list -s crashme_obj.index -d -o 32",
        "list -H crashme_list -s crashme_obj.node.next -o 32",
        "list -H crashme_list -S crashme_obj.index,magic -o 32",
        f"list {first + 32:x}",
        f"list 32 {first + 32:x}",
        f"list -o 32 {first:x}",
        f"list -o 8 {first + 32:x}",
        "list jiffies",
        "list nosuch",
        "list",
        "list -H crashme_list -s crashme_obj.nosuch -o 32",
        "list -H crashme_list -s nosuch_struct -o 32",
        f"list -H crashme_list -e {objects[3] + 32:x}",
        f"list -O 32 -h {first:x} -o 32",
        "list task_struct.tasks -h init_task -s task_struct.pid,comm",
        "list -H init_task.children",
        "list 0",
        "list -x -d crashme_list",
        "list -l 32 crashme_list",
        "list 1 2 3",
    ]


def search_lines(kernel: Kernel, facts: dict[str, Any]) -> list[str]:
    """``search`` for the crashme module's magic number, list head and banner, in each space and size."""
    first = int(facts["test_module"]["list_objects"][0]["address"], 16)
    sleeper = facts["sleepers"][0]
    schedule = kernel.symbol("schedule")
    return [
        # kernel stacks: every task's (-t), the active tasks' (-T); a return address into schedule()
        f"search -T -m fff {schedule:x}",
        f"search -t -m fff {schedule:x}",
        f"search -T -x 1 -m fff {schedule:x}",
        "search -t -c fixcrash",
        "search -t -k 0",
        "search -t -T 0",
        "search -K c0ffee11deadbeef",
        "search -K -w (c0ffee11deadbeef&ffffffff)",  # crash's expressions, labelled as given
        "search -K (1+)",
        "search -k c0ffee11deadbeef",
        "search c0ffee11deadbeef",
        "search -V c0ffee11deadbeef",
        "search -p c0ffee11deadbeef",
        "search -K -m ffff c0ffee11dead0000",
        "search -K crashme_list",
        "search -K -x 2 c0ffee11deadbeef",
        "search -K -w deadbeef",
        f"search -s {first:x} -l 4096 -h beef",
        f"search -s {first:x} -l 4096 -c obj0",
        'search -K -c "fixture module"',
        f"search -s {first + 3:x} -l 64 c0ffee11deadbeef",
        f"search -s {first:x} -e {first + 0x2000:x} -w dead",
        "search -e 0 1",
        "search",
        "search -s 0 1",
        "search -K c0ffee11deadbeef crashme_list",
        f"set {sleeper['pid']}",
        "search -u -c CRASHCOMPAT-USER-MAGIC",
        "search -u 4d4f434853415243",
        f"set {facts['crash_pid']}",
    ]


#: Kernel functions ``dis`` is compared on, whole (chosen across subsystems: entry code, scheduler, memory,
#: file system, locking, printk).
DIS_FUNCTIONS = (
    "panic",
    "schedule",
    "__schedule",
    "do_syscall_64",
    "vfs_read",
    "ksys_write",
    "kmem_cache_alloc",
    "kfree",
    "mutex_lock",
    "_raw_spin_lock",
    "sysrq_handle_crash",
    "__handle_sysrq",
    "crash_kexec",
    "do_exit",
    "copy_process",
    "wake_up_process",
    "try_to_wake_up",
    "native_safe_halt",
    "page_fault_oops",
    "exc_page_fault",
    "handle_mm_fault",
    "filemap_read",
)


def dis_lines(kernel: Kernel, facts: dict[str, Any]) -> list[str]:
    """``dis`` of whole functions (kernel and module), counts, ``-r``, ``-l``, ``-x``, and bad input."""
    panic = kernel.symbol("panic")
    return [
        *(f"dis {name}" for name in DIS_FUNCTIONS if kernel.has_symbol(name)),
        "dis -l panic",
        "dis -l schedule",
        f"dis -l {panic:#x}",
        f"dis {panic + 5:x}",
        f"dis {panic + 5:x} 8",
        "dis panic 12",
        "dis -x panic 20",
        "dis -d panic 5",
        f"dis -r {panic + 41:x}",
        f"dis -r {panic + 41:x} 3",
        f"dis -f {panic + 41:x}",
        "dis crashme_deref",
        "dis -l crashme_deref",
        "dis crashme_write",
        "dis nosuchfunction",
        "dis",
        "dis panic 0",
        "dis -x -d panic",
        # crash's expressions: one instruction there; an offset that leaves the function is refused
        "dis panic+20",
        "dis (panic+0x10)",
        "dis panic-4 2",
        "dis 10k+jiffies",
        "dis (panic",
        # -s without the source files at hand (the lab has none: see test_dis_source_matches_crash)
        *SOURCE_LINES,
        "dis -s jiffies",
        "dis -s crashme_deref",
    ]


#: ``dis -s`` lines; with the source files present, test_dis_source_matches_crash checks their listing.
SOURCE_LINES = [
    "dis -s schedule",
    "dis -s schedule 3",
    "dis -s schedule 12",
    "dis -s panic+20",
    "dis -s -r panic",
]


def command_lines(kernel: Kernel, facts: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "dis": dis_lines(kernel, facts),
        "rd": rd_lines(kernel, facts),
        "ptov": ptov_lines(kernel, facts),
        "list": list_lines(kernel, facts),
        "search": search_lines(kernel, facts),
    }


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


def compare(session: Session, lines: list[str], oracle: dict[str, str]) -> tuple[list[str], int, int]:
    """Run *lines* in *session*; the differences from crash's outputs, and the lines (crash's output lines)
    compared and identical."""
    failures = []
    total = same = 0
    for line in lines:
        # crash ends "rd -a" text without a newline: the oracle's next prompt joins its output
        expected = oracle[line].split("crash> kmem -o\n", 1)[0]
        got = session.run(line, echo=False)
        theirs = expected.splitlines()
        ours = got.splitlines()
        total += len(theirs)
        same += sum(1 for a, b in zip(theirs, ours, strict=False) if a == b)
        if got != expected:
            failures.append(f"--- {line}\n--- crash:\n{expected[:3000]}\n--- ours:\n{got[:3000]}")
    return failures, total, same


@pytest.mark.lab_dumps(
    where=lambda d: not d.reference_error
)  # compared with crash: where crash opens the dump
@pytest.mark.parametrize("family", ["rd", "ptov", "list", "search", "dis"])
def test_memory_commands_match_crash(session: Session, lab_dump: Any, lab_manifest: Any, family: str) -> None:
    session.context_task = tasks.default_context(session.kernel)
    lines = command_lines(session.kernel, lab_dump.facts)[family]
    load = f"mod -s crashme {lab_manifest['test_module']['ko']}"
    session.run(load, echo=False)
    oracle = run_crash(lab_manifest.vmlinux, lab_dump.path, [load, *lines])
    if not oracle:
        pytest.skip("crash is not installed")
    failures, total, same = compare(session, lines, oracle)
    print(f"{family}: {same}/{total} lines identical")
    assert not failures, "\n".join(failures)


@pytest.mark.lab_dumps(where=lambda d: not d.reference_error and d.name == "kdump-null-elf-d31")
def test_dis_source_matches_crash(
    session: Session, lab_dump: Any, lab_manifest: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dis -s`` with source files where GDB finds them (under the current directory, by the line table's
    name): made-up files of numbered lines with a closing brace some lines after each function's line."""
    kernel = session.kernel
    for name in ("schedule", "panic"):
        found = kernel.target.source_line(kernel.symbol(name))
        assert found is not None and found.display, name
        path = tmp_path / found.display.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        ends = {found.line + 8, found.line + 30}
        path.write_text(
            "".join(
                "}\n" if n in ends else f"{name} line {n}\tof {found.display}\n"
                for n in range(1, found.line + 60)
            )
        )
    monkeypatch.chdir(tmp_path)
    oracle = run_crash(lab_manifest.vmlinux, lab_dump.path, SOURCE_LINES, cwd=str(tmp_path))
    assert oracle, "crash printed nothing"
    assert "* " in oracle["dis -s schedule"], "crash found the made-up sources"
    failures, _, _ = compare(session, SOURCE_LINES, oracle)
    assert not failures, "\n".join(failures)
