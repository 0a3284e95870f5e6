"""Reference outputs: the oracle crash in batch mode on every dump.

The oracle is crash's newest release, Debian unstable's package run from a private root (roots.ensure_oracle);
``CRASHLAB_ORACLE=host`` uses the host's crash instead (Debian 12's 8.0.2). Each dump gets two crash invocations
(``crash -s VMLINUX VMCORE -i CMDFILE < /dev/null``), every command written as ``CMD >> OUTFILE`` (crash's own
redirection; echo markers between commands come out in the wrong place), each after a ``kmem -o`` to /dev/null
that clears what the previous command left set (see ``_run_crash``):
  pass 1: the command list, with addresses taken from the facts the guest recorded (KASLR, module base, ...);
  pass 2: commands that need a value pass 1 printed (``pte`` of the entry ``vtop`` showed, ``kmem -p PHYS``).
A command is listed in ``reference_known_wrong`` only where this very run shows crash wrong against the guest's
facts, with that evidence (``_known_wrong``). Where crash cannot open a dump at all, the dump gets no references
and ``reference_error`` holds crash's message.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from . import roots
from .util import LabError, log, run

CRASH_TIMEOUT = 600.0

TASK_TABLE_WHY = (
    "crash does not find the guest's tasks: it cannot walk this kernel's pid hash (crash 8.0.2 on Debian 6.1: "
    "struct pid flex-array backport, upstream b69f0aeb0689; fixed in crash 8.0.4 commit 8858006)"
)
VMA_WHY = (
    "crash cannot walk this kernel's VMAs (crash 8.0.2 predates maple-tree VMAs of Linux 6.1; fixed in crash "
    "8.0.3 commit 9efc1f6)"
)
BTA_QEMU_WHY = (
    "on this QEMU dump crash cannot read the stack of the CPU stopped by the panic IPI; drgn unwinds it "
    "(stop_this_cpu, sysvec_reboot)"
)


ORACLES = ("newest", "host")


def oracle_choice(default: str) -> str:
    """``newest`` (crash's newest release from Debian unstable) or ``host`` (the host's crash): CRASHLAB_ORACLE,
    else the kernel series' default."""
    choice = os.environ.get("CRASHLAB_ORACLE", "").strip() or default
    if choice not in ORACLES:
        raise LabError(f"CRASHLAB_ORACLE={choice!r}: use one of {', '.join(ORACLES)}")
    return choice


def current_oracle(cache_root: Path, default: str = "newest") -> dict[str, Any] | None:
    """The oracle a cache look-up expects (no apt-get update): the host's crash, or the newest crash root
    last resolved."""
    if oracle_choice(default) == "host":
        return roots.host_oracle()
    return roots.cached_oracle(cache_root)


def oracle_for_build(cache_root: Path, default: str = "newest") -> dict[str, Any]:
    """The oracle of a build: crash's newest release in its private root (made now if needed), or the host's."""
    if oracle_choice(default) == "host":
        return roots.host_oracle()
    return roots.ensure_oracle(cache_root)


def build_id(path: Path) -> str | None:
    proc = run(["readelf", "-n", path], check=False, timeout=60, what="readelf")
    m = re.search(r"Build ID: ([0-9a-f]+)", proc.stdout)
    return m.group(1) if m else None


