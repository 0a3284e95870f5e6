"""Timing one tool session: the mark protocol, the measured subprocess, and what each command printed.

A session's command lines are interleaved with *marks*: a line that makes the tool print
``@@MARK@@<unix time>`` (crash and crashcompat run ``!date +@@MARK@@%s.%N``; the drgn driver prints the
time itself).  Then, with the launch time taken just before the process starts:

- start-up (to the first prompt) = first mark - launch;
- the marks' own cost = the smaller gap of three marks in a row (subtracted from each command);
- each command = the mark after it - the mark before it - the marks' cost.

So the 10-second start of crash does not drown a 20 ms command in its own run-to-run noise, as a
``(start + command) - start`` difference of two separate runs would.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MARK = "@@MARK@@"
#: The line crash and crashcompat run for a mark (crash's and crashcompat's ``!`` shell escape).
SHELL_MARK_LINE = f"!date +{MARK}%s.%N"
#: What the drgn driver prints for a command that raised.
ERROR_TAG = "@@ERR@@"

_MARK_RE = re.compile(rf"^{re.escape(MARK)}(\d+(?:\.\d+)?)\s*$")

OK, ERR, NA = "ok", "err", "n/a"
#: Marks in a row before the first command: the gaps between them are the marks' own cost.
LEADING_MARKS = 3


@dataclass
class CommandResult:
    """One command of a session: its time (seconds, marks' cost subtracted), status and output size."""

    command: str
    seconds: float | None
    status: str  # OK, ERR or NA
    lines: int
    detail: str = ""


@dataclass
class SessionResult:
    """One measured tool session."""

    start: float | None  # launch to first prompt (seconds)
    wall: float  # launch to exit (seconds)
    maxrss_kib: int  # peak RSS of the largest process of the session (wait4's ru_maxrss)
    returncode: int
    commands: list[CommandResult] = field(default_factory=list)
    mark_cost: float = 0.0
    error: str = ""  # set when the session did not produce the expected marks

    @property
    def all_commands(self) -> float | None:
        """The time of the session's commands together (None if any failed to time)."""
        times = [c.seconds for c in self.commands if c.seconds is not None]
        return sum(times) if times and len(times) == len(self.commands) else None


def session_lines(commands: Sequence[str]) -> list[str]:
    """The input of a marked session: :data:`LEADING_MARKS` marks, then each command followed by a mark,
    then ``q``."""
    lines = [SHELL_MARK_LINE] * LEADING_MARKS
    for cmd in commands:
        lines += [cmd, SHELL_MARK_LINE]
    return [*lines, "q"]


def split_marks(output: str) -> tuple[list[float], list[str]]:
    """The mark times in *output* and the text between consecutive marks (``len(texts) == len(marks) - 1``;
    text before the first mark and after the last is dropped)."""
    marks: list[float] = []
    texts: list[str] = []
    current: list[str] | None = None
    for line in output.splitlines():
        m = _MARK_RE.match(line.strip())
        if m:
            marks.append(float(m.group(1)))
            if current is not None:
                texts.append("\n".join(current))
            current = []
        elif current is not None:
            current.append(line)
    return marks, texts


def classify(command: str, text: str) -> tuple[str, str]:
    """Whether *command*'s output *text* is a result (``ok``), an error (``err``) or a missing command
    (``n/a``), as ``(status, first error line)``.

    An error is crash's style (every line ``crash: …``/``<command>: …``, e.g. ``kmem: invalid address``,
    possibly followed by a ``Usage:``), a crashcompat ``internal error``, a Python traceback, or the
    drgn driver's error tag.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    name = command.split()[0] if command.split() else ""
    for ln in lines:
        if "command not found" in ln or "CommandNotFoundError" in ln:
            return NA, ln.strip()
    for ln in lines:
        if ERROR_TAG in ln or "internal error:" in ln or ln.startswith("Traceback (most recent call last)"):
            return ERR, ln.replace(ERROR_TAG, "").strip()
    prefixes = (f"{name}: ", "crash: ")
    body = [ln for ln in lines if not ln.startswith(("Usage:", "  ", "\t"))]
    if body and all(ln.startswith(prefixes) for ln in body):
        return ERR, body[0].strip()
    return OK, ""


def run_process(
    argv: Sequence[str],
    stdin_text: str | None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> tuple[float, float, int, int, str, str]:
    """Run *argv* with *stdin_text* (``/dev/null`` when None); output goes to temporary files, as a
    user's redirected session would.

    :returns: ``(launch unix time, wall seconds, ru_maxrss KiB, return code, stdout, stderr)``; a process
        still running after *timeout* is killed (return code ``-9``).
    """
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.TemporaryFile("w+") as inp,
    ):
        if stdin_text is not None:
            inp.write(stdin_text)
            inp.flush()
            inp.seek(0)
        stdin = inp if stdin_text is not None else subprocess.DEVNULL
        launch = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=stdin, stdout=out, stderr=err, env=dict(env) if env else None
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait for it again
        out.seek(0)
        err.seek(0)
        return launch, wall, int(usage.ru_maxrss), proc.returncode, out.read(), err.read()


def measure_session(
    argv: Sequence[str],
    commands: Sequence[str],
    *,
    stdin_text: str | None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> SessionResult:
    """Run one marked session (*stdin_text* already holds :func:`session_lines` or the tool reads them
    from a file named in *argv*) and time *commands* from the marks it printed."""
    launch, wall, maxrss, rc, stdout, stderr = run_process(argv, stdin_text, env=env, timeout=timeout)
    marks, texts = split_marks(stdout)
    result = SessionResult(start=None, wall=wall, maxrss_kib=maxrss, returncode=rc)
    first = LEADING_MARKS - 1  # the mark right before the first command
    if len(marks) <= first:
        tail = (stderr.strip() or stdout.strip()).splitlines()[-3:]
        result.error = f"rc={rc}: " + (" | ".join(tail) if tail else "no output")
        return result
    result.start = marks[0] - launch
    result.mark_cost = max(0.0, min(b - a for a, b in itertools.pairwise(marks[: first + 1])))
    for i, cmd in enumerate(commands):
        if first + i + 1 >= len(marks):
            result.commands.append(CommandResult(cmd, None, ERR, 0, "the session ended before this command"))
            continue
        text = texts[first + i]
        status, detail = classify(cmd, text)
        seconds = max(0.0, marks[first + i + 1] - marks[first + i] - result.mark_cost)
        result.commands.append(CommandResult(cmd, seconds, status, len(text.splitlines()), detail))
    return result
