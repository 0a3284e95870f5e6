"""``sys``: crash's system data block (kernel.c ``cmd_sys``, ``display_sys_stats``), ``sys -t`` and ``sys -i``."""

from __future__ import annotations

from crashcompat.api import (
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    Kernel,
    Option,
    SymbolNotFound,
    TypeNotFound,
    command,
    hookimpl,
)
from crashcompat.api.kernel import system, tasks


@command(
    "sys",
    summary="what system the dump comes from",
    synopsis="sys [-t] [-i] [config]",
    description="""
    Without arguments, prints the block that crash prints when it starts: the kernel and dump files,
    the number of CPUs, the date of the dump, the uptime and load averages, the number of tasks, the
    node name, release, version and machine type with the CPU clock rate, the memory size, and the
    panic message.
    """,
    arguments=[
        Option(
            "-t",
            dest="taints",
            help='print the kernel\'s taint mask ("tainted_mask") in hexadecimal, then one letter for '
            "each taint flag it holds.",
        ),
        Option("-i", dest="dmi", help="print the firmware's DMI identification strings kept by the kernel."),
        Argument(
            "words",
            "config",
            nargs="*",
            help="the configuration built into the kernel (CONFIG_IKCONFIG): not implemented, the "
            "command reports that.",
        ),
    ],
)
def sys_(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if ctx.args.taints:
        ctx.write(taints_line(kernel))
        return
    if ctx.args.dmi:
        ctx.write(dmi_block(ctx))
        return
    if ctx.args.words:
        if ctx.args.words[0] != "config":
            raise CommandArgumentError(f"invalid argument: {ctx.args.words[0]}")
        if not kernel.has_symbol("kernel_config_data"):
            ctx.error("kernel_config_data does not exist in this kernel")
        ctx.error("dumping the in-kernel configuration (CONFIG_IKCONFIG) is not supported")
    ctx.write(sys_block(ctx))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [sys_]


def _line(label: str, value: str) -> str:
    return f"{label.rjust(12)}: {value}\n"


def sys_block(ctx: CommandContext) -> str:
    """crash's ``display_sys_stats()``."""
    kernel = ctx.kernel
    info = ctx.target.info
    taints = _taint_letters(kernel)
    kernel_line = (info.vmlinux or "(unknown)") + ("  [LIVEPATCH]" if "K" in taints else "")
    kernel_line += "  [TAINTED]" if system.tainted_mask(kernel) else ""
    out = [_line("KERNEL", kernel_line)]
    if info.live:
        # crash prints its live memory source (/dev/mem, /proc/kcore); a remote stub has no file, so it is
        # named like crash's remote sessions: "qemu  (live system)".
        source = "/proc/kcore" if info.stub == "kcore" else f"{info.stub or 'live'}  (live system)"
        out.append(_line("DUMPFILE", source))
    else:
        out.append(_line("DUMPFILE", (info.path or "") + ("  [PARTIAL DUMP]" if info.partial else "")))
    cpus = tasks.cpu_count(kernel)
    offline = cpus - system.cpus_online(kernel)
    out.append(_line("CPUS", f"{cpus}" + (f" [OFFLINE: {offline}]" if offline > 0 else "")))
    out.append(_line("DATE", system.format_date(system.date(kernel))))
    out.append(_line("UPTIME", system.format_uptime(system.uptime_jiffies(kernel), system.hz(kernel))))
    out.append(_line("LOAD AVERAGE", system.format_loadavg(system.load_average(kernel))))
    out.append(_line("TASKS", str(tasks.task_count(kernel))))
    uts = system.utsname(kernel)
    out.append(_line("NODENAME", uts.nodename))
    out.append(_line("RELEASE", uts.release))
    out.append(_line("VERSION", uts.version))
    mhz = system.cpu_mhz(kernel)
    out.append(_line("MACHINE", f"{uts.machine}  " + (f"({mhz} Mhz)" if mhz else "(unknown Mhz)")))
    out.append(_line("MEMORY", system.memory_size_text(kernel)))
    if not info.live:
        message = system.panic_message(kernel)
        suffix = " (check log for details)" if "Oops: " in message else ""
        out.append(_line("PANIC", f'"{message}"{suffix}'))
    return "".join(out)


def _taint_letters(kernel: Kernel) -> str:
    try:
        return system.taint_string(kernel)
    except (SymbolNotFound, TypeNotFound):
        return ""


def taints_line(kernel: Kernel) -> str:
    """crash's ``show_kernel_taints(buf, VERBOSE)``."""
    if not kernel.has_symbol("tainted_mask"):
        return f"TAINTED: {system.tainted_mask(kernel):x}\n"
    return f"TAINTED_MASK: {system.tainted_mask(kernel):x}  {_taint_letters(kernel)}\n"


def dmi_block(ctx: CommandContext) -> str:
    """crash's ``dump_dmi_info()``: each ``dmi_ident[]`` string under its ``enum dmi_field`` name."""
    kernel = ctx.kernel
    try:
        sym = ctx.target.lookup_symbol("dmi_ident")
    except SymbolNotFound:
        ctx.error("dmi_ident does not exist in this kernel")
    count = sym.size // 8
    pointers = ctx.target.read_pointers(sym.address, count)
    try:
        fields = ctx.target.enumerators("enum dmi_field")
    except TypeNotFound:
        fields = [(f"dmi_ident[{i}]", i) for i in range(count)]
    named: list[tuple[str, int]] = []
    for name, value in fields:
        if value >= count:
            break
        named.append((name, value))
    width = max((len(n) for n, _ in named), default=0)
    out = []
    for name, value in named:
        if pointers[value]:
            out.append(f"  {name.rjust(width)}: {kernel.read_cstring(pointers[value], 1499)}\n")
    return "".join(out)
