"""The task model on a synthetic 6.1-shaped kernel: crash's task table, states, RSS, active/panic tasks,
``str_to_context`` rules and the ``ps``/``set`` renderings."""

from __future__ import annotations

import io

import pytest

from crashcompat.core.kernel import Kernel, tasks
from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session
from crashcompat.plugins import bt as bt_plugin
from crashcompat.plugins import ps as ps_plugin
from crashcompat.plugins import sys as sys_plugin
from crashcompat.testing.synthetic import SyntheticTarget

PAGE_OFFSET = 0xFFFF888000000000
TASK_SIZE = 0x200
PF_KTHREAD = 0x00200000
PF_EXITING = 0x4

# include/linux/sched.h (6.1)
TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE = 0, 1, 2
TASK_STOPPED, TASK_TRACED, EXIT_DEAD, EXIT_ZOMBIE = 4, 8, 0x10, 0x20
TASK_PARKED, TASK_DEAD, TASK_WAKING, TASK_NOLOAD, TASK_NEW = 0x40, 0x80, 0x200, 0x400, 0x800
TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD

STATE_ARRAY_61 = [
    "R (running)", "S (sleeping)", "D (disk sleep)", "T (stopped)", "t (tracing stop)",
    "X (dead)", "Z (zombie)", "P (parked)", "I (idle)",
]  # fmt: skip


