"""The session's own commands: ``help``, ``plugins``, ``set``, ``hex``, ``dec``, ``q``."""

from __future__ import annotations

from tabulate import tabulate

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    Option,
    SessionExit,
    __version__,
    command,
    hookimpl,
)

HELP_COLUMNS = 5
HELP_WIDTH = 15


@command(
    "help",
    summary="list the commands, or show a command's page",
    synopsis="help [command | all]",
    description="""
    Without an argument, prints the names of the commands this session knows (plugins' commands
    included), in columns.  With command names, prints the page of each; "help all" prints every page.
    """,
    arguments=[
        Argument(
            "names",
            "command | all",
            nargs="*",
            help="the commands whose pages to print (an alias finds its command); all for every page.",
        )
    ],
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


@command(
    "plugins",
    summary="list the loaded plugins",
    synopsis="plugins [-v]",
    description="""
    Lists every crashcompat plugin: its entry-point name, the distribution and version that provide
    it, and the commands it registered.  Plugins that failed to load are listed with the reason; they
    are skipped and the session goes on.
    """,
    arguments=[Option("-v", dest="verbose", help="also show the module each plugin was loaded from.")],
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


def _show_radix(ctx: CommandContext) -> None:
    name = "hex" if ctx.session.radix == 16 else "decimal"
    ctx.write(f"output radix: {ctx.session.radix} ({name})\n")


@command(
    "set",
    summary="choose the task context, or show and change session settings",
    synopsis="set [[-a] [pid | taskp] | [-c cpu] | -p] | [radix 10|16] | [scroll on|off]",
    description="""
    The task context is the task that commands such as bt and vtop use when none is named.  Without
    arguments, set prints the current context (pid, command, task address, CPU and state).  With a pid
    or a task_struct address, with -c or with -p it moves the context to that task first, then prints
    it.  "set radix 10" or "set radix 16" chooses the radix numbers are printed in; "set radix" alone
    prints it.  "set NAME VALUE" changes another session setting (scroll ...) and "set NAME"
    prints it.
    """,
    arguments=[
        Option("-c", "cpu", dest="cpu", type=int, help="make the task running on this CPU the context."),
        Option("-p", dest="panic", help="make the task that panicked the context."),
        Argument(
            "words",
            "pid | taskp | NAME [VALUE]",
            nargs="*",
            help="a pid or a task_struct address to make the context, or a setting to show or change.",
        ),
    ],
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
    summary="print numbers in hexadecimal",
    synopsis="hex",
    description='Makes 16 the radix numbers are printed in; short for "set radix 16".',
)
def hex_(ctx: CommandContext) -> None:
    ctx.session.radix = 16
    _show_radix(ctx)


@command(
    "dec",
    summary="print numbers in decimal",
    synopsis="dec",
    description='Makes 10 the radix numbers are printed in; short for "set radix 10".',
)
def dec(ctx: CommandContext) -> None:
    ctx.session.radix = 10
    _show_radix(ctx)


@command(
    "q",
    summary="end the session",
    synopsis="q",
    aliases=("exit", "quit"),
    description='Ends the session; "exit" and "quit" do the same.  Anything after the command is ignored.',
    arguments=[Argument("ignored", nargs="*", help="")],
)
def quit_(ctx: CommandContext) -> None:
    raise SessionExit()


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [help_, plugins, set_, hex_, dec, quit_]
