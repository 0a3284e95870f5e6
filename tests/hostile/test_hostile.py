"""A bad-input corpus on both backends: damaged copies of the lab's dumps, foreign files and generated
command lines (hypothesis), each run as crash would be, through the ``crashcompat`` program.

Each case asserts: no Python traceback and no "internal error"; a dump that cannot be opened is refused with
one ``crashcompat: ...`` line naming the real cause; a dump that opens warns once when it is truncated, and
the session goes on (``sys`` and ``help`` still answer after every other command); the files are unchanged.
One session per dump runs many commands, and sessions run a few at a time, to keep the corpus short.

The corpus runs on every kernel series of the lab (``CRASHCOMPAT_LAB_KERNELS``): the whole of it on the default
series (6.1), and on each other series a sample (:data:`SAMPLE`: one case of each kind of damage, and fewer
generated lines), which keeps ``make test`` about a minute longer per series.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import damage
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crashcompat.testing.lab import DEFAULT_KERNEL, KERNELS, build_lab, expect_failure, lab_kernels

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

CRASHCOMPAT = [sys.executable, "-m", "crashcompat"]
#: What every session on a dump that opens runs (then ``sys`` and ``help`` as the liveness check).
COMMANDS = ["sys", "mod", "ps | tail -3", "bt -a | tail -3", "bt", "kmem -i", "sym schedule", "vtop 0"]
#: Proof that the session still answers: a line of ``help``'s command list.
HELP_MARK = re.compile(r"^bt\s+.*\bkmem\b", re.M)
SESSION_TIMEOUT = 240


@dataclass(frozen=True)
class Case:
    """One bad input.

    :param make: builds the damaged file in a directory, from the lab's dumps by kind.
    :param cause: what the one-line refusal must say, when the dump cannot be opened.
    :param opens: ``True``: must open; ``False``: must be refused; ``None``: either, with the rules.
    :param warns: a pattern the start-up warning must match when it opens.
    :param gdb: also run on the GDB backend.
    """

    name: str
    make: Callable[[Path, dict[str, str]], tuple[str, str]]
    cause: str = r"."
    opens: bool | None = None
    warns: str | None = None
    gdb: bool = False


TRUNCATED = r"truncated|incomplete|read error|not a supported file format"


def _dump(kind: str, build: Callable[[str, Path], Path]) -> Callable[[Path, dict[str, str]], tuple[str, str]]:
    def make(tmp: Path, lab: dict[str, str]) -> tuple[str, str]:
        return lab["vmlinux"], str(build(lab[kind], tmp / "vmcore"))

    return make


def _files(
    vmlinux: Callable[[Path, dict[str, str]], str], vmcore: Callable[[Path, dict[str, str]], str]
) -> Any:
    def make(tmp: Path, lab: dict[str, str]) -> tuple[str, str]:
        return vmlinux(tmp, lab), vmcore(tmp, lab)

    return make


def _kd(offset: int, fmt: str, value: int, sub: bool = False) -> Callable[[str, Path], Path]:
    return lambda src, dest: damage.kdump_field(src, dest, offset, fmt, value, sub=sub)


def _elf(p_type: int, field: int, value: int) -> Callable[[str, Path], Path]:
    return lambda src, dest: damage.elf_phdr_field(src, dest, p_type, field, value)


def _elf_header(offset: int, fmt: str, value: int) -> Callable[[str, Path], Path]:
    return lambda src, dest: damage.patch(damage.copy(src, dest), offset, struct.pack(fmt, value))


def _flat_bad_record(src: str, dest: Path) -> Path:
    damage.copy(src, dest)
    return damage.patch(dest, damage.flat_record(src, 40), struct.pack(">qq", 7, -5))


def _physical(kind: str, where: str) -> Callable[[str, Path], Path]:
    """Damage a page of the ELF dump found through the lab facts computed once (see ``lab_files``)."""

    def build(src: str, dest: Path) -> Path:
        facts = _PAGE_FACTS[kind]
        if where == "task":
            return damage.elf_physical_patch(src, dest, facts["task_page"], b"\xaa" * 4096)
        if where == "cycle":  # pid 1's tasks.next points at its own tasks node
            return damage.elf_physical_patch(
                src, dest, facts["tasks_phys"], struct.pack("<Q", facts["tasks"])
            )
        return damage.elf_physical_patch(src, dest, facts["pmd_page"], b"\xff" * 4096)

    return build


_PAGE_FACTS: dict[str, dict[str, int]] = {}


def _text(tmp: Path, name: str, data: bytes, mode: int = 0o644) -> str:
    path = tmp / name
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def _vmlinux(tmp: Path, lab: dict[str, str]) -> str:
    return lab["vmlinux"]


def _random_bytes(tmp: Path, lab: dict[str, str]) -> str:
    return _text(tmp, "random", hashlib.sha512(b"crashcompat").digest() * 64)


def _directory(tmp: Path, lab: dict[str, str]) -> str:
    (tmp / "dir").mkdir()
    return str(tmp / "dir")


CASES = [
    # truncations
    *(
        Case(
            f"zlib-cut-{p}",
            _dump("zlib", lambda s, d, p=p: damage.truncated(s, d, p)),
            TRUNCATED,
            warns=r"may be truncated or incomplete",
            gdb=p == 50,
        )
        for p in (10, 50, 99)
    ),
    *(
        Case(
            f"elf-cut-{p}",
            _dump("elf", lambda s, d, p=p: damage.truncated(s, d, p)),
            TRUNCATED,
            warns=r"may be truncated or incomplete",
            gdb=p == 50,
        )
        for p in (10, 50, 99)
    ),
    *(
        Case(
            f"flat-cut-{p}",
            _dump("flat", lambda s, d, p=p: damage.truncated(s, d, p)),
            TRUNCATED,
            warns=r"truncated|incomplete",
            gdb=p == 50,
        )
        for p in (10, 50, 99)
    ),
    Case(
        "flat-bad-record", _dump("flat", _flat_bad_record), r"flattened|truncated|not a supported", gdb=True
    ),
    # kdump-compressed header and sub-header fields
    Case(
        "kdump-header-version", _dump("zlib", _kd(damage.HEADER_VERSION, "<i", 0)), r"header_version", False
    ),
    *(
        Case(
            f"kdump-block-size-{v}",
            _dump("zlib", _kd(damage.BLOCK_SIZE, "<i", v)),
            r"block_size",
            False,
            gdb=v == 0,
        )
        for v in (0, 3000, 1 << 30, -4096)
    ),
    Case("kdump-sub-hdr-size", _dump("zlib", _kd(damage.SUB_HDR_SIZE, "<i", -1)), r"sub_hdr_size", False),
    Case("kdump-bitmap-blocks-0", _dump("zlib", _kd(damage.BITMAP_BLOCKS, "<I", 0)), r"bitmap_blocks", False),
    Case(
        "kdump-bitmap-blocks-huge",
        _dump("zlib", _kd(damage.BITMAP_BLOCKS, "<I", 0xFFFFFF)),
        r"bitmap_blocks",
        False,
    ),
    Case(
        "kdump-max-mapnr",
        _dump("zlib", _kd(damage.SUB_MAX_MAPNR_64, "<Q", 1 << 40, True)),
        r"max_mapnr",
        False,
    ),
    Case(
        "kdump-note-offset",
        _dump("zlib", _kd(damage.SUB_OFFSET_NOTE, "<q", 1 << 40, True)),
        r"note offset",
        False,
    ),
    Case(
        "kdump-note-size",
        _dump("zlib", _kd(damage.SUB_SIZE_NOTE, "<Q", 1 << 40, True)),
        r"note offset",
        False,
    ),
    Case(
        "kdump-vmcoreinfo-offset",
        _dump("zlib", _kd(damage.SUB_OFFSET_VMCOREINFO, "<q", -8, True)),
        r"vmcoreinfo offset",
        False,
    ),
    Case("kdump-signature", _dump("zlib", _kd(0, "<Q", 0x4B44554D)), r"not a supported file format", False),
    # notes and bitmaps
    Case(
        "kdump-vmcoreinfo-garbled",
        _dump("zlib", lambda s, d: damage.kdump_notes(s, d, "vmcoreinfo")),
        gdb=True,
    ),
    Case("kdump-prstatus-cut", _dump("zlib", lambda s, d: damage.kdump_notes(s, d, "prstatus"))),
    Case("kdump-bitmap-ones", _dump("zlib", lambda s, d: damage.kdump_bitmaps(s, d, b"\xff")), TRUNCATED),
    Case("kdump-bitmap-zeros", _dump("zlib", lambda s, d: damage.kdump_bitmaps(s, d, b"\0"))),
    # ELF header and program headers
    Case(
        "elf-phnum-huge", _dump("elf", _elf_header(damage.E_PHNUM, "<H", 0xFFFF)), r"e_phnum", False, gdb=True
    ),
    Case("elf-phnum-0", _dump("elf", _elf_header(damage.E_PHNUM, "<H", 0)), r"e_phnum", False),
    Case("elf-phoff", _dump("elf", _elf_header(damage.E_PHOFF, "<Q", 1 << 60)), r"e_phoff", False),
    Case(
        "elf-load-offset-huge",
        _dump("elf", _elf(damage.PT_LOAD, damage.P_OFFSET, 1 << 63)),
        r"PT_LOAD",
        False,
    ),
    Case(
        "elf-load-offset-past-end",
        _dump("elf", _elf(damage.PT_LOAD, damage.P_OFFSET, 1 << 32)),
        TRUNCATED,
        warns=r"may be truncated or incomplete",
        gdb=True,
    ),
    Case("elf-load-filesz", _dump("elf", _elf(damage.PT_LOAD, damage.P_FILESZ, 1 << 40)), r"PT_LOAD", False),
    Case("elf-note-offset", _dump("elf", _elf(damage.PT_NOTE, damage.P_OFFSET, 1 << 40)), r"PT_NOTE", False),
    Case("elf-note-filesz", _dump("elf", _elf(damage.PT_NOTE, damage.P_FILESZ, 1 << 40)), r"PT_NOTE", False),
    # pages of kernel memory
    Case("elf-task-page", _dump("elf", _physical("elf", "task")), opens=True),
    Case("elf-cyclic-task-list", _dump("elf", _physical("elf", "cycle")), opens=True, gdb=True),
    Case("elf-page-table-page", _dump("elf", _physical("elf", "pmd")), opens=True, gdb=True),
    # foreign files
    Case("vmcore-is-ls", _files(_vmlinux, lambda t, lab: "/bin/ls"), r"/bin/ls|namelist", False),
    Case(
        "vmcore-empty",
        _files(_vmlinux, lambda t, lab: _text(t, "empty", b"")),
        r"not a supported",
        False,
        gdb=True,
    ),
    Case("vmcore-random", _files(_vmlinux, _random_bytes), r"not a supported file format", False),
    Case("vmcore-directory", _files(_vmlinux, _directory), r"not a supported file format", False),
    Case("vmcore-missing", _files(_vmlinux, lambda t, lab: str(t / "nothing")), r"No such file", False),
    Case(
        "vmcore-unreadable",
        _files(_vmlinux, lambda t, lab: _text(t, "secret", b"\0" * 4096, 0)),
        r"Permission denied|not a supported",
        False,
    ),
    Case(
        "vmlinux-is-module",
        _files(lambda t, lab: lab["module"], lambda t, lab: lab["zlib"]),
        r"do not match",
        False,
    ),
    Case(
        "vmlinux-is-random",
        _files(lambda t, lab: _random_bytes(t, lab), lambda t, lab: lab["zlib"]),
        opens=None,
    ),
    Case(
        "swapped-files",
        _files(lambda t, lab: lab["zlib"], lambda t, lab: lab["vmlinux"]),
        opens=True,
    ),
]


#: The cases also run on the kernel series other than the default one: one of each kind of damage (a cut, a
#: header field, a note, a bitmap, an ELF header, a program header, each kind of damaged page, foreign files).
SAMPLE = {
    "zlib-cut-50",
    "elf-cut-50",
    "kdump-block-size-0",
    "kdump-note-offset",
    "kdump-vmcoreinfo-garbled",
    "kdump-bitmap-ones",
    "elf-phnum-huge",
    "elf-load-offset-past-end",
    "elf-task-page",
    "elf-cyclic-task-list",
    "elf-page-table-page",
    "vmcore-empty",
    "vmlinux-is-module",
    "swapped-files",
}
#: Generated command lines per backend: on the default series, and on each other one.
GENERATED = {"drgn": 200, "gdb": 80}
GENERATED_SAMPLE = {"drgn": 40, "gdb": 16}


def _cases(series: str) -> list[Case]:
    """The cases of the corpus on kernel *series*: all of them on the default series, else the sample (and
    none that needs a dump the series' lab does not build: only the default series has QEMU's flattened dump)."""
    if series == DEFAULT_KERNEL:
        return CASES
    return [case for case in CASES if case.name in SAMPLE]


def _generated(series: str) -> dict[str, int]:
    return GENERATED if series == DEFAULT_KERNEL else GENERATED_SAMPLE


def _sha256(path: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Run:
    files: tuple[str, str]
    stdout: str
    stderr: str
    status: int
    hashes: tuple[str, str]
    hashes_after: tuple[str, str]
    seconds: float = 0.0
    #: The generated lines the session ran (each followed by ``help``).
    generated: int = 0


def _session(files: tuple[str, str], lines: list[str], backend: str, cwd: Path) -> Run:
    hashes = (_sha256(files[0]), _sha256(files[1]))
    argv = [*CRASHCOMPAT, *(["--backend", "gdb"] if backend == "gdb" else []), "-s", *files]
    script = "".join(f"{line}\n" for line in lines) + "q\n"
    start = time.monotonic()
    done = subprocess.run(
        argv, input=script.encode(), capture_output=True, timeout=SESSION_TIMEOUT, cwd=cwd, check=False
    )
    return Run(
        files,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        done.returncode,
        hashes,
        (_sha256(files[0]), _sha256(files[1])),
        time.monotonic() - start,
    )


def _page_facts(elf: str, vmlinux: str) -> dict[str, int]:
    """Physical addresses in the ELF dump: pid 1's task_struct page and ``tasks`` node, and the page
    table page (PMD) that maps the modules area."""
    from drgn.helpers.linux.mm import follow_phys
    from drgn.helpers.linux.pid import find_task

    from crashcompat.drgn import open_dump_target

    prog = open_dump_target(elf, vmlinux).prog
    init_mm = prog["init_mm"].address_of_()
    task = find_task(prog, 1)
    tasks = task.tasks.address_of_().value_()
    pgd = prog["init_mm"].pgd.value_()
    pud = prog.read_u64(pgd + 511 * 8) & 0x000FFFFFFFFFF000
    pmd = prog.read_u64(pud + 511 * 8, True) & 0x000FFFFFFFFFF000
    return {
        "task_page": follow_phys(init_mm, task.value_()) & ~0xFFF,
        "tasks": tasks,
        "tasks_phys": follow_phys(init_mm, tasks),
        "pmd_page": pmd,
    }


def _generated_lines(commands: list[str], count: int, seed: int) -> list[str]:
    """*count* command lines from hypothesis: each registered command with random options, numbers,
    addresses, symbols, file names and text (no pipes, redirections or shell escapes: those would run
    the generated text as a shell command)."""
    unsafe = set("|>!\n\r`$")
    word = st.text(
        st.characters(blacklist_categories=("Cc", "Cs", "Zs"), blacklist_characters="".join(unsafe)),
        min_size=1,
        max_size=12,
    )
    argument = st.one_of(
        st.sampled_from(
            ["-a", "-s", "-t", "-l", "-m", "-p", "-u", "-k", "-c", "-x", "-d", "-r", "-i", "--", "-"]
        ),
        st.builds(
            lambda c: "-" + c,
            st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c not in unsafe),
        ),
        st.integers(min_value=-(1 << 70), max_value=1 << 70).map(str),
        st.integers(min_value=0, max_value=(1 << 64) - 1).map(hex),
        st.sampled_from(["schedule", "init_task", "jiffies", "crashme", "modules", "0", "ffffffffc0000000"]),
        st.builds(lambda p: "/tmp/" + p, word),
        word,
    )
    line = st.tuples(st.sampled_from(commands), st.lists(argument, max_size=4)).map(
        lambda t: " ".join([t[0], *t[1]])
    )
    lines: list[str] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None)
    @given(line)
    def collect(text: str) -> None:
        lines.append(text)

    collect()
    return lines[:count]


#: Commands the generated lines use: every registered command but ``q`` (which ends the session).
def _commands() -> list[str]:
    from crashcompat.core.plugins import PluginHost

    host = PluginHost()
    host.load()
    return sorted(cmd.name for _, cmd in host.hooks.commands() if cmd.name != "q")


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[Any, Run]]:
    """``corpora(series)``: every session of the corpus on one kernel series (run once per series, a few at a
    time, whatever order the tests come in): ``{(case, backend): Run}`` and the generated lines' sessions
    under ``("generated", backend)``."""
    done: dict[str, dict[Any, Run]] = {}

    def get(series: str) -> dict[Any, Run]:
        if series not in done:
            lab_manifest = build_lab(series)
            if isinstance(lab_manifest, str):
                if os.environ.get("CRASHCOMPAT_REQUIRE_LAB") == "1":
                    pytest.fail(f"crash lab required but unavailable: {lab_manifest}", pytrace=False)
                pytest.skip(f"crash lab unavailable: {lab_manifest}")
            done[series] = _run_corpus(series, lab_manifest, tmp_path_factory)
        return done[series]

    return get


def _run_corpus(
    lab_kernel: str, lab_manifest: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[Any, Run]:
    lab = {
        "vmlinux": lab_manifest.vmlinux,
        "module": lab_manifest.crashme_ko,
        "zlib": lab_manifest.dump("kdump-null-zlib-d31").path,
        "elf": lab_manifest.dump("kdump-null-elf-d31").path,
    }
    if lab_kernel == DEFAULT_KERNEL:
        lab["flat"] = lab_manifest.dump("qemu-sysrq-kdump-zlib").path
    _PAGE_FACTS["elf"] = _page_facts(lab["elf"], lab["vmlinux"])
    jobs: dict[tuple[str, str], tuple[tuple[str, str], list[str], Path]] = {}
    for case in _cases(lab_kernel):
        tmp = tmp_path_factory.mktemp(f"{lab_kernel}-{case.name}")
        files = case.make(tmp, lab)
        for backend in ("drgn", "gdb") if case.gdb else ("drgn",):
            jobs[(case.name, backend)] = (files, [*COMMANDS, "sys", "help"], tmp)
    commands = _commands()
    for backend, count in _generated(lab_kernel).items():
        lines = _generated_lines(commands, count, 0)
        script = [x for line in lines for x in (line, "help")]  # the liveness check after each line
        jobs[("generated", backend)] = ((lab["vmlinux"], lab["zlib"]), script, tmp_path_factory.mktemp("gen"))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            key: pool.submit(_session, files, lines, key[1], cwd) for key, (files, lines, cwd) in jobs.items()
        }
        runs = {key: future.result() for key, future in futures.items()}
    for backend, count in _generated(lab_kernel).items():
        runs[("generated", backend)].generated = count
    timings = sorted(((run.seconds, key) for key, run in runs.items()), reverse=True)
    sys.stderr.write(f"\n{lab_kernel}:" + "".join(f"\n{s:6.1f}s {k}" for s, k in timings[:12]) + "\n")
    return runs


def _no_traceback(run: Run) -> None:
    for text in (run.stdout, run.stderr):
        assert "Traceback" not in text, text[-3000:]
        assert "internal error" not in text, text[-3000:]


def _unchanged(run: Run) -> None:
    assert run.hashes == run.hashes_after


def _opened(run: Run) -> bool:
    return "crash> " in run.stdout or HELP_MARK.search(run.stdout) is not None or "KERNEL:" in run.stdout


CASE_KEYS = [(case, backend) for case in CASES for backend in (("drgn", "gdb") if case.gdb else ("drgn",))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The corpus' tests by kernel series and case: each series gets its own cases (:func:`_cases`), so a
    sampled-out case is no skip in the report; each series' sessions run once (:func:`corpora`)."""
    if "corpora" not in metafunc.fixturenames:
        return
    kernels = lab_kernels()
    if "case" in metafunc.fixturenames:
        combos = [(k, c, b) for k in kernels for c, b in CASE_KEYS if c in _cases(k)]
        ids = [f"{k}/{c.name}-{b}" for k, c, b in combos]
        metafunc.parametrize(["series", "case", "backend"], combos, ids=ids)
    else:
        combos2 = [(k, b) for k in kernels for b in GENERATED]
        metafunc.parametrize(["series", "backend"], combos2, ids=[f"{k}/{b}" for k, b in combos2])