def _slug(cmd: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", cmd).strip("_")
    return s[:60] or "cmd"


def pass1_commands(d: dict[str, Any], kinfo: dict[str, Any], guest: dict[str, Any]) -> list[tuple[str, str]]:
    """(crash command line, manifest key). The key is the command, prefixed by the context it needs."""
    f = d["facts"]
    sym = f["symbols"]
    panic = sym.get("panic", "panic")
    deref = sym.get("crashme_deref", "")
    mods = {m["name"]: m["address"] for m in f["modules"]}
    objs = f["test_module"]["list_objects"]
    obj = objs[0]["address"] if objs else ""
    pid = f.get("crash_pid")
    sleeper = f["sleepers"][0] if f["sleepers"] else None
    ko = guest["crashme_ko"]
    mdir = kinfo["module_debug_dir"]
    cmds = [
        "sys",
        "sys -t",
        "bt",
        "bt -a",
        "bt -f",
        "bt -F",
        "bt -FF",
        "bt -s",
        "bt -sx",
        "bt -x",
        "bt -d",
        "bt -t",
        "bt -T",
        "bt -e",
        "bt -c 0",
        "bt -c 1",
        f"bt {pid}",
        "log",
        "log -m",
        "log -t",
        "log -T",
        "log -d",
        "log -a",
        "log -c",
        "log | tail -20",
        "mod",
        "mod -t",
        "ps",
        "ps -k",
        "ps -u",
        "ps -G",
        "ps -s",
        "ps -p",
        "ps -c",
        "ps -t",
        "ps -l",
        "ps -m",
        "ps -a",
        f"ps {pid}",
        "foreach bt",
        f"set {pid}",
        "set",
        "kmem -i",
        "kmem -s",
        "kmem -S crashme_obj",
        "kmem -s crashme_obj",
        "kmem -z",
        "kmem -v",
        "kmem -V",
        "kmem -o",
        "kmem -n",
        "kmem -p | head -40",
        f"kmem {obj}",
        f"kmem {mods.get('crashme', '')}",
        f"sym {panic}",
        "sym panic",
        "sym -l | head -40",
        "sym -m crashme",
        "sym -q crashme_",
        f"sym {deref}",
        f"dis -l {panic}",
        "dis panic | head -30",
        f"dis -l {deref}",
        f"vtop {mods.get('crashme', '')}",
        f"vtop {obj}",
        f"vtop -k {obj}",
        f"vtop {sym.get('jiffies', '')}",
        "rd jiffies",
        f"rd {obj} 8",
        "p jiffies",
        "p init_task.comm",
        "p init_uts_ns.name",
    ]
    if sleeper:
        cmds += [
            f"vtop -u {sleeper['marker_address']}",
            f"vtop -c {pid} {sleeper['marker_address']}",
            "vm",
            f"rd -u {sleeper['marker_address']}",
        ]
    out = [(c, c) for c in cmds if not c.endswith(" ")]
    # With the module's debug info (crash matches the .ko by its build ID, like drgn).
    load = f"mod -s crashme {ko}"
    out.append((load, load))
    for c in [
        "mod",
        f"sym {deref}",
        "sym -m crashme",
        "p crashme_magic",
        # Not p/x: crash hands a line it does not know (p/x) to gdb whole, ">> FILE" included, and fails.
        "p -x crashme_magic",
        "p crashme_banner",
        "p crashme_nobj",
        "dis -l crashme_deref",
        "dis -l crashme_write",
        "bt -l",
        "list -s crashme_obj.index,tag -l crashme_obj.node -H crashme_list",
        f"struct crashme_obj {obj}",
        "kmem -s crashme_obj",
    ]:
        out.append((c, f"{load}; {c}"))
    out.append(("mod -d crashme", f"{load}; mod -d crashme"))
    out.append(("mod", f"{load}; mod -d crashme; mod"))
    out.append((f"mod -S {mdir}", f"mod -S {mdir}"))
    out.append(("mod", f"mod -S {mdir}; mod"))
    return out


_WALK = re.compile(r"^\s*(PGD|P4D|PUD|PMD|PTE):\s+\S+\s+=>\s+([0-9a-f]+)", re.M)
_PHYS = re.compile(r"^[0-9a-f]+\s+([0-9a-f]+)\s*$", re.M)


def pass2_commands(outputs: dict[str, Path]) -> list[tuple[str, str]]:
    """Commands using values pass 1 printed: the last page-table entry of each kernel vtop, and its physical
    address."""
    out: list[tuple[str, str]] = []
    for key, path in outputs.items():
        if not key.startswith("vtop ") or key.startswith(("vtop -u", "vtop -c")):
            continue
        text = path.read_text(errors="replace") if path.exists() else ""
        walk = _WALK.findall(text)
        if walk:
            _level, val = walk[-1]
            out.append((f"pte {val}", f"pte {val}"))
        m = re.search(r"VIRTUAL\s+PHYSICAL\s*\n\s*[0-9a-f]+\s+([0-9a-f]+)", text)
        if m:
            phys = m.group(1)
            for c in (f"kmem -p {phys}", f"ptov {phys}", f"rd -p {phys} 4"):
                out.append((c, c))
    return list(dict.fromkeys(out))


def _run_crash(
    vmlinux: str,
    vmcore: str,
    cmds: list[tuple[str, str]],
    outdir: Path,
    tag: str,
    start_index: int,
    paths: dict[str, str],
    crash: list[str],
) -> dict[str, Path]:
    """One crash invocation running ``cmds``; returns key -> output file. ``paths`` (long path -> short name)
    keeps file names readable."""
    cmdfile = outdir / f"{tag}.crashrc"
    lines: list[str] = []
    result: dict[str, Path] = {}
    for i, (cmd, key) in enumerate(cmds, start=start_index):
        short = key
        for long, name in paths.items():
            short = short.replace(long, name)
        of = outdir / f"{i:03d}-{_slug(short)}.txt"
        of.unlink(missing_ok=True)
        of.touch()
        # crash runs an -i file's lines without restore_sanity() between them, so one command's flags leak
        # into the next (HEADER_PRINTED: vtop after kmem -p leaves out its page table header). kmem starts
        # by clearing that flag: a "kmem -o" to /dev/null before each command makes every output the one
        # an interactive session prints.
        lines.append("kmem -o > /dev/null")
        lines.append(f"{cmd} >> {of}")
        result[key] = of
    lines.append("exit")
    cmdfile.write_text("\n".join(lines) + "\n")
    with open(outdir / f"{tag}.stdout", "w") as so, open(outdir / f"{tag}.stderr", "w") as se:
        try:
            proc = subprocess.run(
                [*crash, "-s", vmlinux, vmcore, "-i", str(cmdfile)],
                stdin=subprocess.DEVNULL,
                stdout=so,
                stderr=se,
                timeout=CRASH_TIMEOUT,
                cwd=outdir,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"crash timed out after {CRASH_TIMEOUT:.0f}s on {vmcore}") from exc
    (outdir / f"{tag}.rc").write_text(f"{proc.returncode}\n")
    return result


_PS_ROW = re.compile(r"^[> ]\s*(\d+)\s+-?\d+\s+\d+\s+[0-9a-f]+\s", re.M)


def _known_wrong(d: dict[str, Any], outputs: dict[str, Path], startup: str) -> list[dict[str, str]]:
    """Commands whose output this run shows wrong against the guest's facts, each with that evidence."""
    wrong: list[dict[str, str]] = []
    facts = d["facts"]

    def text(key: str) -> str:
        """The output file of a command."""
        p = outputs.get(key)
        return p.read_text(errors="replace") if p and p.exists() else ""

    # The task table: crash's ps against every task /proc listed right before the crash.
    guest_tasks = {t["pid"]: t["comm"] for t in facts["tasks"]}
    ps = text("ps")
    listed = {int(p) for p in _PS_ROW.findall(ps)}
    missing = sorted(set(guest_tasks) - listed)
    pid_hash = re.search(r"WARNING: active task \S+ on cpu \d+ not found in PID hash", startup)
    sys_tasks = re.search(r"^\s+TASKS:\s+(\d+)", text("sys"), re.M)
    # A task or two may end between the facts and the crash (busybox's sleep loop); more is crash's error.
    if ps.strip() and (len(missing) > 2 or pid_hash):
        evidence = (
            f"crash's ps lists {len(listed & set(guest_tasks))} of the guest's {len(guest_tasks)} tasks "
            f"(missing e.g. {', '.join(f'{p} {guest_tasks[p]}' for p in missing[:4])})"
            + (f"; sys says TASKS: {sys_tasks.group(1)}" if sys_tasks else "")
            + ("; startup: 'active task ... not found in PID hash'" if pid_hash else "")
        )
        for key in outputs:
            if key.split(" |")[0].split()[0] in ("ps", "foreach") and key != f"ps {facts.get('crash_pid')}":
                wrong.append({"command": key, "why": TASK_TABLE_WHY, "evidence": evidence})
        wrong.append({"command": "sys", "why": "the TASKS line: " + TASK_TABLE_WHY, "evidence": evidence})
        wrong.append(
            {"command": "set PID (any non-active task)", "why": TASK_TABLE_WHY, "evidence": evidence}
        )
    # The identity lines of sys.
    sys_out = text("sys")
    for label, want in (("RELEASE", facts.get("release")), ("NODENAME", facts.get("hostname"))):
        m = re.search(rf"^\s+{label}: (.*)$", sys_out, re.M)
        if m and want and m.group(1).strip() != want:
            wrong.append(
                {
                    "command": "sys",
                    "why": f"the {label} line is not the guest's",
                    "evidence": f"crash: {m.group(1).strip()!r}, uname in the guest: {want!r}",
                }
            )
    # VMA walking (vtop -u, vm, rd -u): crash's own error about the mm/VMA structures.
    for key in outputs:
        if key.startswith(("vtop -u", "vtop -c", "vm", "rd -u")):
            t = text(key)
            m = re.search(
                r"invalid structure member offset: (mm_struct_mmap|vm_area_struct\S*|mm_struct\S*)", t
            )
            if m:
                wrong.append({"command": key, "why": VMA_WHY, "evidence": m.group(0)})
    # bt of the CPU the panic IPI stopped, on QEMU dumps.
    if d["capture"] == "qemu":
        for key in ("bt -a", "bt -c 1", "bt -c 0"):
            m = re.search(r"bt: read of stack at \S+ failed", text(key))
            if m:
                wrong.append({"command": key, "why": BTA_QEMU_WHY, "evidence": m.group(0)})
    # Modules: every module /proc/modules listed, at its address.
    mod = text("mod")
    if mod.strip():
        absent = [
            x["name"] for x in facts.get("modules", []) if not re.search(rf"\s{re.escape(x['name'])}\s", mod)
        ]
        if absent:
            wrong.append(
                {
                    "command": "mod",
                    "why": "modules the guest had loaded are missing",
                    "evidence": f"/proc/modules had them, crash's mod does not: {', '.join(absent[:4])}",
                }
            )
    # kmem -i against /proc/meminfo read right before the crash (a little drift is normal; a factor is not).
    meminfo = facts.get("meminfo", {})
    kmem_i = text("kmem -i")
    for label, key in (("SLAB", "Slab"), ("TOTAL MEM", "MemTotal")):
        m = re.search(rf"^\s*{label}\s+\d+\s+([\d.]+) (KB|MB|GB)", kmem_i, re.M)
        if m and meminfo.get(key):
            kb = float(m.group(1)) * {"KB": 1, "MB": 1024, "GB": 1024 * 1024}[m.group(2)]
            if abs(kb - meminfo[key]) > 0.25 * meminfo[key]:
                wrong.append(
                    {
                        "command": "kmem -i",
                        "why": f"the {label} line is far from the guest's /proc/meminfo {key}",
                        "evidence": f"crash: {m.group(1)} {m.group(2)}, /proc/meminfo {key}: {meminfo[key]} kB",
                    }
                )
    # The log: the marker lines the guest wrote to /dev/kmsg.
    log_out = text("log")
    if log_out.strip():
        lost = [mk for mk in facts.get("markers", []) if mk not in log_out]
        if lost:
            wrong.append(
                {
                    "command": "log",
                    "why": "lines the guest logged are missing",
                    "evidence": f"not in crash's log: {lost[0]!r}",
                }
            )
    return wrong


def _open_error(outdir: Path) -> str:
    """crash's own message when it gave up on the dump before running any command ('' if it did not)."""
    text = (outdir / "pass1.stderr").read_text(errors="replace") + (outdir / "pass1.stdout").read_text(
        errors="replace"
    )
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    msg = [ln for ln in lines if ln.startswith(("crash:", "FILE:")) or "invalid structure" in ln]
    return " ".join(" ".join(ln.split()) for ln in msg[:3]) or (lines[-1] if lines else "no output")


def oracle_tool(oracle: dict[str, Any]) -> str:
    where = "host" if oracle.get("suite") == "host" else f"Debian {oracle.get('suite')}"
    return f"crash {oracle.get('version')} ({where} {oracle.get('package_version')})"


def reference_for_dump(
    d: dict[str, Any],
    kinfo: dict[str, Any],
    guest: dict[str, Any],
    outdir: Path,
    commands: tuple[str, ...] | None = None,
    oracle: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The oracle crash's output of ``commands`` (default: pass1_commands, then pass 2) on one dump."""
    oracle = oracle or roots.host_oracle()
    crash = [str(a) for a in oracle["argv"]]
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cmds1 = [(c, c) for c in commands] if commands is not None else pass1_commands(d, kinfo, guest)
    paths = {guest["crashme_ko"]: "crashme.ko", kinfo["module_debug_dir"]: "moddir"}
    out1 = _run_crash(kinfo["vmlinux"], d["path"], cmds1, outdir, "pass1", 1, paths, crash)
    base = {
        "reference_tool": oracle_tool(oracle),
        "reference_oracle": {k: oracle.get(k) for k in ("name", "version", "package_version", "suite")},
        "reference_startup": str(outdir / "pass1.stderr"),
    }
    if all(p.stat().st_size == 0 for p in out1.values()):
        # crash gave up while opening the dump: no references; the tests fall back to facts and drgn.
        res: dict[str, Any] = {
            **base,
            "reference": {},
            "reference_known_wrong": [],
            "reference_error": _open_error(outdir),
            # What crash was asked, so that the tests run the same command lines without an oracle.
            "reference_commands": [{"command": c, "key": k} for c, k in cmds1],
            "reference_seconds": round(time.monotonic() - t0, 1),
        }
        (outdir / "index.json").write_text(json.dumps(res, indent=1) + "\n")
        return res
    cmds2 = pass2_commands(out1)
    out2 = (
        _run_crash(kinfo["vmlinux"], d["path"], cmds2, outdir, "pass2", len(cmds1) + 1, paths, crash)
        if cmds2
        else {}
    )
    outputs = {**out1, **out2}
    startup = (outdir / "pass1.stderr").read_text(errors="replace") + (outdir / "pass1.stdout").read_text(
        errors="replace"
    )
    empty = [k for k, p in outputs.items() if p.stat().st_size == 0]
    sessions = [
        {
            "pass": 1,
            "crashrc": str(outdir / "pass1.crashrc"),
            "stderr": str(outdir / "pass1.stderr"),
            "commands": [{"command": c, "key": k, "output": str(out1[k])} for c, k in cmds1],
        },
        {
            "pass": 2,
            "crashrc": str(outdir / "pass2.crashrc"),
            "stderr": str(outdir / "pass2.stderr"),
            "commands": [{"command": c, "key": k, "output": str(out2[k])} for c, k in cmds2],
        },
    ]
    res = {
        **base,
        "reference": {k: str(p) for k, p in outputs.items()},
        "reference_known_wrong": _known_wrong(d, outputs, startup),
        "reference_sessions": sessions,
        "reference_empty": empty,
        "reference_seconds": round(time.monotonic() - t0, 1),
    }
    (outdir / "index.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def run_references(
    dumps: list[dict[str, Any]],
    kinfo: dict[str, Any],
    guest: dict[str, Any],
    workdir: Path,
    final_dir: str,
    commands: tuple[str, ...] | None = None,
    oracle: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """crash reference outputs for each dump (two dumps at a time). Paths are rewritten to ``final_dir``.
    ``commands`` replaces the full command list (a scenario's own short list)."""
    if os.environ.get("CRASHLAB_NO_REFERENCE") == "1":
        return {}
    oracle = oracle or roots.host_oracle()
    todo = [d for d in dumps if "reassembled_from" not in d]
    log(f"{oracle_tool(oracle)} reference outputs for {len(todo)} dumps")
    jobs = max(1, int(os.environ.get("CRASHLAB_JOBS", "2")))
    results: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {}
        for d in todo:
            local = dict(d)
            local["path"] = d["path"].replace(final_dir, str(workdir), 1)
            refdir = workdir / "reference" / d["name"]
            futs[ex.submit(reference_for_dump, local, kinfo, guest, refdir, commands, oracle)] = d
        for fut in concurrent.futures.as_completed(futs):
            d = futs[fut]
            res = fut.result()
            results[d["name"]] = json.loads(json.dumps(res).replace(str(workdir), final_dir))
            if res.get("reference_error"):
                log(f"  {d['name']}: crash cannot open it: {res['reference_error'][:200]}")
            else:
                log(f"  {d['name']}: {len(res['reference'])} outputs in {res['reference_seconds']}s")
    for d in dumps:
        if "reassembled_from" in d:
            flat = next((x for x in dumps if x["path"] == d["reassembled_from"]), None)
            results[d["name"]] = {
                "reference": {},
                "reference_known_wrong": [],
                "reference_same_as": flat["name"] if flat else None,
            }
    return results
