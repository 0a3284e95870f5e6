"""Parse the guest's ``FIXTURE-FACT <kind> key=value ...`` lines (serial port ttyS2) into the manifest facts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Keys whose value runs to the end of the line (they may hold spaces); they always come last.
REST_KEYS = {"comm", "text", "banner", "link", "path"}
KERNEL_START_MAP = 0xFFFFFFFF81000000
_PAIR = re.compile(r"(\w+)=")


def parse_line(line: str) -> tuple[str, dict[str, str]] | None:
    line = line.replace("\r", "").rstrip("\n")
    if not line.startswith("FIXTURE-FACT "):
        return None
    body = line[len("FIXTURE-FACT ") :]
    kind, _, rest = body.partition(" ")
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PAIR.match(rest, pos)
        if not m:
            # A bare word (e.g. a crashme "obj" line): keep it under its own name.
            word, _, _ = rest[pos:].partition(" ")
            pairs.setdefault("_words", "")
            pairs["_words"] = (pairs["_words"] + " " + word).strip()
            pos += len(word) + 1
            continue
        key = m.group(1)
        if key in REST_KEYS:
            pairs[key] = rest[m.end() :]
            break
        end = rest.find(" ", m.end())
        end = len(rest) if end < 0 else end
        pairs[key] = rest[m.end() : end]
        pos = end + 1
    return kind, pairs


def parse_file(path: Path) -> list[tuple[str, dict[str, str]]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        parsed = parse_line(line)
        if parsed:
            out.append(parsed)
    return out


def task_comm(name: str) -> str:
    """task_struct.comm from a /proc name: /proc shows full kthread names and kworker descriptions."""
    if name.startswith("kworker/"):
        m = re.match(r"kworker/[^-+]*", name)
        name = m.group(0) if m else name
    return name[:15]


# What each crashme/sysrq trigger makes of the kernel, for `crashcompat triage`: the class of the crash and the
# function of the crashing task's stack that is not the kernel's report machinery (its module, None for the
# kernel itself). fixcrash is the task in every case: the one that oopsed, spun (soft lockup, RCU stall),
# blocked in D state (hung task: khungtaskd panics, fixcrash is the hung task), allocated (OOM) or warned.
TRIAGE: dict[str, tuple[str, str, str | None]] = {
    "null": ("oops", "crashme_deref", "crashme"),
    "sysrq": ("sysrq", "sysrq_handle_crash", None),
    "panic": ("panic", "crashme_do_panic", "crashme"),
    "bug": ("bug", "crashme_do_bug", "crashme"),
    "warn": ("warn", "crashme_do_warn", "crashme"),
    "softlockup": ("soft-lockup", "crashme_do_softlockup", "crashme"),
    "rcu": ("rcu-stall", "crashme_do_rcu_stall", "crashme"),
    "hung": ("hung-task", "crashme_do_hung", "crashme"),
    "oom": ("oom", "crashme_do_oom", "crashme"),
    "kfence": ("kfence", "crashme_do_kfence", "crashme"),
}
#: the classes triage knows (docs/triage.md); the lab makes the first ten of them
TRIAGE_CLASSES = (
    "oops",
    "bug",
    "soft-lockup",
    "hard-lockup",
    "hung-task",
    "rcu-stall",
    "sysrq",
    "panic",
    "oom",
    "warn",
    "kasan",
    "kfence",
    "mce",
)


def _hex(v: str) -> str:
    """0x-prefixed lower-case hex without leading zeros ("0x00400000" -> "0x400000")."""
    try:
        return hex(int(v, 16))
    except ValueError:
        return v


def _num(v: str) -> int | str:
    try:
        return int(v, 0)
    except ValueError:
        return v


def build_facts(entries: list[tuple[str, dict[str, str]]], scenario: str, crash: str) -> dict[str, Any]:
    """Turn fact lines of the first kernel into the manifest's ``facts`` object."""
    tasks: list[dict[str, Any]] = []
    markers: list[str] = []
    modules: list[dict[str, Any]] = []
    sleepers: list[dict[str, Any]] = []
    symbols: dict[str, str] = {}
    policy: dict[str, int | str] = {}
    crashme: dict[str, Any] = {"objects_list": []}
    info: dict[str, str] = {}
    trigger: dict[str, str] = {}
    slab: dict[str, str] = {}
    spawn: dict[str, str] = {}
    meminfo: dict[str, int] = {}
    capture: dict[str, Any] = {"steps": []}
    errors: list[str] = []
    busy: dict[str, str] = {}
    holder: dict[str, str] = {}
    mutex: dict[str, str] = {}
    actor: dict[str, Any] = {}
    ipc: dict[str, dict[str, Any]] = {}
    for kind, kv in entries:
        if kind == "task":
            name = kv.get("comm", "")
            tasks.append(
                {
                    "pid": int(kv["pid"]),
                    "comm": task_comm(name),
                    "name": name,
                    "ppid": int(kv.get("ppid", "-1")),
                    "state": kv.get("state", ""),
                }
            )
        elif kind == "marker":
            markers.append(kv.get("text", ""))
        elif kind == "module":
            modules.append({"name": kv["name"], "address": kv["address"], "size": int(kv.get("size", "0"))})
        elif kind == "sleeper":
            comm = kv.get("comm", "")
            sleepers.append(
                {
                    "pid": int(kv["pid"]),
                    "comm": comm,
                    "marker_address": kv["marker_address"],
                    "marker_text": f"CRASHCOMPAT-USER-MAGIC page=0 name={comm}",
                    "pages": int(kv.get("pages", "1")),
                }
            )
        elif kind == "symbol":
            # The first one wins (kallsyms may list static duplicates).
            symbols.setdefault(kv["name"], kv["address"])
        elif kind == "sysctl":
            policy[kv["name"]] = _num(kv.get("text", ""))
        elif kind == "crashme":
            if "_words" in kv and kv["_words"] == "kobj":
                kobj = {
                    "name": kv.get("name", ""),
                    "address": kv.get("address", ""),
                    "phys": kv.get("phys", ""),
                }
                if "pid" in kv:
                    kobj["pid"] = kv["pid"]
                crashme.setdefault("kernel_objects", []).append(kobj)
            elif "_words" in kv and kv["_words"] == "obj":
                obj = {"index": int(kv["index"]), "tag": kv["tag"], "address": kv["address"]}
                if "phys" in kv:
                    obj["phys"] = kv["phys"]
                crashme["objects_list"].append(obj)
            else:
                for k, v in kv.items():
                    crashme[k] = v
        elif kind == "info":
            info.update(kv)
        elif kind == "meminfo" and "name" in kv:
            meminfo[kv["name"]] = int(kv.get("kb", "0") or 0)
        elif kind == "trigger":
            trigger = kv
        elif kind == "slab":
            slab = kv
        elif kind == "spawn":
            spawn = kv
        elif kind in ("capture_dir", "capture_done", "capture_start"):
            capture[kind] = kv
        elif kind == "capture_step":
            capture["steps"].append(kv)
        elif kind == "kexec":
            capture["kexec_crash_loaded"] = kv.get("crash_loaded")
        elif kind == "error":
            errors.append(kv.get("text", ""))
        elif kind == "busy":
            busy = kv
        elif kind == "holder":
            holder = kv
        elif kind == "mutex":
            mutex = kv
        elif kind == "ipc":
            ipc[kv["kind"]] = {k: _num(v) if k != "key" else v for k, v in kv.items() if k != "kind"}
        elif kind.startswith("actor") or kind in ("fd", "map", "sigstatus"):
            _actor_fact(actor, kind, kv)
    kaslr_text = int(info.get("kaslr_text", "0x0"), 16)
    facts: dict[str, Any] = {
        "scenario": scenario,
        "crash": crash,
        "crash_pid": int(trigger["pid"]) if trigger else None,
        "crash_comm": trigger.get("comm") if trigger else None,
        "crash_trigger": {"target": trigger.get("target"), "payload": trigger.get("payload")}
        if trigger
        else None,
        "release": info.get("release"),
        "hostname": info.get("hostname"),
        "machine": info.get("machine"),
        "kaslr_text": info.get("kaslr_text"),
        "kaslr_offset": kaslr_text - KERNEL_START_MAP if kaslr_text else None,
        "kaslr_offset_hex": hex(kaslr_text - KERNEL_START_MAP) if kaslr_text else None,
        "tasks": tasks,
        "markers": markers,
        "modules": modules,
        "symbols": symbols,
        "test_module": {
            "name": "crashme",
            "magic": crashme.get("magic"),
            "banner": crashme.get("banner"),
            "list": "crashme_list",
            "list_len": len(crashme["objects_list"]),
            "list_objects": crashme["objects_list"],
            "struct": "crashme_obj",
            "cache": crashme.get("cache"),
            "objects": int(crashme.get("objects", "-1")),
            "objsize": int(crashme.get("objsize", "-1")),
            "slabinfo_objsize": int(slab.get("objsize", "-1")),
            # SLUB's /proc/slabinfo counts every object of the cache's slabs as active.
            "slabinfo_active_objs": int(slab.get("active_objs", "-1")),
            "slabinfo_num_objs": int(slab.get("num_objs", "-1")),
            # Slab objects of the kernel crashme saw (every process's task_struct, the struct pid of the reader
            # of /proc/crashme, the pid IDR's top node), with physical addresses: for dumpcheck.
            "kernel_objects": crashme.get("kernel_objects", []),
            "kthread_comm": "crashme_kthread",
            "kthread_pid": int(crashme.get("kthread_pid", "-1")),
            "proc_file": "/proc/crashme",
        },
        "sleepers": sleepers,
        "panic_policy": policy,
        # /proc/meminfo right before the crash, in kB ("Slab", "Shmem", "MemFree", ...).
        "meminfo": meminfo,
    }
    # Only guests booted with fixture.spawn / fixture.extra_objects (the scale scenario) report these.
    if "extra_objects" in crashme:
        facts["test_module"]["extra_objects"] = int(crashme["extra_objects"])
    if spawn:
        facts["spawned"] = {
            "pid": int(spawn["pid"]),
            "comm": spawn.get("comm", ""),
            "count": int(spawn["count"]),
            "child_comm": spawn.get("child_comm", ""),
        }
    if spawn or "extra_objects" in crashme:
        tm = facts["test_module"]
        facts["scale"] = {
            "tasks": len(tasks),
            "spawned": facts["spawned"]["count"] if spawn else 0,
            "crashme_obj_objects": tm["objects"] + tm.get("extra_objects", 0),
            "slabinfo_active_objs": tm["slabinfo_active_objs"],
        }
    if trigger and "cpu" in trigger:
        facts["crash_cpu"] = int(trigger["cpu"])
    if trigger and crash in TRIAGE:
        facts["triage"] = _triage(crash, trigger, holder, mutex)
    if busy:
        facts["busy"] = {
            "pid": int(busy["pid"]),
            "comm": busy.get("comm", ""),
            "cpu": int(busy["cpu"]),
            "policy": busy.get("policy", ""),
            "priority": int(busy.get("priority", "0")),
        }
    if actor:
        facts["actor"] = actor
    if ipc:
        facts["ipc"] = ipc
    if len(capture) > 1 or capture["steps"]:
        facts["capture"] = capture
    if errors:
        facts["errors"] = errors
    return facts


