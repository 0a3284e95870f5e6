"""From the raw records to the markdown tables, the verdicts on the issue's targets, and the plot."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashbench.bench import COMMAND_LABELS, COMMANDS, Record
from crashbench.measure import ERR, NA, OK
from crashbench.stats import Samples, fmt_mib, fmt_min_median, fmt_ratio, fmt_seconds, linear_fit, ratio
from crashbench.tools import Dump

CC = "cc-drgn"  # the column the ratios are about
GDB_TOOLS = ("cc-gdb-core", "cc-gdb-bridge")
START, SET, WALL = "start to prompt", "whole set, one session", "start + set + exit"
STATUS_RANK = {OK: 0, ERR: 1, NA: 2}


def command_label(command: str) -> str:
    """The table row of an actual command line (``vtop ffffffffc035e040`` → ``vtop ADDR``)."""
    for template in COMMANDS:
        head = template.split("{")[0]
        if command == template or ("{" in template and command.startswith(head)):
            return COMMAND_LABELS.get(template, template)
    return command


LABELS = [command_label(c) for c in COMMANDS]


@dataclass
class Cell:
    """Every sample of one (tool, dump, row) and the worst status seen."""

    samples: Samples = field(default_factory=Samples)
    status: str = OK
    detail: str = ""

    def add(self, value: float | None, status: str = OK, detail: str = "") -> None:
        if STATUS_RANK[status] > STATUS_RANK[self.status]:
            self.status, self.detail = status, detail
        if value is not None and status == OK:
            self.samples.add(value)

    @property
    def best(self) -> float | None:
        """The minimum (the least-disturbed run on a shared machine), when every run succeeded."""
        return self.samples.min if self.status == OK else None

    def text(self) -> str:
        if self.status != OK:
            return self.status
        return fmt_min_median(self.samples)


class Summary:
    """The records grouped as ``cells[(tool, dump, row)]`` (rows: START, a command label, SET, WALL) and
    peak RSS per (tool, dump)."""

    def __init__(self, records: Iterable[Record]) -> None:
        self.cells: dict[tuple[str, str, str], Cell] = {}
        self.cold: dict[tuple[str, str, str], Cell] = {}  # (tool, dump, command label): one-command sessions
        self.rss: dict[tuple[str, str], int] = {}
        self.sessions: dict[tuple[str, str], int] = {}
        self.failures: dict[tuple[str, str], list[str]] = {}
        for rec in records:
            if rec.mode == "warmup":
                continue
            key = (rec.tool, rec.dump)
            res = rec.result
            self.sessions[key] = self.sessions.get(key, 0) + 1
            if res.error:
                self.failures.setdefault(key, []).append(res.error)
                continue
            self.rss[key] = max(self.rss.get(key, 0), res.maxrss_kib)
            self.cell(rec.tool, rec.dump, START).add(res.start)
            if rec.mode == "cold":
                for c in res.commands:
                    self.cold.setdefault((rec.tool, rec.dump, command_label(c.command)), Cell()).add(
                        c.seconds, c.status, c.detail
                    )
            elif rec.mode == "set":
                for c in res.commands:
                    self.cell(rec.tool, rec.dump, command_label(c.command)).add(c.seconds, c.status, c.detail)
                self.cell(rec.tool, rec.dump, SET).add(res.all_commands)
                self.cell(rec.tool, rec.dump, WALL).add(res.wall)

    def cell(self, tool: str, dump: str, row: str) -> Cell:
        return self.cells.setdefault((tool, dump, row), Cell())

    def get(self, tool: str, dump: str, row: str) -> Cell | None:
        """The cell of *row*: a command's time in one-command sessions when the dump had them, else in the
        whole-set sessions."""
        if (tool, dump, row) in self.cold:
            return self.cold[(tool, dump, row)]
        return self.cells.get((tool, dump, row))


def _text(summary: Summary, tool: str, dump: str, row: str, skipped: dict[tuple[str, str], str]) -> str:
    cell = summary.get(tool, dump, row)
    if cell is not None and (cell.samples.values or cell.status != OK):
        return cell.text()
    if (tool, dump) in summary.failures:
        return "fail"
    return "n/a" if (tool, dump) in skipped else "-"


def _best(summary: Summary, tool: str, dump: str, row: str) -> float | None:
    cell = summary.get(tool, dump, row)
    return cell.best if cell else None


#: The rows whose cost should grow with the number of tasks, and with the objects of the test cache.
TASK_ROWS = (START, "sys", "ps", "bt -a", "foreach bt", "foreach files")
OBJECT_ROWS = ("kmem -s",)


def size_of(dump: Dump, unit: str) -> int | None:
    """The dump's number of tasks, or of objects in the test module's slab cache."""
    return dump.tasks if unit == "tasks" else dump.objects


@dataclass
class Growth:
    """How one tool's time for one row grows across the dumps of *group* (one capture and format): seconds
    per *per* units."""

    tool: str
    row: str
    unit: str
    per: int
    slope: float
    r2: float
    sizes: int  # distinct sizes among the dumps of the fit
    group: str = ""
    rise: float = 0.0  # the fitted growth from the smallest size to the largest, in seconds
    low: float = 0.0  # the fitted time at the smallest size, in seconds
    noise: float = 0.0  # the largest spread (median - minimum) of the repeated runs behind the points
    exponent: float | None = None  # the power of the size the time grows with (see growth_exponent)

    @property
    def flat(self) -> bool:
        """No growth to judge: the fitted rise over the sizes measured is within the noise — under
        :data:`FLAT_SECONDS`, :data:`FLAT_SHARE` of the time itself, or the spread of the repeated runs.
        A constant cost is not a line's slope, and its r² only measures noise."""
        return abs(self.rise) < max(FLAT_SECONDS, FLAT_SHARE * self.low, self.noise)


