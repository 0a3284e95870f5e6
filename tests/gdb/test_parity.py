"""The GDB backend prints exactly what the drgn backend prints, command line by command line, on every lab
dump: kdump-compressed and flattened files through ``crashcompat-gdbserver``, ELF dumps both as GDB's own
core file and through the bridge.

The command lines are the ones the lab ran real crash with (its reference outputs), plus :data:`EXTRA` for
commands crash was not asked about; every registered command must be covered by one of them, so a new
command cannot slip past this test.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

import pytest

from crashcompat.core.plugins import PluginHost
from crashcompat.testing.lab import expect_failure
from crashcompat.testing.sessions import run_cli

pytestmark = [pytest.mark.lab, pytest.mark.gdb]

#: Lines for commands the lab's crash references do not exercise ({crash_pid} etc. from the dump's facts).
EXTRA = [
    "help",
    "help ps",
    "plugins",
    "panicinfo",
    "hex",
    "ps {crash_pid}",
    "dec",
    "set",
    "set {crash_pid}",
    "set -p",
    "files",
    "files -c 1",
    "files -R null {crash_pid}",
    "vm",
    "vm -p 1",
    "vm -R 400000 {crash_pid}",
    "vm -f 8100073",
    "foreach bt",
    "foreach user files",
    "foreach 'fix.*' vm",
    "foreach sig -g",
    "runq",
    "runq -g",
    "runq -d",
    "mount",
    "mount /proc",
    "sig",
    "sig -g 1",
    "sig -l",
    "swap",
    "irq",
    "irq -s",
    "irq -a",
    "irq -b",
    "timer",
    "timer -r",
    "tree vmap_area_root",
    "tree -t xarray -p irq_desc_tree",
    "net",
    "net -N 16777343",
    "waitq log_wait",
    "dev",
    "task -R pid,comm",
    "task",
    "foreach 1 task -R pid",
    "vm -m 1",
    "vm -v 1",
    "net -s 1",
    "net -S 1",
    "foreach user net -s",
    "foreach IN ps -c",
    "foreach -g 1 ps",
    "ipcs",
    "ipcs -M -q",
    "files -p 1",
    "dev -i",
    "dev -p",
    "dev -d",
    "tree -s vmap_area.va_start,va_end -o vmap_area.rb_node vmap_area_root",
    "tree -t xarray -S irq_desc.irq_count,name,handle_irq irq_desc_tree",
    "struct -o task_struct",
    "struct list_head init_task",
    "union rcu_special",
    "* list_head jiffies",
    "p init_task.comm",
    "p this_cpu_off:a",
    "px jiffies",
    "pd jiffies",
    "whatis schedule",
    "whatis pid_t",
    "ptype struct list_head",
    "triage",
    "search -K -w deadbeef",
    "wr jiffies 0",
]
#: Commands that end or leave the session: the exit status is compared instead.
NOT_RUN = {"q", "exit", "quit"}
MARKER = "=====crashcompat-parity====="


def registered_commands() -> set[str]:
    host = PluginHost()
    host.load()
    return {spec.name for _, spec in host.hooks.commands()}


def command_lines(dump: Any) -> list[str]:
    lines: list[str] = []
    for reference in dump.get("reference", {}):
        lines += [part.strip() for part in reference.split(";")]
    facts = dump.facts
    lines += [line.format(crash_pid=facts["crash_pid"]) for line in EXTRA]
    return lines


def split_outputs(text: str, lines: list[str]) -> dict[str, str]:
    """Each line's output, keyed ``"<n>: <line>"`` (the marker's echo separates them)."""
    parts = text.split(MARKER + "\n")
    return {
        f"{n}: {line}": parts[n + 1] if n + 1 < len(parts) else "<missing>" for n, line in enumerate(lines)
    }


def run_both(dump: Any, vmlinux: str, lines: list[str], env: dict[str, str]) -> tuple[dict[str, str], ...]:
    script = [part for line in lines for part in (f"!echo {MARKER}", line)]
    drgn_out = run_cli(dump, script, "drgn", vmlinux=vmlinux)
    gdb_out = run_cli(dump, script, "gdb", vmlinux=vmlinux, env=env)
    return split_outputs(drgn_out, lines), split_outputs(gdb_out, lines)


def test_every_command_has_lines(lab_manifest: Any) -> None:
    covered = {line.split()[0] for line in command_lines(lab_manifest.default_dump)}
    missing = registered_commands() - covered - NOT_RUN
    assert not missing, f"add representative command lines for {sorted(missing)} to EXTRA"


def test_gdb_matches_drgn(lab_manifest: Any, lab_dump: Any) -> None:
    check_parity(lab_manifest, lab_dump, "default")


#: (series, mode) -> why GDB cannot run the session yet; strict expected failures (issue 15 stays open).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.lab_dumps(format="elf")  # non-ELF dumps always go through the bridge (the default mode)
def test_gdb_bridge_matches_drgn(lab_manifest: Any, lab_dump: Any, request: pytest.FixtureRequest) -> None:
    expect_failure(request, KNOWN_BUGS.get((lab_dump.kernel, "bridge")))
    check_parity(lab_manifest, lab_dump, "bridge")


def check_parity(lab_manifest: Any, lab_dump: Any, mode: str) -> None:
    commands = registered_commands()
    lines = [line for line in command_lines(lab_dump) if line.split()[0] in commands - NOT_RUN]
    env = {"CRASHCOMPAT_GDB_BRIDGE": "1"} if mode == "bridge" else {}
    drgn_out, gdb_out = run_both(lab_dump, lab_manifest.vmlinux, lines, env)
    report, failures = [], []
    for key, expected in drgn_out.items():
        got = gdb_out[key]
        same = sum(a == b for a, b in zip(expected.splitlines(), got.splitlines(), strict=False))
        total = max(len(expected.splitlines()), len(got.splitlines()))
        report.append(f"{100 * same / total if total else 100:6.1f}%  {key}")
        if got != expected:
            diff = difflib.unified_diff(
                expected.splitlines(), got.splitlines(), "drgn", "gdb", lineterm="", n=1
            )
            failures.append(f"--- {key}\n" + "\n".join(list(diff)[:30]))
    if os.environ.get("CRASHCOMPAT_PARITY_REPORT"):
        with open(os.environ["CRASHCOMPAT_PARITY_REPORT"], "a", encoding="utf-8") as f:
            f.write(f"# {lab_dump.name} ({mode})\n" + "\n".join(report) + "\n")
    assert not failures, f"{len(failures)} of {len(drgn_out)} command lines differ:\n" + "\n\n".join(failures)
