"""``timer``: the timer wheel and the high-resolution timers (crash's kernel.c ``cmd_timer``,
``dump_timer_data_timer_bases``, ``dump_hrtimer_data``)."""

from __future__ import annotations

from crashcompat.api import (
    VADDR_PRLEN,
    Command,
    CommandContext,
    CpuSpecError,
    FaultError,
    Kernel,
    Option,
    TypeNotFound,
    command,
    hookimpl,
    mkstring,
    parse_cpu_spec,
)
from crashcompat.api.kernel import symbols, system, tasks, timers


def _symstr(kernel: Kernel, address: int) -> str:
    """crash's ``value_to_symstr()``: ``name`` or ``name+offset`` (empty when no symbol)."""
    sym = symbols.lookup(kernel, address)
    if sym is None:
        return ""
    return symbols.format_offset(sym, address)


def _is_text(kernel: Kernel, address: int) -> bool:
    return symbols.is_kernel_text(kernel, address)


def wheel_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``timer``: jiffies, then each CPU's timer bases with their timers by expiry."""
    jiffies = kernel.read_global_u64("jiffies")
    flen = max(len(str(jiffies)), len("JIFFIES"))
    out = [f"{mkstring('JIFFIES', flen)}\n{jiffies:>{flen}}\n\n"]
    for n, cpu in enumerate(cpus):
        if n:
            out.append("\n")
        for index, base in enumerate(timers.timer_bases(kernel, cpu)):
            out.append(f"TIMER_BASES[{cpu}][{'BASE_STD' if index == 0 else 'BASE_DEF'}]: {base:x}\n")
            found = timers.wheel_timers(kernel, base)
            rows = []
            for t in found:
                function = t.function
                if not _is_text(kernel, function):
                    try:
                        pointed = kernel.read_pointer(function)
                    except FaultError:  # an unreadable pointer: the function is shown as it is
                        pointed = 0
                    if pointed and _is_text(kernel, pointed):
                        function = pointed
                tte = t.expires - jiffies
                if tte >= 1 << 63:
                    tte -= 1 << 64
                rows.append((t, tte, function))
            highest = max((abs(tte) for _, tte, _ in rows), default=0)
            tlen = max(len(str(highest)) + 1, len("TTE"))
            out.append(
                f"  {mkstring('EXPIRES', flen)}     {mkstring('TTE', tlen)}     TIMER_LIST     FUNCTION\n"
            )
            for t, tte, function in rows:
                address = mkstring(f"{t.address:x}", VADDR_PRLEN, "r")
                out.append(
                    f"  {t.expires:>{flen}}  {tte:>{tlen}}  {mkstring(address, 16, 'c')}  "
                    f"{t.function:>{VADDR_PRLEN}x}  <{_symstr(kernel, function)}>\n"
                )
            if not found:
                out.append("  (none)\n")
    return "".join(out)


def _clock_label(kernel: Kernel, base: int) -> str:
    """What crash shows after a ``struct hrtimer_clock_base *``: ``  [its get_time function]``, or since Linux
    6.18, which dropped ``get_time`` (commit 009eb5da29a9), ``  [HRTIMER_BASE_...]``, the name of its
    ``index`` in ``enum hrtimer_base_type`` (nothing without that enum)."""
    if kernel.has_member("struct hrtimer_clock_base", "get_time"):
        get_time = kernel.read_pointer(base + kernel.offsetof("struct hrtimer_clock_base", "get_time"))
        return f"  [{_symstr(kernel, get_time)}]"
    try:
        names = {value: name for name, value in kernel.target.enumerators("enum hrtimer_base_type")}
    except TypeNotFound:
        return ""
    index = kernel.target.read_u32(base + kernel.offsetof("struct hrtimer_clock_base", "index"))
    return f"  [{names[index]}]" if index in names else "  [(null)]"


def hrtimer_text(kernel: Kernel, cpus: list[int]) -> str:
    """crash's ``timer -r``: each CPU's hrtimer clock bases and their queued timers."""
    now_base = system.uptime_jiffies(kernel) * (1_000_000_000 // system.hz(kernel))
    offset_member = kernel.has_member("struct hrtimer_clock_base", "offset")
    out: list[str] = []
    for n, cpu in enumerate(cpus):
        if n:
            out.append("\n")
        out.append(f"CPU: {cpu}  HRTIMER_CPU_BASE: {kernel.per_cpu_address('hrtimer_bases', cpu):x}\n")
        for j, base in enumerate(timers.hrtimer_clock_bases(kernel, cpu)):
            if j:
                out.append("\n")
            out.append(f"  CLOCK: {j}  HRTIMER_CLOCK_BASE: {base:x}{_clock_label(kernel, base)}\n")
            offset = 0
            if offset_member:
                offset = kernel.target.read_s64(base + kernel.offsetof("struct hrtimer_clock_base", "offset"))
            now = (now_base + offset) & ((1 << 64) - 1)
            queued = timers.hrtimers(kernel, base)
            if not queued:
                out.append("  (empty)\n")
                continue
            last = queued[-1]
            elen = max(len(str(last.expires)), 7)
            slen = max(len(str(last.softexpires)), 11)
            tlen = len(str(_signed(last.expires - now)))
            out.append(f"  {mkstring('CURRENT', slen, 'cr')}\n  {mkstring(str(_signed(now)), slen, 'cr')}\n")
            out.append(
                f"  {mkstring('SOFTEXPIRES', slen, 'cr')}  {mkstring('EXPIRES', elen, 'cr')}  "
                f"{mkstring('TTE', tlen, 'cr')}  {mkstring('HRTIMER', VADDR_PRLEN, 'cl')}  "
                f"{mkstring('FUNCTION', VADDR_PRLEN, 'cl')}\n"
            )
            for t in queued:
                line = (
                    f"  {mkstring(str(t.softexpires), slen, 'cr')}  {mkstring(str(t.expires), elen, 'cr')}  "
                    f"{_signed(t.expires - now):>{tlen}}  {t.address:x}  "
                )
                if t.function is not None:
                    line += f"{t.function:x}  <{_symstr(kernel, t.function)}>"
                out.append(line + "\n")
    return "".join(out)


def _signed(value: int) -> int:
    """*value* as a signed 64-bit number (crash prints its ``long long`` sums with ``%lld``)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


@command(
    "timer",
    summary="show the pending kernel timers",
    synopsis="timer [-r] [-C cpu(s)]",
    description="""
    Prints jiffies, then for each CPU the timers waiting on its timer wheel bases, earliest first:
    when each expires (in jiffies), how many jiffies remain, its timer_list address and its function.
    """,
    arguments=[
        Option("-r", help="the high-resolution timers instead, by CPU and clock base, in nanoseconds."),
        Option(
            "-C",
            "cpus",
            dest="cpus",
            help='only these CPUs: a number, a list such as "1,3", a range such as "0-2", or "a"/"all".',
        ),
    ],
)
def timer(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    cpus = list(range(tasks.cpu_count(kernel)))
    if ctx.args.cpus is not None:
        try:
            cpus = parse_cpu_spec(ctx.args.cpus, tasks.cpu_count(kernel))
        except CpuSpecError as e:
            ctx.error(str(e))
    ctx.write(hrtimer_text(kernel, cpus) if ctx.args.r else wheel_text(kernel, cpus))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [timer]
