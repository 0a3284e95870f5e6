"""Debian suites other than the host's, through a private apt configuration and state under the lab cache.

The mirror is the one the host's apt sources already name (``/etc/apt/sources.list`` and
``/etc/apt/sources.list.d/*.list|*.sources``, read at run time): nothing here names a mirror host. Each suite gets
``CACHE/apt/<suite>/`` with its own ``sources.list``, list files (``Dir::State``), package cache (``Dir::Cache``),
an empty dpkg status and an empty ``sources.list.d``; every apt command runs with ``-c CACHE/apt/<suite>/apt.conf``,
which overrides those paths only, so the host's own settings (proxies, ``Acquire::Check-Valid-Until``, ...) still
apply. Signatures are checked with the host's ``debian-archive-keyring``. The host's apt sources, lists and dpkg
database are never touched, and nothing is installed on the host.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .util import LabError, log, run

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
UPDATE_TTL = 24 * 3600.0


@dataclass(frozen=True)
class Source:
    """One ``deb`` line (or deb822 stanza, one per URI) of the host's apt sources."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str


def _one_line_sources(text: str) -> list[Source]:
    out: list[Source] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        words = line.split()[1:]
        signed = ""
        if words and words[0].startswith("["):
            opts: list[str] = []
            while words:
                w = words.pop(0)
                opts.append(w.strip("[]"))
                if w.endswith("]"):
                    break
            for o in opts:
                if o.startswith("signed-by="):
                    signed = o.split("=", 1)[1]
        if len(words) >= 2:
            out.append(Source(words[0].rstrip("/"), (words[1],), tuple(words[2:]), signed))
    return out


def _deb822_sources(text: str) -> list[Source]:
    out: list[Source] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += " " + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(
                Source(
                    uri.rstrip("/"),
                    tuple(fields.get("suites", "").split()),
                    tuple(fields.get("components", "").split()),
                    fields.get("signed-by", ""),
                )
            )
    return out


def host_sources(etc: Path = Path("/etc/apt")) -> list[Source]:
    """The host's enabled ``deb`` sources, as apt reads them (files not ending in .list/.sources are ignored)."""
    out: list[Source] = []
    main = etc / "sources.list"
    if main.is_file():
        out += _one_line_sources(main.read_text(errors="replace"))
    parts = etc / "sources.list.d"
    for f in sorted(parts.iterdir()) if parts.is_dir() else []:
        if f.suffix == ".list":
            out += _one_line_sources(f.read_text(errors="replace"))
        elif f.suffix == ".sources":
            out += _deb822_sources(f.read_text(errors="replace"))
    return out


def _is_debian(src: Source) -> bool:
    """A source of the Debian archive itself: signed with Debian's archive keyring (or, without a Signed-By,
    a URI whose path is the archive's usual /debian or /debian-security)."""
    if src.signed_by:
        return "debian-archive-keyring" in src.signed_by
    return bool(re.search(r"/debian(-security)?$", src.uri))


def debian_mirrors(sources: list[Source] | None = None) -> tuple[str, str]:
    """(archive URI, security URI) of the Debian mirror the host's apt already uses.

    ``CRASHLAB_DEBIAN_MIRROR`` / ``CRASHLAB_DEBIAN_SECURITY_MIRROR`` override them (for hosts whose sources name
    no Debian mirror). Without a security source, the archive URI with ``-security`` appended is used (the
    Debian layout: .../debian and .../debian-security)."""
    sources = host_sources() if sources is None else sources
    archive = os.environ.get("CRASHLAB_DEBIAN_MIRROR", "")
    security = os.environ.get("CRASHLAB_DEBIAN_SECURITY_MIRROR", "")
    for src in sources:
        if not _is_debian(src):
            continue
        is_sec = any(s.endswith("-security") or s.endswith("/updates") for s in src.suites)
        if is_sec and not security:
            security = src.uri
        elif not is_sec and not archive:
            archive = src.uri
    if not archive:
        raise LabError(
            "the host's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d) name no Debian mirror; "
            "set CRASHLAB_DEBIAN_MIRROR"
        )
    return archive, security or archive + "-security"


def suite_lines(suite: str, archive: str, security: str) -> list[str]:
    """The sources.list lines of a Debian suite: the suite, its -updates and -security (not for sid)."""
    signed = f"[signed-by={KEYRING}]"
    if suite in ("sid", "unstable"):
        return [f"deb {signed} {archive} {suite} main"]
    return [
        f"deb {signed} {archive} {suite} main",
        f"deb {signed} {archive} {suite}-updates main",
        f"deb {signed} {security} {suite}-security main",
    ]


