"""The Debian cloud kernel: download its image and -dbg packages, extract only what the lab uses.

Layout of ``CACHE/kernel/<release>/`` (a lean subset of both packages, laid out as on a Debian system):
  boot/vmlinuz-<rel>, boot/config-<rel>
  lib/modules/<rel>/kernel/.../<the modules the guest loads>.ko
  usr/lib/debug/boot/vmlinux-<rel>, usr/lib/debug/boot/System.map-<rel>
  usr/lib/debug/lib/modules/<rel>/kernel/.../<their debug .ko files>
  complete.json
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from . import host
from .util import LabError, log, read_json, staging_dir, write_json

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


def _extract(deb: Path, dest: Path, members: list[str], timeout: float) -> None:
    """dpkg-deb --fsys-tarfile DEB | tar -x MEMBERS (wildcards allowed)."""
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
        raise LabError(f"cannot extract {deb.name}: {tar.stderr.strip().splitlines()[-1:]}")


def ensure_kernel(cache_root: Path, resolved: dict[str, str]) -> dict[str, Any]:
    """Download and extract the kernel named by ``resolved`` (cached per release)."""
    release = resolved["release"]
    done = load_complete(cache_root, release)
    if done:
        return done
    version = resolved["version"]
    image = f"linux-image-{release}"
    t0 = time.monotonic()
    debs = host.download_debs(
        {image: version, image + "-dbg": version}, cache_root / "downloads", cache_root / "tmp"
    )
    t_dl = time.monotonic() - t0
    final = kernel_dir(cache_root, release)
    with staging_dir(final, cache_root / "tmp") as tmp:
        log(f"extracting {image} (boot files and {len(GUEST_MODULES)} modules)")
        mods = [f"./lib/modules/{release}/kernel/{p}" for _, p in GUEST_MODULES]
        _extract(debs[image], tmp, [f"./boot/vmlinuz-{release}", f"./boot/config-{release}", *mods], 300)
        log(
            f"extracting vmlinux, System.map and {len(GUEST_MODULES)} module debug files from {image}-dbg "
            "(about 20 s)"
        )
        dbg = [f"./usr/lib/debug/boot/vmlinux-{release}", f"./usr/lib/debug/boot/System.map-{release}"]
        dbg += [f"./usr/lib/debug/lib/modules/{release}/kernel/{p}" for _, p in GUEST_MODULES]
        _extract(debs[image + "-dbg"], tmp, dbg, 600)
        info = kernel_info(final, release)
        for key in ("vmlinux", "system_map", "vmlinuz", "config"):
            rel = Path(info[key]).relative_to(final)
            if not (tmp / rel).is_file():
                raise LabError(f"kernel packages of {release} hold no {rel}")
        info.update(
            {
                "version": version,
                "packages": {image: version, image + "-dbg": version},
                "download_seconds": round(t_dl, 1),
                "extract_seconds": round(time.monotonic() - t0 - t_dl, 1),
                "built_at": time.time(),
            }
        )
        write_json(tmp / "complete.json", info)
    log(f"kernel {release} ready in {time.monotonic() - t0:.1f}s")
    return info


def find_any_complete(cache_root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in (cache_root / "kernel").glob("*/complete.json"):
        try:
            out.append(read_json(p))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda d: d.get("built_at", 0), reverse=True)


def prune_downloads(cache_root: Path, keep_release: str) -> None:
    """Drop downloaded kernel debs of other releases (the archive only has recent ABIs anyway)."""
    for deb in (cache_root / "downloads").glob("linux-image-*.deb"):
        if keep_release not in deb.name:
            deb.unlink(missing_ok=True)
    for d in (cache_root / "kernel").iterdir() if (cache_root / "kernel").exists() else []:
        if d.is_dir() and d.name != keep_release and not (d / "complete.json").exists():
            shutil.rmtree(d, ignore_errors=True)
