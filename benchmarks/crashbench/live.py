"""The live benchmark: crashcompat on GDB over QEMU's gdbstub and over KGDB's serial line.

For each command (first in a session whose caches were just dropped): the time, GDB's ``read_memory``
calls and the bytes they fetched, the remote-protocol packets and the bytes received on the link, and the
minimum — the distinct bytes the command asked the Target for (:mod:`crashbench.gdb_live`).

One VM at a time on this machine: ``crashlab live --wait`` starts the lab's live guest once no other one
runs, and the benchmark always stops its own (and only its own).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crashbench.bench import COMMANDS
from crashbench.report import command_label, markdown_table
from crashbench.stats import fmt_ratio, fmt_seconds, ratio

HERE = Path(__file__).resolve().parent
#: Seconds one command may read on each link before it is stopped (KGDB's 115200-baud line moves about
#: 5 KiB/s of memory: ``kmem -i`` would take most of an hour).
BUDGET = {"gdbstub": 300, "kgdb": 120}
#: Seconds GDB may take for all the commands on one link, and the live guest's lifetime, a little longer.
GDB_TIMEOUT = 2400
LIFETIME = GDB_TIMEOUT + 300


def crashlab(repo: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "contrib" / "lab" / "crashlab"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def running_vm(repo: Path) -> dict[str, Any] | None:
    """The lab's live guest, if one runs (anyone's)."""
    proc = crashlab(repo, "status", "--json", timeout=120)
    try:
        live: dict[str, Any] | None = json.loads(proc.stdout).get("live")
    except ValueError:
        return None
    return live


def gdb_argv(info: dict[str, Any], remotelog: Path) -> list[str]:
    """GDB on the live guest with crashcompat loaded, running :mod:`crashbench.gdb_live` (``file``, not
    ``symbol-file``: KGDB sends no target description, GDB takes the architecture from the vmlinux; the
    ``crash`` command finds the KASLR offset itself)."""
    from crashcompat.gdb import script_path
    from crashcompat.gdb.launcher import index_cache_dir

    port = info["gdb_port"] if info["mode"] == "gdbstub" else info["kgdb_port"]
    argv = [
        "gdb",
        "-q",
        "-nx",
        "-batch",
        "-iex",
        "set index-cache enabled on",
        "-iex",
        f"set index-cache directory {index_cache_dir()}",
        "-ex",
        f"file {info['vmlinux']}",
    ]
    if info["mode"] == "kgdb":
        argv += ["-ex", "set serial baud 115200"]
    argv += [
        "-ex",
        f"set remotelogfile {remotelog}",
        "-ex",
        f"target remote {info['host']}:{port}",
        "-ex",
        f"source {script_path()}",
        "-ex",
        f"source {HERE / 'gdb_live.py'}",
    ]
    return argv


def live_commands(facts: dict[str, Any], pte: str) -> list[str]:
    """The benchmark's commands on the live guest: ``vtop`` of its ``crashme_magic``, ``pte`` *pte* (a
    value from a dump: the command only decodes it).  ``foreach`` is left out: over a live link every task's
    stack is a remote read."""
    vtop = f"{int(str(facts['symbols']['crashme_magic']), 16):x}"
    return [c.format(vtop=vtop, pte=pte) for c in COMMANDS if not c.startswith("foreach")]


def measure(repo: Path, mode: str, pte: str, log: Callable[[str], None], wait: float = 900) -> dict[str, Any]:
    """Start the live guest (*mode* ``gdbstub`` or ``kgdb``; ``crashlab live --wait`` waits up to *wait*
    seconds for another one to end), measure the commands, stop the guest."""
    log(f"live {mode}: starting the lab's guest (waiting up to {wait:.0f} s for another one to end)")
    started = crashlab(
        repo,
        "live",
        f"--{mode}",
        "--json",
        "--lifetime",
        str(LIFETIME),
        "--wait",
        str(wait),
        timeout=wait + 900,
    )
    if started.returncode != 0:
        why = " ".join(started.stderr.strip().splitlines()[-1:])
        return {"mode": mode, "skipped": f"crashlab live failed: {why}"}
    info = json.loads(started.stdout)
    commands = live_commands(info["facts"], pte)
    log(f"live {mode}: measuring {len(commands)} commands")
    try:
        result = run_gdb(info, commands)
    finally:
        still = running_vm(repo)
        mine = still is not None and still.get("pid") == info.get("pid")
        if mine:
            crashlab(repo, "stop", timeout=120)
            log(f"live {mode}: stopped the guest")
    if not mine:
        result.setdefault("note", "the guest was gone at the end of the run (stopped by someone else?)")
    result["mode"] = mode
    return result


def run_gdb(info: dict[str, Any], commands: Sequence[str]) -> dict[str, Any]:
    """GDB with :mod:`crashbench.gdb_live` on the live guest *info* (``crashlab live --json``)."""
    from crashcompat.gdb.launcher import site_dirs

    with tempfile.TemporaryDirectory(prefix="crashbench-live-") as tmp:
        out, remotelog = Path(tmp) / "out.json", Path(tmp) / "remote.log"
        cfg = {
            "commands": list(commands),
            "output": str(out),
            "remotelog": str(remotelog),
            "budget": BUDGET[info["mode"]],
        }
        env = {
            **os.environ,
            "CRASHCOMPAT_SITE": os.pathsep.join(site_dirs()),
            "CRASHBENCH_LIVE": json.dumps(cfg),
        }
        try:
            proc = subprocess.run(
                gdb_argv(info, remotelog),
                env=env,
                capture_output=True,
                text=True,
                timeout=GDB_TIMEOUT,
                check=False,
            )
            why = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        except subprocess.TimeoutExpired:
            why = [f"GDB ran out of its {GDB_TIMEOUT} s"]
        if not out.exists():
            return {"skipped": f"GDB produced no results: {' | '.join(why)}"}
        result: dict[str, Any] = json.loads(out.read_text())
        if len(result["commands"]) < len(commands):
            result["note"] = (
                f"only {len(result['commands'])} of {len(commands)} commands ran: {' | '.join(why)}"
            )
        return result


def table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown: per command and link, time, GDB reads, bytes fetched, packets and bytes received, and the
    minimum (distinct bytes asked for)."""
    rows, notes = [], []
    for res in results:
        if "skipped" in res:
            notes.append(f"- {res['mode']}: not measured ({res['skipped']})")
            continue
        if "note" in res:
            notes.append(f"- {res['mode']}: {res['note']}")
        link = {"gdbstub": "QEMU gdbstub", "kgdb": "KGDB serial 115200"}[res["mode"]]
        rows.append(
            [
                f"attach ({link})",
                fmt_seconds(res.get("attach_seconds")),
                "",
                "",
                str(res.get("attach_packets", "")),
                _kb(res.get("attach_received")),
                "",
                "",
            ]
        )
        for c in res["commands"]:
            status = " (err)" if c["first_line"].startswith(c["command"].split()[0] + ":") else ""
            status = " (stopped: over budget)" if c.get("over_budget") else status
            rows.append(
                [
                    f"{command_label(c['command'])}{status} ({link})",
                    fmt_seconds(c["seconds"]),
                    str(c["read_calls"]),
                    _kb(c["bytes"]),
                    str(c.get("packets", "")),
                    _kb(c.get("received")),
                    _kb(c["requested_bytes"]),
                    fmt_ratio(ratio(c["bytes"], c["requested_bytes"])),
                ]
            )
    header = [
        "command (link)",
        "time",
        "GDB reads",
        "bytes fetched",
        "packets sent",
        "bytes received",
        "minimum: distinct bytes asked",
        "fetched / minimum",
    ]
    return (markdown_table(header, rows) if rows else "") + "".join(f"{n}\n" for n in notes)


def _kb(value: int | None) -> str:
    return "" if value is None else f"{value / 1024:.0f} KiB"
