"""The guest: crashme.ko, the static user-space actors, and the busybox initramfs images."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from . import roots
from .kernel import guest_modules
from .util import GUEST_SRC, LabError, log, run

ACTORS = ("fixsleep_a", "fixsleep_b", "fixcrash", "fixkgdb", "fixspawn", "fixhold", "fixactor", "fixbusy")


def build_module(kbuild_dir: Path, out: Path, make_env: dict[str, str] | None = None) -> Path:
    """Build crashme.ko against a kernel build tree (kbuild_dir: headers or a configured source tree)."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(GUEST_SRC / "crashme.c", out / "crashme.c")
    (out / "Kbuild").write_text("obj-m := crashme.o\n")
    if not (kbuild_dir / "Makefile").exists():
        raise LabError(f"no kernel build tree at {kbuild_dir} (linux-headers package missing?)")
    run(["make", "-C", kbuild_dir, f"M={out}", "modules"], timeout=600, what="make crashme.ko", env=make_env)
    ko = out / "crashme.ko"
    if not ko.exists():
        raise LabError("building crashme.ko produced no crashme.ko")
    return ko


def build_module_in_root(root: Path, kbuild_dir: str, out: Path) -> Path:
    """Build crashme.ko with a private root's compiler and kbuild (chroot), then copy the build to ``out``."""
    inner = "/tmp/crashlab-crashme"
    work = root / inner.lstrip("/")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        shutil.copy2(GUEST_SRC / "crashme.c", work / "crashme.c")
        (work / "Kbuild").write_text("obj-m := crashme.o\n")
        roots.run_in_root(
            root, ["make", "-C", kbuild_dir, f"M={inner}", "modules"], timeout=600, what="make crashme.ko"
        )
        if not (work / "crashme.ko").exists():
            raise LabError("building crashme.ko produced no crashme.ko")
        shutil.copytree(work, out, symlinks=True, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "crashme.ko"


def build_helper(out: Path) -> Path:
    exe = out / "fixture_helper"
    run(
        ["gcc", "-static", "-O2", "-g", "-Wall", "-o", exe, GUEST_SRC / "fixture_helper.c"],
        timeout=300,
        what="gcc fixture_helper (static; needs libc6-dev)",
    )
    return exe


def _copy_with_libs(binary: Path, root: Path, dest_dir: str, tool_root: Path | None = None) -> None:
    """Copy a dynamically linked binary and the shared libraries its loader maps into the tree ``root``: a host
    binary (ldd), or with ``tool_root`` one of that private root's (binary is then a path inside it)."""
    target = root / dest_dir.lstrip("/") / binary.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if tool_root is not None:
        shutil.copy2(roots.resolve_in_root(tool_root, str(binary)), target)
        for lib in roots.root_libraries(tool_root, str(binary)):
            dst = root / lib.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copy2(roots.resolve_in_root(tool_root, lib), dst)
        return
    shutil.copy2(binary, target)
    proc = run(["ldd", binary], timeout=60, what=f"ldd {binary}", check=False)
    for line in proc.stdout.splitlines():
        parts = line.split()
        lib = ""
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                lib = parts[i + 1]
        elif parts and parts[0].startswith("/"):
            lib = parts[0]
        if lib:
            real = Path(lib).resolve()
            dst = root / lib.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                shutil.copy2(real, dst)


def _base_tree(root: Path) -> None:
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "mnt",
        "lib/modules",
        "boot",
        "var/crash",
        "etc",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", root / "bin/busybox")
    os.symlink("busybox", root / "bin/sh")
    shutil.copy2(GUEST_SRC / "init.sh", root / "init")
    (root / "init").chmod(0o755)
    (root / "etc/hostname").write_text("crashfixture\n")


def _add_actors(root: Path, helper: Path) -> None:
    for name in ACTORS:
        shutil.copy2(helper, root / "bin" / name)


def make_cpio(tree: Path, out: Path) -> None:
    """``find . | busybox cpio -o -H newc -R 0:0 | gzip`` (the host has no cpio)."""
    # The kernel opens /dev/console for /init before devtmpfs is mounted. (Created only here: copying a tree
    # that holds a device node would read the device.)
    console = tree / "dev" / "console"
    if not console.exists():
        try:
            os.mknod(console, 0o600 | stat.S_IFCHR, os.makedev(5, 1))
        except PermissionError as exc:
            raise LabError("cannot create /dev/console in the initramfs tree (run as root)") from exc
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    listing = ".\n" + "".join(f"./{f}\n" for f in files)
    proc = subprocess.run(
        ["busybox", "cpio", "-o", "-H", "newc", "-R", "0:0"],
        cwd=tree,
        input=listing.encode(),
        capture_output=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise LabError(f"busybox cpio failed: {proc.stderr.decode(errors='replace').strip()[-200:]}")
    with gzip.open(out, "wb", compresslevel=6) as f:
        f.write(proc.stdout)


def build_debian_guest(
    kinfo: dict[str, Any], headers: Path, out: Path, tool_root: dict[str, Any] | None = None
) -> dict[str, Any]:
    """crashme.ko against the Debian headers, the actors, capture.cpio.gz and main.cpio.gz.

    ``tool_root`` (roots.ensure_tool_root) is the private root of a non-default kernel: crashme.ko is built with
    its compiler and kbuild (``headers`` is then ignored), and the guest's makedumpfile and kexec are its own."""
    release = kinfo["release"]
    log("building crashme.ko, the user-space actors and the initramfs images")
    troot = Path(tool_root["root"]) if tool_root else None
    if troot is not None and tool_root is not None:
        ko = build_module_in_root(troot, str(tool_root["kbuild_dir"]), out / "crashme")
    else:
        ko = build_module(headers, out / "crashme")
    helper = build_helper(out)
    modules_dir = Path(kinfo["modules_dir"]) / "kernel"
    modpaths = dict(guest_modules(kinfo))

    cap = out / "tree-capture"
    _base_tree(cap)
    mdf = (tool_root or {}).get("makedumpfile_unpacked")
    if mdf:
        # makedumpfile from a newer suite, kept apart with its own libc in /opt/makedumpfile and run through
        # its own loader by a wrapper (the other binaries keep the kernel's suite's libraries).
        root = Path(mdf["root"])
        opt = cap / "opt" / "makedumpfile"
        (opt / "lib").mkdir(parents=True)
        shutil.copy2(root / "usr/bin/makedumpfile", opt / "makedumpfile")
        for inside, src in roots.unpacked_libraries(mdf, "/usr/bin/makedumpfile"):
            dst = (
                opt / "ld-linux-x86-64.so.2"
                if inside.endswith("/ld-linux-x86-64.so.2")
                else opt / "lib" / Path(inside).name
            )
            if not dst.exists():
                shutil.copy2(src, dst)
        wrapper = cap / "usr/bin/makedumpfile"
        wrapper.write_text(
            "#!/bin/sh\nexec /opt/makedumpfile/ld-linux-x86-64.so.2 --library-path /opt/makedumpfile/lib "
            '/opt/makedumpfile/makedumpfile "$@"\n'
        )
        wrapper.chmod(0o755)
    else:
        _copy_with_libs(Path("/usr/bin/makedumpfile"), cap, "/usr/bin", troot)
    for m, path in modpaths.items():
        if m != "qemu_fw_cfg":
            shutil.copy2(modules_dir / path, cap / "lib/modules" / f"{m}.ko")
    main = out / "tree-main"
    shutil.copytree(cap, main, symlinks=True)
    make_cpio(cap, out / "capture.cpio.gz")
    kexec = Path("/usr/sbin/kexec")
    if troot is not None and not roots.resolve_in_root(troot, str(kexec)).exists():
        kexec = Path("/sbin/kexec")  # suites before the merged /usr
    _copy_with_libs(kexec, main, "/usr/sbin", troot)
    if "qemu_fw_cfg" in modpaths:
        shutil.copy2(modules_dir / modpaths["qemu_fw_cfg"], main / "lib/modules/qemu_fw_cfg.ko")
    shutil.copy2(ko, main / "lib/modules/crashme.ko")
    _add_actors(main, helper)
    shutil.copy2(kinfo["vmlinuz"], main / "boot/vmlinuz")
    shutil.copy2(out / "capture.cpio.gz", main / "boot/capture.cpio.gz")
    make_cpio(main, out / "main.cpio.gz")
    shutil.rmtree(cap)
    shutil.rmtree(main)
    return {
        "release": release,
        "crashme_ko": str(ko),
        "crashme_src": str(out / "crashme" / "crashme.c"),
        "helper": str(helper),
        "main_initrd": str(out / "main.cpio.gz"),
        "capture_initrd": str(out / "capture.cpio.gz"),
    }


def build_kgdb_guest(kgdb: dict[str, Any], out: Path) -> dict[str, Any]:
    """crashme.ko against the KGDB kernel tree, and kgdb.cpio.gz (busybox, /init, crashme.ko, the actors)."""
    log("building crashme.ko for the KGDB kernel and its initramfs")
    ko = build_module(Path(kgdb["tree"]), out / "crashme")
    helper = build_helper(out)
    tree = out / "tree-kgdb"
    _base_tree(tree)
    shutil.copy2(ko, tree / "lib/modules/crashme.ko")
    _add_actors(tree, helper)
    make_cpio(tree, out / "kgdb.cpio.gz")
    shutil.rmtree(tree)
    return {
        "crashme_ko": str(ko),
        "crashme_src": str(out / "crashme" / "crashme.c"),
        "initrd": str(out / "kgdb.cpio.gz"),
    }
