"""Signals as crash reads them (task.c ``dump_signal_data``, ``task_signal``, ``task_blocked``,
``sigqueue_list``): a thread group's handlers (``task->sighand->action[]``), its shared pending set, and
each task's blocked and private pending sets.

Layouts (2.6.x, unchanged in 7.x on x86_64): ``struct sighand_struct.action[_NSIG]`` of ``struct
k_sigaction { struct sigaction sa; }``; ``sigset_t`` is one 64-bit word; ``struct sigpending { list_head
list; sigset_t signal; }`` in ``task->pending`` and ``signal->shared_pending``; ``struct sigqueue`` on
``list`` with ``info.si_signo``.  With CONFIG_THREAD_INFO_IN_TASK the pending flag is
``thread_info.flags`` bit ``TIF_SIGPENDING`` (2 on x86).
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import list_for_each
from crashcompat.core.kernel.tasks import task_struct

__all__ = [
    "NSIG",
    "SigAction",
    "TaskSignals",
    "blocked_set",
    "pending_queue",
    "sigactions",
    "task_signals",
]

#: ``_NSIG`` on x86_64.
NSIG = 64
#: ``TIF_SIGPENDING`` on x86 (arch/x86/include/asm/thread_info.h).
TIF_SIGPENDING = 2


@dataclass(frozen=True)
class SigAction:
    """``sighand->action[signal - 1]``: :param address: its ``struct k_sigaction *``."""

    signal: int
    address: int
    handler: int
    mask: int
    flags: int


def sigactions(kernel: Kernel, sighand: int) -> list[SigAction]:
    """The 64 handlers of a ``struct sighand_struct *``."""
    action = kernel.member("struct sighand_struct", "action")
    size = kernel.sizeof("struct k_sigaction")
    handler = kernel.offsetof("struct k_sigaction", "sa.sa_handler")
    mask = kernel.offsetof("struct k_sigaction", "sa.sa_mask")
    flags = kernel.offsetof("struct k_sigaction", "sa.sa_flags")
    data = kernel.read(sighand + action.offset, size * NSIG)
    out = []
    for i in range(NSIG):
        base = i * size

        def word(off: int, base: int = base) -> int:
            return int.from_bytes(data[base + off : base + off + 8], "little")

        out.append(SigAction(i + 1, sighand + action.offset + base, word(handler), word(mask), word(flags)))
    return out


def pending_queue(kernel: Kernel, pending: int) -> list[tuple[int, int]]:
    """``(si_signo, &sigqueue->info)`` of each queued signal of a ``struct sigpending *``."""
    list_off = kernel.offsetof("struct sigqueue", "list")
    info = kernel.offsetof("struct sigqueue", "info")
    signo = kernel.offsetof("struct kernel_siginfo", "si_signo")
    out = []
    head = pending + kernel.offsetof("struct sigpending", "list")
    for node in list_for_each(kernel, head, on_error="stop"):
        queue = node - list_off
        out.append((kernel.target.read_s32(queue + info + signo), queue + info))
    return out


def blocked_set(kernel: Kernel, task: int) -> int:
    """crash's ``task_blocked()``: it combines two words as if ``sigset_t`` had two 32-bit halves, so on
    x86_64 the word after ``blocked`` (``real_blocked``) lands shifted into the upper half."""
    base = task + kernel.offsetof("struct task_struct", "blocked")
    low, high = kernel.read_u64(base), kernel.read_u64(base + 8)
    return ((high << 32) | low) & ((1 << 64) - 1)


@dataclass(frozen=True)
class TaskSignals:
    """What crash shows of one task's signals.

    :param signal_struct: ``task->signal``; :param sighand: ``task->sighand``; :param nr_threads:
    ``signal->nr_threads``; :param sigpending: ``TIF_SIGPENDING`` set; :param blocked: crash's blocked
    set; :param pending: ``task->pending.signal``; :param private_queue: queued private signals;
    :param shared: ``signal->shared_pending.signal``; :param shared_queue: queued shared signals.
    """

    signal_struct: int
    sighand: int
    nr_threads: int
    sigpending: bool
    blocked: int
    pending: int
    private_queue: list[tuple[int, int]]
    shared: int
    shared_queue: list[tuple[int, int]]


def task_signals(kernel: Kernel, task: int) -> TaskSignals:
    """The :class:`TaskSignals` of a ``struct task_struct *``.  Raises FaultError."""
    t = task_struct(kernel, task)
    signal = t.ptr("signal")
    nr_threads = 0
    shared = 0
    shared_queue: list[tuple[int, int]] = []
    if signal:
        s = kernel.struct("struct signal_struct", signal)
        nr_threads = s.s32("nr_threads")
        shared = s.u64("shared_pending.signal")
        shared_queue = pending_queue(kernel, s.addr_of("shared_pending"))
    flags = t.uint("thread_info.flags") if t.has("thread_info.flags") else 0
    return TaskSignals(
        signal_struct=signal,
        sighand=t.ptr("sighand"),
        nr_threads=nr_threads,
        sigpending=bool(flags & (1 << TIF_SIGPENDING)),
        blocked=blocked_set(kernel, task),
        pending=t.u64("pending.signal"),
        private_queue=pending_queue(kernel, t.addr_of("pending")),
        shared=shared,
        shared_queue=shared_queue,
    )
