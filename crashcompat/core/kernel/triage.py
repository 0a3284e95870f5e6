"""Triage: the first answer from a dump — what kind of crash, which task and function, which module, what
was stuck, and a signature to group dumps of the same bug.

Everything here is computed from the rest of the kernel model: the panic task and CPU
(:mod:`~crashcompat.core.kernel.tasks`), its back trace (:mod:`~crashcompat.core.kernel.unwind`, crash's
``bt``), the kernel log (:mod:`~crashcompat.core.kernel.printk`), taints, the release, the uptime and the
panic sysctls (:mod:`~crashcompat.core.kernel.system`), modules and their debug information
(:mod:`~crashcompat.core.kernel.modules`, :mod:`~crashcompat.core.kernel.symbols`).  Nothing here prints;
:func:`render` turns the result into a short bug report and the ``triage`` command (plugins/triage.py)
prints it or its JSON.

The decisions are small pure functions over plain data, so they can be tested without a dump:

- :func:`classify` — the crash class, from the panic task's frames (the kernel's state) first and the log
  second; a class is never decided from one log string when the stack says otherwise;
- :func:`culprit_index` — the first frame that is not the kernel's crash or report machinery
  (:data:`MACHINERY`, :data:`MACHINERY_PREFIXES`; for a task blocked in the kernel also the wait machinery,
  :data:`WAIT_MACHINERY`);
- :func:`signature` — a stable hash of the class and the culprit (module and function, no address);
- :func:`group_stacks` — tasks folded by identical stacks (function names only), largest group first;
- :func:`parse_reports` — BUG, WARN, Oops, KASAN, KFENCE, lockup, hung-task, OOM and panic reports of the
  log, as fields.

The JSON schema (the keys of :func:`triage`'s result) is documented in docs/triage.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crashcompat.core.elf import ElfError
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import modules as _modules
from crashcompat.core.kernel import printk as _printk
from crashcompat.core.kernel import symbols as _symbols
from crashcompat.core.kernel import system as _system
from crashcompat.core.kernel import tasks as _tasks
from crashcompat.core.kernel import unwind as _unwind
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "CLASSES",
    "MACHINERY",
    "MACHINERY_PREFIXES",
    "TAINT_MEANINGS",
    "TOP_LEVEL_KEYS",
    "WAIT_MACHINERY",
    "Report",
    "StackGroup",
    "TraceFrame",
    "classify",
    "culprit_index",
    "frame_function",
    "group_stacks",
    "is_machinery",
    "parse_reports",
    "render",
    "signature",
    "trace_frames",
    "triage",
]

#: Every class :func:`classify` answers.
CLASSES = (
    "oops", "bug", "soft-lockup", "hard-lockup", "hung-task", "rcu-stall", "sysrq", "panic", "oom", "warn",
    "kasan", "kfence", "mce", "unknown",
)  # fmt: skip

#: The keys of :func:`triage`'s result, in order (docs/triage.md).
TOP_LEVEL_KEYS = (
    "class", "task", "culprit", "panic_message", "taint", "release", "uptime", "panic_sysctls",
    "backtrace", "blocked", "stack_groups", "reports", "signature",
)  # fmt: skip

#: The kernel's crash and report machinery: functions a culprit is never (kernel/panic.c, kernel/kexec*.c,
#: arch/x86/kernel/dumpstack.c and traps.c, arch/x86/mm/fault.c, lib/bug.c, kernel/watchdog*.c,
#: kernel/hung_task.c, kernel/rcu/tree_stall.h, mm/oom_kill.c and the page allocator's slow path,
#: mm/kasan/report.c, mm/kfence/report.c, arch/x86/kernel/cpu/mce/core.c, drivers/tty/sysrq.c, the
#: timer-interrupt path that runs the watchdogs, NMI handling).
MACHINERY = frozenset((
    # panic and kdump
    "panic", "vpanic", "nmi_panic", "nmi_panic_self_stop", "panic_smp_self_stop", "__crash_kexec",
    "crash_kexec", "machine_kexec", "crash_setup_regs", "native_machine_crash_shutdown",
    "machine_crash_shutdown", "crash_save_cpu", "kdump_nmi_shootdown_cpus", "crash_nmi_callback",
    "dump_stack", "dump_stack_lvl", "show_stack", "show_regs", "show_trace_log_lvl", "__show_regs",
    # oops, die, traps
    "oops_begin", "oops_end", "__die", "__die_body", "die", "die_addr", "do_trap", "do_error_trap",
    "do_int3", "do_int3_user", "handle_invalid_op", "math_error", "fixup_exception",
    "do_general_protection", "invalid_op", "general_protection", "page_fault",
    # page faults
    "page_fault_oops", "no_context", "kernelmode_fixup_or_oops", "__bad_area_nosemaphore",
    "bad_area_nosemaphore", "bad_area", "bad_area_access_error", "do_user_addr_fault",
    "do_kern_addr_fault", "handle_page_fault", "spurious_kernel_fault", "__do_page_fault",
    "do_page_fault", "async_page_fault",
    # BUG() and WARN()
    "handle_bug", "report_bug", "__report_bug", "report_bug_entry", "__warn", "warn_slowpath_fmt",
    "warn_slowpath_null", "warn_slowpath_common", "__warn_printk", "check_panic_on_warn",
    # watchdogs: soft and hard lockups, hung tasks, RCU stalls
    "watchdog_timer_fn", "watchdog_overflow_callback", "watchdog_hardlockup_check",
    "watchdog_check_hardlockup", "watchdog_buddy_check_hardlockup", "watchdog_hardlockup_touch_cpu",
    "check_hung_uninterruptible_tasks", "check_hung_task", "watchdog", "hung_task_panic",
    "rcu_sched_clock_irq", "print_cpu_stall", "print_other_cpu_stall", "check_cpu_stall",
    "rcu_pending", "rcu_check_callbacks", "rcu_stall_kick_kthreads", "panic_on_rcu_stall",
    "update_process_times", "tick_sched_handle", "tick_sched_timer", "tick_nohz_handler",
    "tick_nohz_highres_handler", "hrtimer_run_queues", "irq_exit_rcu", "__irq_exit_rcu",
    "__hrtimer_run_queues", "hrtimer_interrupt", "__run_hrtimer", "local_apic_timer_interrupt",
    "smp_apic_timer_interrupt", "apic_timer_interrupt",
    # NMI
    "nmi_handle", "default_do_nmi", "do_nmi", "nmi", "end_repeat_nmi", "repeat_nmi",
    "nmi_cpu_backtrace", "nmi_cpu_backtrace_handler", "nmi_raise_cpu_backtrace", "smp_stop_nmi_callback",
    "stop_this_cpu", "native_stop_other_cpus",
    "perf_event_nmi_handler", "__perf_event_overflow", "perf_event_overflow", "handle_pmi_common",
    "intel_pmu_handle_irq", "x86_pmu_handle_irq", "amd_pmu_handle_irq",
    # out of memory
    "out_of_memory", "check_panic_on_oom", "oom_kill_process", "dump_header",
    "__alloc_pages_may_oom", "__alloc_pages_slowpath", "__alloc_pages", "__alloc_pages_nodemask",
    "__alloc_pages_noprof", "alloc_pages", "alloc_pages_noprof", "alloc_pages_vma", "alloc_pages_mpol",
    "alloc_pages_mpol_noprof", "__folio_alloc", "folio_alloc", "__folio_alloc_noprof",
    "folio_alloc_noprof", "vma_alloc_folio", "vma_alloc_folio_noprof", "pagefault_out_of_memory",
    "mem_cgroup_out_of_memory", "__alloc_frozen_pages_noprof", "alloc_frozen_pages_noprof",
    "__alloc_pages_direct_compact", "__alloc_pages_direct_reclaim", "__perform_reclaim",
    "get_page_from_freelist", "try_to_free_pages",
    # KASAN, KFENCE, machine checks
    "kasan_report", "__kasan_report", "kasan_report_invalid_free", "kasan_report_double_free",
    "print_report", "print_address_description", "kasan_check_range", "check_region_inline",
    "start_report", "end_report", "complete_report_info", "print_error_description",
    "kfence_report_error", "kfence_handle_page_fault", "kfence_guarded_free",
    "do_machine_check", "mce_panic", "mce_timed_out", "machine_check_poll", "mce_end",
    # sysrq (sysrq_handle_crash itself is the culprit of a sysrq crash)
    "__handle_sysrq", "handle_sysrq", "write_sysrq_trigger", "sysrq_handle_keypress", "sysrq_filter",
))  # fmt: skip

#: Name prefixes of the machinery: exception and interrupt entry points, KASAN's checks.
MACHINERY_PREFIXES = (
    "asm_exc_", "exc_", "asm_sysvec_", "sysvec_", "__sysvec_", "__asan_", "kasan_", "__kasan_",
    "asm_call_",  # 5.x's switch to the IRQ stack: asm_call_sysvec_on_stack, asm_call_irq_on_stack
    "kfence_report", "mce_",
)  # fmt: skip

#: The wait machinery: where a blocked task sleeps (kernel/sched/core.c, kernel/locking/, kernel/time/,
#: kernel/sched/completion.c, kernel/sched/wait*.c).  The culprit of a hung task is the first frame past it.
WAIT_MACHINERY = frozenset((
    "__schedule", "schedule", "schedule_preempt_disabled", "schedule_timeout", "io_schedule",
    "io_schedule_timeout", "schedule_hrtimeout_range", "schedule_hrtimeout_range_clock",
    "__mutex_lock", "__mutex_lock_slowpath", "__mutex_lock_killable_slowpath",
    "__mutex_lock_interruptible_slowpath", "mutex_lock", "mutex_lock_killable", "mutex_lock_interruptible",
    "mutex_lock_nested", "rwsem_down_read_slowpath", "rwsem_down_write_slowpath", "down_read",
    "down_write", "down_read_killable", "down_write_killable", "__down", "__down_common",
    "__down_interruptible", "__down_killable", "__down_timeout", "down", "down_interruptible",
    "down_killable", "down_timeout", "wait_for_completion", "wait_for_completion_io",
    "wait_for_completion_timeout", "wait_for_completion_killable", "wait_for_completion_interruptible",
    "__wait_for_common", "wait_for_common", "wait_for_common_io", "do_wait_for_common",
    "bit_wait", "bit_wait_io", "__wait_on_bit", "out_of_line_wait_on_bit", "__wait_on_bit_lock",
    "out_of_line_wait_on_bit_lock", "folio_wait_bit_common", "wait_on_page_bit_common", "msleep",
    "usleep_range", "usleep_range_state", "rt_mutex_slowlock", "rt_mutex_slowlock_block",
    "__rt_mutex_slowlock", "percpu_rwsem_wait", "__percpu_down_read",
))  # fmt: skip

#: What each taint bit means (include/linux/panic.h, Documentation/admin-guide/tainted-kernels.rst).
TAINT_MEANINGS = {
    0: "proprietary module loaded",
    1: "module force loaded",
    2: "kernel running on an out of specification system",
    3: "module force unloaded",
    4: "processor reported a machine check exception",
    5: "bad page referenced or unexpected page flags",
    6: "taint requested by userspace",
    7: "kernel died recently (oops or BUG)",
    8: "ACPI table overridden by user",
    9: "kernel issued a warning",
    10: "staging driver loaded",
    11: "workaround for a platform firmware bug applied",
    12: "externally built (out-of-tree) module loaded",
    13: "unsigned module loaded",
    14: "soft lockup occurred",
    15: "kernel live patched",
    16: "auxiliary taint (distribution-defined)",
    17: "kernel built with the struct randomization plugin",
    18: "an in-kernel test has been run",
    19: "Rust code loaded",
}


# ---- frames -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceFrame:
    """One function of a back trace, for triage: a ``bt`` frame, or the function an exception frame or a
    CPU's register note interrupted (*exception*).

    :param function: the symbol's name as ``bt`` prints it; :param offset: ``pc`` less the symbol's value;
    :param module: the module's name, ``None`` for vmlinux; :param pc: the return address (or the
        interrupted instruction when *exception*).
    """

    function: str
    offset: int
    module: str | None
    pc: int
    exception: bool = False


def frame_function(name: str) -> str:
    """*name* without the compiler's clone suffixes (``.isra.0``, ``.constprop.0``, ``.cold``, ``.part.0``):
    the function as its source names it, for grouping and signatures."""
    return name.split(".", 1)[0] if not name.startswith(".") else name


def is_machinery(name: str, *, waiting: bool = False) -> bool:
    """Whether *name* (a function) is the kernel's crash or report machinery (or, with *waiting*, the wait
    machinery too)."""
    base = frame_function(name)
    if base in MACHINERY or base.startswith(MACHINERY_PREFIXES):
        return True
    return waiting and base in WAIT_MACHINERY


def trace_frames(trace: _unwind.Backtrace) -> list[TraceFrame]:
    """The functions of a crash ``bt`` trace (:func:`crashcompat.core.kernel.unwind.backtrace`), innermost
    first: each :class:`~crashcompat.core.kernel.unwind.Frame`, and the kernel-mode function each exception
    frame or register note interrupted (placed where ``bt`` prints it)."""
    out: list[TraceFrame] = []
    for event in trace.events:
        if isinstance(event, _unwind.Frame):
            out.append(TraceFrame(event.name, event.pc - event.symbol.address, event.module, event.pc))
        elif isinstance(event, _unwind.ExceptionFrame | _unwind.NoteRegisters):
            sym = event.rip_symbol
            kernel_mode = (
                event.kernel_mode if isinstance(event, _unwind.ExceptionFrame) else event.header == "kernel"
            )
            if kernel_mode and sym is not None:
                rip = event.regs["rip"]
                out.append(TraceFrame(sym.name, rip - sym.address, sym.module, rip, exception=True))
    return out


def source_function(name: str) -> str:
    """The source function of a symbol the compiler split or cloned: ``foo`` for ``foo.cold``,
    ``foo.isra.0``, ``foo.constprop.0``, ``foo.part.0``."""
    return name.split(".", 1)[0] if "." in name and not name.startswith(".") else name


def culprit_index(functions: Sequence[str], *, waiting: bool = False) -> int | None:
    """The index of the first of *functions* (innermost first) that is not machinery (see
    :func:`is_machinery`), or ``None`` when every one is."""
    for i, name in enumerate(functions):
        if not is_machinery(name, waiting=waiting):
            return i
    return None


# ---- the class --------------------------------------------------------------------------------------------

#: Class → functions whose presence on the panic task's stack decides it, in priority order.
_STACK_EVIDENCE: tuple[tuple[str, frozenset[str]], ...] = (
    ("sysrq", frozenset(("sysrq_handle_crash",))),
    ("kasan", frozenset(("kasan_report", "__kasan_report", "kasan_report_invalid_free"))),
    ("kfence", frozenset(("kfence_report_error", "kfence_handle_page_fault"))),
    ("mce", frozenset(("do_machine_check", "mce_panic", "exc_machine_check", "asm_exc_machine_check"))),
    ("hard-lockup", frozenset(("watchdog_overflow_callback", "watchdog_hardlockup_check"))),
    ("soft-lockup", frozenset(("watchdog_timer_fn",))),
    ("rcu-stall", frozenset(("print_cpu_stall", "print_other_cpu_stall", "panic_on_rcu_stall"))),
    ("hung-task", frozenset(("check_hung_uninterruptible_tasks", "hung_task_panic"))),
    ("oom", frozenset(("out_of_memory", "check_panic_on_oom", "pagefault_out_of_memory"))),
    ("warn", frozenset(("__warn", "check_panic_on_warn", "warn_slowpath_fmt"))),
)

#: Class → log patterns that decide it when the stack does not, in priority order.
_LOG_EVIDENCE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sysrq", re.compile(r"SysRq : Trigger a crash|sysrq: Trigger a crash|sysrq triggered crash")),
    ("kasan", re.compile(r"BUG: KASAN: ")),
    ("kfence", re.compile(r"BUG: KFENCE: ")),
    ("mce", re.compile(r"Machine check|\[Hardware Error\]: ")),
    ("hard-lockup", re.compile(r"Watchdog detected hard LOCKUP|hard LOCKUP")),
    ("soft-lockup", re.compile(r"BUG: soft lockup - CPU#")),
    ("rcu-stall", re.compile(r"rcu: INFO: \S+ (?:self-)?detected stalls?|detected stalls on CPUs|RCU Stall")),
    ("hung-task", re.compile(r"INFO: task .*:\d+ blocked for more than|hung_task: blocked tasks")),
    ("oom", re.compile(r"Out of memory|System is deadlocked on memory|panic_on_oom")),
    ("warn", re.compile(r"panic_on_warn set|^WARNING: CPU: \d+ PID: \d+ at ")),
    ("bug", re.compile(r"kernel BUG at |Kernel BUG at ")),
    (
        "oops",
        re.compile(
            r"BUG: kernel NULL pointer dereference|BUG: unable to handle (?:kernel|page fault)|^Oops: "
            r"|general protection fault|Unable to handle kernel"
        ),
    ),
    ("panic", re.compile(r"Kernel panic - not syncing: ")),
)

#: Stack functions of an oops or BUG (the die path); which one it is then comes from the log.
_DIE_FUNCTIONS = frozenset((
    "oops_end", "die", "__die", "die_addr", "page_fault_oops", "no_context", "kernelmode_fixup_or_oops",
    "do_trap", "do_error_trap", "handle_bug", "exc_general_protection", "exc_invalid_op",
    "asm_exc_invalid_op", "asm_exc_general_protection",
))  # fmt: skip


def classify(functions: Sequence[str], log: Iterable[str]) -> str:
    """The crash class (one of :data:`CLASSES`) of a panic task whose stack holds *functions* (innermost
    first) with kernel log *log* (message lines).

    The stack speaks first: ``sysrq_handle_crash`` → sysrq, ``kasan_report`` → kasan, the watchdogs'
    timer or NMI callbacks → soft or hard lockup, the RCU stall printer → rcu-stall, the hung-task checker
    → hung-task, ``out_of_memory`` → oom, ``__warn`` → warn.  A die path (``oops_end``, ``die``,
    ``page_fault_oops``, ``handle_bug`` …) is a BUG when the log has ``kernel BUG at`` and an oops
    otherwise.  A stack through ``panic()`` with none of those is a direct panic.  Without such
    evidence (no panic task, an unreadable stack) the log decides, its most specific report first."""
    names = {frame_function(f) for f in functions}
    lines = list(log)
    for cls, markers in _STACK_EVIDENCE:
        if names & markers:
            return cls
    if names & _DIE_FUNCTIONS:
        if any(_LOG_BUG.search(line) for line in lines):
            return "bug"
        return "oops"
    if names & {"panic", "vpanic"}:
        # panic() called directly: by the code that crashed, or by a checker whose own frame the compiler
        # folded into its caller — then the reason panic() was given names it
        return _panic_reason(lines) or "panic"
    return _log_class(lines) or "unknown"


_LOG_BUG = re.compile(r"kernel BUG at |Kernel BUG at ")


#: The reasons the kernel's checkers give panic() ("Kernel panic - not syncing: REASON"), by class.
_PANIC_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sysrq", re.compile(r"sysrq triggered crash")),
    ("kasan", re.compile(r"^KASAN: panic_on_warn set", re.I)),
    ("kfence", re.compile(r"^KFENCE: panic_on_warn set", re.I)),
    ("hard-lockup", re.compile(r"[Hh]ard LOCKUP|hardlockup: ")),
    ("soft-lockup", re.compile(r"softlockup: hung tasks")),
    ("rcu-stall", re.compile(r"RCU Stall")),
    ("hung-task", re.compile(r"hung_task: blocked tasks")),
    ("oom", re.compile(r"Out of memory|System is deadlocked on memory|panic_on_oom")),
    ("warn", re.compile(r"panic_on_warn set")),
    ("mce", re.compile(r"[Mm]achine check")),
)
_PANIC_LINE = re.compile(r"Kernel panic - not syncing: (?P<reason>.*)")


def _panic_reason(lines: Sequence[str]) -> str | None:
    """The class the last panic message's reason names, if any."""
    reasons = [m["reason"] for line in lines if (m := _PANIC_LINE.search(line))]
    if not reasons:
        return None
    for cls, pattern in _PANIC_REASONS:
        if pattern.search(reasons[-1]):
            return cls
    return None


