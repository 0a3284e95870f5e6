"""Start-up on every kernel series of the lab, side by side: crash (the lab's oracle), drgn and crashcompat.

``benchmarks/run.py --kernels 5.10,6.1,6.12,newest`` builds (or finds in the cache) each series' lab, takes its
real kdump in ELF format (every tool opens it), and runs one short session per tool and repetition: ``sys``.
The start-up (launch to the first prompt, from the session's marks) is the figure; crashcompat's target is at
most 1.2x drgn's on every kernel.  Where crash cannot open a series' dumps, its column says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashbench.bench import run_session_with
from crashbench.stats import fmt_ratio, fmt_seconds, ratio
from crashbench.tools import Crash, Crashcompat, DrgnCrash, Dump, Tool

#: The figure's session: one cheap command, so that the time is the start-up.
COMMANDS = ["sys"]
#: crashcompat's bound against drgn's start-up.
LIMIT = 1.2


@dataclass
class KernelStart:
    """One series: its release, dump, and each tool's best start-up (None: the tool failed, with why)."""

    series: str
    release: str
    dump: str
    best: dict[str, float | None]
    why: dict[str, str]


def lab_manifest(repo: Path, series: str) -> dict[str, Any]:
    """``crashlab build --kernel SERIES`` (a cache hit once built) and its manifest."""
    argv = [sys.executable, str(repo / "contrib" / "lab" / "crashlab"), "build", "--kernel", series]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True, timeout=5400)
    path = proc.stdout.strip().splitlines()[-1]
    manifest: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return manifest


def pick_dump(manifest: dict[str, Any]) -> Dump:
    """The series' kdump in ELF format (else its first dump)."""
    vmlinux = str(manifest["kernel"]["vmlinux"])
    entries = manifest["dumps"]
    chosen = next((d for d in entries if d["capture"] == "kdump" and d["format"] == "elf"), entries[0])
    return Dump.from_manifest(chosen, vmlinux)


def measure(
    repo: Path, series: Sequence[str], reps: int, workdir: Path, log: Callable[[str], None]
) -> list[KernelStart]:
    out = []
    for name in series:
        manifest = lab_manifest(repo, name)
        dump = pick_dump(manifest)
        oracle = manifest.get("oracle") or {}
        tools: list[Tool] = [Crash(reps, oracle.get("argv")), DrgnCrash(reps), Crashcompat(reps, "drgn")]
        best: dict[str, float | None] = {}
        why: dict[str, str] = {}
        for rep in range(reps):
            for tool in tools:
                result = run_session_with(tool, dump, COMMANDS, workdir)
                log(f"{name:7} {tool.key:8} rep {rep} start {fmt_seconds(result.start)} {result.error}")
                if result.start is None:
                    why.setdefault(tool.key, result.error)
                    best.setdefault(tool.key, None)
                    continue
                current = best.get(tool.key)
                best[tool.key] = result.start if current is None else min(current, result.start)
        out.append(KernelStart(name, str(manifest["kernel"]["release"]), dump.name, best, why))
    return out


def table(results: Sequence[KernelStart]) -> str:
    """Markdown: one row per series, the three start-ups and crashcompat's ratios, and the verdict."""
    lines = [
        "| kernel | dump | crash | drgn %crash | crashcompat on drgn | vs drgn | vs crash |",
        "|:---|:---|---:|---:|---:|---:|---:|",
    ]
    missed = []
    for r in results:
        cc, drgn, crash = (r.best.get(k) for k in ("cc-drgn", "drgn", "crash"))
        to_drgn = ratio(cc, drgn)
        if to_drgn is None or to_drgn > LIMIT:
            missed.append(r.series)
        crash_cell = fmt_seconds(crash) if crash is not None else "cannot open"
        lines.append(
            f"| {r.series} ({r.release}) | {r.dump} | {crash_cell} | {fmt_seconds(drgn)} | {fmt_seconds(cc)} "
            f"| {fmt_ratio(to_drgn)} | {fmt_ratio(ratio(cc, crash))} |"
        )
    verdict = f"crashcompat's start-up <= {LIMIT}x drgn's on every kernel: " + (
        "met" if not missed else f"**missed** on {', '.join(missed)}"
    )
    return "\n".join(lines) + "\n\n" + verdict + "\n"
