"""The scheduler's run queues as crash reads them (task.c ``dump_CFS_runqueues``, ``dump_RT_prio_array``,
``dump_tasks_in_task_group_cfs_rq``, ``dump_on_rq_tasks``).

Layouts used:

- ``per_cpu(runqueues)`` is a ``struct rq`` with ``clock``, ``curr``, ``cfs`` (``struct cfs_rq``) and
  ``rt`` (``struct rt_rq`` whose ``active`` is a ``struct rt_prio_array`` of ``MAX_RT_PRIO`` list heads).
- ``cfs_rq.tasks_timeline`` is a ``struct rb_root_cached`` (4.14, commit bfb068892d30 "sched/fair:
  replace cfs_rq->rb_leftmost"), its nodes ``sched_entity.run_node``; a group's entity has ``my_q``
  (CONFIG_FAIR_GROUP_SCHED).  ``cfs_rq.nr_running`` was renamed ``nr_queued`` in 6.14 (commit
  736c55a02c47 "sched/fair: Rename cfs_rq.nr_running into nr_queued").
- ``task_group.cfs_rq`` is a per-CPU array of ``struct cfs_rq *``; ``task_group.children`` lists child
  groups by ``siblings``; a group's name is its cgroup's kernfs node name (``/`` for the root).
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import list_for_each, rbtree_inorder
from crashcompat.core.target import FaultError

__all__ = [
    "GroupHeader",
    "QueuedTask",
    "TaskGroup",
    "cfs_queued",
    "cfs_rq_of_group",
    "group_queued",
    "on_rq",
    "root_task_group",
    "rq_clock",
    "rt_prio_array",
    "rt_queued",
    "runqueue",
    "task_groups",
    "task_prio",
]


def runqueue(kernel: Kernel, cpu: int) -> int:
    """``struct rq *`` of *cpu* (``per_cpu(runqueues, cpu)``)."""
    return kernel.per_cpu_address("runqueues", cpu)


def rq_clock(kernel: Kernel, cpu: int) -> int:
    """``rq->clock`` of *cpu* (ns), crash's runqueue timestamp."""
    return kernel.read_u64(runqueue(kernel, cpu) + kernel.offsetof("struct rq", "clock"))


def rt_prio_array(kernel: Kernel, cpu: int) -> int:
    """``&cpu_rq(cpu)->rt.active`` (``struct rt_prio_array *``)."""
    return runqueue(kernel, cpu) + kernel.offsetof("struct rq", "rt.active")


def task_prio(kernel: Kernel, task: int) -> int:
    """``task->prio`` of a ``struct task_struct *``."""
    return kernel.target.read_s32(task + kernel.offsetof("struct task_struct", "prio"))


def on_rq(kernel: Kernel, task: int) -> int:
    """``task->on_rq`` of a ``struct task_struct *``."""
    return kernel.target.read_s32(task + kernel.offsetof("struct task_struct", "on_rq"))


@dataclass(frozen=True)
class QueuedTask:
    """A task on a run queue: :param task: ``struct task_struct *`` (0: crash's "[no tasks queued]" line
    of an empty queue, in :func:`group_queued`); :param prio: the RT queue index
    (RT) or ``task->prio``; :param current: shown as the queue's running entity (``-g``); :param depth:
    task-group nesting (``-g``)."""

    task: int
    prio: int
    current: bool = False
    depth: int = 0


def rt_queued(kernel: Kernel, array: int) -> list[QueuedTask]:
    """The tasks of a ``struct rt_prio_array *`` by queue index, group queues (``my_q``) expanded."""
    queue = kernel.member("struct rt_prio_array", "queue")
    heads = queue.size // 16
    run_list = kernel.offsetof("struct sched_rt_entity", "run_list")
    rt_off = kernel.offsetof("struct task_struct", "rt")
    has_my_q = kernel.has_member("struct sched_rt_entity", "my_q")
    out: list[QueuedTask] = []
    raw = kernel.read(array + queue.offset, heads * 16)
    for i in range(heads):
        head = array + queue.offset + 16 * i
        first = int.from_bytes(raw[16 * i : 16 * i + 8], "little")
        if first == head:
            continue
        for node in list_for_each(kernel, head, on_error="stop"):
            entity = node - run_list
            if has_my_q:
                my_q = kernel.read_pointer(entity + kernel.offsetof("struct sched_rt_entity", "my_q"))
                if my_q:
                    out += rt_queued(kernel, my_q + kernel.offsetof("struct rt_rq", "active"))
                    continue
            out.append(QueuedTask(entity - rt_off, i))
    return out