def _log_class(lines: Sequence[str]) -> str | None:
    for cls, pattern in _LOG_EVIDENCE:
        if any(pattern.search(line) for line in lines):
            return cls
    return None


# ---- signature and stack groups ---------------------------------------------------------------------------


def signature(cls: str, function: str | None, module: str | None) -> str:
    """A stable 16-hex-digit hash of the class and the culprit: its module (``vmlinux`` for the kernel
    itself) and its function without clone suffixes.  No address, offset, pid or release goes in, so dumps
    of the same bug on different boots, machines or kernel builds share it."""
    text = f"{cls}|{module or 'vmlinux'}|{frame_function(function) if function else '?'}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StackGroup:
    """Tasks whose stacks hold the same functions (innermost first)."""

    functions: tuple[str, ...]
    tasks: tuple[tuple[int, str], ...]  # (pid, comm)

    @property
    def count(self) -> int:
        return len(self.tasks)


def group_stacks(stacks: Iterable[tuple[int, str, Sequence[str]]]) -> list[StackGroup]:
    """*stacks* — ``(pid, comm, functions)`` of each task — folded by identical function lists (clone
    suffixes dropped), largest group first, then by the first pid.  The counts add up to the tasks given."""
    groups: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for pid, comm, functions in stacks:
        key = tuple(frame_function(f) for f in functions)
        groups.setdefault(key, []).append((pid, comm))
    out = [StackGroup(key, tuple(members)) for key, members in groups.items()]
    out.sort(key=lambda g: (-g.count, min(pid for pid, _ in g.tasks), g.functions))
    return out