class FakeKernel:
    """A 2-CPU kernel with the 6.1 layouts the task model reads (offsets are arbitrary)."""

    def __init__(self, *, state_array: list[str] | None = STATE_ARRAY_61, cpus: int = 2) -> None:
        t = self.t = SyntheticTarget()
        self.cpus = cpus
        t.add_struct(
            "struct list_head",
            16,
            {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "struct list_head *")},
        )
        t.add_struct("struct hlist_head", 8, {"first": (0, 8, "struct hlist_node *")})
        t.add_struct(
            "struct hlist_node", 16, {"next": (0, 8, "struct hlist_node *"), "pprev": (8, 8, "void *")}
        )
        t.add_struct("struct thread_info", 0x18, {"flags": (0, 8, "unsigned long"), "cpu": (0x10, 4, "u32")})
        t.add_struct(
            "struct sched_info", 32, {"pcount": (0, 8, "unsigned long"), "last_arrival": (8, 8, "u64")}
        )
        t.add_struct("struct task_rss_stat", 20, {"events": (0, 4, "int"), "count": (4, 16, "int [4]")})
        t.add_struct("struct thread_struct", 16, {"sp": (8, 8, "unsigned long")})
        t.add_struct(
            "struct task_struct",
            TASK_SIZE,
            {
                "thread_info": (0, 0x18, "struct thread_info"),
                "__state": (0x18, 4, "unsigned int"),
                "stack": (0x20, 8, "void *"),
                "flags": (0x28, 4, "unsigned int"),
                "exit_state": (0x30, 4, "int"),
                "pid": (0x34, 4, "pid_t"),
                "tgid": (0x38, 4, "pid_t"),
                "parent": (0x40, 8, "struct task_struct *"),
                "real_parent": (0x48, 8, "struct task_struct *"),
                "comm": (0x50, 16, "char [16]"),
                "mm": (0x60, 8, "struct mm_struct *"),
                "active_mm": (0x68, 8, "struct mm_struct *"),
                "tasks": (0x70, 16, "struct list_head"),
                "pid_links": (0x80, 64, "struct hlist_node [4]"),
                "sched_info": (0xC0, 32, "struct sched_info"),
                "start_time": (0xE0, 8, "u64"),
                "utime": (0xE8, 8, "u64"),
                "stime": (0xF0, 8, "u64"),
                "rss_stat": (0x100, 20, "struct task_rss_stat"),
                "signal": (0x118, 8, "struct signal_struct *"),
                "thread": (0x120, 16, "struct thread_struct"),
                "policy": (0x140, 4, "unsigned int"),
                "prio": (0x144, 4, "int"),
                "thread_node": (0x150, 16, "struct list_head"),
            },
        )
        t.add_struct("struct signal_struct", 16, {"thread_head": (0, 16, "struct list_head")})
        t.add_struct("struct mm_rss_stat", 32, {"count": (0, 32, "atomic_long_t [4]")})
        t.add_struct(
            "struct mm_struct",
            0x80,
            {
                "mm_count": (0, 4, "atomic_t"),
                "total_vm": (8, 8, "unsigned long"),
                "rss_stat": (0x10, 32, "struct mm_rss_stat"),
                "pgd": (0x40, 8, "pgd_t *"),
            },
        )
        t.add_struct(
            "struct rq",
            0x40,
            {
                "curr": (0x10, 8, "struct task_struct *"),
                "idle": (0x18, 8, "struct task_struct *"),
                "clock": (0x20, 8, "u64"),
            },
        )
        t.add_struct("struct upid", 16, {"nr": (0, 4, "int"), "ns": (8, 8, "struct pid_namespace *")})
        t.add_struct(
            "struct pid",
            0x60,
            {
                "count": (0, 4, "refcount_t"),
                "level": (4, 4, "unsigned int"),
                "tasks": (8, 32, "struct hlist_head [4]"),
                "numbers": (0x50, 16, "struct upid [1]"),
            },
        )
        t.add_struct("struct xarray", 16, {"xa_head": (8, 8, "void *")})
        t.add_struct(
            "struct xa_node", 576, {"shift": (0, 1, "unsigned char"), "slots": (40, 512, "void *[64]")}
        )
        t.add_struct(
            "struct idr", 24, {"idr_rt": (0, 16, "struct xarray"), "idr_base": (16, 4, "unsigned int")}
        )
        t.add_struct("struct pid_namespace", 0x40, {"idr": (0, 24, "struct idr")})
        t.add_enum("enum", {"MM_FILEPAGES": 0, "MM_ANONPAGES": 1, "MM_SWAPENTS": 2, "MM_SHMEMPAGES": 3})

        # per-cpu areas: runqueues at 0x1000 and cpu_number at 0x1100 inside each
        offsets = t.alloc(8 * cpus)
        t.add_symbol("__per_cpu_offset", offsets, 8 * cpus)
        t.add_symbol("runqueues", 0x1000, 0x40)
        t.add_symbol("cpu_number", 0x1100, 4)
        self.percpu = []
        for cpu in range(cpus):
            area = t.alloc(0x2000)
            t.write_u64(offsets + 8 * cpu, area)
            t.write_u32(area + 0x1100, cpu)
            self.percpu.append(area)
        for name, value in (
            ("nr_cpu_ids", cpus),
            ("__cpu_present_mask", (1 << cpus) - 1),
            ("__cpu_online_mask", (1 << cpus) - 1),
            ("__cpu_possible_mask", (1 << cpus) - 1),
        ):
            address = t.alloc(8)
            t.write_u64(address, value)
            t.add_symbol(name, address, 8)
        self.panic_cpu = self._global("panic_cpu", 0xFFFFFFFF, 4)  # PANIC_CPU_INVALID
        self._global("page_offset_base", PAGE_OFFSET)
        self._global("high_memory", PAGE_OFFSET + 0x2000_0000)  # 512 MiB: 131072 pages
        if state_array:
            strings = []
            for text in state_array:
                address = t.alloc(64)
                t.write(address, text.encode() + b"\0")
                strings.append(address)
            array = t.alloc(8 * len(strings))
            for i, address in enumerate(strings):
                t.write_u64(array + 8 * i, address)
            t.add_symbol("task_state_array", array, 8 * len(strings))
        self.ns = t.alloc(0x40)
        t.add_symbol("init_pid_ns", self.ns, 0x40)
        self.xa_node = t.alloc(576)
        t.write_u64(self.ns + 8, self.xa_node | 2)
        self.next_slot = 0
        self.tasks: dict[int, int] = {}

    def _global(self, name: str, value: int, size: int = 8) -> int:
        address = self.t.alloc(8)
        self.t.write_u64(address, value) if size == 8 else self.t.write_u32(address, value)
        self.t.add_symbol(name, address, size)
        return address

    def task(
        self,
        pid: int,
        comm: str,
        *,
        tgid: int | None = None,
        parent: int = 0,
        cpu: int = 0,
        state: int = TASK_INTERRUPTIBLE,
        exit_state: int = 0,
        flags: int = 0,
        mm: int = 0,
        split_rss: tuple[int, int, int, int] = (0, 0, 0, 0),
        last_run: int = 0,
        hashed: bool = True,
        ns: int | None = None,
    ) -> int:
        t = self.t
        address = t.alloc(TASK_SIZE)
        if pid == 0 and "init_task" not in {s.name for s in t.symbols()}:
            t.add_symbol("init_task", address, TASK_SIZE)
        t.write_u32(address + 0x10, cpu)
        t.write_u32(address + 0x18, state)
        t.write_u32(address + 0x28, flags)
        t.write_u32(address + 0x30, exit_state)
        t.write_u32(address + 0x34, pid)
        t.write_u32(address + 0x38, pid if tgid is None else tgid)
        t.write_u64(address + 0x40, parent or address)
        t.write_u64(address + 0x48, parent or address)
        t.write(address + 0x50, comm.encode()[:15] + b"\0")
        t.write_u64(address + 0x60, mm)
        t.write_u64(address + 0x68, mm)
        t.write_u64(address + 0xC8, last_run)
        for i, value in enumerate(split_rss):
            t.write_u32(address + 0x104 + 4 * i, value)
        if hashed:
            pid_struct = t.alloc(0x60)
            t.write_u64(pid_struct + 8, address + 0x80)  # tasks[PIDTYPE_PID].first = &task->pid_links[0]
            t.write_u32(pid_struct + 0x50, pid)
            t.write_u64(pid_struct + 0x58, self.ns if ns is None else ns)
            t.write_u64(self.xa_node + 40 + 8 * self.next_slot, pid_struct)
            self.next_slot += 1
        self.tasks[pid] = address
        return address

    def mm(
        self, *, file: int = 0, anon: int = 0, shmem: int = 0, total_vm: int = 0, mm_count: int = 1
    ) -> int:
        address = self.t.alloc(0x80)
        self.t.write_u32(address, mm_count)
        self.t.write_u64(address + 8, total_vm)
        for index, value in ((0, file), (1, anon), (3, shmem)):
            self.t.write_u64(address + 0x10 + 8 * index, value)
        return address

    def run_queues(self, curr: list[int], idle: list[int]) -> None:
        for cpu in range(self.cpus):
            rq = self.percpu[cpu] + 0x1000
            self.t.write_u64(rq + 0x10, curr[cpu])
            self.t.write_u64(rq + 0x18, idle[cpu])
            self.t.write_u64(rq + 0x20, 5_000_000_000)

    def kernel(self) -> Kernel:
        return Kernel(self.t)


