"""Every command line the lab ran the oracle crash with, replayed in the same order on the same dump, must print
exactly what crash printed: the whole reference set of every dump of every kernel series, byte for byte.

The lab runs crash once per *pass* (``reference_sessions``), each a session of command lines in order, so that
a line after ``mod -s crashme FILE`` sees the module's symbols as crash did; this test replays each pass in one
crashcompat session. What may differ, and only there:

- a line the lab records as known wrong in crash (``reference_known_wrong``, with the guest's evidence), which
  other tests check against the facts;
- a line where crash itself doubts what it printed (:data:`CRASH_DOUBTS`): there crashcompat looks further
  (5.8-5.10's ``asm_call_on_stack`` IRQ frames) and ``test_bt.py`` checks its frames against drgn's;
- the dump's path on crash's ``DUMPFILE`` line: the lab ran crash before moving the dump into its cache;
- :data:`GAPS`: commands crashcompat does not have yet, listed by name with the reason. A gap that starts to
  match is an error here, so the list only shrinks.

With ``CRASHCOMPAT_COMPAT_REPORT=FILE`` each line's figures (crash's lines, identical lines) are appended to FILE
as JSON lines; ``python -m crashcompat.testing.compat FILE`` turns them into docs/compat.md's table.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from line_match import identical_share

from crashcompat.core.session import Session

pytestmark = pytest.mark.lab

#: Command names crashcompat lacks today -> why (each leaves the issue that asks for it open).
GAPS: dict[str, str] = {}
#: crash's warning that an exception frame it prints failed its own check.
CRASH_DOUBTS = "WARNING: possibly bogus exception frame"


def dumpfile_path(text: str) -> str | None:
    match = re.search(r"^\s*DUMPFILE: (\S+)", text, re.M)
    return match.group(1) if match else None


def comparable(reference: str, ours: str) -> str:
    """*reference* with crash's dump path replaced by ours on the ``DUMPFILE`` line (see the module doc)."""
    theirs, mine = dumpfile_path(reference), dumpfile_path(ours)
    if theirs and mine and theirs != mine:
        return reference.replace(f"DUMPFILE: {theirs}", f"DUMPFILE: {mine}", 1)
    return reference


def replay(session_for: Callable[[], Session], dump: Any) -> list[tuple[str, str, str, str]]:
    """(key, command, crash's output, ours) for every reference line of *dump*, pass by pass."""
    out = []
    for pass_ in dump.get("reference_sessions", []):
        session = session_for()
        for step in pass_["commands"]:
            with open(step["output"], encoding="utf-8", errors="replace") as f:
                reference = f.read()
            ours = session.run(step["command"], echo=False)
            out.append((step["key"], step["command"], comparable(reference, ours), ours))
    return out


@pytest.mark.lab_dumps(where=lambda d: bool(d.get("reference_sessions")))
def test_every_reference_line(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    results = replay(lambda: crash_session(lab_dump), lab_dump)
    assert results, f"{lab_dump.name}: the oracle printed nothing"
    report = os.environ.get("CRASHCOMPAT_COMPAT_REPORT")
    failures, fixed = [], []
    for key, command, reference, ours in results:
        same, total = identical_share(ours, reference)
        gap = GAPS.get(command.split()[0])
        wrong = lab_dump.known_wrong(key) or (CRASH_DOUBTS in reference and CRASH_DOUBTS not in ours)
        if report:
            with open(report, "a", encoding="utf-8") as f:
                record = {"kernel": lab_dump.kernel, "dump": lab_dump.name, "key": key, "command": command}
                record |= {
                    "lines": total,
                    "identical": same,
                    "exact": ours == reference,
                    "known_wrong": bool(wrong),
                }
                f.write(json.dumps(record) + "\n")
        if wrong:
            continue
        if ours == reference:
            if gap:
                fixed.append(f"{key}: now identical; remove {command.split()[0]!r} from GAPS")
            continue
        if gap:
            continue
        failures.append(f"--- {key} ({same}/{total} lines identical)\n{line_diff(reference, ours)}")
    assert not fixed, "\n".join(fixed)
    assert not failures, f"{lab_dump.kernel}/{lab_dump.name}: {len(failures)} lines differ\n" + "\n".join(
        failures
    )


def line_diff(reference: str, ours: str, limit: int = 25) -> str:
    import difflib

    diff = difflib.unified_diff(reference.splitlines(), ours.splitlines(), "crash", "ours", lineterm="", n=1)
    return "\n".join(list(diff)[:limit])


#: Messages crash itself prints inside a normal output (its references on the other kernels show them).
CRASH_NOTICES = (
    "log: kernel audit log is empty",
    "ps: no user stack",
    "ps: cannot access user stack address",
    "mod: cannot find or load object file for",
    # rd -u of a sleeper's address in the panic task's context (crash says the same on the other kernels)
    "rd: invalid user virtual address:",
)


def error_line(command: str, output: str) -> str | None:
    """The first line of *output* that is an error of *command* (crash's ``name: message``), else None."""
    name = command.split()[0].split("/")[0]
    for line in output.splitlines():
        if line.startswith(CRASH_NOTICES):
            continue
        if line.startswith((f"{name}: ", "crash: ")) or "internal error" in line:
            return line
    return None


@pytest.mark.lab_dumps(where=lambda d: bool(d.get("reference_commands")))
def test_every_command_runs_where_crash_cannot(
    lab_dump: Any, crash_session: Callable[[Any], Session]
) -> None:
    """Beyond crash: on a dump the oracle cannot open, every command line it was given runs without an error
    (what each prints is checked against the guest's facts and drgn by the command's own tests)."""
    session = crash_session(lab_dump)
    report = os.environ.get("CRASHCOMPAT_COMPAT_REPORT")
    errors = []
    for step in lab_dump["reference_commands"]:
        command = step["command"]
        ours = session.run(command, echo=False)
        error = error_line(command, ours)
        if report:
            with open(report, "a", encoding="utf-8") as f:
                record = {"kernel": lab_dump.kernel, "dump": lab_dump.name, "command": command}
                f.write(json.dumps(record | {"crash_fails": True, "error": error}) + "\n")
        if error and command.split()[0] not in GAPS:
            errors.append(f"{command}: {error}")
    assert not errors, (
        f"{lab_dump.kernel}/{lab_dump.name}: crash cannot open it; ours fails too on\n" + "\n".join(errors)
    )
