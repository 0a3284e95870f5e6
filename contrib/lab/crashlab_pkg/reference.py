"""Reference outputs: Debian's crash 8.0.2 in batch mode on every dump.

Each dump gets two crash invocations (``crash -s VMLINUX VMCORE -i CMDFILE < /dev/null``), every command written
as ``CMD >> OUTFILE`` (crash's own redirection; echo markers between commands come out in the wrong place):
  pass 1: the command list, with addresses taken from the facts the guest recorded (KASLR, module base, ...);
  pass 2: commands that need a value pass 1 printed (``pte`` of the entry ``vtop`` showed, ``kmem -p PHYS``).
Where crash 8.0.2 is known to be wrong on Debian's 6.1 kernels, the command is listed in
``reference_known_wrong`` with the reason (and the evidence seen in this very run).
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

from .util import LabError, log, run

CRASH_TIMEOUT = 600.0

TASK_TABLE_WHY = (
    "crash 8.0.2 cannot walk the pid hash of Debian 6.1 kernels (struct pid flex-array backport, "
    "upstream b69f0aeb0689; fixed in crash 8.0.4 commit 8858006): it sees only the active task of "
    "each CPU"
)
VMA_WHY = (
    "crash 8.0.2 predates maple-tree VMAs (Linux 6.1; fixed in crash 8.0.3 commit 9efc1f6): "
    "'invalid structure member offset: mm_struct_mmap'"
)
BTA_QEMU_WHY = (
    "on QEMU dumps crash 8.0.2 cannot read the stack of the CPU stopped by the panic IPI "
    "('bt: read of stack at ... failed'); drgn unwinds it (stop_this_cpu, sysvec_reboot)"
)


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
        "p/x crashme_magic",
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
        lines.append(f"{cmd} >> {of}")
        result[key] = of
    lines.append("exit")
    cmdfile.write_text("\n".join(lines) + "\n")
    with open(outdir / f"{tag}.stdout", "w") as so, open(outdir / f"{tag}.stderr", "w") as se:
        try:
            proc = subprocess.run(
                ["crash", "-s", vmlinux, vmcore, "-i", str(cmdfile)],
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


def _known_wrong(d: dict[str, Any], outputs: dict[str, Path], startup: str) -> list[dict[str, str]]:
    wrong: list[dict[str, str]] = []

    def text(key: str) -> str:
        """The output file of a command."""
        p = outputs.get(key)
        return p.read_text(errors="replace") if p and p.exists() else ""

    pid_hash = re.search(r"WARNING: active task \S+ on cpu \d+ not found in PID hash", startup)
    ntasks = len(d["facts"]["tasks"])
    sys_tasks = re.search(r"^\s+TASKS:\s+(\d+)", text("sys"), re.M)
    evidence = f"crash found {sys_tasks.group(1) if sys_tasks else '?'} tasks, the guest had {ntasks}" + (
        "; startup: 'active task ... not found in PID hash'" if pid_hash else ""
    )
    if pid_hash or (sys_tasks and int(sys_tasks.group(1)) < ntasks // 2):
        for key in outputs:
            if (
                key.split(" |")[0].split()[0] in ("ps", "foreach")
                and key != f"ps {d['facts'].get('crash_pid')}"
            ):
                wrong.append({"command": key, "why": TASK_TABLE_WHY, "evidence": evidence})
        wrong.append({"command": "sys", "why": "the TASKS line: " + TASK_TABLE_WHY, "evidence": evidence})
        wrong.append(
            {"command": "set PID (any non-active task)", "why": TASK_TABLE_WHY, "evidence": evidence}
        )
    for key in outputs:
        if key.startswith(("vtop -u", "vtop -c", "vm", "rd -u")):
            t = text(key)
            if (
                "mm_struct_mmap" in t
                or "invalid structure member offset" in t
                or not t.strip()
                or "invalid" in t
            ):
                wrong.append(
                    {"command": key, "why": VMA_WHY, "evidence": (t.strip().splitlines() or [""])[0][:200]}
                )
    if d["capture"] == "qemu":
        for key in ("bt -a", "bt -c 1", "bt -c 0"):
            t = text(key)
            m = re.search(r"bt: read of stack at \S+ failed", t)
            if m:
                wrong.append({"command": key, "why": BTA_QEMU_WHY, "evidence": m.group(0)})
    return wrong


def reference_for_dump(
    d: dict[str, Any],
    kinfo: dict[str, Any],
    guest: dict[str, Any],
    outdir: Path,
    commands: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """crash 8.0.2's output of ``commands`` (default: pass1_commands, then pass 2) on one dump."""
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cmds1 = [(c, c) for c in commands] if commands is not None else pass1_commands(d, kinfo, guest)
    paths = {guest["crashme_ko"]: "crashme.ko", kinfo["module_debug_dir"]: "moddir"}
    out1 = _run_crash(kinfo["vmlinux"], d["path"], cmds1, outdir, "pass1", 1, paths)
    cmds2 = pass2_commands(out1)
    out2 = (
        _run_crash(kinfo["vmlinux"], d["path"], cmds2, outdir, "pass2", len(cmds1) + 1, paths)
        if cmds2
        else {}
    )
    outputs = {**out1, **out2}
    startup = (outdir / "pass1.stderr").read_text(errors="replace") + (outdir / "pass1.stdout").read_text(
        errors="replace"
    )
    empty = [k for k, p in outputs.items() if p.stat().st_size == 0]
    if len(empty) == len(outputs):
        raise LabError(f"crash produced no output at all for {d['name']} (see {outdir}/pass1.stderr)")
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
        "reference": {k: str(p) for k, p in outputs.items()},
        "reference_known_wrong": _known_wrong(d, outputs, startup),
        "reference_sessions": sessions,
        "reference_tool": "crash 8.0.2 (Debian)",
        "reference_startup": str(outdir / "pass1.stderr"),
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
) -> dict[str, dict[str, Any]]:
    """crash reference outputs for each dump (two dumps at a time). Paths are rewritten to ``final_dir``.
    ``commands`` replaces the full command list (a scenario's own short list)."""
    if os.environ.get("CRASHLAB_NO_REFERENCE") == "1":
        return {}
    todo = [d for d in dumps if "reassembled_from" not in d]
    log(f"crash 8.0.2 reference outputs for {len(todo)} dumps")
    jobs = max(1, int(os.environ.get("CRASHLAB_JOBS", "2")))
    results: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {}
        for d in todo:
            local = dict(d)
            local["path"] = d["path"].replace(final_dir, str(workdir), 1)
            refdir = workdir / "reference" / d["name"]
            futs[ex.submit(reference_for_dump, local, kinfo, guest, refdir, commands)] = d
        for fut in concurrent.futures.as_completed(futs):
            d = futs[fut]
            res = fut.result()
            results[d["name"]] = json.loads(json.dumps(res).replace(str(workdir), final_dir))
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
