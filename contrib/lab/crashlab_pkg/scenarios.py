"""Crash scenarios: boot the Debian guest, crash it, capture dumps the ways users do.

``kdump-*``  real in-guest kdump: crashkernel=192M, kexec -p, crash; the capture kernel runs makedumpfile and
             writes a kdump-tools style /var/crash/<stamp>/ to an ext4 virtio disk, read out with debugfs.
``qemu-*``   QMP dump-guest-memory of the crashed guest: ELF (paging off/on) and kdump-zlib (flattened).

The triage scenarios (TRIAGE_SCENARIOS: WARN, soft lockup, hung task, RCU stall, OOM, KFENCE) are QEMU ELF
captures of one crash class each: /init arms the sysctls that turn the kernel's report into a panic, then
fixcrash writes the trigger to /proc/crashme. A scenario that needs a kernel option (``requires``) is skipped
on a series that lists it in its ``skips``, with the reason in the manifest's ``scenarios_skipped``.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from . import dumpcheck
from . import facts as factmod
from .util import LabError, log, run, write_json
from .vm import VM

BOOT_TIMEOUT = 240.0  # boot to "ready" under TCG takes ~10 s; generous for a loaded 2-core host
PANIC_TIMEOUT = 120.0
CAPTURE_TIMEOUT = 400.0  # capture kernel boot + 3 makedumpfile runs: ~20-30 s measured


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    capture: str  # "kdump" | "qemu" | "kgdb"
    crash: str  # sysrq | null | panic | bug | warn | softlockup | rcu | hung | oom | kfence | none
    cpu: str = "qemu64"
    mem: str = "512M"
    formats: tuple[str, ...] = ("elf", "elf-paging", "kdump-zlib")
    description: str = ""
    kernel_args: str = ""  # extra fixture.* words for /init
    references: tuple[str, ...] | None = None  # oracle command lines; None: the full list (reference.py)
    requires: tuple[str, ...] = ()  # kernel config options (=y) the scenario needs


# The scale scenarios: sleeping processes `fixidle` (fixture_helper's fixspawn) and crashme_obj objects
# (crashme's extra_objects) on top of what every guest has. Two sizes (and qemu-sysrq as the smallest) give
# the benchmark three points to fit its growth over.
SCALE_REFERENCES = ("sys", "kmem -s crashme_obj", "kmem -i", "log | tail -20")


def _scale(name: str, mem: str, tasks: int, objects: int, formats: tuple[str, ...]) -> Scenario:
    return Scenario(
        name,
        "qemu",
        "sysrq",
        mem=mem,
        formats=formats,
        kernel_args=f"fixture.spawn={tasks} fixture.extra_objects={objects}",
        references=SCALE_REFERENCES,
        description=f"QEMU dumps of a sysrq-c panic of a bigger guest ({mem[:-1]} GiB, {tasks} more sleeping "
        f"processes, {objects} more crashme_obj objects), for benchmarks; not a default",
    )


# The triage scenarios: one crash class each, QEMU's plain ELF dump only, and a short oracle list (the stacks
# and the log triage reads; ps for the task table's known-wrong check; runq, ipcs and fixactor's files, vm and
# sig for the task commands). Three of them run fixbusy (fixture.busy=1), the SCHED_FIFO task busy on CPU 1.
TRIAGE_REFERENCES = (
    "sys",
    "bt",
    "bt -a",
    "ps",
    "log",
    "foreach bt",
    "runq",
    "ipcs",
    "foreach fixactor files",
    "foreach fixactor vm",
    "foreach fixactor sig",
)


def _triage(
    name: str, crash: str, what: str, kernel_args: str = "", requires: tuple[str, ...] = ()
) -> Scenario:
    return Scenario(
        name,
        "qemu",
        crash,
        formats=("elf",),
        kernel_args=kernel_args,
        references=TRIAGE_REFERENCES,
        requires=requires,
        description=f"QEMU ELF dump of {what}",
    )


TRIAGE_LIST = [
    _triage(
        "qemu-warn", "warn", "a WARN() in crashme with kernel.panic_on_warn=1", kernel_args="fixture.busy=1"
    ),
    _triage(
        "qemu-softlockup",
        "softlockup",
        "a soft lockup (crashme spins with preemption off; softlockup_panic=1, watchdog_thresh=2)",
        kernel_args="fixture.busy=1",
    ),
    _triage(
        "qemu-hung-task",
        "hung",
        "a hung task (fixcrash waits in D state for crashme_mutex, which fixhold holds; hung_task_panic=1, "
        "hung_task_timeout_secs=2)",
    ),
    _triage(
        "qemu-rcu-stall",
        "rcu",
        "an RCU stall (crashme spins in an RCU read-side section with preemption off; panic_on_rcu_stall=1, "
        "rcu_cpu_stall_timeout=3)",
    ),
    _triage(
        "qemu-oom",
        "oom",
        "an OOM panic (crashme takes every page; vm.panic_on_oom=1)",
    ),
    _triage(
        "qemu-kfence",
        "kfence",
        "a KFENCE use-after-free report (crashme reads a freed KFENCE object; kfence.sample_interval=5, "
        "panic_on_warn=1)",
        kernel_args="kfence.sample_interval=5 fixture.busy=1",
        requires=("CONFIG_KFENCE",),
    ),
]
TRIAGE_SCENARIOS = tuple(s.name for s in TRIAGE_LIST)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "kdump-null", "kdump", "null", description="real kdump of an oops (NULL dereference in crashme)"
        ),
        Scenario("kdump-sysrq", "kdump", "sysrq", description="real kdump of sysrq-c"),
        Scenario("kdump-panic", "kdump", "panic", description="real kdump of panic() in crashme"),
        Scenario("kdump-bug", "kdump", "bug", description="real kdump of BUG() in crashme"),
        Scenario("qemu-sysrq", "qemu", "sysrq", description="QEMU dumps of a sysrq-c panic"),
        Scenario(
            "qemu-null", "qemu", "null", description="QEMU dumps of an oops (NULL dereference in crashme)"
        ),
        Scenario("qemu-panic", "qemu", "panic", description="QEMU dumps of panic() in crashme"),
        Scenario("qemu-bug", "qemu", "bug", description="QEMU dumps of BUG() in crashme"),
        Scenario(
            "qemu-la57",
            "qemu",
            "sysrq",
            cpu="max",
            mem="512M",
            formats=("elf", "kdump-zlib"),
            description="QEMU dumps of a sysrq-c panic with 5-level paging (-cpu max)",
        ),
        _scale("scale", "2G", 2000, 100000, ("elf", "kdump-zlib")),
        _scale("scale-1g", "1G", 1000, 50000, ("elf",)),
        *TRIAGE_LIST,
        Scenario("kgdb", "kgdb", "none", description="the self-built KGDB kernel (for crashlab live --kgdb)"),
    ]
}
DEFAULT_SCENARIOS = ["kdump-null", "qemu-sysrq", "kgdb", *TRIAGE_SCENARIOS]

KDUMP_VARIANTS = [
    # (name suffix, file prefix in /var/crash/<ts>/, format, compression)
    ("zlib-d31", "dump", "kdump-compressed", "zlib"),
    ("lzo-d31", "dump-lzo", "kdump-compressed", "lzo"),
    ("elf-d31", "dump-elf", "elf", "none"),
]


def missing_config(sc: Scenario, config: Path) -> list[str]:
    """The options of ``sc.requires`` the kernel's config does not set to y."""
    if not sc.requires:
        return []
    try:
        text = config.read_text(errors="replace")
    except OSError:
        return list(sc.requires)
    return [opt for opt in sc.requires if f"\n{opt}=y\n" not in f"\n{text}"]


