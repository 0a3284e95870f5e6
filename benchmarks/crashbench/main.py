"""``make bench`` / ``benchmarks/run.py``: crash, drgn ``%crash`` and crashcompat side by side on the lab dumps.

Writes ``benchmarks/results/latest.md`` (tables, verdicts, profiles), ``latest.png`` (the plot) and
``latest.json`` (every session's raw figures), prints the tables, and copies them into
docs/performance.md between its ``bench:latest`` markers.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crashbench import report
from crashbench.bench import PTE_EXAMPLE, Plan, Record, run, session_environment
from crashbench.tools import Dump, Tool, all_tools

BENCH_DIR = Path(__file__).resolve().parents[1]
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DOC = REPO / "docs" / "performance.md"
DOC_BEGIN, DOC_END = "<!-- bench:latest:begin -->", "<!-- bench:latest:end -->"
LIVE_BEGIN, LIVE_END = "<!-- bench:live:begin -->", "<!-- bench:live:end -->"
KERNELS_BEGIN, KERNELS_END = "<!-- bench:kernels:begin -->", "<!-- bench:kernels:end -->"
TRIAGE_BEGIN, TRIAGE_END = "<!-- bench:triage:begin -->", "<!-- bench:triage:end -->"
#: The bigger guests (1 GiB and 2 GiB): with qemu-sysrq's ELF dump, three sizes for the growth fit.
SCALE_SCENARIOS = ["scale-1g", "scale"]
#: The lab scenarios the benchmark asks for: the default dumps and the bigger guests.
LAB_SCENARIOS = ["kdump-null", "qemu-sysrq", "kgdb", *SCALE_SCENARIOS]


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def install_requirements() -> None:
    """The benchmark's own dependencies (matplotlib for the plot, pyinstrument for the profiles), installed
    into this Python's environment on first use."""
    missing = [m for m in ("matplotlib", "pyinstrument") if importlib.util.find_spec(m) is None]
    if missing:
        log(f"installing {', '.join(missing)} (benchmarks/requirements.txt)")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(BENCH_DIR / "requirements.txt")],
            check=False,
        )


def load_manifest(path: str | None) -> tuple[dict[str, Any], Path]:
    """The lab's manifest: *path* (``newest``: the newest one in the lab's cache), else what
    ``crashlab build`` prints (building the lab if needed: :data:`LAB_SCENARIOS`, else its defaults)."""
    if path == "newest":
        cache = Path(os.environ.get("CRASHCOMPAT_LAB_CACHE") or "/var/cache/crashcompat-lab")
        found = sorted((cache / "labs").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise SystemExit(f"bench: no lab manifest under {cache}/labs")
        path = str(found[-1])
    for scenarios in [] if path else [LAB_SCENARIOS, []]:
        log(f"crashlab build {' '.join(f'--scenario {s}' for s in scenarios)} (reuses the cached lab)")
        argv = [sys.executable, str(REPO / "contrib" / "lab" / "crashlab"), "build"]
        proc = subprocess.run(
            argv + [a for s in scenarios for a in ("--scenario", s)],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and lines:
            path = lines[-1]
            break
        log(f"crashlab build failed (status {proc.returncode})")
    if path is None:
        raise SystemExit("bench: the lab could not be built; give --manifest PATH")
    with open(path, encoding="utf-8") as f:
        return json.load(f), Path(path)


def pin(dump: Dump, directory: Path) -> Dump:
    """*dump* hard-linked into *directory*, so that the lab pruning an old cache entry during the run does
    not take the file away (the original path when a link is impossible)."""
    link = directory / f"{dump.name}.{Path(dump.path).name}"
    try:
        os.link(dump.path, link)
    except OSError:
        return dump
    return dataclasses.replace(dump, path=str(link))


def environment(manifest_path: Path) -> dict[str, Any]:
    """What the figures depend on: the machine, its load, the tools' versions, the code's revision."""

    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=60, check=False
            ).stdout.strip()
        except OSError:
            return ""

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")), ""
    )
    import drgn

    rev = out(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", str(REPO), "status", "--porcelain", "--", "crashcompat"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, {cpu}, {platform.release()}",
        "load_before": os.getloadavg()[0],
        "crash": _oracle_version(manifest_path) or out(["crash", "--version"]).splitlines()[0:1],
        "gdb": out(["gdb", "--version"]).splitlines()[0:1],
        "drgn": drgn.__version__,
        "python": platform.python_version(),
        "crashcompat": f"{rev}{' + uncommitted changes' if dirty else ''}",
        "manifest": str(manifest_path),
    }


