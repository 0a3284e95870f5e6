"""crash's CPU lists (tools.c ``make_cpumask()`` and ``dtoi()``), rule by rule, and crash's task header."""

from __future__ import annotations

import pytest

from crashcompat.core.cpuspec import CpuSpecError, parse_cpu_spec
from crashcompat.core.format import task_header


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("3", [3]),
        ("1,8,9", [1, 8, 9]),
        ("1-3", [1, 2, 3]),
        ("9,1-3,2", [1, 2, 3, 9]),  # sorted, each CPU once
        ("a", list(range(10))),
        ("all", list(range(10))),
        ("0,a", list(range(10))),
        ("3-1", []),  # start > end: the loop sets nothing, and nothing complains
        ("3-3", [3]),
        ("-3", [3]),  # strtok skips the leading dash
        ("3-", [3]),  # no second part: end = start
        ("1--3", [1, 2, 3]),  # empty parts between dashes are skipped
        ("1-2-9", [1, 2]),  # parts after the second are ignored
        (",1,,2,", [1, 2]),  # empty pieces between commas are skipped
        ("", []),
        (",", []),
        (" 2", [2]),  # dtoi() skips leading blanks
        ("007", [7]),
        ("4294967296", [0]),  # sscanf("%d") keeps the low 32 bits of the long it reads
    ],
)
def test_cpu_lists(text: str, cpus: list[int]) -> None:
    assert parse_cpu_spec(text, 10) == cpus


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10", "invalid cpu specification: 10"),
        ("1,10", "invalid cpu specification: 1,10"),  # the whole argument is quoted
        ("2-10", "invalid cpu specification: 2-10"),
        ("10-2", "invalid cpu specification: 10-2"),  # out of range even though reversed
        ("99999999999999999999", "invalid cpu specification: 99999999999999999999"),  # LONG_MAX → -1
        ("x", 'x: "x" is not a digit 0 - 9'),
        ("1x", '1x: "x" is not a digit 0 - 9'),
        ("0-x", 'x: "x" is not a digit 0 - 9'),
        ("2 ", '2 : " " is not a digit 0 - 9'),
        ("all-2", 'all: "a" is not a digit 0 - 9'),  # only a whole piece means every CPU
        ("A", 'A: "A" is not a digit 0 - 9'),
        ("+1", '+1: "+" is not a digit 0 - 9'),
        ("-", "received NULL string"),
        ("1,--", "received NULL string"),
        ("x,10", 'x: "x" is not a digit 0 - 9'),  # the first complaint wins
    ],
)
def test_bad_cpu_lists(text: str, message: str) -> None:
    with pytest.raises(CpuSpecError) as caught:
        parse_cpu_spec(text, 10)
    assert str(caught.value) == message


def test_a_single_cpu_kernel() -> None:
    assert parse_cpu_spec("a", 1) == [0]
    with pytest.raises(CpuSpecError, match="invalid cpu specification: 1"):
        parse_cpu_spec("1", 1)


def test_task_header_is_print_task_header() -> None:
    line = task_header(116, 0xFFFF88F75FE2E000, 0, "fixcrash")
    assert line == 'PID: 116      TASK: ffff88f75fe2e000  CPU: 0    COMMAND: "fixcrash"\n'
    assert task_header(1, 0x1000, 12, "init", newline=True) == (
        '\nPID: 1        TASK: 1000              CPU: 12   COMMAND: "init"\n'
    )
    assert task_header(12345678, 0x10, 8192, "x").startswith("PID: 12345678  TASK: 10  ")
    assert "  CPU: ?    COMMAND" in task_header(1, 0x10, 8192, "x")  # task_cpu(): not below NR_CPUS
