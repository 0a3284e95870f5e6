"""``crashcompat triage``: one dump's triage on the command line, and many dumps at once on Dask distributed.

::

    crashcompat triage [VMLINUX] VMCORE [--json] [--debug-root DIR]...
    crashcompat triage --batch DUMP... --out DIR [--workers N] [--scheduler ADDRESS] [--debug-root DIR]...

A batch runs :func:`triage_dump` for each dump on a Dask cluster — a local one of N worker processes (one
thread each) by default, an existing one with ``--scheduler``.  Each dump's vmlinux is found by the release
in its VMCOREINFO (read from the dump's header, without any vmlinux) under the usual places and the debug
roots (:func:`crashcompat.core.opening.find_vmlinux`); its modules' object files are looked for under the
debug roots too.  The output directory gets one JSON file per dump, ``summary.json`` (the dumps grouped by
signature, and the failed ones with their errors) and ``summary.html`` (the same with a bar chart, no
external assets).  A dump that cannot be read — missing, foreign, truncated — is a failure with its
one-line error and never stops the batch.  Progress goes to stderr; every wait has a timeout.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from crashcompat.core.dumpfile import DumpHeader

PROG = "crashcompat"

USAGE = f"""\
usage: {PROG} triage [VMLINUX] VMCORE [--json] [--debug-root DIR]...
       {PROG} triage --batch DUMP... --out DIR [--workers N] [--scheduler ADDRESS]
                     [--debug-root DIR]... [--timeout SECONDS]

Summarise a dump as a short bug report: its crash class, the task and the
culprit function, the kernel, the trace, the blocked tasks, every task's stack
folded into groups, the log's reports and a signature (docs/triage.md).

  --json               print the result as JSON
  --debug-root DIR     also look for the vmlinux of a dump's release, and for
                       module object files, under DIR (may be repeated)
  --batch DUMP...      triage many dumps on Dask distributed
  --out DIR            where --batch writes one JSON per dump, summary.json
                       and summary.html
  --workers N          worker processes of the local cluster (default 2)
  --scheduler ADDRESS  use the Dask cluster at ADDRESS instead of a local one
  --timeout SECONDS    give up on one dump after SECONDS (default 600)
  -h, --help           print this help and exit