def run_scenario(sc: Scenario, guest: dict[str, Any], kinfo: dict[str, Any], out: Path) -> dict[str, Any]:
    """Run one dump scenario into ``out`` (a staging dir). Returns {dumps, facts, timings}."""
    if sc.capture == "kdump":
        return _run_kdump(sc, guest, kinfo, out)
    if sc.capture == "qemu":
        return _run_qemu(sc, guest, kinfo, out)
    raise LabError(f"scenario {sc.name} is not a dump scenario")


def _append(sc: Scenario, mode: str, extra: str = "") -> str:
    return (
        f"console=ttyS0,115200 fixture.mode={mode} fixture.crash={sc.crash} fixture.scenario={sc.name} "
        f"{extra}"
    ).strip()


def _facts(vm: VM, sc: Scenario, out: Path) -> dict[str, Any]:
    entries = factmod.parse_file(vm.facts)
    # Only the first kernel's facts (the capture kernel adds capture_* lines, handled by build_facts).
    f = factmod.build_facts(entries, sc.name, sc.crash)
    write_json(out / "facts.json", f)
    return f


def _check_pages(sc: Scenario, dumps: list[dict[str, Any]]) -> None:
    """Record, per dump, the facts' objects whose pages the file lacks (dumpcheck.py)."""
    for d in dumps:
        missing = dumpcheck.fact_pages_missing(d)
        if missing is None:
            continue
        d["fact_pages_missing"] = missing
        if missing:
            log(
                f"[{sc.name}] warning: {d['name']} lacks the pages of {len(missing)} objects the guest had "
                f"(e.g. {missing[0]['what']} at phys {missing[0]['phys']}): the capture tool dropped pages in use"
            )