#: A growth exponent above this is faster than linear (a quadratic cost shows about 2).
SUPERLINEAR = 1.5


def growth_exponent(points: Sequence[tuple[float, float]]) -> float | None:
    """The power *k* of the size that the time grows with, on a log-log scale, without the constant cost:
    over three sizes or more, the slope of log(time above the smallest size's time) against log(size above
    the smallest size) between the two largest sizes; over two, the plain log-log slope. A line with any
    offset gives 1 (two sizes: at most 1), a quadratic cost about 2, whatever r² says. None when the times
    do not grow."""
    by_size: dict[float, float] = {}
    for x, y in points:
        by_size[x] = min(y, by_size.get(x, y))
    xs = sorted(by_size)
    if len(xs) < 2 or xs[0] <= 0:
        return None
    if len(xs) == 2:
        y0, y1 = by_size[xs[0]], by_size[xs[1]]
        return math.log(y1 / y0) / math.log(xs[1] / xs[0]) if y0 > 0 and y1 > y0 else None
    x0, y0 = xs[0], by_size[xs[0]]
    (xa, ya), (xb, yb) = ((x, by_size[x]) for x in xs[-2:])
    if ya <= y0 or yb <= ya:
        return None
    return math.log((yb - y0) / (ya - y0)) / math.log((xb - x0) / (xa - x0))


#: A fitted rise under this many seconds, or under this share of the time, is no growth (see Growth.flat).
FLAT_SECONDS = 0.005
FLAT_SHARE = 0.1


def growth(summary: Summary, dumps: Sequence[Dump], tools: Sequence[str]) -> list[Growth]:
    """Least-squares growth of each tool's time with tasks (``TASK_ROWS``) and objects (``OBJECT_ROWS``),
    over dumps of the same capture and format with different sizes (the lab's ``scale-1g`` and ``scale``
    guests beside the default ones)."""
    groups: dict[tuple[str, str], list[Dump]] = {}
    for d in dumps:
        groups.setdefault((d.capture, d.format), []).append(d)
    out = []
    for unit, per, rows in (("tasks", 1000, TASK_ROWS), ("objects", 100_000, OBJECT_ROWS)):
        for (capture, fmt), group in groups.items():
            sized = [(d, size_of(d, unit)) for d in group]
            if len({n for _, n in sized if n is not None}) < 2:
                continue
            for tool in tools:
                for row in rows:
                    pts = []
                    noise = 0.0
                    for d, n in sized:
                        cell = summary.cells.get((tool, d.name, row))
                        if n is not None and cell is not None and cell.best is not None:
                            pts.append((n / per, cell.best))
                            noise = max(noise, (cell.samples.median or cell.best) - cell.best)
                    fit = linear_fit(pts)
                    if fit is not None:
                        xs = [x for x, _ in pts]
                        low, high = min(xs), max(xs)
                        out.append(
                            Growth(
                                tool, row, unit, per, fit[1], fit[2], len(set(xs)), f"{capture} {fmt}",
                                rise=fit[1] * (high - low), low=fit[0] + fit[1] * low, noise=noise,
                                exponent=growth_exponent(pts),
                            )
                        )  # fmt: skip
    return out


