"""docs/compat.md's kernel x command table, from the figures ``tests/lab/test_references.py`` records.

``CRASHCOMPAT_COMPAT_REPORT=FILE make test`` (or pytest on that test alone) appends one JSON line per command line
the oracle crash ran on a lab dump: its kernel series, dump, command, crash's line count, how many of them
crashcompat printed identically, and whether the whole output was identical.  This module sums them per command
name and kernel series::

    python -m crashcompat.testing.compat FILE > table.md

Each cell reads ``identical lines / crash's lines`` as a percentage, with the outputs identical byte for byte
out of the command lines run in parentheses; on a kernel series crash cannot open at all, ``crash fails; runs
N/M``: M command lines crash was given, N of them run by crashcompat without an error.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The columns, in order: the lab's kernel series.
SERIES = ("5.10", "6.1", "6.12", "newest")


@dataclass
class Figure:
    """crash's lines, the identical ones, the command lines run and those printed byte for byte."""

    lines: int = 0
    identical: int = 0
    runs: int = 0
    exact: int = 0

    def add(self, record: dict[str, object]) -> None:
        self.lines += int(record["lines"])  # type: ignore[call-overload]
        self.identical += int(record["identical"])  # type: ignore[call-overload]
        self.runs += 1
        self.exact += bool(record["exact"])

    def cell(self) -> str:
        share = 100.0 * self.identical / self.lines if self.lines else 100.0
        return f"{share:.1f}% ({self.exact}/{self.runs})"


def command_name(command: str) -> str:
    """The crash command a reference line runs (``p/x`` is ``p``)."""
    return command.split()[0].split("/")[0]


def tabulate(records: Iterable[dict[str, object]]) -> str:
    """The markdown table: one row per command name, one column per kernel series.  Where crash cannot open
    a series' dumps, a cell counts the command lines crashcompat ran there without an error instead."""
    figures: dict[tuple[str, str], Figure] = defaultdict(Figure)
    totals: dict[str, Figure] = defaultdict(Figure)
    beyond: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        if record.get("crash_fails"):
            for name in (command_name(str(record["command"])), "all"):
                counts = beyond[(name, str(record["kernel"]))]
                counts[0] += not record.get("error")
                counts[1] += 1
            continue
        if record.get("known_wrong"):
            continue
        key = (command_name(str(record["command"])), str(record["kernel"]))
        figures[key].add(record)
        totals[str(record["kernel"])].add(record)
    names = sorted({name for name, _ in [*figures, *beyond] if name != "all"})
    head = "| command | " + " | ".join(SERIES) + " |\n|:---|" + "---:|" * len(SERIES) + "\n"
    rows = []
    for name in [*names, "all"]:
        cells = []
        for series in SERIES:
            if (name, series) in beyond:
                ok, runs = beyond[(name, series)]
                cells.append(f"crash fails; runs {ok}/{runs}")
                continue
            figure = totals.get(series) if name == "all" else figures.get((name, series))
            cells.append(figure.cell() if figure else "-")
        label = "**all**" if name == "all" else f"`{name}`"
        rows.append(f"| {label} | " + " | ".join(cells) + " |\n")
    return head + "".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m crashcompat.testing.compat REPORT.jsonl", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    sys.stdout.write(tabulate(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
