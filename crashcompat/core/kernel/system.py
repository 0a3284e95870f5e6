"""System facts for crash's ``sys``: utsname, CPUs, date, uptime, load average, memory size, panic string,
taint flags — each computed the way crash 8.0.2 computes it (kernel.c ``display_sys_stats``).

The formatting helpers at the bottom (``format_uptime``, ``format_loadavg``, ``format_date``) are crash's own string conversions (tools.c), shared by ``sys``, ``ps -t`` and others.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from crashcompat.core.format import pages_to_size
from crashcompat.core.kernel import Kernel, printk
from crashcompat.core.kernel.tasks import cpu_count
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError

__all__ = [
    "PanicPolicy",
    "TaintFlag",
    "Utsname",
    "cpu_mhz",
    "cpus_online",
    "date",
    "format_date",
    "format_loadavg",
    "format_uptime",
    "hz",
    "kernel_hz",
    "load_average",
    "memory_size",
    "memory_size_text",
    "panic_message",
    "panic_message_from_log",
    "panic_policy",
    "taint_flags",
    "taint_string",
    "tainted_mask",
    "uptime_jiffies",
    "utsname",
]


@dataclass(frozen=True)
class Utsname:
    """``init_uts_ns.name`` (``struct new_utsname``)."""

    sysname: str
    nodename: str
    release: str
    version: str
    machine: str
    domainname: str


def utsname(kernel: Kernel) -> Utsname:
    """The kernel's ``struct new_utsname`` from ``init_uts_ns.name``."""

    def compute() -> Utsname:
        base = kernel.symbol("init_uts_ns") + kernel.offsetof("struct uts_namespace", "name")
        name = kernel.struct("struct new_utsname", base)
        return Utsname(
            *(name.cstr(f) for f in ("sysname", "nodename", "release", "version", "machine", "domainname"))
        )

    return kernel.memo("system:utsname", compute)


def cpus_online(kernel: Kernel) -> int:
    """crash's ``get_cpus_to_display()``: CPUs set in ``cpu_online_mask``, or :func:`cpu_count` if none."""
    try:
        online = len(kernel.online_cpus())
    except (SymbolNotFound, FaultError):
        online = 0
    return online or cpu_count(kernel)


def date(kernel: Kernel) -> int:
    """Wall-clock seconds at the stop: ``timekeeper.xtime_sec``, found the way crash's ``get_xtime`` does.

    Since Linux 6.13 the timekeepers live in a ``struct tk_data`` (member ``timekeeper``): the global
    ``tk_core``, which 6.17 turned into ``timekeeper_data[]`` (entry 0 is the system timekeeper) — the
    ``shadow_timekeeper`` global is gone.  Before, crash reads the ``timekeeper`` global when it exists,
    else ``shadow_timekeeper`` (3.17+, where the live one is inside ``tk_core``), else ``xtime``."""
    xtime_sec = (
        kernel.offsetof("struct timekeeper", "xtime_sec")
        if kernel.has_member("struct timekeeper", "xtime_sec")
        else None
    )
    if xtime_sec is not None and kernel.has_member("struct tk_data", "timekeeper"):
        inner = kernel.offsetof("struct tk_data", "timekeeper") + xtime_sec
        for name in ("timekeeper_data", "tk_core"):
            if kernel.has_symbol(name):
                return kernel.target.read_s64(kernel.symbol(name) + inner)
    for name in ("timekeeper", "shadow_timekeeper"):
        if xtime_sec is not None and kernel.has_symbol(name):
            return kernel.target.read_s64(kernel.symbol(name) + xtime_sec)
    return kernel.target.read_s64(kernel.symbol("xtime"))


