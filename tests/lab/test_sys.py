"""``sys`` on the lab's real dumps: line by line against Debian crash 8.0.2's output on the same dump (its
TASKS line is known wrong there: it must equal the real task count, taken from drgn), and against the facts
the guest recorded."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest

from crashcompat.core.session import Session

pytestmark = pytest.mark.lab


def _sys_lines(text: str) -> dict[str, str]:
    return {line[:12].strip(): line[14:] for line in text.splitlines() if line[12:14] == ": "}


def _normalise_dumpfile(line: str) -> str:
    """The dump path as crash was given it differs between runs (crash ran on the dump before the lab moved
    it into its cache): compare the file name and the flags."""
    path, _, flags = line.partition("  ")
    return os.path.basename(path) + ("  " + flags if flags else "")


def real_task_count(session: Session) -> int:
    """drgn's tasks (every pid of init_pid_ns) plus one idle task per CPU: what crash 8.0.6 counts."""
    from drgn.helpers.linux.cpumask import for_each_possible_cpu
    from drgn.helpers.linux.pid import for_each_task

    prog = session.target.prog  # type: ignore[attr-defined]
    return sum(1 for _ in for_each_task(prog)) + sum(1 for _ in for_each_possible_cpu(prog))


def sys_identity(ours: str, reference: str) -> tuple[int, int, list[str]]:
    """(identical lines, compared lines, differing lines) of ``sys``, TASKS left out."""
    mine, theirs = _sys_lines(ours), _sys_lines(reference)
    same, total, diffs = 0, 0, []
    for label in theirs:
        if label == "TASKS":
            continue
        a, b = mine.get(label), theirs[label]
        if label == "DUMPFILE" and a is not None:
            a, b = _normalise_dumpfile(a), _normalise_dumpfile(b)
        total += 1
        if a == b:
            same += 1
        else:
            diffs.append(f"{label}: ours {a!r} crash {b!r}")
    return same, total, diffs


def test_sys_matches_crash(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    session = crash_session(lab_dump)
    out = session.run("sys", echo=False)
    lines = _sys_lines(out)
    assert list(lines) == [
        "KERNEL", "DUMPFILE", "CPUS", "DATE", "UPTIME", "LOAD AVERAGE", "TASKS", "NODENAME", "RELEASE",
        "VERSION", "MACHINE", "MEMORY", "PANIC",
    ]  # fmt: skip
    assert int(lines["TASKS"]) == real_task_count(session)
    reference = lab_dump.reference("sys")
    if reference is not None:  # crash was not run on the reassembled copy of a flattened dump
        same, total, diffs = sys_identity(out, reference)
        assert same == total, diffs


def test_sys_facts(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    from drgn.helpers.linux.timekeeping import ktime_get_real_seconds

    session = crash_session(lab_dump)
    lines = _sys_lines(session.run("sys", echo=False))
    facts = lab_dump.facts
    assert lines["NODENAME"] == facts["hostname"]
    assert lines["RELEASE"] == facts["release"]
    assert re.fullmatch(re.escape(facts["machine"]) + r"  \(\d+ Mhz\)", lines["MACHINE"])
    assert re.fullmatch(r"\d+(\.\d)? (MB|GB)", lines["MEMORY"])
    assert re.fullmatch(r"(\d+ days, )?\d\d:\d\d:\d\d", lines["UPTIME"])
    assert re.fullmatch(r"\d+\.\d\d, \d+\.\d\d, \d+\.\d\d", lines["LOAD AVERAGE"])
    # crash's DATE is the shadow timekeeper's second: the same second as drgn's, or one before.
    import time

    real = int(ktime_get_real_seconds(session.target.prog))  # type: ignore[attr-defined]
    assert lines["DATE"] in {time.strftime("%a %b %e %T %Z %Y", time.localtime(real - d)) for d in (0, 1)}
    if facts["crash"] in ("null", "bug"):
        assert lines["PANIC"].endswith('" (check log for details)')
        assert lines["PANIC"].startswith('"Oops: ') or lines["PANIC"].startswith('"kernel BUG at')
    elif facts["crash"] == "sysrq":
        assert lines["PANIC"] == '"Kernel panic - not syncing: sysrq triggered crash"'
    if lab_dump.format == "kdump-compressed" and lab_dump.get("dump_level", 0) > 0:
        assert lines["DUMPFILE"].endswith("  [PARTIAL DUMP]")


def test_sys_t_matches_crash(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    session = crash_session(lab_dump)
    out = session.run("sys -t", echo=False)
    mask = int(session.target.prog["tainted_mask"])  # type: ignore[attr-defined]
    assert out.startswith(f"TAINTED_MASK: {mask:x}  ")
    assert "O" in out.split()[-1] and "E" in out.split()[-1]  # crashme.ko: out-of-tree and unsigned
    reference = lab_dump.reference("sys -t")
    if reference is not None:
        assert out == reference


def test_sys_i_and_bad_arguments(
    lab_dump: Any, crash_session: Callable[[Any], Session], capsys: pytest.CaptureFixture[str]
) -> None:
    session = crash_session(lab_dump)
    dmi = session.run("sys -i", echo=False)
    assert re.search(r"^ +DMI_SYS_VENDOR: QEMU$", dmi, re.M)
    assert session.run("sys bogus", echo=False).startswith("sys: invalid argument: bogus\nUsage:\n  sys ")
    assert session.run("sys config", echo=False) == "sys: kernel_config_data does not exist in this kernel\n"
    assert session.run("sys -x", echo=False).startswith("Usage:\n  sys ")
    assert capsys.readouterr().err == "sys: invalid option -- 'x'\n"
