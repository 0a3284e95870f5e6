"""Commands: the spec a plugin declares, crash-style argument parsing that never exits, and help text.

A command module reads like its help page::

    from crashcompat.api import Argument, Command, CommandContext, Option, command, hookimpl

    @command(
        "peek",
        summary="show words of kernel memory",
        synopsis="peek [-n count] address",
        description="Prints 64-bit words of kernel memory, starting at a kernel virtual address.",
        arguments=[
            Option("-n", "count", type=int, default=1, help="how many words to print (one by default)."),
            Argument("address", help="where to start, in hexadecimal."),
        ],
    )
    def peek(ctx: CommandContext) -> None:
        args = ctx.args                 # argparse.Namespace: args.n, args.address
        ctx.write("...\\n")

    @hookimpl
    def crashcompat_commands() -> list[Command]:
        return [peek]

Each :class:`Option` and :class:`Argument` is declared once: the same object adds itself to the command's
parser and writes its line of the ``help`` page (and of ``docs/commands/``).
"""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
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


#: Stands for "not declared": the keyword is left out of ``add_argument`` so argparse's own default holds.
_UNSET: Any = object()


@dataclass(frozen=True)
class Option:
    """One option of a command, declared once: it adds itself to the parser and writes its help line.

    A bare flag is a switch: ``Option("-t", help=...)`` sets ``args.t`` to ``True`` when given.  A *metavar*
    makes the option take a value, like a getopt letter followed by ``:``: ``Option("-c", "cpu", help=...)``
    stores the word after ``-c`` in ``args.c``.  *dest*, *action*, *type*, *default*, *const* and *nargs*
    are passed to ``ArgumentParser.add_argument`` as they are, for anything richer: ``action="count"``,
    ``"append"``, ``"append_const"`` or an ``argparse.Action`` subclass of the command's own.

    :param flag: the option string, ``"-t"``.
    :param metavar: what the value is called on the help page (the option then takes a value).
    :param help: the option's text on the help page; ``""`` leaves it off the page.
    :param aliases: more option strings for the same option (``-L`` for ``-l``), shown with it.
    :param exclusive: a group name; the options that share it go into one
        ``add_mutually_exclusive_group()`` (argparse then refuses them together).
    """

    flag: str
    metavar: str = ""
    _: KW_ONLY
    help: str
    aliases: tuple[str, ...] = ()
    dest: str | None = None
    action: str | type[argparse.Action] | None = None
    type: Callable[[str], Any] | None = None
    default: Any = _UNSET
    const: Any = _UNSET
    nargs: int | str | None = None
    exclusive: str = ""

    @property
    def flags(self) -> tuple[str, ...]:
        return (self.flag, *self.aliases)

    @property
    def label(self) -> str:
        """The left column of the option's help line: ``-c cpu``, ``-l, -L``."""
        return ", ".join(self.flags) + (f" {self.metavar}" if self.metavar else "")

    def add_to(self, parser: argparse._ActionsContainer) -> None:
        """Add this option to *parser* (or to one of its mutually exclusive groups)."""
        kwargs: dict[str, Any] = {"action": self.action or ("store" if self.metavar else "store_true")}
        for key, value in (("dest", self.dest), ("type", self.type), ("nargs", self.nargs)):
            if value is not None:
                kwargs[key] = value
        for key, value in (("default", self.default), ("const", self.const)):
            if value is not _UNSET:
                kwargs[key] = value
        parser.add_argument(*self.flags, **kwargs)


