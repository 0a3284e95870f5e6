"""``bt``: crash's kernel stack back trace (kernel.c ``cmd_bt``, x86_64.c ``x86_64_print_stack_entry``,
``x86_64_exception_frame``; task.c ``print_task_header``).

The trace itself comes from :mod:`crashcompat.core.kernel.unwind`, which reproduces crash's x86_64 back
tracer over the Target (ORC frame sizes, exception frames, IRQ and IST stacks); this module parses the
options and renders the events with crash's printf layouts.  :func:`render` is public so other commands
(``foreach bt``) print traces the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crashcompat.api import (
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    FaultError,
    Kernel,
    Option,
    Symbol,
    TargetError,
    command,
    hookimpl,
    parse_cpu_spec,
    task_header,
)
from crashcompat.api.kernel import slub, symbols, tasks, unwind
from crashcompat.api.kernel.unwind import (
    Backtrace,
    ExceptionFrame,
    Frame,
    Message,
    NoteRegisters,
    Separator,
    TextStart,
    TextSymbol,
)

if TYPE_CHECKING:
    pass

__all__ = ["BtOptions", "header", "render", "trace_text"]


@dataclass(frozen=True)
class BtOptions:
    """How to print a trace.

    :param full: ``-f`` (stack words per frame); :param symbolic: ``-F`` count (1: symbols and slab
        names for the words, 2: ``[address:slab]``); :param lines: ``-l``; :param offsets: ``-s``;
    :param radix: the radix of ``-s`` offsets (``-x``/``-d``, else the session's); :param output_radix:
        the session radix, used for ``[exception RIP: name+off]`` as crash uses gdb's output radix.
    """

    full: bool = False
    symbolic: int = 0
    lines: bool = False
    offsets: bool = False
    radix: int = 10
    output_radix: int = 10
    text_symbols: bool = False
    text_symbols_all: bool = False
    eframe_search: bool = False


@command(
    "bt",
    summary="show the kernel stack trace of tasks",
    synopsis="bt [-a|-c cpu(s)|-p] [-flFsxdtTe] [pid | task]",
    description="""
    Prints the kernel call chain of a task, by default the task of the current context (see set).
    Each frame is one line, "#N [stack slot] function at return address", the stack slot being where
    the return address was found.  An exception frame is followed by the saved registers; a switch
    from an IRQ or exception stack back to the process stack is marked by a "--- <...> ---" line; a
    task that entered the kernel from user space ends with its user-mode registers.

    The stack is read the way crash's x86_64 back tracer reads it: it is scanned for return addresses,
    and the size of each frame comes from the kernel's ORC unwind tables or, failing those, from the
    function's machine code.
    """,
    arguments=[
        Option(
            "-a", help="trace the task that was running on each CPU when the dump was taken (dumps only)."
        ),
        Option(
            "-c",
            "cpu",
            dest="cpus",
            action="append",
            help="trace the task that was running on the given CPUs (dumps only): one number, a list "
            'such as "1,8,9", a range such as "1-23", or "a"/"all".  Only one -c is accepted.',
        ),
        Option("-p", help="trace the task that panicked (dumps only); ignored when a task is named."),
        Option("-f", help="under each frame, print the stack words it spans, two to a line."),
        Option(
            "-F",
            action="count",
            default=0,
            help="as -f, but a word that points at a symbol is printed as the symbol (plus offset) and "
            "one that points into a slab object as [cache-name]; -FF prints the latter as "
            "[address:cache-name].",
        ),
        Option("-l", help="after each frame, print the source file and line of its return address."),
        Option("-s", help="print each function as name+offset."),
        Option("-x", help="print the -s offsets in hexadecimal, whatever the radix."),
        Option("-d", help="print the -s offsets in decimal, whatever the radix."),
        Option(
            "-t",
            help="instead of the frame chain, list every kernel text address found on the stack, from the "
            "stack pointer the trace would start at up to the top of the stack.",
        ),
        Option("-T", help="as -t, but over the whole stack, from its lowest address up."),
        Option(
            "-e",
            help="instead of the frame chain, look through the whole stack for anything shaped like a "
            "kernel-mode or user-mode exception frame and print each one found.",
        ),
        Argument(
            "targets",
            "pid | task",
            nargs="*",
            help="the tasks to trace: a pid (every thread with that pid) or a task_struct address in "
            "hexadecimal.",
        ),
    ],
    examples="""
    crash> bt
    PID: 116      TASK: ffff88f75fe2e000  CPU: 0    COMMAND: "fixcrash"
     #0 [ffffd0a50041ba68] machine_kexec at ffffffff97e6c62f
     #1 [ffffd0a50041bac0] __crash_kexec at ffffffff97f646b7
     ...
    """,
)
def bt(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.x and args.d:
        ctx.error("-d and -x are mutually exclusive")
    if args.cpus and len(args.cpus) > 1:
        raise CommandArgumentError("only one -c option allowed")
    options = BtOptions(
        full=args.f or args.F > 0,
        symbolic=args.F,
        lines=args.l,
        offsets=args.s,
        radix=16 if args.x else 10 if args.d else ctx.radix,
        output_radix=ctx.radix,
        text_symbols=args.t or args.T,
        text_symbols_all=args.T,
        eframe_search=args.e,
    )
    for i, item in enumerate(_selected(ctx)):
        if isinstance(item, str):
            ctx.write(f"{chr(10) if i else ''}bt: {item}\n")
        else:
            ctx.write(trace_text(kernel, item, options, first=not i))


def _selected(ctx: CommandContext) -> list[int | str]:
    """The ``struct task_struct *`` of each task to trace, in crash's order, or for a bad pid/task
    argument crash's message (printed in its place)."""
    args = ctx.args
    kernel = ctx.kernel
    live = ctx.target.live
    if args.cpus:
        if live:
            ctx.error("-c option not supported on a live system or live dump")
        cpus = parse_cpu_spec(args.cpus[0], tasks.cpu_count(kernel))
        active = tasks.active_tasks(kernel)
        missing = [cpu for cpu in cpus if cpu not in active]  # crash hides offline CPUs only on request
        if missing:
            ctx.error(f"cannot determine active task on cpu {missing[0]}")
        return [active[cpu] for cpu in cpus]
    if args.a:
        if live:
            ctx.error("-a option not supported on a live system or live dump")
        return [task for _, task in sorted(tasks.active_tasks(kernel).items())]
    if args.p and not args.targets:
        if live:
            ctx.error("-p option not supported on a live system or live dump")
        panic = tasks.panic_task(kernel)
        if panic is None:
            ctx.error("no panic task found!")
        return [panic]
    if not args.targets:
        return [ctx.session.current_task()]
    out: list[int | str] = []
    for text in args.targets:
        parsed = tasks.parse_task_spec(kernel, text)
        if parsed is None:
            out.append(f"invalid task or pid value: {text}")
        elif parsed[0] == "task":
            out.append(parsed[1])
        else:
            out += [t.address for t in tasks.tasks_by_pid(kernel, parsed[1])]
    return out


# ---- rendering ----------------------------------------------------------------------------------------


def header(kernel: Kernel, task: int, first: bool = True) -> str:
    """crash ``print_task_header``: ``PID: %-7ld  TASK: %-16lx  CPU: %-3s  COMMAND: "%s"`` (a blank line
    before every header but the first).

    :param task: ``struct task_struct *``.
    """
    info = tasks.read_task_fields(kernel, task)
    return task_header(info.pid, task, info.cpu, info.comm, newline=not first)


def trace_text(kernel: Kernel, task: int, options: BtOptions, first: bool = True) -> str:
    """Header and trace of *task* (``struct task_struct *``) as ``bt`` prints them."""
    try:
        head = header(kernel, task, first)
    except FaultError as e:
        return f"bt: invalid task or pid value: {task:x}\n" if e.address == task else f"bt: {e}\n"
    try:
        if options.eframe_search:
            trace = unwind.eframe_search(kernel, task)
        else:
            trace = unwind.backtrace(
                kernel,
                task,
                text_symbols=options.text_symbols,
                text_symbols_all=options.text_symbols_all,
            )
    except TargetError as e:
        return head + f"bt: {e}\n"
    return head + render(kernel, trace, options)


def render(kernel: Kernel, trace: Backtrace, options: BtOptions) -> str:
    """The lines crash prints for *trace* (no header)."""
    out: list[str] = []
    for event in trace.events:
        if isinstance(event, Frame):
            out += _frame(kernel, event, options)
        elif isinstance(event, ExceptionFrame):
            out += _exception_frame(kernel, event, options)
        elif isinstance(event, NoteRegisters):
            out += _note_registers(event, options)
        elif isinstance(event, Separator):
            out.append(f"--- <{event.text}> ---")
        elif isinstance(event, TextStart):
            out.append(f"{'':14}START: {event.name or '(null)'} at {event.pc:x}")
        elif isinstance(event, TextSymbol):
            name = _name(event.symbol, event.pc, options) if options.offsets else event.symbol.name
            module = f" [{event.module}]" if event.module else ""
            out.append(f"  [{event.sp:16x}] {name} at {event.pc:x}{module}")
        elif isinstance(event, Message):
            prefix = {"error": "bt: ", "warning": "WARNING: "}.get(event.kind, "")
            out.append(prefix + event.text)
    return "".join(line + "\n" for line in out)


def _name(sym: Symbol, pc: int, options: BtOptions) -> str:
    return symbols.format_offset(sym, pc, options.radix)


def _frame(kernel: Kernel, frame: Frame, options: BtOptions) -> list[str]:
    out: list[str] = []
    if options.full and frame.words:
        text = ""
        for i, (address, value) in enumerate(frame.words):
            if not i & 1:
                text += f"{chr(10) if i else ''}    {address:x}: "
            text += _stack_word(kernel, value, options) + " "
        out.append(text)
    name = frame.name
    if options.offsets and frame.pc != frame.symbol.address and name == frame.symbol.name:
        name = _name(frame.symbol, frame.pc, options)
    line = f"{' ' if frame.level < 10 else ''}#{frame.level} [{frame.sp:8x}] {name} at {frame.pc:x}"
    if frame.module:
        line += f" [{frame.module}]"
    if frame.framesize_disabled:
        line += " *"
    out.append(line)
    if options.lines:
        out += _source_line(kernel, frame.pc)
    return out


def _source_line(kernel: Kernel, address: int) -> list[str]:
    try:
        found = kernel.target.source_line(address)
    except TargetError:
        return []
    return [f"    {found.filename}: {found.line}"] if found else []


def _exception_frame(kernel: Kernel, frame: ExceptionFrame, options: BtOptions) -> list[str]:
    """crash ``x86_64_exception_frame``'s printout (``bt -e``'s form when the frame was searched for)."""
    r = frame.regs
    out = []
    if frame.search:
        mode = "KERNEL" if frame.kernel_mode else "USER"
        out += ["", f"  {mode}-MODE EXCEPTION FRAME AT: {frame.address:x}"]
    if frame.kernel_mode:
        out.append(_rip_line(frame.rip_symbol, r["rip"], frame.rip_message, options))
    out += _registers(r)
    out.append(f"    ORIG_RAX: {r['orig_rax']:016x}  CS: {r['cs']:04x}  SS: {r['ss']:04x}")
    if options.lines and frame.kernel_mode and frame.rip_symbol is not None:
        out += _source_line(kernel, r["rip"])
    return out


def _note_registers(event: NoteRegisters, options: BtOptions) -> list[str]:
    """crash ``diskdump_display_regs`` (a CPU's register note), after its ``[exception RIP: …]`` line."""
    r = event.regs
    out = []
    if event.header == "user":
        out.append("    [exception RIP: user space]")
    elif event.header == "kernel":
        out.append(_rip_line(event.rip_symbol, r["rip"], event.rip_message, options))
    out += _registers(r)
    out.append(f"    CS: {r['cs'] & 0xFFFF:04x}  SS: {r['ss'] & 0xFFFF:04x}")
    return out


def _rip_line(sym: Symbol | None, rip: int, message: str, options: BtOptions) -> str:
    where = symbols.format_offset(sym, rip, options.output_radix) if sym is not None else message
    return f"    [exception RIP: {where}]"


def _registers(r: Mapping[str, int]) -> list[str]:
    """The six general-register lines crash prints for an exception frame and a register note."""
    return [
        f"    RIP: {r['rip']:016x}  RSP: {r['rsp']:016x}  RFLAGS: {r['eflags']:08x}",
        f"    RAX: {r['rax']:016x}  RBX: {r['rbx']:016x}  RCX: {r['rcx']:016x}",
        f"    RDX: {r['rdx']:016x}  RSI: {r['rsi']:016x}  RDI: {r['rdi']:016x}",
        f"    RBP: {r['rbp']:016x}   R8: {r['r8']:016x}   R9: {r['r9']:016x}",
        f"    R10: {r['r10']:016x}  R11: {r['r11']:016x}  R12: {r['r12']:016x}",
        f"    R13: {r['r13']:016x}  R14: {r['r14']:016x}  R15: {r['r15']:016x}",
    ]


def _stack_word(kernel: Kernel, value: int, options: BtOptions) -> str:
    """crash ``format_stack_entry``: ``%016lx``, or with ``-F`` a symbol / ``[slab]`` in 16 columns."""
    if options.symbolic:
        try:
            kernel.read(value, 1)
        except TargetError:
            return f"{value:016x}"
        sym = symbols.lookup(kernel, value)
        if sym is not None:
            return f"{symbols.format_offset(sym, value, options.output_radix):<16}"
        slab = _slab_name(kernel, value)
        if slab is not None:
            return f"{f'[{value:x}:{slab}]' if options.symbolic > 1 else f'[{slab}]':<16}"
    return f"{value:016x}"


def _slab_name(kernel: Kernel, address: int) -> str | None:
    """The name of the slab cache holding *address* (crash ``vaddr_to_kmem_cache``)."""
    try:
        found = slub.slab_of_address(kernel, address)
    except TargetError:
        return None
    return found[0].name if found is not None else None


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [bt]