# ---- log reports ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One report of the kernel log: its *kind* (``bug``, ``warn``, ``oops``, ``kasan``, ``kfence``,
    ``soft-lockup``, ``hard-lockup``, ``hung-task``, ``rcu-stall``, ``oom``, ``mce``, ``panic``), its
    headline, the time of the headline's record (seconds since boot) and the fields found in its lines."""

    kind: str
    title: str
    time: float
    fields: dict[str, Any]


_HEADLINES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("kasan", re.compile(r"BUG: KASAN: (?P<bug_type>[\w-]+) in (?P<where>\S+)")),
    ("kfence", re.compile(r"BUG: KFENCE: (?P<bug_type>[\w -]+?) in (?P<where>\S+)")),
    ("soft-lockup", re.compile(r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s! \[(?P<comm>.*):(?P<pid>\d+)\]")),
    ("hard-lockup", re.compile(r"Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)")),
    ("hung-task", re.compile(r"INFO: task (?P<comm>.*):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds")),
    ("rcu-stall", re.compile(r"rcu: INFO: (?P<flavour>\S+) (?:self-)?detected stalls? on CPUs?")),
    ("bug", re.compile(r"[Kk]ernel BUG at (?P<file>[^:]+):(?P<line>\d+)!")),
    ("oops", re.compile(r"BUG: kernel NULL pointer dereference, address: (?P<address>[0-9a-fx]+)")),
    ("oops", re.compile(r"BUG: unable to handle (?:page fault|kernel paging request) (?:for|at) address: (?P<address>[0-9a-fx]+)")),
    ("oops", re.compile(r"general protection fault(?:, (?P<detail>.*))?:")),
    ("warn", re.compile(r"WARNING: CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at (?P<file>[^:\s]+):(?P<line>\d+) (?P<where>\S+)(?: \[(?P<module>\w+)\])?")),
    ("oom", re.compile(r"Out of memory: Kill(?:ed)? process (?P<pid>\d+) \((?P<comm>[^)]*)\)")),
    ("oom", re.compile(r"(?P<comm>.*) invoked oom-killer: ")),
    ("mce", re.compile(r"\[Hardware Error\]: (?P<detail>.*)")),
    ("panic", re.compile(r"Kernel panic - not syncing: (?P<reason>.*)")),
)  # fmt: skip

_CPU_LINE = re.compile(r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>\S+) (?P<taint>.*)")
#: A kernel-mode RIP (CS 0010) at a symbol; a user-mode "RIP: 0033:0x43ac50" is no culprit.
_RIP_LINE = re.compile(
    r"RIP: 0010:(?P<where>[A-Za-z_][\w.]*\+0x[0-9a-f]+/0x[0-9a-f]+)(?: \[(?P<module>\w+)\])?"
)
_ACCESS_LINE = re.compile(
    r"(?P<access>Read|Write) of size (?P<size>\d+) at addr (?P<address>[0-9a-f]+) by task (?P<comm>.*)/(?P<pid>\d+)"
)
_OOPS_LINE = re.compile(r"^Oops: (?P<oops>.*)")
_TRACE_LINE = re.compile(r"^\s*(?P<where>[\w.]+\+0x[0-9a-f]+/0x[0-9a-f]+)(?: \[(?P<module>\w+)\])?")


def _split_where(where: str) -> dict[str, Any]:
    """``func+0x5/0x10`` → function and offset."""
    m = re.fullmatch(r"(?P<function>[\w.]+)\+0x(?P<offset>[0-9a-f]+)(?:/0x[0-9a-f]+)?", where)
    if m is None:
        return {"function": where}
    return {"function": m["function"], "offset": int(m["offset"], 16)}


def parse_reports(lines: Iterable[tuple[float, str]]) -> list[Report]:
    """The reports in a kernel log given as ``(seconds since boot, message line)``: each headline
    (:data:`_HEADLINES`) opens a report, and the lines up to the next headline add the fields they carry
    (``CPU: … PID: … Comm:``, ``RIP:``, KASAN's access line, the first functions of the call trace)."""
    reports: list[Report] = []
    current: Report | None = None
    for time, raw in lines:
        line = raw.strip()
        if line.startswith("---[ end "):
            continue
        for kind, pattern in _HEADLINES:
            m = pattern.search(line)
            if m is None:
                continue
            fields: dict[str, Any] = {k: v for k, v in m.groupdict().items() if v is not None}
            for key in ("cpu", "pid", "line", "seconds"):
                if key in fields:
                    fields[key] = int(fields[key])
            if "where" in fields:
                fields.update(_split_where(fields.pop("where")))
            # an oops headline followed by its "Oops:" line, or a panic inside the report it ends, stays one
            if (
                current is not None
                and kind == "panic"
                and current.kind != "panic"
                and "reason" not in current.fields
            ):
                current.fields["panic"] = fields.get("reason", "")
                break
            current = Report(kind, line, time, fields)
            reports.append(current)
            break
        else:
            if current is None:
                continue
            fields = current.fields
            if (m := _CPU_LINE.search(line)) and "comm" not in fields:
                fields.update(cpu=int(m["cpu"]), pid=int(m["pid"]), comm=m["comm"])
            elif (m := _RIP_LINE.search(line)) and "rip" not in fields:
                fields["rip"] = _split_where(m["where"]) | {"module": m["module"]}
            elif m := _ACCESS_LINE.search(line):
                fields.update(
                    access=m["access"].lower(),
                    size=int(m["size"]),
                    address=m["address"],
                    comm=m["comm"],
                    pid=int(m["pid"]),
                )
            elif (m := _OOPS_LINE.search(line)) and "oops" not in fields:
                fields["oops"] = m["oops"]
            elif (m := _TRACE_LINE.search(raw)) and not raw.lstrip().startswith("?"):
                trace = fields.setdefault("call_trace", [])
                if len(trace) < 8:
                    trace.append(_split_where(m["where"]) | {"module": m["module"]})
    return reports


def _log_lines(kernel: Kernel) -> list[tuple[float, str]]:
    """The log as ``(seconds since boot, line)``; a record of several lines gives each its time."""
    out: list[tuple[float, str]] = []
    for rec in _printk.records(kernel):
        if rec.text is None:
            continue
        text = rec.text.decode("utf-8", "replace")
        out += [(rec.ts_nsec / 1e9, line) for line in text.split("\n")]
    return out


# ---- the kernel's state -----------------------------------------------------------------------------------


def _frame_dict(kernel: Kernel, frame: TraceFrame, *, lines: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "function": frame.function,
        "offset": frame.offset,
        "module": frame.module,
        "address": f"{frame.pc:x}",
        "exception": frame.exception,
    }
    if lines:
        out.update(_source(kernel, frame))
    return out


def _source(kernel: Kernel, frame: TraceFrame) -> dict[str, Any]:
    """``file``/``line`` of *frame*'s call (a return address less one) or faulting instruction."""
    try:
        found = kernel.target.source_line(frame.pc if frame.exception else frame.pc - 1)
    except TargetError:
        found = None
    return {"file": found.filename if found else None, "line": found.line if found else None}


def _load_module_debuginfo(kernel: Kernel, name: str, search: Sequence[str]) -> None:
    """Give module *name*'s object file to the backend and the symbol table, as ``mod -s`` does, when it is
    found (:func:`crashcompat.core.kernel.modules.find_object`, *search* directories added) and built from
    the loaded code; nothing otherwise."""
    if _symbols.loaded_module_object(kernel, name) is not None:
        return
    module = _modules.find_module(kernel, name)
    if module is None:
        return
    tried: set[str] = set()
    for filename in (None, f"{name}.ko", f"{name}.ko.debug"):  # a stray .o may be older than the .ko
        path = _modules.find_object(kernel, name, filename, extra=search)
        if path is None or path in tried:
            continue
        tried.add(path)
        try:
            if not _modules.object_matches(kernel, module, path):
                continue
            kernel.target.load_module_debuginfo(name, path, _modules.sections(kernel, module))
            _symbols.load_module_object(kernel, name, path)
        except (TargetError, ElfError, OSError):
            continue
        return


def _task_info(kernel: Kernel, address: int | None) -> dict[str, Any] | None:
    """pid, comm, CPU and address of the task at *address* (``struct task_struct *``), ``None`` when
    unreadable."""
    if address is None:
        return None
    try:
        task = _tasks.read_task(kernel, address)
    except (FaultError, TargetError):
        return None
    return {"pid": task.pid, "comm": task.comm, "cpu": task.cpu, "address": f"{task.address:x}"}


def _frames_of(kernel: Kernel, address: int) -> list[TraceFrame]:
    """:func:`trace_frames` of crash's ``bt`` of *address* (``struct task_struct *``); empty when the
    task's stack cannot be read."""
    try:
        return trace_frames(_unwind.backtrace(kernel, address))
    except (FaultError, TargetError):
        return []


def _mutex_owner(kernel: Kernel, task: int) -> dict[str, Any] | None:
    """The owner of the mutex *task* (``struct task_struct *``) waits for, when the kernel records it:
    ``task->blocker_mutex`` (6.14, CONFIG_DETECT_HUNG_TASK_BLOCKER) or ``task->blocker`` with the mutex
    type (6.16: the low two bits give the type, 0 for a mutex)."""
    try:
        if kernel.has_member("struct task_struct", "blocker_mutex"):
            lock = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "blocker_mutex"))
        elif kernel.has_member("struct task_struct", "blocker"):
            blocker = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "blocker"))
            lock = blocker & ~3 if blocker & 3 == 0 else 0
        else:
            return None
        if not lock:
            return None
        owner = kernel.read_pointer(lock + kernel.offsetof("struct mutex", "owner")) & ~7
    except (FaultError, TargetError, TypeNotFound):
        return None
    found = _task_info(kernel, owner) if owner else None
    return {"lock": "mutex", "address": f"{lock:x}", "owner": found, "source": "kernel"}


