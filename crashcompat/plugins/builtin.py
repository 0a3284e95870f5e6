"""The session's own commands: ``help``, ``plugins``, ``set``, ``hex``, ``dec``, ``q``."""

from __future__ import annotations

import argparse

from tabulate import tabulate

from crashcompat.api import (
    Command,
    CommandContext,
    CrashArgumentParser,
    SessionExit,
    __version__,
    command,
    hookimpl,
)

HELP_COLUMNS = 5
HELP_WIDTH = 15


def _help_arguments(parser: CrashArgumentParser) -> None:
    parser.add_argument("names", nargs="*")


@command(
    "help",
    summary="get help",
    synopsis="help [command | all]",
    description="""
    When entered with no argument, a list of all currently available crashcompat commands is shown.
    If a command name is entered, that command's help page is displayed.  "help all" shows every
    command's page.
    """,
    arguments=_help_arguments,
)
def help_(ctx: CommandContext) -> None:
    names: list[str] = ctx.args.names
    commands = ctx.session.commands
    if not names:
        ctx.write(command_table(sorted(commands)))
        ctx.write(f"\ncrashcompat version: {__version__}\n")
        ctx.write('For help on any command above, enter "help <command>".\n')
        return
    if names == ["all"]:
        names = sorted(commands)
    for name in names:
        cmd = ctx.session.lookup(name)
        if cmd is None:
            ctx.write(f"No manual entry for {name}\n")
            continue
        ctx.write(cmd.help_text())


def command_table(names: list[str]) -> str:
    """crash's ``help`` listing: names in columns of 15, filled top to bottom."""
    rows = (len(names) + HELP_COLUMNS - 1) // HELP_COLUMNS
    lines = []
    for r in range(rows):
        cells = [names[c * rows + r] for c in range(HELP_COLUMNS) if c * rows + r < len(names)]
        lines.append("".join(cell.ljust(HELP_WIDTH) for cell in cells))
    return "\n" + "\n".join(lines) + "\n"


def _plugins_arguments(parser: CrashArgumentParser) -> None:
    parser.add_argument("-v", action="store_true", dest="verbose")


@command(
    "plugins",
    summary="list the loaded plugins",
    synopsis="plugins [-v]",
    description="""
    Lists every crashcompat plugin: its entry-point name, the distribution and version that provide
    it, and the commands it registered.  Plugins that failed to load are listed with the reason; they
    are skipped and the session goes on.
    """,
    options=[("-v", "also show the module each plugin was loaded from.")],
    arguments=_plugins_arguments,
)
def plugins(ctx: CommandContext) -> None:
    rows = []
    failed = []
    for record in sorted(ctx.session.host.records.values(), key=lambda r: r.name):
        if record.error:
            failed.append(record)
            continue
        row = [
            record.name,
            record.distribution or "-",
            record.version or "-",
            " ".join(record.commands) or "-",
        ]
        if ctx.args.verbose:
            row.append(record.module)
        rows.append(row)
    headers = ["NAME", "DISTRIBUTION", "VERSION", "COMMANDS"] + (["MODULE"] if ctx.args.verbose else [])
    ctx.write(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True) + "\n")
    for record in failed:
        ctx.write(f"FAILED: {record.name}: {record.error}\n")


def _set_arguments(parser: CrashArgumentParser) -> None:
    parser.add_argument("-p", action="store_true", dest="panic")
    parser.add_argument("-c", dest="cpu", type=int)
    parser.add_argument("words", nargs="*")


def _show_radix(ctx: CommandContext) -> None:
    name = "hex" if ctx.session.radix == 16 else "decimal"
    ctx.write(f"output radix: {ctx.session.radix} ({name})\n")


@command(
    "set",
    summary="set a process context or internal crash variable",
    synopsis="set [[-a] [pid | taskp] | [-c cpu] | -p] | [radix 10|16] | [scroll on|off]",
    description="""
    This command either sets a new context, or gets the current context for display.  The context
    can be set by the use of a PID or task address, the active task on a cpu (-c), or the panic
    task (-p).  With no argument the current context is displayed.  "set radix 10|16" selects the
    output radix; "set scroll on|off" the output scrolling.
    """,
    options=[
        ("-c", "cpu  sets the context to the active task on a cpu."),
        ("-p", "sets the context to the panic task."),
    ],
    arguments=_set_arguments,
)
def set_(ctx: CommandContext) -> None:
    args = ctx.args
    session = ctx.session
    words: list[str] = args.words
    if words and words[0] == "radix":
        if len(words) > 1:
            if words[1] not in ("10", "16"):
                ctx.error(f"invalid radix: {words[1]}")
            session.radix = int(words[1])
        _show_radix(ctx)
        return
    if words and words[0] in session.settings:
        if len(words) > 1:
            session.settings[words[0]] = words[1]
        ctx.write(f"{words[0]}: {session.settings[words[0]]}\n")
        return
    from crashcompat.api.kernel import tasks  # the task model is only needed for contexts

    if args.panic:
        panic = tasks.panic_task(ctx.kernel)
        if panic is None:
            ctx.error("no panic task found!")
        session.context_task = panic
    elif args.cpu is not None:
        active = tasks.active_tasks(ctx.kernel)
        if args.cpu not in active:
            ctx.error(f"invalid cpu number: {args.cpu}")
        session.context_task = active[args.cpu]
    elif words:
        found = tasks.find_task(ctx.kernel, words[0])
        if found is None:
            ctx.error(f"invalid task or pid value: {words[0]}")
        session.context_task = found
    ctx.write(tasks.render_context(ctx.kernel, session.current_task()))


@command(
    "hex",
    summary="set output radix to 16",
    synopsis="hex",
    description='Sets the output radix to 16 (hexadecimal); the same as "set radix 16".',
)
def hex_(ctx: CommandContext) -> None:
    ctx.session.radix = 16
    _show_radix(ctx)


@command(
    "dec",
    summary="set output radix to 10",
    synopsis="dec",
    description='Sets the output radix to 10 (decimal); the same as "set radix 10".',
)
def dec(ctx: CommandContext) -> None:
    ctx.session.radix = 10
    _show_radix(ctx)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ignored", nargs="*")


@command(
    "q",
    summary="exit this session",
    synopsis="q",
    aliases=("exit", "quit"),
    description='Ends the session (also "exit" and "quit").',
    arguments=_no_arguments,
)
def quit_(ctx: CommandContext) -> None:
    raise SessionExit()


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [help_, plugins, set_, hex_, dec, quit_]
