"""Inside GDB, on a lab dump: the type model from GDB's own types (``GdbTarget.type_info`` /
``variable_type``) printed by the shared printer gives crash's text — the same cases as the drgn backend's
``tests/lab/test_data.py``, against the real crash run on the same dump."""

from __future__ import annotations

import sys
from pathlib import Path

from gdbhelp import context

from crashcompat.gdb import command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from crash_oracle import adopt_oracle, run_crash
from test_data import HISTORY, KNOWN_DIFFERENT, cases, command_lines, compare


def test_printer_matches_crash() -> None:
    session = command.session()
    ctx = context()
    adopt_oracle(ctx["vmlinux"], ctx.get("oracle"))
    dump = ctx["dump"]
    load = f"mod -s crashme {dump['test_module_ko']}"
    session.run(load, echo=False)
    table = cases(session.kernel, dump["facts"])
    oracle = run_crash(ctx["vmlinux"], dump["path"], [load, *table])
    assert oracle, "crash did not run"
    failures = []
    for line, render in table.items():
        if line in KNOWN_DIFFERENT:
            continue
        expected = HISTORY.sub("$N = ", oracle[line])
        got = HISTORY.sub("$N = ", render())
        if got != expected:
            failures.append(f"--- {line}\n--- crash:\n{expected[:3000]}\n--- ours:\n{got[:3000]}")
    assert not failures, "\n".join(failures)


def test_commands_match_crash() -> None:
    session = command.session()
    ctx = context()
    adopt_oracle(ctx["vmlinux"], ctx.get("oracle"))
    dump = ctx["dump"]
    load = f"mod -s crashme {dump['test_module_ko']}"
    session.run(load, echo=False)
    lines = command_lines(session.kernel, dump["facts"])
    oracle = run_crash(ctx["vmlinux"], dump["path"], [load, *lines])
    assert oracle, "crash did not run"
    failures = compare(session, lines, oracle)
    assert not failures, "\n".join(failures)
