"""Kernel timers as crash reads them (kernel.c ``dump_timer_data_timer_bases``, ``do_timer_list_v4``,
``dump_hrtimer_data``, ``dump_active_timers``).

Layouts: the timer wheel is the per-CPU ``timer_bases[NR_BASES]`` of ``struct timer_base`` since 4.8
(commit 500462a9de65 "timers: Switch to a non-cascading wheel"), ``vectors[]`` being ``hlist_head``s of
``struct timer_list`` by ``entry``; crash shows BASE_STD and, when ``sysctl_timer_migration`` exists
(NO_HZ_COMMON), BASE_DEF.  High-resolution timers sit in the per-CPU ``hrtimer_bases``
(``struct hrtimer_cpu_base``) with ``clock_base[]``, each a ``timerqueue_head`` of ``struct hrtimer``
by ``node.node``, with
``_softexpires``, ``node.expires`` and ``function``; the queue's root is an ``rb_root_cached``
(``active.rb_root``) on the kernels crash 9 reads this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import hlist_for_each, rbtree_inorder
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "HrTimer",
    "Timer",
    "hrtimer_clock_bases",
    "hrtimers",
    "timer_base_count",
    "timer_bases",
    "wheel_timers",
]


@dataclass(frozen=True)
class Timer:
    """A ``struct timer_list`` on a wheel: :param address: ``struct timer_list *``."""

    address: int
    expires: int
    function: int


def timer_base_count(kernel: Kernel) -> int:
    """How many of each CPU's ``timer_bases`` crash shows: 2 with NO_HZ_COMMON, else 1."""
    return 2 if kernel.has_symbol("sysctl_timer_migration") else 1


def timer_bases(kernel: Kernel, cpu: int) -> list[int]:
    """The ``struct timer_base *`` crash shows for *cpu*."""
    first = kernel.per_cpu_address("timer_bases", cpu)
    size = kernel.sizeof("struct timer_base")
    return [first + i * size for i in range(timer_base_count(kernel))]


def wheel_timers(kernel: Kernel, base: int) -> list[Timer]:
    """Every timer on a ``struct timer_base *``'s vectors, sorted by ``expires`` (stable)."""
    vectors = kernel.member("struct timer_base", "vectors")
    entry = kernel.offsetof("struct timer_list", "entry")
    expires = kernel.offsetof("struct timer_list", "expires")
    function = kernel.offsetof("struct timer_list", "function")
    count = vectors.size // 8
    heads = kernel.target.read_pointers(base + vectors.offset, count)
    out: list[Timer] = []
    for i, first in enumerate(heads):
        if not first:
            continue
        try:
            nodes = list(hlist_for_each(kernel, base + vectors.offset + 8 * i))
        except TargetError:
            continue  # crash ignores a chain with errors
        for node in nodes:
            timer = node - entry
            try:
                data = kernel.read(timer, max(expires, function) + 8)
            except FaultError:
                continue
            out.append(
                Timer(
                    timer,
                    int.from_bytes(data[expires : expires + 8], "little"),
                    int.from_bytes(data[function : function + 8], "little"),
                )
            )
    out.sort(key=lambda t: t.expires)
    return out


@dataclass(frozen=True)
class HrTimer:
    """A ``struct hrtimer`` queued on a clock base."""

    address: int
    softexpires: int
    expires: int
    function: int | None


def hrtimer_clock_bases(kernel: Kernel, cpu: int) -> list[int]:
    """The ``struct hrtimer_clock_base *`` of *cpu*'s ``hrtimer_bases.clock_base[]``."""
    base = kernel.per_cpu_address("hrtimer_bases", cpu)
    member = kernel.member("struct hrtimer_cpu_base", "clock_base")
    size = kernel.sizeof("struct hrtimer_clock_base")
    return [base + member.offset + i * size for i in range(member.size // size)]


def hrtimers(kernel: Kernel, clock_base: int) -> list[HrTimer]:
    """The timers of a ``struct hrtimer_clock_base *`` in expiry order (its timerqueue from the leftmost
    node on; none when the leftmost is NULL)."""
    active = clock_base + kernel.offsetof("struct hrtimer_clock_base", "active")
    leftmost = kernel.read_pointer(active + kernel.offsetof("struct timerqueue_head", "rb_root.rb_leftmost"))
    if not leftmost:
        return []
    node_off = kernel.offsetof("struct hrtimer", "node.node")
    soft = kernel.offsetof("struct hrtimer", "_softexpires")
    hard = kernel.offsetof("struct hrtimer", "node.expires")
    func = kernel.offsetof("struct hrtimer", "function")
    nodes = list(
        rbtree_inorder(kernel, active + kernel.offsetof("struct timerqueue_head", "rb_root.rb_root"))
    )
    if leftmost in nodes:
        nodes = nodes[nodes.index(leftmost) :]
    out = []
    for node in nodes:
        timer = node - node_off
        try:
            function: int | None = kernel.read_pointer(timer + func)
        except FaultError:
            function = None
        out.append(HrTimer(timer, kernel.target.read_s64(timer + soft), kernel.target.read_s64(timer + hard),
                           function))  # fmt: skip
    return out
