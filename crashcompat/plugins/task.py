"""``task``: a task's ``task_struct`` (and ``thread_info``), whole or some members (crash's task.c
``cmd_task``, ``do_task``).  The structures are printed by the session's ``struct`` command (the data
printer), so both print them alike."""

from __future__ import annotations

import io

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    Kernel,
    Option,
    command,
    hookimpl,
    task_header,
)
from crashcompat.api.kernel import tasks


def _struct(ctx: CommandContext, argv: list[str]) -> str:
    out = io.StringIO()
    ctx.session.run_argv("struct", argv, out)
    return out.getvalue()


def task_text(
    ctx: CommandContext, kernel: Kernel, address: int, members: str | None, radix: list[str]
) -> str:
    """crash's ``do_task()`` for one ``struct task_struct *``."""
    t = tasks.read_task(kernel, address)
    out = [task_header(t.pid, t.address, t.cpu, t.comm)]
    if members is not None:
        names = [m for m in members.replace(",", " ").split() if m]
        for name in names:
            base = name.split(".", 1)[0].split("[", 1)[0]
            if not kernel.has_member("struct task_struct", base) and not kernel.has_member(
                "struct thread_info", base
            ):
                ctx.write(f"task: {name}: not a task_struct or thread_info member\n")
        good = [
            n for n in names if kernel.has_member("struct task_struct", n.split(".", 1)[0].split("[", 1)[0])
        ]
        if good:
            out.append(_struct(ctx, [*radix, f"task_struct.{','.join(good)}", f"{address:x}"]))
    else:
        out.append(_struct(ctx, [*radix, "task_struct", f"{address:x}"]))
        out.append("\n" + _struct(ctx, [*radix, "thread_info", f"{t.thread_info:x}"]))
    return "".join(out) + "\n"


@command(
    "task",
    summary="print a task's task_struct and thread_info",
    synopsis="task [-R member[,member]] [-x|-d] [pid | task] ...",
    description="""
    For the current task, or each task named by pid or task_struct address, prints its task header,
    then its whole task_struct and thread_info, or with -R only the members named.
    """,
    arguments=[
        Option("-R", "members", dest="members", help="only these members (comma-separated)."),
        Option("-x", help="print numbers in hexadecimal."),
        Option("-d", help="print numbers in decimal."),
        Argument("targets", "pid | task", nargs="*", help="the tasks: pids or task_struct addresses."),
    ],
)
def task(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.x and args.d:
        ctx.error("-d and -x are mutually exclusive")
    radix = ["-x"] if args.x else ["-d"] if args.d else []
    if not args.targets:
        ctx.write(task_text(ctx, kernel, ctx.session.current_task(), args.members, radix))
        return
    for text in args.targets:
        parsed = tasks.parse_task_spec(kernel, text)
        if parsed is None:
            ctx.write(f"task: invalid task or pid value: {text}\n")
            continue
        found = (
            [parsed[1]] if parsed[0] == "task" else [t.address for t in tasks.tasks_by_pid(kernel, parsed[1])]
        )
        for address in found:
            ctx.write(task_text(ctx, kernel, address, args.members, radix))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [task]