#: hung_task's report of the lock a blocked task waits for (Linux 6.16 and later).
_BLOCKED_ON = re.compile(
    r"INFO: task (?P<comm>.+?):(?P<pid>\d+)(?: <\w+>)? (?:is )?blocked on an? (?P<lock>[\w -]+?) likely owned "
    r"by task (?P<owner_comm>.+?):(?P<owner_pid>\d+)"
)


def _owners_from_log(kernel: Kernel, lines: Sequence[str]) -> dict[int, dict[str, Any]]:
    """pid → the ``mutex`` entry of :func:`triage`'s ``blocked`` from hung_task's "is blocked on a mutex
    likely owned by task" lines."""
    out: dict[int, dict[str, Any]] = {}
    for line in lines:
        m = _BLOCKED_ON.search(line)
        if m is None:
            continue
        owner = _by_pid(kernel, int(m["owner_pid"]))
        info = _task_info(kernel, owner) if owner is not None else None
        out[int(m["pid"])] = {
            "lock": m["lock"],
            "address": None,
            "owner": info
            or {"pid": int(m["owner_pid"]), "comm": m["owner_comm"], "cpu": None, "address": None},
            "source": "log",
        }
    return out


def _taint(kernel: Kernel) -> dict[str, Any]:
    try:
        mask = _system.tainted_mask(kernel)
        flags = _system.taint_flags(kernel)
    except (FaultError, SymbolNotFound, TargetError, TypeNotFound):
        return {"mask": 0, "letters": "", "flags": []}
    set_flags = [f for f in flags if mask >> f.bit & 1]
    return {
        "mask": mask,
        "letters": "".join(f.c_true for f in set_flags),
        "flags": [
            {"bit": f.bit, "letter": f.c_true, "meaning": TAINT_MEANINGS.get(f.bit, "")} for f in set_flags
        ],
    }


