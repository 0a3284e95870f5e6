"""Inside GDB, on a lab dump: ``rd``, ``ptov``, ``wr``, ``list``, ``search`` and ``dis`` through GDB's target
(GDB's own disassembler for ``dis``) give crash's text — the same command lines as the drgn backend's
``tests/lab/test_memory.py``, against the real crash run on the same dump."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from gdbhelp import context

from crashcompat.core.kernel import tasks
from crashcompat.gdb import command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from crash_oracle import adopt_oracle, run_crash
from test_memory import command_lines, compare


@pytest.mark.parametrize("family", ["rd", "ptov", "list", "search", "dis"])
def test_memory_commands_match_crash(family: str) -> None:
    session = command.session()
    ctx = context()
    dump = ctx["dump"]
    load = f"mod -s crashme {dump['test_module_ko']}"
    session.run(load, echo=False)
    session.context_task = tasks.default_context(session.kernel)
    lines = command_lines(session.kernel, dump["facts"])[family]
    adopt_oracle(ctx["vmlinux"], ctx.get("oracle"))
    oracle = run_crash(ctx["vmlinux"], dump["path"], [load, *lines])
    assert oracle, "crash did not run"
    failures, total, same = compare(session, lines, oracle)
    print(f"{family}: {same}/{total} lines identical")
    assert not failures, "\n".join(failures)