def _se_fields(kernel: Kernel) -> tuple[int, int, int | None]:
    """Offsets of ``sched_entity.run_node``, ``task_struct.se`` and ``sched_entity.my_q`` (None without
    group scheduling)."""
    my_q = (
        kernel.offsetof("struct sched_entity", "my_q")
        if kernel.has_member("struct sched_entity", "my_q")
        else None
    )
    return (
        kernel.offsetof("struct sched_entity", "run_node"),
        kernel.offsetof("struct task_struct", "se"),
        my_q,
    )


def _leftmost(kernel: Kernel, cfs_rq: int) -> int:
    return kernel.read_pointer(cfs_rq + kernel.offsetof("struct cfs_rq", "tasks_timeline.rb_leftmost"))


def _timeline(kernel: Kernel, cfs_rq: int) -> list[int]:
    """The ``sched_entity`` addresses of a cfs_rq's timeline in order (none when ``rb_leftmost`` is NULL,
    as crash checks)."""
    if not _leftmost(kernel, cfs_rq):
        return []
    run_node = kernel.offsetof("struct sched_entity", "run_node")
    root = cfs_rq + kernel.offsetof("struct cfs_rq", "tasks_timeline")
    return [node - run_node for node in rbtree_inorder(kernel, root, on_error="stop")]


def cfs_queued(kernel: Kernel, cfs_rq: int) -> list[QueuedTask]:
    """crash's ``dump_tasks_in_cfs_rq()``: the tasks queued on a ``struct cfs_rq *`` — the running
    group's queue first, then the timeline in order, group entities expanded in place — with their
    ``prio``.  A task met twice ends the walk (crash warns)."""
    _, se_off, my_q_off = _se_fields(kernel)
    out: list[QueuedTask] = []
    seen: set[int] = set()

    def walk(rq: int) -> bool:
        if my_q_off is not None:
            curr = kernel.read_pointer(rq + kernel.offsetof("struct cfs_rq", "curr"))
            if curr:
                my_q = kernel.read_pointer(curr + my_q_off)
                if my_q and not walk(my_q):
                    return False
        for entity in _timeline(kernel, rq):
            if my_q_off is not None:
                my_q = kernel.read_pointer(entity + my_q_off)
                if my_q:
                    if not walk(my_q):
                        return False
                    continue
            task = entity - se_off
            if task in seen:
                return False
            seen.add(task)
            out.append(QueuedTask(task, task_prio(kernel, task)))
        return True

    walk(cfs_rq)
    return out


@dataclass(frozen=True)
class TaskGroup:
    """A ``struct task_group *`` with its cgroup name (``None`` when unknown) and nesting depth."""

    address: int
    name: str | None
    depth: int


def root_task_group(kernel: Kernel) -> tuple[int, str]:
    """``(struct task_group *, crash's label)``: ``root_task_group`` (``ROOT``) or, before 2.6.32,
    ``init_task_group`` (``INIT``)."""
    if kernel.has_symbol("init_task_group"):
        return kernel.symbol("init_task_group"), "INIT"
    return kernel.symbol("root_task_group"), "ROOT"


def cfs_rq_of_group(kernel: Kernel, group: int, cpu: int) -> int:
    """``tg->cfs_rq[cpu]`` of a ``struct task_group *``."""
    array = kernel.read_pointer(group + kernel.offsetof("struct task_group", "cfs_rq"))
    return kernel.read_pointer(array + 8 * cpu)