def _panic_sysctls(kernel: Kernel) -> dict[str, Any]:
    policy = _system.panic_policy(kernel)
    return {
        "kernel.panic": policy.panic_timeout,
        "kernel.panic_on_oops": policy.panic_on_oops,
        "kernel.panic_on_warn": policy.panic_on_warn,
        "kernel.softlockup_panic": policy.softlockup_panic,
        "kernel.hardlockup_panic": policy.hardlockup_panic,
        "kernel.hung_task_timeout_secs": policy.hung_task_timeout_secs,
        "kernel.hung_task_panic": policy.hung_task_panic,
        "vm.panic_on_oom": policy.panic_on_oom,
        "kernel.panic_on_rcu_stall": policy.panic_on_rcu_stall,
        "crash_kernel_loaded": policy.crash_kernel_loaded,
    }


def _by_pid(kernel: Kernel, pid: int) -> int | None:
    """The ``struct task_struct *`` of *pid* in crash's task table, ``None`` when none or unreadable."""
    try:
        task = _tasks.task_by_pid(kernel, pid)
    except (FaultError, TargetError):
        return None
    return task.address if task is not None else None


def _culprit_from_log(reports: Sequence[Report]) -> dict[str, Any] | None:
    """The culprit as the log's last report names it: its ``RIP:`` function, else the first function of
    its call trace that is not machinery."""
    for report in reversed(reports):
        candidates = [report.fields["rip"]] if "rip" in report.fields else []
        candidates += report.fields.get("call_trace", [])
        index = culprit_index([c["function"] for c in candidates])
        if index is not None:
            found = candidates[index]
            return {
                "function": found["function"],
                "offset": found.get("offset", 0),
                "module": found.get("module"),
                "address": None,
                "file": None,
                "line": None,
                "source": "log",
            }
    return None