@dataclass(frozen=True)
class Argument:
    """One positional argument of a command, declared once like :class:`Option`.

    :param name: the attribute of ``ctx.args`` that receives it (also the name argparse's errors use:
        ``the following arguments are required: addresses``).
    :param metavar: what it is called on the help page (*name* if empty): ``"pid | task"``.
    :param help: its text on the help page; ``""`` leaves it off the page.
    :param nargs: argparse's ``nargs``: ``"*"``, ``"+"``, ``"?"``, a number, or ``None`` for exactly one.
    """

    name: str
    metavar: str = ""
    _: KW_ONLY
    help: str
    nargs: int | str | None = None

    @property
    def label(self) -> str:
        return self.metavar or self.name

    def add_to(self, parser: argparse._ActionsContainer) -> None:
        if self.nargs is None:
            parser.add_argument(self.name)
        else:
            parser.add_argument(self.name, nargs=self.nargs)


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
    """One command's spec: its name, its help (one source for every frontend and the docs), its options and
    positional arguments, and the function that runs it.

    :param arguments: the :class:`Option` and :class:`Argument` declarations, in the order the help page
        lists them (positionals are also parsed in this order).
    :param targets: where it works: ``{"dump", "live"}`` by default.
    """

    name: str
    summary: str
    synopsis: str
    description: str
    handler: Handler
    arguments: Sequence[Option | Argument] = ()
    examples: str = ""
    aliases: Sequence[str] = ()
    targets: frozenset[str] = frozenset({"dump", "live"})
    #: Set by the plugin host: the plugin (entry-point name) that registered it.
    plugin: str = field(default="", compare=False)
    #: The parser :meth:`parse` reuses (built on first use: ``foreach`` runs a command once per task).
    _parser: CrashArgumentParser | None = field(default=None, init=False, repr=False, compare=False)

    def parser(self) -> CrashArgumentParser:
        parser = CrashArgumentParser(prog=self.name)
        groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
        for declared in self.arguments:
            if isinstance(declared, Option) and declared.exclusive:
                if declared.exclusive not in groups:
                    groups[declared.exclusive] = parser.add_mutually_exclusive_group()
                declared.add_to(groups[declared.exclusive])
            else:
                declared.add_to(parser)
        return parser

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        if self._parser is None:
            self._parser = self.parser()
        return self._parser.parse_args(list(argv))

    def option_flags(self) -> list[str]:
        """Every option string the command accepts (``-a``, ``-c`` ...), in declaration order."""
        return [
            flag for declared in self.arguments if isinstance(declared, Option) for flag in declared.flags
        ]

    def usage_text(self) -> str:
        """crash's ``cmd_usage(SYNOPSIS)`` block, printed after a bad option."""
        return f'Usage:\n  {self.synopsis}\nEnter "help {self.name}" for details.\n'

    def help_text(self) -> str:
        """crash's ``help <cmd>`` layout: NAME, SYNOPSIS, DESCRIPTION (options indented), EXAMPLES."""
        lines = ["", "NAME", f"  {self.name} - {self.summary}", "", "SYNOPSIS", f"  {self.synopsis}", ""]
        lines += ["DESCRIPTION"]
        lines += _indent(self.description, "  ")
        entries = [(declared.label, declared.help) for declared in self.arguments if declared.help]
        if entries:
            lines.append("")
            lines += _option_lines(entries)
        if self.examples:
            lines += ["", "EXAMPLES"]
            lines += _indent(self.examples, "  ")
        return "\n".join(lines) + "\n"


#: Help labels longer than this get a line of their own, their text starting below them.
LABEL_COLUMN = 14


def _option_lines(entries: list[tuple[str, str]]) -> list[str]:
    """The indented option and argument list of a help page: the label, then its text wrapped beside it."""
    width = max((len(label) for label, _ in entries if len(label) <= LABEL_COLUMN), default=0)
    lines = []
    for label, text in entries:
        wrapped = textwrap.wrap(" ".join(text.split()), 76 - width, break_on_hyphens=False) or [""]
        if len(label) > width:
            lines.append(f"    {label}")
        else:
            lines.append(f"    {label.ljust(width)}  {wrapped.pop(0)}")
        lines += [f"    {' ' * width}  {more}" for more in wrapped]
    return lines


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else "" for line in textwrap.dedent(text).strip("\n").splitlines()]


def command(
    name: str,
    *,
    summary: str,
    synopsis: str,
    description: str,
    arguments: Sequence[Option | Argument] = (),
    examples: str = "",
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
            arguments=tuple(arguments),
            examples=examples,
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