def _oracle_version(manifest_path: Path) -> list[str]:
    """The lab oracle's name and version (the crash the benchmark runs), as ``crash --version`` would head it."""
    try:
        oracle = json.loads(manifest_path.read_text(encoding="utf-8")).get("oracle") or {}
    except (OSError, ValueError):
        return []
    return [f"crash {oracle['version']}"] if oracle.get("version") else []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__)
    p.add_argument(
        "--manifest", help="the lab's manifest.json, or 'newest' (default: what `crashlab build` prints)"
    )
    p.add_argument("--dumps", help="comma-separated dump names (default: every dump of the lab)")
    p.add_argument(
        "--primary",
        help="the dump of the per-command table (default: the lab's first kdump in ELF "
        "format, which every tool opens, else its default dump)",
    )
    p.add_argument("--reps", type=int, default=5, help="repetitions of drgn and crashcompat-drgn (default 5)")
    p.add_argument("--reps-crash", type=int, default=3, help="repetitions of crash (default 3)")
    p.add_argument("--reps-gdb", type=int, default=3, help="repetitions of crashcompat on GDB (default 3)")
    p.add_argument(
        "--reps-other",
        type=int,
        default=2,
        help="repetitions of the whole-set sessions on the other dumps (default 2)",
    )
    p.add_argument("--tools", help="comma-separated tool keys (crash,drgn,cc-drgn,cc-gdb-core,cc-gdb-bridge)")
    p.add_argument(
        "--live",
        action="store_true",
        help="also measure the live links (QEMU gdbstub, KGDB): starts the lab's live guests, one at a time, "
        "after any other one ends",
    )
    p.add_argument("--live-only", action="store_true", help="only the live links (keeps the dump results)")
    p.add_argument("--live-links", default="gdbstub,kgdb", help="which live links (default: gdbstub,kgdb)")
    p.add_argument(
        "--triage-only",
        action="store_true",
        help="only the triage benchmark: --batch with 1 and 2 workers over every series' dumps, and one "
        "dump's triage beyond start-up (keeps the other results)",
    )
    p.add_argument("--no-triage", action="store_true", help="skip the triage benchmark")
    p.add_argument(
        "--from-json", metavar="PATH", help="render an earlier run's latest.json again, run nothing"
    )
    p.add_argument(
        "--kernels",
        metavar="SERIES",
        help="only the start-up on these lab kernel series (comma-separated, e.g. 5.10,6.1,6.12,newest)",
    )
    p.add_argument("--no-cold", action="store_true", help="skip the one-command sessions")
    p.add_argument("--no-profile", action="store_true", help="do not profile the misses")
    p.add_argument("--quick", action="store_true", help="one repetition, the primary dump only, no profiles")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default benchmarks/results)")
    p.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    p.add_argument("--no-install", action="store_true", help="do not pip-install matplotlib and pyinstrument")
    args = p.parse_args(argv)
    if args.quick:
        args.reps = args.reps_crash = args.reps_gdb = args.reps_other = 1
        args.no_profile = True
    return args


def make_tools(args: argparse.Namespace, manifest: dict[str, Any] | None = None) -> list[Tool]:
    """The tools of the run; crash is the lab's oracle (the manifest's ``oracle.argv``) when there is one."""
    oracle = (manifest or {}).get("oracle") or {}
    tools = all_tools(args.reps_crash, args.reps, args.reps_gdb, oracle.get("argv"))
    if args.tools:
        wanted = args.tools.split(",")
        tools = [t for t in tools if t.key in wanted]
    return tools