def _group_name(kernel: Kernel, group: int) -> str | None:
    """crash's ``get_task_group_name()``: the group's cgroup kernfs node name, ``/`` at the root."""
    try:
        cgroup = kernel.read_pointer(group + kernel.offsetof("struct task_group", "css.cgroup"))
        if not cgroup:
            return None
        kn = kernel.read_pointer(cgroup + kernel.offsetof("struct cgroup", "kn"))
        if not kn:
            return None
        parent_member = "parent" if kernel.has_member("struct kernfs_node", "parent") else "__parent"
        if not kernel.read_pointer(kn + kernel.offsetof("struct kernfs_node", parent_member)):
            return "/"
        name = kernel.read_pointer(kn + kernel.offsetof("struct kernfs_node", "name"))
        return kernel.read_cstring(name, 1499) if name else None
    except FaultError:
        return None


def task_groups(kernel: Kernel) -> dict[int, TaskGroup]:
    """Every task group below the root (depth-first along ``children``), by address."""
    root, _ = root_task_group(kernel)
    out: dict[int, TaskGroup] = {}
    children = kernel.offsetof("struct task_group", "children")
    siblings = kernel.offsetof("struct task_group", "siblings")

    def add(group: int, depth: int) -> None:
        out[group] = TaskGroup(group, _group_name(kernel, group), depth)
        if len(out) > 1 << 16:
            return
        for node in list_for_each(kernel, group + children, on_error="stop"):
            add(node - siblings, depth + 1)

    add(root, 0)
    return out


@dataclass(frozen=True)
class GroupHeader:
    """A task group's header line inside ``runq -g``: :param cfs_rq: its ``struct cfs_rq *`` on the CPU;
    :param throttled: ``cfs_rq->throttled``."""

    group: TaskGroup
    cfs_rq: int
    depth: int
    throttled: bool


def group_queued(kernel: Kernel, cfs_rq: int, current_task: int | None) -> list[QueuedTask | GroupHeader]:
    """crash's ``dump_tasks_in_task_group_cfs_rq()`` from a CPU's root ``struct cfs_rq *``: group
    headers and tasks in crash's order, the running task marked current where it is its queue's
    ``curr``.  (Groups with queued tasks that are themselves dequeued are not looked for.)"""
    run_node, se_off, my_q_off = _se_fields(kernel)
    del run_node
    groups = task_groups(kernel)
    tg_off = kernel.offsetof("struct cfs_rq", "tg")
    has_throttled = kernel.has_member("struct cfs_rq", "throttled")
    out: list[QueuedTask | GroupHeader] = []
    seen: set[int] = set()

    def walk(rq: int, depth: int) -> int:
        total = 0
        if depth:
            group = groups.get(kernel.read_pointer(rq + tg_off))
            if group is not None:
                throttled = bool(
                    has_throttled
                    and kernel.target.read_s32(rq + kernel.offsetof("struct cfs_rq", "throttled"))
                )
                out.append(GroupHeader(group, rq, depth, throttled))
        curr = kernel.read_pointer(rq + kernel.offsetof("struct cfs_rq", "curr"))
        curr_my_q = kernel.read_pointer(curr + my_q_off) if curr and my_q_off is not None else 0
        if curr_my_q:
            total += 1 + walk(curr_my_q, depth + 1)
        if not curr_my_q and current_task is not None and curr and curr - se_off == current_task:
            total += 1
            out.append(QueuedTask(current_task, task_prio(kernel, current_task), True, depth))
        for entity in _timeline(kernel, rq):
            my_q = kernel.read_pointer(entity + my_q_off) if my_q_off is not None else 0
            if my_q:
                total += 1 + walk(my_q, depth + 1)
                continue
            task = entity - se_off
            if task in seen:
                return total
            seen.add(task)
            out.append(QueuedTask(task, task_prio(kernel, task), False, depth))
            total += 1
        if not total:
            out.append(QueuedTask(0, 0, False, depth))
        return total

    walk(cfs_rq, 0)
    return out