def _run_qemu(sc: Scenario, guest: dict[str, Any], kinfo: dict[str, Any], out: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    log(f"[{sc.name}] booting the guest (TCG) and crashing it via {sc.crash}")
    with VM(
        out,
        kernel=Path(kinfo["vmlinuz"]),
        initrd=Path(guest["main_initrd"]),
        append=_append(sc, "qemu", sc.kernel_args),
        mem=sc.mem,
        cpu=sc.cpu,
        name=f"crashlab-{sc.name}",
    ) as vm:
        vm.start()
        vm.wait_for(vm.facts, r"^FIXTURE-FACT ready", BOOT_TIMEOUT, "the FIXTURE-READY marker")
        timings["boot_to_ready"] = round(time.monotonic() - t0, 1)
        vm.wait_for(vm.console, r"---\[ end Kernel panic", PANIC_TIMEOUT, "the kernel panic")
        timings["boot_to_panic"] = round(time.monotonic() - t0, 1)
        time.sleep(1.0)  # let the other CPU settle in its stop loop
        files: dict[str, Path] = {}
        for fmt in sc.formats:
            if fmt == "elf":
                p = out / "vmcore-elf"
                timings["dump_elf"] = round(vm.dump(p, "elf", paging=False), 1)
            elif fmt == "elf-paging":
                p = out / "vmcore-elf-paging"
                timings["dump_elf_paging"] = round(vm.dump(p, "elf", paging=True), 1)
            elif fmt == "kdump-zlib":
                p = out / "vmcore-kdump-zlib.flat"
                timings["dump_kdump_zlib"] = round(vm.dump(p, "kdump-zlib"), 1)
            else:
                raise LabError(f"unknown QEMU dump format {fmt}")
            files[fmt] = p
        vm.quit()
    facts = _facts(vm, sc, out)
    dumps: list[dict[str, Any]] = []
    base = {"capture": "qemu", "scenario": sc.name, "dump_level": 0}
    if "elf" in files:
        dumps.append(
            {
                "name": f"{sc.name}-elf",
                "path": str(files["elf"]),
                "format": "elf",
                "compression": "none",
                "paging": False,
                **base,
            }
        )
    if "elf-paging" in files:
        dumps.append(
            {
                "name": f"{sc.name}-elf-paging",
                "path": str(files["elf-paging"]),
                "format": "elf",
                "compression": "none",
                "paging": True,
                **base,
            }
        )
    if "kdump-zlib" in files:
        flat = files["kdump-zlib"]
        dumps.append(
            {
                "name": f"{sc.name}-kdump-zlib",
                "path": str(flat),
                "format": "flattened",
                "compression": "zlib",
                **base,
            }
        )
        # Also a reassembled (standard kdump-compressed) copy: makedumpfile -R.
        reassembled = out / "vmcore-kdump-zlib"
        t1 = time.monotonic()
        with open(flat, "rb") as src:
            import subprocess

            proc = subprocess.run(
                ["makedumpfile", "-R", str(reassembled)], stdin=src, capture_output=True, timeout=300
            )
        if proc.returncode == 0 and reassembled.exists():
            timings["makedumpfile_R"] = round(time.monotonic() - t1, 1)
            dumps.append(
                {
                    "name": f"{sc.name}-kdump-zlib-reassembled",
                    "path": str(reassembled),
                    "format": "kdump-compressed",
                    "compression": "zlib",
                    "reassembled_from": str(flat),
                    **base,
                }
            )
        else:
            log(f"[{sc.name}] warning: makedumpfile -R failed: {proc.stderr.decode(errors='replace')[-200:]}")
    for d in dumps:
        d["size"] = Path(d["path"]).stat().st_size
        d["console_log"] = str(out / "console.log")
        d["facts"] = facts
    _check_pages(sc, dumps)
    timings["total"] = round(time.monotonic() - t0, 1)
    log(f"[{sc.name}] {len(dumps)} dumps in {timings['total']}s")
    return {"dumps": dumps, "facts": facts, "timings": timings}


def _run_kdump(sc: Scenario, guest: dict[str, Any], kinfo: dict[str, Any], out: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    disk = out / "dumpdisk.img"
    with open(disk, "wb") as f:
        f.truncate(768 * 1024 * 1024)
    run(["mkfs.ext4", "-F", "-q", "-L", "crashdumps", disk], timeout=120, what="mkfs.ext4")
    log(f"[{sc.name}] booting the guest with crashkernel=192M, kexec -p, crashing it via {sc.crash}")
    with VM(
        out,
        kernel=Path(kinfo["vmlinuz"]),
        initrd=Path(guest["main_initrd"]),
        append=_append(sc, "kdump", f"crashkernel=192M {sc.kernel_args}"),
        mem=sc.mem,
        cpu=sc.cpu,
        disk=disk,
        name=f"crashlab-{sc.name}",
    ) as vm:
        vm.start()
        vm.wait_for(vm.facts, r"^FIXTURE-FACT ready", BOOT_TIMEOUT, "the FIXTURE-READY marker")
        timings["boot_to_ready"] = round(time.monotonic() - t0, 1)
        vm.wait_for(vm.facts, r"^FIXTURE-FACT capture_start", PANIC_TIMEOUT + 60, "the kdump capture kernel")
        timings["boot_to_capture_kernel"] = round(time.monotonic() - t0, 1)
        vm.wait_for(vm.facts, r"^FIXTURE-FACT capture_done", CAPTURE_TIMEOUT, "the end of the kdump capture")
        timings["capture_done"] = round(time.monotonic() - t0, 1)
        vm.quit()
    facts = _facts(vm, sc, out)
    cap = facts.get("capture", {})
    ts = cap.get("capture_done", {}).get("ts")
    if not ts:
        raise LabError(f"[{sc.name}] the capture kernel reported no /var/crash directory")
    bad = [s for s in cap.get("steps", []) if s.get("rc") != "0"]
    if bad:
        raise LabError(f"[{sc.name}] makedumpfile failed in the capture kernel: {bad[0]}")
    rdump = out / "rdump"
    rdump.mkdir()
    run(["debugfs", "-R", f"rdump /var {rdump}", disk], timeout=300, what="debugfs rdump")
    src = rdump / "var"
    if not (src / "crash" / ts).is_dir():
        raise LabError(f"[{sc.name}] the dump disk holds no /var/crash/{ts}")
    shutil.move(str(src), str(out / "var"))
    shutil.rmtree(rdump)
    disk.unlink()
    crashdir = out / "var" / "crash" / ts
    dmesg = crashdir / f"dmesg.{ts}"
    if not dmesg.exists():
        raise LabError(f"[{sc.name}] makedumpfile --dump-dmesg wrote no {dmesg.name}")
    dumps: list[dict[str, Any]] = []
    for suffix, prefix, fmt, comp in KDUMP_VARIANTS:
        p = crashdir / f"{prefix}.{ts}"
        if not p.exists():
            raise LabError(f"[{sc.name}] the capture kernel wrote no {p.name}")
        dumps.append(
            {
                "name": f"{sc.name}-{suffix}",
                "path": str(p),
                "format": fmt,
                "capture": "kdump",
                "scenario": sc.name,
                "dump_level": 31,
                "compression": comp,
                "dmesg": str(dmesg),
                "size": p.stat().st_size,
                "console_log": str(out / "console.log"),
                "facts": facts,
            }
        )
    _check_pages(sc, dumps)
    for step in cap.get("steps", []):
        timings[f"makedumpfile_{step['name']}"] = float(step.get("seconds", "0"))
    timings["total"] = round(time.monotonic() - t0, 1)
    log(f"[{sc.name}] {len(dumps)} dumps in {timings['total']}s")
    return {"dumps": dumps, "facts": facts, "timings": timings, "crash_dir": str(crashdir)}
