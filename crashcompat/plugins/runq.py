"""``runq``: each CPU's run queues (crash's task.c ``cmd_runq`` and the ``dump_*`` functions it calls)."""

from __future__ import annotations

from crashcompat.api import (
    Command,
    CommandArgumentError,
    CommandContext,
    CpuSpecError,
    Kernel,
    Option,
    command,
    hookimpl,
    parse_cpu_spec,
    translate_nanoseconds,
)
from crashcompat.api.kernel import sched, tasks


def _entry(kernel: Kernel, task: int) -> str:
    """``PID: %-5ld  TASK: %lx  COMMAND: "%s"`` of a task in crash's table (the address alone if not)."""
    t = tasks.table_task(kernel, task)
    if t is None:
        return f"{task:x}"
    return f'PID: {t.pid:<5}  TASK: {t.address:x}  COMMAND: "{t.comm}"'


def _current(kernel: Kernel, cpu: int) -> tuple[int | None, str]:
    task = tasks.active_tasks(kernel).get(cpu, 0)
    return (task if tasks.table_task(kernel, task) else None), _entry(kernel, task)


def runqueues_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``dump_CFS_runqueues()``."""
    out: list[str] = []
    for n, cpu in enumerate(cpus):
        rq = sched.runqueue(kernel, cpu)
        out.append(f"{chr(10) if n else ''}CPU {cpu} RUNQUEUE: {rq:x}\n")
        out.append(f"  CURRENT: {_current(kernel, cpu)[1]}\n")
        array = sched.rt_prio_array(kernel, cpu)
        out.append(f"  RT PRIO_ARRAY: {array:x}\n")
        rt = sched.rt_queued(kernel, array)
        out += [f"     [{q.prio:3d}] {_entry(kernel, q.task)}\n" for q in rt] or ["     [no tasks queued]\n"]
        cfs_rq = rq + kernel.offsetof("struct rq", "cfs")
        out.append(f"  CFS RB_ROOT: {cfs_rq + kernel.offsetof('struct cfs_rq', 'tasks_timeline'):x}\n")
        cfs = sched.cfs_queued(kernel, cfs_rq)
        out += [f"     [{q.prio:3d}] {_entry(kernel, q.task)}\n" for q in cfs] or ["     [no tasks queued]\n"]
    return "".join(out)


def timestamps_text(kernel: Kernel, cpus: list[int], radix: int) -> str:
    """crash's ``dump_on_rq_timestamp()`` (``-t``)."""
    out: list[str] = []
    active = tasks.active_tasks(kernel)
    for cpu in cpus:
        clock = sched.rq_clock(kernel, cpu)
        text = f"{clock:x}" if radix == 16 else f"{clock}"
        out.append(f"{' ' if cpu < 10 else ''}CPU {cpu}: {text}\n")
        task = active.get(cpu)
        if task is None:
            out.append("\n")
            continue
        t = tasks.read_task(kernel, task)
        indent = 8 if cpu < 100 else 9
        stamp = f"{t.last_run:0{len(text)}x}" if radix == 16 else f"{t.last_run:0{len(text)}d}"
        out.append(f'{" " * indent}{stamp}  PID: {t.pid:<5}  TASK: {t.address:x}  COMMAND: "{t.comm}"\n')
    return "".join(out)


def lag_text(kernel: Kernel) -> str:
    """crash's ``dump_on_rq_lag()`` (``-T``): each CPU's clock behind the most advanced one."""
    count = tasks.cpu_count(kernel)
    stamps = sorted(((sched.rq_clock(kernel, cpu), cpu) for cpu in range(count)), key=lambda s: -s[0])
    top = stamps[0][0]
    return "".join(
        f"{' ' * (2 + len(str(count)) - len(str(cpu)))}CPU {cpu}: {(top - clock) / 1e9:.2f} secs\n"
        for clock, cpu in stamps
    )


def milliseconds_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``dump_on_rq_milliseconds()`` (``-m``): how long each CPU's current task has run."""
    count = tasks.cpu_count(kernel)
    max_indent = 1 if count < 10 else 2 if count < 100 else 3 if count < 1000 else 4
    max_days = 0
    out: list[str] = []
    active = tasks.active_tasks(kernel)
    for cpu in cpus:
        clock = sched.rq_clock(kernel, cpu)
        if not max_days:
            max_days = translate_nanoseconds(clock).index(" ")
        indent = max_indent - (0 if cpu < 10 else 1 if cpu < 100 else 2 if cpu < 1000 else 4)
        task = active.get(cpu)
        if task is None:
            out.append(f"{' ' * indent}CPU {cpu}: [unknown]\n")
            continue
        t = tasks.read_task(kernel, task)
        text = translate_nanoseconds(max(clock - t.last_run, 0))
        pad = " " * (max_days - text.index(" "))
        out.append(
            f'{" " * indent}CPU {cpu}: [{pad}{text}]  PID: {t.pid:<5}  TASK: {t.address:x}  COMMAND: "{t.comm}"\n'
        )
    return "".join(out)


