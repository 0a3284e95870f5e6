"""``sig``: a task's signal handlers, blocked and pending signals (crash's task.c ``cmd_sig``,
``dump_signal_data``, ``signame_list``, ``translate_sigset``)."""

from __future__ import annotations

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandContext,
    Kernel,
    Option,
    command,
    hexadecimal,
    hookimpl,
    mkstring,
    task_header,
)
from crashcompat.api.kernel import signals, tasks

#: crash's UVADDR_PRLEN on x86_64.
UVADDR_PRLEN = 10
SIGRTMIN = 32

#: Signal names 1-31 (and crash's alternative names).
NAMES = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
    8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM",
    15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
    21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM",
    27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}  # fmt: skip
ALT_NAMES = {6: "SIGIOT", 17: "SIGCLD", 29: "SIGPOLL", 31: "SIGUNUSED"}

#: ``sa_flags`` bits on x86 in crash's order.
SA_FLAGS = (
    (0x1, "SA_NOCLDSTOP"), (0x04000000, "SA_RESTORER"), (0x2, "SA_NOCLDWAIT"), (0x4, "SA_SIGINFO"),
    (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"), (0x40000000, "SA_NODEFER"),
    (0x80000000, "SA_RESETHAND"),
)  # fmt: skip


def signal_name(number: int) -> str:
    """A signal's name as crash's lists spell it: SIGRTMIN+n for the lower half of the real-time signals,
    SIGRTMAX-n for the upper (``sigrt_minmax()``)."""
    if number < SIGRTMIN:
        return NAMES[number]
    if number == SIGRTMIN:
        return "SIGRTMIN"
    if number == signals.NSIG:
        return "SIGRTMAX"
    span = signals.NSIG - SIGRTMIN - 1
    low = span - span // 2
    offset = number - SIGRTMIN
    return f"SIGRTMIN+{offset}" if offset <= low else f"SIGRTMAX-{signals.NSIG - number}"


def signame_list() -> str:
    """``sig -l``."""
    out = []
    for i in range(1, signals.NSIG + 1):
        if i < SIGRTMIN:
            alt = f"/{ALT_NAMES[i]}" if i in ALT_NAMES else ""
            out.append(f"{' ' if i < 10 else ''}[{i}] {NAMES[i]}{alt}\n")
        else:
            out.append(f"[{i}] {signal_name(i)}\n")
    return "".join(out)


def translate_sigset(sigset: int) -> str:
    """``sig -s``: the names of the signals in a set, wrapped before 80 columns."""
    if not sigset:
        return "(none)\n"
    out, length = "", 0
    count = 0
    for i in range(1, signals.NSIG + 1):
        if sigset >> (i - 1) & 1:
            word = (" " if count else "") + signal_name(i)
            count += 1
            if length + len(word) > 80:
                word = word[1:]
                out += "\n"
                length = 0
            length += len(word)
            out += word
    return out + "\n"


def _flags(value: int) -> str:
    names = [name for bit, name in SA_FLAGS if value & bit]
    return f"({'|'.join(names)})" if names else ""


def _queue(entries: list[tuple[int, int]], indent: str) -> str:
    if not entries:
        return f"{indent}  SIGQUEUE: (empty)\n"
    head = f"{indent}  SIGQUEUE:  SIG  {mkstring('SIGINFO', VADDR_PRLEN, 'cl')}\n"
    return head + "".join(f"             {sig:3d}  {info:x}\n" for sig, info in entries)


def signal_data(kernel: Kernel, task: int, group: bool, task_level: bool, indent: bool = False) -> str:
    """crash's ``dump_signal_data()`` of a ``struct task_struct *``: the group's handlers and shared
    pending set (*group*) and the task's pending flag, blocked set and private queue (*task_level*)."""
    pad = "  " if indent else ""
    s = signals.task_signals(kernel, task)
    out: list[str] = []
    if group:
        out.append(f"{pad}SIGNAL_STRUCT: {s.signal_struct:x}  ")
        if not s.signal_struct:
            return "".join(out) + "\n"
        out.append(f"NR_THREADS: {s.nr_threads}\n")
        out.append(
            f"{pad} SIG {mkstring('SIGACTION', VADDR_PRLEN, 'c')} {mkstring('HANDLER', UVADDR_PRLEN, 'r')} "
            f"{mkstring('MASK', 16, 'c')} {mkstring('FLAGS', VADDR_PRLEN)}\n"
        )
        for action in signals.sigactions(kernel, s.sighand):
            special = {(1 << 64) - 1: "SIG_ERR", 0: "SIG_DFL", 1: "SIG_IGN"}.get(action.handler)
            handler = mkstring(special or f"{action.handler:x}", UVADDR_PRLEN, "r")
            number = f"{' ' if action.signal < 10 else ''}[{action.signal}] "
            out.append(
                f"{pad}{number}{mkstring(f'{action.address:x}', UVADDR_PRLEN)} {handler} {action.mask:016x} "
                f"{action.flags:x} {_flags(action.flags)}\n"
            )
    if task_level:
        out.append(f"{pad}SIGPENDING: {'yes' if s.sigpending else 'no'}\n")
        out.append(f"{pad}   BLOCKED: {s.blocked:016x}\n")
        out.append(f"{pad}PRIVATE_PENDING\n")
        out.append(f"{pad}    SIGNAL: {s.pending:016x}\n")
        out.append(_queue(s.private_queue, pad))
    if group:
        out.append("SHARED_PENDING\n")
        out.append(f"{pad}    SIGNAL: {s.shared:016x}\n")
        out.append(_queue(s.shared_queue, pad))
    return "".join(out)


def _header(kernel: Kernel, task: int) -> str:
    t = tasks.read_task(kernel, task)
    return task_header(t.pid, t.address, t.cpu, t.comm)


def thread_group_text(kernel: Kernel, task: int, shown_idle: list[bool]) -> str:
    """crash's ``do_sig_thread_group()``: the group's data under its leader, then each thread's."""
    t = tasks.read_task(kernel, task)
    if t.pid != t.tgid:
        leader = tasks.task_by_pid(kernel, t.tgid)
        if leader is None:
            return ""
        t = leader
    if t.pid == 0 and shown_idle[0]:
        return ""
    out = [_header(kernel, t.address), signal_data(kernel, t.address, True, False)]
    out += ["\n  ", _header(kernel, t.address), signal_data(kernel, t.address, False, True, indent=True)]
    for other in tasks.for_each_task(kernel):
        if other.address != t.address and other.tgid == t.tgid:
            out += [
                "\n  ",
                _header(kernel, other.address),
                signal_data(kernel, other.address, False, True, True),
            ]
            if other.pid == 0:
                shown_idle[0] = True
    return "".join(out) + "\n"


@command(
    "sig",
    summary="show a task's signal handlers and pending signals",
    synopsis="sig [[-l] | [-s sigset]] | [-g] [pid | task] ...",
    description="""
    For the current task, or each task named, prints its thread group's signal_struct and the handler,
    mask and flags of each of the 64 signals, whether a signal is pending, the blocked set, and the
    signals pending for the task and for its whole thread group, with any queued siginfo.
    """,
    arguments=[
        Option("-l", help="list the signal numbers and names."),
        Option("-s", "sigset", dest="sigset", help="name the signals in a hexadecimal signal set."),
        Option("-g", help="show the thread group: its shared data once, then each thread's own."),
        Option(
            "-R",
            "reference",
            dest="reference",
            action="append",
            help="search for references (not implemented: the command says so).",
        ),
        Argument("targets", "pid | task", nargs="*", help="the tasks: pids or task_struct addresses."),
    ],
)
def sig(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.sigset is not None:
        value = hexadecimal(args.sigset)
        if value is None:
            ctx.error(f'invalid input: "{args.sigset}"')
        ctx.write(translate_sigset(value & ((1 << 64) - 1)))
        return
    if args.l:
        ctx.write(signame_list())
        return
    selected: list[int] = []
    bogus = 0
    reference = bool(args.reference)
    for text in args.targets:
        numeric = text.isdigit() or hexadecimal(text) is not None
        if numeric:
            parsed = tasks.parse_task_spec(kernel, text)
            if parsed is None:
                bogus += 1
                ctx.write(f"sig: invalid task or pid value: {text}\n\n")
            elif parsed[0] == "task":
                selected.append(parsed[1])
            else:
                selected += [t.address for t in tasks.tasks_by_pid(kernel, parsed[1])]
        elif "," in text or kernel.has_member("struct task_struct", text):
            reference = True
        else:
            ctx.write(f"sig: invalid task or pid value: {text}\n\n")
    if not selected and not bogus:
        selected = [ctx.session.current_task()]
    shown_idle = [False]
    for task in selected:
        if args.g:
            ctx.write(thread_group_text(kernel, task, shown_idle))
        elif reference:
            ctx.error("-R not supported yet")
        else:
            ctx.write(_header(kernel, task) + signal_data(kernel, task, True, True) + "\n")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [sig]
