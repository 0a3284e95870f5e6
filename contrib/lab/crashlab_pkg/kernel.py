"""The Debian cloud kernel: download its image and -dbg packages, extract only what the lab uses.

Layout of ``CACHE/kernel/<release>/`` (a lean subset of both packages, laid out as on a Debian system):
  boot/vmlinuz-<rel>, boot/config-<rel>
  lib/modules/<rel>/kernel/.../<the modules the guest loads>.ko
  usr/lib/debug/boot/vmlinux-<rel>, usr/lib/debug/boot/System.map-<rel>
  usr/lib/debug/lib/modules/<rel>/kernel/.../<their debug .ko files>
  complete.json
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import host
from .util import LabError, log, read_json, run, staging_dir, write_json

# Modules the guest loads, in load order (no depmod on the host, so the order is explicit), by path under
# lib/modules/<rel>/kernel/.
GUEST_MODULES: list[tuple[str, str]] = [
    ("qemu_fw_cfg", "drivers/firmware/qemu_fw_cfg.ko"),
    ("virtio_ring", "drivers/virtio/virtio_ring.ko"),
    ("virtio", "drivers/virtio/virtio.ko"),
    ("virtio_pci_modern_dev", "drivers/virtio/virtio_pci_modern_dev.ko"),
    ("virtio_pci_legacy_dev", "drivers/virtio/virtio_pci_legacy_dev.ko"),
    ("virtio_pci", "drivers/virtio/virtio_pci.ko"),
    ("virtio_blk", "drivers/block/virtio_blk.ko"),
]
CAPTURE_MODULES = [m for m, _ in GUEST_MODULES if m != "qemu_fw_cfg"]
DownloadFn = Callable[[dict[str, str], Path, Path], dict[str, Path]]


def kernel_dir(cache_root: Path, release: str) -> Path:
    return cache_root / "kernel" / release


def kernel_info(kroot: Path, release: str) -> dict[str, Any]:
    return {
        "release": release,
        "root": str(kroot),
        "vmlinux": str(kroot / f"usr/lib/debug/boot/vmlinux-{release}"),
        "system_map": str(kroot / f"usr/lib/debug/boot/System.map-{release}"),
        "vmlinuz": str(kroot / f"boot/vmlinuz-{release}"),
        "config": str(kroot / f"boot/config-{release}"),
        "module_debug_dir": str(kroot / f"usr/lib/debug/lib/modules/{release}"),
        "modules_dir": str(kroot / f"lib/modules/{release}"),
    }


def load_complete(cache_root: Path, release: str) -> dict[str, Any] | None:
    p = kernel_dir(cache_root, release) / "complete.json"
    if p.exists():
        data: dict[str, Any] = read_json(p)
        return data
    return None


def _extract(deb: Path, dest: Path, members: list[str], timeout: float, allow_missing: bool = False) -> None:
    """dpkg-deb --fsys-tarfile DEB | tar -x MEMBERS (wildcards allowed). With ``allow_missing``, patterns that
    match nothing are no error (the caller checks what it got)."""
    p1 = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        tar = subprocess.run(
            ["tar", "-x", "-C", str(dest), "--wildcards", *members],
            stdin=p1.stdout,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        if p1.stdout:
            p1.stdout.close()
        p1.wait(timeout=60)
    if tar.returncode != 0:
        errors = [
            ln
            for ln in tar.stderr.strip().splitlines()
            if not (allow_missing and ("Not found in archive" in ln or "Exiting with failure" in ln))
        ]
        if errors or not allow_missing:
            raise LabError(f"cannot extract {deb.name}: {(errors or tar.stderr.strip().splitlines())[-1:]}")


def _listing(deb: Path, timeout: float = 300) -> list[str]:
    """The member names of a deb's data archive."""
    proc = subprocess.run(
        f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | tar -t",
        shell=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise LabError(f"cannot list {deb.name}: {proc.stderr.strip()[-200:]}")
    return proc.stdout.splitlines()


_COMPRESSED = (".xz", ".zst", ".gz")


def _decompress_module(path: Path) -> Path:
    """NAME.ko.xz|.zst|.gz -> NAME.ko next to it (busybox insmod and the tools want plain ELF)."""
    if path.suffix not in _COMPRESSED:
        return path
    out = path.with_suffix("")
    if path.suffix == ".xz":
        with lzma.open(path) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    elif path.suffix == ".gz":
        with gzip.open(path) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    else:
        with open(out, "wb") as dst:
            proc = subprocess.run(["zstd", "-dc", str(path)], stdout=dst, stderr=subprocess.PIPE, timeout=120)
        if proc.returncode != 0:
            raise LabError(f"cannot decompress {path.name}: {proc.stderr.decode(errors='replace')[-200:]}")
    path.unlink()
    return out


def _module_rx(release: str, name: str) -> re.Pattern[str]:
    return re.compile(
        rf"^\./(?:usr/)?lib/modules/{re.escape(release)}/kernel/(.*/{re.escape(name)}\.ko)(\.xz|\.zst|\.gz)?$"
    )


def _find_files(release: str, listing: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """Where the image packages hold the files the lab uses: key -> (package, member). Keys: vmlinuz, config,
    system_map (when shipped outside -dbg), and ``module:NAME`` -> relpath under lib/modules/REL/kernel."""
    rel = re.escape(release)
    wanted = {
        "vmlinuz": re.compile(rf"^\./(?:boot/vmlinuz-{rel}|(?:usr/)?lib/modules/{rel}/vmlinuz)$"),
        "config": re.compile(rf"^\./(?:boot/config-{rel}|(?:usr/)?lib/modules/{rel}/config)$"),
        "system_map": re.compile(rf"^\./boot/System\.map-{rel}$"),
    }
    found: dict[str, tuple[str, str]] = {}
    for pkg, members in listing.items():
        for m in members:
            for key, rx in wanted.items():
                if key not in found and rx.match(m):
                    found[key] = (pkg, m)
            for name, _ in GUEST_MODULES:
                if f"module:{name}" not in found and _module_rx(release, name).match(m):
                    found[f"module:{name}"] = (pkg, m)
    return found


def _system_map_from(vmlinux: Path, out: Path) -> None:
    """System.map from vmlinux (nm -n, filtered like the kernel's scripts/mksysmap), for packages that ship
    only a placeholder."""
    proc = run(["nm", "-n", vmlinux], timeout=300, what="nm vmlinux")
    keep = [
        ln
        for ln in proc.stdout.splitlines()
        if len(ln.split()) == 3
        and ln.split()[1] not in ("a", "U", "w", "N")
        and not ln.split()[2].startswith(("__crc_", "$", ".L", "__efistub_", "__kstrtab_", "__kstrtabns_"))
    ]
    out.write_text("\n".join(keep) + "\n")


def ensure_kernel(
    cache_root: Path, resolved: dict[str, Any], download: DownloadFn | None = None
) -> dict[str, Any]:
    """Download and extract the kernel named by ``resolved`` (cached per release).

    ``resolved["packages"]`` are the packages holding the image's files (default: linux-image-REL alone),
    ``resolved["dbg"]`` its debug package; ``download`` fetches them (default: the host's apt). Files are laid
    out as in the module docstring whatever the packages' own layout (Linux 7.x ships vmlinuz, config and xz
    compressed modules under /usr/lib/modules/REL in linux-binary-/linux-modules-/linux-base- packages)."""
    release = resolved["release"]
    done = load_complete(cache_root, release)
    if done:
        return done
    version = resolved["version"]
    image = f"linux-image-{release}"
    pkgs: dict[str, str] = dict(resolved.get("packages") or {image: version})
    dbg: dict[str, str] = dict(resolved.get("dbg") or {image + "-dbg": version})
    fetch = download or (lambda p, d, t: host.download_debs(p, d, t))
    t0 = time.monotonic()
    debs = fetch({**pkgs, **dbg}, cache_root / "downloads", cache_root / "tmp")
    t_dl = time.monotonic() - t0
    final = kernel_dir(cache_root, release)
    with staging_dir(final, cache_root / "tmp") as tmp:
        listing = {p: _listing(debs[p]) for p in pkgs}
        found = _find_files(release, listing)
        for key in ("vmlinuz", "config"):
            if key not in found:
                raise LabError(f"the packages of {release} ({', '.join(pkgs)}) hold no {key}")
        mods = [(n, found[f"module:{n}"]) for n, _ in GUEST_MODULES if f"module:{n}" in found]
        log(f"extracting {' '.join(pkgs)} (boot files and {len(mods)} modules)")
        raw = tmp / "raw"
        raw.mkdir()
        for pkg in pkgs:
            members = [m for _k, (p, m) in found.items() if p == pkg]
            if members:
                _extract(debs[pkg], raw, members, 300)
        info = kernel_info(final, release)
        local = {
            k: tmp / Path(info[k]).relative_to(final) for k in ("vmlinuz", "config", "system_map", "vmlinux")
        }
        for key in ("vmlinuz", "config"):
            local[key].parent.mkdir(parents=True, exist_ok=True)
            os.rename(raw / found[key][1], local[key])
        guest_modules: list[list[str]] = []
        mod_root = tmp / "lib" / "modules" / release / "kernel"
        for name, (_pkg, member) in mods:
            m = _module_rx(release, name).match(member)
            assert m is not None
            dst = mod_root / (m.group(1) + (m.group(2) or ""))
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(raw / member, dst)
            _decompress_module(dst)
            guest_modules.append([name, m.group(1)])
        dbg_pkg = next(iter(dbg))
        log(f"extracting vmlinux, System.map and {len(mods)} module debug files from {dbg_pkg} (about 20 s)")
        patterns = [f"*/vmlinux-{release}", f"*/modules/{release}/vmlinux", f"*/System.map-{release}"]
        patterns += [f"*/modules/{release}/System.map"]
        patterns += [f"*/modules/{release}/kernel/*/{n}.ko*" for n, _ in mods]
        _extract(debs[dbg_pkg], raw, patterns, 900, allow_missing=True)
        dbg_dir = raw / "usr" / "lib" / "debug"

        def first_file(cands: list[Path]) -> Path | None:
            # Linux 7.x's -dbg has the files under lib/modules/REL and boot/ symlinks to them.
            for p in cands:
                if p.is_file():
                    return p.resolve()
            return None

        vmlinux = first_file(
            [dbg_dir / "boot" / f"vmlinux-{release}", *dbg_dir.glob(f"**/modules/{release}/vmlinux")]
        )
        if vmlinux is None:
            raise LabError(f"{dbg_pkg} holds no vmlinux")
        local["vmlinux"].parent.mkdir(parents=True, exist_ok=True)
        os.rename(vmlinux, local["vmlinux"])
        smap = first_file(
            [
                dbg_dir / "boot" / f"System.map-{release}",
                *dbg_dir.glob(f"**/modules/{release}/System.map"),
                *([raw / found["system_map"][1]] if "system_map" in found else []),
            ]
        )
        if smap is not None and smap.stat().st_size > 4096:
            os.rename(smap, local["system_map"])
        else:
            _system_map_from(local["vmlinux"], local["system_map"])
        dbg_mods = tmp / "usr" / "lib" / "debug" / "lib" / "modules" / release / "kernel"
        for name, relpath in guest_modules:
            cands = sorted(dbg_dir.glob(f"**/modules/{release}/kernel/{relpath}*"))
            if not cands:
                log(f"warning: {dbg_pkg} has no debug file for {name}")
                continue
            dst = dbg_mods / (relpath + cands[0].name[len(Path(relpath).name) :])
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(cands[0], dst)
            _decompress_module(dst)
        shutil.rmtree(raw)
        for key in ("vmlinux", "system_map", "vmlinuz", "config"):
            if not local[key].is_file():
                raise LabError(f"kernel packages of {release} hold no {Path(info[key]).relative_to(final)}")
        info.update(
            {
                "version": version,
                "packages": {**pkgs, **dbg},
                "guest_modules": guest_modules,
                "download_seconds": round(t_dl, 1),
                "extract_seconds": round(time.monotonic() - t0 - t_dl, 1),
                "built_at": time.time(),
            }
        )
        write_json(tmp / "complete.json", info)
    log(f"kernel {release} ready in {time.monotonic() - t0:.1f}s")
    return info


def guest_modules(kinfo: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, path under lib/modules/REL/kernel) of the modules the guest loads, in load order; modules built
    into this kernel are absent. Extractions made before this was recorded are 6.1's: GUEST_MODULES."""
    recorded = kinfo.get("guest_modules")
    if recorded is None:
        return list(GUEST_MODULES)
    return [(str(n), str(p)) for n, p in recorded]


def find_any_complete(cache_root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in (cache_root / "kernel").glob("*/complete.json"):
        try:
            out.append(read_json(p))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda d: d.get("built_at", 0), reverse=True)


def prune_downloads(cache_root: Path, keep_releases: set[str]) -> None:
    """Drop downloaded kernel debs and unfinished extractions of releases no lab entry uses any more (the
    archive only has recent ABIs anyway)."""
    for deb in (cache_root / "downloads").glob("linux-*.deb"):
        if not any(rel in deb.name for rel in keep_releases):
            deb.unlink(missing_ok=True)
    for d in (cache_root / "kernel").iterdir() if (cache_root / "kernel").exists() else []:
        if d.is_dir() and d.name not in keep_releases and not (d / "complete.json").exists():
            shutil.rmtree(d, ignore_errors=True)
