"""``irq``: interrupt descriptors, per-CPU counts, affinity and softirq vectors (crash's kernel.c
``cmd_irq``, ``generic_dump_irq``, ``generic_show_interrupts``, ``generic_get_irq_affinity``,
``display_bh_4``)."""

from __future__ import annotations

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    CpuSpecError,
    Kernel,
    Option,
    command,
    hookimpl,
    mkstring,
    parse_cpu_spec,
)
from crashcompat.api.kernel import irq as irqs
from crashcompat.api.kernel import symbols, tasks

_DESC_WIDTH = max(VADDR_PRLEN, len("IRQ_DESC/_DATA"))
_ACTION_WIDTH = max(VADDR_PRLEN, len("IRQACTION"))
HEADER = (
    f" IRQ  {mkstring('IRQ_DESC/_DATA', VADDR_PRLEN, 'c')}  {mkstring('IRQACTION', VADDR_PRLEN, 'c')}  NAME\n"
)


def irq_line(kernel: Kernel, number: int) -> str:
    """One descriptor in crash's ``irq`` listing (a continuation line per further action)."""
    desc = irqs.irq_desc(kernel, number)
    head = mkstring(str(number), 4, "cr") + "  "
    if not desc:
        return (
            head
            + mkstring("(unused)", _DESC_WIDTH, "c")
            + "  "
            + mkstring("(unused)", _ACTION_WIDTH, "c")
            + "  \n"
        )
    info = irqs.read_irq(kernel, number, desc)
    head += mkstring(f"{desc:x}", _DESC_WIDTH, "c") + "  "
    if not info.actions:
        return head + mkstring("(unused)", _ACTION_WIDTH, "c") + "  \n"
    parts = []
    for action, name in info.actions:
        parts.append(
            mkstring(f"{action:x}", _ACTION_WIDTH, "c") + "  " + (f'"{name}"' if name is not None else "")
        )
    return head + ("\n" + " " * (4 + 2 + _DESC_WIDTH + 2)).join(parts) + "\n"


def _affinity_text(cpus: list[int]) -> str:
    """crash's ``display_cpu_affinity()``: ranges such as ``0-1,4``."""
    out: list[str] = []
    start = None
    previous = None
    for cpu in [*cpus, None]:
        if start is not None and (cpu is None or previous is None or cpu != previous + 1):
            out.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if cpu is not None and start is None:
            start = cpu
        previous = cpu
    return ",".join(out)


def affinity_text(kernel: Kernel) -> str:
    """``irq -a``: each descriptor with an action, its action names and its CPUs."""
    count = tasks.cpu_count(kernel)
    out = ["IRQ NAME                 AFFINITY\n"]
    for number in range(irqs.irq_count(kernel)):
        desc = irqs.irq_desc(kernel, number)
        if not desc:
            continue
        info = irqs.read_irq(kernel, number, desc)
        if not info.actions:
            continue
        names = ",".join(name for _, name in info.actions if name)
        out.append(f"{number:3d} {names:<20} {_affinity_text(irqs.irq_affinity(kernel, desc, count))}\n")
    return "".join(out)


def interrupts_text(kernel: Kernel, cpus: list[int]) -> str:
    """``irq -s``: ``/proc/interrupts`` as crash rebuilds it."""
    count = tasks.cpu_count(kernel)
    shown = [cpu for cpu in range(count) if cpu in cpus]
    out = ["     " + "".join(f"{'CPU' + str(cpu):>10} " for cpu in shown) + "\n"]
    for number in range(irqs.irq_count(kernel)):
        desc = irqs.irq_desc(kernel, number)
        if not desc:
            continue
        info = irqs.read_irq(kernel, number, desc)
        if not info.actions:
            continue
        counts = irqs.irq_counts(kernel, desc, shown)
        line = f"{number:3d}: " + "".join(f"{counts[cpu]:10d} " for cpu in shown)
        if info.chip_name is not None:
            line += f"{info.chip_name:>8}"
            if info.flow_name is not None:
                line += f"-{info.flow_name:<8}"
        names = ",".join(name for _, name in info.actions if name)
        out.append(f"{line} {names}\n")
    return "".join(out)


def softirq_text(kernel: Kernel) -> str:
    """``irq -b``: the softirq vector's actions."""
    out = [f"SOFTIRQ_VEC {mkstring('ACTION', VADDR_PRLEN, 'cr')}\n"]
    for vector, action in irqs.softirq_actions(kernel):
        if not action:
            continue
        sym = symbols.lookup(kernel, action)
        name = sym.name if sym is not None and sym.address == action else ""
        module = f"  [{sym.module}]" if sym is not None and sym.module else ""
        pad = "    " if vector < 10 else "   "
        out.append(f"    [{vector}]{pad} {mkstring(f'{action:x}', VADDR_PRLEN, 'cr')}  <{name}>{module}\n")
    return "".join(out)


@command(
    "irq",
    summary="show interrupt descriptors, counts, affinity and softirqs",
    synopsis="irq [[[index ...] | -u] | -b | -a | -s [-c cpu(s)]]",
    description="""
    Lists every interrupt number with its irq_desc address, the address of each irqaction attached
    and the name the driver gave it; numbers without a descriptor or handler are marked unused.
    """,
    arguments=[
        Option("-u", help="leave out the numbers that have no descriptor."),
        Option("-b", help="the softirq vector: each softirq's action function."),
        Option("-a", help="each interrupt in use, its handlers' names and the CPUs it may run on."),
        Option("-s", help="the per-CPU counts of each interrupt in use, with its chip and flow names."),
        Option(
            "-c",
            "cpus",
            dest="cpus",
            action="append",
            help='with -s, only these CPUs: a number, a list such as "1,3", a range such as "0-2", or "a".',
        ),
        Argument("numbers", "index", nargs="*", help="the interrupt numbers to show (decimal)."),
    ],
)
def irq(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.b:
        if not kernel.has_symbol("softirq_vec"):
            ctx.error("bottom-half option not supported")
        ctx.write(softirq_text(kernel))
        return
    if args.a:
        ctx.write(affinity_text(kernel))
        return
    if args.cpus and len(args.cpus) > 1:
        raise CommandArgumentError("only one -c option allowed")
    count = irqs.irq_count(kernel)
    if not count:
        ctx.error("cannot determine number of IRQs")
    if args.s:
        cpus = list(range(tasks.cpu_count(kernel)))
        if args.cpus:
            try:
                cpus = parse_cpu_spec(args.cpus[0], tasks.cpu_count(kernel))
            except CpuSpecError as e:
                ctx.error(str(e))
        ctx.write(interrupts_text(kernel, cpus))
        return
    if not args.numbers:
        ctx.write(HEADER)
        for number in range(count):
            if args.u and not irqs.irq_desc(kernel, number):
                continue
            ctx.write(irq_line(kernel, number))
        return
    header = False
    for text in args.numbers:
        try:
            number = int(text, 10)
        except ValueError:
            ctx.error(f"invalid decimal number: {text}")
        if number >= count:
            ctx.error(f"invalid IRQ value: {number}  ({count - 1} max)")
        if not header:
            ctx.write(HEADER)
            header = True
        ctx.write(irq_line(kernel, number))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [irq]