#: Cases that find a bug not fixed yet: (series, case, backend) -> what goes wrong.  Strict expected failures:
#: the day one passes, the entry must go.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def test_damaged_input(
    corpora: Callable[[str], dict[Any, Run]],
    series: str,
    case: Case,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    expect_failure(request, KNOWN_BUGS.get((series, case.name, backend)))
    corpus = corpora(series)
    run = corpus[(case.name, backend)]
    _no_traceback(run)
    _unchanged(run)
    opened = _opened(run)
    if case.opens is not None:
        assert opened == case.opens, (run.stdout[-2000:], run.stderr[-2000:])
    if not opened:
        refusals = [line for line in run.stderr.splitlines() if line.startswith("crashcompat: ")]
        assert len(refusals) == 1, run.stderr
        assert re.search(case.cause, refusals[0]), refusals[0]
        assert run.status != 0
        return
    warnings = [line for line in run.stderr.splitlines() if "truncated or incomplete" in line]
    assert len(warnings) <= 1, run.stderr
    if case.warns is not None:
        assert warnings and re.search(case.warns, warnings[0]), run.stderr
    # the session went on to the end: the last sys and help answered
    assert HELP_MARK.search(run.stdout), run.stdout[-2000:]
    assert "KERNEL:" in run.stdout or "sys: " in run.stdout


def test_generated_command_lines(corpora: Callable[[str], dict[Any, Run]], series: str, backend: str) -> None:
    corpus = corpora(series)
    run = corpus[("generated", backend)]
    _no_traceback(run)
    _unchanged(run)
    # every generated line was followed by a help that answered
    assert len(HELP_MARK.findall(run.stdout)) >= run.generated, run.stderr[-2000:]


def test_corpus_size() -> None:
    """At least 300 cases over both backends and every kernel series of the lab."""

    def size(series: str) -> int:
        keys = [(c, b) for c, b in CASE_KEYS if c in _cases(series)]
        return len(keys) + sum(_generated(series).values())

    assert sum(size(series) for series in KERNELS) >= 300
    assert all(any(c.gdb for c in _cases(series)) for series in KERNELS)  # both backends on each
