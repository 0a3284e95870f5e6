"""Commands: the spec a plugin declares, crash-style argument parsing that never exits, and help text.

A command module reads like its crash man page::

    from crashcompat.api import Command, CommandContext, command, hookimpl

    @command(
        "log",
        summary="dump system message buffer",
        synopsis="log [-Ttdmasc]",
        description=\"\"\"This command dumps the kernel log_buf contents in chronological order. ...\"\"\",
        options=[
            ("-t", "Display the message text without the timestamp."),
            ("-m", "Display the message log level in brackets preceding each message."),
        ],
    )
    def log(ctx: CommandContext) -> None:
        args = ctx.args                 # argparse.Namespace built from the spec's arguments
        ctx.write("...\\n")

    @hookimpl
    def crashcompat_commands() -> list[Command]:
        return [log]

The options listed for help are also turned into boolean flags automatically (``-t`` → ``args.t``) unless
the command passes its own ``arguments`` builder for anything richer (option values, positionals).
"""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from crashcompat.core.kernel import Kernel
    from crashcompat.core.session import Session
    from crashcompat.core.target import Target


class CommandError(Exception):
    """A user-facing failure of one command; the session prints ``"<cmd>: <message>"`` and goes on.

    Raise it with just the message: ``raise CommandError("invalid address: ffff8880deadbeef")``.
    """


class CommandArgumentError(CommandError):
    """Bad options or arguments (raised by :class:`CrashArgumentParser` instead of exiting)."""


class GetoptError(CommandArgumentError):
    """What getopt(3) complains about (an unknown option, a missing option argument): crash users see the
    complaint on stderr and the command's usage on stdout."""


class CrashArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`CommandArgumentError` instead of printing usage and exiting.

    (argparse's ``exit_on_error=False`` still exits on Python 3.11 — CPython gh-121018.)
    """

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _FixedWidthFormatter)
        super().__init__(prog=prog, add_help=False, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise GetoptError(_getopt_message(message))

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise GetoptError(message.strip() if message else f"exit status {status}")


class _FixedWidthFormatter(argparse.HelpFormatter):
    """argparse's formatter at a fixed width: argparse makes one per option it adds, and the default asks
    the terminal for its size each time (an environment lookup and an ioctl; 5 ms per command inside GDB).
    Help pages come from the command's spec, not from argparse."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=80)


def _getopt_message(message: str) -> str:
    """Say argparse's complaints the way getopt(3) says them to crash users."""
    unrecognized = re.match(r"unrecognized arguments: (\S+)", message)
    if unrecognized and unrecognized.group(1).startswith("-") and len(unrecognized.group(1)) > 1:
        return f"invalid option -- '{unrecognized.group(1)[1]}'"
    ignored = re.match(r"argument -\w.*: ignored explicit argument '(.)", message)
    if ignored:
        return f"invalid option -- '{ignored.group(1)}'"
    missing = re.match(r"argument -(\w).*: expected one argument", message)
    if missing:
        return f"option requires an argument -- '{missing.group(1)}'"
    return message


#: Adds the command's arguments to the parser it is given.
ArgumentsBuilder = Callable[[CrashArgumentParser], None]


@dataclass
class CommandContext:
    """What a running command gets: its parsed arguments, the session, and where to write.

    :param args: the parsed arguments.
    :param argv: the raw arguments after the command name.
    """

    session: Session
    name: str
    argv: list[str]
    args: argparse.Namespace
    out: IO[str]

    @property
    def target(self) -> Target:
        return self.session.target

    @property
    def kernel(self) -> Kernel:
        return self.session.kernel

    @property
    def radix(self) -> int:
        """The output radix (``set radix``, ``hex``, ``dec``): 10 or 16; crash's default is 10."""
        return self.session.radix

    def write(self, text: str) -> None:
        self.out.write(text)

    def print(self, *parts: object, sep: str = " ", end: str = "\n") -> None:
        self.out.write(sep.join(str(p) for p in parts) + end)

    def error(self, message: str) -> NoReturn:
        """Stop the command with crash's ``"<cmd>: <message>"`` line."""
        raise CommandError(message)

    def warning(self, message: str) -> None:
        """crash's non-fatal ``WARNING: <message>`` line; the command goes on."""
        self.out.write(f"WARNING: {message}\n")


Handler = Callable[[CommandContext], None]


@dataclass
class Command:
    """One command's spec: its name, its help (one source for every frontend and the docs), its argument
    grammar and the function that runs it.

    :param targets: where it works: ``{"dump", "live"}`` by default.
    """

    name: str
    summary: str
    synopsis: str
    description: str
    handler: Handler
    options: Sequence[tuple[str, str]] = ()
    examples: str = ""
    arguments: ArgumentsBuilder | None = None
    aliases: Sequence[str] = ()
    targets: frozenset[str] = frozenset({"dump", "live"})
    #: Set by the plugin host: the plugin (entry-point name) that registered it.
    plugin: str = field(default="", compare=False)

    def parser(self) -> CrashArgumentParser:
        parser = CrashArgumentParser(prog=self.name)
        if self.arguments is not None:
            self.arguments(parser)
        else:
            for flag, text in self.options:
                if flag.startswith("-") and len(flag) == 2:
                    parser.add_argument(flag, action="store_true", help=text)
        return parser

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        return self.parser().parse_args(list(argv))

    def usage_text(self) -> str:
        """crash's ``cmd_usage(SYNOPSIS)`` block, printed after a bad option."""
        return f'Usage:\n  {self.synopsis}\nEnter "help {self.name}" for details.\n'

    def help_text(self) -> str:
        """crash's ``help <cmd>`` layout: NAME, SYNOPSIS, DESCRIPTION (options indented), EXAMPLES."""
        lines = ["", "NAME", f"  {self.name} - {self.summary}", "", "SYNOPSIS", f"  {self.synopsis}", ""]
        lines += ["DESCRIPTION"]
        lines += _indent(self.description, "  ")
        if self.options:
            lines.append("")
            width = max(len(flag) for flag, _ in self.options)
            for flag, text in self.options:
                wrapped = textwrap.wrap(" ".join(text.split()), 76 - width) or [""]
                lines.append(f"    {flag.ljust(width)}  {wrapped[0]}")
                lines += [f"    {' ' * width}  {more}" for more in wrapped[1:]]
        if self.examples:
            lines += ["", "EXAMPLES"]
            lines += _indent(self.examples, "  ")
        return "\n".join(lines) + "\n"


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else "" for line in textwrap.dedent(text).strip("\n").splitlines()]


def command(
    name: str,
    *,
    summary: str,
    synopsis: str,
    description: str,
    options: Sequence[tuple[str, str]] = (),
    examples: str = "",
    arguments: ArgumentsBuilder | None = None,
    aliases: Sequence[str] = (),
    targets: Iterable[str] = ("dump", "live"),
) -> Callable[[Handler], Command]:
    """Decorator: turn a handler function into a :class:`Command` (see the module docstring)."""

    def wrap(handler: Handler) -> Command:
        return Command(
            name=name,
            summary=summary,
            synopsis=synopsis,
            description=description,
            handler=handler,
            options=options,
            examples=examples,
            arguments=arguments,
            aliases=aliases,
            targets=frozenset(targets),
        )

    return wrap


def parse_int(text: str, radix: int = 10) -> int:
    """crash's number rule: ``0x`` prefix is hex, else *radix*; a bare hex-looking word with a-f is hex."""
    t = text.strip().lower()
    if t.startswith(("0x", "-0x")):
        return int(t, 16)
    if radix == 16 or any(c in "abcdef" for c in t):
        return int(t, 16)
    return int(t, 10)


def parse_address(text: str) -> int:
    """An address argument: hex with or without ``0x`` (crash reads addresses as hex)."""
    t = text.strip().lower()
    try:
        return int(t, 16)
    except ValueError:
        raise CommandArgumentError(f"invalid address: {text}") from None
