"""The triage benchmark (issue 13): ``crashcompat triage --batch`` over the lab's dumps with 1 and with 2
Dask workers, and what one dump's triage costs beyond opening the dump.

``benchmarks/run.py --triage-only`` runs it alone; a full ``make bench`` runs it after the command
benchmark.  Writes ``results/triage.md`` and ``results/triage.json`` and docs/performance.md's
``bench:triage`` section.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: The batch's targets: 2 workers at least this much faster than 1, on at least this many dumps.
SPEEDUP_TARGET, MIN_DUMPS = 1.6, 8
#: One dump's triage beyond start-up: at most this many seconds.
COST_TARGET = 2.0

#: Run in a fresh Python: open the dump, then triage it; print the two times as JSON.
_ONE_DUMP = """
import json, sys, time
t0 = time.monotonic()
from crashcompat.core.kernel import Kernel, triage
from crashcompat.drgn import open_dump_target
kernel = Kernel(open_dump_target(sys.argv[1], sys.argv[2]))
t1 = time.monotonic()
result = triage.triage(kernel, module_search=sys.argv[3:])
t2 = time.monotonic()
print(json.dumps({"open": t1 - t0, "triage": t2 - t1, "class": result["class"]}))
"""


def kernel_root(vmlinux: str) -> str:
    """The directory a lab kernel's debug tree is unpacked in (``…/usr/lib/debug/boot/vmlinux-R`` less
    its ``usr/lib/debug/boot/vmlinux-R``): the ``--debug-root`` that finds its vmlinux."""
    marker = "/usr/lib/debug/"
    return vmlinux.split(marker, 1)[0] if marker in vmlinux else os.path.dirname(vmlinux)


def lab_dumps(cache: Path) -> tuple[list[str], list[str]]:
    """Every dump of the newest lab of each kernel series under *cache*, and the debug roots (kernel
    trees and test-module directories) a batch needs for them."""
    newest: dict[str, tuple[float, dict[str, Any]]] = {}
    for path in (cache / "labs").glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        series = str(manifest.get("series") or manifest["kernel"].get("series") or path.parent.name)
        stamp = path.stat().st_mtime
        if series not in newest or newest[series][0] < stamp:
            newest[series] = (stamp, manifest)
    dumps: list[str] = []
    roots: list[str] = []
    for _, manifest in sorted(newest.values(), key=lambda sm: str(sm[1]["kernel"]["release"])):
        roots.append(kernel_root(str(manifest["kernel"]["vmlinux"])))
        ko = manifest.get("test_module", {}).get("ko")
        if ko:
            roots.append(os.path.dirname(str(ko)))
        dumps += [str(d["path"]) for d in manifest["dumps"] if os.path.exists(str(d["path"]))]
    return dumps, roots


def batch_seconds(dumps: Sequence[str], roots: Sequence[str], workers: int, env: dict[str, str]) -> float:
    """Wall-clock seconds of one ``crashcompat triage --batch`` run (cluster start-up included)."""
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as out:
        argv = [sys.executable, "-m", "crashcompat", "triage", "--batch", *dumps, "--out", out]
        argv += ["--workers", str(workers)] + [a for r in roots for a in ("--debug-root", r)]
        start = time.monotonic()
        subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env, check=False)
        return time.monotonic() - start


def one_dump(dump: str, vmlinux: str, roots: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _ONE_DUMP, dump, vmlinux, *roots],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def measure(
    cache: Path,
    primary: tuple[str, str],
    env: dict[str, str],
    log: Callable[[str], None],
    reps: int = 2,
) -> dict[str, Any]:
    """The figures: batch seconds with 1 and 2 workers (minimum of *reps*), and the *primary* dump's
    (path, vmlinux) open and triage seconds (minimum of three fresh processes)."""
    dumps, roots = lab_dumps(cache)
    out: dict[str, Any] = {"dumps": len(dumps), "roots": roots, "load_before": os.getloadavg()[0]}
    for workers in (1, 2):
        times = []
        for _ in range(reps):
            log(f"triage --batch of {len(dumps)} dumps on {workers} worker(s)")
            times.append(batch_seconds(dumps, roots, workers, env))
        out[f"batch_{workers}"] = min(times)
    out["speedup"] = out["batch_1"] / out["batch_2"] if out.get("batch_2") else 0.0
    out["cpus"] = os.cpu_count()
    out["load_after"] = os.getloadavg()[0]
    runs = [one_dump(primary[0], primary[1], roots, env) for _ in range(3)]
    good = [r for r in runs if "error" not in r]
    out["one_dump"] = {
        "dump": primary[0],
        "open": min((r["open"] for r in good), default=None),
        "triage": min((r["triage"] for r in good), default=None),
        "errors": [r["error"] for r in runs if "error" in r],
    }
    return out


def render(figures: dict[str, Any], date: str) -> str:
    one = figures["one_dump"]
    speed_ok = figures["dumps"] >= MIN_DUMPS and figures["speedup"] >= SPEEDUP_TARGET
    cost = one["triage"]
    open_text = "n/a" if one["open"] is None else f"{one['open']:.2f}"
    cost_text = "n/a" if cost is None else f"{cost:.2f}"
    lines = [
        f"# crashcompat triage — {date}\n",
        f"`crashcompat triage --batch` over {figures['dumps']} lab dumps (every series' newest lab), wall "
        "clock including the local Dask cluster's start-up, minimum of the runs; and one dump's triage in a "
        f"fresh process, after the dump is open. Machine: {figures.get('cpus')} CPUs, 1-minute load average "
        f"{figures.get('load_before', 0):.1f} before and {figures.get('load_after', 0):.1f} after (a second "
        "worker only helps when a CPU is free).\n",
        "| measure | seconds | target | verdict |",
        "|---|---|---|---|",
        f"| batch, 1 worker | {figures['batch_1']:.1f} | | |",
        f"| batch, 2 workers | {figures['batch_2']:.1f} | | |",
        f"| speed-up, 2 vs 1 worker | {figures['speedup']:.2f}x | >= {SPEEDUP_TARGET}x on >= {MIN_DUMPS} "
        f"dumps | {'met' if speed_ok else 'missed'} |",
        f"| one dump: open (start-up) | {open_text} | | |",
        f"| one dump: triage beyond start-up | {cost_text} | <= {COST_TARGET} | "
        f"{'met' if cost is not None and cost <= COST_TARGET else 'missed'} |",
        "",
        f"One dump: `{one['dump']}`." + (f" Errors: {'; '.join(one['errors'])}." if one["errors"] else ""),
        "",
    ]
    return "\n".join(lines)