def _task_from_log(kernel: Kernel, reports: Sequence[Report]) -> dict[str, Any] | None:
    """The task the log's last report names (``CPU: … PID: … Comm:``), from the task table when it has it."""
    for report in reversed(reports):
        if "pid" in report.fields and "comm" in report.fields:
            pid = report.fields["pid"]
            found = _task_info(kernel, _by_pid(kernel, pid))
            if found is not None and found["comm"] == report.fields["comm"]:
                return found
            return {
                "pid": pid,
                "comm": report.fields["comm"],
                "cpu": report.fields.get("cpu"),
                "address": None,
            }
    return None


#: A stalled CPU in an RCU stall report: "rcu: \t0-...0: (1 GPs behind) idle=…".
_STALLED_CPU = re.compile(r"^(?:rcu: )?\s+(?P<cpu>\d+)-\S*: \(")


def _stalled_cpus(lines: Sequence[str]) -> list[int]:
    """The CPUs the last RCU stall report lists as stalled, in its order."""
    start = max((i for i, line in enumerate(lines) if "detected stall" in line), default=None)
    if start is None:
        return []
    return [int(m["cpu"]) for line in lines[start + 1 :] if (m := _STALLED_CPU.search(line))]


def _all_tasks(kernel: Kernel) -> list[_tasks.Task]:
    """crash's task table, or none when it cannot be read (a damaged dump): triage goes on without it."""
    try:
        return list(_tasks.for_each_task(kernel))
    except (FaultError, TargetError):
        return []


