"""The benchmark's plan: which sessions run, in which order, and the raw records they produce."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crashbench.measure import CommandResult, SessionResult, measure_session
from crashbench.tools import DRIVER, Dump, Tool

#: The commands of the issue, in this order; ``{vtop}`` and ``{pte}`` are filled per dump.
COMMANDS = ["sys", "bt", "bt -a", "ps", "log", "mod", "kmem -i", "kmem -s", "vtop {vtop}", "pte {pte}"]
#: A PTE for ``pte`` when the dump's own cannot be read (the command only decodes the value).
PTE_EXAMPLE = "800000001fe6a163"
#: Failed sessions (no marks: the tool did not start or died) of one tool on one dump before giving up.
MAX_FAILURES = 2
#: What a command is called in the tables (its arguments differ per dump).
COMMAND_LABELS = {"vtop {vtop}": "vtop ADDR", "pte {pte}": "pte VALUE"}


@dataclass
class Record:
    """One measured session: which tool on which dump, in which mode (``cold``: one command per session;
    ``set``: every command in one session; ``warmup``: discarded) and what it measured."""

    tool: str
    dump: str
    mode: str
    rep: int
    result: SessionResult

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        fields = {k: v for k, v in data.items() if k not in ("tool", "dump", "mode", "rep", "commands")}
        result = SessionResult(**fields, commands=[CommandResult(**c) for c in data["commands"]])
        return cls(data["tool"], data["dump"], data["mode"], data["rep"], result)

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "dump": self.dump,
            "mode": self.mode,
            "rep": self.rep,
            **asdict(self.result),
        }


@dataclass
class Plan:
    """What to run. ``primary`` gets the per-command cold sessions; every dump gets the whole-set sessions.
    ``workdir`` holds the command files and the tools' bytecode cache."""

    dumps: list[Dump]
    workdir: Path
    primary: Dump
    tools: list[Tool]
    cold: bool = True
    reps_other: int = 2  # repetitions of the whole-set sessions on the dumps other than the primary
    timeout: float = 600
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    commands: dict[str, list[str]] = field(default_factory=dict)  # per dump name, filled by prepare()
    skip: dict[tuple[str, str], str] = field(default_factory=dict)  # (tool, dump) -> why not run


def vtop_address(dump: Dump) -> int:
    """A module data address of the test module (``crashme_magic``): a 4-level walk to a 4 KiB page
    (``linux_banner`` in a lab without the test module)."""
    return int(str(dump.symbols.get("crashme_magic") or dump.symbols["linux_banner"]), 16)


def dump_commands(dump: Dump, log: Callable[[str], None]) -> list[str]:
    """The issue's commands with this dump's ``vtop`` address and the ``pte`` that maps it."""
    address = vtop_address(dump)
    argv = [sys.executable, str(DRIVER), "--pte", dump.path, dump.vmlinux, dump.format, f"{address:x}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    try:
        pte = proc.stdout.split()[-1]
        int(pte, 16)
    except (IndexError, ValueError):
        log(
            f"{dump.name}: cannot read the PTE of {address:x} ({proc.stderr.strip()[-200:]}); pte {PTE_EXAMPLE}"
        )
        pte = PTE_EXAMPLE
    return [c.format(vtop=f"{address:x}", pte=pte) for c in COMMANDS]


def warm_files(paths: Sequence[str]) -> None:
    """Read *paths* once so that every tool finds them in the page cache (the first tool is not charged
    for the disk)."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def prepare(plan: Plan) -> None:
    """Commands per dump, files in the page cache, and which (tool, dump) pairs cannot run."""
    warm_files([plan.primary.vmlinux, *(d.path for d in plan.dumps)])
    for dump in plan.dumps:
        plan.commands[dump.name] = dump_commands(dump, plan.log)
        for tool in plan.tools:
            why = tool.unavailable(dump)
            if why:
                plan.skip[(tool.key, dump.name)] = why


def session_environment(workdir: Path) -> dict[str, str]:
    """The tools' environment: Python may cache compiled bytecode, in *workdir* (not in the repository).

    Without this, ``PYTHONDONTWRITEBYTECODE=1`` (set on the project's machines) makes every crashcompat
    start compile its editable sources again (0.15-0.25 s), which an installed package never does.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def run_session(plan: Plan, tool: Tool, dump: Dump, commands: Sequence[str]) -> SessionResult:
    return run_session_with(tool, dump, commands, plan.workdir, plan.timeout)


def run_session_with(
    tool: Tool, dump: Dump, commands: Sequence[str], workdir: Path, timeout: float = 600
) -> SessionResult:
    """One measured session of *tool* on *dump* running *commands*, in the tools' environment."""
    inv = tool.invocation(dump, commands, workdir)
    env = {**session_environment(workdir), **(inv.env or {})}
    return measure_session(inv.argv, commands, stdin_text=inv.stdin, env=env, timeout=timeout)


def run(plan: Plan) -> list[Record]:
    """Warm-up, cold per-command sessions on the primary dump, then whole-set sessions on every dump.

    Repetitions are interleaved (rep 1 of every tool, then rep 2 …) so that the load of this shared
    machine drifting during the run weighs on every tool alike.
    """
    prepare(plan)
    records: list[Record] = []
    failures: dict[tuple[str, str], int] = {}
    t_start = time.monotonic()

    def one(tool: Tool, dump: Dump, mode: str, rep: int, commands: Sequence[str]) -> None:
        if (tool.key, dump.name) in plan.skip:
            return
        result = run_session(plan, tool, dump, commands)
        records.append(Record(tool.key, dump.name, mode, rep, result))
        what = commands[0] if mode == "cold" else f"{len(commands)} commands"
        plan.log(
            f"[{time.monotonic() - t_start:6.0f}s] {tool.key:13} {dump.name:34} {mode:6} rep {rep} "
            f"{what:24} wall {result.wall:6.2f}s" + (f"  FAILED: {result.error}" if result.error else "")
        )
        if result.error:  # no marks at all: the session failed
            failures[(tool.key, dump.name)] = failures.get((tool.key, dump.name), 0) + 1
            if mode == "warmup" or failures[(tool.key, dump.name)] >= MAX_FAILURES:
                plan.skip[(tool.key, dump.name)] = f"given up after a failed session: {result.error}"

    primary_cmds = plan.commands[plan.primary.name]
    for tool in plan.tools:
        one(tool, plan.primary, "warmup", 0, primary_cmds)
    if plan.cold:
        for rep in range(max(t.reps for t in plan.tools)):
            for command in primary_cmds:
                for tool in plan.tools:
                    if rep < tool.reps:
                        one(tool, plan.primary, "cold", rep, [command])
    for rep in range(max(t.reps for t in plan.tools)):
        for dump in plan.dumps:
            for tool in plan.tools:
                if rep < (tool.reps if dump == plan.primary else min(tool.reps, plan.reps_other)):
                    one(tool, dump, "set", rep, plan.commands[dump.name])
    return records
