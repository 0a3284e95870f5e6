"""``foreach``: run task commands over a selection of tasks (crash's task.c ``cmd_foreach``, ``foreach``).

Each keyword's command is run through the session, one task address at a time, with the options given
after the keywords, so it prints exactly what that command prints for one task.
"""

from __future__ import annotations

import io
import re

from crashcompat.api import Argument, Command, CommandContext, Option, command, hookimpl, task_header
from crashcompat.api.kernel import tasks

#: The commands foreach runs here, in crash's keyword spelling.
KEYWORDS = ("bt", "ps", "files", "vm", "sig", "task", "net")
STATES = ("RU", "IN", "UN", "ST", "TR", "ZO", "DE", "PA", "WA", "ID", "NE", "SW")


def _is_number(text: str) -> bool:
    return bool(text) and (text.isdigit() or all(c in "0123456789abcdefABCDEFxX" for c in text))


@command(
    "foreach",
    summary="run task commands on every selected task",
    synopsis="foreach [pid | task | name | 'regex' | kernel | user | gleader | active | state] ... "
    "command [option ...]",
    description="""
    Runs bt, ps, files, vm, sig, task or net once for each task selected, in the order of the task table.  Tasks are
    selected by pid, task_struct address, command name, a regular expression over the command name in
    single quotes, "kernel" (kernel threads), "user" (the others), "gleader" (user thread-group
    leaders), "active" (the task running on each CPU) or a state (RU, IN, UN, ID, ZO, ST, TR, DE,
    PA, WA, NE); without selectors every task is taken.  What follows the command name is handed to
    each run of that command as its options (they may also come before the selectors); net needs -s
    or -S.
    """,
    arguments=[
        *(Option(f"-{letter}", help="handed to the command run.") for letter in "vomlgersStTpukcfFxhdaG"),
        Option("-R", "reference", dest="reference", help="handed to the command run."),
        Option("-y", "policy", dest="policy", help="handed to the command run."),
        Argument("words", "selector ... command [option ...]", nargs="...", help=""),
    ],
)
def foreach(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    keys: list[str] = []
    options: list[str] = []
    pids: set[int] = set()
    addresses: set[int] = set()
    names: set[str] = set()
    regexes: list[re.Pattern[str]] = []
    flags: set[str] = set()
    state: str | None = None
    specified = False
    takes_value = False
    for word in ctx.argv:
        if takes_value:
            options.append(word)
            takes_value = False
            continue
        if word.startswith("-") and len(word) > 1:
            # crash's getopt: -R and -y take a value, the other letters are switches for the command.
            options.append(word)
            takes_value = word in ("-R", "-y")
            continue
        if keys:
            continue  # after the keyword, crash keeps other words as arguments only vtop uses
        if word in KEYWORDS:
            keys.append(word)
            continue
        if _is_number(word):
            parsed = tasks.parse_task_spec(kernel, word)
            if parsed is not None:
                (pids if parsed[0] == "pid" else addresses).add(parsed[1])
                specified = True
                continue
        if word == "kernel":
            if "user" in flags:
                ctx.error("user and kernel are mutually exclusive!")
            flags.add("kernel")
            continue
        bare = word[1:] if word == "\\DE" else word
        if bare in STATES:
            if state is not None:
                ctx.error("only one task state allowed")
            state = bare
            continue
        if word == "user":
            if "kernel" in flags:
                ctx.error("user and kernel are mutually exclusive!")
            flags.add("user")
            continue
        if word == "gleader":
            if "kernel" in flags:
                ctx.error("gleader and kernel are mutually exclusive!")
            flags |= {"user", "gleader"}
            continue
        if word == "active":
            if ctx.target.live:
                ctx.error("active option not allowed on live systems")
            flags.add("active")
            continue
        if len(word) > 1 and word[0] == word[-1] == "'":
            try:
                regexes.append(re.compile(word[1:-1]))
            except re.error:
                ctx.write(f"foreach: invalid regular expression: {word[1:-1]}\n")
                return
            continue
        name = word[1:] if word.startswith("\\") else word
        if any(t.comm == name for t in tasks.for_each_task(kernel)):
            names.add(name)
            specified = True
            continue
        specified = True
        ctx.write(f'foreach: unknown argument: "{word}"\n')
    if not keys:
        ctx.write("foreach: no keywords specified\n")
        return
    letters = {c for o in options if o.startswith("-") and o not in ("-R", "-y") for c in o[1:]}
    if "net" in keys:
        if {"s", "S"} <= letters:
            ctx.write("WARNING: net -s and -S options are mutually exclusive!\n")
            options = [o for o in options if o != "-S"]
        elif not letters & {"s", "S"}:
            ctx.write("WARNING: net command requires -s or -S option\n\n")
            options.append("-s")
    specified = specified or bool(regexes)
    active = set(tasks.active_tasks(kernel).values())
    subsequent = ps_rows = 0
    idle_shown = False
    print_header = "ps" not in keys and not ("sig" in keys and "-g" in options)
    reference = "-R" in options or any(o.startswith("-R") and len(o) > 2 for o in options)
    for task in tasks.for_each_task(kernel):
        if "active" in flags and not tasks.is_active(kernel, task.address) and task.address not in active:
            continue
        if "user" in flags and task.is_kthread:
            continue
        if "gleader" in flags and task.pid != task.tgid:
            continue
        if "kernel" in flags and not task.is_kthread:
            continue
        if state is not None and not task.state.startswith(state):
            continue
        if specified and not (
            task.address in addresses
            or task.pid in pids
            or task.comm in names
            or any(r.search(task.comm) for r in regexes)
        ):
            continue
        sig_group = "sig" in keys and "-g" in options
        if sig_group and (task.pid != task.tgid or (task.pid == 0 and idle_shown)):
            continue
        if reference:
            pass
        elif print_header:
            ctx.write(task_header(task.pid, task.address, task.cpu, task.comm, newline=subsequent > 0))
            subsequent += 1
        for key in keys:
            text = _run(ctx, key, [*options, f"{task.address:x}"])
            if key == "ps":
                if ps_rows and "\n" in text and text.lstrip().startswith("PID "):
                    text = text.split("\n", 1)[1]
                ps_rows += 1
            elif key == "sig" and sig_group:
                idle_shown = idle_shown or task.pid == 0
            elif not reference and text.startswith("PID: "):
                text = text.split("\n", 1)[1]
                if key == "sig" and text.endswith("\n\n"):
                    text = text[:-1]
            ctx.write(text)


def _run(ctx: CommandContext, name: str, argv: list[str]) -> str:
    out = io.StringIO()
    ctx.session.run_argv(name, argv, out)
    return out.getvalue()


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [foreach]