class PrivateApt:
    """apt-get/apt-cache for one Debian suite with private state in ``CACHE/apt/<suite>/``."""

    def __init__(self, cache_root: Path, suite: str) -> None:
        self.suite = suite
        self.dir = cache_root / "apt" / suite
        self.conf = self.dir / "apt.conf"
        self._updated = False

    def _setup(self) -> None:
        if not KEYRING.is_file():
            raise LabError(f"no {KEYRING} (install debian-archive-keyring)")
        archive, security = debian_mirrors()
        d = self.dir
        for sub in ("state/lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        status = d / "state" / "status"
        if not status.exists():
            status.write_text("")
        (d / "sources.list").write_text("\n".join(suite_lines(self.suite, archive, security)) + "\n")
        conf = [
            f'Dir::State "{d}/state";',
            f'Dir::State::lists "{d}/state/lists";',
            f'Dir::State::status "{status}";',
            f'Dir::Cache "{d}/cache";',
            f'Dir::Cache::archives "{d}/cache/archives";',
            f'Dir::Etc::sourcelist "{d}/sources.list";',
            f'Dir::Etc::sourceparts "{d}/sources.list.d";',
            f'Dir::Etc::preferences "{d}/preferences";',
            f'Dir::Etc::preferencesparts "{d}/preferences.d";',
            'APT::Architecture "amd64";',
            'APT::Architectures { "amd64"; };',
            'Acquire::Languages "none";',
            # The files land in root-owned cache directories that apt's _apt sandbox user cannot write.
            'APT::Sandbox::User "root";',
            # Hooks of the host's apt.conf.d (cache cleaners, packagekit, appstream) are for the host's apt.
            "#clear APT::Update::Pre-Invoke;",
            "#clear APT::Update::Post-Invoke;",
            "#clear APT::Update::Post-Invoke-Success;",
            "",
        ]
        text = "\n".join(conf)
        if not self.conf.exists() or self.conf.read_text() != text:
            self.conf.write_text(text)

    def lists_age(self) -> float:
        """Seconds since this suite's last apt-get update (infinite if never)."""
        stamp = self.dir / "updated"
        return time.time() - stamp.stat().st_mtime if stamp.exists() else float("inf")

    def argv(self, tool: str) -> list[str]:
        self._setup()
        return [tool, "-c", str(self.conf)]

    def update(self, max_age: float = UPDATE_TTL, force: bool = False) -> None:
        """apt-get update of this suite, unless done within ``max_age`` seconds."""
        if self._updated and not force:
            return
        self._setup()
        stamp = self.dir / "updated"
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < max_age
        if fresh and not force and any((self.dir / "state" / "lists").glob("*Packages*")):
            self._updated = True
            return
        log(f"apt-get update ({self.suite}, private state in {self.dir})")
        proc = run(
            [*self.argv("apt-get"), "update"], env=APT_ENV, timeout=600, check=False, what="apt-get update"
        )
        errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")]
        if proc.returncode != 0 or errs:
            raise LabError(
                f"apt-get update of {self.suite} failed: {(errs or [proc.stderr.strip()])[-1][:300]}"
            )
        stamp.write_text(f"{time.time()}\n")
        self._updated = True

    def depends(self, pkg: str) -> list[str]:
        """The package's Depends and Pre-Depends (first alternative of each), as apt-cache depends lists them."""
        proc = run([*self.argv("apt-cache"), "depends", pkg], check=False, timeout=120, what="apt-cache")
        return re.findall(r"^\s+(?:Pre)?Depends: <?([^\s>]+)>?", proc.stdout, re.M)

    def depends_field(self, pkg: str) -> str:
        """The raw Depends field of the candidate version (apt-cache show)."""
        proc = run([*self.argv("apt-cache"), "show", "--no-all-versions", pkg], check=False, timeout=120)
        m = re.search(r"^Depends: (.*)$", proc.stdout, re.M)
        return m.group(1) if m else ""

    def versions(self, pkg: str) -> list[str]:
        """Every version of a package the suite's lists know, the candidate first (apt-cache policy order)."""
        proc = run([*self.argv("apt-cache"), "policy", pkg], check=False, timeout=120, what="apt-cache")
        table = proc.stdout.split("Version table:", 1)[-1] if "Version table:" in proc.stdout else ""
        return re.findall(r"^ (?:\*\*\*| {3}) (\S+) \d+", table, re.M)

    def candidate(self, pkg: str) -> str:
        proc = run([*self.argv("apt-cache"), "policy", pkg], check=False, timeout=120, what="apt-cache")
        m = re.search(r"Candidate: (\S+)", proc.stdout)
        return m.group(1) if m and m.group(1) != "(none)" else ""

    def closure(self, pkgs: list[str]) -> dict[str, str]:
        """Every package (-> version) that installing ``pkgs`` on an empty system pulls in (no Recommends)."""
        proc = run(
            [*self.argv("apt-get"), "-s", "install", "--no-install-recommends", *pkgs],
            env=APT_ENV,
            timeout=300,
            check=False,
            what="apt-get -s install",
        )
        found = dict(re.findall(r"^Inst (\S+) \((\S+)", proc.stdout, re.M))
        if proc.returncode != 0 or not found:
            err = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")] or [proc.stderr.strip()]
            raise LabError(f"apt cannot resolve {' '.join(pkgs)} in {self.suite}: {err[-1][:300]}")
        return found

    def download(self, pkgs: dict[str, str], dest: Path, tmp_root: Path) -> dict[str, Path]:
        """``apt-get download pkg=version`` into ``dest`` (skipping files already there). Returns the paths."""
        return download_debs(pkgs, dest, tmp_root, self.argv("apt-get"), self.update)


def _find_deb(dest: Path, pkg: str, ver: str) -> Path | None:
    ver_q = ver.split(":", 1)[-1]
    for pattern in (f"{pkg}_{ver.replace(':', '%3a')}_*.deb", f"{pkg}_{ver_q}_*.deb"):
        found = sorted(dest.glob(pattern))
        if found:
            return found[0]
    return None


def download_debs(
    pkgs: dict[str, str],
    dest: Path,
    tmp_root: Path,
    apt_get: list[str],
    update: object = None,
) -> dict[str, Path]:
    """``APT_GET download pkg=version`` for each package unless already in ``dest``. Returns paths."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    need: list[str] = []
    for pkg, ver in pkgs.items():
        found = _find_deb(dest, pkg, ver)
        if found:
            out[pkg] = found
        else:
            need.append(f"{pkg}={ver}")
    if need:
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"download.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            log(f"apt-get download {' '.join(need)}")
            if callable(update):
                update()
            t0 = time.monotonic()
            proc = run(
                [*apt_get, "download", *need],
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
            found = _find_deb(dest, pkg, ver)
            if not found:
                raise LabError(f"apt-get download gave no {pkg} {ver} package")
            out[pkg] = found
    return out
