"""``crashlab build``: assemble a cache entry (kernel, guest, dump scenarios, KGDB kernel, references).

Cache layout (``$CRASHCOMPAT_LAB_CACHE``, default /var/cache/crashcompat-lab)::

    resolve.json                      which kernel linux-image-cloud-amd64 pointed to, and when
    downloads/*.deb                   kernel image, -dbg and linux-source packages (apt-get download)
    kernel/<release>/                 the lean extraction (see kernel.py), complete.json written last
    kgdb/<srcver>-<cfghash>/linux     the KGDB kernel tree, built in place; complete.json written last
    labs/<release>-<hash>/            one entry per (kernel, lab files, tool versions):
        guest/                        crashme.ko (the exact loaded build), actors, initramfs images
        dumps/<scenario>/             dumps + console/facts logs + reference/ (the oracle crash's outputs)
        kgdb/                         crashme.ko for the KGDB kernel and its initramfs
        manifest.json                 the contract (README.md), rewritten atomically as components land
    tmp/                              staging dirs; a component appears under labs/ only when complete
    run/                              the live VM (live.json, sockets, logs) and the VM lock
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from . import apt, host, kernel, kgdb, reference, roots, scenarios, series
from . import guest as guestmod
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
# Lab entries kept per series; CRASHLAB_KEEP_ENTRIES overrides (e.g. while developing the lab next to others').
KEEP_ENTRIES = 2


def default_cache() -> Path:
    return Path(os.environ.get("CRASHCOMPAT_LAB_CACHE") or "/var/cache/crashcompat-lab")


# The lab files that shape the artefacts (the guest, the kernel handling, the VM runs, the facts, the crash
# references, the manifest). The command line, the live-VM and demo code only use an entry, so editing them
# does not invalidate the cache.
HASHED = [
    "guest",
    "crashlab_pkg/__init__.py",
    "crashlab_pkg/apt.py",
    "crashlab_pkg/build.py",
    "crashlab_pkg/dumpcheck.py",
    "crashlab_pkg/facts.py",
    "crashlab_pkg/guest.py",
    "crashlab_pkg/host.py",
    "crashlab_pkg/kernel.py",
    "crashlab_pkg/kgdb.py",
    "crashlab_pkg/reference.py",
    "crashlab_pkg/roots.py",
    "crashlab_pkg/scenarios.py",
    "crashlab_pkg/series.py",
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


def entry_tools(s: series.Series, tool_root: dict[str, Any] | None, oracle: dict[str, Any]) -> dict[str, str]:
    """The tool versions that shape an entry (its cache key): the host's QEMU and busybox; makedumpfile, kexec
    and the module's compiler of the host (default series) or of the kernel's private root; the oracle crash."""
    tools = host.tool_versions()
    if tool_root is not None:
        for k in ("makedumpfile", "kexec-tools"):
            tools[k] = str(tool_root.get(k, ""))
        tools.pop("crash", None)
        tools["compiler"] = str(tool_root.get("compiler", ""))
    tools["oracle"] = f"crash {oracle.get('package_version', '')} ({oracle.get('suite', '')})"
    return tools


def _with_makedumpfile(tool_root: dict[str, Any], mdf: dict[str, Any]) -> dict[str, Any]:
    """The tool root with the guest's makedumpfile taken from another suite (Series.makedumpfile_suite)."""
    return {**tool_root, "makedumpfile_unpacked": mdf, "makedumpfile": f"{mdf['version']} ({mdf['suite']})"}


def _entry_series(manifest: dict[str, Any]) -> str:
    return str(manifest.get("kernel", {}).get("series") or series.DEFAULT_SERIES)


