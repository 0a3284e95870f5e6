"""pytest plugin: the crash lab (real kernel dumps built by ``contrib/lab/crashlab``) as fixtures.

The lab has one manifest per kernel *series* (``crashlab kernels``: 5.10, 6.1 — the default —, 6.12 and newest),
each built by ``crashlab build --kernel SERIES``.

Fixtures:
  ``lab_kernel`` (session): the kernel series of the test (parametrized along with ``lab_dump``, or alone for
      a test that takes ``lab_kernel`` itself; the default series, 6.1, for the other tests).
  ``lab_manifest`` (session): runs ``crashlab build --kernel <lab_kernel>`` once per series and yields the parsed
      manifest.json as a :class:`LabManifest` (a dict with helpers): a test that takes ``lab_dump`` gets the
      manifest of that dump's kernel. If the lab cannot be built the requesting tests are skipped with the
      one-line reason, or fail when ``CRASHCOMPAT_REQUIRE_LAB=1``.
  ``lab_dump``: each dump of each kernel of the lab as a :class:`LabDump`. Tests using it are parametrized by
      kernel x dump, with ids ``SERIES/DUMP`` (``6.12/kdump-null-zlib-d31``). Restrict with
      ``@pytest.mark.lab_dumps("kdump-null-zlib-d31", ...)``, by attributes,
      ``@pytest.mark.lab_dumps(capture="kdump")`` / ``(format="elf")``, by kernel series
      ``@pytest.mark.lab_dumps(kernels=("6.1",))``, or by a predicate on the manifest entry,
      ``@pytest.mark.lab_dumps(where=lambda d: d.reference("sys") is not None)``: a test is generated only for
      the dumps where it applies (a not-applicable combination is no skip in the report). A dump that lacks
      pages in use (``LabDump.fact_pages_missing``) is left out unless ``lab_dumps(lossy=True)``. The lab is
      looked up (``crashlab build``, a cache hit once built) when such a test is collected.
Marker: ``lab`` (tests that need the lab).

Environment:
  CRASHCOMPAT_LAB            path of the crashlab script (default: <repo>/contrib/lab/crashlab)
  CRASHCOMPAT_LAB_CACHE      cache root handed to crashlab (default /var/cache/crashcompat-lab)
  CRASHCOMPAT_LAB_KERNELS    comma-separated kernel series the lab tests run on (default: all of KERNELS)
  CRASHCOMPAT_LAB_SCENARIOS  comma-separated scenarios to build (default: crashlab's defaults of each series)
  CRASHCOMPAT_LAB_DUMPS      comma-separated dump names ``lab_dump`` iterates (default: each series' dumps)
  CRASHCOMPAT_LAB_TIMEOUT    seconds allowed for ``crashlab build`` of one series (default 5400)
  CRASHCOMPAT_REQUIRE_LAB=1  every skip is a failure (a lab that cannot be built, a missing GDB or oracle, a
                             live guest that did not start), and an empty parametrization fails at collection;
                             tests of extra scenarios that were not built (``scale``) are deselected, not skipped

Only the standard library and pytest are used here.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The dumps of crashlab's default scenarios: (name, capture, format). Without a lab at collection time tests
# are parametrized over these names (and then skip, or fail under CRASHCOMPAT_REQUIRE_LAB=1); with one, a
# default dump missing from its manifest is still generated and skipped, so a broken lab shows.
DEFAULT_DUMPS: list[tuple[str, str, str]] = [
    ("kdump-null-zlib-d31", "kdump", "kdump-compressed"),
    ("kdump-null-lzo-d31", "kdump", "kdump-compressed"),
    ("kdump-null-elf-d31", "kdump", "elf"),
    ("qemu-sysrq-elf", "qemu", "elf"),
    ("qemu-sysrq-elf-paging", "qemu", "elf"),
    ("qemu-sysrq-kdump-zlib", "qemu", "flattened"),
    ("qemu-sysrq-kdump-zlib-reassembled", "qemu", "kdump-compressed"),
]
# crashlab's kernel series (``crashlab kernels``) and the dumps of their default scenarios; the other series
# build a small set: the real kdump (three makedumpfile formats) and QEMU's plain ELF dump.
DEFAULT_KERNEL = "6.1"
MATRIX_DUMPS: list[tuple[str, str, str]] = [
    ("kdump-null-zlib-d31", "kdump", "kdump-compressed"),
    ("kdump-null-lzo-d31", "kdump", "kdump-compressed"),
    ("kdump-null-elf-d31", "kdump", "elf"),
    ("qemu-sysrq-elf", "qemu", "elf"),
]
KERNELS: dict[str, list[tuple[str, str, str]]] = {
    "5.10": MATRIX_DUMPS,
    "6.1": DEFAULT_DUMPS,
    "6.12": MATRIX_DUMPS,
    "newest": MATRIX_DUMPS,
}


class LabDump(dict[str, Any]):
    """One entry of ``manifest["dumps"]`` with helpers."""

    @property
    def name(self) -> str:
        return str(self["name"])

    @property
    def path(self) -> str:
        return str(self["path"])

    @property
    def format(self) -> str:
        return str(self["format"])

    @property
    def capture(self) -> str:
        return str(self["capture"])

    @property
    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = self["facts"]
        return facts

    @property
    def kernel(self) -> str:
        """The kernel series of the dump's lab (``6.1``, ``newest``, ...)."""
        return str(self.get("series") or DEFAULT_KERNEL)

    @property
    def vmlinux(self) -> str:
        """The debug vmlinux of the dump's kernel."""
        return str(self["vmlinux"])

    @property
    def reference_error(self) -> str | None:
        """crash's message when the oracle crash cannot open this dump at all (it then has no references)."""
        err = self.get("reference_error")
        return str(err) if err else None

    @property
    def fact_pages_missing(self) -> list[dict[str, str]]:
        """The facts' objects whose pages the dump file lacks: the capture tool dropped pages in use (makedumpfile
        1.7.8's kdump-compressed dumps of Linux 7.2). Such a dump is left out of the ``lab_dump``
        parametrization unless the test asks for it with ``@pytest.mark.lab_dumps(lossy=True)``."""
        return list(self.get("fact_pages_missing") or [])

    @property
    def needs_host_platform(self) -> bool:
        """QEMU-written kdump files open in drgn only with an explicit platform (drgn.host_platform)."""
        return self.capture == "qemu" and self.format in ("flattened", "kdump-compressed")

    def reference(self, command: str) -> str | None:
        """The oracle crash's output for ``command`` on this dump (None if not recorded); the manifest's
        ``oracle`` says which crash (crash's newest release, or the host's with CRASHLAB_ORACLE=host)."""
        path = self.get("reference", {}).get(command)
        return Path(path).read_text(errors="replace") if path else None

    def known_wrong(self, command: str) -> str | None:
        """Why the oracle's output for ``command`` is known to be wrong on this dump (None if it is not)."""
        for entry in self.get("reference_known_wrong", []):
            if entry["command"] == command:
                return str(entry["why"])
        return None


