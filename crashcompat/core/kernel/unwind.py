"""Kernel stack back traces on x86_64, computed the way crash's ``bt`` computes them.

crash does not print a pure ORC unwind.  Its x86_64 back tracer (x86_64.c
``x86_64_low_budget_back_trace_cmd``) walks the stack word by word from a starting slot, prints every
word that is a kernel text address with a non-zero symbol offset, and after each printed frame skips
the frame's size, which it takes from the ORC entry of the return address when that entry can size the
frame, else from disassembling the function up to the return address (``x86_64_get_framesize``).
Exception frames (``pt_regs``) are recognised after the ``asm_exc_*`` entry points and at the tops of
IRQ and IST stacks, and printed with their registers.  The starting slot of an active task on a dump
is not the CPU's stack pointer but a well-known function found by scanning its stacks
(``x86_64_get_dumpfile_stack_frame``: ``machine_kexec``, the last ``panic``, ``crash_nmi_callback``,
``sysrq_handle_crash`` …); a sleeping task starts at ``inactive_task_frame.ret_addr``.

This module reproduces that algorithm as crash 9.0 runs it (ORC frame sizes tracking ``%rbp`` through
the frames, crash commit daa43fa5324f, in 8.0.3).

Deliberate differences from crash, all where crash fails: an IST slot that crash cannot name (size 0)
is skipped instead of failing the trace ("invalid size request: 0"), and a failed read ends the task's
trace with crash's message rather than the command. A CPU stopped by the panic IPI is traced as crash
9.0 traces it: on an ELF file from what the stack scan finds (``stop_this_cpu`` on its IRQ stack), on a
kdump-compressed file from its register note, then word by word from the noted stack pointer.

The result is a list of events (:class:`Frame`, :class:`ExceptionFrame`, :class:`NoteRegisters`,
:class:`Separator`, :class:`TextSymbol`, :class:`Message`); :mod:`crashcompat.plugins.bt` renders them.
The framesize cache is kept per session, as crash keeps it per run.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel import modules as _modules
from crashcompat.core.kernel import orc as _orc
from crashcompat.core.kernel import stacks as _stacks
from crashcompat.core.kernel import symbols as _symbols
from crashcompat.core.kernel import tasks as _tasks
from crashcompat.core.kernel.x86insn import Kind, decode
from crashcompat.core.target import DumpFormat, Symbol, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "Backtrace",
    "Event",
    "ExceptionFrame",
    "Frame",
    "Message",
    "NoteRegisters",
    "Separator",
    "TextStart",
    "TextSymbol",
    "backtrace",
    "eframe_search",
]

#: crash's ``exception_functions_5_8`` (kernels with ``asm_exc_divide_error``) and the older list.
_EXCEPTION_FUNCTIONS_5_8 = frozenset((
    "asm_exc_invalid_tss", "asm_exc_segment_not_present", "asm_exc_alignment_check",
    "asm_exc_general_protection", "asm_exc_page_fault", "asm_exc_divide_error", "asm_exc_overflow",
    "asm_exc_bounds", "asm_exc_invalid_op", "asm_exc_device_not_available",
    "asm_exc_coproc_segment_overrun", "asm_exc_spurious_interrupt_bug", "asm_exc_coprocessor_error",
    "asm_exc_simd_coprocessor_error", "asm_exc_debug", "xen_asm_exc_stack_segment",
    "xen_asm_exc_xen_hypervisor_callback", "xen_asm_exc_int3",
))  # fmt: skip
_EXCEPTION_FUNCTIONS_ORIG = frozenset((
    "invalid_TSS", "segment_not_present", "alignment_check", "xen_stack_segment", "general_protection",
    "page_fault", "divide_error", "overflow", "bounds", "invalid_op", "device_not_available",
    "coprocessor_segment_overrun", "spurious_interrupt_bug", "coprocessor_error", "simd_coprocessor_error",
    "xen_hypervisor_callback", "xen_debug", "xen_int3", "async_page_fault",
))  # fmt: skip

#: Functions whose return address on a dumped task's stack marks where crash starts its trace.
_DUMP_ENTRY_FUNCTIONS = frozenset((
    "netconsole_netdump", "netpoll_start_netdump", "start_disk_dump", "disk_dump", "crash_kexec",
    "machine_kexec", "try_crashdump",
))  # fmt: skip

#: crash's RAZ_MASK: RFLAGS bits that read as zero.
_RAZ_MASK = 0xFFFFFFFFFFC08028


# ---- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """``#N [sp] name at pc [module]``.

    :param sp: the stack slot holding *pc* (crash prints this, not the frame's stack pointer), or the
        starting stack pointer for the first frame after an exception stack.
    :param name: what crash prints: the symbol's name (``schedule`` for a hand-made schedule frame).
    :param symbol: the symbol containing *pc* (for ``-s``'s offset).
    :param framesize_disabled: crash's ``" *"`` marker (frame sizes could not be computed).
    :param words: for ``-f``: the stack words (address, value) from the previous frame's slot + 8
        through this frame's slot, which crash prints before this frame's line.
    """

    level: int
    sp: int
    pc: int
    name: str
    symbol: Symbol
    module: str | None
    framesize_disabled: bool = False
    words: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ExceptionFrame:
    """A ``struct pt_regs`` crash prints: ``[exception RIP: …]`` (kernel mode) and seven register lines.

    :param address: where the ``pt_regs`` is.
    :param regs: every register of :data:`~crashcompat.core.kernel.layout.PT_REGS_MEMBERS` by crash's
        lower-case name.
    :param rip_symbol: the symbol containing ``rip`` (kernel mode), ``None`` if none.
    :param rip_message: crash's text when there is no symbol (``unknown or invalid address`` …).
    :param search: found by ``bt -e`` (printed after a ``KERNEL-MODE EXCEPTION FRAME AT:`` line).
    """

    address: int
    regs: Mapping[str, int]
    rip_symbol: Symbol | None
    rip_message: str = ""
    search: bool = False

    @property
    def kernel_mode(self) -> bool:
        return not self.regs["cs"] & 3


@dataclass(frozen=True)
class NoteRegisters:
    """The dump's own register note of a CPU (crash ``diskdump_display_regs``), after ``[exception RIP:
    user space]`` or ``[exception RIP: name+off]``: six register lines and ``CS: …  SS: …``.

    :param header: ``"user"`` (``[exception RIP: user space]``), ``"kernel"`` (``[exception RIP:
        name+off]`` from *rip_symbol*, or *rip_message*) or ``"none"`` (registers only).
    """

    regs: Mapping[str, int]
    header: str
    rip_symbol: Symbol | None = None
    rip_message: str = ""


@dataclass(frozen=True)
class Separator:
    """``--- <IRQ stack> ---`` and friends; *text* is what goes between the dashes."""

    text: str


@dataclass(frozen=True)
class TextSymbol:
    """``bt -t``: ``  [sp] name at pc [module]`` for every text address on the stack."""

    sp: int
    pc: int
    symbol: Symbol
    module: str | None


@dataclass(frozen=True)
class TextStart:
    """``bt -t``'s first line: ``START: name at pc``; *name* is ``None`` when *pc* has no symbol."""

    pc: int
    name: str | None


@dataclass(frozen=True)
class Message:
    """A crash message line: ``bt: text`` (``kind="error"``), ``WARNING: text`` or verbatim (``"text"``)."""

    text: str
    kind: str = "error"


Event = Frame | ExceptionFrame | NoteRegisters | Separator | TextSymbol | TextStart | Message


@dataclass
class Backtrace:
    """The trace of one task: its events in print order."""

    task: int
    events: list[Event] = field(default_factory=list)


class _Fatal(Exception):
    """crash's ``error(FATAL, …)`` inside a trace: the message ends this task's trace."""


# ---- crash's bt flags -------------------------------------------------------------------------------------


class _F:
    """crash's bt flags, as plain ints (an IntFlag's operators cost microseconds each in the tracer's
    inner loop)."""

    EXCEPTION_FRAME = 1 << 0
    START = 1 << 1
    SAVE_EFRAME_IP = 1 << 2
    FRAMESIZE_DISABLE = 1 << 3
    EXCEPTION_STACK = 1 << 4
    IRQSTACK = 1 << 5
    EFRAME_TARGET = 1 << 6
    TEXT_SYMBOLS = 1 << 7
    TEXT_SYMBOLS_ALL = 1 << 8
    USER_SPACE = 1 << 9
    KERNEL_SPACE = 1 << 10
    KDUMP_ELF_REGS = 1 << 11
    EFRAME_SEARCH = 1 << 12


_IGNORE_FRAMESIZE = _F.TEXT_SYMBOLS | _F.TEXT_SYMBOLS_ALL | _F.FRAMESIZE_DISABLE

# print_stack_entry results
_IGNORED, _DISPLAYED, _EFRAME_DISPLAYED, _COMPLETE = range(4)


# ---- per-session state ------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the tracer needs about the kernel, computed once per session."""

    pt_regs_size: int
    pt_regs: dict[str, int]
    exception_functions: frozenset[str]
    init_range: tuple[int, int]
    layout: _layout.Layout
    nested_nmi: bool
    has_inactive_frame: bool
    ret_addr_offset: int
    bp_offset: int
    thread_sp: int
    repeat_nmi: int
    asm_common_interrupt: bool
    irq_eframe_link: int
    framesizes: dict[int, tuple[int, bool]] = field(default_factory=dict)


def _context(kernel: Kernel) -> _Context:
    def compute() -> _Context:
        offsets = _layout.pt_regs_offsets(kernel)

        def sym(name: str) -> int:
            return kernel.symbol(name) if kernel.has_symbol(name) else 0

        try:
            init_range = (kernel.symbol("__init_begin"), kernel.symbol("__init_end"))
        except SymbolNotFound:
            init_range = (0, 0)
        has_frame = kernel.has_member("struct inactive_task_frame", "bp")
        asm_common = kernel.has_symbol("asm_common_interrupt")
        return _Context(
            pt_regs_size=kernel.sizeof("struct pt_regs"),
            pt_regs=offsets,
            exception_functions=(
                _EXCEPTION_FUNCTIONS_5_8
                if kernel.has_symbol("asm_exc_divide_error")
                else _EXCEPTION_FUNCTIONS_ORIG
            ),
            init_range=init_range,
            layout=_layout.layout(kernel),
            nested_nmi=kernel.has_symbol("repeat_nmi"),
            has_inactive_frame=has_frame,
            ret_addr_offset=kernel.offsetof("struct inactive_task_frame", "ret_addr") if has_frame else 0,
            bp_offset=kernel.offsetof("struct inactive_task_frame", "bp") if has_frame else 0,
            thread_sp=kernel.offsetof("struct task_struct", "thread.sp"),
            repeat_nmi=sym("repeat_nmi"),
            asm_common_interrupt=asm_common,
            # x86_64_irq_eframe_link_init: -64 with asm_call_on_stack (5.8 to 5.10), -32 after.
            irq_eframe_link=(-64 if kernel.has_symbol("asm_call_on_stack") else -32) if asm_common else 40,
        )

    return kernel.memo("unwind:context", compute)


#: How far above the IRQ stack's link word the tracer's ``irq_eframe_link`` looks for the IRQ's pt_regs.
_IRQ_EFRAME_SEARCH = 512


# ---- the public entry -------------------------------------------------------------------------------------


def backtrace(
    kernel: Kernel,
    task: int,
    *,
    text_symbols: bool = False,
    text_symbols_all: bool = False,
) -> Backtrace:
    """crash's ``bt`` trace of *task* (``struct task_struct *``).

    :param text_symbols: ``bt -t``: every text address from the starting stack pointer up.
    :param text_symbols_all: ``bt -T``: every text address on the whole stack.
    :raises FaultError: if the task itself cannot be read.
    """
    info = _tasks.read_task_fields(kernel, task)
    trace = Backtrace(task)
    tracer = _Tracer(kernel, info, trace)
    if text_symbols or text_symbols_all:
        tracer.flags |= _F.TEXT_SYMBOLS
    if text_symbols_all:
        tracer.flags |= _F.TEXT_SYMBOLS_ALL
    try:
        tracer.run()
    except _Fatal as e:
        trace.events.append(Message(str(e)))
    return trace


def eframe_search(kernel: Kernel, task: int) -> Backtrace:
    """``bt -e``: every word of *task*'s stack (``struct task_struct *``) where a ``struct pt_regs``
    verifies as an exception frame (crash ``x86_64_eframe_search``), as :class:`ExceptionFrame` events
    with ``search`` set."""
    trace = Backtrace(task)
    tracer = _Tracer(kernel, _tasks.read_task_fields(kernel, task), trace)
    tracer.flags |= _F.EFRAME_SEARCH
    try:
        tracer.load(tracer.process.base, tracer.process.top)
        last = tracer.stacktop - tracer.ctx.pt_regs_size
        for address in range(tracer.stackbase, last + 1, 8):
            tracer.exception_frame(print_=True, verify=True, local=address)
    except _Fatal as e:
        trace.events.append(Message(str(e)))
    return trace


# ---- the tracer -------------------------------------------------------------------------------------------


class _Tracer:
    """One run of crash's back trace over one task (crash's ``struct bt_info`` plus the code)."""

    def __init__(self, kernel: Kernel, task: _tasks.Task, trace: Backtrace) -> None:
        self.k = kernel
        self.ctx = _context(kernel)
        self.task = task
        self.trace = trace
        self.orc = _orc.tables(kernel)
        self.flags = 0
        self.process = _stacks.task_stack(kernel, task.stack)
        self.stackbase = self.process.base
        self.stacktop = self.process.top
        self.buf: Sequence[int] = ()
        self.instptr = 0
        self.stkptr = 0
        self.bptr = 0
        self.eframe_ip = 0
        self.frameptr = 0
        self.call_target: str | None = None
        self.note_regs: Mapping[str, int] | None = None
        self.cpu = task.cpu
        #: the starting stack pointer (crash's ``bt_in->stkptr``), for the stack-transition errors.
        self.trace_start = 0
        self.last_process_stack_eframe = 0
        #: (link, pt_regs) when irq_eframe_link had to look past crash's places: the frames between are walked
        self.irq_link_gap: tuple[int, int] | None = None
        self._symbols, self._text = _symbols.answers(kernel)  # shared by the traces of one stop
        if len(self._symbols) > _symbols.ANSWERS_LIMIT:
            self._symbols.clear()
        if len(self._text) > _symbols.ANSWERS_LIMIT:
            self._text.clear()

    # ---- small helpers -----------------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.trace.events.append(event)

    def load(self, base: int, top: int) -> None:
        """Read ``[base, top)`` into the buffer (crash ``alter_stackbuf``)."""
        self.stackbase, self.stacktop = base, top
        if top <= base:
            raise _Fatal(f"read of stack at {base:x} failed")
        if self.k.target.sparse_reads:  # a slow link: the words the walk touches, read as it goes
            self.buf = _StackWords(self.k, base, top)
            return
        try:
            raw = self.k.read(base, top - base)
        except TargetError:
            raise _Fatal(f"read of stack at {base:x} failed") from None
        self.buf = struct.unpack(f"<{len(raw) // 8}Q", raw)

    def word(self, address: int) -> int:
        """The buffered word at *address*, 0 outside the buffer."""
        i = (address - self.stackbase) // 8
        return self.buf[i] if 0 <= i < len(self.buf) else 0

    def instack(self, address: int) -> bool:
        return self.stackbase <= address < self.stacktop

    def lookup(self, address: int) -> Symbol | None:
        """crash ``value_search`` (memoised until the kernel runs or module symbols change: the dump-file
        search looks up every word of several stacks, ``foreach bt`` the same return addresses per task)."""
        if address < 1 << 63:  # every kernel and module symbol is in the upper half
            return None
        try:
            return self._symbols[address]
        except KeyError:
            found = self._symbols[address] = _symbols.lookup(self.k, address)
            return found

    def name_at(self, address: int) -> str | None:
        """crash ``closest_symbol``."""
        sym = self.lookup(address)
        return sym.name if sym is not None else None

    def is_text(self, address: int) -> bool:
        """crash ``is_kernel_text`` (memoised like :meth:`lookup`)."""
        if address < 1 << 63:
            return False
        try:
            return self._text[address]
        except KeyError:
            found = self._text[address] = _symbols.is_kernel_text(self.k, address)
            return found

    def accessible(self, address: int) -> bool:
        try:
            self.k.read(address, 1)
        except TargetError:
            return False
        return True

    def module_name(self, address: int) -> str | None:
        mod = _modules.module_at(self.k, address)
        return mod.name if mod is not None else None

    def is_kvaddr(self, address: int) -> bool:
        return self.ctx.layout.is_kvaddr(address)

    def is_uvaddr(self, address: int) -> bool:
        return self.ctx.layout.is_uvaddr(address)

    def in_irqstack(self) -> int:
        found = _stacks.find_irq_stack(self.k, self.stkptr)
        return found[1].base if found else 0

    def in_exception_stack(self) -> _stacks.ExceptionStack | None:
        return _stacks.find_exception_stack(self.k, self.stkptr)

    def called_by(self, rip: int) -> str | None:
        """crash ``x86_64_function_called_by``: the target of the ``call rel32`` at *rip*."""
        try:
            code = self.k.read(rip, 5)
        except TargetError:
            return None
        if code[0] != 0xE8:
            return None
        target = (rip + 5 + int.from_bytes(code[1:5], "little", signed=True)) & 0xFFFFFFFFFFFFFFFF
        name = self.name_at(target)
        if name in ("schedule_timeout_interruptible", "schedule_timeout_uninterruptible"):
            return "schedule_timeout"
        if name == "__cond_resched":
            return "schedule"
        return name

    # ---- the starting point (crash back_trace → get_*_regs → x86_64_get_stack_frame) ----------------------

    def run(self) -> None:
        k = self.k
        if not self.task.stack:
            self.emit(Message("(no stack)", "text"))
            return
        self.load(self.process.base, self.process.top)
        if not _tasks.is_active(k, self.task.address):
            rip, rsp = self.inactive_frame()
        elif k.target.live and k.target.cpu_registers(self.cpu) is None:
            self.emit(Message("(active)", "text"))  # crash on a running live kernel
            return
        else:
            rip, rsp = self.dumpfile_frame()
        if self.flags & _F.TEXT_SYMBOLS_ALL:
            rsp = self.stackbase + _thread_info_size(k)
            rip = 0
        self.instptr, self.stkptr = rip, rsp
        self.low_budget()

    def inactive_frame(self) -> tuple[int, int]:
        """A sleeping task: ``thread.sp`` points at its ``struct inactive_task_frame``."""
        sp = self.k.read_pointer(self.task.address + self.ctx.thread_sp)
        if self.ctx.has_inactive_frame and self.orc is not None:
            self.bptr = self.word(sp + self.ctx.bp_offset) if self.instack(sp) else 0
        return _schedule_address(self.k), sp

    def dumpfile_frame(self) -> tuple[int, int]:
        """crash ``get_netdump_regs_x86_64`` + ``x86_64_get_dumpfile_stack_frame`` for an active task."""
        k = self.k
        rip = rsp = 0
        regs = k.target.cpu_registers(self.cpu)
        if regs is not None and "rsp" in regs and "rip" in regs:
            r_rsp, r_rip = regs["rsp"], regs["rip"]
            if self.instack(r_rsp) or _stacks.in_alternate_stack(k, self.cpu, r_rsp):
                rip, rsp = r_rip, r_rsp
                if rip and rsp:
                    self.flags |= _F.KDUMP_ELF_REGS
                self.note_regs = regs
        if k.target.live and rip and rsp:
            # A live stub's registers are where the CPU stopped: no search of the stacks for the frame of a
            # panic or crash_kexec (on a running kernel such words are stale; on a slow link the search
            # reads the process, IRQ and exception stacks whole, about 50 KiB).
            self.set_space_flags(rip, rsp)
            return rip, rsp
        return self.search_dumpfile_stacks(rip, rsp)

    def dumpfile_notes_valid(self) -> bool:
        """crash's ``ELF_NOTES_VALID()`` on x86_64: set for kdump-compressed files (flattened ones are read as
        such) that carry the CPUs' notes (diskdump.c), never for ELF files (netdump.c sets it for PPC only). Without it, a CPU that is not the
        panic CPU starts from what the stack scan finds before its register note is considered."""
        return self.k.target.info.format in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED)

    def search_dumpfile_stacks(self, rip: int, rsp: int) -> tuple[int, int]:
        k = self.k
        panic_task = _tasks.panic_task(k) == self.task.address
        ur_rip = ur_rsp = 0
        halt = crash_kexec = call_function = sysrq_c = notify_die = (0, 0)
        panic = False
        stages: list[tuple[int, int, str]] = []  # (base, top, kind) after the process stack
        irq = _stacks.irq_stack(k, self.cpu)
        regs = self.note_regs
        skip_process = False
        if panic_task and regs is not None:
            if self.eframe_verify(0, regs["cs"], regs["ss"], regs["rip"], regs["rsp"], regs["eflags"]):
                self.stkptr = regs["rsp"]
                if self.in_irqstack():
                    ur_rip, ur_rsp = regs["rip"], regs["rsp"]
                    skip_process = True
        elif regs is not None and self.dumpfile_notes_valid():
            ur_rip, ur_rsp = regs["rip"], regs["rsp"]
        if irq is not None:
            stages.append((irq.base, irq.top, "IRQ"))
        for stack in _stacks.exception_stacks(k, self.cpu):
            if stack.available and stack.size:
                stages.append((stack.base, stack.top, stack.name))

        searches: list[tuple[int, int, str]] = (
            [] if skip_process else [(self.process.base, self.process.top, "")]
        )
        searches += stages
        for base, top, kind in searches:
            if kind or skip_process:
                try:
                    raw = k.read(base, top - base)
                except TargetError:
                    raise _Fatal(f"read of stack at {base:x} failed") from None
                words: Sequence[int] = struct.unpack(f"<{len(raw) // 8}Q", raw)
            else:
                words = self.buf
            in_nmi = kind == "NMI"
            after_process = bool(kind) or skip_process
            in_estack = bool(kind) and kind != "IRQ"
            i = 0
            while i < len(words):
                value = words[i]
                slot = base + 8 * i
                name = self.name_at(value)
                if name in _DUMP_ENTRY_FUNCTIONS:
                    if name == "crash_kexec":
                        if self.called_by(value - 5) == "machine_kexec":
                            return value, slot
                        if not self.flags & _F.TEXT_SYMBOLS and not crash_kexec[0]:
                            crash_kexec = (value, slot)
                            i += 1
                            continue
                    return value, slot
                if in_estack and name in ("nmi_watchdog_tick", "default_do_nmi"):
                    if self.called_by(value - 5) == "die_nmi":
                        self.flags |= _F.START
                        return k.symbol("die_nmi"), slot - 7 * 8
                    i += 1
                    continue
                if name == "panic":
                    rip, rsp, panic = value, slot, True
                    i += 1
                    continue
                if name in ("die", "sysrq_handle_crash"):
                    if name == "die":
                        rip, rsp = value, slot
                    later = [
                        j for j in range(i + 1, len(words)) if self.name_at(words[j]) == "sysrq_handle_crash"
                    ]
                    if name == "die" and not later:
                        return rip, rsp
                    last = later[-1] if later else i
                    sysrq_c = (words[last], base + 8 * last)
                    # crash leaves its symbol variable on the stack's last word after this scan.
                    name = self.name_at(words[-1])
                if (
                    not panic_task
                    and after_process
                    and name in ("smp_call_function_interrupt", "stop_this_cpu")
                ):
                    call_function = (value, slot)
                if not panic_task and name == "crash_nmi_callback":
                    return value, slot
                if not panic_task and in_nmi and name == "notify_die" and k.target.vmcoreinfo:
                    notify_die = (value, slot)
                if (
                    not panic_task
                    and self.task.pid == 0
                    and not halt[0]
                    and not after_process
                    and name == "cpu_idle"
                ):
                    halt = (value, slot)
                i += 1
            if panic:
                return rip, rsp
            if crash_kexec[0]:
                return crash_kexec
        for found in (sysrq_c, notify_die):
            if found[0]:
                return found
        if ur_rip and ur_rsp:
            self.set_space_flags(ur_rip, ur_rsp)
            return ur_rip, ur_rsp
        for found in (call_function, halt):
            if found[0] and found[1]:
                return found
        if self.flags & _F.KDUMP_ELF_REGS and regs is not None:
            ur_rip, ur_rsp = regs["rip"], regs["rsp"]
            if (
                _stacks.in_alternate_stack(k, self.cpu, ur_rsp)
                or self.process.base <= ur_rsp < self.process.top
            ):
                self.set_space_flags(ur_rip, ur_rsp)
                return ur_rip, ur_rsp
        return self.inactive_frame()

    def set_space_flags(self, rip: int, rsp: int) -> None:
        in_stack = self.process.base <= rsp < self.process.top
        if self.is_text(rip) and (in_stack or _stacks.in_alternate_stack(self.k, self.cpu, rsp)):
            self.flags |= _F.KERNEL_SPACE
        if not self.is_text(rip) and self.task.mm and self.is_uvaddr(rsp):
            self.flags |= _F.USER_SPACE

    # ---- x86_64_low_budget_back_trace_cmd ---------------------------------------------------------------

    def low_budget(self) -> None:
        ctx = self.ctx
        level = 0
        done = False
        irq_eframe = 0
        self.call_target = None
        rsp = self.stkptr
        self.trace_start = rsp

        if not self.flags & _F.USER_SPACE and (not rsp or not self.accessible(rsp)):
            self.emit(Message("cannot determine starting stack pointer"))
            if self.note_regs is not None:
                self.emit(NoteRegisters(self.note_regs, "none"))
            return

        if self.flags & _F.TEXT_SYMBOLS:
            if self.flags & _F.USER_SPACE and not self.flags & _F.TEXT_SYMBOLS_ALL:
                return
            if not self.flags & _F.TEXT_SYMBOLS_ALL:
                self.emit(TextStart(self.instptr, self.name_at(self.instptr)))
        elif self.flags & _F.USER_SPACE:
            if self.note_regs is not None:
                self.emit(NoteRegisters(self.note_regs, "user"))
            return
        elif self.flags & _F.KERNEL_SPACE:
            if self.note_regs is not None:
                sym = self.lookup(self.instptr)
                message = "" if sym else self.rip_message(self.instptr)
                self.emit(NoteRegisters(self.note_regs, "kernel", sym, message))
        elif self.flags & _F.START:
            self.print_stack_entry(level, 0, self.instptr)
            self.flags &= ~_F.START
            level += 1

        estack = self.in_exception_stack()
        for _ in range(16):  # exception stack → IRQ stack → exception stack …, bounded
            if estack is not None:
                level, done, rsp, irq_eframe, stop = self.walk_exception_stack(estack, level, rsp, irq_eframe)
                if stop:
                    return

            irqstack = self.in_irqstack() if not done else 0
            if irqstack:
                level, done, rsp, irq_eframe = self.walk_irq_stack(irqstack, level, rsp)
            else:
                irq_eframe = 0
            estack = self.in_exception_stack() if not done else None
            if estack is None:
                break

        if not done and self.flags & (_F.EXCEPTION_STACK | _F.IRQSTACK):
            base, top = self.process.base, self.process.top
            if not base <= rsp < top:
                entry = _stacks.kpti_entry_stack(self.k, self.cpu)
                if entry is not None and rsp in entry:
                    self.exception_frame(print_=True, kvaddr=entry.top - ctx.pt_regs_size)
                    self.emit(Separator("entry trampoline stack"))
                    return
                both = self.flags & _F.EXCEPTION_STACK and self.flags & _F.IRQSTACK
                if both:
                    raise _Fatal(
                        "cannot transition from exception stack to IRQ stack to current process stack:\n"
                        f"    exception stack pointer: {self.trace_start:x}\n"
                        f"          IRQ stack pointer: {self.stkptr:x}\n"
                        f"      process stack pointer: {rsp:x}\n"
                        f"         current stack base: {base:x}"
                    )
                if self.flags & _F.EXCEPTION_STACK:
                    if self.task.mm and self.is_uvaddr(rsp):
                        done = True
                    elif self.name_at(self.instptr) == "ia32_sysenter_target":
                        if rsp == 0:
                            return
                        done = True
                    else:
                        raise _Fatal(
                            "cannot transition from exception stack to current process stack:\n"
                            f"    exception stack pointer: {self.trace_start:x}\n"
                            f"      process stack pointer: {rsp:x}\n"
                            f"         current stack base: {base:x}"
                        )
                else:
                    raise _Fatal(
                        "cannot transition from IRQ stack to current process stack:\n"
                        f"        IRQ stack pointer: {self.trace_start:x}\n"
                        f"    process stack pointer: {rsp:x}\n"
                        f"       current stack base: {base:x}"
                    )
            self.load(base, top)

        # A blocked task: start at inactive_task_frame.ret_addr (the ORC way of crash 8.0.3+).
        blocked = self.name_at(self.instptr) in ("thread_return", "schedule", "__schedule")
        if blocked and not done and not self.flags & (_F.TEXT_SYMBOLS | _F.EXCEPTION_STACK | _F.IRQSTACK):
            rsp += ctx.ret_addr_offset

        if irq_eframe and self.irq_link_gap is not None and self.irq_link_gap[1] == irq_eframe:
            # the idtentry's C function (sysvec_*), whose return address the IRQ stack's link leads to
            level, _, _ = self.walk(level, self.irq_link_gap[0], irq_eframe - 8, process=True)
        if irq_eframe:
            level, done, rsp, irq_eframe = self.process_irq_eframe(irq_eframe, level, rsp)

        self.flags &= ~_F.FRAMESIZE_DISABLE
        if not done:
            level, done, rsp = self.walk(level, rsp, self.stacktop, process=True)

        if not irq_eframe and not self.task.is_kthread and self.stackbase == self.process.base and self.buf:
            user_eframe = self.stacktop - _layout.top_of_stack_padding(self.k) - ctx.pt_regs_size
            if self.last_process_stack_eframe < user_eframe:
                self.exception_frame(print_=True, local=user_eframe)

    def walk_exception_stack(
        self, estack: _stacks.ExceptionStack, level: int, rsp: int, irq_eframe: int
    ) -> tuple[int, bool, int, int, bool]:
        """The exception-stack part of the low-budget tracer; returns (level, done, rsp, irq_eframe, stop)."""
        ctx = self.ctx
        self.flags |= _F.EXCEPTION_STACK
        self.load(estack.base, estack.top)
        done = False
        if irq_eframe:
            self.flags |= _F.EXCEPTION_FRAME
            self.print_stack_entry(level, (irq_eframe - self.stackbase) // 8, self.instptr)
            self.flags &= ~_F.EXCEPTION_FRAME
            self.exception_frame(print_=True, local=irq_eframe)
            rsp += ctx.pt_regs_size
            if self.eframe_ip:
                size = self.framesize(self.eframe_ip, rsp, None)
                if size >= 0:
                    rsp += size
            level += 1
            irq_eframe = 0

        stacktop = self.stacktop - ctx.pt_regs_size
        if ctx.nested_nmi and estack.name == "NMI":
            stacktop -= 12 * 8
        self.flags &= ~_F.FRAMESIZE_DISABLE
        level, done, rsp = self.walk(level, rsp, stacktop)

        cs = self.exception_frame(print_=True, local=stacktop)
        self.emit(Separator(f"{estack.name} exception stack"))

        up = self.stacktop - 5 * 8
        if ctx.nested_nmi and estack.name == "NMI" and self.stkptr <= self.stacktop - 17 * 8:
            up -= 12 * 8
            if self.word(up) == ctx.repeat_nmi:  # copied and saved regs swapped before 3.8
                up += 5 * 8
        rsp = self.stkptr = self.word(up + 3 * 8)
        self.instptr = self.word(up)
        done = bool(cs & 3)
        self.frameptr = 0
        if not done:
            self.flags |= _F.START | _F.SAVE_EFRAME_IP
            self.print_stack_entry(level, 0, self.instptr)
            self.flags &= ~(_F.START | _F.SAVE_EFRAME_IP | _F.FRAMESIZE_DISABLE)
            again = self.in_exception_stack()
            if again is not None and again.base == estack.base:
                self.emit(
                    Message(
                        f"    [ {estack.name} exception stack recursion: prior stack location overwritten ]",
                        "text",
                    )
                )
                return level, done, rsp, irq_eframe, True
            level += 1
            size = self.framesize(self.instptr, rsp, None)
            if size >= 0:
                rsp += size
        return level, done, rsp, irq_eframe, False

    def walk_irq_stack(self, irqstack: int, level: int, rsp: int) -> tuple[int, bool, int, int]:
        """The IRQ-stack part of the low-budget tracer; returns (level, done, rsp, irq_eframe)."""
        self.flags |= _F.IRQSTACK
        found = _stacks.find_irq_stack(self.k, irqstack)
        top = found[1].top if found else irqstack + _stacks.irq_stack_size(self.k)
        self.load(irqstack, top)
        stacktop = self.stacktop  # irq_stack_gap is 0 since 4.9
        self.flags &= ~_F.FRAMESIZE_DISABLE
        level, _, rsp = self.walk(level, rsp, stacktop)
        self.emit(Separator("IRQ stack"))
        up = stacktop - 8
        irq_eframe = rsp = self.stkptr = self.irq_eframe_link(self.word(up))
        self.instptr = self.word(up - 8)
        sym = self.lookup(self.instptr)
        if sym is not None and sym.name in ("do_softirq", "do_softirq_own_stack", "call_softirq"):
            irq_eframe = 0
        self.frameptr = 0
        return level, False, rsp, irq_eframe

    def process_irq_eframe(self, irq_eframe: int, level: int, rsp: int) -> tuple[int, bool, int, int]:
        """Print the IRQ's exception frame found on the process stack (after an IRQ stack); returns
        (level, done, rsp, irq_eframe) — *irq_eframe* stays set for an IRQ from user mode."""
        ctx = self.ctx
        done = False
        self.flags |= _F.EXCEPTION_FRAME
        i = (irq_eframe - self.stackbase) // 8
        if ctx.asm_common_interrupt:
            i -= 1
            self.instptr = self.buf[i] if 0 <= i < len(self.buf) else 0
        self.print_stack_entry(level, i, self.instptr)
        self.flags &= ~_F.EXCEPTION_FRAME
        cs = self.exception_frame(print_=True, local=irq_eframe)
        if cs & 3:
            done = True
        else:
            rsp += ctx.pt_regs_size
            irq_eframe = 0
            self.flags |= _F.EFRAME_TARGET
            if self.eframe_ip:
                size = self.framesize(self.eframe_ip, rsp, None)
                if size >= 0:
                    rsp += size
            self.flags &= ~_F.EFRAME_TARGET
        return level + 1, done, rsp, irq_eframe

    def walk(self, level: int, rsp: int, stacktop: int, process: bool = False) -> tuple[int, bool, int]:
        """crash's word-by-word loop from *rsp* up to *stacktop*: print each text word that makes a frame,
        skip the frame's size after it.  On the *process* stack the frame that saved %rbp updates the
        tracked %rbp (crash passes ``stack_ptr``), and the last exception frame is remembered."""
        ctx = self.ctx
        done = False
        i = (rsp - self.stackbase) // 8
        while not done and rsp < stacktop:
            value = self.buf[i] if 0 <= i < len(self.buf) else 0
            up = self.stackbase + 8 * i
            if self.is_text(value):
                result = self.print_stack_entry(level, i, value)
                if result == _EFRAME_DISPLAYED:
                    if process:
                        self.last_process_stack_eframe = rsp + 8
                    rsp += ctx.pt_regs_size
                    i += ctx.pt_regs_size // 8
                    if not self.eframe_ip:
                        level += 1
                        result = _IGNORED
                    else:
                        result = _DISPLAYED
                if result == _DISPLAYED:
                    level += 1
                    size = self.framesize(self.eframe_ip or value, rsp, up if process else None)
                    if size >= 0:
                        rsp += size
                        i += size // 8
                elif result == _COMPLETE:
                    done = True
            i += 1
            rsp += 8
        return level, done, rsp

    def irq_eframe_link(self, stkref: int) -> int:
        """crash ``x86_64_irq_eframe_link``: where the IRQ's pt_regs is, near *stkref*."""
        if self.exception_frame(verify=True, kvaddr=stkref):
            return stkref
        eframe = stkref - self.ctx.irq_eframe_link
        if self.exception_frame(verify=True, kvaddr=eframe):
            return eframe
        for delta in (8, -8, 16, -16):
            if self.exception_frame(verify=True, kvaddr=eframe + delta):
                return eframe + delta
        # Beyond crash, which prints the unverified frame with "possibly bogus exception frame": 5.8-5.10's
        # asm_call_on_stack links to its saved %rbp, and the idtentry's C frame (of any size) lies between
        # that and the pt_regs.  The first frame that verifies above the link, within a page, is the IRQ's.
        for found in range(stkref + 8, stkref + _IRQ_EFRAME_SEARCH, 8):
            if self.exception_frame(verify=True, kvaddr=found):
                self.irq_link_gap = (stkref, found)
                return found
        return eframe

    # ---- x86_64_print_stack_entry ------------------------------------------------------------------------

    def print_stack_entry(self, level: int, index: int, text: int) -> int:
        eframe_check = -1
        if not self.flags & _F.SAVE_EFRAME_IP:
            self.eframe_ip = 0
        sym = self.lookup(text)
        if sym is None:
            return _IGNORED
        name = sym.name
        offset = text - sym.address
        slot = self.stackbase + 8 * index
        if self.flags & _F.TEXT_SYMBOLS:
            sp = self.stkptr if self.flags & _F.EXCEPTION_FRAME else slot
            self.emit(TextSymbol(sp, text, sym, self.module_name(text)))
            return _DISPLAYED
        if not offset and not self.flags & (_F.EXCEPTION_FRAME | _F.START):
            if name == "error_exit":
                eframe_check = 8
            else:
                return _IGNORED
        if eframe_check == -1 and offset and not self.flags & (_F.EXCEPTION_FRAME | _F.START):
            if name in self.ctx.exception_functions:
                eframe_check = 8
            if self.in_irqstack() and "_interrupt" in name:
                eframe_check = 0
        result = _COMPLETE if name in ("cpu_idle", "system_call_fastpath") else _DISPLAYED
        sp = self.stkptr if self.flags & (_F.EXCEPTION_FRAME | _F.START) else slot
        words: tuple[tuple[int, int], ...] = ()
        if self.frameptr and self.frameptr <= sp and self.instack(sp) and self.instack(self.frameptr):
            words = tuple((a, self.word(a)) for a in range(self.frameptr, sp + 8, 8))
        self.frameptr = sp + 8
        self.emit(
            Frame(
                level,
                sp,
                text,
                name,
                sym,
                self.module_name(text),
                bool(self.flags & _F.FRAMESIZE_DISABLE),
                words,
            )
        )
        if eframe_check >= 0 and self.exception_frame(print_=True, verify=True, kvaddr=slot + eframe_check):
            result = _EFRAME_DISPLAYED
        self.call_target = name
        return result

    # ---- exception frames --------------------------------------------------------------------------------

    def exception_frame(
        self, *, print_: bool = False, verify: bool = False, kvaddr: int = 0, local: int = 0
    ) -> int:
        """crash ``x86_64_exception_frame`` for the pt_regs at *kvaddr* (read from memory) or *local* (an
        address inside the current stack buffer).  Returns CS when printing without verifying, else
        whether the frame verified."""
        ctx = self.ctx
        address = kvaddr or local
        if verify and not (self.accessible(address) and self.accessible(address + ctx.pt_regs_size - 8)):
            return 0
        if kvaddr:
            try:
                raw = self.k.read(kvaddr, ctx.pt_regs_size)
            except TargetError:
                raise _Fatal(f'invalid kernel virtual address: {kvaddr:x}  type: "pt_regs"') from None
            regs = {n: int.from_bytes(raw[o : o + 8], "little") for n, o in ctx.pt_regs.items()}
        else:
            regs = {n: self.word(local + o) for n, o in ctx.pt_regs.items()}
        verified = self.eframe_verify(
            address, regs["cs"], regs["ss"], regs["rip"], regs["rsp"], regs["eflags"]
        )
        if print_ and (verified or not verify):
            sym = None
            message = ""
            search = bool(self.flags & _F.EFRAME_SEARCH)
            if not regs["cs"] & 3:
                sym = self.lookup(regs["rip"])
                if sym is None:
                    message = self.rip_message(regs["rip"])
                elif not search:
                    self.eframe_ip = regs["rip"]
            self.emit(ExceptionFrame(address, regs, sym, message, search))
            if not verified:  # crash warns at run time (its CRASHDEBUG(0) is always true)
                self.emit(Message("possibly bogus exception frame", "warning"))
        if self.orc is not None:
            self.bptr = regs["rbp"]
        if print_ and not verify:
            return regs["cs"]
        return int(verified)

    def rip_message(self, rip: int) -> str:
        if self.ctx.layout.is_vmalloc_addr(rip) and self.accessible(rip):
            return "no symbolic reference"
        return "unknown or invalid address"

    def eframe_verify(self, kvaddr: int, cs: int, ss: int, rip: int, rsp: int, rflags: int) -> bool:
        """crash ``x86_64_eframe_verify``: do the registers look like a real exception frame?"""
        size = self.ctx.pt_regs_size
        if rflags & _RAZ_MASK or not rflags & 0x2:
            return False
        text = self.is_text(rip)
        if cs == 0x10 and ss == 0x18:
            if text and self.is_kvaddr(rsp):
                return True
            if self.ctx.layout.is_module_addr(rip) and self.is_kvaddr(rsp) and rsp == kvaddr + size:
                return True
            if text and self.flags & _F.EXCEPTION_STACK and self.task.mm and self.is_uvaddr(rsp):
                return True
            estack = self.in_exception_stack()
            if text and estack is not None and estack.index <= 1:
                return True
            if self.name_at(rip) == "ia32_sysenter_target":
                return True
            if rip == 0 and self.instack(rsp) and self.call_target == "ret_from_fork":
                return True
            if kvaddr and self.accessible(kvaddr - 8):
                exception = self.k.read_pointer(kvaddr - 8)
                if self.name_at(exception) == "page_fault":
                    return True
            if kvaddr + size == rsp:
                return True
        if cs == 0x10 and kvaddr:
            if text and self.is_kvaddr(rsp) and rsp in (kvaddr + size + 8, kvaddr + size):
                return True
            if text and self.is_kvaddr(rsp) and self.in_exception_stack() is not None:
                return True
            if self.is_kvaddr(rsp) and self.ctx.layout.is_vmalloc_addr(rip) and self.accessible(rip):
                return True
        if cs == 0x33 and ss == 0x2B and self.is_uvaddr(rip) and self.is_uvaddr(rsp):
            return True
        return cs == 0x23 and ss == 0x2B and self.is_uvaddr(rip) and self.is_uvaddr(rsp)

    # ---- frame sizes (x86_64_get_framesize) --------------------------------------------------------------

    def framesize(self, textaddr: int, rsp: int, up: int | None) -> int:
        """How many bytes the frame whose return address is *textaddr* occupies above the slot *rsp*.

        :param up: the address of the slot the tracer is on (crash's ``stack_ptr``), or ``None``: with it
            a frame that saved ``%rbp`` updates the tracked ``%rbp`` from the stack.
        """
        if self.flags & _IGNORE_FRAMESIZE:
            return 0
        sym = self.lookup(textaddr)
        if sym is None:
            self.flags |= _F.FRAMESIZE_DISABLE
            return 0
        exception = self.eframe_ip == textaddr
        if self.flags & _F.EFRAME_TARGET:
            found = self.eframe_target_caller(rsp)
            if found is not None:
                return found
        cache = self.ctx.framesizes
        cached = cache.get(textaddr)
        if cached is not None and cached[1] == exception:
            if cached[0] == -1:
                self.flags |= _F.FRAMESIZE_DISABLE
            return cached[0]
        if sym.name == "irq_entries_start":  # one pushq $imm8 and a jmp per vector
            try:
                size = 0 if self.k.read(textaddr, 1)[0] == 0x6A else 8
            except TargetError:
                size = 8
            cache[textaddr] = (size, exception)
            return size
        if self.ctx.init_range[0] <= sym.address < self.ctx.init_range[1]:
            return 0
        entry = self.orc_find(textaddr)
        if entry is not None and self.orc is not None and entry.type == self.orc.type_call:
            size = self.orc_framesize(entry, rsp, up)
            if size >= 0:
                return size  # not cached: it may vary with %rbp
        size = self.disassembly_framesize(sym, textaddr, exception)
        if size == -1:
            cache.pop(textaddr, None)
            return 0
        cache[textaddr] = (size, exception)
        return size

    def orc_find(self, ip: int) -> _orc.OrcEntry | None:
        if self.orc is None:
            return None
        if not self.orc.in_text(ip):
            self.emit(Message(f"{ip:x}: ip is outside kernel and module text ranges", "warning"))
            return None
        return self.orc.find(ip)

    def orc_framesize(self, entry: _orc.OrcEntry, rsp: int, up: int | None) -> int:
        """crash 8.0.3+: size a call frame from ORC, following ``%rbp`` (``bt->bptr``)."""
        size = -1
        prev_sp = 0
        if entry.sp_reg == _orc.ORC_REG_SP:
            size = entry.sp_offset - 8
            prev_sp = rsp + 8 + entry.sp_offset
        elif entry.sp_reg == _orc.ORC_REG_BP and self.bptr and self.instack(self.bptr):
            prev_sp = self.bptr + entry.sp_offset
            size = prev_sp - (rsp + 8) - 8
        if entry.bp_reg == _orc.ORC_REG_PREV_SP and prev_sp:
            prev_bp = prev_sp + entry.bp_offset
            if up is not None and self.instack(prev_bp):
                # crash reads *(stack_ptr + (prev_bp - rsp)); after an exception frame its stack_ptr is
                # still the slot of the entry function while rsp moved past the pt_regs.
                self.bptr = self.word(up + (prev_bp - rsp))
            else:
                self.bptr = 0
        elif entry.bp_reg != _orc.ORC_REG_UNDEFINED:
            self.bptr = 0
        return _int32(size)

    def disassembly_framesize(self, sym: Symbol, textaddr: int, exception: bool) -> int:
        """crash's fallback: add up pushes, pops and ``%rsp`` adjustments from the function's start."""
        count = min(textaddr - sym.address, 1 << 20)
        try:
            code = self.k.read(sym.address, count + 16)
        except TargetError:
            try:
                code = self.k.read(sym.address, count)
            except TargetError:
                self.flags |= _F.FRAMESIZE_DISABLE
                return 0
        framesize = largest = 0
        pos = 0
        for _ in range(count):  # gdb "x/<count>i"
            current = sym.address + pos
            if current > textaddr or (current == textaddr and not exception) or pos >= len(code):
                break
            insn = decode(code, pos)
            pos += insn.length
            kind = insn.kind
            if kind is Kind.PUSH:
                framesize += 8
                largest = framesize
            elif kind in (Kind.POP, Kind.LEAVE):
                if framesize > 0:
                    framesize -= 8
            elif kind is Kind.ADD_RSP:
                if framesize > 0:
                    framesize = _int32(framesize - insn.imm)
            elif kind is Kind.SUB_RSP:
                framesize = _int32(framesize + insn.imm)
                largest = framesize
            elif kind is Kind.RET and not exception:
                framesize = largest
        return framesize

    def eframe_target_caller(self, stkptr: int) -> int | None:
        """crash ``search_for_eframe_target_caller``: after an IRQ's exception frame, the distance to the
        return address of a call to the interrupted function."""
        sym = self.lookup(self.eframe_ip)
        if sym is None:
            return None
        rsp = stkptr
        while rsp < self.stacktop:
            value = self.word(rsp)
            if self.is_text(value):
                caller = self.lookup(value)
                real = caller is not None and (value != caller.address or self.flags & _F.FRAMESIZE_DISABLE)
                if real and self.called_by(value - 5) == sym.name:
                    return rsp - stkptr
            rsp += 8
        return None


# ---- module helpers ---------------------------------------------------------------------------------------


class _StackWords(Sequence[int]):
    """The 64-bit words of the stack ``[base, top)``, read in aligned :data:`STACK_CHUNK`-byte pieces when
    first indexed (a word that cannot be read is 0, as a word outside the buffer is): on a slow link the
    tracer reads the few hundred bytes a back trace walks, not the whole 16 KiB stack."""

    def __init__(self, kernel: Kernel, base: int, top: int) -> None:
        self._kernel = kernel
        self._base = base
        self._len = (top - base) // 8
        self._chunks: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        per = STACK_CHUNK // 8
        chunk = self._chunks.get(i // per)
        if chunk is None:
            start = self._base + (i // per) * STACK_CHUNK
            count = min(per, self._len - (i // per) * per)
            try:
                raw = self._kernel.read(start, 8 * count)
                chunk = struct.unpack(f"<{count}Q", raw)
            except TargetError:
                chunk = (0,) * count
            self._chunks[i // per] = chunk
        return chunk[i % per]


#: Bytes of stack :class:`_StackWords` reads at a time.
STACK_CHUNK = 256


def _int32(value: int) -> int:
    """C's ``int`` truncation of a frame size."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _thread_info_size(kernel: Kernel) -> int:
    try:
        return kernel.sizeof("struct thread_info")
    except TypeNotFound:
        return 0


def _schedule_address(kernel: Kernel) -> int:
    """crash's ``thread_return``: the pc of a blocked task, only used for its symbol (``__schedule``)."""

    def compute() -> int:
        for name in ("thread_return", "__schedule", "schedule"):
            if kernel.has_symbol(name):
                return kernel.symbol(name)
        return 0

    return kernel.memo("unwind:thread_return", compute)