def find_entry(
    cache_root: Path, requested: list[str], series_name: str = series.DEFAULT_SERIES, allow_apt: bool = True
) -> Path | None:
    """The manifest of a complete entry of the series holding ``requested`` scenarios, without building or
    apt-get update (warm look-ups use the cached kernel resolution, tool root and oracle)."""
    s = series.get(series_name)
    oracle = reference.current_oracle(cache_root, s.oracle)
    if oracle is None:
        return None
    if allow_apt and not s.host and series.private_apt(cache_root, s).lists_age() > apt.UPDATE_TTL:
        return None  # the next build refreshes the suite's package lists (once a day)
    releases: list[str] = []
    try:
        if allow_apt or not s.host:
            releases.append(series.resolve(cache_root, s, allow_update=False)["release"])
    except LabError:
        pass
    fallback = not releases or not allow_apt
    for rel in releases:
        troot = None if s.host else roots.load_tool_root(cache_root, rel)
        if not s.host and troot is None:
            continue
        if troot is not None and s.makedumpfile_suite:
            mdf = roots.cached_unpacked_tool(cache_root, s.makedumpfile_suite, "makedumpfile")
            if mdf is None:
                continue
            troot = _with_makedumpfile(troot, mdf)
        tools = entry_tools(s, troot, oracle)
        if not _tools_ready(tools):
            continue
        m = cache_root / "labs" / entry_key(rel, tools) / "manifest.json"
        if m.exists():
            try:
                data = read_json(m)
            except (OSError, ValueError):
                continue
            if set(requested) <= _present(data):
                return m
    if not fallback:
        return None
    # apt cannot tell which release is current: the newest complete entry of this series that matches.
    labs = cache_root / "labs"
    for m in (
        sorted(labs.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        if labs.exists()
        else []
    ):
        try:
            data = read_json(m)
        except (OSError, ValueError):
            continue
        if _entry_series(data) != s.name or data.get("lab_hash") != lab_hash():
            continue
        if data.get("tools", {}).get("oracle") != entry_tools(s, {}, oracle)["oracle"]:
            continue
        if set(requested) <= _present(data):
            return m
    return None


def _present(manifest: dict[str, Any]) -> set[str]:
    """The scenarios an entry has built, or skipped because its kernel cannot make them."""
    return set(manifest.get("scenarios", {})) | set(manifest.get("scenarios_skipped", {}))


def _relocate(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, str):
        return new + obj[len(old) :] if obj.startswith(old) else obj
    if isinstance(obj, list):
        return [_relocate(x, old, new) for x in obj]
    if isinstance(obj, dict):
        return {k: _relocate(v, old, new) for k, v in obj.items()}
    return obj


def build(
    cache_root: Path, requested: list[str] | None = None, series_name: str = series.DEFAULT_SERIES
) -> Path:
    """Build (or reuse) the lab of one kernel series and return the path of its manifest.json.

    ``requested`` None means the series' default scenarios; an empty list only the kernel and the guest.
    """
    s = series.get(series_name)
    requested = list(dict.fromkeys(s.scenarios if requested is None else requested))
    for name in requested:
        if name not in scenarios.SCENARIOS:
            raise LabError(f"unknown scenario {name!r} (known: {', '.join(scenarios.SCENARIOS)})")
        if scenarios.SCENARIOS[name].capture == "kgdb" and not s.host:
            raise LabError(
                f"the KGDB kernel is built from linux-source-6.1 only: no {name!r} for series {s.name}"
            )
    found = find_entry(cache_root, requested, s.name)
    if found:
        log(f"cache hit: {found.parent}")
        return found
    with file_lock(cache_root / "build.lock", "the lab cache", wait=3 * 3600):
        found = find_entry(cache_root, requested, s.name)  # another crashlab may have just built it
        if found:
            return found
        return _build_locked(cache_root, requested, s)


def _build_locked(cache_root: Path, requested: list[str], s: series.Series) -> Path:
    t_start = time.monotonic()
    check_free_space(cache_root, NEED_GB)
    host.ensure_host_tools()
    resolved = series.resolve(cache_root, s, allow_update=True, max_age=3600)
    timings: dict[str, Any] = {}
    tool_root: dict[str, Any] | None = None
    if s.host:
        release = resolved["release"]
        log(f"kernel ({s.name}, {s.suite}): linux-image-{release} {resolved['version']}")
        host.ensure_packages([f"linux-headers-{release}"], "building crashme.ko")
        kinfo = kernel.ensure_kernel(cache_root, resolved)
    else:
        apt = series.private_apt(cache_root, s)
        kinfo, resolved = _fetch_kernel(cache_root, s, resolved, apt)
        release = resolved["release"]
        tool_root = roots.ensure_tool_root(cache_root, resolved, apt)
        timings["tool_root"] = tool_root.get("seconds")
        if s.makedumpfile_suite:
            mdf = roots.ensure_unpacked_tool(cache_root, s.makedumpfile_suite, "makedumpfile")
            tool_root = _with_makedumpfile(tool_root, mdf)
    headers = Path(f"/usr/src/linux-headers-{release}")
    oracle = reference.oracle_for_build(cache_root, s.oracle)
    tools = entry_tools(s, tool_root, oracle)
    key = entry_key(release, tools)
    entry = cache_root / "labs" / key
    tmp_root = cache_root / "tmp"
    entry.mkdir(parents=True, exist_ok=True)
    mpath = entry / "manifest.json"
    manifest: dict[str, Any] = read_json(mpath) if mpath.exists() else {}
    timings.update(manifest.get("timings", {}).get("build", {}))

    gdir = entry / "guest"
    if not (gdir / "guest.json").exists():
        t0 = time.monotonic()
        with staging_dir(gdir, tmp_root) as tmp:
            g = guestmod.build_debian_guest(kinfo, headers, tmp, tool_root)
            g["build_id"] = reference.build_id(Path(g["crashme_ko"]))
            write_json(tmp / "guest.json", _relocate(g, str(tmp), str(gdir)))
        timings["guest_build"] = round(time.monotonic() - t0, 1)
    guest: dict[str, Any] = read_json(gdir / "guest.json")

    scen_info: dict[str, Any] = dict(manifest.get("scenarios", {}))
    skipped: dict[str, str] = dict(manifest.get("scenarios_skipped", {}))
    for name in requested:
        why = _skip_reason(s, scenarios.SCENARIOS[name], kinfo)
        if why and name not in skipped:
            log(f"[{name}] skipped on series {s.name}: {why}")
            skipped[name] = why
    requested = [n for n in requested if n not in skipped]
    from .vm import accel, choose_accel

    if any(scenarios.SCENARIOS[n].capture in ("kdump", "qemu") and n not in scen_info for n in requested):
        choose_accel(Path(kinfo["vmlinuz"]), Path(guest["main_initrd"]), tmp_root / "kvm-probe")

    ctx = _Manifest(entry, key, kinfo, guest, tools, timings, resolved, s, tool_root, oracle, skipped)
    for name in requested:
        sc = scenarios.SCENARIOS[name]
        if s.qemu_formats is not None and sc.capture == "qemu":
            sc = dataclasses.replace(sc, formats=s.qemu_formats)
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
                refs = reference.run_references(
                    res["dumps"], kinfo, guest, tmp, str(sdir), sc.references, oracle
                )
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
        ctx.write(scen_info)
    ctx.write(scen_info)
    log(f"lab ready in {time.monotonic() - t_start:.1f}s: {mpath}")
    _prune(cache_root, entry)
    return mpath


def _skip_reason(s: series.Series, sc: scenarios.Scenario, kinfo: dict[str, Any]) -> str | None:
    """Why the series' kernel cannot make the scenario (its skips table), or None. A kernel config that lacks
    what the scenario requires without the table saying so is an error, never a silent skip."""
    why = s.skip_reason(sc.name)
    if why:
        return why
    missing = scenarios.missing_config(sc, Path(kinfo["config"]))
    if missing:
        raise LabError(
            f"scenario {sc.name} needs {', '.join(missing)}, which {kinfo['release']} lacks: list it in series "
            f"{s.name}'s skips (series.py)"
        )
    return None


def _fetch_kernel(
    cache_root: Path, s: series.Series, resolved: dict[str, Any], apt: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest kernel of the series whose packages the mirror serves: a mirror may lack a package apt lists
    (seen: bullseye-security's newest 5.10 -dbg answered 404), then the next older kernel the metapackage
    named is used, and the resolution records why."""
    choices = [resolved, *resolved.get("alternatives", [])]
    skipped: list[dict[str, str]] = []
    for cand in choices:
        log(f"kernel ({s.name}, {s.suite}): linux-image-{cand['release']} {cand['version']}")
        try:
            kinfo = kernel.ensure_kernel(cache_root, cand, apt.download)
        except LabError as exc:
            if "404" not in str(exc) and "Not Found" not in str(exc):
                raise
            log(
                f"warning: the mirror does not serve {cand['release']}'s packages ({exc}); trying the next kernel"
            )
            skipped.append({"release": cand["release"], "version": cand["version"], "why": str(exc)[:300]})
            continue
        if cand is not resolved or skipped:
            cand = series.settle(cache_root, s, cand, skipped)
        return kinfo, cand
    raise LabError(
        f"the mirror serves none of the {s.name} kernels apt knows: {skipped[-1]['why'] if skipped else ''}"
    )


def _source_version() -> str:
    v = host.apt_candidate("linux-source-6.1")
    if not v:
        raise LabError("apt knows no linux-source-6.1 (needed for the KGDB kernel)")
    return v


class _Manifest:
    """Everything manifest.json is made of except the scenarios, which grow as they land."""

    def __init__(
        self,
        entry: Path,
        key: str,
        kinfo: dict[str, Any],
        guest: dict[str, Any],
        tools: dict[str, str],
        timings: dict[str, Any],
        resolved: dict[str, Any],
        s: series.Series,
        tool_root: dict[str, Any] | None,
        oracle: dict[str, Any],
        skipped: dict[str, str],
    ) -> None:
        self.args = (entry, key, kinfo, guest, tools, timings, resolved, s, tool_root, oracle, skipped)

    def write(self, scen_info: dict[str, Any]) -> None:
        _write_manifest(*self.args, scen_info)


def _write_manifest(
    entry: Path,
    key: str,
    kinfo: dict[str, Any],
    guest: dict[str, Any],
    tools: dict[str, str],
    timings: dict[str, Any],
    resolved: dict[str, Any],
    s: series.Series,
    tool_root: dict[str, Any] | None,
    oracle: dict[str, Any],
    skipped: dict[str, str],
    scen_info: dict[str, Any],
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
        "series": s.name,
        "kernel": {
            "series": s.name,
            "suite": s.suite,
            "meta": s.meta,
            "release": rel,
            "version": kinfo.get("version"),
            "flavour": "cloud-amd64",
            "packages": kinfo.get("packages", {}),
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
        "guest_tools": _guest_tools(tool_root),
        "oracle": {k: oracle.get(k) for k in ("name", "version", "package_version", "suite", "argv")},
        "scenarios": scen_info,
        "scenarios_skipped": skipped,
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


def _guest_tools(tool_root: dict[str, Any] | None) -> dict[str, Any]:
    """Where crashme.ko's compiler and the guest's makedumpfile/kexec came from."""
    if tool_root is None:
        v = host.dpkg_versions(["makedumpfile", "kexec-tools", "gcc"])
        return {
            "source": "host",
            "makedumpfile": v["makedumpfile"],
            "kexec-tools": v["kexec-tools"],
            "gcc": v["gcc"],
        }
    return {
        "source": f"private root of {tool_root.get('suite')}",
        "root": tool_root.get("root"),
        "compiler": tool_root.get("compiler"),
        "makedumpfile": tool_root.get("makedumpfile"),
        "makedumpfile_root": (tool_root.get("makedumpfile_unpacked") or {}).get("root"),
        "kexec-tools": tool_root.get("kexec-tools"),
        "packages": tool_root.get("packages"),
    }


def _default_dump(dumps: list[dict[str, Any]]) -> str | None:
    names = [d["name"] for d in dumps]
    for pref in ("kdump-null-zlib-d31",):
        if pref in names:
            return pref
    comp = [d["name"] for d in dumps if d["capture"] == "kdump" and d["format"] == "kdump-compressed"]
    return comp[0] if comp else (names[0] if names else None)


def _prune(cache_root: Path, keep: Path) -> None:
    """Per kernel series: keep the current lab entry and the newest KEEP_ENTRIES - 1 other *complete* entries
    (with a manifest.json); drop incomplete entries and staging dirs older than 6 hours (younger ones may be a
    build in progress). Downloads and tool roots of releases no kept entry uses go too."""
    keep_series = _entry_series(read_json(keep / "manifest.json"))
    others = [p for p in (cache_root / "labs").iterdir() if p.is_dir() and p != keep]
    series_of: dict[Path, str] = {}
    for p in others:
        with contextlib.suppress(OSError, ValueError):
            series_of[p] = _entry_series(read_json(p / "manifest.json"))
    complete = sorted(
        (p for p in others if series_of.get(p) == keep_series),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    stale = [
        p
        for p in others
        if not (p / "manifest.json").is_file() and time.time() - p.stat().st_mtime > 6 * 3600
    ]
    keep_n = max(1, int(os.environ.get("CRASHLAB_KEEP_ENTRIES", "") or KEEP_ENTRIES))
    for p in complete[keep_n - 1 :] + stale:
        log(f"pruning old lab entry {p.name} ({du_bytes(p) / 1e9:.1f} GB)")
        shutil.rmtree(p, ignore_errors=True)
    tmp = cache_root / "tmp"
    if tmp.exists():
        for p in tmp.iterdir():
            if time.time() - p.stat().st_mtime > 6 * 3600:
                shutil.rmtree(p, ignore_errors=True)
    releases = set()
    for m in (cache_root / "labs").glob("*/manifest.json"):
        with contextlib.suppress(OSError, ValueError):
            releases.add(str(read_json(m)["kernel"]["release"]))
    releases.add(keep.name.rsplit("-", 1)[0])
    kernel.prune_downloads(cache_root, releases)
    roots.prune_tool_roots(cache_root, releases)


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
