"""docs/commands/ is generated from the command specs: it must not drift from ``help <cmd>``."""

from __future__ import annotations

from crashcompat import docs


def test_command_pages_are_current() -> None:
    assert docs.main(["--check"]) == 0, "run: python -m crashcompat.docs"


def test_page_is_the_help_text() -> None:
    commands = docs.builtin_commands()
    assert "help" in commands
    assert commands["help"].help_text().strip("\n") in docs.page(commands["help"])
