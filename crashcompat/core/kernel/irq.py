"""Interrupt descriptors as crash reads them (kernel.c ``get_irq_desc_addr``, ``generic_dump_irq``,
``generic_get_irq_affinity``, ``generic_show_interrupts``, ``display_bh_4``).

Layouts: with SPARSE_IRQ the descriptors live in the radix tree ``irq_desc_tree`` (an xarray since 4.20)
until 6.5, then in the maple tree ``sparse_irqs`` (commit 721255b9826b "genirq: Use a maple tree for
interrupt descriptor management"); without it in the array ``irq_desc[]``.  ``nr_irqs`` bounds the
numbers.  A descriptor has ``action`` (a chain of ``struct irqaction`` by ``next`` with ``name``),
``irq_data.chip`` (``struct irq_chip`` with ``name``), ``name`` (the flow handler's), ``kstat_irqs``
(per-CPU ``unsigned int``) and ``irq_common_data.affinity`` (a ``cpumask_var_t``: a pointer with
CPUMASK_OFFSTACK).  ``softirq_vec[]`` holds ``struct softirq_action { action }``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import xarray_for_each
from crashcompat.core.target import FaultError

__all__ = [
    "IrqDesc",
    "irq_affinity",
    "irq_count",
    "irq_counts",
    "irq_desc",
    "irq_descs",
    "read_irq",
    "softirq_actions",
]


def irq_count(kernel: Kernel) -> int:
    """crash's ``machdep->nr_irqs`` on x86_64: the length of ``irq_desc[]``, else ``nr_irqs``, else 224."""
    if kernel.has_symbol("irq_desc"):
        sym = kernel.target.lookup_symbol("irq_desc")
        return sym.size // kernel.sizeof("struct irq_desc")
    if kernel.has_symbol("nr_irqs"):
        return kernel.read_global_u32("nr_irqs")
    return 224


def irq_descs(kernel: Kernel) -> dict[int, int]:
    """``{irq: struct irq_desc *}`` of every allocated descriptor."""

    def compute() -> dict[int, int]:
        if kernel.has_symbol("irq_desc"):
            size = kernel.sizeof("struct irq_desc")
            base = kernel.symbol("irq_desc")
            return {i: base + i * size for i in range(irq_count(kernel))}
        if kernel.has_symbol("irq_desc_tree"):
            return dict(xarray_for_each(kernel, kernel.symbol("irq_desc_tree"), on_error="stop"))
        if kernel.has_symbol("sparse_irqs"):
            from crashcompat.core.kernel.mm import maple_tree_entries

            irq_off = kernel.offsetof("struct irq_desc", "irq_data.irq")
            out = {}
            for desc in maple_tree_entries(kernel, kernel.symbol("sparse_irqs")):
                out[kernel.target.read_u32(desc + irq_off)] = desc
            return out
        return {}

    return kernel.memo("irq:descs", compute)


def irq_desc(kernel: Kernel, irq: int) -> int:
    """The ``struct irq_desc *`` of *irq*, 0 when it has none."""
    return irq_descs(kernel).get(irq, 0)


@dataclass(frozen=True)
class IrqDesc:
    """One descriptor: :param actions: ``(struct irqaction *, name or None)`` along the chain;
    :param chip_name: ``irq_data.chip->name``; :param flow_name: ``desc->name``; :param counts:
    ``{cpu: kstat_irqs}``; :param affinity: the CPUs of its affinity mask."""

    irq: int
    address: int
    actions: list[tuple[int, str | None]]
    chip_name: str | None
    flow_name: str | None


def _string(kernel: Kernel, pointer: int) -> str | None:
    if not pointer:
        return None
    try:
        return kernel.read_cstring(pointer, 1499)
    except FaultError:
        return None


def read_irq(kernel: Kernel, irq: int, desc: int) -> IrqDesc:
    """The :class:`IrqDesc` of a ``struct irq_desc *``.  Raises FaultError."""
    d = kernel.struct("struct irq_desc", desc)
    actions: list[tuple[int, str | None]] = []
    action = d.ptr("action")
    name_off = kernel.offsetof("struct irqaction", "name")
    next_off = kernel.offsetof("struct irqaction", "next")
    while action and len(actions) < 1024:
        actions.append((action, _string(kernel, kernel.read_pointer(action + name_off))))
        action = kernel.read_pointer(action + next_off)
    chip = d.ptr("irq_data.chip")
    chip_name = (
        _string(kernel, kernel.read_pointer(chip + kernel.offsetof("struct irq_chip", "name")))
        if chip
        else None
    )
    flow = _string(kernel, d.ptr("name")) if d.has("name") else None
    return IrqDesc(irq, desc, actions, chip_name, flow)


def irq_counts(kernel: Kernel, desc: int, cpus: list[int]) -> dict[int, int]:
    """``*per_cpu_ptr(desc->kstat_irqs, cpu)`` for each of *cpus*."""
    pointer = kernel.read_pointer(desc + kernel.offsetof("struct irq_desc", "kstat_irqs"))
    return {cpu: kernel.target.read_u32(pointer + kernel.per_cpu_offset(cpu)) for cpu in cpus}


def irq_affinity(kernel: Kernel, desc: int, cpu_count: int) -> list[int]:
    """The CPUs (below *cpu_count*) in ``desc->irq_common_data.affinity``."""
    if kernel.has_member("struct irq_desc", "irq_common_data.affinity"):
        where = desc + kernel.offsetof("struct irq_desc", "irq_common_data.affinity")
    else:
        where = desc + kernel.offsetof("struct irq_desc", "irq_data.affinity")
    # crash: a pointer when the kernel allocates cpumasks (CPUMASK_OFFSTACK), else the array itself.
    if kernel.has_symbol("alloc_cpumask_var_node") or kernel.has_symbol("alloc_cpumask_var"):
        where = kernel.read_pointer(where)
    words = (cpu_count + 63) // 64
    mask = int.from_bytes(kernel.read(where, 8 * words), "little")
    return [cpu for cpu in range(cpu_count) if mask >> cpu & 1]


def softirq_actions(kernel: Kernel) -> list[tuple[int, int]]:
    """``(vector, action)`` of each ``softirq_vec[]`` entry (NULL ones included)."""
    sym = kernel.target.lookup_symbol("softirq_vec")
    size = kernel.sizeof("struct softirq_action")
    count = sym.size // size
    data = kernel.read(sym.address, size * count)
    return [(i, int.from_bytes(data[i * size : i * size + 8], "little")) for i in range(count)]