def on_rq_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``dump_on_rq_tasks()`` (``-d``): every task with ``on_rq`` set, by the CPU it is on."""
    out: list[str] = []
    table = list(tasks.for_each_task(kernel))
    for cpu in cpus:
        out.append(f"{chr(10) if cpu else ''}CPU {cpu}\n")
        found = [t for t in table if t.cpu == cpu and sched.on_rq(kernel, t.address)]
        out += [
            f'     [{sched.task_prio(kernel, t.address):3d}] PID: {t.pid:<5}  TASK: {t.address:x}  COMMAND: "{t.comm}"\n'
            for t in found
        ] or ["     [no tasks queued]\n"]
    return "".join(out)


def groups_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``dump_tasks_by_task_group()`` (``-g``) for the fair class (RT group scheduling, rare in
    distribution kernels, is not shown)."""
    root, label = sched.root_task_group(kernel)
    out: list[str] = []
    for n, cpu in enumerate(cpus):
        current, text = _current(kernel, cpu)
        out += [f"{chr(10) if n else ''}CPU {cpu}\n", f"  CURRENT: {text}\n"]
        cfs_rq = sched.cfs_rq_of_group(kernel, root, cpu)
        out.append(f"  {label}_TASK_GROUP: {root:x}  CFS_RQ: {cfs_rq:x}\n")
        for item in sched.group_queued(kernel, cfs_rq, current):
            if isinstance(item, sched.GroupHeader):
                name = f" <{item.group.name}>" if item.group.name is not None else ""
                throttled = " (THROTTLED)" if item.throttled else ""
                pad = " " * (2 + 3 * item.depth)
                out.append(
                    f"{pad}TASK_GROUP: {item.group.address:x}  CFS_RQ: {item.cfs_rq:x} {name}{throttled}\n"
                )
            elif not item.task:
                out.append(f"{' ' * (5 + 3 * item.depth)}[no tasks queued]\n")
            else:
                mark = " [CURRENT]" if item.current else ""
                out.append(
                    f"{' ' * (5 + 3 * item.depth)}[{item.prio:3d}] {_entry(kernel, item.task)}{mark}\n"
                )
    return "".join(out)


@command(
    "runq",
    summary="show each CPU's run queues",
    synopsis="runq [-t] [-T] [-m] [-g] [-d] [-c cpu(s)]",
    description="""
    For each CPU, prints the address of its struct rq, the task running on it, and the tasks queued on
    its real-time priority array (by priority) and on its CFS red-black tree (in timeline order, with
    their priority).
    """,
    arguments=[
        Option("-t", help="each CPU's run-queue clock, and under it when its current task last arrived."),
        Option("-T", help="how far each CPU's run-queue clock lags behind the most advanced one."),
        Option("-m", help="how long each CPU's current task has been running, as days and time."),
        Option("-g", help="the CFS queues by task group, nested as the groups are."),
        Option("-d", help="every task marked as on a run queue, by CPU (a check on the queues themselves)."),
        Option(
            "-c",
            "cpus",
            dest="cpus",
            action="append",
            help='only these CPUs: a number, a list such as "1,3", a range such as "0-2", or "a"/"all".',
        ),
    ],
)
def runq(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    count = tasks.cpu_count(kernel)
    cpus = list(range(count))
    if args.cpus:
        if len(args.cpus) > 1:
            raise CommandArgumentError("only one -c option allowed")
        try:
            cpus = parse_cpu_spec(args.cpus[0], count)
        except CpuSpecError as e:
            ctx.error(str(e))
    if args.t:
        ctx.write(timestamps_text(kernel, cpus, ctx.radix))
    elif args.T:
        ctx.write(lag_text(kernel))
    elif args.m:
        ctx.write(milliseconds_text(kernel, cpus))
    elif args.d:
        ctx.write(on_rq_text(kernel, cpus))
    elif args.g:
        ctx.write(groups_text(kernel, cpus))
    else:
        ctx.write(runqueues_text(kernel, cpus))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [runq]
