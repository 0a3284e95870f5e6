"""Host side: Debian packages (apt-get/dpkg-query), kernel version resolution, debs download."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from .util import LabError, log, read_json, run, write_json

# Host tools the lab needs: package -> a file it provides (to check cheaply without dpkg).
HOST_TOOLS: dict[str, str] = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",
    "kexec-tools": "/sbin/kexec",
    "makedumpfile": "/usr/bin/makedumpfile",
    "crash": "/usr/bin/crash",
    "e2fsprogs": "/sbin/debugfs",
    "zstd": "/usr/bin/zstd",
    "xz-utils": "/usr/bin/xz",
    "gcc": "/usr/bin/gcc",
    "make": "/usr/bin/make",
    "libc6-dev": "/usr/lib/x86_64-linux-gnu/libc.a",
    "gdb": "/usr/bin/gdb",
}
# Extra packages for building the KGDB kernel from linux-source-6.1.
KGDB_BUILD_TOOLS: dict[str, str] = {
    "flex": "/usr/bin/flex",
    "bison": "/usr/bin/bison",
    "libelf-dev": "/usr/include/libelf.h",
    "bc": "/usr/bin/bc",
    "libssl-dev": "/usr/include/openssl/ssl.h",
}
# Tool versions that go into the cache key.
KEY_TOOLS = ("qemu-system-x86", "makedumpfile", "crash", "kexec-tools", "busybox-static")

KERNEL_META = "linux-image-cloud-amd64"
RESOLVE_TTL = 6 * 3600
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}

_updated = False


def dpkg_versions(pkgs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Installed versions ('' when not installed)."""
    proc = run(
        ["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n", *pkgs],
        what="dpkg-query",
        check=False,
        timeout=60,
    )
    out = {p: "" for p in pkgs}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            out[parts[0]] = parts[1]
    return out


def apt_update(force: bool = False) -> None:
    global _updated
    if _updated and not force:
        return
    if os.environ.get("CRASHLAB_NO_APT_UPDATE") == "1":
        _updated = True
        return
    log("apt-get update")
    run(["apt-get", "update"], env=APT_ENV, timeout=300, what="apt-get update")
    _updated = True


def ensure_packages(pkgs: list[str], purpose: str) -> None:
    """apt-get install the packages that are not installed yet."""
    pkgs = [p for p in pkgs if p]
    missing = [p for p, v in dpkg_versions(pkgs).items() if not v]
    if not missing:
        return
    if os.geteuid() != 0:
        raise LabError(
            f"missing host packages for {purpose}: {' '.join(missing)} (run as root to install them)"
        )
    apt_update()
    log(f"apt-get install {' '.join(missing)}")
    proc = run(
        ["apt-get", "install", "-y", "--no-install-recommends", *missing],
        env=APT_ENV,
        timeout=900,
        check=False,
        what="apt-get install",
    )
    if proc.returncode != 0:
        err = (
            [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")] or proc.stderr.splitlines() or [""]
        )
        raise LabError(f"cannot install {' '.join(missing)} for {purpose}: {err[-1][:300]}")
    still = [p for p, v in dpkg_versions(missing).items() if not v]
    if still:
        raise LabError(f"apt package(s) not installed after apt-get install: {' '.join(still)}")


def ensure_host_tools() -> None:
    ensure_packages(list(HOST_TOOLS), "the crash lab")


def ensure_kgdb_tools() -> None:
    ensure_packages([p for p, f in KGDB_BUILD_TOOLS.items() if f], "building the KGDB kernel")


def tool_versions() -> dict[str, str]:
    return dpkg_versions(list(KEY_TOOLS))


def _apt_cache_depends(pkg: str) -> list[str]:
    proc = run(["apt-cache", "depends", pkg], check=False, timeout=60, what="apt-cache")
    return re.findall(r"^\s+Depends: (\S+)", proc.stdout, re.M)


def apt_candidate(pkg: str) -> str:
    proc = run(["apt-cache", "policy", pkg], check=False, timeout=60, what="apt-cache")
    m = re.search(r"Candidate: (\S+)", proc.stdout)
    return m.group(1) if m and m.group(1) != "(none)" else ""


def resolve_kernel(
    cache_root: Path, allow_update: bool = True, max_age: float = RESOLVE_TTL
) -> dict[str, str]:
    """Which kernel ``linux-image-cloud-amd64`` points to today: {'release', 'version', 'source_version'}.

    Cached in ``cache_root/resolve.json`` for a few hours so that a warm build needs no apt at all.
    """
    if env_rel := os.environ.get("CRASHLAB_KERNEL_RELEASE"):
        cached = _load_resolve(cache_root)
        if cached and cached.get("release") == env_rel:
            return cached
    cached = _load_resolve(cache_root)
    if cached and time.time() - float(cached.get("resolved_at", "0")) < max_age:
        return cached
    for attempt in (0, 1):
        deps = [d for d in _apt_cache_depends(KERNEL_META) if d.startswith("linux-image-")]
        if deps:
            image = deps[0]
            release = image[len("linux-image-") :]
            version = apt_candidate(image)
            dbg_version = apt_candidate(image + "-dbg")
            src_version = apt_candidate("linux-source-6.1")
            if version and dbg_version == version:
                res = {
                    "release": release,
                    "version": version,
                    "source_version": src_version,
                    "resolved_at": str(time.time()),
                }
                write_json(cache_root / "resolve.json", res)
                return res
        if attempt == 0 and allow_update:
            apt_update()
        elif attempt == 0:
            break
    if cached:
        log(f"warning: apt cannot resolve {KERNEL_META}; using the last resolution {cached['release']}")
        return cached
    raise LabError(
        f"cannot resolve the kernel: apt-cache knows no {KERNEL_META} with a matching -dbg package"
    )


def _load_resolve(cache_root: Path) -> dict[str, str] | None:
    p = cache_root / "resolve.json"
    if not p.exists():
        return None
    try:
        data = read_json(p)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "release" in data else None


def download_debs(pkgs: dict[str, str], dest: Path, tmp_root: Path) -> dict[str, Path]:
    """``apt-get download pkg=version`` for each package unless already in ``dest``. Returns paths."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    need: list[str] = []
    for pkg, ver in pkgs.items():
        ver_q = ver.replace(":", "%3a")
        found = sorted(dest.glob(f"{pkg}_{ver_q}_*.deb"))
        if found:
            out[pkg] = found[0]
        else:
            need.append(f"{pkg}={ver}")
    if need:
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"download.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            log(f"apt-get download {' '.join(need)}")
            apt_update()
            t0 = time.monotonic()
            proc = run(
                ["apt-get", "download", *need],
                cwd=tmp,
                env=APT_ENV,
                timeout=1800,
                check=False,
                what="apt-get download",
            )
            if proc.returncode != 0:
                err = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")] or [proc.stderr.strip()]
                raise LabError(f"cannot download {' '.join(need)}: {err[-1][:300]}")
            for f in tmp.glob("*.deb"):
                os.rename(f, dest / f.name)
            log(f"downloaded in {time.monotonic() - t0:.1f}s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for pkg, ver in pkgs.items():
            ver_q = ver.replace(":", "%3a")
            found = sorted(dest.glob(f"{pkg}_{ver_q}_*.deb"))
            if not found:
                raise LabError(f"apt-get download gave no {pkg} {ver} package")
            out[pkg] = found[0]
    return out