def hz(kernel: Kernel) -> int:
    """The ``HZ`` crash works with (``machdep->hz``).

    crash learns the real HZ only from mq-deadline's ``write_expire`` (``5 * HZ``), read in the scope of
    its init function — so only when mq-deadline is built into vmlinux (``dd_init_sched``,
    ``dd_init_queue`` or ``deadline_init_queue`` is a kernel symbol); with mq-deadline a module (Debian's
    6.12 and later) it keeps the x86_64 default of 1000, and so do we, since uptimes and ``log -T``
    dates follow from it.  The real HZ is ``NSEC_PER_SEC / tick_nsec`` (kernel/time/ntp.c)."""

    def compute() -> int:
        if not any(kernel.has_symbol(name) for name in _DEADLINE_INIT):
            return 1000
        return kernel_hz(kernel) or 1000

    return kernel.memo("system:hz", compute)


def kernel_hz(kernel: Kernel) -> int | None:
    """The kernel's real ``HZ``: ``NSEC_PER_SEC / tick_nsec`` (kernel/time/ntp.c), ``None`` when unknown.
    crash's own figure, which its uptimes use, is :func:`hz`."""
    try:
        tick_nsec = kernel.read_global_u64("tick_nsec")
    except (SymbolNotFound, FaultError):
        return None
    return round(1_000_000_000 / tick_nsec) if tick_nsec else None


#: mq-deadline's init function across kernels: crash reads ``write_expire`` in its scope.
_DEADLINE_INIT = ("dd_init_queue", "dd_init_sched", "deadline_init_queue")


