"""The KGDB kernel: Debian kernels lack CONFIG_KGDB, so build a tiny one from Debian's linux-source-6.1.

The tree is built in place under ``CACHE/kgdb/<source version>-<config hash>/linux`` (make is incremental, so an
interrupted build resumes) and a ``complete.json`` written last marks it usable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from . import host
from .util import LabError, log, read_json, run, write_json

# Options on top of `make tinyconfig`. (name, value) with value "y", "n" or a string.
KGDB_CONFIG: list[tuple[str, str]] = [
    ("64BIT", "y"),
    ("SMP", "y"),
    ("PRINTK", "y"),
    ("PRINTK_TIME", "y"),
    ("BUG", "y"),
    ("TTY", "y"),
    ("SERIAL_8250", "y"),
    ("SERIAL_8250_CONSOLE", "y"),
    ("BLK_DEV_INITRD", "y"),
    ("RD_GZIP", "y"),
    ("PROC_FS", "y"),
    ("PROC_SYSCTL", "y"),
    ("SYSCTL", "y"),
    ("SYSFS", "y"),
    ("DEVTMPFS", "y"),
    ("DEVTMPFS_MOUNT", "y"),
    ("SHMEM", "y"),
    ("TMPFS", "y"),
    ("DEBUG_FS", "y"),
    ("MULTIUSER", "y"),
    ("BINFMT_ELF", "y"),
    ("BINFMT_SCRIPT", "y"),
    ("FUTEX", "y"),
    ("EPOLL", "y"),
    ("SIGNALFD", "y"),
    ("TIMERFD", "y"),
    ("EVENTFD", "y"),
    ("POSIX_TIMERS", "y"),
    ("FILE_LOCKING", "y"),
    ("MAGIC_SYSRQ", "y"),
    ("MAGIC_SYSRQ_DEFAULT_ENABLE", "0x1"),
    ("DEBUG_KERNEL", "y"),
    ("DEBUG_INFO_NONE", "n"),
    ("DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT", "n"),
    ("DEBUG_INFO_DWARF5", "y"),
    ("DEBUG_INFO_REDUCED", "n"),
    ("DEBUG_INFO_BTF", "n"),
    ("GDB_SCRIPTS", "y"),
    ("KGDB", "y"),
    ("KGDB_SERIAL_CONSOLE", "y"),
    ("KGDB_KDB", "y"),
    ("KGDB_HONOUR_BLOCKLIST", "y"),
    ("KALLSYMS", "y"),
    ("KALLSYMS_ALL", "y"),
    ("MODULES", "y"),
    ("MODULE_UNLOAD", "y"),
    ("MODULE_SIG", "n"),
    ("UNWINDER_ORC", "y"),
    ("UNWINDER_FRAME_POINTER", "n"),
    ("UNWINDER_GUESS", "n"),
    ("VMAP_STACK", "y"),
    ("SLOB", "n"),
    ("SLAB", "n"),
    ("SLUB", "y"),
    ("SLUB_DEBUG", "y"),
    ("RANDOMIZE_BASE", "n"),
    ("CRASH_DUMP", "y"),
    ("PROC_VMCORE", "y"),
]
# Must hold in the final .config (olddefconfig may silently drop an option whose dependencies are missing).
KGDB_REQUIRED = [
    "64BIT",
    "SMP",
    "SERIAL_8250_CONSOLE",
    "KGDB",
    "KGDB_SERIAL_CONSOLE",
    "KGDB_KDB",
    "DEBUG_INFO_DWARF5",
    "GDB_SCRIPTS",
    "MODULES",
    "KALLSYMS_ALL",
    "UNWINDER_ORC",
    "BLK_DEV_INITRD",
    "MAGIC_SYSRQ",
    "PROC_FS",
    "SYSFS",
    "DEVTMPFS",
    "TMPFS",
    "SLUB_DEBUG",
    "BINFMT_ELF",
]

BUILD_TIMEOUT = 45 * 60


def config_hash() -> str:
    return hashlib.sha256(repr(KGDB_CONFIG).encode()).hexdigest()[:10]


def kgdb_dir(cache_root: Path, source_version: str) -> Path:
    return cache_root / "kgdb" / f"{source_version}-{config_hash()}"


def load_complete(cache_root: Path, source_version: str) -> dict[str, Any] | None:
    p = kgdb_dir(cache_root, source_version) / "complete.json"
    if p.exists():
        data: dict[str, Any] = read_json(p)
        return data
    return None


def find_any_complete(cache_root: Path) -> dict[str, Any] | None:
    """Newest complete KGDB build with the current config (for a warm cache with no apt)."""
    best: dict[str, Any] | None = None
    for p in (cache_root / "kgdb").glob(f"*-{config_hash()}/complete.json"):
        data = read_json(p)
        if best is None or data.get("built_at", 0) > best.get("built_at", 0):
            best = data
    return best


def build_kgdb_kernel(cache_root: Path, source_version: str) -> dict[str, Any]:
    """Download, configure and build the KGDB kernel (cached). Returns the complete.json data."""
    done = load_complete(cache_root, source_version)
    if done:
        return done
    host.ensure_kgdb_tools()
    t0 = time.monotonic()
    base = kgdb_dir(cache_root, source_version)
    base.mkdir(parents=True, exist_ok=True)
    tree = base / "linux"
    debs = host.download_debs(
        {"linux-source-6.1": source_version}, cache_root / "downloads", cache_root / "tmp"
    )
    if not (tree / "Makefile").exists():
        log("unpacking linux-source-6.1 (about 20 s)")
        shutil.rmtree(tree, ignore_errors=True)
        unpack = base / "unpack.tmp"
        shutil.rmtree(unpack, ignore_errors=True)
        unpack.mkdir()
        deb = debs["linux-source-6.1"]
        # dpkg-deb --fsys-tarfile | tar -x the single .tar.xz, then unpack it.
        p1 = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        try:
            tar = subprocess.run(
                ["tar", "-x", "-C", str(unpack), "--wildcards", "./usr/src/linux-source-*.tar.xz"],
                stdin=p1.stdout,
                timeout=300,
                capture_output=False,
            )
            if tar.returncode != 0:
                raise LabError(f"cannot unpack {deb}")
        finally:
            if p1.stdout:
                p1.stdout.close()
            p1.wait(timeout=60)
        tarballs = sorted((unpack / "usr/src").glob("linux-source-*.tar.xz"))
        if not tarballs:
            raise LabError("linux-source-6.1 deb holds no linux-source-*.tar.xz")
        run(["tar", "-xJf", tarballs[0], "-C", unpack], timeout=900, what="tar -xJf linux-source")
        srcdirs = [d for d in unpack.iterdir() if d.is_dir() and d.name.startswith("linux-source")]
        if not srcdirs:
            raise LabError("linux-source tarball holds no linux-source-* directory")
        os.rename(srcdirs[0], tree)
        shutil.rmtree(unpack, ignore_errors=True)
    log("configuring the KGDB kernel (tinyconfig + KGDB)")
    make = ["nice", "-n", "10", "make", "-C", str(tree)]
    run([*make, "tinyconfig"], timeout=300, what="make tinyconfig")
    cfg = ["scripts/config"]
    for name, val in KGDB_CONFIG:
        if val == "y":
            cfg += ["--enable", name]
        elif val == "n":
            cfg += ["--disable", name]
        else:
            cfg += ["--set-val", name, val]
    run(cfg, cwd=tree, timeout=60, what="scripts/config")
    run([*make, "olddefconfig"], timeout=300, what="make olddefconfig")
    config = (tree / ".config").read_text()
    missing = [o for o in KGDB_REQUIRED if f"CONFIG_{o}=y\n" not in config]
    if missing:
        raise LabError(
            f"KGDB kernel config lacks {' '.join('CONFIG_' + o for o in missing)} after olddefconfig"
        )
    jobs = str(os.cpu_count() or 2)
    log(f"building the KGDB kernel with make -j{jobs} (about 6-7 min once on 2 cores; log {base}/build.log)")
    with open(base / "build.log", "w") as blog:
        try:
            proc = subprocess.run(
                [*make, f"-j{jobs}", "bzImage", "vmlinux", "modules", "scripts_gdb"],
                stdout=blog,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(
                f"KGDB kernel build timed out after {BUILD_TIMEOUT}s (see {base}/build.log)"
            ) from exc
    if proc.returncode != 0:
        tail = (base / "build.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise LabError(f"KGDB kernel build failed (see {base}/build.log): {' | '.join(tail)[:300]}")
    release = (tree / "include/config/kernel.release").read_text().strip()
    data: dict[str, Any] = {
        "source_version": source_version,
        "config_hash": config_hash(),
        "release": release,
        "tree": str(tree),
        "vmlinux": str(tree / "vmlinux"),
        "bzimage": str(tree / "arch/x86/boot/bzImage"),
        "system_map": str(tree / "System.map"),
        "config": str(tree / ".config"),
        "gdb_scripts": str(tree / "vmlinux-gdb.py"),
        "build_seconds": round(time.monotonic() - t0, 1),
        "built_at": time.time(),
    }
    for key in ("vmlinux", "bzimage", "system_map"):
        if not Path(data[key]).exists():
            raise LabError(f"KGDB kernel build produced no {data[key]}")
    write_json(base / "complete.json", data)
    log(f"KGDB kernel {release} built in {data['build_seconds']}s")
    return data
