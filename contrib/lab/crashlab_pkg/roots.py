"""Private roots under the lab cache: another Debian suite's tools, never installed on the host.

``CACHE/roots/<release>/root`` (one per kernel release of a non-default series): an ``mmdebstrap`` of the kernel's
own suite (``--variant=essential``) with the compiler its headers ask for, make, the kernel's kbuild and common
headers, makedumpfile and kexec-tools; the kernel's arch-specific ``linux-headers-<release>`` is unpacked into
it with ``dpkg-deb`` (some of them depend on the kernel image, which would drag initramfs tools in). crashme.ko
is built in it with ``chroot`` (in a private mount and pid namespace that has its own /proc, so nothing stays
mounted), and the guest's makedumpfile and kexec (with their shared libraries) are copied from it.

``CACHE/oracle/crash-<version>/root``: crash's newest release from Debian unstable and every package it needs
(``apt-get -s install`` on an empty status), unpacked with ``dpkg-deb -x`` and run through that root's own
dynamic loader (:func:`oracle_argv`). The host's crash package stays as it is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .apt import KEYRING, PrivateApt, debian_mirrors, suite_lines
from .util import LabError, log, read_json, run, staging_dir, write_json

ROOT_TOOLS = ("make", "makedumpfile", "kexec-tools")
ORACLE_SUITE = "sid"


def _deps_to_install(depends_field: str, release: str) -> list[str]:
    """The packages of a linux-headers Depends field to install in the root: the compiler, kbuild and the
    common headers; not the kernel image (some headers depend on it) nor linux-base's kernel hooks."""
    out: list[str] = []
    for group in depends_field.split(","):
        for alt in group.split("|"):
            name = alt.strip().split(" ", 1)[0].split(":", 1)[0]
            if not name or name.startswith("linux-image-") or name == "linux-base":
                continue
            out.append(name)
            break
    return out


def _host_aptopts(path: Path) -> Path | None:
    """The host's apt settings an mmdebstrap needs too (it does not read the host's apt.conf.d): a stale
    Valid-Until accepted by the host's config, and proxies. Written to a file (mmdebstrap --aptopt FILE)."""
    lines: list[str] = []
    for key in ("Acquire::Check-Valid-Until", "Acquire::http::Proxy", "Acquire::https::Proxy"):
        proc = run(["apt-config", "shell", "V", key], check=False, timeout=30, what="apt-config")
        m = re.match(r"V='(.*)'$", proc.stdout.strip())
        if m and m.group(1):
            lines.append(f'{key} "{m.group(1)}";')
    if not lines:
        return None
    path.write_text("\n".join(lines) + "\n")
    return path


def root_dir(cache_root: Path, release: str) -> Path:
    return cache_root / "roots" / release


def _extract_deb(deb: Path, dest: Path, timeout: float = 600) -> None:
    """dpkg-deb --fsys-tarfile DEB | tar -x (keeping the root's merged-/usr directory symlinks)."""
    p1 = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        tar = subprocess.run(
            ["tar", "-x", "--keep-directory-symlink", "-C", str(dest)],
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
        raise LabError(f"cannot unpack {deb.name}: {tar.stderr.strip().splitlines()[-1:]}")


def root_versions(root: Path, pkgs: list[str]) -> dict[str, str]:
    """Installed versions of packages in a root's dpkg database ('' when absent)."""
    proc = run(
        [
            "dpkg-query",
            f"--admindir={root}/var/lib/dpkg",
            "-W",
            "-f=${Package}\t${Version}\t${db:Status-Status}\n",
        ],
        check=False,
        timeout=60,
        what="dpkg-query",
    )
    have: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2] == "installed":
            have[parts[0]] = parts[1]
    return {p: have.get(p, "") for p in pkgs}