class LabManifest(dict[str, Any]):
    """The parsed manifest.json of the crash lab (see contrib/lab/README.md) with helpers."""

    def __init__(self, data: dict[str, Any], path: Path) -> None:
        super().__init__(data)
        self.path = path

    def _dump(self, d: dict[str, Any]) -> LabDump:
        return LabDump({"series": self.kernel_series, "vmlinux": self.vmlinux, **d})

    @property
    def dumps(self) -> list[LabDump]:
        return [self._dump(d) for d in self["dumps"]]

    def dump(self, name: str) -> LabDump:
        for d in self["dumps"]:
            if d["name"] == name:
                return self._dump(d)
        raise KeyError(
            f"the {self.kernel_series} lab has no dump {name!r} (has: {', '.join(d['name'] for d in self['dumps'])})"
        )

    @property
    def kernel_series(self) -> str:
        """The kernel series of this lab (``crashlab kernels``)."""
        return str(self.get("series") or self["kernel"].get("series") or DEFAULT_KERNEL)

    @property
    def oracle(self) -> dict[str, Any]:
        """Which crash wrote the references: {name, version, package_version, suite, argv}."""
        oracle: dict[str, Any] = self.get("oracle") or {
            "name": "crash",
            "version": "8.0.2",
            "argv": ["crash"],
        }
        return oracle

    @property
    def default_dump(self) -> LabDump:
        return self.dump(str(self["default_dump"]))

    @property
    def vmlinux(self) -> str:
        return str(self["kernel"]["vmlinux"])

    @property
    def release(self) -> str:
        return str(self["kernel"]["release"])

    @property
    def crashme_ko(self) -> str:
        return str(self["test_module"]["ko"])

    @property
    def module_debug_files(self) -> list[str]:
        return [str(p) for p in self["kernel"].get("module_debug_files", [])]

    @property
    def kgdb(self) -> dict[str, Any] | None:
        kg: dict[str, Any] | None = self.get("kgdb")
        return kg


