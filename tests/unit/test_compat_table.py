"""docs/compat.md's table from the per-line figures of tests/lab/test_references.py (crashcompat.testing.compat)."""

from __future__ import annotations

from crashcompat.testing.compat import command_name, tabulate


def test_table_sums_lines_per_command_and_series() -> None:
    records = [
        {"kernel": "6.1", "command": "bt", "lines": 10, "identical": 10, "exact": True},
        {"kernel": "6.1", "command": "bt -a", "lines": 30, "identical": 27, "exact": False},
        {"kernel": "6.1", "command": "p/x jiffies", "lines": 1, "identical": 1, "exact": True},
        {"kernel": "5.10", "command": "ps", "lines": 4, "identical": 4, "exact": True, "known_wrong": True},
        {"kernel": "newest", "command": "bt", "crash_fails": True, "error": None},
        {"kernel": "newest", "command": "bt -a", "crash_fails": True, "error": "bt: no"},
    ]
    table = tabulate(records).splitlines()
    assert table[0] == "| command | 5.10 | 6.1 | 6.12 | newest |"
    rows = {line.split(" | ")[0]: line for line in table[2:]}
    assert rows["| `bt`"] == "| `bt` | - | 92.5% (1/2) | - | crash fails; runs 1/2 |"
    assert rows["| `p`"] == "| `p` | - | 100.0% (1/1) | - | - |"
    assert "`ps`" not in "".join(rows)  # a known-wrong line of crash is not a figure
    assert rows["| **all**"] == "| **all** | - | 92.7% (2/3) | - | crash fails; runs 1/2 |"


def test_command_name() -> None:
    assert command_name("p/x jiffies") == "p" and command_name("kmem -i") == "kmem"
