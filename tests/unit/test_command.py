"""Option and Argument declarations: one list builds both the parser and the help page."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from crashcompat.core.command import Argument, CommandContext, GetoptError, Option, command


class _Collect(argparse.Action):
    """A command's own action: records the option letters in command-line order."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        namespace.seen = [*(getattr(namespace, "seen", None) or []), self.const]


@command(
    "demo",
    summary="a command to test declarations",
    synopsis="demo [-ab] [-c cpu] [-F] [-l|-L] [-u|-k] word ...",
    description="Declares one of each kind.",
    arguments=[
        Option("-a", help="a switch."),
        Option("-b", dest="bee", help=""),
        Option("-c", "cpu", dest="cpus", action="append", help="a value, repeatable."),
        Option("-n", "count", type=int, default=1, help="a number."),
        Option("-F", action="count", default=0, help="counted: -FF is 2."),
        Option("-l", aliases=("-L",), nargs=0, action=_Collect, const="l", help="an option with an alias."),
        Option("-u", exclusive="space", help="user."),
        Option("-k", exclusive="space", help="kernel."),
        Argument("words", "word ...", nargs="+", help="at least one word."),
    ],
)
def demo(ctx: CommandContext) -> None:
    ctx.write("ok\n")


def test_parsing_follows_the_declarations() -> None:
    args = demo.parse(["-a", "-c", "1", "-c2", "-n", "3", "-FF", "-L", "-l", "x", "y"])
    assert (args.a, args.bee, args.cpus, args.n, args.F, args.seen) == (
        True,
        False,
        ["1", "2"],
        3,
        2,
        ["l", "l"],
    )
    assert args.words == ["x", "y"]
    defaults = demo.parse(["x"])
    assert (defaults.a, defaults.cpus, defaults.n, defaults.F, defaults.u) == (False, None, 1, 0, False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-z", "x"], "invalid option -- 'z'"),
        (["x", "-c"], "option requires an argument -- 'c'"),
        ([], "the following arguments are required: words"),
        (["-u", "-k", "x"], "argument -k: not allowed with argument -u"),
        (["-n", "many", "x"], "argument -n: invalid int value: 'many'"),
    ],
)
def test_errors_are_getopt_lines(argv: list[str], message: str) -> None:
    with pytest.raises(GetoptError) as error:
        demo.parse(argv)
    assert str(error.value) == message


def test_help_page_lists_the_declarations() -> None:
    page = demo.help_text()
    assert "    -c cpu    a value, repeatable.\n" in page  # labels padded to the longest
    assert "    -l, -L    an option with an alias.\n" in page
    assert "    word ...  at least one word.\n" in page
    assert "-b" not in page.split("DESCRIPTION")[1]  # help="" keeps it off the page
    assert demo.option_flags() == ["-a", "-b", "-c", "-n", "-F", "-l", "-L", "-u", "-k"]


def test_long_labels_get_a_line_of_their_own() -> None:
    @command(
        "wide",
        summary="s",
        synopsis="wide",
        description="d",
        arguments=[
            Option("-a", help="short."),
            Argument("what", "pid | task | command", nargs="*", help="a long label's text."),
        ],
    )
    def wide(ctx: CommandContext) -> None:
        pass

    assert "    -a  short.\n    pid | task | command\n        a long label's text.\n" in wide.help_text()