def growth_table(items: Sequence[Growth], tools: Sequence[tuple[str, str]]) -> str:
    """One row per (figure, dump group), one column per tool: the growth per 1,000 tasks or 100,000
    objects, with the growth exponent k (1: linear, 2: quadratic) and r² from three sizes up (two sizes always
    fit a line)."""
    cells: dict[tuple[str, str, str], Growth] = {(g.row, g.group, g.tool): g for g in items}
    rows = []
    for row, group in dict.fromkeys((g.row, g.group) for g in items):
        first = next(g for g in items if (g.row, g.group) == (row, group))
        line = [f"{row}, per {first.per:,} {first.unit} ({group}, {first.sizes} sizes)"]
        for key, _ in tools:
            g = cells.get((row, group, key))
            line.append(
                "-"
                if g is None
                else fmt_seconds(g.slope)
                + (f" (k {g.exponent:.2f})" if g.exponent is not None and g.sizes < 3 else "")
                + (
                    f" (k {'-' if g.exponent is None else f'{g.exponent:.2f}'}, r² {g.r2:.2f}"
                    f"{', flat' if g.flat else ''})"
                    if g.sizes >= 3
                    else ""
                )
            )
        rows.append(line)
    return markdown_table(["growth (least squares)", *(label for _, label in tools)], rows)


def linearity_verdict(items: Sequence[Growth]) -> Verdict:
    """Linear unless a cost that grows beyond its noise (:attr:`Growth.flat`) grows with a power of the size
    above :data:`SUPERLINEAR` (:func:`growth_exponent`, judged on two sizes too: their plain log-log slope
    understates the power, so a value above the bound is growth faster than linear for certain), or, over
    three sizes or more, strays from a line (r² < 0.9)."""
    judged = [g for g in items if g.tool == CC]
    if not judged:
        return Verdict("cost linear in tasks and objects", "no scale scenario in this lab", None)
    growing = [g for g in judged if not g.flat]
    bad = [
        f"{g.row} k={g.exponent:.2f}" for g in growing if g.exponent is not None and g.exponent > SUPERLINEAR
    ]
    bad += [f"{g.row} r²={g.r2:.2f}" for g in growing if g.sizes >= 3 and g.r2 < 0.9]
    flat = [g.row for g in judged if g.flat]
    if not bad and all(g.sizes < 3 for g in judged):
        return Verdict(
            "cost linear in tasks and objects",
            f"only two sizes; no exponent above {SUPERLINEAR}",
            None,
        )
    return Verdict(
        "cost linear in tasks and objects",
        f"{len(judged)} fits; flat (no growth beyond noise): {', '.join(flat) or 'none'}; "
        f"faster than linear: {', '.join(bad) or 'none'}",
        not bad,
    )


def error_lines(summary: Summary) -> list[str]:
    """One line per cell where a tool printed an error instead of the result, with its first error line."""
    cells = {**{(t, d, r): c for (t, d, r), c in summary.cold.items()}, **summary.cells}
    return [
        f"- {tool} on {dump}, `{row}`: {cell.detail}"
        for (tool, dump, row), cell in sorted(cells.items())
        if cell.status == ERR
    ]


def failure_lines(summary: Summary) -> list[str]:
    """One line per (tool, dump) with failed sessions: how many, and the first error."""
    return [
        f"- {tool} on {dump}: {len(errors)} of {summary.sessions[(tool, dump)]} sessions failed; first: {errors[0]}"
        for (tool, dump), errors in sorted(summary.failures.items())
    ]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub markdown table (first column left-aligned, the others right-aligned)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def crash_wrong(dump: Dump, commands: Sequence[str], row: str) -> str | None:
    """Why crash's result for *row* is known wrong on *dump* (the lab's ``reference_known_wrong``)."""
    for command in commands:
        if command_label(command) == row and command in dump.crash_wrong:
            return dump.crash_wrong[command]
    return None