def _active(kernel: Kernel) -> dict[int, int]:
    """Each CPU's running ``struct task_struct *`` (crash's active set), empty when unreadable."""
    try:
        return dict(_tasks.active_tasks(kernel))
    except (FaultError, TargetError):
        return {}


def triage(kernel: Kernel, *, module_search: Sequence[str] = ()) -> dict[str, Any]:
    """The triage of a dump: a dict with exactly :data:`TOP_LEVEL_KEYS` (docs/triage.md).

    The module of the culprit gets its debug information loaded (as ``mod -s`` would) when its object
    file is found under the usual places or *module_search*, so the culprit has a source line.
    """
    try:
        log = _log_lines(kernel)
    except (_printk.LogError, TargetError):
        log = []
    text = [line for _, line in log]
    reports = parse_reports(log)

    try:
        panic_task = _tasks.panic_task(kernel)
    except (FaultError, TargetError):
        panic_task = None
    panic_frames = _frames_of(kernel, panic_task) if panic_task is not None else []
    cls = classify([f.function for f in panic_frames], text)

    # the task the crash is about: the panic task, but the stuck task of a soft lockup and the first
    # hung task of a hung-task panic
    task_address, waiting = panic_task, False
    pid_report = {"soft-lockup": "soft-lockup", "hung-task": "hung-task"}.get(cls)
    if pid_report is not None:
        named = next((r for r in reports if r.kind == pid_report and "pid" in r.fields), None)
        if named is not None:
            found = _by_pid(kernel, named.fields["pid"])
            if found is None and "cpu" in named.fields:  # a soft lockup names its CPU too
                found = _active(kernel).get(named.fields["cpu"])
            if found is not None:
                task_address, waiting = found, cls == "hung-task"
    if cls == "rcu-stall":  # another CPU may have detected the stall: the stalled CPU's task is the one
        stalled = _stalled_cpus(text)
        active = _active(kernel)
        if stalled and active.get(stalled[0]) not in (None, panic_task):
            task_address = active[stalled[0]]
    frames = panic_frames if task_address == panic_task else _frames_of(kernel, task_address or 0)

    index = culprit_index([f.function for f in frames], waiting=waiting)
    culprit: dict[str, Any] | None = None
    if index is not None:
        chosen = frames[index]
        if chosen.module is not None:
            _load_module_debuginfo(kernel, chosen.module, module_search)
        culprit = _frame_dict(kernel, chosen, lines=True)
        del culprit["exception"]
        culprit["source"] = "stack"
        # a compiler's out-of-line part (foo.cold, foo.isra.0, foo.part.0) is its source function's
        culprit["function"] = source_function(culprit["function"])
    task_info = _task_info(kernel, task_address)
    if not frames:  # no trace (no panic task, unreadable pages): the log's own report says what it saw
        culprit = culprit or _culprit_from_log(reports)
        task_info = task_info or _task_from_log(kernel, reports)

    # every task's stack, once
    stacks: list[tuple[int, str, Sequence[str]]] = []
    blocked: list[dict[str, Any]] = []
    owners_from_log = _owners_from_log(kernel, text)
    by_task: dict[int, list[TraceFrame]] = {}
    for task in _all_tasks(kernel):
        task_frames = by_task[task.address] = (
            frames if task.address == task_address else _frames_of(kernel, task.address)
        )
        names = [f.function for f in task_frames]
        stacks.append((task.pid, task.comm, names))
        if task.state == "UN":
            entry: dict[str, Any] = {"pid": task.pid, "comm": task.comm, "cpu": task.cpu, "stack": names}
            entry["mutex"] = _mutex_owner(kernel, task.address) or owners_from_log.get(task.pid)
            blocked.append(entry)
    groups = group_stacks(stacks)

    cpus: list[dict[str, Any]] = []
    if cls in ("soft-lockup", "hard-lockup", "rcu-stall"):
        for cpu, address in sorted(_active(kernel).items()):
            info = _task_info(kernel, address) or {}
            cpu_frames = by_task.get(address) or _frames_of(kernel, address)
            cpus.append(
                {
                    "cpu": cpu,
                    "pid": info.get("pid"),
                    "comm": info.get("comm"),
                    "stack": [f.function for f in cpu_frames],
                }
            )

    try:
        release = _system.utsname(kernel).release
    except (FaultError, TargetError):
        release = kernel.target.vmcoreinfo.get("OSRELEASE", "")
    try:
        # the kernel's own HZ, not the 1000 crash's sys assumes where it cannot learn it
        frequency = _system.kernel_hz(kernel) or _system.hz(kernel)
        jiffies = _system.uptime_jiffies(kernel, frequency)
        uptime: dict[str, Any] | None = {
            "seconds": jiffies // frequency,
            "text": _system.format_uptime(jiffies, frequency),
        }
    except (FaultError, TargetError):
        uptime = None

    return {
        "class": cls,
        "task": task_info,
        "culprit": culprit,
        "panic_message": _system.panic_message(kernel),
        "taint": _taint(kernel),
        "release": release,
        "uptime": uptime,
        "panic_sysctls": _panic_sysctls(kernel),
        "backtrace": {
            "frames": [_frame_dict(kernel, f, lines=False) for f in frames],
            "cpus": cpus,
        },
        "blocked": blocked,
        "stack_groups": [
            {
                "count": g.count,
                "stack": list(g.functions),
                "tasks": [{"pid": pid, "comm": comm} for pid, comm in g.tasks],
            }
            for g in groups
        ],
        "reports": [
            {"kind": r.kind, "title": r.title, "time": round(r.time, 6), "fields": r.fields} for r in reports
        ],
        "signature": signature(
            cls, culprit["function"] if culprit else None, culprit["module"] if culprit else None
        ),
    }


