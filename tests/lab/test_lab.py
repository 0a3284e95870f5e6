"""Tests of the crash lab itself: the manifest contract, the dumps (opened with drgn and checked against the
facts the guest recorded before crashing), crash 8.0.2 reference outputs, and the live targets (QEMU gdbstub,
real KGDB) answering GDB.

Expected values come only from the facts recorded inside the guest (manifest ``facts``), never from our own
tools' output.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashcompat.core.kernel import triage
from crashcompat.testing.lab import LabDump, LabManifest, crashlab_script

pytestmark = pytest.mark.lab

DUMP_FORMATS = {"elf", "kdump-compressed", "flattened"}
REQUIRED_REFERENCES = [
    "sys",
    "bt",
    "bt -a",
    "log",
    "log -m",
    "log -t",
    "mod",
    "kmem -i",
    "kmem -s",
    "kmem -s crashme_obj",
    "kmem -z",
    "ps",
]
REQUIRED_REFERENCE_PREFIXES = ["sym ", "vtop ", "pte ", "dis -l ", "mod -s crashme "]
MAGIC = 0xC0FFEE11DEADBEEF  # crashme.c's crashme_magic; also checked against the recorded fact


def _crashlab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(crashlab_script()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------------------------------------- manifest


def test_manifest_schema(lab_kernel: str, lab_manifest: LabManifest) -> None:
    m = lab_manifest
    assert m.kernel_series == lab_kernel == m["kernel"]["series"]
    assert m["kernel"]["suite"] and m["kernel"]["meta"].startswith("linux-image-")
    assert m.oracle["name"] == "crash" and m.oracle["argv"] and m.oracle["version"]
    assert m["guest_tools"]["makedumpfile"] and m["guest_tools"]["kexec-tools"]
    for key in (
        "schema_version",
        "cache_key",
        "built_at",
        "kernel",
        "test_module",
        "dumps",
        "default_dump",
        "timings",
        "scenarios",
    ):
        assert key in m, key
    k = m["kernel"]
    for key in ("release", "vmlinux", "module_debug_dir", "vmlinuz", "system_map", "config"):
        assert k[key], key
    for key in ("vmlinux", "vmlinuz", "system_map", "config"):
        assert Path(k[key]).is_file(), k[key]
    assert Path(k["module_debug_dir"]).is_dir()
    assert k["module_debug_dir"].endswith(f"usr/lib/debug/lib/modules/{k['release']}")
    assert m["test_module"]["name"] == "crashme"
    assert Path(m["test_module"]["ko"]).is_file()
    assert Path(m["test_module"]["source"]).is_file()
    names = [d["name"] for d in m["dumps"]]
    assert len(names) == len(set(names)), "dump names must be unique"
    assert m["default_dump"] in names
    for d in m["dumps"]:
        for key in ("name", "path", "format", "capture", "scenario", "dump_level", "compression", "facts"):
            assert key in d, (d["name"], key)
        assert d["format"] in DUMP_FORMATS
        assert d["capture"] in ("kdump", "qemu")
        assert Path(d["path"]).is_file(), d["path"]
        assert d["dump_level"] == (31 if d["capture"] == "kdump" else 0)
        if d["capture"] == "kdump":
            assert Path(d["dmesg"]).is_file()
        if d["capture"] == "qemu" and d["format"] == "elf":
            assert isinstance(d["paging"], bool)
    assert any(d["capture"] == "kdump" and d["format"] == "kdump-compressed" for d in m["dumps"])
    assert any(d["format"] == "elf" for d in m["dumps"])
    default = m.default_dump
    assert default.capture == "kdump" and default.format == "kdump-compressed"


def test_kdump_layout_is_kdump_tools_like(lab_kernel: str, lab_manifest: LabManifest) -> None:
    kdumps = [d for d in lab_manifest.dumps if d.capture == "kdump"]
    assert kdumps, "every series has a real kdump"
    for d in kdumps:
        p = Path(d.path)
        stamp = p.parent.name
        assert re.fullmatch(r"\d{12}", stamp), p
        assert p.parent.parent.name == "crash" and p.parent.parent.parent.name == "var", p
        assert p.name.endswith("." + stamp)
        assert Path(d["dmesg"]).name == f"dmesg.{stamp}"
    zlib = [d for d in kdumps if d["compression"] == "zlib"]
    assert zlib and Path(zlib[0].path).name.startswith("dump.")


def test_facts_are_complete(lab_dump: LabDump) -> None:
    f = lab_dump.facts
    assert f["crash_comm"] == "fixcrash"
    assert isinstance(f["crash_pid"], int) and f["crash_pid"] > 1
    assert f["hostname"] == "crashfixture"
    assert f["release"]
    assert isinstance(f["kaslr_offset"], int)
    pids = {t["pid"]: t["comm"] for t in f["tasks"]}
    assert pids.get(1) == "init" and pids.get(2) == "kthreadd"
    assert pids.get(f["crash_pid"]) == "fixcrash"
    assert "crashme_kthread" in pids.values()
    assert {s["comm"] for s in f["sleepers"]} == {"fixsleep_a", "fixsleep_b"}
    for s in f["sleepers"]:
        assert pids.get(s["pid"]) == s["comm"]
    assert any("known line one" in mk for mk in f["markers"])
    names = {mo["name"] for mo in f["modules"]}
    assert {"crashme", "qemu_fw_cfg", "virtio_blk"} <= names
    tm = f["test_module"]
    assert int(tm["magic"], 16) == MAGIC
    assert tm["list_len"] == 17 and tm["objects"] == 17 and tm["cache"] == "crashme_obj"
    assert tm["banner"] == "crashme fixture module v1"
    assert f["panic_policy"]["kernel.panic_on_oops"] == 1


@pytest.mark.lab_dumps(lossy=True, where=lambda d: d.format != "flattened")
def test_dump_holds_the_facts_pages(lab_dump: LabDump) -> None:
    """The dump file has the pages of crashme's objects (their physical addresses are facts): a filtered dump
    may leave out free, cache and user pages, not slab pages in use."""
    objs = lab_dump.facts["test_module"]["list_objects"]
    assert any("phys" in o for o in objs), "crashme reports its objects' physical addresses"
    assert "fact_pages_missing" in lab_dump
    if lab_dump.fact_pages_missing:
        first = lab_dump.fact_pages_missing[0]
        pytest.xfail(
            f"the capture tool dropped {len(lab_dump.fact_pages_missing)} of {len(objs)} slab pages in use "
            f"(e.g. {first['what']} at phys {first['phys']}); the dump is left out of the other lab tests"
        )


# ---------------------------------------------------------------------------------------------- references


def test_reference_outputs(lab_dump: LabDump) -> None:
    if lab_dump.get("reference_same_as"):
        assert lab_dump["reference_same_as"], "a reassembled dump points at the dump it was made from"
        return
    if lab_dump.reference_error:
        # The oracle crash cannot open this dump at all: its message is recorded, and nothing else.
        assert not lab_dump.get("reference") and "crash" in lab_dump.reference_error
        assert lab_dump["reference_tool"].startswith("crash ")
        return
    ref: dict[str, str] = lab_dump.get("reference", {})
    assert ref, f"no crash reference outputs for {lab_dump.name}"
    for cmd in REQUIRED_REFERENCES:
        assert cmd in ref, cmd
    for prefix in REQUIRED_REFERENCE_PREFIXES:
        assert any(k.startswith(prefix) for k in ref), prefix
    for cmd, path in ref.items():
        assert Path(path).is_file(), (cmd, path)
    for cmd in ["sys", "bt", "log", "mod", "kmem -i", "kmem -s", "kmem -s crashme_obj"]:
        assert Path(ref[cmd]).stat().st_size > 0, f"empty crash output for {cmd!r}"
    f = lab_dump.facts
    # crash's view agrees with what the guest recorded (a check of the dump, not of crash's formatting).
    sys_out = lab_dump.reference("sys") or ""
    assert re.search(r"NODENAME: crashfixture", sys_out)
    assert f["release"] in sys_out
    bt_out = lab_dump.reference("bt") or ""
    assert re.search(rf"PID: {f['crash_pid']}\s+TASK: \S+\s+CPU: \d+\s+COMMAND: \"fixcrash\"", bt_out)
    log_out = lab_dump.reference("log") or ""
    for mk in f["markers"]:
        if "writes" not in mk:  # the last marker may be written while the crash is under way
            assert mk in log_out, mk
    assert "crashme_obj" in (lab_dump.reference("kmem -s crashme_obj") or "")
    for entry in lab_dump.get("reference_known_wrong", []):
        assert entry["command"] and entry["why"]


def test_known_wrong_is_recorded(lab_kernel: str, lab_manifest: LabManifest) -> None:
    """Commands the oracle crash gets wrong are listed with the evidence seen in that run, not hidden; crash
    8.0.2's task-table bug on Debian 6.1 (CRASHLAB_ORACLE=host) shows up as such."""
    with_refs = [d for d in lab_manifest.dumps if d.get("reference")]
    # a series crash cannot open has no references, and says why on every dump
    assert with_refs or all(d.reference_error for d in lab_manifest.dumps)
    oracle = lab_manifest.oracle
    for d in with_refs:
        for w in d.get("reference_known_wrong", []):
            assert w["command"] and w["why"] and w["evidence"], (d.name, w)
        wrong = {w["command"] for w in d.get("reference_known_wrong", [])}
        if oracle.get("version") == "8.0.2" and lab_manifest.release.startswith("6.1."):
            assert "sys" in wrong, d.name  # its TASKS line
            if "ps" in d["reference"]:  # the scale scenario runs a short list without ps
                assert "ps" in wrong, d.name
        else:
            # The newest crash walks this kernel's task table: its ps lists every task the guest had.
            assert "ps" not in wrong, (d.name, d.get("reference_known_wrong"))


