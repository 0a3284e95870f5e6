"""``ps``: crash's process status display (task.c ``cmd_ps``, ``show_ps``, ``show_ps_data`` and friends)."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from functools import cached_property

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    FaultError,
    Kernel,
    Option,
    SymbolNotFound,
    TargetError,
    TypeNotFound,
    command,
    hookimpl,
    mkstring,
    parse_cpu_spec,
    task_header,
    translate_nanoseconds,
)
from crashcompat.api.kernel import pagetable, sched, system, tasks
from crashcompat.api.kernel.tasks import Task

#: ``-a -t -c -p -g -l -m -S -r -A -Y`` exclude one another (crash's PS_EXCLUSIVE).
EXCLUSIVE = "atcpglmSrAY"
EXCLUSIVE_MESSAGE = "-a, -t, -c, -p, -g, -l, -m, -S, -r and -A flags are all mutually-exclusive"

#: ``rlim_names[]`` of crash's task.c, in ``RLIMIT_*`` order.
RLIMIT_NAMES = (
    "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
    "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
)  # fmt: skip

#: Scheduling policies (include/uapi/linux/sched.h) as crash names them for ``-y`` / ``-Y``.
POLICIES = ("NORMAL", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE")

HEADER = "      PID    PPID  CPU {}  ST  %MEM      VSZ      RSS  COMM\n"
POLICY_HEADER = "      PID    PPID  CPU {}  POLICY       PRIO  COMM\n"


def _flag(letter: str, text: str) -> Option:
    """A ps switch: each one given is appended to ``args.flags`` in command-line order."""
    return Option(f"-{letter}", dest="flags", action="append_const", const=letter, default=[], help=text)


@command(
    "ps",
    summary="list tasks with their state and memory use",
    synopsis="ps [-k|-u|-G|-y policy] [-s] [-p|-c|-t|-[l|m][-C cpu]|-a|-g|-r|-S|-A] [pid | task | command] ...",
    description="""
    Without arguments, prints one line per task (every thread, the per-CPU idle tasks included): pid,
    parent's pid, the CPU it last ran on, its task_struct address (its kernel stack pointer with -s),
    its state as two letters (RU, IN, UN, ZO, ST, TR, DE, SW, WA, PA, ID or NE), its share of physical
    memory in percent, its virtual size and resident set in KiB, and its command name.  Kernel threads
    have their name in brackets, and a ">" at the start of the line marks a task that was running on
    a CPU.  With arguments, only the tasks they select are shown.  Of -p, -c, -t, -l, -m, -a, -g, -r,
    -S, -A and -Y, only one may be given.
    """,
    arguments=[
        _flag("k", "only kernel threads."),
        _flag("u", "only user tasks (every task that is not a kernel thread)."),
        _flag("G", "only the leader of each thread group."),
        Option(
            "-y",
            "policy",
            dest="policy",
            help="only the tasks with one of these scheduling policies, given as numbers or as names "
            "(NORMAL, FIFO, RR, BATCH, ISO, IDLE, DEADLINE), separated by commas.",
        ),
        _flag(
            "s",
            "show the kernel stack pointer the task saved when it last stopped running (KSTACKP) in "
            "place of its TASK address.",
        ),
        _flag("p", "for each task, its chain of ancestors from the first task down to itself."),
        _flag("c", "for each task, the tasks whose parent it is."),
        _flag(
            "t",
            "for each task, how long it has existed, its start time (nanoseconds after boot), and the "
            "user and system time it has used, oldest task first.",
        ),
        _flag(
            "l",
            "for each task, the runqueue clock stamp of its last arrival on a CPU (sched_info."
            "last_arrival) and its state, the most recent first.",
        ),
        _flag(
            "m",
            "as -l, but the stamp is turned into the time elapsed since, as days, hours, minutes, "
            "seconds and milliseconds.",
        ),
        Option(
            "-C",
            "cpus",
            dest="cpus",
            help='with -l or -m, group the lines by CPU, for the CPUs listed: "1,3,5", "1-3", "a" or "all".',
        ),
        _flag("a", "for each user task, the argument and environment strings of its process."),
        _flag("g", "the tasks grouped by thread group: each leader with its other threads under it."),
        _flag("r", "for each task, its resource limits (current and maximum) by RLIMIT name."),
        _flag("S", "how many tasks are in each state."),
        _flag("A", "only the task that was running on each CPU."),
        _flag("I", "leave the idle tasks out (of the table, and of -l and -m)."),
        _flag("H", "print no header line."),
        _flag("Y", "for each task, its scheduling policy and priority in place of the memory columns."),
        Argument(
            "selectors",
            "pid | task | command",
            nargs="*",
            help="which tasks to show: a pid, a task_struct address in hexadecimal, a command name "
            "(put a backslash before a name made only of digits), or a Python regular expression "
            "between single quotes, matched anywhere in the command name.",
        ),
    ],
)
def ps(ctx: CommandContext) -> None:
    flags: set[str] = set()
    for flag in ctx.args.flags:
        if flag in EXCLUSIVE and flags & (set(EXCLUSIVE) - {flag}):
            ctx.error(EXCLUSIVE_MESSAGE)
        if flag in "ku" and flags & (set("ku") - {flag}):
            ctx.error("-u and -k are mutually exclusive")
        flags.add(flag)
    if flags & set("lm") and "G" in flags:
        ctx.error(f"-G not supported with -{'l' if 'l' in flags else 'm'} option")
    view = _View(ctx, flags)
    if ctx.args.policy is not None:
        view.policies = _parse_policies(ctx, ctx.args.policy)
    if ctx.args.cpus is not None:
        # crash parses the list as it reads the option, before it knows whether -l or -m came too
        view.cpus = parse_cpu_spec(ctx.args.cpus, tasks.cpu_count(ctx.kernel))
        if not flags & set("lm"):
            ctx.write("ps: -C option is only applicable with -l and -m\n")
            return
    selectors: list[str] = ctx.args.selectors
    if not selectors:
        view.show_all()
        return
    if "S" in flags:
        ctx.error("-S option takes no arguments")
    if view.cpus is not None:
        ctx.write("ps: -C option is not applicable with specified tasks\n")
        view.cpus = None
    matchers: list[Callable[[Task], bool]] = []
    for word in selectors:
        matcher = view.selector(word)
        if matcher is not None:
            matchers.append(matcher)
    view.show_selected(matchers)


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [ps]


# ---- the view -------------------------------------------------------------------------------------------


class _View:
    """One ``ps`` run: the options, the task table, and crash's per-mode renderers."""

    def __init__(self, ctx: CommandContext, flags: set[str]) -> None:
        self.ctx = ctx
        self.kernel: Kernel = ctx.kernel
        self.flags = flags
        self.policies: set[int] | None = None
        self.cpus: list[int] | None = None
        self.table = list(tasks.for_each_task(self.kernel))
        self.by_address = {t.address: t for t in self.table}
        self.idle = {t.address for t in self.table if t.pid == 0}
        self.shown_groups: set[int] = set()
        self.specified = False
        self.idle_shown = False

    # ---- selection ------------------------------------------------------------------------------------

    def selector(self, word: str) -> Callable[[Task], bool] | None:
        """crash's argument forms: a number (pid or task, ``str_to_context``), ``'regex'``, or a command
        name (``\\`` escapes an all-digit name)."""
        digits = word[2:] if word[:2] in ("0x", "0X") else word
        if digits and all(c in string.hexdigits for c in digits):  # crash's IS_A_NUMBER()
            parsed = tasks.parse_task_spec(self.kernel, word)
            if parsed is None:
                self.ctx.write(f"ps: invalid task or pid value: {word}\n\n")
                return None
            kind, value = parsed
            if kind == "pid":
                return lambda t: t.pid == value
            return lambda t: t.address == value
        leaders_only = bool(self.flags & set("gG"))
        if len(word) > 1 and word[0] == word[-1] == "'":
            try:
                regex = re.compile(word[1:-1])
            except re.error:
                self.ctx.error(f"invalid regular expression: {word[1:-1]}")
            return lambda t: bool(regex.search(t.comm)) and (not leaders_only or t.pid == t.tgid)
        name = (word[1:] if word.startswith("\\") else word)[:15]
        return lambda t: t.comm == name and (not leaders_only or t.pid == t.tgid)

    def _filtered(self, task: Task) -> bool:
        """True when -k/-u/-y/-I rule *task* out (the checks at the top of ``show_ps_data``)."""
        if "u" in self.flags and task.is_kthread:
            return True
        if "k" in self.flags and not task.is_kthread:
            return True
        if self.policies is not None and _policy(self.kernel, task) not in self.policies:
            return True
        return "I" in self.flags and task.address in self.idle

    # ---- top level ------------------------------------------------------------------------------------

    def _header(self) -> None:
        if "H" in self.flags:
            return
        if "Y" in self.flags:
            self.ctx.write(POLICY_HEADER.format(self._task_column_title()))
        elif not self.flags & set(EXCLUSIVE) - {"A"}:
            self.ctx.write(HEADER.format(self._task_column_title()))

    def _task_column_title(self) -> str:
        return mkstring("KSTACKP", 16, "cr") if "s" in self.flags else mkstring("TASK", 16, "c")

    def _order(self) -> list[Task]:
        """The table, or for ``-l``/``-m`` crash's ``sort_context_array_by_last_run()`` order (most
        recently run first)."""
        if self.flags & set("lm"):
            return sorted(self.table, key=lambda t: -t.last_run)
        return self.table

    def show_all(self) -> None:
        self._header()
        if "t" in self.flags:
            self.show_times([t for t in self.table if not self._filtered(t) and self._group_ok(t, None)])
        elif "S" in self.flags:
            self.show_summary()
        elif self.cpus is not None:
            self.show_last_run_per_cpu(self.cpus)
        else:
            for task in self._order():
                self.show_one(task)

    def show_selected(self, matchers: list[Callable[[Task], bool]]) -> None:
        self._header()
        self.specified = True
        for task in self._order():
            for matcher in matchers:
                if not matcher(task):
                    continue
                if "t" not in self.flags:
                    self.show_one(task)
                elif not self._filtered(task):
                    leader = self._group_ok(task, task)
                    if leader is not None:
                        self.show_times([leader])

    def _group_ok(self, task: Task, specified: Task | None) -> Task | None:
        """crash's ``-G`` handling: the thread group leader to show for *task*, or ``None`` to skip it."""
        if "G" not in self.flags:
            return task
        leader: Task | None = task
        if task.pid != task.tgid:
            if specified is None:
                return None
            leader = next((t for t in self.table if t.pid == t.tgid == task.tgid), None)
            if leader is None:
                return None
        assert leader is not None
        if leader.address in self.shown_groups:
            return None
        self.shown_groups.add(leader.address)
        return leader

    # ---- one task, default and alternative displays ----------------------------------------------------

    def show_one(self, task: Task) -> None:
        """crash's ``show_ps_data()``."""
        if self._filtered(task):
            return
        if "G" in self.flags:
            found = self._group_ok(task, task if self.specified else None)
            if found is None:
                return
            task = found
        if "Y" in self.flags:
            self.ctx.write(
                f"{self._marker(task)}{task.pid:7d} {task.ppid:7d} {task.cpu:>3}  {self._task_column(task)}  "
                f"{_policy_name(self.kernel, task):<12} {_prio(self.kernel, task):4d}  {_comm(task)}\n"
            )
            return
        if "p" in self.flags:
            self.show_parents(task)
            self.ctx.write("\n")
            return
        if "c" in self.flags:
            self.show_children(task)
            self.ctx.write("\n")
            return
        if self.flags & set("lm"):
            self.ctx.write(self._last_run_line(task))
            return
        if "a" in self.flags:
            self.show_args(task)
            return
        if "r" in self.flags:
            self.show_rlimits(task)
            return
        if "g" in self.flags:
            self.show_thread_group(task)
            return
        active = tasks.is_active(self.kernel, task.address)
        if "A" in self.flags and not self.specified and not active:
            return
        self.ctx.write(self.row(task))

    def _marker(self, task: Task) -> str:
        return "> " if tasks.is_active(self.kernel, task.address) else "  "

    def _task_column(self, task: Task) -> str:
        if "s" not in self.flags:
            return mkstring(f"{task.address:x}", 16, "cr")
        sp = 0 if tasks.is_active(self.kernel, task.address) else _kernel_sp(self.kernel, task)
        return mkstring(f"{sp:x}" if sp else "--", 16, "cr")

    def row(self, task: Task) -> str:
        """One default ``ps`` line."""
        page_kb = self.kernel.target.page_size // 1024
        pct = _pct_mem(self.kernel, task)
        pct_text = f"{pct:.1f}"
        if len(pct_text) == 3:
            pct_text = mkstring(pct_text, 4, "cr")
        pad = " " if len(task.state) > 3 else "  "
        return (
            f"{self._marker(task)}{task.pid:7d} {task.ppid:7d} {task.cpu:>3}  {self._task_column(task)} "
            f"{task.state:>3}{pad}{pct_text} {task.total_vm * page_kb:8d} {task.rss * page_kb:8d}  {_comm(task)}\n"
        )

    def show_parents(self, task: Task) -> None:
        """crash's ``parent_list()``: the ancestry from the root down, one more space per generation."""
        chain = [task.address]
        seen = {task.address}
        parent = task.parent
        while parent and parent not in seen:
            chain.append(parent)
            seen.add(parent)
            parent = (
                self.by_address[parent].parent
                if parent in self.by_address
                else _read_parent(self.kernel, parent)
            )
        for depth, address in enumerate(reversed(chain)):
            found = self.by_address.get(address)
            if found is not None:
                self.ctx.write(" " * depth + _task_line(found))

    def show_children(self, task: Task) -> None:
        """crash's ``child_list()``."""
        self.ctx.write(_task_line(task))
        children = [t for t in self.table if t.parent == task.address]
        for child in children:
            self.ctx.write("  " + _task_line(child))
        if not children:
            self.ctx.write("  (no children)\n")

    def show_thread_group(self, task: Task) -> None:
        """crash's ``show_tgid_list()``."""
        if task.pid != task.tgid:
            if not self.specified:
                return
            leader = next((t for t in self.table if t.pid == t.tgid == task.tgid), None)
            if leader is None:
                return
            task = leader
        if task.pid == 0 and self.idle_shown:
            return
        self.ctx.write(_task_line(task))
        count = 0
        for other in self.table:
            if other.address != task.address and other.tgid == task.tgid:
                self.ctx.write("  " + _task_line(other))
                count += 1
                if other.pid == 0:
                    self.idle_shown = True
        if not count:
            self.ctx.write("  (no threads)\n")
        self.ctx.write("\n")

    def show_summary(self) -> None:
        """crash's ``show_ps_summary()``: task count per state, in order of first appearance."""
        if self.flags & set("ukGIY"):
            self.ctx.error("-S option cannot be used with other options")
        counts: dict[str, int] = {}
        for task in self.table:
            counts[task.state] = counts.get(task.state, 0) + 1
        for state, count in counts.items():
            self.ctx.write(f"  {state}: {count}\n")

    def _last_run_line(self, task: Task) -> str:
        """One ``-l`` line (``[stamp] [ST]  PID: ...``, the stamp as wide as the most recent one) or ``-m``
        line (time since the task last ran on its CPU's runqueue clock, days padded to the clock's)."""
        if "m" in self.flags:
            clock = _rq_clock(self.kernel, task.cpu)
            text = translate_nanoseconds(max(clock - task.last_run, 0))
            text = " " * (translate_nanoseconds(clock).index(" ") - text.index(" ")) + text
        else:
            text = self._number(task.last_run).rjust(self._stamp_width)
        return f"[{text}] [{task.state}]  {_task_line(task)}"

    @cached_property
    def _stamp_width(self) -> int:
        return len(self._number(max((t.last_run for t in self.table), default=0)))

    def show_last_run_per_cpu(self, cpus: list[int]) -> None:
        """crash's ``-l``/``-m`` with ``-C``: a ``CPU: N`` block per CPU."""
        for n, cpu in enumerate(cpus):
            self.ctx.write(("\n" if n else "") + f"CPU: {cpu}\n")
            for task in self._order():
                if task.cpu == cpu and not ("I" in self.flags and task.address in self.idle):
                    self.ctx.write(self._last_run_line(task))

    def _number(self, value: int) -> str:
        return f"{value:x}" if self.ctx.radix == 16 else f"{value:d}"

    def show_times(self, selected: Iterable[Task]) -> None:
        """crash's ``show_task_times()``: sorted by start time."""
        frequency = system.hz(self.kernel)
        now = system.uptime_jiffies(self.kernel)
        for task in sorted(selected, key=lambda t: t.start_time):
            start = task.start_time // 1_000_000_000 * frequency
            run = 0 if start > now else now - start
            self.ctx.write(_task_line(task))
            self.ctx.write(f"    RUN TIME: {system.format_uptime(run, frequency)}\n")
            self.ctx.write(f"  START TIME: {task.start_time}\n")
            self.ctx.write(f"       UTIME: {task.utime}\n")
            self.ctx.write(f"       STIME: {task.stime}\n\n")

    def show_args(self, task: Task) -> None:
        """crash's ``show_task_args()``: ``mm->arg_start..arg_end`` and ``env_start..env_end`` read through
        the task's page tables."""
        self.ctx.write(_task_line(task))
        if not task.mm:
            self.ctx.write("ps: no user stack\n\n")
            return
        mm = self.kernel.struct("struct mm_struct", task.mm)
        pgd = mm.ptr("pgd")
        args = _read_user(self.kernel, pgd, mm.uint("arg_start"), mm.uint("arg_end"))
        if isinstance(args, int):
            self.ctx.write(f"ps: cannot access user stack address: {args:x}\n\n")
            return
        self.ctx.write("ARG: " + _arg_text(args))
        env = _read_user(self.kernel, pgd, mm.uint("env_start"), mm.uint("env_end"))
        if isinstance(env, int):
            self.ctx.write(f"ps: cannot access user stack address: {env:x}\n\n")
            return
        self.ctx.write("\nENV: " + _env_text(env))

    def show_rlimits(self, task: Task) -> None:
        """crash's ``show_task_rlimit()``: ``signal->rlim[]`` (``task->rlim`` before 2.6.10)."""
        kernel = self.kernel
        try:
            member = kernel.member("struct signal_struct", "rlim")
            base = kernel.read_pointer(task.address + kernel.offsetof("struct task_struct", "signal"))
            base += member.offset
        except TypeNotFound:
            member = kernel.member("struct task_struct", "rlim")
            base = task.address + member.offset
        count = member.size // 16
        data = kernel.read(base, count * 16)
        width = max(len(n) for n in RLIMIT_NAMES[:count])
        unlimited = "(unlimited)"
        self.ctx.write(_task_line(task))
        self.ctx.write(
            f"  {'RLIMIT'.rjust(width)}   {mkstring('CURRENT', len(unlimited), 'cr')}   "
            f"{mkstring('MAXIMUM', len(unlimited), 'cr')}\n"
        )
        for i in range(count):
            cur = int.from_bytes(data[16 * i : 16 * i + 8], "little")
            top = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
            name = RLIMIT_NAMES[i] if i < len(RLIMIT_NAMES) else "(unknown)"
            cells = [
                unlimited if v == (1 << 64) - 1 else mkstring(str(v), len(unlimited), "c") for v in (cur, top)
            ]
            self.ctx.write(f"  {name.rjust(width)}   {cells[0]}   {cells[1]}\n")
        self.ctx.write("\n")


