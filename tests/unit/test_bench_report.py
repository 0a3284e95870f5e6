"""The benchmark's statistics, tables and verdicts, on hand-made records (no tool is run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from crashbench import report
from crashbench.bench import Record
from crashbench.measure import ERR, NA, OK, CommandResult, SessionResult
from crashbench.stats import Samples, fmt_min_median, fmt_ratio, fmt_seconds, ratio
from crashbench.tools import Dump

DUMP = Dump(
    "kdump-elf", "/dumps/vmcore", "elf", 100 << 20, "/vmlinux", crash_wrong={"ps": "crash 8.0.2 sees 3 tasks"}
)
COMMANDS = [
    "sys",
    "bt",
    "bt -a",
    "ps",
    "log",
    "mod",
    "kmem -i",
    "kmem -s",
    "vtop ffffffffc0001000",
    "pte 8000000000001163",
    "foreach bt",
    "foreach files",
    "rd ffffffffc0001000 64",
    "struct list_head ffffffffc0001000",
    "search -k c0ffee11deadbeef",
]


def session(start: float, times: dict[str, float], statuses: dict[str, str] | None = None) -> SessionResult:
    statuses = statuses or {}
    res = SessionResult(
        start=start, wall=start + sum(times.values()) + 0.1, maxrss_kib=300 * 1024, returncode=0
    )
    res.commands = [
        CommandResult(
            c, t, statuses.get(c, OK), 10, f"{c.split()[0]}: invalid address" if c in statuses else ""
        )
        for c, t in times.items()
    ]
    return res


def cold_records(
    tool: str, start: float, times: dict[str, float], statuses: dict[str, str] | None = None
) -> list[Record]:
    """Two repetitions of one-command sessions; the second twice as slow."""
    return [
        Record(tool, DUMP.name, "cold", rep, session(start + rep, {c: t * (1 + rep)}, statuses))
        for rep in range(2)
        for c, t in times.items()
    ]


def test_samples_and_formats() -> None:
    s = Samples([3.0, 1.0, 2.0])
    assert (s.min, s.median) == (1.0, 2.0)
    assert Samples().min is None
    assert fmt_seconds(12.34) == "12.3 s" and fmt_seconds(1.234) == "1.23 s"
    assert fmt_seconds(0.0456) == "46 ms" and fmt_seconds(0.0008) == "0.8 ms" and fmt_seconds(None) == "-"
    assert fmt_min_median(s) == "1.00 s / 2.00 s" and fmt_min_median(Samples([0.5])) == "500 ms"
    assert ratio(1.0, 4.0) == 0.25 and ratio(1.0, 0.0) is None and ratio(None, 1.0) is None
    assert fmt_ratio(0.05) == "0.050x" and fmt_ratio(1.25) == "1.25x" and fmt_ratio(42.0) == "42x"


def test_command_label_names_the_row() -> None:
    assert report.command_label("vtop ffffffffc0001000") == "vtop ADDR"
    assert report.command_label("pte 8000000000001163") == "pte VALUE"
    assert report.command_label("bt -a") == "bt -a"
    assert report.LABELS[0] == "sys" and len(report.LABELS) == len(COMMANDS)


def test_summary_takes_minima_and_worst_status() -> None:
    records = cold_records("cc-drgn", 1.0, {"sys": 0.02, "kmem -i": 0.5}, statuses={"kmem -i": ERR})
    records.append(Record("cc-drgn", DUMP.name, "warmup", 0, session(50.0, {"sys": 9.0})))
    summary = report.Summary(records)
    sys_cell = summary.get("cc-drgn", DUMP.name, "sys")
    assert sys_cell is not None and sys_cell.samples.values == [0.02, 0.04] and sys_cell.best == 0.02
    kmem = summary.get("cc-drgn", DUMP.name, "kmem -i")
    assert kmem is not None and kmem.status == ERR and kmem.best is None and kmem.text() == "err"
    assert report.error_lines(summary) == [f"- cc-drgn on {DUMP.name}, `kmem -i`: kmem: invalid address"]
    start = summary.get("cc-drgn", DUMP.name, report.START)
    assert start is not None and start.samples.min == 1.0 and 50.0 not in start.samples.values


def _summary(cc_start: float, cc_times: dict[str, float]) -> report.Summary:
    base = {c: 0.1 for c in COMMANDS}
    return report.Summary(
        cold_records("crash", 10.0, {**base, "ps": 0.001})
        + cold_records(
            "drgn", 0.8, {**base, "pte 8000000000001163": 0.0}, statuses={"pte 8000000000001163": NA}
        )
        + cold_records("cc-drgn", cc_start, {**base, **cc_times})
    )


def test_verdicts_met() -> None:
    v = report.verdicts(_summary(0.9, {}), DUMP, COMMANDS)
    by = {x.target: x for x in v}
    assert by["cc-drgn: start <= 1.2x drgn's"].met is True
    assert by["cc-drgn: start <= 0.1x crash's"].met is True
    # ps is not compared with crash (known wrong there); pte is not compared with drgn (n/a there).
    assert by["cc-drgn: every command <= crash's time"].measured.startswith("14 compared")
    assert by["cc-drgn: every command <= crash's time"].met is True
    assert by["cc-drgn: every command <= 1.5x drgn %crash"].measured.startswith("14 compared")
    assert report.missed_rows(v) == []
    assert by["cost linear in tasks and objects"].met is None


def test_verdicts_missed_rows_are_profiled() -> None:
    v = report.verdicts(_summary(1.1, {"kmem -i": 0.5, "bt": 0.14}), DUMP, COMMANDS)
    by = {x.target: x for x in v}
    assert by["cc-drgn: start <= 1.2x drgn's"].met is False
    assert by["cc-drgn: every command <= crash's time"].rows == ["bt", "kmem -i"]
    assert by["cc-drgn: every command <= 1.5x drgn %crash"].rows == ["kmem -i"]
    assert report.missed_rows(v) == [report.START, "bt", "kmem -i"]


def test_primary_table_marks_known_wrong_crash_rows() -> None:
    tools = [("crash", "crash"), ("drgn", "drgn"), ("cc-drgn", "cc"), ("cc-gdb-core", "gdb")]
    text = report.primary_table(
        _summary(0.9, {}), DUMP, COMMANDS, tools, {("cc-gdb-core", DUMP.name): "no GDB"}
    )
    lines = text.splitlines()
    assert lines[0] == "|  | crash | drgn | cc | gdb | crashcompat / crash | crashcompat / drgn |"
    ps = next(ln for ln in lines if ln.startswith("| ps |"))
    assert "1.0 ms / 1.5 ms †" in ps and "(100x) †" in ps and "| n/a |" in ps
    assert any(ln.startswith("† `ps`: crash is known wrong") for ln in lines)


@pytest.mark.parametrize("n", [0, 1])
def test_failures_are_reported(n: int) -> None:
    failed = SessionResult(start=None, wall=1.0, maxrss_kib=1, returncode=1, error="rc=1: boom")
    records = [Record("cc-gdb-bridge", DUMP.name, "set", 0, failed)] * (n + 1)
    summary = report.Summary(records)
    assert report.failure_lines(summary) == [
        f"- cc-gdb-bridge on {DUMP.name}: {n + 1} of {n + 1} sessions failed; first: rc=1: boom"
    ]
    assert report._text(summary, "cc-gdb-bridge", DUMP.name, report.SET, {}) == "fail"


def _sized(name: str, tasks: int, objects: int) -> Dump:
    return Dump(
        name, f"/dumps/{name}", "elf", 1 << 20, "/vmlinux", capture="qemu", tasks=tasks, objects=objects
    )


def test_growth_per_thousand_tasks_and_linearity() -> None:
    dumps = [_sized("small", 50, 1_000), _sized("half", 1_050, 51_000), _sized("scale", 2_050, 101_000)]
    records = []
    for d in dumps:
        n = d.tasks or 0
        res = session(0.5 + n / 10_000, {"ps": 0.01 + n * 2e-5, "kmem -s": 0.002 * (n // 50)})
        records.append(Record("cc-drgn", d.name, "set", 0, res))
    items = report.growth(report.Summary(records), dumps, ["cc-drgn"])
    ps = next(g for g in items if g.row == "ps")
    assert (
        ps.unit == "tasks" and ps.sizes == 3 and ps.slope == pytest.approx(0.02) and ps.r2 == pytest.approx(1)
    )
    start = next(g for g in items if g.row == report.START)
    assert start.slope == pytest.approx(0.1)
    kmem = next(g for g in items if g.row == "kmem -s")
    assert kmem.unit == "objects" and kmem.per == 100_000 and kmem.slope == pytest.approx(0.08)
    assert report.linearity_verdict(items).met is True
    assert "per 1,000 tasks" in report.growth_table(items, [("cc-drgn", "cc")])


def test_linearity_needs_three_sizes_or_a_steep_log_log_slope() -> None:
    assert report.linearity_verdict([]).measured == "no scale scenario in this lab"
    two = [report.Growth("cc-drgn", "ps", "tasks", 1000, 0.02, 1.0, 2, rise=0.04, exponent=0.9)]
    assert report.linearity_verdict(two).met is None
    steep = [report.Growth("cc-drgn", "ps", "tasks", 1000, 0.02, 1.0, 2, rise=0.04, exponent=1.9)]
    assert report.linearity_verdict(steep).met is False
    bent = [report.Growth("cc-drgn", "ps", "tasks", 1000, 0.02, 0.5, 3, rise=0.04, low=0.01)]
    assert report.linearity_verdict(bent).met is False


def test_a_flat_cost_is_not_judged_by_its_r2() -> None:
    # 1 ms of scatter over three sizes: r² is noise, and the cost does not grow.
    flat = report.Growth("cc-drgn", "bt -a", "tasks", 1000, 0.0005, 0.3, 3, rise=0.001, low=0.008)
    assert flat.flat
    assert report.linearity_verdict([flat]).met is True
    # 10% of a 400 ms start-up is within its noise; 60 ms on 100 ms is growth.
    assert report.Growth("cc-drgn", "start", "tasks", 1000, 0.02, 0.5, 3, rise=0.035, low=0.4).flat
    assert not report.Growth("cc-drgn", "sys", "tasks", 1000, 0.03, 0.5, 3, rise=0.06, low=0.1).flat
    # ... unless repeated runs of one size already spread wider than that.
    assert report.Growth("cc-drgn", "sys", "tasks", 1000, 0.03, 0.5, 3, rise=0.06, low=0.1, noise=0.07).flat


def test_a_quadratic_cost_is_caught_at_the_labs_three_sizes() -> None:
    # r² of a straight line through a quadratic at 0.05, 1.05 and 2.05 thousand tasks is above 0.9 ...
    dumps = [_sized("small", 50, 1_000), _sized("half", 1_050, 51_000), _sized("scale", 2_050, 101_000)]
    records = []
    for d in dumps:
        n = (d.tasks or 0) / 1000
        res = session(0.5, {"ps": 0.05 + 0.3 * n * n, "sys": 0.01 + 0.02 * n})
        records.append(Record("cc-drgn", d.name, "set", 0, res))
    items = report.growth(report.Summary(records), dumps, ["cc-drgn"])
    ps = next(g for g in items if g.row == "ps")
    assert ps.r2 > 0.9 and ps.exponent == pytest.approx(2, abs=0.1)
    sys_ = next(g for g in items if g.row == "sys")
    assert sys_.exponent == pytest.approx(1)
    # ... but its growth exponent is 2, and the verdict says so.
    verdict = report.linearity_verdict(items)
    assert verdict.met is False and "ps k=1.9" in verdict.measured


def test_growth_exponent() -> None:
    assert report.growth_exponent([(1, 1.0), (2, 2.0), (4, 4.0)]) == pytest.approx(1)
    assert report.growth_exponent([(1, 5.0), (2, 6.0), (4, 8.0)]) == pytest.approx(1)  # offset ignored
    assert report.growth_exponent([(1, 1.0), (3, 9.0)]) == pytest.approx(2)
    assert report.growth_exponent([(1, 1.0), (2, 1.0), (4, 1.0)]) is None
