"""Inside GDB connected to a live lab guest (QEMU's gdbstub, or KGDB over the guest's serial port): the
stub is recognised, KASLR is found in memory, crash's commands run against the facts the guest logged,
caches are dropped when the kernel runs — and on the gdbstub guest the output equals the drgn backend's
reading the same paused guest over QMP."""

from __future__ import annotations

import difflib
import subprocess
import sys

import pytest
from gdbhelp import context, execute

from crashcompat.core.kernel import symbols
from crashcompat.gdb import command
from crashcompat.gdb.target import GdbTarget
from crashcompat.testing.lab import NOT_APPLICABLE

#: Lines whose output must equal the drgn backend's on the paused gdbstub guest.
PARITY_LINES = [
    "ps",
    "ps -k",
    "log",
    "log -m",
    "mod",
    "kmem -i",
    "kmem -s",
    "sym schedule",
    "set",
    "vtop {jiffies}",
]


@pytest.fixture(scope="module")
def target() -> GdbTarget:
    found = command.session().target
    assert isinstance(found, GdbTarget)
    return found


def facts() -> dict:  # type: ignore[type-arg]
    return context()["live"]["facts"]  # type: ignore[no-any-return]


def test_stub_and_kaslr(target: GdbTarget) -> None:
    assert target.info.live and target.kind == {"gdbstub": "qemu", "kgdb": "kgdb"}[context()["live"]["mode"]]
    assert target.vmlinux.offset == int(facts()["kaslr_offset"])
    assert target.crashed_cpu() is not None  # the CPU the stub stopped on


def test_commands_see_the_guest() -> None:
    sys_text = execute("crash sys")
    assert f"NODENAME: {facts()['hostname']}" in sys_text and "(live system)" in sys_text
    ps = {line.split()[-1].strip("[]") for line in execute("crash ps").splitlines()[1:]}
    assert {task["comm"] for task in facts()["tasks"]} <= ps
    log = execute("crash log")
    assert all(marker in log for marker in facts()["markers"])
    mods = execute("crash mod")
    assert all(module["name"] in mods for module in facts()["modules"])
    if context()["live"]["mode"] == "gdbstub":  # kmem -i reads all of mem_map: half an hour at 115200 baud
        assert "TOTAL MEM" in execute("crash kmem -i")
    bt = execute("crash bt")
    assert bt.startswith("PID:") and " #0 [" in bt  # the stopped CPU's task, from the stub's registers


def test_wr_changes_memory_that_rd_reads(target: GdbTarget) -> None:
    """``wr`` writes the guest's memory through the stub; ``rd`` then reads the new value (and the old value
    is written back)."""
    if context()["live"]["mode"] != "gdbstub":
        pytest.skip(NOT_APPLICABLE + "writes are tried on the gdbstub guest only")
    address = symbols.address_of(command.session().kernel, "crashme_magic")  # a module variable
    original = target.read_u64(address)
    execute("crash wr crashme_magic 0x1122334455667788")
    assert target.read_u64(address) == 0x1122334455667788
    assert f"{address:x}:  1122334455667788 " in execute("crash rd crashme_magic")
    execute(f"crash wr crashme_magic {original:#x}")
    assert f"{address:x}:  {original:016x} " in execute("crash rd crashme_magic")


def test_caches_dropped_when_the_kernel_runs(target: GdbTarget) -> None:
    if context()["live"]["mode"] != "gdbstub":
        pytest.skip(NOT_APPLICABLE + "single-stepping a kernel stopped in KGDB is left to the user")
    execute("crash ps")
    assert target._cache
    jiffies = target.read_u64(target.symbol_address("jiffies_64"))
    execute("stepi")
    assert not target._cache  # gdb.events.cont → Session.resumed → Target.invalidate
    assert target.read_u64(target.symbol_address("jiffies_64")) >= jiffies
    assert "PID" in execute("crash ps")


def test_same_output_as_drgn_over_qmp() -> None:
    live = context()["live"]
    if live["mode"] != "gdbstub":
        pytest.skip(NOT_APPLICABLE + "drgn reaches only the gdbstub guest (over QMP)")
    session = command.session()
    jiffies = session.target.symbol_address("jiffies_64")
    lines = [line.format(jiffies=f"{jiffies:x}") for line in PARITY_LINES]
    ours = {line: session.run(line, echo=False) for line in lines}
    # The guest stays stopped while GDB is attached, so drgn reads the very same memory.
    script = "".join(f"!echo =====\n{line}\n" for line in lines)
    argv = [context()["python"], "-m", "crashcompat", "--qemu", live["qmp_drgn"], "-s", live["vmlinux"]]
    proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=600, check=False)
    theirs = proc.stdout.split("=====\n")[1:]
    diffs = [
        "\n".join(
            difflib.unified_diff(expected.splitlines(), ours[line].splitlines(), "drgn", "gdb", lineterm="")
        )
        for line, expected in zip(lines, theirs, strict=True)
        if ours[line] != expected
    ]
    assert not diffs, "\n".join(diffs)[:4000]


def test_no_drgn_in_gdb() -> None:
    assert not [m for m in sys.modules if m == "drgn" or m.startswith(("drgn.", "_drgn"))]