# ---- the report -------------------------------------------------------------------------------------------


def _where(frame: dict[str, Any]) -> str:
    text = f"{frame['function']}+{frame['offset']:#x}"
    if frame.get("module"):
        text += f" [{frame['module']}]"
    if frame.get("file"):
        text += f" at {frame['file']}:{frame['line']}"
    return text


def render(result: dict[str, Any], *, groups: int = 5) -> str:
    """*result* of :func:`triage` as a short bug report: the headline, where, who, the kernel, the trace,
    what was blocked, the largest stack groups and the log's reports."""
    task = result["task"]
    culprit = result["culprit"]
    lines = [f"{result['class'].upper()}: {result['panic_message'] or '(no panic message in the log)'}"]
    if culprit:
        source = "  (from the log: no trace)" if culprit.get("source") == "log" else ""
        lines.append(f"  culprit:   {_where(culprit)}{source}")
    if task:
        lines.append(f"  task:      {task['comm']} (pid {task['pid']}) on CPU {task['cpu']}")
    lines.append(f"  kernel:    {result['release'] or '(unknown)'}")
    if result["uptime"]:
        lines.append(f"  uptime:    {result['uptime']['text']}")
    taint = result["taint"]
    if taint["flags"]:
        meanings = "; ".join(f"{f['letter']}: {f['meaning']}" for f in taint["flags"])
        lines.append(f"  taint:     {taint['letters']} ({meanings})")
    else:
        lines.append("  taint:     not tainted")
    sysctls = ", ".join(
        f"{k.split('.', 1)[-1]}={'yes' if v is True else v}" for k, v in result["panic_sysctls"].items() if v
    )
    lines.append(f"  sysctls:   {sysctls or '(none set)'}")
    lines.append(f"  signature: {result['signature']}")
    lines += ["", "Backtrace:"]
    for i, frame in enumerate(result["backtrace"]["frames"]):
        mark = "*" if culprit and frame["address"] == culprit["address"] else " "
        lines.append(f" {mark}#{i:<2} {_where(frame)}{'  (exception)' if frame['exception'] else ''}")
    if not result["backtrace"]["frames"]:
        lines.append("  (no trace)")
    for cpu in result["backtrace"]["cpus"]:
        lines.append(f"  CPU {cpu['cpu']} ({cpu['comm']}, pid {cpu['pid']}): {' < '.join(cpu['stack'][:8])}")
    if result["blocked"]:
        lines += ["", f"Blocked (D state): {len(result['blocked'])}"]
        for entry in result["blocked"]:
            owner = ""
            lock = entry["mutex"]
            if lock and lock["owner"]:
                o = lock["owner"]
                where = f" {lock['address']}" if lock["address"] else ""
                owner = f"  [{lock['lock']}{where} held by {o['comm']} (pid {o['pid']})]"
            lines.append(f"  {entry['comm']} (pid {entry['pid']}): {' < '.join(entry['stack'][:6])}{owner}")
    total = sum(g["count"] for g in result["stack_groups"])
    lines += ["", f"Stack groups: {len(result['stack_groups'])} for {total} tasks"]
    for g in result["stack_groups"][:groups]:
        top = " < ".join(g["stack"][:5]) or "(no stack)"
        lines.append(f"  {g['count']:>4}  {top}")
    if result["reports"]:
        lines += ["", "Log reports:"]
        lines += [f"  [{r['time']:12.6f}] {r['kind']}: {r['title']}" for r in result["reports"]]
    return "".join(line + "\n" for line in lines)