def profile_misses(plan: Plan, rows: list[str]) -> dict[str, Any]:
    """pyinstrument profiles of crashcompat-drgn's start-up and of the commands of *rows*, on the primary
    dump, in the tools' environment (its bytecode cache is warm by now)."""
    primary = plan.primary
    chosen = [c for c in plan.commands[primary.name] if report.command_label(c) in rows]
    log(f"profiling crashcompat-drgn: start-up and {', '.join(chosen) or 'no command'}")
    proc = subprocess.run(
        [sys.executable, "-m", "crashbench.profile", primary.path, primary.vmlinux, *chosen],
        capture_output=True,
        text=True,
        cwd=BENCH_DIR,
        env=session_environment(plan.workdir),
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        log(f"profiling failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        return {}
    data = json.loads(proc.stdout)
    out: dict[str, Any] = {report.START: data["start"]} if report.START in rows else {}
    return {**out, **data["commands"]}


@dataclasses.dataclass
class Outcome:
    """What a run found: the grouped records, the verdicts, the growth fits, the profiles, the plot."""

    summary: report.Summary
    verdicts: list[report.Verdict]
    growth: list[report.Growth]
    profiles: dict[str, Any]
    plot_note: str | None


def render(env: dict[str, Any], plan: Plan, res: Outcome, args: argparse.Namespace) -> str:
    tools = [(t.key, t.label) for t in plan.tools]
    p = plan.primary.name
    cmds = plan.commands[p]
    skipped = [f"- {tool} on {dump}: {why}" for (tool, dump), why in sorted(plan.skip.items())]
    summary = res.summary
    failed = report.failure_lines(summary)
    out = [
        f"# crashcompat benchmark — {env['date']}\n",
        f"Machine: {env['machine']} (1-min load average {env['load_before']:.1f} at the start; the machine is "
        f"shared, so absolute times drift: every tool ran interleaved in the same run). Tools: "
        f"{'; '.join(env['crash'] + env['gdb'])}; drgn {env['drgn']}; Python {env['python']}; crashcompat "
        f"{env['crashcompat']}. Lab: `{env['manifest']}`. Repetitions: {env.get('repetitions', '?')}. "
        f"Whole run: {env.get('minutes', '?')} min.\n",
        "Cells are `min / median` over the runs; the ratios compare minima (the least-disturbed runs). "
        "`n/a`: the tool cannot run it (no such command, or no backend for this dump format); `err`: the tool "
        "printed an error instead of the result.\n",
        f"## Per command on `{p}`\n",
        (
            "Each command is the first command of a fresh session"
            if plan.cold
            else "Each command runs after the "
            "ones above it in one session (no one-command sessions in this run)"
        )
        + f" (`vtop {cmds[-2].split()[1]}` is "
        f"`crashme_magic`, `{cmds[-1]}` the PTE that maps it); the start-up row gathers every session on this "
        "dump; the last two rows are the sessions that run all the commands in a row.\n",
        report.primary_table(summary, plan.primary, cmds, tools, plan.skip),
        "![benchmark plot](latest.png)\n" if res.plot_note is None else f"({res.plot_note})\n",
        "## Targets of issue 7\n",
        report.verdict_table(res.verdicts),
        "## Every dump: start-up\n",
        report.dumps_table(summary, plan.dumps, tools, report.START, plan.skip),
        "## Every dump: all the commands in one session\n",
        report.dumps_table(summary, plan.dumps, tools, report.SET, plan.skip),
    ]
    big = max(plan.dumps, key=lambda d: report.size_of(d, "tasks") or 0)
    if (report.size_of(big, "tasks") or 0) > (report.size_of(plan.primary, "tasks") or 0):
        out += [
            f"## Per command on the biggest dump, `{big.name}` ({report.size_of(big, 'tasks')} tasks, "
            f"{report.size_of(big, 'objects')} objects in the test cache), in one session\n",
            "Each command after the ones above it in the same session (a cache one command fills serves the "
            "next: `ps` after `sys`).\n",
            report.primary_table(summary, big, plan.commands[big.name], tools, plan.skip),
        ]
    if res.growth:
        wrong = any("ps" in d.crash_wrong for d in plan.dumps)
        note = " (crash walks only the active tasks of these kernels: its task rows cannot grow)"
        out += [
            "## Growth with tasks and objects\n",
            "Seconds per 1,000 tasks or 100,000 objects, fitted over the whole-set sessions of the dumps of one "
            f"capture and format that differ in size{note if wrong else ''}.\n",
            report.growth_table(res.growth, tools),
        ]
    if res.profiles:
        out += [
            "## Where crashcompat-drgn's time goes in the rows that miss a target (pyinstrument)\n",
            report.profile_section(res.profiles),
        ]
    errors = report.error_lines(summary)
    if errors:
        out += ["## Errors printed instead of results\n", "\n".join(errors) + "\n"]
    if failed:
        out += ["## Failed sessions\n", "\n".join(failed) + "\n"]
    if skipped:
        out += ["## Not run\n", "\n".join(skipped) + "\n"]
    return "\n".join(out)


def update_doc(section: str, begin: str = DOC_BEGIN, end: str = DOC_END) -> None:
    """Replace docs/performance.md's text between the *begin* and *end* markers with *section*."""
    if not DOC.exists():
        return
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        log(f"{DOC} has no {begin} marker: not updated")
        return
    body = section.replace("](latest.png)", "](../benchmarks/results/latest.png)")
    body = re.sub(r"^# ", "### ", body, flags=re.M)
    body = re.sub(r"^## ", "#### ", body, flags=re.M)
    DOC.write_text(pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text), encoding="utf-8")


def run_live(args: argparse.Namespace, pte: str) -> None:
    """The live links: ``results/live.md`` and ``live.json``, and docs/performance.md's live section."""
    from crashbench import live

    results = [live.measure(REPO, mode, pte, log) for mode in args.live_links.split(",")]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"# crashcompat on GDB over live links — {date}\n\n"
        "Each command runs first after the session dropped its caches (as after the kernel ran). "
        "*GDB reads*: `read_memory` calls; *bytes fetched*: what they returned; *packets sent* and *bytes "
        "received*: the remote protocol on the link (GDB's `remotelogfile`); *minimum*: the distinct bytes "
        "the command asked the Target for.\n\n" + live.table(results)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "live.md").write_text(text, encoding="utf-8")
    (args.out / "live.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if not args.no_doc and args.out.resolve() == RESULTS.resolve():
        update_doc(text, LIVE_BEGIN, LIVE_END)
    print(text)


def run_kernels(args: argparse.Namespace) -> None:
    """``--kernels``: start-up per kernel series (``results/kernels.md``, docs/performance.md's section)."""
    from crashbench import kernels

    with tempfile.TemporaryDirectory(prefix="crashbench-") as tmp:
        results = kernels.measure(REPO, args.kernels.split(","), args.reps, Path(tmp), log)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# Start-up on every kernel of the lab — {date}\n\n" + kernels.table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "kernels.md").write_text(text, encoding="utf-8")
    if not args.no_doc and args.out.resolve() == RESULTS.resolve():
        update_doc(text, KERNELS_BEGIN, KERNELS_END)
    print(text)


def run_triage(args: argparse.Namespace, primary: tuple[str, str]) -> None:
    """The triage benchmark: ``results/triage.md`` and ``triage.json``, and docs/performance.md's triage
    section."""
    from crashbench import triage

    cache = Path(os.environ.get("CRASHCOMPAT_LAB_CACHE") or "/var/cache/crashcompat-lab")
    with tempfile.TemporaryDirectory(prefix="crashbench-") as tmp:
        figures = triage.measure(cache, primary, session_environment(Path(tmp)), log)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = triage.render(figures, date)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "triage.md").write_text(text, encoding="utf-8")
    (args.out / "triage.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    if not args.no_doc and args.out.resolve() == RESULTS.resolve():
        update_doc(text, TRIAGE_BEGIN, TRIAGE_END)
    print(text)


def select_dumps(manifest: dict[str, Any], args: argparse.Namespace) -> tuple[list[Dump], str]:
    """The dumps to benchmark and the primary one's name (see ``--primary``, ``--dumps``, ``--quick``)."""
    vmlinux = str(manifest["kernel"]["vmlinux"])
    dumps = [Dump.from_manifest(d, vmlinux) for d in manifest["dumps"]]
    elf = [d.name for d in dumps if d.format == "elf" and d.capture == "kdump"]
    primary = args.primary or (elf[0] if elf else str(manifest.get("default_dump") or dumps[0].name))
    if args.dumps:
        dumps = [d for d in dumps if d.name in args.dumps.split(",")]
    else:  # of the bigger guests, their ELF dumps only: the ones every tool opens (scale-elf's sessions take
        # 163 s of a 21-minute run; scale-1g-elf adds about half that)
        dumps = [d for d in dumps if d.scenario not in SCALE_SCENARIOS or d.format == "elf"]
    if args.quick:
        dumps = [d for d in dumps if d.name == primary]
    if primary not in [d.name for d in dumps]:
        raise SystemExit(f"bench: the primary dump {primary} is not among the dumps benchmarked")
    return dumps, primary


def write_results(
    env: dict[str, Any], plan: Plan, records: list[Record], profiles: dict[str, Any], args: argparse.Namespace
) -> str:
    """Group, judge, plot and render the run; write ``latest.{md,json,png}`` and docs/performance.md."""
    summary = report.Summary(records)
    growth = report.growth(summary, plan.dumps, [t.key for t in plan.tools])
    verdicts = report.verdicts(summary, plan.primary, plan.commands[plan.primary.name], growth)
    args.out.mkdir(parents=True, exist_ok=True)
    tools = [(t.key, t.label) for t in plan.tools]
    plot_note = report.plot(summary, plan.primary.name, tools, args.out / "latest.png")
    text = render(env, plan, Outcome(summary, verdicts, growth, profiles, plot_note), args)
    (args.out / "latest.md").write_text(text, encoding="utf-8")
    raw = {
        "environment": env,
        "dumps": [dataclasses.asdict(d) for d in plan.dumps],
        "primary": plan.primary.name,
        "commands": plan.commands,
        "skipped": [[*k, v] for k, v in plan.skip.items()],
        "records": [r.to_json() for r in records],
        "profiles": profiles,
    }
    (args.out / "latest.json").write_text(json.dumps(raw, separators=(",", ":")) + "\n", encoding="utf-8")
    if not args.no_doc and args.out.resolve() == RESULTS.resolve():
        update_doc(text)
    return text


def rerender(args: argparse.Namespace) -> str:
    """``--from-json``: the tables of an earlier run's ``latest.json`` again (after a change to the report)."""
    raw = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
    dumps = [Dump(**d) for d in raw["dumps"]]
    primary = next(d for d in dumps if d.name == raw["primary"])
    records = [Record.from_json(r) for r in raw["records"]]
    cold = any(r.mode == "cold" for r in records)
    plan = Plan(dumps=dumps, workdir=Path(), primary=primary, tools=make_tools(args), cold=cold)
    plan.commands = raw["commands"]
    plan.skip = {(tool, dump): why for tool, dump, why in raw["skipped"]}
    return write_results(raw["environment"], plan, records, raw["profiles"], args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        print(rerender(args))
        return 0
    t0 = time.monotonic()
    if not args.no_install:
        install_requirements()
    if args.live_only:
        run_live(args, PTE_EXAMPLE)
        return 0
    if args.kernels:
        run_kernels(args)
        return 0
    manifest, manifest_path = load_manifest(args.manifest)
    dumps, primary_name = select_dumps(manifest, args)
    primary_dump = next(d for d in dumps if d.name == primary_name)
    if args.triage_only:
        run_triage(args, (primary_dump.path, primary_dump.vmlinux))
        return 0
    env = environment(manifest_path)
    env["repetitions"] = (
        f"crash {args.reps_crash}, drgn and crashcompat-drgn {args.reps}, crashcompat-GDB {args.reps_gdb} "
        f"(whole-set sessions on the other dumps: at most {args.reps_other})"
    )
    with tempfile.TemporaryDirectory(prefix="crashbench-") as tmp:
        workdir = Path(tmp)
        dumps = [pin(d, workdir) for d in dumps]
        primary = next(d for d in dumps if d.name == primary_name)
        plan = Plan(
            dumps=dumps,
            workdir=workdir,
            primary=primary,
            tools=make_tools(args, manifest),
            cold=not args.no_cold,
            reps_other=args.reps_other,
            log=log,
        )
        records = run(plan)
        verdicts = report.verdicts(report.Summary(records), primary, plan.commands[primary.name])
        rows = report.missed_rows(verdicts)
        profiles = profile_misses(plan, rows) if rows and not args.no_profile else {}
    env["minutes"] = round((time.monotonic() - t0) / 60, 1)
    print(write_results(env, plan, records, profiles, args))
    if args.live:
        run_live(args, plan.commands[primary.name][-1].split()[1])
    if not args.no_triage:
        run_triage(args, (primary_dump.path, primary_dump.vmlinux))
    log(f"done in {(time.monotonic() - t0) / 60:.1f} min: {args.out / 'latest.md'}")
    return 0