# ---- helpers --------------------------------------------------------------------------------------------


def _task_line(task: Task) -> str:
    """crash's ``print_task_header()`` line (no leading newline) of *task*."""
    return task_header(task.pid, task.address, task.cpu, task.comm)


def _comm(task: Task) -> str:
    return f"[{task.comm}]" if task.is_kthread else task.comm


def _pct_mem(kernel: Kernel, task: Task) -> float:
    """crash's ``pct_physmem``: rss * 100 / ``vt->total_pages`` (0 for kernel threads without rss)."""
    if not task.rss:
        return 0.0
    return task.rss * 100 / tasks.total_pages(kernel)


def _kernel_sp(kernel: Kernel, task: Task) -> int:
    """``task->thread.sp``: the saved kernel stack pointer of a task that is not running."""
    try:
        return kernel.read_pointer(task.address + kernel.offsetof("struct task_struct", "thread.sp"))
    except (TypeNotFound, FaultError):
        return 0


def _read_parent(kernel: Kernel, task: int) -> int:
    try:
        name = "parent" if kernel.has_member("struct task_struct", "parent") else "real_parent"
        return kernel.read_pointer(task + kernel.offsetof("struct task_struct", name))
    except FaultError:
        return 0


def _rq_clock(kernel: Kernel, cpu: int) -> int:
    """``cpu_rq(cpu)->clock`` (ns)."""
    try:
        return sched.rq_clock(kernel, cpu)
    except (SymbolNotFound, TypeNotFound, FaultError) as e:
        raise TargetError("cannot determine per-cpu runqueue address") from e


