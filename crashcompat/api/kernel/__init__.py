"""The kernel model for plugins: crash's view of a Linux kernel as a package of helper modules, the way
drgn offers ``drgn.helpers.linux``.

Every helper takes the :class:`~crashcompat.api.Kernel` (``ctx.kernel``) first and returns data; none
prints.  Import the modules you need::

    from crashcompat.api.kernel import tasks, unwind

    for task in tasks.for_each_task(ctx.kernel):
        trace = unwind.backtrace(ctx.kernel, task.address)

- :mod:`.layout` — the x86_64 address-space layout, ``THREAD_SIZE``, the ``struct pt_regs`` order,
  crash's address-class checks
- :mod:`.devices` — character and block device majors
- :mod:`.fs` — a task's root, working directory and open files, dentry paths as crash builds them
- :mod:`.ipc` — System V IPC: shared memory segments, semaphore arrays, message queues
- :mod:`.irq` — interrupt descriptors, their actions, counts and affinity, softirq vectors
- :mod:`.memory` — reads of kernel, user and physical memory with crash's failure reasons
- :mod:`.lists` — ``struct list_head`` / ``hlist`` walks, bounded against cycles and corruption
- :mod:`.tasks` — tasks and crash's task table, runqueues, task specs (pid, ``0x`` task, command), states
- :mod:`.modules` — ``struct module``: the module list, module kallsyms and section addresses
- :mod:`.symbols` — addresses to names and back, crash's symbol letters, module debug info
- :mod:`.net` — network devices and their IPv4 and IPv6 addresses, a task's sockets
- :mod:`.printk` — the kernel log (the lockless printk ring buffer)
- :mod:`.pagetable` — x86_64 page-table walks, virtual to physical, PTE bits
- :mod:`.mm` — pages, zones, nodes, vm_stat and vm events, vmalloc areas, VMAs, memory blocks
- :mod:`.sched` — run queues: RT and CFS queues, task groups, run-queue clocks
- :mod:`.signals` — signal handlers, blocked and pending sets, queued signals
- :mod:`.slub` — SLUB caches, slabs and objects
- :mod:`.stacks` — task, hard-IRQ and exception (IST) stacks and their bounds
- :mod:`.timers` — the timer wheel and the high-resolution timers
- :mod:`.trees` — red-black tree, xarray and maple tree walks as crash's ``tree`` does them
- :mod:`.unwind` — back traces: frames, exception frames, the ORC unwinder's events
- :mod:`.orc` — the ORC unwind tables of the kernel and its modules
- :mod:`.system` — utsname, uptime, date, load average, taint, CPUs, memory size, the panic message
- :mod:`.triage` — a dump's crash class, culprit, signature, stack groups and log reports

Each module holds the public names (``__all__``) of its namesake in ``crashcompat.core.kernel``.
"""

from crashcompat.api.kernel import (
    devices,
    fs,
    ipc,
    irq,
    layout,
    lists,
    memory,
    mm,
    modules,
    net,
    orc,
    pagetable,
    printk,
    sched,
    signals,
    slub,
    stacks,
    symbols,
    system,
    tasks,
    timers,
    trees,
    triage,
    unwind,
)

__all__ = [
    "devices",
    "fs",
    "ipc",
    "irq",
    "layout",
    "lists",
    "memory",
    "mm",
    "modules",
    "net",
    "orc",
    "pagetable",
    "printk",
    "sched",
    "signals",
    "slub",
    "stacks",
    "symbols",
    "system",
    "tasks",
    "timers",
    "trees",
    "triage",
    "unwind",
]
