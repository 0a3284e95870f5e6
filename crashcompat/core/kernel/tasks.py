"""Tasks as crash sees them: its task table, state letters, active and panic tasks, memory usage.

crash (task.c) builds its table from the idle task of every CPU (``runqueues.idle``) plus the first
``PIDTYPE_PID`` task of every ``struct pid`` in ``init_pid_ns.idr`` whose level-0 namespace is
``init_pid_ns``, then sorts it by pid (pid 0 by CPU).  :func:`for_each_task` yields exactly that set in
that order; kernels without the IDR (before 4.15) fall back on the ``init_task.tasks`` list and each
thread group.

Everything is memoised per stop through :meth:`Kernel.memo`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from crashcompat.core.kernel import Kernel, Struct
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel.lists import ListError, list_for_each_entry, xarray_for_each
from crashcompat.core.target import FaultError, SymbolNotFound, TypeNotFound

__all__ = [
    "PF_EXITING",
    "PF_KTHREAD",
    "Task",
    "active_tasks",
    "cpu_count",
    "cpu_curr",
    "default_context",
    "find_task",
    "for_each_task",
    "idle_task",
    "is_active",
    "panic_by_sysrq",
    "panic_cpu",
    "panic_task",
    "parse_task_spec",
    "read_task",
    "read_task_fields",
    "render_context",
    "state_letters",
    "state_name",
    "table_task",
    "task_by_pid",
    "task_count",
    "task_mm",
    "task_struct",
    "task_struct_size",
    "tasks_by_pid",
    "total_pages",
]

PF_EXITING = 0x00000004  # include/linux/sched.h
PF_KTHREAD = 0x00200000

#: The memo key of crash's task table (``{struct task_struct *: Task}`` in crash's order).
_TABLE = "tasks:table"


@dataclass(frozen=True)
class Task:
    """One ``struct task_struct`` as crash's task table holds it.

    :param address: ``struct task_struct *``.
    :param ppid: the pid of ``task->parent`` (crash's PPID: ``parent``, falling back on ``real_parent``).
    :param parent: ``struct task_struct *`` of ``task->parent``.
    :param state: crash's two-letter state (``RU IN UN ID ZO ST TR DE SW PA WA NE``, ``??``).
    :param state_value: ``__state | exit_state`` as crash's ``task_state()`` combines them.
    :param cpu: ``task_cpu()``.
    :param mm: ``struct mm_struct *`` (0 for kernel threads); :param active_mm: likewise.
    :param stack: the kernel stack base (``task->stack``).
    :param thread_info: ``struct thread_info *`` (inside the task with CONFIG_THREAD_INFO_IN_TASK).
    :param flags: ``task->flags`` (``PF_*``).
    :param rss: resident pages, computed like crash's ``get_task_mem_usage()`` (mm counters plus the
        thread group's unsynced per-task counters).
    :param total_vm: ``mm->total_vm`` in pages.
    :param last_run: ``sched_info.last_arrival`` (ns of rq clock), crash's ``ps -l`` stamp.
    :param start_time: ``task->start_time`` (ns since boot, monotonic).
    :param utime: ``task->utime`` (ns); :param stime: ``task->stime`` (ns).
    """

    address: int
    pid: int
    tgid: int
    ppid: int
    parent: int
    comm: str
    state: str
    state_value: int
    cpu: int
    mm: int
    active_mm: int
    stack: int
    thread_info: int
    flags: int
    rss: int
    total_vm: int
    last_run: int
    start_time: int
    utime: int
    stime: int

    @property
    def is_kthread(self) -> bool:
        """crash's ``is_kernel_thread()`` on kernels with PF_KTHREAD (2.6.27+)."""
        return bool(self.flags & PF_KTHREAD)

    @property
    def is_idle(self) -> bool:
        return self.pid == 0

    @property
    def is_group_leader(self) -> bool:
        return self.pid == self.tgid


# ---- task state letters (crash's initialize_task_state / task_state_string) -----------------------------


#: An unknown state bit: never set in a state, never equal to one.
_NO_BIT = -1


@dataclass(frozen=True)
class _States:
    running: int = 0
    interruptible: int = _NO_BIT
    uninterruptible: int = _NO_BIT
    stopped: int = _NO_BIT
    traced: int = _NO_BIT
    zombie: int = _NO_BIT
    dead: int = _NO_BIT
    parked: int = _NO_BIT
    wakekill: int = _NO_BIT
    waking: int = _NO_BIT
    noload: int = _NO_BIT
    new: int = _NO_BIT


#: Linux 6.1 include/linux/sched.h, for a kernel whose state names cannot be read.
_STATES_61 = _States(0, 1, 2, 4, 8, 0x20, 0x10 | 0x80, 0x40, 0x100, 0x200, 0x400, 0x800)

#: ``stat_nam[]`` letters (2.6.33 - 4.13) and ``task_state_array[]`` names (crash's strstr keys).
_LETTERS = {"R": "running", "S": "interruptible", "D": "uninterruptible", "T": "stopped", "t": "traced",
            "Z": "zombie", "X": "dead", "x": "dead", "K": "wakekill", "W": "waking", "P": "parked",
            "N": "noload", "n": "new"}  # fmt: skip
_NAMES = {"(running)": "running", "(sleeping)": "interruptible", "(disk sleep)": "uninterruptible",
          "(stopped)": "stopped", "(zombie)": "zombie", "(dead)": "dead", "(tracing stop)": "traced",
          "(wakekill)": "wakekill", "(waking)": "waking", "(parked)": "parked"}  # fmt: skip


def _has(state: int, bit: int) -> bool:
    return bit > 0 and bool(state & bit)


def _task_states(kernel: Kernel) -> _States:
    """The state bits as crash's ``initialize_task_state()`` derives them from the kernel's own names.

    With ``stat_nam`` (2.6.33 - 4.13) letter *i* is bit ``1 << (i - 1)``.  Otherwise string *i* of
    ``task_state_array[]`` (fs/proc/array.c) is bit 0, 1, 2, 4 …; on 4.14+ (the array has ``I (idle)``,
    commit 06eb61844d84 "sched/debug: Add explicit TASK_IDLE printing") TASK_DEAD, WAKEKILL, WAKING, NOLOAD
    and NEW follow PARKED; before, DEAD, WAKEKILL and WAKING follow the single dead bit.  ``dead`` and
    ``traced`` collect every matching bit.  Without either table the 6.1 values are used.
    """

    def compute() -> _States:
        bits: dict[str, int] = {}

        def add(name: str, bit: int) -> None:
            bits[name] = bits.get(name, 0) | bit if name in ("dead", "traced") else bit

        try:
            letters = kernel.read_cstring(kernel.symbol("stat_nam"), 64)
        except (SymbolNotFound, FaultError):
            letters = ""
        if len(letters) > len("RSDTtZX") and letters.isascii():
            for i, letter in enumerate(letters):
                if letter in _LETTERS:
                    add(_LETTERS[letter], 1 << (i - 1) if i else 0)
        else:
            try:
                sym = kernel.target.lookup_symbol("task_state_array")
                names = [
                    kernel.read_cstring(p, 64)
                    for p in kernel.target.read_pointers(sym.address, sym.size // 8)
                ]
            except (SymbolNotFound, FaultError):
                return _STATES_61
            for i, text in enumerate(names):
                for key, name in _NAMES.items():
                    if key in text:
                        add(name, 1 << (i - 1) if i else 0)
            if any("(idle)" in text for text in names) and "parked" in bits:
                parked = bits["parked"]
                add("dead", parked << 1)
                bits.update(wakekill=parked << 2, waking=parked << 3, noload=parked << 4, new=parked << 5)
            elif bin(bits.get("dead", 0)).count("1") == 1:
                dead = bits["dead"]
                add("dead", dead << 1)
                bits.update(wakekill=dead << 2, waking=dead << 3)
        required = ("running", "interruptible", "uninterruptible", "zombie", "stopped")
        if not all(name in bits for name in required):
            return _STATES_61
        return _States(**bits)

    return kernel.memo("tasks:states", compute)


def state_letters(kernel: Kernel, state: int) -> str:
    """crash's ``task_state_string(task, buf, !VERBOSE)`` for a ``__state | exit_state`` value."""
    s = _task_states(kernel)
    text = "??"
    is_set = False
    if state == s.running:
        text = "RU"
    if _has(state, s.interruptible):
        text, is_set = "IN", True
    if _has(state, s.uninterruptible):
        text, is_set = ("ID" if _has(state, s.noload) else "UN"), True
    if _has(state, s.zombie):
        text, is_set = "ZO", True
    if _has(state, s.stopped):
        text, is_set = "ST", True
    if _has(state, s.traced):
        text, is_set = "TR", True
    if _has(state, s.dead) and not is_set:
        text = "DE"
    for bit, letters in ((s.parked, "PA"), (s.waking, "WA"), (s.new, "NE")):
        if state == bit:
            text = letters
    return text


def state_name(kernel: Kernel, state: int) -> str:
    """crash's verbose state (``task_state_string(task, buf, VERBOSE)``): ``TASK_RUNNING``,
    ``TASK_INTERRUPTIBLE``, ``TASK_UNINTERRUPTIBLE|TASK_NOLOAD`` …, for ``set`` and ``bt`` headers."""
    s = _task_states(kernel)
    if state == s.running:
        return "TASK_RUNNING"
    if state == s.parked:
        return "TASK_PARKED"
    names = [
        name
        for bit, name in (
            (s.interruptible, "TASK_INTERRUPTIBLE"),
            (s.uninterruptible, "TASK_UNINTERRUPTIBLE"),
            (s.stopped, "TASK_STOPPED"),
            (s.traced, "TASK_TRACED"),
        )
        if _has(state, bit)
    ]
    if _has(state, s.dead):
        names.append("EXIT_DEAD|TASK_DEAD" if bin(state & s.dead).count("1") > 1 else "EXIT_DEAD")
    if _has(state, s.zombie):
        names.append("EXIT_ZOMBIE")
    names += [
        name
        for bit, name in ((s.waking, "TASK_WAKING"), (s.wakekill, "TASK_WAKEKILL"), (s.noload, "TASK_NOLOAD"),
                          (s.new, "TASK_NEW"))
        if _has(state, bit)
    ]  # fmt: skip
    return "|".join(names)


# ---- CPUs and runqueues ---------------------------------------------------------------------------------


def cpu_count(kernel: Kernel) -> int:
    """crash's ``kt->cpus`` on x86_64 (``x86_64_get_smp_cpus``): the number of consecutive per-cpu areas
    whose ``cpu_number`` matches their index, raised to the highest present CPU + 1 when fewer CPUs
    are present than that."""

    def compute() -> int:
        nr = kernel.nr_cpu_ids()
        try:
            load = kernel.symbol("__per_cpu_load")
        except SymbolNotFound:
            load = None
        cpus = 0
        try:
            number = kernel.symbol("cpu_number")
            for cpu in range(nr):
                offset = kernel.per_cpu_offset(cpu)
                if load is not None and offset == load:
                    break
                if kernel.target.read_s32(number + offset) != cpu:
                    break
                cpus += 1
        except (SymbolNotFound, FaultError):
            pass
        try:
            present = kernel.cpumask("__cpu_present_mask")
        except (SymbolNotFound, FaultError):
            present = []
        if present and (not cpus or len(present) < cpus):
            cpus = present[-1] + 1
        return cpus or 1

    return kernel.memo("tasks:cpu_count", compute)


def _runqueue(kernel: Kernel, cpu: int) -> int:
    """``struct rq *`` of *cpu* (``per_cpu(runqueues, cpu)``)."""
    return kernel.per_cpu_address("runqueues", cpu)


def cpu_curr(kernel: Kernel, cpu: int) -> int:
    """``cpu_rq(cpu)->curr``: the ``struct task_struct *`` running on *cpu* when the kernel stopped."""
    return kernel.read_pointer(_runqueue(kernel, cpu) + kernel.offsetof("struct rq", "curr"))


def idle_task(kernel: Kernel, cpu: int) -> int:
    """``cpu_rq(cpu)->idle``: the ``struct task_struct *`` of *cpu*'s ``swapper/N``."""
    return kernel.read_pointer(_runqueue(kernel, cpu) + kernel.offsetof("struct rq", "idle"))


def active_tasks(kernel: Kernel) -> dict[int, int]:
    """crash's active set: ``{cpu: struct task_struct *}`` of each CPU's ``rq->curr`` (CPUs below
    :func:`cpu_count`; unreadable runqueues are left out)."""

    def compute() -> dict[int, int]:
        out: dict[int, int] = {}
        for cpu in range(cpu_count(kernel)):
            try:
                task = cpu_curr(kernel, cpu)
            except FaultError:
                continue
            if task:
                out[cpu] = task
        return out

    return kernel.memo("tasks:active", compute)


def panic_cpu(kernel: Kernel) -> int | None:
    """The CPU that crashed, on a dump: ``crashing_cpu`` (set by the kdump shutdown path,
    arch/x86/kernel/reboot.c) when it names an online CPU, else the ``panic_cpu`` atomic (kernel/panic.c)
    when a panic was entered, else what the dump's notes say (:meth:`Target.crashed_cpu`)."""

    def compute() -> int | None:
        online = kernel.online_cpus()
        for name in ("crashing_cpu", "panic_cpu"):
            try:
                cpu = kernel.target.read_s32(kernel.symbol(name))
            except (SymbolNotFound, FaultError):
                continue
            if 0 <= cpu < cpu_count(kernel) and (name == "panic_cpu" or cpu in online):
                return cpu
        return kernel.target.crashed_cpu()

    return kernel.memo("tasks:panic_cpu", compute)


def panic_task(kernel: Kernel) -> int | None:
    """The ``struct task_struct *`` that panicked (crash's ``tt->panic_task``), or ``None`` on a live
    target or when no panic CPU is known."""
    if kernel.target.live:
        return None
    cpu = panic_cpu(kernel)
    if cpu is None:
        return None
    return active_tasks(kernel).get(cpu)


def panic_by_sysrq(kernel: Kernel) -> bool:
    """crash's ``SYSRQ`` flag: the panic task's kernel stack holds a return address inside
    ``sysrq_handle_crash`` (the ``echo c > /proc/sysrq-trigger`` crash), which crash finds while it looks
    for the panic frame (x86_64.c ``x86_64_get_dumpfile_stack_frame``)."""

    def compute() -> bool:
        task = panic_task(kernel)
        if task is None:
            return False
        try:
            handler = kernel.target.lookup_symbol("sysrq_handle_crash")
            stack = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "stack"))
            words = kernel.target.read_pointers(stack, _layout.thread_size(kernel) // 8)
        except (SymbolNotFound, FaultError):
            return False
        # crash matches the closest symbol at or below each word, so the return address of the noreturn
        # call to panic() that ends the function (address + size) counts too.
        end = handler.address + handler.size
        return any(handler.address <= word <= end for word in words)

    return kernel.memo("tasks:sysrq", compute)


def is_active(kernel: Kernel, task: int) -> bool:
    """crash's ``is_task_active()``: the task is some CPU's ``rq->curr`` (or the panic task).

    :param task: ``struct task_struct *``.
    """
    return task in active_tasks(kernel).values() or task == panic_task(kernel)


def default_context(kernel: Kernel) -> int:
    """The task crash starts in: the panic task of a dump, else the current task of the CPU the target
    stopped on, else CPU 0's current task (``struct task_struct *``)."""
    task = panic_task(kernel)
    if task:
        return task
    active = active_tasks(kernel)
    cpu = kernel.target.crashed_cpu()
    if cpu is not None and cpu in active:
        return active[cpu]
    if active:
        return active[min(active)]
    return kernel.symbol("init_task")


# ---- reading one task -----------------------------------------------------------------------------------


def _first_member(kernel: Kernel, type_name: str, *names: str) -> str:
    """The first of *names* that *type_name* has (newer layout first).  Raises TypeNotFound."""
    for name in names:
        if kernel.has_member(type_name, name):
            return name
    raise TypeNotFound(f"{type_name}: none of {', '.join(names)}")


def _task_fields(kernel: Kernel) -> dict[str, str]:
    """Member paths of ``struct task_struct`` on this kernel, memoised."""

    def compute() -> dict[str, str]:
        ts = "struct task_struct"
        return {
            # 5.14: commit 2f064a59a11f "sched: Change task_struct::state" renamed state to __state.
            "state": _first_member(kernel, ts, "__state", "state"),
            # 5.16: commit bcf9033e5449 "sched: move CPU field back into thread_info if
            # THREAD_INFO_IN_TASK" moved cpu into thread_info.
            "cpu": _first_member(kernel, ts, "thread_info.cpu", "cpu"),
            # crash reads task->parent (the ptrace-aware parent), falling back on real_parent.
            "parent": _first_member(kernel, ts, "parent", "real_parent"),
        }

    return kernel.memo("tasks:fields", compute)


def _rss_indexes(kernel: Kernel) -> tuple[int, ...]:
    """MM_FILEPAGES, MM_ANONPAGES and (4.5+, commit eca56ff906bd) MM_SHMEMPAGES, as crash reads them."""

    def compute() -> tuple[int, ...]:
        try:
            out = [kernel.target.enumerator("MM_FILEPAGES"), kernel.target.enumerator("MM_ANONPAGES")]
        except SymbolNotFound:
            out = [0, 1]
        with contextlib.suppress(SymbolNotFound):
            out.append(kernel.target.enumerator("MM_SHMEMPAGES"))
        return tuple(out)

    return kernel.memo("tasks:rss_indexes", compute)


def _read_task_struct(kernel: Kernel, address: int) -> tuple[Task, int]:
    """One ``struct task_struct`` read: its :class:`Task` before the table-wide fields (``ppid``, ``rss``,
    ``total_vm``), and its unsynced per-task RSS count (see :func:`_finish`)."""
    f = _task_fields(kernel)
    t = task_struct(kernel, address)
    state = t.uint(f["state"]) | (t.uint("exit_state") & 0xFFFFFFFF)
    split = 0
    if t.has("rss_stat.count"):
        # SPLIT_RSS_COUNTING (removed in 6.2, commit f1a7941243c1 "mm: convert mm's rss stats into
        # percpu_counter"): per-task deltas not yet folded into the mm.
        base = kernel.offsetof("struct task_struct", "rss_stat.count")
        for index in _rss_indexes(kernel):
            value = int.from_bytes(t.raw(base + 4 * index, 4), "little", signed=True)
            split += max(value, 0)
    # CONFIG_THREAD_INFO_IN_TASK (4.9+): thread_info is the task's first member; before, it sat at the
    # stack base.
    thread_info = t.addr_of("thread_info") if t.has("thread_info.flags") else t.ptr("stack")
    task = Task(
        address=address,
        pid=t.s32("pid"),
        tgid=t.s32("tgid"),
        ppid=-1,
        parent=t.ptr(f["parent"]),
        comm=t.cstr("comm"),
        state=state_letters(kernel, state),
        state_value=state,
        cpu=t.uint(f["cpu"]),
        mm=t.ptr("mm"),
        active_mm=t.ptr("active_mm"),
        stack=t.ptr("stack"),
        thread_info=thread_info,
        flags=t.uint("flags"),
        rss=0,
        total_vm=0,
        last_run=t.u64("sched_info.last_arrival") if t.has("sched_info.last_arrival") else 0,
        start_time=t.u64("start_time"),
        utime=t.u64("utime"),
        stime=t.u64("stime"),
    )
    return task, split


def _finish(kernel: Kernel, task: Task, pid_of: dict[int, int], group_split: dict[int, int]) -> Task:
    """Fill the fields crash computes against its whole table: PPID (``-1`` when the parent is not in the
    table) and memory usage (``get_task_mem_usage()``: nothing for zombies and for exiting tasks whose mm
    is gone; else the mm's counters plus the unsynced counters of every thread of the group)."""
    rss = total_vm = 0
    if task.mm and not _has(task.state_value, _task_states(kernel).zombie):
        try:
            mm_count = kernel.target.read_s32(task.mm + kernel.offsetof("struct mm_struct", "mm_count"))
            if not (task.flags & PF_EXITING and mm_count <= 0):
                rss, total_vm = _mm_usage(kernel, task.mm)
                rss += group_split.get(task.tgid, 0)
        except (FaultError, TypeNotFound):
            pass
    return replace(task, ppid=pid_of.get(task.parent, -1), rss=rss, total_vm=total_vm)


def _mm_usage(kernel: Kernel, mm: int) -> tuple[int, int]:
    """``(rss, total_vm)`` pages of a ``struct mm_struct *`` from its own counters (crash's
    ``get_task_mem_usage``: only positive counters count)."""
    m = kernel.struct("struct mm_struct", mm)
    rss = 0
    if m.has("rss_stat.count"):
        # 6.1: struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; }
        base = kernel.offsetof("struct mm_struct", "rss_stat.count")
        for index in _rss_indexes(kernel):
            rss += max(int.from_bytes(m.raw(base + 8 * index, 8), "little", signed=True), 0)
    elif m.has("rss_stat"):
        # 6.2+: struct percpu_counter rss_stat[NR_MM_COUNTERS] (commit f1a7941243c1).
        size = kernel.sizeof("struct percpu_counter")
        base = m.addr_of("rss_stat")
        for index in _rss_indexes(kernel):
            rss += _percpu_counter_sum_positive(kernel, base + size * index)
    return rss, m.uint("total_vm")


def _percpu_counter_sum_positive(kernel: Kernel, fbc: int) -> int:
    """``percpu_counter_sum_positive()`` of a ``struct percpu_counter *``."""
    count = kernel.target.read_s64(fbc + kernel.offsetof("struct percpu_counter", "count"))
    counters = kernel.read_pointer(fbc + kernel.offsetof("struct percpu_counter", "counters"))
    if counters:
        for cpu in kernel.possible_cpus():
            count += kernel.target.read_s32(counters + kernel.per_cpu_offset(cpu))
    return max(count, 0)


def total_pages(kernel: Kernel) -> int:
    """crash's ``vt->total_pages``, the ``%MEM`` divisor: ``high_memory``'s page frame number."""

    def compute() -> int:
        return kernel.virt_to_phys_direct(kernel.read_global_u64("high_memory")) // kernel.target.page_size

    return kernel.memo("tasks:total_pages", compute)


# ---- the task table -------------------------------------------------------------------------------------


def _pid_task_addresses(kernel: Kernel) -> list[int] | None:
    """Tasks of every ``struct pid`` in ``init_pid_ns.idr`` (crash's ``refresh_xarray_task_table``), or
    ``None`` when the kernel has no IDR-based pid namespace (before 4.15)."""
    try:
        ns = kernel.symbol("init_pid_ns")
        idr = ns + kernel.offsetof("struct pid_namespace", "idr.idr_rt")
        tasks_off = kernel.offsetof("struct pid", "tasks")
        ns_off = kernel.offsetof("struct pid", "numbers[0].ns")
        # 4.19: commit 2c4704756cab "pids: Move the pid links into struct task_struct" (pid_links).
        link = kernel.offsetof(
            "struct task_struct", _first_member(kernel, "struct task_struct", "pid_links", "pids")
        )
    except (SymbolNotFound, TypeNotFound):
        return None
    # One read per pid: the span holding both pointers.
    low, span = min(tasks_off, ns_off), abs(tasks_off - ns_off) + 8
    out: list[int] = []
    pids = xarray_for_each(kernel, idr)
    while True:
        try:
            _, pid = next(pids)
        except StopIteration:
            break
        except ListError as e:  # a node of the pid IDR is not in the dump: the tasks beyond it are unknown
            kernel.warn(f"the pid table cannot be read at {e.address:x}: the task list is incomplete")
            break
        try:
            raw = kernel.read(pid + low, span)
        except FaultError:
            kernel.warn("a struct pid of the pid table cannot be read: the task list is incomplete")
            continue
        if int.from_bytes(raw[ns_off - low : ns_off - low + 8], "little") != ns:
            continue
        first = int.from_bytes(raw[tasks_off - low : tasks_off - low + 8], "little")
        if first:
            out.append(first - link)
    return out


def _task_list_addresses(kernel: Kernel) -> list[int]:
    """Every thread reachable from ``init_task.tasks`` (the fallback walk)."""
    init = kernel.symbol("init_task")
    head = init + kernel.offsetof("struct task_struct", "tasks")
    out: list[int] = []
    for leader in [init, *list_for_each_entry(kernel, head, "struct task_struct", "tasks", on_error="stop")]:
        try:
            # 2.6.39+: signal->thread_head / thread_node; older: the thread_group list.
            signal = kernel.read_pointer(leader + kernel.offsetof("struct task_struct", "signal"))
            threads = list(
                list_for_each_entry(
                    kernel,
                    signal + kernel.offsetof("struct signal_struct", "thread_head"),
                    "struct task_struct",
                    "thread_node",
                    on_error="stop",
                )
            )
        except (TypeNotFound, FaultError):
            threads = [leader]
        out += threads or [leader]
    return out


def _task_addresses(kernel: Kernel) -> list[int]:
    """The ``struct task_struct *`` crash's table is made of: each CPU's idle task, then every pid's task
    (or, before 4.15, the task list), without repeats."""

    def compute() -> list[int]:
        idle: list[int] = []
        for cpu in range(cpu_count(kernel)):
            try:
                task = idle_task(kernel, cpu)
            except FaultError:
                continue
            if task and task not in idle:
                idle.append(task)
        found = _pid_task_addresses(kernel)
        if found is None:
            found = _task_list_addresses(kernel)
        return list(dict.fromkeys([*idle, *found]))

    return kernel.memo("tasks:addresses", compute)


def task_struct_size(kernel: Kernel) -> int:
    """The bytes of a ``struct task_struct`` crash reads (``SIZE(task_struct)``): x86's
    ``arch_task_struct_size`` (v4.2, "x86/fpu, sched: Introduce CONFIG_ARCH_WANTS_DYNAMIC_TASK_STRUCT": the FPU
    state at the end is sized at boot), else
    the debug info's size.  The larger debug size can run into an excluded page past the slab object."""

    def compute() -> int:
        try:
            size = kernel.target.read_s32(kernel.symbol("arch_task_struct_size"))
        except (SymbolNotFound, FaultError):
            size = 0
        return size if size > 0 else kernel.sizeof("struct task_struct")

    return kernel.memo("tasks:task_struct_size", compute)


def task_struct(kernel: Kernel, address: int) -> Struct:
    """A ``struct task_struct`` as crash reads it: :func:`task_struct_size` bytes (not the debug info's
    size, which can run into a page left out of a filtered dump).  Raises FaultError."""
    if kernel.target.sparse_reads:
        return kernel.struct("struct task_struct", address)
    return Struct(kernel, "struct task_struct", address, kernel.read(address, task_struct_size(kernel)))


def task_count(kernel: Kernel) -> int:
    """The number of tasks in crash's table (``sys``'s TASKS), without decoding them: on a dump a task
    is in the table when its ``struct task_struct`` can be read (:func:`_table` reads it in one piece);
    with sparse reads (a slow live link) the table itself is counted."""

    def compute() -> int:
        if kernel.target.sparse_reads:
            return len(_table(kernel))
        size = task_struct_size(kernel)
        count = 0
        for address in _task_addresses(kernel):
            with contextlib.suppress(FaultError):
                kernel.read(address, size)
                count += 1
        return count

    return kernel.memo("tasks:count", compute)


def _table(kernel: Kernel) -> dict[int, Task]:
    """crash's context array: ``{task address: Task}`` in crash's order (sorted by pid, idle by CPU)."""

    def compute() -> dict[int, Task]:
        read: list[tuple[Task, int]] = []
        lost = 0
        for address in _task_addresses(kernel):
            try:
                read.append(_read_task_struct(kernel, address))
            except FaultError:
                lost += 1
        if lost:
            kernel.warn(f"{lost} task_struct{'s' if lost > 1 else ''} cannot be read: left out of the task list")
        read.sort(key=lambda r: (r[0].pid, r[0].cpu if r[0].pid == 0 else 0))
        pid_of = {t.address: t.pid for t, _ in read}
        group_split: dict[int, int] = {}
        for t, split in read:
            group_split[t.tgid] = group_split.get(t.tgid, 0) + split
        return {t.address: _finish(kernel, t, pid_of, group_split) for t, _ in read}

    return kernel.memo(_TABLE, compute)


def for_each_task(kernel: Kernel) -> Iterator[Task]:
    """Every task in crash's task table, in crash's order (see the module docstring)."""
    return iter(_table(kernel).values())


def read_task(kernel: Kernel, address: int) -> Task:
    """The :class:`Task` of a task: from the table, or read directly for a task the table does not hold.
    Raises FaultError.

    :param address: ``struct task_struct *``.
    """
    table = _table(kernel)
    if address in table:
        return table[address]
    task, split = _read_task_struct(kernel, address)
    return _finish(kernel, task, {t.address: t.pid for t in table.values()}, {task.tgid: split})


def table_task(kernel: Kernel, address: int) -> Task | None:
    """The :class:`Task` of a ``struct task_struct *`` in crash's table, or ``None`` (crash's
    ``task_to_context()``)."""
    return _table(kernel).get(address)


def read_task_fields(kernel: Kernel, address: int) -> Task:
    """The :class:`Task` of a task read on its own, without the fields crash computes against its whole
    table: ``ppid`` is -1, ``rss`` and ``total_vm`` 0 (:func:`read_task` has them).  For what ``bt`` needs
    (pid, CPU, command, stack, mm): on a dump of thousands of tasks it is one read instead of the table.
    Raises FaultError.

    :param address: ``struct task_struct *``.
    """
    table: dict[int, Task] | None = kernel.memoized(_TABLE)
    if table is not None and address in table:  # foreach: the table is there, and has more than asked for
        return table[address]
    return _read_task_struct(kernel, address)[0]


def task_mm(kernel: Kernel, address: int) -> int:
    """``task->mm`` (0 for a kernel thread), read without building the task table.  Raises FaultError.

    :param address: ``struct task_struct *``.
    """
    return kernel.read_pointer(address + kernel.offsetof("struct task_struct", "mm"))


def tasks_by_pid(kernel: Kernel, pid: int) -> list[Task]:
    """All tasks with *pid* (several for pid 0: one idle task per CPU)."""
    return [t for t in _table(kernel).values() if t.pid == pid]


def task_by_pid(kernel: Kernel, pid: int) -> Task | None:
    """The first task with *pid* in crash's order, or ``None``."""
    found = tasks_by_pid(kernel, pid)
    return found[0] if found else None


def parse_task_spec(kernel: Kernel, text: str) -> tuple[Literal["pid", "task"], int] | None:
    """crash's ``str_to_context()``: what a ``set``/``ps``/``bt``/``foreach`` argument names.

    The text is tried as a decimal number and (if it is all hex digits, optionally ``0x``-prefixed) as a
    hex number; each value is looked up as a pid and as a ``struct task_struct *``.  One match wins; two
    matches count only when both are pids (the decimal one wins).  Returns ``("pid", pid)`` (all tasks
    with that pid: use :func:`tasks_by_pid`), ``("task", address)``, or ``None`` (crash's
    ``invalid task or pid value``).
    """
    s = text.strip()
    table = _table(kernel)
    pids = kernel.memo("tasks:pids", lambda: {t.pid for t in table.values()})
    dvalue = int(s, 10) if s.isdigit() else None
    digits = s[2:] if s[:2].lower() == "0x" else s
    hvalue = None
    if digits and len(digits) <= 16 and all(c in "0123456789abcdefABCDEF" for c in digits):
        hvalue = int(digits, 16)
    if hvalue == dvalue:
        hvalue = None
    found: list[tuple[Literal["pid", "task"], int, bool]] = []  # (kind, value, decimal?)
    for value, is_decimal in ((dvalue, True), (hvalue, False)):
        if value is None:
            continue
        if value in pids:
            found.append(("pid", value, is_decimal))
        if value in table:
            found.append(("task", value, is_decimal))
    if len(found) == 1:
        return found[0][0], found[0][1]
    if len(found) == 2 and all(kind == "pid" for kind, _, _ in found):
        return "pid", next(value for _, value, is_decimal in found if is_decimal)
    return None


def find_task(kernel: Kernel, spec: int | str) -> int | None:
    """The ``struct task_struct *`` a ``set`` argument names, or ``None``.

    A string goes through :func:`parse_task_spec` (crash's rules); a number is tried as a pid, then as a
    task address.  For a pid shared by several tasks (pid 0) the first in crash's order is returned.
    """
    if isinstance(spec, str):
        parsed = parse_task_spec(kernel, spec)
        if parsed is None:
            return None
        kind, value = parsed
        if kind == "task":
            return value
        spec = value
    task = task_by_pid(kernel, spec)
    if task is not None:
        return task.address
    return spec if spec in _table(kernel) else None


# ---- the context block ----------------------------------------------------------------------------------


def render_context(kernel: Kernel, task: Task | int, indent: int = 0) -> str:
    """crash's ``show_context()`` block (``set PID`` output; the startup banner uses *indent* 5).

    :param task: a :class:`Task` or a ``struct task_struct *``.
    """
    if isinstance(task, int):
        task = read_task(kernel, task)
    pad = " " * indent
    same_pid = len(tasks_by_pid(kernel, task.pid))
    state = state_name(kernel, task.state_value)
    if not is_active(kernel, task.address):
        state += " "
    elif task.address != panic_task(kernel):
        state += " (ACTIVE)"
    else:
        state += " (SYSRQ)" if panic_by_sysrq(kernel) else " (PANIC)"
    lines = [
        f"{pad}    PID: {task.pid}",
        f'{pad}COMMAND: "{task.comm}"',
        f"{pad}   TASK: {task.address:x}  "
        + (f"(1 of {same_pid})  " if same_pid > 1 else "")
        + f"[THREAD_INFO: {task.thread_info:x}]",
        f"{pad}    CPU: {task.cpu}",
        f"{pad}  STATE: {state}",
    ]
    return "\n".join(lines) + "\n"