# ---------------------------------------------------------------------------------------------- drgn

_PROGS: dict[str, Any] = {}


@pytest.fixture
def prog(lab_dump: LabDump, lab_manifest: LabManifest) -> Any:
    drgn = pytest.importorskip("drgn")
    if lab_dump.path in _PROGS:  # by path: every kernel series has a dump of each name
        return _PROGS[lab_dump.path]
    p = drgn.Program(drgn.host_platform) if lab_dump.needs_host_platform else drgn.Program()
    p.set_core_dump(lab_dump.path)
    files = [lab_manifest.vmlinux, lab_manifest.crashme_ko, *lab_manifest.module_debug_files]
    with contextlib.suppress(drgn.MissingDebugInfoError):
        p.load_debug_info(files)
    _PROGS.clear()  # keep one program in memory at a time (tests are grouped by dump)
    _PROGS[lab_dump.path] = p
    return p


def test_drgn_crashed_thread(lab_dump: LabDump, prog: Any) -> None:
    t = prog.crashed_thread()
    assert t.tid == lab_dump.facts["crash_pid"]
    assert t.object.comm.string_().decode() == "fixcrash"


def test_drgn_test_module(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.list import list_for_each_entry

    assert prog["crashme_magic"].value_() == int(lab_dump.facts["test_module"]["magic"], 16) == MAGIC
    assert prog["crashme_banner"].string_().decode() == lab_dump.facts["test_module"]["banner"]
    objs = list(list_for_each_entry("struct crashme_obj", prog["crashme_list"].address_of_(), "node"))
    assert len(objs) == lab_dump.facts["test_module"]["list_len"] == 17
    want = [
        (o["index"], o["tag"], int(o["address"], 16)) for o in lab_dump.facts["test_module"]["list_objects"]
    ]
    got = [(o.index.value_(), o.tag.string_().decode(), o.value_()) for o in objs]
    assert got == want


def test_drgn_log_markers(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.printk import get_dmesg

    log = get_dmesg(prog).decode(errors="replace")
    for mk in lab_dump.facts["markers"]:
        assert mk in log, mk


def test_drgn_tasks_modules_symbols(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.module import for_each_module
    from drgn.helpers.linux.pid import for_each_task

    f = lab_dump.facts
    tasks = {t.pid.value_(): t.comm.string_().decode() for t in for_each_task(prog)}
    # kworkers come and go; every other task the guest listed right before the crash must be there.
    missing = [
        t for t in f["tasks"] if not t["comm"].startswith("kworker") and tasks.get(t["pid"]) != t["comm"]
    ]
    assert not missing
    mods = {m.name.string_().decode() for m in for_each_module(prog)}
    assert mods == {m["name"] for m in f["modules"]}
    assert prog.symbol("panic").address == int(f["symbols"]["panic"], 16)
    assert prog["init_uts_ns"].name.nodename.string_().decode() == f["hostname"]
    assert prog["init_uts_ns"].name.release.string_().decode() == f["release"]


def test_drgn_slab_cache(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.slab import find_slab_cache

    cache = find_slab_cache(prog, "crashme_obj")
    assert cache is not None, "crashme_obj must be its own (unmerged) cache"
    assert cache.object_size.value_() == lab_dump.facts["test_module"]["objsize"]


@pytest.mark.lab_dumps(where=lambda d: not d["dump_level"] & 8)  # makedumpfile -d 31 drops user pages
def test_drgn_user_markers(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.mm import access_remote_vm
    from drgn.helpers.linux.pid import find_task

    for s in lab_dump.facts["sleepers"]:
        task = find_task(prog, s["pid"])
        data = access_remote_vm(task.mm, int(s["marker_address"], 16), len(s["marker_text"]))
        assert data.decode() == s["marker_text"]


# ---------------------------------------------------------------------------------------------- scale
# Built only by `crashlab build --scenario scale --scenario scale-1g` (never by the test session: they are
# not default scenarios); these tests are generated only for the scale dumps the manifest lists.

#: scenario -> (fixture.spawn, fixture.extra_objects, guest RAM) as crashlab's scenarios.py boots it
SCALE_SCENARIOS = {"scale": (2000, 100_000, 2 * 1024**3), "scale-1g": (1000, 50_000, 1024**3)}
SCALE_DUMPS = (*(f"{s}-elf" for s in SCALE_SCENARIOS), "scale-kdump-zlib")


@pytest.mark.lab_dumps(*SCALE_DUMPS)
def test_scale_facts(lab_dump: LabDump) -> None:
    spawn, objects, ram = SCALE_SCENARIOS[lab_dump["scenario"]]
    f = lab_dump.facts
    sc = f["scale"]
    assert f["spawned"]["count"] == sc["spawned"] >= spawn
    assert sc["tasks"] == len(f["tasks"]) >= spawn + 50
    fixidle = [t for t in f["tasks"] if t["ppid"] == f["spawned"]["pid"]]
    assert len(fixidle) == sc["spawned"] and {t["comm"] for t in fixidle} == {"fixidle"}
    tm = f["test_module"]
    assert tm["extra_objects"] >= objects
    assert sc["crashme_obj_objects"] == tm["objects"] + tm["extra_objects"]
    assert tm["slabinfo_active_objs"] >= sc["crashme_obj_objects"]
    if lab_dump.format == "elf":  # QEMU's full dump (paging=false) holds all of the guest's RAM
        assert lab_dump["size"] >= ram


@pytest.mark.lab_dumps(*SCALE_DUMPS)
def test_scale_reference(lab_dump: LabDump) -> None:
    """crash 8.0.2's short list on the scale dumps; its kmem -s counts the objects the guest allocated."""
    assert set(lab_dump["reference"]) == {"sys", "kmem -s crashme_obj", "kmem -i", "log | tail -20"}
    kmem = lab_dump.reference("kmem -s crashme_obj") or ""
    # CACHE  OBJSIZE  ALLOCATED  TOTAL  SLABS  SSIZE  NAME
    m = re.search(r"^\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+k\s+crashme_obj\s*$", kmem, re.M)
    assert m, kmem
    assert int(m.group(2)) == lab_dump.facts["scale"]["crashme_obj_objects"]


@pytest.mark.lab_dumps(*SCALE_DUMPS)
def test_scale_drgn(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.list import list_count_nodes
    from drgn.helpers.linux.pid import for_each_task

    f = lab_dump.facts
    comms = [t.comm.string_().decode() for t in for_each_task(prog)]
    assert len(comms) >= len(f["tasks"]) - 5  # kworkers come and go
    assert comms.count("fixidle") == f["spawned"]["count"]
    extra = list_count_nodes(prog["crashme_extra_list"].address_of_())
    assert extra == prog["crashme_nextra"].value_() == f["test_module"]["extra_objects"]


# ---------------------------------------------------------------------------------------------- triage
# The triage scenarios (crashlab's TRIAGE_SCENARIOS, default on every series): one crash class each, QEMU's plain
# ELF dump. Every dump of every scenario records facts["triage"]: the class, the task and the culprit function.

#: scenario -> (class, culprit function, a line of the kernel's own report in the log)
TRIAGE_SCENARIOS = {
    "qemu-warn": ("warn", "crashme_do_warn", r"WARNING: .*crashme_do_warn"),
    "qemu-softlockup": ("soft-lockup", "crashme_do_softlockup", r"BUG: soft lockup - CPU#\d+ stuck for"),
    "qemu-hung-task": ("hung-task", "crashme_do_hung", r"INFO: task fixcrash:\d+ blocked for more than"),
    "qemu-rcu-stall": (
        "rcu-stall",
        "crashme_do_rcu_stall",
        r"rcu: INFO: rcu_(preempt|sched) .*detected stall",
    ),
    "qemu-oom": ("oom", "crashme_do_oom", r"Out of memory: system-wide panic_on_oom is enabled"),
    "qemu-kfence": ("kfence", "crashme_do_kfence", r"BUG: KFENCE: use-after-free read in crashme_do_kfence"),
}
TRIAGE_DUMPS = tuple(f"{s}-elf" for s in TRIAGE_SCENARIOS)
#: the scenarios whose guest runs fixbusy (SCHED_FIFO, spinning on CPU 1 when the kernel crashes)
BUSY_SCENARIOS = ("qemu-warn", "qemu-softlockup", "qemu-kfence")


def test_triage_scenarios_built_or_skipped(lab_kernel: str, lab_manifest: LabManifest) -> None:
    """Each series builds every triage scenario, or the manifest says why its kernel cannot (never silently)."""
    skipped: dict[str, str] = lab_manifest.get("scenarios_skipped", {})
    names = {d.name for d in lab_manifest.dumps}
    for sc in TRIAGE_SCENARIOS:
        if sc in skipped:
            assert skipped[sc], sc
            assert f"{sc}-elf" not in names
        else:
            assert sc in lab_manifest["scenarios"], (lab_kernel, sc)
            assert f"{sc}-elf" in names, (lab_kernel, sc)
    if lab_kernel in ("5.10", "6.1"):
        assert "qemu-kfence" in skipped  # no CONFIG_KFENCE in these Debian kernels


def test_triage_facts_on_every_dump(lab_kernel: str, lab_manifest: LabManifest) -> None:
    """facts["triage"] on every dump the lab has: the class, fixcrash as the task, the culprit a symbol the guest
    listed in /proc/kallsyms."""
    for d in lab_manifest.dumps:
        f = d.facts
        t = f["triage"]
        assert t["class"] in triage.CLASSES, (d.name, t)  # a class the triage model knows
        assert t["task"]["pid"] == f["crash_pid"] and t["task"]["comm"] == f["crash_comm"] == "fixcrash"
        assert t["task"]["cpu"] == f["crash_cpu"] == 0, d.name  # /init pins fixcrash to CPU 0
        fn, mod = t["culprit"]["function"], t["culprit"]["module"]
        assert fn in f["symbols"], (d.name, fn)
        assert mod is None or mod in {m["name"] for m in f["modules"]}
        want = TRIAGE_SCENARIOS.get(d["scenario"])
        if want:
            assert (t["class"], fn) == want[:2], d.name
        if t["class"] == "hung-task":
            owner = t["mutex"]["owner"]
            assert owner["comm"] == "fixhold" and owner["pid"] == t["mutex"]["owner_seen"]


@pytest.mark.lab_dumps(*TRIAGE_DUMPS)
def test_triage_dump_shows_the_class(lab_dump: LabDump, prog: Any) -> None:
    """The dump holds what the facts claim: the kernel's own report in the log, and fixcrash's stack through the
    culprit (for a hung task, fixcrash blocked in D state)."""
    from drgn.helpers.linux.pid import find_task
    from drgn.helpers.linux.printk import get_dmesg
    from drgn.helpers.linux.sched import task_state_to_char

    cls, fn, report = TRIAGE_SCENARIOS[lab_dump["scenario"]]
    log = get_dmesg(prog).decode(errors="replace")
    assert re.search(report, log), report
    assert "Kernel panic - not syncing" in log
    t = lab_dump.facts["triage"]
    task = find_task(prog, t["task"]["pid"])
    assert task.comm.string_().decode() == "fixcrash"
    frames = [f.name for f in prog.stack_trace(task) if f.name]
    assert fn in frames, frames
    if cls == "hung-task":
        assert task_state_to_char(task) == "D"
        holder = find_task(prog, t["mutex"]["owner"]["pid"])
        assert holder.comm.string_().decode() == "fixhold"
        owner = prog["crashme_mutex"].owner.counter.value_() & ~0x7 & (2**64 - 1)  # the low bits are flags
        assert owner == holder.value_()
    elif cls in ("warn", "oom", "kfence"):
        assert prog.crashed_thread().tid == t["task"]["pid"]


# ---------------------------------------------------------------------------------------------- actors
# fixactor (fixture_helper.c): what the task commands (files, vm, sig, ps, ipcs, net, runq) must show.


def test_actor_facts(lab_kernel: str, lab_manifest: LabManifest) -> None:
    for d in lab_manifest.dumps:
        f = d.facts
        a = f["actor"]
        pids = {t["pid"]: t for t in f["tasks"]}
        assert pids[a["pid"]]["comm"] == "fixactor"
        assert [t["comm"] for t in a["threads"]] == ["fixactor", "fixactor_thr"]
        states = {c["kind"]: (pids[c["pid"]]["state"], c["comm"]) for c in a["children"]}
        assert states == {"zombie": ("Z", "fixzombie"), "stopped": ("T", "fixstopped")}, d.name
        kinds = {fd["kind"] for fd in a["fds"]}
        assert {
            "pipe-read",
            "pipe-write",
            "unix-stream-pair",
            "unix-listen",
            "udp",
            "eventfd",
            "file",
        } <= kinds
        assert {"tcp-listen", "tcp-client", "tcp-accepted"} <= kinds, "lo is up in the guest"
        links = {fd["kind"]: fd["link"] for fd in a["fds"]}
        assert links["pipe-read"].startswith("pipe:[") and links["udp"].startswith("socket:[")
        assert links["eventfd"] == "anon_inode:[eventfd]" and links["file"] == "/tmp/fixactor.data"
        maps = {m["start"]: m for m in a["maps"]}
        shared = a["mappings"]["shared_file"]
        assert maps[shared["start"]]["perms"] == "rw-s" and maps[shared["start"]]["path"] == shared["path"]
        assert maps[a["mappings"]["private_anon"]["start"]]["perms"] == "rw-p"
        assert maps[a["mappings"]["sysv_shm"]["start"]]["path"].startswith("/SYSV46580001")
        sigs = {s["name"]: s for s in a["signals"]}
        assert sigs["SIGUSR1"]["disposition"] == "handler" and sigs["SIGUSR2"]["disposition"] == "ignore"
        assert sigs["SIGTERM"]["blocked"] and sigs["SIGRTMIN+1"]["pending"] == "shared"
        st = a["sigstatus"]
        rt = 1 << (sigs["SIGRTMIN+1"]["num"] - 1)
        assert int(st["ShdPnd"], 16) & rt and int(st["SigBlk"], 16) & rt
        assert int(st["SigBlk"], 16) & (1 << 14) and int(st["SigIgn"], 16) & (1 << 11)
        assert int(st["SigCgt"], 16) & (1 << 9) and st["Threads"] == "2"
        assert {k: v["key"] for k, v in f["ipc"].items()} == {
            "shm": "0x46580001",
            "sem": "0x46580002",
            "msg": "0x46580003",
        }
        assert all(v["id"] >= 0 for v in f["ipc"].values())
        busy = f.get("busy")
        if d["scenario"] in BUSY_SCENARIOS:
            assert (
                busy["cpu"] == 1 and busy["policy"] == "SCHED_FIFO" and pids[busy["pid"]]["comm"] == "fixbusy"
            )
        else:  # CPU 1 idles in the other scenarios (the default dumps' bt -a stays as it was)
            assert busy is None, d.name


@pytest.mark.lab_dumps("qemu-sysrq-elf", *TRIAGE_DUMPS)  # QEMU's dumps: the user pages are there
def test_drgn_actor(lab_dump: LabDump, prog: Any) -> None:
    from drgn.helpers.linux.fs import for_each_file
    from drgn.helpers.linux.mm import access_remote_vm
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.pid import find_task
    from drgn.helpers.linux.sched import task_state_to_char

    a = lab_dump.facts["actor"]
    task = find_task(prog, a["pid"])
    assert task.signal.nr_threads.value_() == 2
    fds = {fd for fd, _ in for_each_file(task)}
    assert {fd["fd"] for fd in a["fds"]} <= fds
    for c in a["children"]:
        assert task_state_to_char(find_task(prog, c["pid"])) == c["state"]
    anon = a["mappings"]["private_anon"]
    text = b"CRASHCOMPAT-ANON page=0 name=fixactor"
    assert access_remote_vm(task.mm, int(anon["start"], 16), len(text)) == text
    busy = lab_dump.facts.get("busy")
    if busy:  # SCHED_FIFO, CPU 1's current task when the kernel crashed
        b = find_task(prog, busy["pid"])
        assert b.policy.value_() == 1
        assert per_cpu(prog["runqueues"], busy["cpu"]).curr.value_() == b.value_()


# ---------------------------------------------------------------------------------------------- cache


def test_warm_build_is_fast(lab_manifest: LabManifest) -> None:
    t0 = time.monotonic()
    proc = _crashlab("build", timeout=120)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(lab_manifest.path)
    assert took < 10, f"warm crashlab build took {took:.1f}s"


def test_status(lab_manifest: LabManifest) -> None:
    proc = _crashlab("status", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    st = json.loads(proc.stdout)
    assert any(e["manifest"] == str(lab_manifest.path) for e in st["entries"])


# ---------------------------------------------------------------------------------------------- live


@pytest.fixture
def live_vm(request: pytest.FixtureRequest, lab_manifest: LabManifest) -> Iterator[dict[str, Any]]:
    mode: str = request.param
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    if mode == "kgdb" and not lab_manifest.kgdb:
        pytest.skip("the lab has no KGDB kernel (crashlab build --scenario kgdb)")
    # One live VM at a time on the machine: wait (bounded) for anyone else's to end.
    proc = _crashlab("live", f"--{mode}", "--json", "--lifetime", "900", "--wait", "900", timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout)
    try:
        yield info
    finally:
        _crashlab("stop", "--pid", str(info["pid"]), timeout=60)  # ours only


def _gdb(args: list[str], timeout: float = 400) -> str:
    proc = subprocess.run(
        ["gdb", "-batch", "-nx", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("live_vm", ["gdbstub"], indirect=True)
def test_live_gdbstub_answers_gdb(live_vm: dict[str, Any]) -> None:
    info = live_vm
    assert info["host"] == "127.0.0.1"
    out = _gdb(
        [
            "-ex",
            f"symbol-file -o {info['kaslr_offset_hex']} {info['vmlinux']}",
            "-ex",
            f"target remote 127.0.0.1:{info['gdb_port']}",
            "-ex",
            "p init_task.comm",
            "-ex",
            "p init_uts_ns.name.nodename",
            "-ex",
            "info threads",
            "-ex",
            "detach",
        ]
    )
    assert '= "swapper/0' in out, out[-2000:]
    assert '= "crashfixture"' in out, out[-2000:]
    assert len(re.findall(r"^\*?\s+\d+\s+Thread ", out, re.M)) == 2, out[-2000:]  # one thread per vCPU


@pytest.mark.parametrize("live_vm", ["gdbstub"], indirect=True)
def test_live_drgn_over_qmp(live_vm: dict[str, Any]) -> None:
    drgn_cli = Path(sys.executable).parent / "drgn"
    if not drgn_cli.exists():
        pytest.skip("no drgn CLI next to this python")
    code = "print(prog['init_uts_ns'].name.nodename.string_().decode())"
    proc = subprocess.run(
        [str(drgn_cli), "--qemu", live_vm["qmp_drgn"], "-s", live_vm["vmlinux"], "-e", code],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert "crashfixture" in proc.stdout, proc.stderr[-1000:]


@pytest.mark.parametrize("live_vm", ["kgdb"], indirect=True)
def test_live_kgdb_answers_gdb(live_vm: dict[str, Any]) -> None:
    info = live_vm
    out = _gdb(
        [
            info["vmlinux"],
            "-ex",
            "set serial baud 115200",
            "-ex",
            f"target remote 127.0.0.1:{info['kgdb_port']}",
            "-ex",
            "p init_task.comm",
            "-ex",
            "info threads",
            "-ex",
            "detach",
        ],
        timeout=600,
    )
    assert '= "swapper/0' in out, out[-2000:]
    threads = re.findall(r"Thread \d+ \(([^)]*)\)", out)
    comms = {t["comm"] for t in info["facts"]["tasks"]}
    assert "fixkgdb" in threads, out[-2000:]
    assert "init" in threads
    assert len(set(threads) & comms) >= len(comms) // 2, (threads, comms)
