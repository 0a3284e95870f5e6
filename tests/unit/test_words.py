"""crash's argument words shared by the command plugins: ``can_eval`` and ``eval`` (tools.c)."""

from __future__ import annotations

import pytest

from crashcompat.core.command import CommandError
from crashcompat.core.kernel import Kernel
from crashcompat.plugins._words import can_eval, crash_eval
from crashcompat.testing.synthetic import SyntheticTarget

BASE = 0xFFFFFFFF81000000


@pytest.fixture
def kernel() -> Kernel:
    t = SyntheticTarget()
    t.add_symbol("schedule", BASE + 0x100, 0x40)
    return Kernel(t)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("schedule+20", True), ("(anything)", True), ("(a)(b)", False), ("schedule", False), ("+20", False),
     ("schedule+", False), ("ffffffff81000000", False), ("a<<2", True)],
)  # fmt: skip
def test_can_eval(text: str, expected: bool) -> None:
    assert can_eval(text) is expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("schedule+20", BASE + 0x100 + 20),  # decimal digits are decimal
        ("schedule+1f", BASE + 0x100 + 0x1F),  # else hexadecimal
        ("(schedule+0x10)", BASE + 0x110),
        ("schedule-4", BASE + 0xFC),
        ("-1", (1 << 64) - 1),  # a leading minus is 0-x, 64-bit unsigned
        ("4k*2", 8192),
        ("~0&ff", 0xFF),
        ("1<<12", 4096),
        ("100>>2", 25),
        ("2#10", 1024),
        ("schedule", BASE + 0x100),
    ],
)
def test_crash_eval(kernel: Kernel, text: str, value: int) -> None:
    assert crash_eval(kernel, text) == value


@pytest.mark.parametrize("text", ["(schedule", "nosuch+1", "1/0", "1<2", "(a(b))", "zz+1"])
def test_crash_eval_refuses(kernel: Kernel, text: str) -> None:
    with pytest.raises(CommandError, match=r"^invalid expression: "):
        crash_eval(kernel, text)