def ensure_tool_root(cache_root: Path, resolved: dict[str, Any], apt: PrivateApt) -> dict[str, Any]:
    """The private root of a non-default kernel (see the module docstring); cached per kernel release."""
    release = resolved["release"]
    final = root_dir(cache_root, release)
    done = final / "complete.json"
    if done.exists():
        data: dict[str, Any] = read_json(done)
        return data
    if shutil.which("mmdebstrap") is None:
        from . import host

        host.ensure_packages(["mmdebstrap"], "the private roots of other Debian suites")
    headers_pkg, headers_ver = next(iter(resolved["headers"].items()))
    if not headers_ver:
        raise LabError(f"{resolved['suite']} has no {headers_pkg}")
    include = _deps_to_install(resolved.get("headers_depends", ""), release) + list(ROOT_TOOLS)
    archive, security = debian_mirrors()
    t0 = time.monotonic()
    with staging_dir(final, cache_root / "tmp") as tmp:
        root = tmp / "root"
        log(f"mmdebstrap {resolved['suite']} into {final}/root with {' '.join(include)} (about 2 min)")
        argv = [
            "mmdebstrap",
            "--mode=root",
            "--variant=essential",
            f"--keyring={KEYRING}",
            f"--include={','.join(include)}",
        ]
        opts = _host_aptopts(tmp / "aptopts.conf")
        if opts:
            argv.append(f"--aptopt={opts}")
        # Each mirror as a whole sources.list line (mmdebstrap takes those as they are).
        argv += [resolved["suite"], str(root), *suite_lines(resolved["suite"], archive, security)]
        with open(tmp / "mmdebstrap.log", "w") as logf:
            try:
                proc = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, timeout=1800
                )
            except subprocess.TimeoutExpired as exc:
                raise LabError(
                    f"mmdebstrap of {resolved['suite']} timed out (log {tmp}/mmdebstrap.log)"
                ) from exc
        if proc.returncode != 0:
            tail = (tmp / "mmdebstrap.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise LabError(
                f"mmdebstrap of {resolved['suite']} failed: {tail[0][:300] if tail else proc.returncode}"
            )
        debs = apt.download({headers_pkg: headers_ver}, cache_root / "downloads", cache_root / "tmp")
        _extract_deb(debs[headers_pkg], root)
        kbuild = root / "usr" / "src" / f"linux-headers-{release}"
        if not (kbuild / "Makefile").is_file():
            raise LabError(f"{headers_pkg} holds no usr/src/linux-headers-{release}/Makefile")
        shutil.copy2(tmp / "mmdebstrap.log", root / "mmdebstrap.log")
        names = [p for p in include if not p.endswith("-for-host")] + [headers_pkg]
        versions = root_versions(root, names)
        versions[headers_pkg] = headers_ver
        compiler = _compiler(root)
        info: dict[str, Any] = {
            "release": release,
            "suite": resolved["suite"],
            "root": str(final / "root"),
            "kbuild_dir": f"/usr/src/linux-headers-{release}",
            "packages": versions,
            "compiler": compiler,
            "makedumpfile": versions.get("makedumpfile", ""),
            "kexec-tools": versions.get("kexec-tools", ""),
            "seconds": round(time.monotonic() - t0, 1),
            "built_at": time.time(),
        }
        write_json(tmp / "complete.json", {**info, "root": str(final / "root")})
    log(f"root for {release} ready in {time.monotonic() - t0:.1f}s")
    data = read_json(done)
    return data


def load_tool_root(cache_root: Path, release: str) -> dict[str, Any] | None:
    p = root_dir(cache_root, release) / "complete.json"
    if not p.exists():
        return None
    try:
        data: dict[str, Any] = read_json(p)
    except (OSError, ValueError):
        return None
    return data


def prune_tool_roots(cache_root: Path, keep_releases: set[str]) -> None:
    """Drop the private roots of kernel releases no lab entry uses any more (unpacked tools stay)."""
    d = cache_root / "roots"
    for p in d.iterdir() if d.exists() else []:
        if p.is_dir() and p.name not in keep_releases and not p.name.startswith("makedumpfile-"):
            log(f"pruning the private root of {p.name}")
            shutil.rmtree(p, ignore_errors=True)


