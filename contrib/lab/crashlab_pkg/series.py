"""The kernel series the lab builds: which Debian suite and metapackage each follows, resolved at run time.

``6.1`` is the default lab: the host's own apt (Debian 12), headers installed on the host, the host's
makedumpfile/kexec, every default scenario. The other series take everything from their own suite through a
private apt (apt.py): kernel image and -dbg with ``apt-get download``, and the tools (compiler, kbuild,
makedumpfile, kexec) in a private root (roots.py). Each resolves to one kernel *release*; the kernel
extraction, the tool root and the lab entry are all keyed by that release, so the series never share a cache
entry.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from . import host
from .apt import PrivateApt
from .scenarios import TRIAGE_SCENARIOS
from .util import LabError, log, read_json, write_json

RESOLVE_TTL = 6 * 3600


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    suite: str  # Debian suite (codename) whose packages the series uses
    meta: str  # the metapackage that names the kernel today
    description: str
    host: bool = False  # the host's apt and tools (only the default series)
    scenarios: tuple[str, ...] = ("kdump-null", "qemu-sysrq", *TRIAGE_SCENARIOS)
    qemu_formats: tuple[str, ...] | None = ("elf",)  # QEMU dump formats of its qemu-* scenarios
    oracle: str = "newest"  # whose crash writes the references (CRASHLAB_ORACLE overrides): newest | host
    makedumpfile_suite: str = ""  # take the guest's makedumpfile from this suite instead of the kernel's own
    # (scenario, why): scenarios this series' kernel cannot make; a build records them in the manifest's
    # scenarios_skipped instead of running them (a scenario whose `requires` the config lacks must be listed)
    skips: tuple[tuple[str, str], ...] = ()

    def skip_reason(self, scenario: str) -> str | None:
        return dict(self.skips).get(scenario)


SERIES: dict[str, Series] = {
    s.name: s
    for s in [
        Series(
            "5.10",
            "bullseye",
            "linux-image-cloud-amd64",
            "Debian 11 bullseye (bullseye-security's LTS kernel)",
            skips=(("qemu-kfence", "Linux 5.10 has no KFENCE (merged in 5.12)"),),
        ),
        Series(
            "6.1",
            "bookworm",
            "linux-image-cloud-amd64",
            "Debian 12 bookworm, the host's own apt (the default lab)",
            host=True,
            scenarios=("kdump-null", "qemu-sysrq", "kgdb", *TRIAGE_SCENARIOS),
            qemu_formats=None,
            skips=(
                (
                    "qemu-kfence",
                    "Debian's 6.1 cloud kernel is built without KFENCE (# CONFIG_KFENCE is not set)",
                ),
            ),
        ),
        Series(
            "6.12",
            "bookworm",
            "linux-image-6.12-cloud-amd64",
            "Debian 12 bookworm's linux-6.12 (bookworm-security)",
            # bookworm's makedumpfile 1.7.2 reads 6.12's new page_type encoding of slab pages as free pages
            # and leaves slab pages in use out of -c/-l -d 31 dumps; unstable's 1.7.8 keeps them.
            makedumpfile_suite="sid",
        ),
        Series("newest", "sid", "linux-image-cloud-amd64", "Debian unstable (sid)"),
    ]
}
DEFAULT_SERIES = "6.1"


def get(name: str) -> Series:
    try:
        return SERIES[name]
    except KeyError:
        raise LabError(f"unknown kernel series {name!r} (known: {', '.join(SERIES)})") from None


def private_apt(cache_root: Path, s: Series) -> PrivateApt:
    return PrivateApt(cache_root, s.suite)


def _resolve_file(cache_root: Path, s: Series) -> Path:
    return cache_root / ("resolve.json" if s.host else f"resolve-{s.name}.json")


def _kernel_of(apt: PrivateApt, s: Series, meta_version: str) -> dict[str, Any] | None:
    """The kernel one version of the metapackage names (None if its image and -dbg versions differ)."""
    deps = [d for d in apt.depends(f"{s.meta}={meta_version}") if d.startswith("linux-image-")]
    if not deps:
        return None
    image = deps[0]
    release = image[len("linux-image-") :]
    version = apt.candidate(image)
    if not version or apt.candidate(image + "-dbg") != version:
        return None
    packages = {image: version}
    for dep in apt.depends(image):
        if release in dep and not dep.endswith("-dbg") and dep.startswith("linux-"):
            packages[dep] = apt.candidate(dep)
    headers = f"linux-headers-{release}"
    return {
        "series": s.name,
        "suite": s.suite,
        "meta": s.meta,
        "meta_version": meta_version,
        "release": release,
        "version": version,
        "packages": packages,
        "dbg": {image + "-dbg": version},
        "headers": {headers: apt.candidate(headers)},
        "headers_depends": apt.depends_field(headers),
    }


def settle(
    cache_root: Path, s: Series, resolved: dict[str, Any], skipped: list[dict[str, str]]
) -> dict[str, Any]:
    """Record that a build used ``resolved`` (an alternative when the newer kernels in ``skipped`` could not be
    fetched), so that cache look-ups find its entry."""
    if s.host:
        return resolved
    res = {**resolved, "skipped": skipped, "resolved_at": time.time()}
    res.setdefault("alternatives", [])
    write_json(_resolve_file(cache_root, s), res)
    return res


def load_resolved(cache_root: Path, s: Series) -> dict[str, Any] | None:
    p = _resolve_file(cache_root, s)
    if not p.exists():
        return None
    try:
        data = read_json(p)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "release" in data else None


def resolve(
    cache_root: Path, s: Series, allow_update: bool = True, max_age: float = RESOLVE_TTL
) -> dict[str, Any]:
    """The kernel ``s.meta`` points to today in ``s.suite``: {release, version, packages, dbg, suite, ...}.

    ``packages`` are the debs that hold the image's files (the image itself and, on newer kernels, the
    linux-binary-/linux-modules-/linux-base- packages it depends on); ``dbg`` the -dbg package. Cached in
    ``resolve[-SERIES].json`` for a few hours so that a warm build needs no apt at all.
    """
    if s.host:
        res: dict[str, Any] = dict(
            host.resolve_kernel(cache_root, allow_update=allow_update, max_age=max_age)
        )
        image = f"linux-image-{res['release']}"
        res.setdefault("packages", {image: res["version"]})
        res.setdefault("dbg", {image + "-dbg": res["version"]})
        res.update({"series": s.name, "suite": s.suite, "meta": s.meta})
        return res
    cached = load_resolved(cache_root, s)
    env_rel = os.environ.get(f"CRASHLAB_KERNEL_RELEASE_{s.name.replace('.', '_').upper()}")
    if cached and env_rel and cached.get("release") == env_rel:
        return cached
    if cached and time.time() - float(cached.get("resolved_at", 0)) < max_age:
        return cached
    apt = private_apt(cache_root, s)
    try:
        if not allow_update and not any((apt.dir / "state" / "lists").glob("*Packages*")):
            raise LabError(f"no package lists of {s.suite} yet")
        if allow_update:
            apt.update(max_age=3600)
        found = [_kernel_of(apt, s, v) for v in apt.versions(s.meta)]
        kernels = [k for k in found if k is not None]
        if not kernels:
            raise LabError(f"apt knows no {s.meta} with a matching -dbg package in {s.suite}")
        res = {**kernels[0], "alternatives": kernels[1:], "resolved_at": time.time()}
    except LabError as exc:
        if cached:
            log(
                f"warning: cannot resolve {s.meta} in {s.suite} ({exc}); using the last resolution {cached['release']}"
            )
            return cached
        raise
    write_json(_resolve_file(cache_root, s), res)
    return res