def _read_user(kernel: Kernel, pgd: int, start: int, end: int) -> bytes | int:
    """User memory [start, end) through the page tables at *pgd*, page by page (crash's
    ``read_arg_string``).  Returns the bytes, or the first address that could not be read."""
    out = bytearray()
    address = start
    page = kernel.target.page_size
    while address < end:
        count = min(page - address % page, end - address)
        walk = pagetable.translate(kernel, address, pgd=pgd)
        if walk.physical is None:
            return address
        try:
            out += kernel.target.read_physical(walk.physical, count)
        except TargetError:
            return address
        address += count
    return bytes(out)


def _arg_text(data: bytes) -> str:
    """crash's ``ARG:`` loop: NUL ends a word with one space; other bytes are printed as they are."""
    out = bytearray()
    count = 0
    for byte in data:
        if byte == 0:
            if count:
                out += b" "
            count = 0
        else:
            out.append(byte)
            count += 1
    return out.decode("utf-8", "replace")


def _env_text(data: bytes) -> str:
    """crash's ``ENV:`` loop: NUL ends a line; a new string after the first is indented five spaces; then
    a newline, and a blank line when nothing was printed."""
    out = bytearray()
    count = total = 0
    for i, byte in enumerate(data):
        if byte == 0:
            if count:
                out += b"\n"
            count = 0
        else:
            if not count and i:
                out += b"     "
            out.append(byte)
            count += 1
            total += 1
    return out.decode("utf-8", "replace") + "\n" + ("" if total else "\n")


def _policy(kernel: Kernel, task: Task) -> int:
    return kernel.target.read_u32(task.address + kernel.offsetof("struct task_struct", "policy"))


def _policy_name(kernel: Kernel, task: Task) -> str:
    policy = _policy(kernel, task)
    return POLICIES[policy] if policy < len(POLICIES) else "UNKNOWN"


def _prio(kernel: Kernel, task: Task) -> int:
    return kernel.target.read_s32(task.address + kernel.offsetof("struct task_struct", "prio"))


def _parse_policies(ctx: CommandContext, text: str) -> set[int]:
    """crash's ``make_sched_policy()``: numbers or names, comma separated."""
    out: set[int] = set()
    for word in text.split(","):
        word = word.strip()
        if word.isdigit() and int(word) < len(POLICIES):
            out.add(int(word))
        elif word.upper() in POLICIES:
            out.add(POLICIES.index(word.upper()))
        else:
            ctx.error(f"{word}: invalid scheduling policy")
    return out