def _compiler(root: Path) -> str:
    """The gcc version string of the compiler the kernel headers name (CC in .kernelvariables)."""
    for var in root.glob("usr/src/linux-headers-*/.kernelvariables"):
        m = re.search(r"gcc-(\d+)", var.read_text(errors="replace"))
        if m:
            proc = run_in_root(
                root, [f"x86_64-linux-gnu-gcc-{m.group(1)}", "--version"], timeout=60, check=False
            )
            return (proc.stdout.splitlines() or [f"gcc-{m.group(1)}"])[0]
    proc = run_in_root(root, ["gcc", "--version"], timeout=60, check=False)
    return (proc.stdout.splitlines() or ["gcc"])[0]


def run_in_root(
    root: Path,
    argv: list[str],
    *,
    cwd: str = "/",
    timeout: float = 600,
    check: bool = True,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command chrooted into ``root``, in a private mount and pid namespace with its own /proc (needed by
    objtool); the mount ends with the namespace, so nothing stays mounted on the host."""
    inner = "cd " + _sh_quote(cwd) + " && exec " + " ".join(_sh_quote(a) for a in argv)
    return run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            f"--mount-proc={root}/proc",
            "chroot",
            str(root),
            "/bin/sh",
            "-c",
            inner,
        ],
        timeout=timeout,
        check=check,
        what=what or argv[0],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
    )


def _sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def resolve_in_root(root: Path, path: str) -> Path:
    """The file ``path`` names inside ``root``, following symlinks as the chroot would (absolute link targets
    stay inside the root)."""
    parts = [p for p in path.split("/") if p]
    cur = root
    hops = 0
    i = 0
    while i < len(parts):
        nxt = cur / parts[i]
        if nxt.is_symlink():
            hops += 1
            if hops > 40:
                raise LabError(f"too many symlinks resolving {path} in {root}")
            target = os.readlink(nxt)
            rest = parts[i + 1 :]
            if target.startswith("/"):
                cur = root
                parts = [p for p in target.split("/") if p] + rest
            else:
                parts = [p for p in target.split("/") if p] + rest
            i = 0
            continue
        cur = nxt
        i += 1
    return cur


def root_libraries(root: Path, binary: str) -> list[str]:
    """The shared objects (paths inside the root) the root's dynamic loader maps for ``binary``, the loader
    itself included (``ld.so --list``, what ldd does)."""
    loader = "/lib64/ld-linux-x86-64.so.2"
    proc = run_in_root(
        root, [loader, "--list", binary], timeout=60, check=False, what=f"ld.so --list {binary}"
    )
    if proc.returncode != 0:
        raise LabError(f"cannot list the libraries of {binary} in {root}: {proc.stderr.strip()[-200:]}")
    libs: list[str] = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                libs.append(parts[i + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


# ------------------------------------------------------------------------------- single tools from another suite

# Packages an unpacked tool never runs (makedumpfile depends on perl for its helper scripts only).
_UNPACK_SKIP = ("perl", "perl-base", "perl-modules-", "libperl")


def ensure_unpacked_tool(cache_root: Path, suite: str, package: str) -> dict[str, Any]:
    """One package of ``suite`` and the libraries it needs, unpacked into
    ``CACHE/roots/<package>-<version>/root`` (no maintainer scripts, no chroot): for a tool the guest copies
    with its libraries, when the kernel's own suite has only a version that does not handle that kernel."""
    apt = PrivateApt(cache_root, suite)
    apt.update()
    version = apt.candidate(package)
    if not version:
        raise LabError(f"apt knows no {package} in {suite}")
    final = cache_root / "roots" / f"{package}-{version.replace(':', '_')}"
    if (final / "complete.json").exists():
        data: dict[str, Any] = read_json(final / "complete.json")
        return data
    pkgs = {p: v for p, v in apt.closure([package]).items() if not p.startswith(_UNPACK_SKIP)}
    log(f"{package} {version} from {suite} and {len(pkgs) - 1} packages it needs into {final}/root")
    debs = apt.download(pkgs, cache_root / "downloads" / f"unpacked-{package}", cache_root / "tmp")
    with staging_dir(final, cache_root / "tmp") as tmp:
        root = tmp / "root"
        root.mkdir()
        for deb in debs.values():
            _extract_deb(deb, root)
        write_json(
            tmp / "complete.json",
            {
                "package": package,
                "version": version,
                "suite": suite,
                "root": str(final / "root"),
                "loader": str(final / _loader(root).relative_to(tmp)),
                "packages": pkgs,
            },
        )
    shutil.rmtree(cache_root / "downloads" / f"unpacked-{package}", ignore_errors=True)
    data = read_json(final / "complete.json")
    return data


def cached_unpacked_tool(cache_root: Path, suite: str, package: str) -> dict[str, Any] | None:
    """The newest complete unpacked ``package`` of ``suite`` (for cache look-ups, without apt)."""
    found = []
    for p in (cache_root / "roots").glob(f"{package}-*/complete.json"):
        try:
            data: dict[str, Any] = read_json(p)
        except (OSError, ValueError):
            continue
        if data.get("suite") == suite and data.get("package") == package:
            found.append((p.stat().st_mtime, data))
    return max(found, key=lambda x: x[0])[1] if found else None


def unpacked_libraries(info: dict[str, Any], binary: str) -> list[tuple[str, Path]]:
    """(path in a system, file in the unpacked root) of what the root's loader maps for ``binary``, the loader
    included, as ``ld.so --list`` with the root's library path resolves it."""
    root = Path(info["root"])
    libpath = f"{root}/lib/x86_64-linux-gnu:{root}/usr/lib/x86_64-linux-gnu"
    proc = run(
        [info["loader"], "--list", "--library-path", libpath, str(root / binary.lstrip("/"))],
        timeout=60,
        check=False,
        what=f"ld.so --list {binary}",
    )
    if proc.returncode != 0:
        raise LabError(f"cannot list the libraries of {binary} in {root}: {proc.stderr.strip()[-200:]}")
    out = [("/lib64/ld-linux-x86-64.so.2", Path(info["loader"]).resolve())]
    for line in proc.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith(str(root)):
                host_path = Path(parts[i + 1])
                out.append(("/" + str(host_path.relative_to(root)), host_path.resolve()))
    return out


# ------------------------------------------------------------------------------------------------ the oracle


def oracle_dir(cache_root: Path, package_version: str) -> Path:
    return cache_root / "oracle" / f"crash-{package_version.replace(':', '_')}"


def _loader(root: Path) -> Path:
    for rel in (
        "lib64/ld-linux-x86-64.so.2",
        "usr/lib64/ld-linux-x86-64.so.2",
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    ):
        p = root / rel
        if p.exists():
            return p
    raise LabError(f"no ld-linux-x86-64.so.2 in {root}")


def oracle_argv(info: dict[str, Any]) -> list[str]:
    """The command that runs the oracle crash through its root's own loader."""
    root = Path(info["root"])
    libpath = f"{root}/lib/x86_64-linux-gnu:{root}/usr/lib/x86_64-linux-gnu"
    return [str(info["loader"]), "--library-path", libpath, str(root / "usr/bin/crash")]


ORACLE_TTL = 24 * 3600.0


def _current_file(cache_root: Path) -> Path:
    return cache_root / "oracle" / "current.json"


def cached_oracle(cache_root: Path, max_age: float = ORACLE_TTL) -> dict[str, Any] | None:
    """The oracle the last build resolved, if that was less than ``max_age`` ago and its root is complete
    (cache look-ups run no apt; an older resolution makes the next build ask Debian unstable again)."""
    cur = _current_file(cache_root)
    try:
        data = read_json(cur)
        if time.time() - float(data.get("resolved_at", 0)) > max_age:
            return None
        info: dict[str, Any] = read_json(
            oracle_dir(cache_root, str(data["package_version"])) / "complete.json"
        )
        return info
    except (OSError, ValueError, KeyError):
        return None


def ensure_oracle(cache_root: Path, allow_update: bool = True) -> dict[str, Any]:
    """crash's newest release (Debian unstable's package) in a private root; cached per package version.

    Returns {name, version, package_version, suite, root, loader, argv, packages}. Without apt access the newest
    complete oracle root is used."""
    apt = PrivateApt(cache_root, ORACLE_SUITE)
    pkgver = ""
    try:
        if allow_update:
            apt.update()
        pkgver = apt.candidate("crash")
    except LabError as exc:
        log(f"warning: cannot ask {ORACLE_SUITE} for crash ({exc})")
    if not pkgver:
        known = sorted(
            (cache_root / "oracle").glob("crash-*/complete.json"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        if known:
            data: dict[str, Any] = read_json(known[0])
            return data
        raise LabError(f"apt knows no crash package in {ORACLE_SUITE} and no oracle root is cached")
    final = oracle_dir(cache_root, pkgver)
    if (final / "complete.json").exists():
        write_json(_current_file(cache_root), {"package_version": pkgver, "resolved_at": time.time()})
        data = read_json(final / "complete.json")
        return data
    t0 = time.monotonic()
    pkgs = apt.closure(["crash"])
    log(f"crash {pkgver} from {ORACLE_SUITE} and {len(pkgs) - 1} packages it needs into {final}/root")
    debs = apt.download(pkgs, cache_root / "downloads" / "oracle", cache_root / "tmp")
    with staging_dir(final, cache_root / "tmp") as tmp:
        root = tmp / "root"
        root.mkdir()
        for deb in debs.values():
            _extract_deb(deb, root)
        loader = _loader(root)
        info: dict[str, Any] = {
            "name": "crash",
            "package_version": pkgver,
            "suite": ORACLE_SUITE,
            "root": str(root),
            "loader": str(loader),
            "packages": pkgs,
        }
        proc = run([*oracle_argv(info), "--version"], timeout=60, check=False, what="crash --version")
        m = re.search(r"^crash (\S+)", proc.stdout, re.M)
        if proc.returncode != 0 or not m:
            raise LabError(
                f"the oracle crash {pkgver} does not run: {(proc.stderr or proc.stdout).strip()[-200:]}"
            )
        info["version"] = m.group(1)
        final_info = {
            **info,
            "root": str(final / "root"),
            "loader": str(final / loader.relative_to(tmp)),
            "seconds": round(time.monotonic() - t0, 1),
        }
        final_info["argv"] = oracle_argv(final_info)
        write_json(tmp / "complete.json", final_info)
    shutil.rmtree(cache_root / "downloads" / "oracle", ignore_errors=True)
    write_json(_current_file(cache_root), {"package_version": pkgver, "resolved_at": time.time()})
    log(f"oracle crash {info['version']} ({pkgver}) ready in {time.monotonic() - t0:.1f}s")
    data = read_json(final / "complete.json")
    return data


def host_oracle() -> dict[str, Any]:
    """The host's crash (Debian 12's 8.0.2) as the oracle: CRASHLAB_ORACLE=host."""
    from . import host

    ver = host.dpkg_versions(["crash"])["crash"]
    proc = run(["crash", "--version"], timeout=60, check=False, what="crash --version")
    m = re.search(r"^crash (\S+)", proc.stdout, re.M)
    return {
        "name": "crash",
        "version": m.group(1) if m else ver,
        "package_version": ver,
        "suite": "host",
        "root": "/",
        "argv": ["crash"],
    }