def crashlab_script() -> Path:
    env = os.environ.get("CRASHCOMPAT_LAB")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "contrib" / "lab" / "crashlab"


def _unavailable(reason: str) -> None:
    if require_lab():
        pytest.fail(
            f"crash lab required (CRASHCOMPAT_REQUIRE_LAB=1) but unavailable: {reason}", pytrace=False
        )
    pytest.skip(f"crash lab unavailable: {reason}")


_ORACLES: dict[str, list[str]] = {}


def oracle_argv(vmlinux: str) -> list[str] | None:
    """The command line of the crash that wrote the references of the lab whose kernel is ``vmlinux`` (the
    manifest's ``oracle``), else the ``crash`` on PATH; None when there is neither."""
    argv = _ORACLES.get(vmlinux)
    if argv:
        return list(argv)
    found = shutil.which("crash")
    return [found] if found else None


def lab_kernels() -> list[str]:
    """The kernel series the lab tests run on: CRASHCOMPAT_LAB_KERNELS, else every series of KERNELS."""
    env = os.environ.get("CRASHCOMPAT_LAB_KERNELS", "").strip()
    if not env:
        return list(KERNELS)
    return list(dict.fromkeys(k.strip() for k in env.split(",") if k.strip()))


def build_lab(kernel: str = DEFAULT_KERNEL) -> LabManifest | str:
    """Run ``crashlab build --kernel KERNEL`` and load its manifest; the one-line reason when impossible."""
    script = crashlab_script()
    if not script.exists():
        return f"no crashlab script at {script}"
    if not sys.platform.startswith("linux"):
        return "the crash lab needs Linux"
    cmd = [sys.executable, str(script), "build"]
    if kernel != DEFAULT_KERNEL:
        cmd += ["--kernel", kernel]
    scen = os.environ.get("CRASHCOMPAT_LAB_SCENARIOS", "").strip()
    for s in filter(None, (x.strip() for x in scen.split(","))):
        cmd += ["--scenario", s]
    timeout = float(os.environ.get("CRASHCOMPAT_LAB_TIMEOUT", "5400"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"crashlab build --kernel {kernel} did not finish within {timeout:.0f}s"
    # Progress went to stderr: show it in the test report (pytest captures it).
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("crashlab: error:")]
        tail = errs or proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        return tail[-1]
    out = proc.stdout.strip().splitlines()
    path = Path(out[-1]) if out else Path()
    if not out or not path.is_file():
        return f"crashlab build printed no manifest path (stdout: {proc.stdout.strip()[:200]!r})"
    with open(path, encoding="utf-8") as f:
        lab = LabManifest(json.load(f), path)
    if lab.get("oracle", {}).get("argv"):
        _ORACLES[lab.vmlinux] = [str(a) for a in lab["oracle"]["argv"]]
    return lab


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs the crash lab (real kernel dumps built by contrib/lab/crashlab)"
    )
    config.addinivalue_line(
        "markers", f"{_NOT_BUILT}: placeholder of a test whose extra dumps were not built"
    )
    config.addinivalue_line(
        "markers",
        "lab_dumps(*names, where=None, kernels=None, lossy=False, **attrs): restrict the lab_dump "
        "parametrization to these dump names, to these kernel series, to dumps whose capture/format match, and "
        "to dumps (manifest entries) for which where(dump) is true; lossy=True keeps dumps that lack pages in use",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the placeholders of tests whose extra scenarios were not built (see pytest_generate_tests)."""
    keep = [item for item in items if item.get_closest_marker(_NOT_BUILT) is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


#: The start of a skip reason that says the test does not apply here (one live stub's test run on the other):
#: the only skip CRASHCOMPAT_REQUIRE_LAB=1 leaves a skip.
NOT_APPLICABLE = "not applicable: "


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CRASHCOMPAT_REQUIRE_LAB=1 a skipped test is a failed one (an expected failure stays one, and so
    does a skip that says the test does not apply, see :data:`NOT_APPLICABLE`)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and require_lab() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if NOT_APPLICABLE in reason:
            return
        report.outcome = "failed"
        report.longrepr = f"skipped under CRASHCOMPAT_REQUIRE_LAB=1: {reason}"


_LAB_KEY = pytest.StashKey[dict[str, "LabManifest | str"]]()


def _session_lab(config: pytest.Config, kernel: str = DEFAULT_KERNEL) -> LabManifest | str:
    """The lab of one kernel series in this test session, looked up once: by the first test collected that
    needs it, or by ``lab_manifest``. A lab missing at collection stays missing for the session (its tests
    skip)."""
    labs = config.stash.setdefault(_LAB_KEY, {})
    if kernel not in labs:
        labs[kernel] = build_lab(kernel) if kernel in KERNELS else f"unknown kernel series {kernel!r}"
    return labs[kernel]


def _dump_names(metafunc: pytest.Metafunc, kernel: str) -> list[str]:
    default_table = KERNELS.get(kernel, MATRIX_DUMPS)
    env = os.environ.get("CRASHCOMPAT_LAB_DUMPS", "").strip()
    table = default_table
    if env:
        known = {n: (n, c, f) for n, c, f in default_table}
        table = [known.get(n, (n, "", "")) for n in (x.strip() for x in env.split(",")) if n]
    names = [n for n, _, _ in table]
    marker = metafunc.definition.get_closest_marker("lab_dumps")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    where: Callable[[LabDump], bool] | None = kwargs.pop("where", None)
    kwargs.pop("kernels", None)
    lossy = bool(kwargs.pop("lossy", False))
    if marker is not None and marker.args:
        names = [n for n in names if n in marker.args] + [n for n in marker.args if n not in names]
    lab = _session_lab(metafunc.config, kernel)
    if isinstance(lab, str):  # no lab: the tests skip (or fail) with its reason
        entries = {n: {"name": n, "capture": c, "format": f} for n, c, f in table}
        where = None
    else:
        entries = {d.name: d for d in lab.dumps}
        default = {n for n, _, _ in default_table}
        names = [n for n in names if n in entries or n in default]
    for attr, want in kwargs.items():
        if attr not in ("capture", "format"):
            raise pytest.UsageError(
                f"lab_dumps: unknown attribute {attr!r} (use capture=, format=, kernels= or where=)"
            )
        wanted = {want} if isinstance(want, str) else set(want)
        names = [n for n in names if entries.get(n, {}).get(attr) in wanted]
    if where is not None:
        names = [n for n in names if n not in entries or where(LabDump(entries[n]))]
    if not lossy:  # a dump that lacks pages in use tests the capture tool, not a command
        names = [n for n in names if not LabDump(entries.get(n, {})).fact_pages_missing]
    return names


def _kernels_of(metafunc: pytest.Metafunc) -> list[str]:
    kernels = lab_kernels()
    marker = metafunc.definition.get_closest_marker("lab_dumps")
    wanted = marker.kwargs.get("kernels") if marker is not None else None
    if wanted is not None:
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        kernels = [k for k in kernels if k in wanted]
    return kernels


def expect_failure(request: pytest.FixtureRequest, reason: str | None) -> None:
    """Mark the running test a strict expected failure for *reason* (a known bug, kept visible: the test
    must keep failing until the bug is fixed, and then the entry must go); nothing without a reason."""
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def require_lab() -> bool:
    """True under ``CRASHCOMPAT_REQUIRE_LAB=1`` (CI): nothing a test needs may be missing."""
    return os.environ.get("CRASHCOMPAT_REQUIRE_LAB") == "1"


#: Marks the one placeholder item of a test that applies only to extra scenarios none of whose dumps was built.
_NOT_BUILT = "lab_extra_not_built"


def _extras_only(metafunc: pytest.Metafunc) -> bool:
    """True when the test names only dumps of extra scenarios (none of any series' default dumps)."""
    marker = metafunc.definition.get_closest_marker("lab_dumps")
    defaults = {n for table in (*KERNELS.values(), MATRIX_DUMPS) for n, _, _ in table}
    return marker is not None and bool(marker.args) and not defaults.intersection(marker.args)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lab_dump" in metafunc.fixturenames:
        combos = [(k, n) for k in _kernels_of(metafunc) for n in _dump_names(metafunc, k)]
        if not combos and (_extras_only(metafunc) or set(lab_kernels()) != set(KERNELS)):
            # Extra scenarios (crashlab build --scenario scale) are built on request only, and a developer may
            # pick kernel series (CRASHCOMPAT_LAB_KERNELS): a test with no dump there is deselected, neither
            # skipped nor an empty parameter set. With every series, a test that finds no dump fails.
            metafunc.parametrize(
                ["lab_kernel", "lab_dump"],
                [pytest.param(None, None, marks=pytest.mark.lab_extra_not_built)],
                ids=["not-built"],
                indirect=True,
            )
            return
        # Session scope groups the tests by kernel and dump across modules, so that the per-kernel session
        # fixtures (the manifest, crash_session's open programs) are made once per kernel.
        metafunc.parametrize(
            ["lab_kernel", "lab_dump"],
            combos,
            ids=[f"{k}/{n}" for k, n in combos],
            indirect=True,
            scope="session",
        )
    elif "lab_kernel" in inspect.signature(metafunc.function).parameters:
        # A test that names lab_kernel itself (not only through lab_manifest) runs once per kernel series.
        kernels = _kernels_of(metafunc)
        metafunc.parametrize("lab_kernel", kernels, ids=kernels, indirect=True, scope="session")


@pytest.fixture(scope="session")
def lab_kernel(request: pytest.FixtureRequest) -> str:
    """The kernel series of the test (see the module docstring)."""
    return str(getattr(request, "param", DEFAULT_KERNEL))


@pytest.fixture(scope="session")
def lab_manifest(request: pytest.FixtureRequest, lab_kernel: str) -> LabManifest:
    """The crash lab's manifest of the test's kernel series (built or reused once per session)."""
    lab = _session_lab(request.config, lab_kernel)
    if isinstance(lab, str):
        _unavailable(lab)
        raise AssertionError("unreachable")
    return lab


@pytest.fixture
def lab_dump(request: pytest.FixtureRequest, lab_manifest: LabManifest) -> LabDump:
    """One dump of the lab (parametrized by kernel and name; see KERNELS and the lab_dumps marker)."""
    name = str(getattr(request, "param", lab_manifest["default_dump"]))
    try:
        return lab_manifest.dump(name)
    except KeyError as exc:
        pytest.skip(str(exc))
        raise AssertionError("unreachable") from None