"""

#: Seconds allowed for a local cluster to start, a client to connect and the cluster to close.
CONNECT_TIMEOUT = 60.0


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit
        raise _Usage(message)


def _parser() -> _Parser:
    p = _Parser(prog=f"{PROG} triage", add_help=False)
    p.add_argument("files", nargs="*")
    p.add_argument("--json", action="store_true")
    p.add_argument("--batch", action="store_true")
    p.add_argument("--out")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler")
    p.add_argument("--debug-root", dest="roots", action="append", default=[])
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("-h", "--help", action="store_true")
    return p


def main(argv: Sequence[str]) -> int:
    """``crashcompat triage ...``."""
    try:
        args = _parser().parse_args(list(argv))
        if args.help:
            sys.stdout.write(USAGE)
            return 0
        if args.batch:
            if not args.files:
                raise _Usage("--batch: no dump given")
            if not args.out:
                raise _Usage("--batch needs --out DIR")
            if args.workers < 1:
                raise _Usage("--workers must be at least 1")
            if args.timeout <= 0:
                raise _Usage("--timeout must be positive")
            summary = run_batch(
                args.files,
                args.out,
                workers=args.workers,
                scheduler=args.scheduler,
                roots=args.roots,
                timeout=args.timeout,
            )
            return 0 if summary["ok"] else 1
        if not 1 <= len(args.files) <= 2:
            raise _Usage("give one dump, and optionally its vmlinux")
    except _Usage as e:
        sys.stderr.write(f"{PROG}: triage: {e}\n")
        sys.stderr.write(USAGE.split("\n\n", 1)[0] + "\n")
        return 1
    return _single(args.files, args.json, args.roots)


def _single(files: list[str], as_json: bool, roots: list[str]) -> int:
    from crashcompat.core.opening import OpenError, find_vmlinux
    from crashcompat.drgn import open_dump
    from crashcompat.prompt import UsageError, classify_files

    try:
        vmlinux, vmcore = classify_files(files)
        if vmcore is None:
            raise UsageError("no dump file given")
        if vmlinux is None and roots:
            vmlinux = find_vmlinux(dump_release(vmcore), roots)
        session = open_dump(vmcore, vmlinux)
    except (UsageError, OpenError) as e:
        sys.stderr.write(f"{PROG}: triage: {e}\n")
        return 1
    for warning in session.warnings:
        sys.stderr.write(f"{warning}\n")
    line = "triage" + (" -j" if as_json else "") + "".join(f" -m {root}" for root in roots)
    sys.stdout.write(session.run(line, echo=False))
    return 0


# ---- one dump ---------------------------------------------------------------------------------------------


def dump_release(path: str) -> str:
    """The ``OSRELEASE`` of the dump at *path*, from its VMCOREINFO note (no vmlinux needed).

    :raises OpenError: the file cannot be read, is no dump crash reads, or has no release in it.
    """
    from crashcompat.core.opening import dump_header

    return _release(path, dump_header(path))


def _release(path: str, header: DumpHeader) -> str:
    from crashcompat.core.opening import OpenError, dump_vmcoreinfo

    release = dump_vmcoreinfo(header.notes).get("OSRELEASE", "")
    if not release:
        raise OpenError(f"{path}: no OSRELEASE in the dump's VMCOREINFO")
    return release


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def triage_dump(path: str, roots: Sequence[str] = ()) -> dict[str, Any]:
    """Triage the dump at *path* in this process: ``{"dump", "ok": True, "seconds", "result"}``, or
    ``{"dump", "ok": False, "seconds", "error"}`` with a one-line error when it cannot be read (missing,
    foreign, truncated, no vmlinux for its release).  Never raises."""
    start = time.monotonic()
    try:
        from crashcompat.core.kernel import triage as _triage
        from crashcompat.core.opening import dump_header, dump_warnings, find_vmlinux
        from crashcompat.drgn import open_dump_target

        header = dump_header(path)
        warnings = dump_warnings(path, header)
        if warnings:
            raise RuntimeError(warnings[0].removeprefix("WARNING: "))
        vmlinux = find_vmlinux(_release(path, header), roots)
        from crashcompat.core.kernel import Kernel

        kernel = Kernel(open_dump_target(path, vmlinux))
        result = _triage.triage(kernel, module_search=list(roots))
    except Exception as e:  # a batch never stops for one dump
        return {"dump": path, "ok": False, "seconds": time.monotonic() - start, "error": _one_line(e)}
    return {
        "dump": path,
        "ok": True,
        "seconds": time.monotonic() - start,
        "vmlinux": vmlinux,
        "result": result,
    }


# ---- many dumps -------------------------------------------------------------------------------------------


def _output_names(dumps: Sequence[str]) -> list[str]:
    """A distinct JSON file name for each dump: its base name, with its position when names repeat."""
    bases = [os.path.basename(os.path.normpath(d)) or "dump" for d in dumps]
    repeated = {b for b in bases if bases.count(b) > 1}
    return [f"{i:04d}-{b}.json" if b in repeated else f"{b}.json" for i, b in enumerate(bases)]


def run_batch(
    dumps: Sequence[str],
    out: str,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    roots: Sequence[str] = (),
    timeout: float = 600.0,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Triage *dumps* on a Dask cluster and write the results under *out* (see the module docstring).

    :param workers: the local cluster's worker processes (ignored with *scheduler*).
    :param timeout: seconds one dump may take; the whole batch waits at most that many per round of
        *workers* dumps, plus :data:`CONNECT_TIMEOUT`.
    :returns: the summary also written to ``summary.json``.
    """
    # distributed has no type hints for these: use it through Any
    dask: Any = importlib.import_module("distributed")

    log = progress or sys.stderr
    os.makedirs(out, exist_ok=True)
    names = _output_names(dumps)
    start = time.monotonic()
    cluster: Any = None
    records: dict[int, dict[str, Any]] = {}
    if scheduler is None:
        cluster = dask.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
            timeout=CONNECT_TIMEOUT,
        )
        client = dask.Client(cluster, timeout=CONNECT_TIMEOUT)
    else:
        client = dask.Client(scheduler, timeout=CONNECT_TIMEOUT)
    try:
        n_workers = len(client.scheduler_info().get("workers", {})) or workers
        futures = client.map(triage_dump, list(dumps), roots=list(roots), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        deadline = timeout * math.ceil(len(dumps) / max(n_workers, 1)) + CONNECT_TIMEOUT
        try:
            for future in dask.as_completed(futures, timeout=deadline):
                i = index[future.key]
                try:
                    record = future.result(timeout=CONNECT_TIMEOUT)
                except Exception as e:  # a worker died under the dump
                    record = {"dump": dumps[i], "ok": False, "seconds": 0.0, "error": _one_line(e)}
                records[i] = record
                _write_json(os.path.join(out, names[i]), record)
                log.write(_progress_line(len(records), len(dumps), record))
                log.flush()
        except TimeoutError:
            pass
        for i, dump in enumerate(dumps):
            if i not in records:
                records[i] = {"dump": dump, "ok": False, "seconds": timeout, "error": "timed out"}
                _write_json(os.path.join(out, names[i]), records[i])
                log.write(_progress_line(len(records), len(dumps), records[i]))
        pending = [f for f in futures if not f.done()]
        if pending:  # timed out: give the workers back
            client.cancel(pending)
    finally:
        client.close(timeout=CONNECT_TIMEOUT)
        if cluster is not None:
            cluster.close(timeout=CONNECT_TIMEOUT)
    ordered = [records[i] for i in range(len(dumps))]
    summary = summarise(ordered, names, elapsed=time.monotonic() - start, workers=n_workers)
    _write_json(os.path.join(out, "summary.json"), summary)
    with open(os.path.join(out, "summary.html"), "w", encoding="utf-8") as f:
        f.write(summary_html(summary))
    log.write(
        f"{PROG}: triage: {len(ordered)} dumps, {summary['ok']} triaged, {len(summary['failed'])} failed, "
        f"{len(summary['groups'])} signatures in {summary['elapsed']:.1f}s -> {out}\n"
    )
    return summary


def _write_json(path: str, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def _progress_line(done: int, total: int, record: dict[str, Any]) -> str:
    head = f"[{done}/{total}] {record['dump']}: "
    if not record["ok"]:
        return head + f"FAILED: {record['error']}\n"
    result = record["result"]
    culprit = result["culprit"] or {}
    where = culprit.get("function", "?") + (f" [{culprit['module']}]" if culprit.get("module") else "")
    return head + f"{result['class']} in {where} ({record['seconds']:.1f}s)\n"


def summarise(
    records: Sequence[dict[str, Any]], names: Sequence[str], *, elapsed: float = 0.0, workers: int = 0
) -> dict[str, Any]:
    """The batch summary: dumps grouped by signature (largest group first), the classes' counts and the
    failed dumps with their errors."""
    groups: dict[str, dict[str, Any]] = {}
    classes: dict[str, int] = {}
    failed = []
    for record, name in zip(records, names, strict=True):
        if not record["ok"]:
            failed.append({"dump": record["dump"], "error": record["error"]})
            continue
        result = record["result"]
        culprit = result["culprit"] or {}
        group = groups.setdefault(
            result["signature"],
            {
                "signature": result["signature"],
                "class": result["class"],
                "function": culprit.get("function"),
                "module": culprit.get("module"),
                "count": 0,
                "dumps": [],
            },
        )
        group["count"] += 1
        group["dumps"].append({"dump": record["dump"], "json": name, "release": result["release"]})
        classes[result["class"]] = classes.get(result["class"], 0) + 1
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["signature"]))
    return {
        "dumps": len(records),
        "ok": len(records) - len(failed),
        "failed": failed,
        "classes": dict(sorted(classes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "groups": ordered,
        "elapsed": round(elapsed, 3),
        "workers": workers,
    }


def _bar_chart(groups: Sequence[dict[str, Any]]) -> str:
    """An inline SVG bar chart of the groups' counts."""
    if not groups:
        return ""
    bar_h, gap, label_w, width = 18, 6, 330, 300
    top = max(g["count"] for g in groups)
    height = len(groups) * (bar_h + gap) + gap
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 60}" height="{height}" '
        'role="img" aria-label="dumps per signature">'
    ]
    for i, g in enumerate(groups):
        y = gap + i * (bar_h + gap)
        w = max(1, round(width * g["count"] / top))
        label = html.escape(f"{g['class']} {g['function'] or '?'} {g['signature']}")
        parts.append(f'<text x="0" y="{y + bar_h - 4}" font-size="12">{label}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#4a78b0"/>')
        parts.append(f'<text x="{label_w + w + 4}" y="{y + bar_h - 4}" font-size="12">{g["count"]}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def summary_html(summary: dict[str, Any]) -> str:
    """``summary.html``: the summary as one self-contained page (inline style and SVG chart)."""
    e = html.escape
    rows = []
    for g in summary["groups"]:
        dumps = "<br>".join(
            f'<a href="{e(d["json"])}">{e(d["dump"])}</a> ({e(d["release"])})' for d in g["dumps"]
        )
        where = e(g["function"] or "?") + (f" [{e(g['module'])}]" if g["module"] else "")
        rows.append(
            f"<tr><td><code>{e(g['signature'])}</code></td><td>{e(g['class'])}</td><td>{where}</td>"
            f"<td>{g['count']}</td><td>{dumps}</td></tr>"
        )
    failed = "".join(f"<li><code>{e(f['dump'])}</code>: {e(f['error'])}</li>" for f in summary["failed"])
    classes = ", ".join(f"{e(k)}: {v}" for k, v in summary["classes"].items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>crashcompat triage summary</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}</style></head>
<body>
<h1>crashcompat triage</h1>
<p>{summary["dumps"]} dumps, {summary["ok"]} triaged, {len(summary["failed"])} failed,
{len(summary["groups"])} signatures; {summary["elapsed"]:.1f} s on {summary["workers"]} workers.</p>
<p>Classes: {classes or "none"}</p>
<h2>Signatures</h2>
{_bar_chart(summary["groups"])}
<table><tr><th>signature</th><th>class</th><th>culprit</th><th>dumps</th><th>files</th></tr>
{"".join(rows)}
</table>
<h2>Failed</h2>
<ul>{failed or "<li>none</li>"}</ul>
</body></html>
"""


__all__ = ["dump_release", "main", "run_batch", "summarise", "summary_html", "triage_dump"]