@pytest.fixture
def fake() -> FakeKernel:
    """swapper/0 and swapper/1, init (1) with a 2-thread child process, kthreadd (2) and a kthread."""
    f = FakeKernel()
    swapper0 = f.task(0, "swapper/0", flags=PF_KTHREAD, state=TASK_RUNNING, hashed=False)
    swapper1 = f.task(
        0, "swapper/1", flags=PF_KTHREAD, state=TASK_RUNNING, cpu=1, hashed=False, parent=swapper0
    )
    init = f.task(1, "init", parent=swapper0, mm=f.mm(file=300, anon=150, total_vm=565), cpu=1)
    f.task(2, "kthreadd", parent=swapper0, flags=PF_KTHREAD)
    f.task(3, "rcu_gp", parent=f.tasks[2], flags=PF_KTHREAD, state=TASK_IDLE)
    app_mm = f.mm(file=100, anon=50, shmem=-5 & (1 << 64) - 1, total_vm=1000)
    app = f.task(107, "app", parent=init, mm=app_mm, split_rss=(3, 4, 0, 2), last_run=900)
    f.task(
        108,
        "app-worker",
        tgid=107,
        parent=init,
        mm=app_mm,
        split_rss=(1, -2 & 0xFFFFFFFF, 0, 0),
        cpu=1,
        last_run=1000,
        state=TASK_RUNNING,
    )
    f.task(5, "elsewhere", ns=0xFFFF888012340000)  # a pid of another namespace: not in crash's table
    f.run_queues(curr=[app, swapper1], idle=[swapper0, swapper1])
    return f


def test_table_set_and_order(fake: FakeKernel) -> None:
    k = fake.kernel()
    rows = [(t.pid, t.comm, t.cpu) for t in tasks.for_each_task(k)]
    assert rows == [
        (0, "swapper/0", 0), (0, "swapper/1", 1), (1, "init", 1), (2, "kthreadd", 0), (3, "rcu_gp", 0),
        (107, "app", 0), (108, "app-worker", 1),
    ]  # fmt: skip
    by_pid = {t.pid: t for t in tasks.for_each_task(k) if t.pid}
    assert by_pid[1].ppid == 0 and by_pid[3].ppid == 2 and by_pid[108].ppid == 1
    assert by_pid[2].is_kthread and not by_pid[1].is_kthread
    assert tasks.cpu_count(k) == 2


