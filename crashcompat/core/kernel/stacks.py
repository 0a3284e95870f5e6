"""Kernel stacks on x86_64: task stacks, per-CPU hard-IRQ stacks, IST exception stacks, and the KPTI entry
stack, with the bounds and names crash uses (x86_64.c ``x86_64_per_cpu_init``, ``x86_64_ist_init``,
``x86_64_exception_stacks_init``, ``x86_64_entry_trampoline_init``).

* Task stacks: ``task->stack`` and ``THREAD_SIZE`` (crash's ``STACKSIZE()``,
  :func:`crashcompat.core.kernel.layout.thread_size`).
* IRQ stacks: the per-CPU ``hardirq_stack_ptr`` points 8 bytes below the top of the CPU's
  ``struct irq_stack`` (arch/x86/kernel/irq_64.c); it moved into ``struct pcpu_hot`` in v6.2
  ("x86/percpu: Move irq_stack variables next to current_task"), which is tried first.
* Exception stacks: each CPU's TSS ``ist[]`` holds the top of each IST stack; the stack sizes are the
  members of ``struct cea_exception_stacks`` (v5.2+, "x86/exceptions: Add structs for exception
  stacks"; crash falls back on ``struct exception_stacks``).  The names come, as in crash, from the
  IDT entries that use each IST slot (``NMI``, ``DEBUG``, ``DOUBLEFAULT``, ``STACKFAULT``, ``MCE``,
  ``VC``).
* The KPTI entry stack (``entry_stack_storage``) is known only where ``struct entry_stack`` has the
  ``words`` member (4.15 to 4.x), as in crash; 6.1 has ``char stack[PAGE_SIZE]``, so crash (and this
  module) never treats an address as on the entry stack there.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel import symbols as _symbols
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "MAX_EXCEPTION_STACKS",
    "ExceptionStack",
    "StackRange",
    "exception_stacks",
    "find_exception_stack",
    "find_irq_stack",
    "in_alternate_stack",
    "irq_stack",
    "irq_stack_size",
    "kpti_entry_stack",
    "task_stack",
]

#: crash's MAX_EXCEPTION_STACKS: the size of the TSS ``ist[]`` array.
MAX_EXCEPTION_STACKS = 7

#: IDT handler name fragment → crash's stack name, applied in this order (a later match wins).
_IST_NAMES = (
    ("nmi", "NMI"),
    ("debug", "DEBUG"),
    ("stack", "STACKFAULT"),
    ("double", "DOUBLEFAULT"),
    ("machine", "MCE"),
    ("vmm", "VC"),
)
#: crash's stack name → member of ``struct cea_exception_stacks`` giving its size.
_SIZE_MEMBERS = {
    "DEBUG": "DB_stack",
    "NMI": "NMI_stack",
    "DOUBLEFAULT": "DF_stack",
    "MCE": "MCE_stack",
    "VC": "VC_stack",
}


@dataclass(frozen=True)
class StackRange:
    """``[base, top)`` of one stack."""

    base: int
    top: int

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.base <= address < self.top

    @property
    def size(self) -> int:
        return self.top - self.base


@dataclass(frozen=True)
class ExceptionStack(StackRange):
    """One IST stack of one CPU.

    :param index: its slot in the TSS ``ist[]`` array (crash's estack index).
    :param name: crash's name (``NMI``, ``DEBUG``, ``DOUBLEFAULT``, ``MCE``, ``VC``, ``(unknown)``).
    :param available: ``False`` for a VC stack that is not mapped (SEV-ES off), as crash checks.
    """

    cpu: int = 0
    index: int = 0
    name: str = "(unknown)"
    available: bool = True


def task_stack(kernel: Kernel, stack: int) -> StackRange:
    """The kernel stack whose base is *stack* (``task->stack``, :attr:`Task.stack`)."""
    return StackRange(stack, stack + _layout.thread_size(kernel))


# ---- IRQ stacks -----------------------------------------------------------------------------------------


def irq_stack_size(kernel: Kernel) -> int:
    """``IRQ_STACK_SIZE``: the size of ``struct irq_stack``'s ``stack`` member, else
    :data:`~crashcompat.core.kernel.layout.IRQ_STACK_SIZE_DEFAULT`."""
    try:
        return int(kernel.member("struct irq_stack", "stack").size)
    except TypeNotFound:
        return _layout.IRQ_STACK_SIZE_DEFAULT


def _irq_stacks(kernel: Kernel) -> dict[int, StackRange]:
    def compute() -> dict[int, StackRange]:
        size = irq_stack_size(kernel)
        try:  # v6.2+: pcpu_hot.hardirq_stack_ptr
            # (the type first: a missing type is a hash lookup, a missing symbol a scan of the symbol table)
            base = kernel.offsetof("struct pcpu_hot", "hardirq_stack_ptr") + kernel.symbol("pcpu_hot")
        except (SymbolNotFound, TypeNotFound):
            try:
                base = kernel.symbol("hardirq_stack_ptr")
            except SymbolNotFound:
                return {}
        out: dict[int, StackRange] = {}
        for cpu in kernel.possible_cpus():
            try:
                ptr = kernel.read_pointer(base + kernel.per_cpu_offset(cpu))
            except FaultError:
                continue
            if not ptr:
                continue
            if ptr & 0xFFF:  # points 8 bytes below the top (irq_64.c: va + IRQ_STACK_SIZE - 8)
                ptr += 8
            out[cpu] = StackRange(ptr - size, ptr)
        return out

    return kernel.memo("stacks:irq", compute)


def irq_stack(kernel: Kernel, cpu: int) -> StackRange | None:
    """*cpu*'s hard-IRQ stack, or ``None`` when unknown."""
    return _irq_stacks(kernel).get(cpu)


def find_irq_stack(kernel: Kernel, address: int) -> tuple[int, StackRange] | None:
    """(cpu, stack) of the IRQ stack holding *address* (crash ``x86_64_in_irqstack``: any CPU)."""
    for cpu, stack in sorted(_irq_stacks(kernel).items()):
        if address in stack:
            return cpu, stack
    return None


# ---- exception stacks -----------------------------------------------------------------------------------


def _ist_names(kernel: Kernel) -> list[str]:
    """crash's names for ``ist[0..6]``, from the IDT entries that use an IST slot."""
    names = ["(unknown)"] * MAX_EXCEPTION_STACKS
    try:
        gate = kernel.sizeof("struct gate_struct")
    except TypeNotFound:
        gate = 16
    # Linux gives an IST slot to exceptions only (arch/x86/kernel/idt.c ``ist_idts``: #DB, NMI, #DF, #MC,
    # #VC): on a slow link the first 32 gates, not all 256 (4 KiB), are read.
    vectors = 32 if kernel.target.sparse_reads else 256
    try:
        raw = kernel.read(kernel.symbol("idt_table"), gate * vectors)
    except (SymbolNotFound, FaultError):
        return names
    for vector in range(vectors):
        entry = raw[vector * gate : vector * gate + 16]
        ist = entry[4] & 7
        if not ist:
            continue
        handler = (
            int.from_bytes(entry[0:2], "little")
            | int.from_bytes(entry[6:8], "little") << 16
            | int.from_bytes(entry[8:12], "little") << 32
        )
        sym = _symbols.lookup(kernel, handler)
        text = sym.name if sym is not None else ""
        for fragment, name in _IST_NAMES:
            if fragment in text:
                names[ist - 1] = name
    return names


def _exception_stacks(kernel: Kernel) -> dict[int, list[ExceptionStack]]:
    def compute() -> dict[int, list[ExceptionStack]]:
        names = _ist_names(kernel)
        sizes = [0] * MAX_EXCEPTION_STACKS
        for struct_name in ("struct cea_exception_stacks", "struct exception_stacks"):
            if kernel.has_member(struct_name, "NMI_stack"):
                for i, name in enumerate(names):
                    member = _SIZE_MEMBERS.get(name)
                    if member and kernel.has_member(struct_name, member):
                        sizes[i] = kernel.member(struct_name, member).size
                break
        try:
            tss = kernel.symbol("cpu_tss_rw")
            ist_offset = kernel.offsetof("struct tss_struct", "x86_tss.ist")
        except (SymbolNotFound, TypeNotFound):
            return {}
        out: dict[int, list[ExceptionStack]] = {}
        for cpu in kernel.possible_cpus():
            try:
                tops = kernel.target.read_pointers(tss + kernel.per_cpu_offset(cpu) + ist_offset, 7)
            except FaultError:
                continue
            stacks = []
            for i, top in enumerate(tops):
                if not top:  # crash stops at the first empty slot
                    break
                available = True
                if names[i] == "VC":
                    try:
                        kernel.read(top - sizes[i], 1)
                    except TargetError:
                        available = False
                stacks.append(ExceptionStack(top - sizes[i], top, cpu, i, names[i], available))
            out[cpu] = stacks
        return out

    return kernel.memo("stacks:exception", compute)


def exception_stacks(kernel: Kernel, cpu: int) -> list[ExceptionStack]:
    """*cpu*'s IST stacks in ``ist[]`` order (empty ones — unknown names — have size 0)."""
    return _exception_stacks(kernel).get(cpu, [])


def find_exception_stack(kernel: Kernel, address: int) -> ExceptionStack | None:
    """The exception stack holding *address* on any CPU (crash ``x86_64_in_exception_stack``: each
    CPU's stacks are searched in order up to the first unavailable one)."""
    for _, stacks in sorted(_exception_stacks(kernel).items()):
        for stack in stacks:
            if not stack.available:
                break
            if address in stack:
                return stack
    return None


def in_alternate_stack(kernel: Kernel, cpu: int, address: int) -> bool:
    """crash ``x86_64_in_alternate_stack``: *address* is on *cpu*'s IRQ stack or one of its IST stacks."""
    irq = irq_stack(kernel, cpu)
    if irq is not None and address in irq:
        return True
    return any(address in stack for stack in exception_stacks(kernel, cpu))


def kpti_entry_stack(kernel: Kernel, cpu: int) -> StackRange | None:
    """*cpu*'s KPTI entry (trampoline) stack, on the kernels where crash knows it (see the module
    docstring), else ``None``."""
    if not (kernel.has_symbol("pti_init") or kernel.has_symbol("kaiser_init")):
        return None
    if not kernel.has_member("struct entry_stack", "words"):
        return None
    try:
        base = kernel.per_cpu_address("entry_stack_storage", cpu) + kernel.offsetof(
            "struct entry_stack_page", "stack"
        )
        size = kernel.member("struct entry_stack", "words").size
    except (SymbolNotFound, TypeNotFound, FaultError):
        return None
    return StackRange(base, base + (size or 512))