def _triage(
    crash: str, trigger: dict[str, str], holder: dict[str, str], mutex: dict[str, str]
) -> dict[str, Any]:
    """facts["triage"]: what the guest did, as `crashcompat triage` must find it (class, task, culprit)."""
    cls, function, module = TRIAGE[crash]
    task: dict[str, Any] = {"pid": int(trigger["pid"]), "comm": trigger.get("comm", "")}
    if "cpu" in trigger:
        task["cpu"] = int(trigger["cpu"])
    out: dict[str, Any] = {
        "class": cls,
        "task": task,
        "culprit": {"function": function, "module": module},
        "trigger": {"target": trigger.get("target"), "payload": trigger.get("payload")},
    }
    if crash == "hung" and holder:
        out["mutex"] = {
            "name": mutex.get("name", "crashme_mutex"),
            "owner": {"pid": int(holder["pid"]), "comm": holder.get("comm", "")},
        }
        if mutex.get("holder"):
            out["mutex"]["owner_seen"] = int(mutex["holder"])
    return out


def _actor_fact(actor: dict[str, Any], kind: str, kv: dict[str, str]) -> None:
    """fixactor's lines (fixture_helper.c) into facts["actor"]: what files, vm, sig, ps and net must show."""
    if kind == "actor":
        actor.update(
            {
                "pid": int(kv["pid"]),
                "comm": kv.get("comm", ""),
                "threads": [{"tid": int(kv["pid"]), "comm": kv.get("comm", "")}],
            }
        )
    elif kind == "actor_thread":
        actor.setdefault("threads", []).append({"tid": int(kv["tid"]), "comm": kv.get("comm", "")})
    elif kind == "actor_child":
        actor.setdefault("children", []).append(
            {
                "pid": int(kv["pid"]),
                "ppid": int(kv["ppid"]),
                "kind": kv["kind"],
                "state": kv.get("state", ""),
                "comm": kv.get("comm", ""),
            }
        )
    elif kind == "actor_signal":
        sig: dict[str, Any] = {
            "num": int(kv["num"]),
            "name": kv["name"],
            "disposition": kv.get("disposition", ""),
            "blocked": kv.get("blocked") == "1",
        }
        if "handler" in kv:
            sig["handler"] = _hex(kv["handler"])
        if "pending" in kv:
            sig["pending"] = kv["pending"]
        actor.setdefault("signals", []).append(sig)
    elif kind == "actor_mapping":
        start = int(kv["start"], 16)
        m: dict[str, Any] = {
            "start": hex(start),
            "end": hex(start + int(kv["size"])),
            "size": int(kv["size"]),
        }
        if kv.get("path"):
            m["path"] = kv["path"]
        actor.setdefault("mappings", {})[kv["what"]] = m
    elif kind == "actor_net":
        actor["net"] = {
            "tcp_port": int(kv.get("tcp_port", "0")),
            "udp_port": int(kv.get("udp_port", "0")),
            "unix_path": kv.get("unix_path", ""),
        }
    elif kind == "fd":
        actor.setdefault("fds", []).append(
            {"fd": int(kv["fd"]), "kind": kv.get("kind", ""), "link": kv.get("link", "")}
        )
    elif kind == "map":
        actor.setdefault("maps", []).append(
            {
                "start": _hex(kv["start"]),
                "end": _hex(kv["end"]),
                "perms": kv.get("perms", ""),
                "offset": _hex(kv.get("offset", "0")),
                "dev": kv.get("dev", ""),
                "inode": int(kv.get("inode", "0")),
                "path": kv.get("path", ""),
            }
        )
    elif kind == "sigstatus":
        actor["sigstatus"] = {k: v for k, v in kv.items() if k != "pid"}