def primary_table(
    summary: Summary,
    dump: Dump,
    commands: Sequence[str],
    tools: Sequence[tuple[str, str]],
    skipped: dict[tuple[str, str], str],
) -> str:
    """Start, each command in its own session, the whole set and peak RSS on *dump*, with the ratios; a
    row where crash is known wrong is marked † and its ratio to crash bracketed, with the reason
    under the table."""
    header = ["", *(label for _, label in tools), "crashcompat / crash", "crashcompat / drgn"]
    rows, notes = [], []
    for row in [START, *LABELS, SET, WALL]:
        cells = [_text(summary, key, dump.name, row, skipped) for key, _ in tools]
        cc = _best(summary, CC, dump.name, row)
        vs_crash = fmt_ratio(ratio(cc, _best(summary, "crash", dump.name, row)))
        why = crash_wrong(dump, commands, row)
        if why:
            keys = [k for k, _ in tools]
            if "crash" in keys:
                cells[keys.index("crash")] += " †"
            vs_crash = f"({vs_crash}) †"
            notes.append(f"† `{row}`: crash is known wrong on this dump — {why}")
        rows.append([row, *cells, vs_crash, fmt_ratio(ratio(cc, _best(summary, "drgn", dump.name, row)))])
    rss = [summary.rss.get((key, dump.name)) for key, _ in tools]
    cc_rss = summary.rss.get((CC, dump.name))
    rows.append(
        [
            "peak RSS",
            *(fmt_mib(r) if r else "n/a" for r in rss),
            fmt_ratio(ratio(cc_rss, summary.rss.get(("crash", dump.name)))),
            fmt_ratio(ratio(cc_rss, summary.rss.get(("drgn", dump.name)))),
        ]
    )
    return markdown_table(header, rows) + "".join(f"\n{n}\n" for n in notes)


def dumps_table(
    summary: Summary,
    dumps: Sequence[Dump],
    tools: Sequence[tuple[str, str]],
    row: str,
    skipped: dict[tuple[str, str], str],
) -> str:
    """One figure (*row*) for every dump and tool, with crashcompat's ratios."""
    header = ["dump (format, size)", *(label for _, label in tools), "cc / crash", "cc / drgn"]
    rows = []
    for d in dumps:
        cc = _best(summary, CC, d.name, row)
        rows.append(
            [
                f"{d.name} ({d.format}, {d.size / 2**20:.0f} MB)",
                *(_text(summary, key, d.name, row, skipped) for key, _ in tools),
                fmt_ratio(ratio(cc, _best(summary, "crash", d.name, row))),
                fmt_ratio(ratio(cc, _best(summary, "drgn", d.name, row))),
            ]
        )
    return markdown_table(header, rows)


@dataclass
class Verdict:
    """One target of the issue: what was measured, whether it is met, and which rows miss it."""

    target: str
    measured: str
    met: bool | None  # None: not measurable in this run
    rows: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def _bound(target: str, value: float | None, limit: float, row: str | None) -> Verdict:
    """*value* <= *limit*; *row* is what to profile when it is not (None: nothing in-process)."""
    missed = value is not None and value > limit
    return Verdict(
        target, fmt_ratio(value), None if value is None else not missed, [row] if row and missed else []
    )


def _per_command(
    summary: Summary, dump: Dump, commands: Sequence[str], tool: str, other: str, limit: float
) -> Verdict:
    """Every command of crashcompat's *tool* against *other*'s time x *limit* (a command crashcompat fails
    misses; a command *other* lacks, fails, or crash is known wrong on, is not compared).  Only
    crashcompat-drgn's missed rows are profiled (in-process)."""
    target = f"{tool}: every command <= " + ("crash's time" if other == "crash" else f"{limit}x drgn %crash")
    over: list[str] = []
    unknown: list[str] = []
    rows: list[str] = []
    compared = 0
    for label in LABELS:
        cell = summary.get(tool, dump.name, label)
        if cell is not None and cell.status != OK:
            over.append(f"{label} ({cell.status})")
            rows.append(label)
            continue
        if other == "crash" and crash_wrong(dump, commands, label):
            continue
        ours, theirs = _best(summary, tool, dump.name, label), _best(summary, other, dump.name, label)
        r = ratio(ours, theirs)
        if r is None:
            if ours is not None or theirs is not None:  # measured on one side only, or a zero time
                unknown.append(f"{label} ({fmt_seconds(ours)} vs {fmt_seconds(theirs)})")
            continue
        compared += 1
        if r > limit:
            over.append(f"{label} {fmt_ratio(r)}")
            rows.append(label)
    return Verdict(
        target,
        f"{compared} compared; over: {', '.join(over) or 'none'}"
        + (f"; not comparable: {', '.join(unknown)}" if unknown else ""),
        None if not compared and not rows else not rows,
        rows if tool == CC else [],
    )