def test_rss_like_crash(fake: FakeKernel) -> None:
    k = fake.kernel()
    by_pid = {t.pid: t for t in tasks.for_each_task(k) if t.pid}
    # mm counters (negative shmem ignored) + every thread's positive split counters of the group:
    # 100 + 50 + (3 + 4 + 2) + (1) = 160 for both threads.
    assert by_pid[107].rss == by_pid[108].rss == 160
    assert by_pid[107].total_vm == 1000
    assert by_pid[1].rss == 450 and by_pid[2].rss == 0


@pytest.mark.parametrize("state_array", [STATE_ARRAY_61, None])
@pytest.mark.parametrize(
    ("state", "exit_state", "letters", "name"),
    [
        (TASK_RUNNING, 0, "RU", "TASK_RUNNING"),
        (TASK_INTERRUPTIBLE, 0, "IN", "TASK_INTERRUPTIBLE"),
        (TASK_UNINTERRUPTIBLE, 0, "UN", "TASK_UNINTERRUPTIBLE"),
        (TASK_IDLE, 0, "ID", "TASK_UNINTERRUPTIBLE|TASK_NOLOAD"),
        (TASK_DEAD, EXIT_ZOMBIE, "ZO", "EXIT_DEAD|EXIT_ZOMBIE"),
        (TASK_DEAD, EXIT_DEAD, "DE", "EXIT_DEAD|TASK_DEAD"),
        (TASK_STOPPED, 0, "ST", "TASK_STOPPED"),
        (TASK_TRACED, 0, "TR", "TASK_TRACED"),
        (TASK_PARKED, 0, "PA", "TASK_PARKED"),
        (TASK_WAKING, 0, "WA", "TASK_WAKING"),
        (TASK_NEW, 0, "NE", "TASK_NEW"),
        (0x1000, 0, "??", ""),
    ],
)
def test_state_letters(
    state_array: list[str] | None, state: int, exit_state: int, letters: str, name: str
) -> None:
    f = FakeKernel(state_array=state_array)
    k = f.kernel()
    assert tasks.state_letters(k, state | exit_state) == letters
    assert tasks.state_name(k, state | exit_state) == name


def test_active_panic_and_default_context(fake: FakeKernel) -> None:
    k = fake.kernel()
    assert tasks.active_tasks(k) == {0: fake.tasks[107], 1: tasks.idle_task(k, 1)}
    assert tasks.panic_task(k) is None  # panic_cpu is PANIC_CPU_INVALID and no crashed CPU is known
    assert tasks.default_context(k) == fake.tasks[107]  # CPU 0's current task
    fake.t.write_u32(fake.panic_cpu, 1)
    k = fake.kernel()
    assert tasks.panic_cpu(k) == 1
    assert tasks.panic_task(k) == tasks.idle_task(k, 1)
    assert tasks.default_context(k) == tasks.idle_task(k, 1)
    assert tasks.is_active(k, fake.tasks[107]) and not tasks.is_active(k, fake.tasks[1])


def test_str_to_context_rules(fake: FakeKernel) -> None:
    k = fake.kernel()
    app = fake.tasks[107]
    assert tasks.parse_task_spec(k, "107") == ("pid", 107)
    assert tasks.parse_task_spec(k, f"{app:x}") == ("task", app)
    assert tasks.parse_task_spec(k, f"0x{app:x}") == ("task", app)
    assert tasks.parse_task_spec(k, "3") == ("pid", 3)  # decimal 3 == hex 3: one value
    assert tasks.parse_task_spec(k, "2") == ("pid", 2)
    assert tasks.parse_task_spec(k, "99999") is None
    assert tasks.parse_task_spec(k, "nonsense") is None
    assert tasks.find_task(k, "107") == app
    assert tasks.find_task(k, 0) == tasks.idle_task(k, 0)  # the first pid-0 task in crash's order
    assert tasks.find_task(k, app) == app
    assert tasks.find_task(k, 12345) is None


def test_hex_and_decimal_both_pids_prefers_decimal() -> None:
    f = FakeKernel()
    swapper = f.task(0, "swapper/0", flags=PF_KTHREAD, hashed=False)
    f.task(10, "ten", parent=swapper)
    f.task(16, "sixteen", parent=swapper)
    f.run_queues(curr=[swapper, swapper], idle=[swapper, swapper])
    assert tasks.parse_task_spec(f.kernel(), "10") == ("pid", 10)


