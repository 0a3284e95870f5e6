"""Command line of ``crashlab``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .util import LabError


def _parser() -> argparse.ArgumentParser:
    from .build import default_cache
    from .scenarios import DEFAULT_SCENARIOS, SCENARIOS
    from .series import DEFAULT_SERIES, SERIES

    p = argparse.ArgumentParser(
        prog="crashlab",
        description="crashcompat crash lab: real kernel dumps and live "
        "kernels built with QEMU from Debian packages.",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=default_cache(),
        help="cache root (default: $CRASHCOMPAT_LAB_CACHE or /var/cache/crashcompat-lab)",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the lab; prints the path of manifest.json")
    b.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    b.add_argument(
        "--kernel",
        default=DEFAULT_SERIES,
        metavar="SERIES",
        choices=list(SERIES),
        help=f"kernel series ({', '.join(SERIES)}; default {DEFAULT_SERIES}; see `crashlab kernels`)",
    )
    b.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"scenario to build (repeatable; default: the series' own, for {DEFAULT_SERIES} "
        f"{' '.join(DEFAULT_SCENARIOS)}; known: {' '.join(SCENARIOS)})",
    )
    k = sub.add_parser("kernels", help="list the kernel series and the kernel each resolves to today")
    k.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    k.add_argument("--json", action="store_true")
    lv = sub.add_parser("live", help="start a live guest in the background and print how to attach")
    lv.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    g = lv.add_mutually_exclusive_group(required=True)
    g.add_argument("--gdbstub", action="store_true", help="Debian kernel with QEMU's gdbstub and QMP sockets")
    g.add_argument(
        "--kgdb",
        action="store_true",
        help="the self-built KGDB kernel, stopped in kdb on a serial port exposed as a loopback TCP socket",
    )
    lv.add_argument("--json", action="store_true", help="print the attach information as JSON")
    lv.add_argument(
        "--lifetime", type=int, default=3600, help="kill the VM after this many seconds (default 3600)"
    )
    lv.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another live VM runs, wait this long for it to stop (default: fail at once)",
    )
    st = sub.add_parser("stop", help="stop the live guest")
    st.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    st.add_argument(
        "--pid",
        type=int,
        default=None,
        help="stop it only if it is this QEMU pid (the `pid` that `live --json` printed)",
    )
    ss = sub.add_parser("status", help="show the live guest and the cache entries")
    ss.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    ss.add_argument("--json", action="store_true")
    d = sub.add_parser("demo", help="build (or reuse) the default dump and open it with crashcompat")
    d.add_argument("--cache", type=Path, default=argparse.SUPPRESS)
    return p


def kernels(cache: Path, as_json: bool = False) -> int:
    """Print each series, its suite and metapackage, and the kernel release it resolves to today."""
    import json

    from . import reference, series
    from .build import find_entry

    rows = []
    for s in series.SERIES.values():
        row: dict[str, object] = {
            "series": s.name,
            "suite": s.suite,
            "meta": s.meta,
            "description": s.description,
            "scenarios": list(s.scenarios),
            "default": s.name == series.DEFAULT_SERIES,
        }
        try:
            row["oracle"] = reference.oracle_choice(s.oracle)
        except LabError as exc:
            row["oracle"] = str(exc)
        try:
            res = series.resolve(cache, s, allow_update=True, max_age=3600)
            row.update({"release": res["release"], "version": res["version"]})
            entry = find_entry(cache, list(s.scenarios), s.name)
            row["manifest"] = str(entry) if entry else None
        except LabError as exc:
            row["error"] = str(exc)
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'SERIES':<8} {'SUITE':<9} {'RELEASE':<28} {'VERSION':<20} {'BUILT':<5} {'ORACLE':<7} METAPACKAGE"
    )
    for r in rows:
        rel = str(r.get("release") or f"({r.get('error', '?')})")
        built = "yes" if r.get("manifest") else "no"
        default = "  (default)" if r["default"] else ""
        print(
            f"{r['series']:<8} {r['suite']:<9} {rel:<28} {r.get('version', ''):<20} {built:<5} "
            f"{r['oracle']:<7} {r['meta']}{default}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cache: Path = args.cache.resolve()
    try:
        if args.cmd == "build":
            from .build import build

            print(build(cache, args.scenario, args.kernel))
            return 0
        if args.cmd == "kernels":
            return kernels(cache, as_json=args.json)
        if args.cmd == "live":
            from . import live

            return live.start(
                cache,
                "kgdb" if args.kgdb else "gdbstub",
                as_json=args.json,
                lifetime=args.lifetime,
                wait=args.wait,
            )
        if args.cmd == "stop":
            from . import live

            return live.stop(cache, args.pid)
        if args.cmd == "status":
            from . import live

            return live.status(cache, as_json=args.json)
        if args.cmd == "demo":
            from . import demo

            return demo.demo(cache)
    except LabError as exc:
        print(f"crashlab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("crashlab: error: interrupted", file=sys.stderr)
        return 130
    return 2