def uptime_jiffies(kernel: Kernel, frequency: int | None = None) -> int:
    """crash's ``get_uptime()``: ``jiffies_64`` less ``INITIAL_JIFFIES`` (``(u32)(-300 * HZ)``), with crash's
    :func:`hz` unless *frequency* gives the HZ (:func:`kernel_hz` for the true uptime)."""
    frequency = frequency or hz(kernel)
    try:
        jiffies_64 = kernel.read_global_u64("jiffies_64")
    except SymbolNotFound:
        return kernel.read_global_u64("jiffies")
    wrapped = jiffies_64 & 0xFFFFFFFF00000000
    if wrapped:
        wrapped -= 0x100000000
        return ((jiffies_64 & 0xFFFFFFFF) | wrapped) + 300 * frequency
    return (jiffies_64 - ((-300 * frequency) & 0xFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF


def load_average(kernel: Kernel) -> tuple[int, int, int]:
    """``avenrun[3]``: fixed-point (FSHIFT 11) 1-, 5- and 15-minute load averages."""
    a, b, c = kernel.target.read_pointers(kernel.symbol("avenrun"), 3)
    return a, b, c


def cpu_mhz(kernel: Kernel) -> int:
    """crash's ``x86_64_processor_speed()``: ``cpu_khz / 1000`` (0 when unknown)."""
    try:
        return kernel.read_global_u32("cpu_khz") // 1000
    except (SymbolNotFound, FaultError):
        return 0


def memory_size(kernel: Kernel) -> int:
    """crash's ``total_node_memory()`` in bytes: the sum over memory nodes of ``node_present_pages``
    (``node_spanned_pages`` when that is 0) times the page size."""

    def compute() -> int:
        page = kernel.target.page_size
        total = 0
        for pgdat in _pgdats(kernel):
            node = kernel.struct("struct pglist_data", pgdat)
            pages = node.uint("node_present_pages") or node.uint("node_spanned_pages")
            total += pages * page
        return total

    return kernel.memo("system:memory_size", compute)


def _pgdats(kernel: Kernel) -> list[int]:
    """``struct pglist_data *`` of each node: ``node_data[]`` (NUMA) or ``&contig_page_data``."""
    try:
        node_data = kernel.symbol("node_data")
    except SymbolNotFound:
        return [kernel.symbol("contig_page_data")]
    try:
        count = kernel.read_global_u32("nr_node_ids")
    except SymbolNotFound:
        count = max(kernel.target.lookup_symbol("node_data").size // 8, 1)
    return [p for p in kernel.target.read_pointers(node_data, count) if p]


def memory_size_text(kernel: Kernel) -> str:
    """crash's ``get_memory_size()``: :func:`memory_size` rounded up to the next GiB when within 64 MiB
    of it, as :func:`pages_to_size` text (``"511.5 MB"``)."""
    total = memory_size(kernel)
    gib = 1 << 30
    next_gig = -(-total // gib) * gib
    if next_gig and next_gig - total <= 64 << 20:
        total = next_gig
    page = kernel.target.page_size
    return pages_to_size(total // page, page)


# ---- taints ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaintFlag:
    """One ``struct taint_flag`` of ``taint_flags[]`` (kernel/panic.c): bit number and its letters."""

    bit: int
    c_true: str
    c_false: str


def tainted_mask(kernel: Kernel) -> int:
    """``tainted_mask`` (or the pre-2.6.29 ``tainted`` int)."""
    for name in ("tainted_mask", "tainted"):
        try:
            return kernel.read_global_u64(name) if name == "tainted_mask" else kernel.read_global_u32(name)
        except SymbolNotFound:
            continue
    return 0


def taint_flags(kernel: Kernel) -> list[TaintFlag]:
    """``taint_flags[]`` in bit order.  The members were ``true``/``false`` before 4.10 (commit
    7fd8329ba502 "taint/module: Clean up global and module taint flags handling" added ``c_true``)."""
    sym = kernel.target.lookup_symbol("taint_flags")
    size = kernel.sizeof("struct taint_flag")
    names = ("c_true", "c_false") if kernel.has_member("struct taint_flag", "c_true") else ("true", "false")
    t_off, f_off = (kernel.offsetof("struct taint_flag", n) for n in names)
    data = kernel.read(sym.address, sym.size)
    return [
        TaintFlag(i, chr(data[i * size + t_off]), chr(data[i * size + f_off]))
        for i in range(sym.size // size)
    ]


def taint_string(kernel: Kernel) -> str:
    """crash's ``show_kernel_taints()`` letters: the true letter of each set bit, the false letter of each
    clear bit unless it is blank, ``-`` or ``G``."""
    mask = tainted_mask(kernel)
    out = []
    for flag in taint_flags(kernel):
        if mask >> flag.bit & 1:
            out.append(flag.c_true)
        elif flag.c_false not in (" ", "-", "G"):
            out.append(flag.c_false)
    return "".join(out)


# ---- panic message --------------------------------------------------------------------------------------

# crash 8.0.2 get_panicmsg(): categories tried in order over the whole log; the first line matching the
# first category that matches anywhere is the message.
_PANIC_PATTERNS: tuple[tuple[str, ...], ...] = (
    ("general protection fault: ", "double fault: ", "divide error: ", "stack segment: "),
    ("SysRq : Netdump", "SysRq : Crash", "SysRq : Trigger a crash"),
    (
        "Oops: ",
        "Kernel BUG at",
        "kernel BUG at",
        "Unable to handle kernel paging request",
        "Unable to handle kernel NULL pointer dereference",
        "BUG: unable to handle kernel ",
    ),
    ("Kernel panic: ", "Kernel panic - "),
    ("[Hardware Error]: ",),
    ("Bad mode in ",),
)


def panic_message_from_log(lines: Iterable[str]) -> str:
    """crash 8.0.2's ``get_panicmsg()`` over the text of the log (one message line each, no timestamps).

    (crash also consults a ``sysrq_pressed`` variable for lines containing ``sysrq``; no kernel since
    2.6 has it, so that rule never fires.)  Returns ``""`` when nothing matches.
    """
    text = list(lines)
    for patterns in _PANIC_PATTERNS:
        for line in text:
            if any(p in line for p in patterns):
                return line.rstrip("\n")
    return ""


def panic_message(kernel: Kernel) -> str:
    """The panic string crash's ``sys`` shows, from the kernel log's text (``log -t``; see
    :func:`panic_message_from_log`); ``""`` when the log cannot be read."""

    def compute() -> str:
        try:
            return panic_message_from_log(printk.log_text_lines(kernel))
        except (printk.LogError, TargetError):
            return ""

    return kernel.memo("system:panic", compute)


# ---- the panic policy (the panic sysctls) --------------------------------------------------------------


@dataclass(frozen=True)
class PanicPolicy:
    """The panic policy's values; ``None`` where the kernel was built without the feature.

    :param crashkernel: the ``crashk_res`` reservation (start, end), ``None`` when none is reserved.
    """

    panic_timeout: int | None
    panic_on_oops: int | None
    panic_on_warn: int | None
    softlockup_panic: int | None
    hung_task_timeout_secs: int | None
    hung_task_panic: int | None
    crash_kernel_loaded: bool | None
    crashkernel: tuple[int, int] | None
    hardlockup_panic: int | None = None
    panic_on_oom: int | None = None
    panic_on_rcu_stall: int | None = None


def _global_int(kernel: Kernel, name: str) -> int | None:
    """A C ``int`` global, or None if the symbol does not exist."""
    try:
        return kernel.target.read_s32(kernel.symbol(name))
    except (SymbolNotFound, FaultError):
        return None


def panic_policy(kernel: Kernel) -> PanicPolicy:
    """How the kernel was set to react to oopses, lockups and panics: its panic sysctls'
    globals (kernel/panic.c, kernel/watchdog.c, kernel/hung_task.c) and whether a crash kernel was
    loaded (kernel/kexec_core.c)."""
    try:
        hung = kernel.read_global_u64("sysctl_hung_task_timeout_secs")  # unsigned long
    except (SymbolNotFound, FaultError):
        hung = None
    try:
        loaded: bool | None = kernel.read_global_u64("kexec_crash_image") != 0  # struct kimage *
    except (SymbolNotFound, FaultError):
        loaded = None
    try:
        res = kernel.struct("struct resource", kernel.symbol("crashk_res"))
        start, end = res.u64("start"), res.u64("end")
        reservation = (start, end) if end > start else None
    except (SymbolNotFound, FaultError):
        reservation = None
    return PanicPolicy(
        panic_timeout=_global_int(kernel, "panic_timeout"),
        panic_on_oops=_global_int(kernel, "panic_on_oops"),
        panic_on_warn=_global_int(kernel, "panic_on_warn"),
        softlockup_panic=_global_int(kernel, "softlockup_panic"),
        hung_task_timeout_secs=hung,
        hung_task_panic=_global_int(kernel, "sysctl_hung_task_panic"),
        crash_kernel_loaded=loaded,
        crashkernel=reservation,
        hardlockup_panic=_global_int(kernel, "hardlockup_panic"),
        panic_on_oom=_global_int(kernel, "sysctl_panic_on_oom"),
        panic_on_rcu_stall=_global_int(kernel, "sysctl_panic_on_rcu_stall"),
    )


# ---- crash's string conversions (tools.c) ---------------------------------------------------------------


def format_uptime(count: int, frequency: int) -> str:
    """crash's ``convert_time()``: *count* jiffies at *frequency* HZ as ``[N days, ]HH:MM:SS``."""
    if not frequency:
        return "(cannot calculate: unknown HZ value)"
    total = count // frequency
    days, total = divmod(total, 86400)
    hours, total = divmod(total, 3600)
    minutes, seconds = divmod(total, 60)
    return (f"{days} days, " if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def format_loadavg(avenrun: Iterable[int]) -> str:
    """crash's ``get_loadavg()``: ``"%d.%02d, %d.%02d, %d.%02d"`` with the kernel's ``FIXED_1/200``
    rounding (FSHIFT 11)."""
    fixed_1 = 1 << 11
    parts = []
    for value in avenrun:
        v = value + fixed_1 // 200
        parts.append(f"{v >> 11}.{((v & (fixed_1 - 1)) * 100) >> 11:02d}")
    return ", ".join(parts)


def format_date(seconds: int) -> str:
    """crash's ``ctime_tz()``: ``strftime("%a %b %e %T %Z %Y")`` in the local time zone (``TZ``)."""
    return time.strftime("%a %b %e %T %Z %Y", time.localtime(seconds))