def _session(fake: FakeKernel, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    host = PluginHost()
    host.load(extra=[("ps", ps_plugin), ("sys", sys_plugin)])
    return Session(fake.t, host=host, out=io.StringIO())


def test_ps_rows_follow_crash_printf(fake: FakeKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _session(fake, monkeypatch).run("ps", echo=False).splitlines()
    assert out[0] == "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM"
    app = fake.tasks[107]
    # "%7ld %7ld %3s  %s %3s" + 2 spaces + "%.1f" centred in 4 + " %8ld %8ld  %s"; 160 pages * 100 / 131072
    assert out[6] == f">     107       1   0  {app:x}  IN   0.1     4000      640  app"
    assert out[1].startswith("        0       0   0  ")
    assert out[1].endswith("RU   0.0        0        0  [swapper/0]")
    assert out[2].startswith(">       0       0   1  ")
    assert out[5].endswith("ID   0.0        0        0  [rcu_gp]")


def test_ps_options(fake: FakeKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _session(fake, monkeypatch)
    assert [line.split()[-1] for line in s.run("ps -k", echo=False).splitlines()[1:]] == [
        "[swapper/0]", "[swapper/1]", "[kthreadd]", "[rcu_gp]",
    ]  # fmt: skip
    assert [line.split()[-1] for line in s.run("ps -u", echo=False).splitlines()[1:]] == [
        "init",
        "app",
        "app-worker",
    ]
    assert [line.split()[-1] for line in s.run("ps -G -u", echo=False).splitlines()[1:]] == ["init", "app"]
    assert s.run("ps -k -u", echo=False) == "ps: -u and -k are mutually exclusive\n"
    assert "mutually-exclusive" in s.run("ps -t -p", echo=False)
    assert s.run("ps 99999", echo=False).startswith("ps: invalid task or pid value: 99999\n\n      PID")
    assert s.run("ps -S", echo=False) == "  RU: 3\n  IN: 3\n  ID: 1\n"
    app = fake.tasks[107]
    assert s.run("ps -c 1", echo=False) == (
        f'PID: 1        TASK: {fake.tasks[1]:x}  CPU: 1    COMMAND: "init"\n'
        f'  PID: 107      TASK: {app:x}  CPU: 0    COMMAND: "app"\n'
        f'  PID: 108      TASK: {fake.tasks[108]:x}  CPU: 1    COMMAND: "app-worker"\n\n'
    )
    parents = s.run("ps -p 108", echo=False).splitlines()
    assert [line.split()[1] for line in parents if line] == ["0", "1", "108"]
    assert parents[1].startswith(" PID: 1 ") and parents[2].startswith("  PID: 108 ")
    last = s.run("ps -l", echo=False).splitlines()
    assert last[0].startswith("[1000] [RU]  PID: 108 ") and last[1].startswith("[ 900] [IN]  PID: 107 ")
    assert s.run("ps -g 108", echo=False).splitlines()[:2] == [
        f'PID: 107      TASK: {app:x}  CPU: 0    COMMAND: "app"',
        f'  PID: 108      TASK: {fake.tasks[108]:x}  CPU: 1    COMMAND: "app-worker"',
    ]
    assert s.run("ps -A", echo=False).count("\n") == 3


def test_cpu_lists_are_read_like_make_cpumask(fake: FakeKernel, monkeypatch: pytest.MonkeyPatch) -> None:
    """``bt -c`` and ``ps -C`` share crash's parser (:mod:`crashcompat.core.cpuspec`)."""
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    host = PluginHost()
    host.load(extra=[("ps", ps_plugin), ("bt", bt_plugin)])
    s = Session(fake.t, host=host, out=io.StringIO())
    assert s.run("bt -c 1-0", echo=False) == ""  # a reversed range selects no CPU, silently
    assert s.run("ps -l -C 1-0", echo=False) == ""
    assert s.run("bt -c 2", echo=False) == "bt: invalid cpu specification: 2\n"  # two CPUs: 0 and 1
    assert s.run("bt -c 0-x", echo=False) == 'bt: x: "x" is not a digit 0 - 9\n'
    # crash reads the list with the option, before it checks that -l or -m came too
    assert s.run("ps -C 0,7", echo=False) == "ps: invalid cpu specification: 0,7\n"
    assert s.run("ps -C 0", echo=False) == "ps: -C option is only applicable with -l and -m\n"
    assert s.run("ps -l -C 1,,", echo=False).startswith("CPU: 1\n[1000] [RU]  PID: 108 ")
    assert s.run("ps -l -C 1-0,1", echo=False) == s.run("ps -l -C 1", echo=False)


def test_render_context(fake: FakeKernel) -> None:
    k = fake.kernel()
    app = fake.tasks[107]
    assert tasks.render_context(k, app) == (
        f'    PID: 107\nCOMMAND: "app"\n   TASK: {app:x}  [THREAD_INFO: {app:x}]\n    CPU: 0\n'
        "  STATE: TASK_INTERRUPTIBLE (ACTIVE)\n"
    )
    assert tasks.render_context(k, fake.tasks[1]).endswith("  STATE: TASK_INTERRUPTIBLE \n")
    assert "(1 of 2)" in tasks.render_context(k, tasks.idle_task(k, 0))


def _link(t: SyntheticTarget, head: int, nodes: list[int]) -> None:
    """Make a circular list_head list of *nodes* after *head*."""
    ring = [head, *nodes]
    for i, node in enumerate(ring):
        t.write_u64(node, ring[(i + 1) % len(ring)])
        t.write_u64(node + 8, ring[i - 1])


def test_task_list_fallback_without_pid_idr() -> None:
    """Before 4.15 there is no IDR in struct pid_namespace: walk init_task.tasks and each thread group."""
    f = FakeKernel()
    f.t.add_struct("struct pid_namespace", 0x40, {})
    swapper = f.task(0, "swapper/0", flags=PF_KTHREAD, state=TASK_RUNNING, hashed=False)
    init = f.task(1, "init", parent=swapper, hashed=False)
    app = f.task(107, "app", parent=init, hashed=False)
    worker = f.task(108, "app-worker", tgid=107, parent=init, hashed=False)
    f.run_queues(curr=[app, swapper], idle=[swapper, swapper])
    _link(f.t, swapper + 0x70, [init + 0x70, app + 0x70])
    signal = f.t.alloc(16)
    _link(f.t, signal, [app + 0x150, worker + 0x150])
    f.t.write_u64(app + 0x118, signal)
    assert [(t.pid, t.comm) for t in tasks.for_each_task(f.kernel())] == [
        (0, "swapper/0"), (1, "init"), (107, "app"), (108, "app-worker"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "letters"),
    [(0, "RU"), (1, "IN"), (2, "UN"), (2 | 1024, "ID"), (16, "DE"), (32, "ZO"), (64, "DE"), (512, "PA"),
     (256, "WA"), (2048, "NE")],
)  # fmt: skip
def test_state_letters_from_stat_nam(state: int, letters: str) -> None:
    """2.6.33 - 4.13 kernels: crash reads the bits from stat_nam ("RSDTtXZxKWPNn" on 4.13)."""
    f = FakeKernel(state_array=None)
    address = f.t.alloc(64)
    f.t.write(address, b"RSDTtXZxKWPNn\0")
    f.t.add_symbol("stat_nam", address, 14)
    assert tasks.state_letters(f.kernel(), state) == letters


def test_states_come_from_task_state_array() -> None:
    """The 6.1 array gives the 6.1 bits; an array without "I (idle)" (before 4.14) puts TASK_DEAD,
    WAKEKILL and WAKING after the single dead bit, as crash does."""
    assert tasks._task_states(FakeKernel().kernel()) == tasks._STATES_61
    old = FakeKernel(state_array=STATE_ARRAY_61[:7]).kernel()  # R S D T t X Z
    states = tasks._task_states(old)
    assert (states.dead, states.zombie, states.wakekill, states.waking) == (0x10 | 0x20, 0x20, 0x40, 0x80)
    assert tasks.state_letters(old, 0x40) == "??" and tasks.state_name(old, 0x40 | 1) == (
        "TASK_INTERRUPTIBLE|TASK_WAKEKILL"
    )


def test_an_unreadable_pid_table_is_warned_about_once(fake: FakeKernel) -> None:
    """A node of the pid IDR the dump does not hold (makedumpfile dropped it): the tasks found so far, and
    one warning for the session to print, not a silently short task list."""
    fake.t.write_u64(fake.ns + 8, 0xFFFF8880DEAD0000 | 2)  # xa_head: an internal entry to a missing node
    k = fake.kernel()
    assert {t.comm for t in tasks.for_each_task(k)} == {"swapper/0", "swapper/1"}
    assert k.take_warnings() == [
        "the pid table cannot be read at ffff8880dead0000: the task list is incomplete"
    ]
    k.invalidate()
    list(tasks.for_each_task(k))
    assert k.take_warnings() == []  # once per session
