"""The benchmark's timing: the mark protocol, output classification, and a measured session of a fake tool."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from crashbench.measure import (
    ERR,
    LEADING_MARKS,
    MARK,
    NA,
    OK,
    SHELL_MARK_LINE,
    classify,
    measure_session,
    session_lines,
    split_marks,
)

# A stand-in for crash: reads command lines, runs "!" lines in the shell (as crash does), "sleep N" sleeps,
# "fail" prints a crash-style error, "q" quits.
FAKE_TOOL = textwrap.dedent(
    """
    import subprocess, sys, time
    time.sleep(0.3)  # start-up
    for line in sys.stdin:
        line = line.strip()
        if line.startswith("!"):
            sys.stdout.flush()
            subprocess.run(line[1:], shell=True)
        elif line.startswith("sleep "):
            time.sleep(float(line.split()[1]))
            print("slept")
        elif line == "fail":
            print("fail: invalid address: ffff0000")
        elif line == "q":
            break
        else:
            print(f"crash: command not found: {line}")
        sys.stdout.flush()
    """
)


def test_session_lines_interleave_marks() -> None:
    lines = session_lines(["sys", "bt"])
    assert lines == [*[SHELL_MARK_LINE] * LEADING_MARKS, "sys", SHELL_MARK_LINE, "bt", SHELL_MARK_LINE, "q"]


def test_split_marks_keeps_text_between_marks() -> None:
    out = f"banner\n{MARK}1.5\n{MARK}2.0\nline a\nline b\n{MARK}3.25\ntrailer\n"
    marks, texts = split_marks(out)
    assert marks == [1.5, 2.0, 3.25]
    assert texts == ["", "line a\nline b"]


@pytest.mark.parametrize(
    ("command", "text", "status"),
    [
        ("sys", "      KERNEL: vmlinux\n    DUMPFILE: vmcore", OK),
        ("kmem -i", "kmem: invalid address: ffff", ERR),
        ("bt", "bt: invalid option -- 'z'\nUsage: bt [-a]", ERR),
        ("pte 1", "crash: command not found: pte", NA),
        ("pte 1", "@@ERR@@ CommandNotFoundError: pte: command not found", NA),
        ("log", "@@ERR@@ FaultError: could not read memory", ERR),
        ("ps", "ps: internal error: KeyError: 'x'\n        (set CRASHCOMPAT_DEBUG=1 for a traceback)", ERR),
        ("bt -a", "PID: 0 TASK: ffff\nbt: WARNING: cannot unwind\n #0 [ffff] foo", OK),
    ],
)
def test_classify(command: str, text: str, status: str) -> None:
    assert classify(command, text)[0] == status


def test_measure_session_times_each_command(tmp_path: Path) -> None:
    tool = tmp_path / "fake_tool.py"
    tool.write_text(FAKE_TOOL)
    commands = ["sleep 0.2", "fail", "nosuch", "sleep 0.05"]
    stdin = "".join(f"{line}\n" for line in session_lines(commands))
    result = measure_session([sys.executable, str(tool)], commands, stdin_text=stdin, timeout=60)
    assert not result.error
    assert result.start is not None and result.start >= 0.3
    assert [c.status for c in result.commands] == [OK, ERR, NA, OK]
    # A command's time is its gap between marks less the marks' cost; that cost varies by a few ms.
    slack = result.mark_cost + 0.01
    first, last = result.commands[0].seconds, result.commands[3].seconds
    assert first is not None and 0.2 - slack <= first < 1.5
    assert last is not None and 0.05 - slack <= last < 1.0
    assert result.wall >= result.start + 0.25
    assert result.maxrss_kib > 1000  # a Python process
    assert result.all_commands is not None and result.all_commands >= 0.25 - 4 * slack


def test_measure_session_reports_a_tool_that_does_not_start(tmp_path: Path) -> None:
    result = measure_session(
        [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
        ["sys"],
        stdin_text="q\n",
    )
    assert result.returncode == 3
    assert result.start is None and "boom" in result.error


def test_measure_session_kills_a_hung_tool() -> None:
    result = measure_session(
        [sys.executable, "-c", "import time; time.sleep(60)"], ["sys"], stdin_text="", timeout=1
    )
    assert result.returncode == -9 and result.wall < 30 and result.error
