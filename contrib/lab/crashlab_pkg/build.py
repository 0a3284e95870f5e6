"""``crashlab build``: assemble a cache entry (kernel, guest, dump scenarios, KGDB kernel, references).

Cache layout (``$CRASHCOMPAT_LAB_CACHE``, default /var/cache/crashcompat-lab)::

    resolve.json                      which kernel linux-image-cloud-amd64 pointed to, and when
    downloads/*.deb                   kernel image, -dbg and linux-source packages (apt-get download)
    kernel/<release>/                 the lean extraction (see kernel.py), complete.json written last
    kgdb/<srcver>-<cfghash>/linux     the KGDB kernel tree, built in place; complete.json written last
    labs/<release>-<hash>/            one entry per (kernel, lab files, tool versions):
        guest/                        crashme.ko (the exact loaded build), actors, initramfs images
        dumps/<scenario>/             dumps + console/facts logs + reference/ (crash 8.0.2 outputs)
        kgdb/                         crashme.ko for the KGDB kernel and its initramfs
        manifest.json                 the contract (README.md), rewritten atomically as components land
    tmp/                              staging dirs; a component appears under labs/ only when complete
    run/                              the live VM (live.json, sockets, logs) and the VM lock
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from . import guest as guestmod
from . import host, kernel, kgdb, reference, scenarios
from .util import (
    LAB_DIR,
    LabError,
    check_free_space,
    du_bytes,
    file_lock,
    hash_tree,
    log,
    read_json,
    staging_dir,
    write_json,
)

SCHEMA_VERSION = 1
NEED_GB = 5.0
KEEP_ENTRIES = 2


def default_cache() -> Path:
    return Path(os.environ.get("CRASHCOMPAT_LAB_CACHE") or "/var/cache/crashcompat-lab")


# The lab files that shape the artefacts (the guest, the kernel handling, the VM runs, the facts, the crash
# references, the manifest). The command line, the live-VM and demo code only use an entry, so editing them
# does not invalidate the cache.
HASHED = [
    "guest",
    "crashlab_pkg/__init__.py",
    "crashlab_pkg/build.py",
    "crashlab_pkg/facts.py",
    "crashlab_pkg/guest.py",
    "crashlab_pkg/host.py",
    "crashlab_pkg/kernel.py",
    "crashlab_pkg/kgdb.py",
    "crashlab_pkg/reference.py",
    "crashlab_pkg/scenarios.py",
    "crashlab_pkg/util.py",
    "crashlab_pkg/vm.py",
]


def lab_hash() -> str:
    return hash_tree([LAB_DIR / f for f in HASHED], LAB_DIR)


def entry_key(release: str, tools: dict[str, str]) -> str:
    h = hashlib.sha256((lab_hash() + json.dumps(tools, sort_keys=True)).encode()).hexdigest()
    return f"{release}-{h[:12]}"


def _tools_ready(tools: dict[str, str]) -> bool:
    return all(tools.values())


def find_entry(cache_root: Path, requested: list[str], allow_apt: bool = True) -> Path | None:
    """The manifest of a complete entry holding ``requested`` scenarios, without building or apt-get update."""
    tools = host.tool_versions()
    if not _tools_ready(tools):
        return None
    releases: list[str] = []
    try:
        if allow_apt:
            releases.append(host.resolve_kernel(cache_root, allow_update=False)["release"])
    except LabError:
        pass
    releases += [k["release"] for k in kernel.find_any_complete(cache_root) if k["release"] not in releases]
    for rel in releases:
        m = cache_root / "labs" / entry_key(rel, tools) / "manifest.json"
        if m.exists():
            try:
                data = read_json(m)
            except (OSError, ValueError):
                continue
            if set(requested) <= set(data.get("scenarios", {})):
                return m
        if allow_apt:
            break  # only fall back to other releases when apt cannot tell which is current
    return None


def _relocate(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, str):
        return new + obj[len(old) :] if obj.startswith(old) else obj
    if isinstance(obj, list):
        return [_relocate(x, old, new) for x in obj]
    if isinstance(obj, dict):
        return {k: _relocate(v, old, new) for k, v in obj.items()}
    return obj


def build(cache_root: Path, requested: list[str] | None = None) -> Path:
    """Build (or reuse) the lab and return the path of its manifest.json.

    ``requested`` None means the default scenarios; an empty list only the kernel and the guest.
    """
    requested = list(dict.fromkeys(scenarios.DEFAULT_SCENARIOS if requested is None else requested))
    for name in requested:
        if name not in scenarios.SCENARIOS:
            raise LabError(f"unknown scenario {name!r} (known: {', '.join(scenarios.SCENARIOS)})")
    found = find_entry(cache_root, requested)
    if found:
        log(f"cache hit: {found.parent}")
        return found
    with file_lock(cache_root / "build.lock", "the lab cache", wait=3 * 3600):
        found = find_entry(cache_root, requested)  # another crashlab may have just built it
        if found:
            return found
        return _build_locked(cache_root, requested)


def _build_locked(cache_root: Path, requested: list[str]) -> Path:
    t_start = time.monotonic()
    check_free_space(cache_root, NEED_GB)
    host.ensure_host_tools()
    resolved = host.resolve_kernel(cache_root, allow_update=True, max_age=3600)
    release = resolved["release"]
    log(f"kernel: linux-image-{release} {resolved['version']}")
    headers = Path(f"/usr/src/linux-headers-{release}")
    host.ensure_packages([f"linux-headers-{release}"], "building crashme.ko")
    kinfo = kernel.ensure_kernel(cache_root, resolved)
    tools = host.tool_versions()
    key = entry_key(release, tools)
    entry = cache_root / "labs" / key
    tmp_root = cache_root / "tmp"
    entry.mkdir(parents=True, exist_ok=True)
    timings: dict[str, Any] = {}
    mpath = entry / "manifest.json"
    manifest: dict[str, Any] = read_json(mpath) if mpath.exists() else {}

    gdir = entry / "guest"
    if not (gdir / "guest.json").exists():
        t0 = time.monotonic()
        with staging_dir(gdir, tmp_root) as tmp:
            g = guestmod.build_debian_guest(kinfo, headers, tmp)
            g["build_id"] = reference.build_id(Path(g["crashme_ko"]))
            write_json(tmp / "guest.json", _relocate(g, str(tmp), str(gdir)))
        timings["guest_build"] = round(time.monotonic() - t0, 1)
    guest: dict[str, Any] = read_json(gdir / "guest.json")

    scen_info: dict[str, Any] = dict(manifest.get("scenarios", {}))
    from .vm import accel, choose_accel

    if any(scenarios.SCENARIOS[n].capture in ("kdump", "qemu") and n not in scen_info for n in requested):
        choose_accel(Path(kinfo["vmlinuz"]), Path(guest["main_initrd"]), tmp_root / "kvm-probe")

    for name in requested:
        sc = scenarios.SCENARIOS[name]
        if name in scen_info:
            continue
        t0 = time.monotonic()
        if sc.capture == "kgdb":
            kg = kgdb.build_kgdb_kernel(cache_root, resolved.get("source_version") or _source_version())
            kdir = entry / "kgdb"
            if not (kdir / "kgdb.json").exists():
                with staging_dir(kdir, tmp_root) as tmp:
                    kg_guest = guestmod.build_kgdb_guest(kg, tmp)
                    write_json(tmp / "kgdb.json", _relocate(kg_guest, str(tmp), str(kdir)))
            scen_info[name] = {
                "description": sc.description,
                "capture": "kgdb",
                "dir": str(kdir),
                "timings": {
                    "kernel_build": kg.get("build_seconds"),
                    "total": round(time.monotonic() - t0, 1),
                },
            }
        else:
            sdir = entry / "dumps" / name
            with vm_slot(cache_root), staging_dir(sdir, tmp_root) as tmp:
                res = scenarios.run_scenario(sc, guest, kinfo, tmp)
                res = _relocate(res, str(tmp), str(sdir))
                t_ref = time.monotonic()
                refs = reference.run_references(res["dumps"], kinfo, guest, tmp, str(sdir), sc.references)
                res["timings"]["reference"] = round(time.monotonic() - t_ref, 1)
                for d in res["dumps"]:
                    d.update(refs.get(d["name"], {}))
                res["accel"] = accel()
                write_json(tmp / "scenario.json", res)
            scen_info[name] = {
                "description": sc.description,
                "capture": sc.capture,
                "crash": sc.crash,
                "dir": str(sdir),
                "timings": read_json(sdir / "scenario.json")["timings"],
            }
        scen_info[name]["timings"]["wall"] = round(time.monotonic() - t0, 1)
        _write_manifest(entry, key, kinfo, guest, tools, scen_info, timings, resolved)
    _write_manifest(entry, key, kinfo, guest, tools, scen_info, timings, resolved)
    log(f"lab ready in {time.monotonic() - t_start:.1f}s: {mpath}")
    _prune(cache_root, entry)
    return mpath


def _source_version() -> str:
    v = host.apt_candidate("linux-source-6.1")
    if not v:
        raise LabError("apt knows no linux-source-6.1 (needed for the KGDB kernel)")
    return v


def _write_manifest(
    entry: Path,
    key: str,
    kinfo: dict[str, Any],
    guest: dict[str, Any],
    tools: dict[str, str],
    scen_info: dict[str, Any],
    timings: dict[str, Any],
    resolved: dict[str, str],
) -> None:
    dumps: list[dict[str, Any]] = []
    for _name, info in scen_info.items():
        sj = Path(info["dir"]) / "scenario.json"
        if info.get("capture") in ("kdump", "qemu") and sj.exists():
            dumps.extend(read_json(sj)["dumps"])
    rel = kinfo["release"]
    mdd = Path(kinfo["module_debug_dir"])
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "cache_key": key,
        "cache_dir": str(entry),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "lab_hash": lab_hash(),
        "tools": tools,
        "kernel": {
            "release": rel,
            "version": kinfo.get("version"),
            "flavour": "cloud-amd64",
            "vmlinux": kinfo["vmlinux"],
            "module_debug_dir": str(mdd),
            "module_debug_files": sorted(str(p) for p in mdd.rglob("*.ko")),
            "vmlinuz": kinfo["vmlinuz"],
            "system_map": kinfo["system_map"],
            "config": kinfo["config"],
        },
        "test_module": {
            "name": "crashme",
            "ko": guest["crashme_ko"],
            "source": guest["crashme_src"],
            "build_id": guest.get("build_id"),
        },
        "guest": {k: guest[k] for k in ("main_initrd", "capture_initrd", "helper")},
        "scenarios": scen_info,
        "dumps": dumps,
        "default_dump": _default_dump(dumps),
        "timings": {
            "kernel_download": kinfo.get("download_seconds"),
            "kernel_extract": kinfo.get("extract_seconds"),
            **timings,
            **{f"scenario_{n}": i["timings"].get("wall") for n, i in scen_info.items()},
        },
    }
    kj = entry / "kgdb" / "kgdb.json"
    if "kgdb" in scen_info and kj.exists():
        kg_guest = read_json(kj)
        kg = (
            kgdb.load_complete(entry.parent.parent, resolved.get("source_version", ""))
            or kgdb.find_any_complete(entry.parent.parent)
            or {}
        )
        manifest["kgdb"] = {
            "release": kg.get("release"),
            "source_version": kg.get("source_version"),
            "vmlinux": kg.get("vmlinux"),
            "bzimage": kg.get("bzimage"),
            "system_map": kg.get("system_map"),
            "config": kg.get("config"),
            "gdb_scripts": kg.get("gdb_scripts"),
            "tree": kg.get("tree"),
            "crashme_ko": kg_guest["crashme_ko"],
            "crashme_src": kg_guest["crashme_src"],
            "initrd": kg_guest["initrd"],
            "kaslr_offset": 0,
            "kernel_args": "console=ttyS0,115200 kgdboc=ttyS1,115200 nokaslr fixture.mode=kgdb",
            "build_seconds": kg.get("build_seconds"),
        }
    write_json(entry / "manifest.json", manifest)


def _default_dump(dumps: list[dict[str, Any]]) -> str | None:
    names = [d["name"] for d in dumps]
    for pref in ("kdump-null-zlib-d31",):
        if pref in names:
            return pref
    comp = [d["name"] for d in dumps if d["capture"] == "kdump" and d["format"] == "kdump-compressed"]
    return comp[0] if comp else (names[0] if names else None)


def _prune(cache_root: Path, keep: Path) -> None:
    """Keep the current lab entry and the newest KEEP_ENTRIES - 1 other *complete* entries (with a
    manifest.json); drop incomplete entries and staging dirs older than 6 hours (younger ones may be a
    build in progress)."""
    others = [p for p in (cache_root / "labs").iterdir() if p.is_dir() and p != keep]
    complete = sorted(
        (p for p in others if (p / "manifest.json").is_file()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    stale = [
        p
        for p in others
        if not (p / "manifest.json").is_file() and time.time() - p.stat().st_mtime > 6 * 3600
    ]
    for p in complete[KEEP_ENTRIES - 1 :] + stale:
        log(f"pruning old lab entry {p.name} ({du_bytes(p) / 1e9:.1f} GB)")
        shutil.rmtree(p, ignore_errors=True)
    tmp = cache_root / "tmp"
    if tmp.exists():
        for p in tmp.iterdir():
            if time.time() - p.stat().st_mtime > 6 * 3600:
                shutil.rmtree(p, ignore_errors=True)
    kernel.prune_downloads(cache_root, keep.name.rsplit("-", 1)[0])


class vm_slot:
    """One VM at a time: the VM flock, taken only while no live VM runs. A build waits (bounded) for a live VM
    to end: it ends at the latest when its --lifetime runs out."""

    WAIT = 45 * 60.0

    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root
        self._cm: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        from . import live

        deadline = time.monotonic() + self.WAIT
        announced = False
        while True:
            other = live.running(self.cache_root)
            if other is None:
                cm = file_lock(self.cache_root / "run" / "vm.lock", "the VM slot", wait=600)
                cm.__enter__()
                if live.running(self.cache_root) is None:
                    self._cm = cm
                    return
                cm.__exit__(None, None, None)
                continue
            if time.monotonic() > deadline:
                raise LabError(
                    f"a live {other.get('mode', '')} VM is running (QEMU pid {other.get('pid')}) and did not "
                    f"stop within {self.WAIT:.0f}s; one VM at a time: `crashlab stop` it"
                )
            if not announced:
                log(f"waiting for the live {other.get('mode', '')} VM (QEMU pid {other.get('pid')}) to stop")
                announced = True
            time.sleep(3.0)

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None