def verdicts(
    summary: Summary, dump: Dump, commands: Sequence[str], scale: Sequence[Growth] = ()
) -> list[Verdict]:
    """The issue's targets, judged on the primary dump's minima."""
    start = {t: _best(summary, t, dump.name, START) for t in ("crash", "drgn", CC, *GDB_TOOLS)}
    out = [
        _bound("cc-drgn: start <= 1.2x drgn's", ratio(start[CC], start["drgn"]), 1.2, START),
        _bound("cc-drgn: start <= 0.1x crash's", ratio(start[CC], start["crash"]), 0.1, START),
    ]
    for tool in GDB_TOOLS:
        r = ratio(start[tool], start["crash"])
        out.append(_bound(f"{tool}: start (warm GDB index cache) <= crash's start", r, 1.0, None))
    for tool in (CC, *GDB_TOOLS):
        out.append(_per_command(summary, dump, commands, tool, "crash", 1.0))
        out.append(_per_command(summary, dump, commands, tool, "drgn", 1.5))
    out.append(linearity_verdict(scale))
    return out


def missed_rows(items: Sequence[Verdict]) -> list[str]:
    """The rows (start-up or command labels) where crashcompat-drgn misses a target."""
    return list(dict.fromkeys(row for v in items for row in v.rows))


def verdict_table(items: Sequence[Verdict]) -> str:
    return markdown_table(
        ["target", "measured (ratio of minima)", "verdict"], [[v.target, v.measured, v.word] for v in items]
    )


def profile_section(profiles: dict[str, Any], limit: int = 6) -> str:
    """The pyinstrument profiles of the rows that missed, in % of each row's time: the functions with the
    most time of their own, and crashcompat's functions on the hot path (without the wrappers every
    command goes through, which hold more than 95% of it)."""
    parts = []
    for row, prof in profiles.items():
        total = prof["seconds"] or 1.0
        own = sorted(prof["functions"], key=lambda f: f["self"], reverse=True)[:limit]
        path = [
            f
            for f in sorted(prof["functions"], key=lambda f: f["total"], reverse=True)
            if "crashcompat/" in f["function"] and 0.05 <= f["total"] / total <= 0.95
        ][:limit]
        parts += [
            f"**{row}** — {prof['seconds']:.2f} s under the profiler:\n",
            "- own time: " + ", ".join(f"`{f['function']}` {100 * f['self'] / total:.0f}%" for f in own),
            "- crashcompat hot path: "
            + (", ".join(f"`{f['function']}` {100 * f['total'] / total:.0f}%" for f in path) or "-")
            + "\n",
        ]
    return "\n".join(parts) + "\n"


def plot(summary: Summary, dump: str, tools: Sequence[tuple[str, str]], path: Path) -> str | None:
    """A grouped bar chart (log scale) of the primary table; returns why not when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no plot: {e}"
    rows = [START, *LABELS, SET]
    width = 0.8 / len(tools)
    fig, ax = plt.subplots(figsize=(13, 5.5), dpi=90)
    for i, (key, label) in enumerate(tools):
        xs, ys = [], []
        for j, row in enumerate(rows):
            v = _best(summary, key, dump, row)
            if v is not None:
                xs.append(j + (i - (len(tools) - 1) / 2) * width)
                ys.append(max(v, 1e-4))
        ax.bar(xs, ys, width, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (minimum of the runs, log scale; < 0.1 ms drawn at 0.1 ms)")
    ax.set_xticks(range(len(rows)), [r.replace(", one session", "") for r in rows], rotation=30, ha="right")
    ax.set_title(f"crash vs drgn %crash vs crashcompat — {dump} (each command first in a fresh session)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
