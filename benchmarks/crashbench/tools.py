"""The tools compared, each able to run one marked session on a lab dump."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashbench.measure import LEADING_MARKS, session_lines

DRIVER = Path(__file__).with_name("drgn_driver.py")


@dataclass(frozen=True)
class Dump:
    """One lab dump (an entry of the manifest's ``dumps``) with the lab kernel's vmlinux."""

    name: str
    path: str
    format: str
    size: int
    vmlinux: str
    capture: str = ""
    scenario: str = ""
    tasks: int | None = None  # tasks in the guest (lab facts)
    objects: int | None = None  # objects in the test module's slab cache (lab facts)
    #: The oracle crash's commands the lab knows to be wrong on this dump, and why.
    crash_wrong: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The test module's symbols in this dump (lab facts): name -> address text.
    symbols: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any], vmlinux: str) -> Dump:
        facts = entry.get("facts", {})
        objects = facts.get("test_module", {}).get("slabinfo_active_objs")
        return cls(
            name=str(entry["name"]),
            path=str(entry["path"]),
            format=str(entry["format"]),
            size=int(entry.get("size") or os.path.getsize(entry["path"])),
            vmlinux=vmlinux,
            capture=str(entry.get("capture", "")),
            scenario=str(entry.get("scenario", "")),
            tasks=len(facts["tasks"]) if facts.get("tasks") else None,
            objects=int(objects) if objects is not None else None,
            symbols=facts.get("symbols", {}),
            crash_wrong={str(w["command"]): str(w["why"]) for w in entry.get("reference_known_wrong", [])},
        )


@dataclass(frozen=True)
class Invocation:
    """How to run one session: the program, its stdin (None: ``/dev/null``) and environment variables to
    add to the benchmark's."""

    argv: list[str]
    stdin: str | None
    env: dict[str, str] | None = None


class Tool:
    """A tool of the comparison; subclasses say how a session is started."""

    key = ""
    label = ""

    def __init__(self, reps: int) -> None:
        self.reps = reps

    def unavailable(self, dump: Dump) -> str | None:
        """Why this tool cannot open *dump* (None when it can)."""
        return None

    def invocation(self, dump: Dump, commands: Sequence[str], workdir: Path) -> Invocation:
        raise NotImplementedError


class Crash(Tool):
    """crash: ``crash -s VMLINUX VMCORE -i CMDFILE < /dev/null``; the lab's oracle (crash's newest release, run
    through its own loader: *argv*, the manifest's ``oracle.argv``) when given, else the ``crash`` on PATH."""

    key = "crash"

    def __init__(self, reps: int, argv: Sequence[str] | None = None) -> None:
        super().__init__(reps)
        found = shutil.which("crash")
        self.argv = list(argv) if argv else [found] if found else []
        self.label = "crash"
        if self.argv:
            out = subprocess.run(
                [*self.argv, "--version"], capture_output=True, text=True, check=False
            ).stdout
            self.label = (out.strip().splitlines() or ["crash"])[0]  # "crash 9.0.2"

    def unavailable(self, dump: Dump) -> str | None:
        return None if self.argv else "crash is not installed"

    def invocation(self, dump: Dump, commands: Sequence[str], workdir: Path) -> Invocation:
        cmdfile = workdir / "crash-commands"
        cmdfile.write_text("".join(f"{line}\n" for line in session_lines(commands)))
        return Invocation([*self.argv, "-s", dump.vmlinux, dump.path, "-i", str(cmdfile)], None)


class DrgnCrash(Tool):
    """drgn 0.3.0's own crash commands: ``drgn.commands.run_command(prog, "crash <cmd>")``."""

    key = "drgn"

    def __init__(self, reps: int) -> None:
        super().__init__(reps)
        try:
            self.label = f"drgn {importlib.metadata.version('drgn')} %crash"
        except importlib.metadata.PackageNotFoundError:
            self.label = "drgn %crash"

    def unavailable(self, dump: Dump) -> str | None:
        return None if importlib.util.find_spec("drgn") else "drgn is not installed in this Python"

    def invocation(self, dump: Dump, commands: Sequence[str], workdir: Path) -> Invocation:
        argv = [sys.executable, str(DRIVER), dump.path, dump.vmlinux, dump.format, str(LEADING_MARKS)]
        return Invocation(argv, "".join(f"{c}\n" for c in [*commands, "q"]))


class Crashcompat(Tool):
    """crashcompat's program, ``crashcompat [--backend gdb] -s VMLINUX VMCORE`` with the commands on stdin.

    :param backend: ``"drgn"``, or ``"gdb"`` (an ELF dump as GDB's core file, other formats through the
        remote-protocol bridge), or ``"gdb-bridge"`` (the bridge for every format).
    """

    def __init__(self, reps: int, backend: str = "drgn") -> None:
        super().__init__(reps)
        self.backend = backend
        self.key = {"drgn": "cc-drgn", "gdb": "cc-gdb-core", "gdb-bridge": "cc-gdb-bridge"}[backend]
        self.label = {
            "drgn": "crashcompat on drgn",
            "gdb": "crashcompat on GDB (core file)",
            "gdb-bridge": "crashcompat on GDB (bridge)",
        }[backend]
        self.program = str(Path(sys.executable).with_name("crashcompat"))  # the venv's console script

    def unavailable(self, dump: Dump) -> str | None:
        if not os.access(self.program, os.X_OK):
            return f"no {self.program}"
        if self.backend == "drgn":
            return None
        if shutil.which("gdb") is None:
            return "GDB is not installed"
        if importlib.util.find_spec("crashcompat.gdb.launcher") is None:
            return "crashcompat's GDB launcher is not there yet"
        if self.backend == "gdb" and dump.format != "elf":
            return "GDB opens only ELF dumps as core files"
        return None

    def invocation(self, dump: Dump, commands: Sequence[str], workdir: Path) -> Invocation:
        argv = [self.program]
        env = None
        if self.backend != "drgn":
            argv += ["--backend", "gdb"]
            if self.backend == "gdb-bridge":
                env = {"CRASHCOMPAT_GDB_BRIDGE": "1"}
        argv += ["-s", dump.vmlinux, dump.path]
        return Invocation(argv, "".join(f"{line}\n" for line in session_lines(commands)), env)


def all_tools(
    reps_crash: int, reps: int, reps_gdb: int, crash_argv: Sequence[str] | None = None
) -> list[Tool]:
    """The five columns of the tables, in order, with their repetitions (*crash_argv*: the lab's oracle)."""
    return [
        Crash(reps_crash, crash_argv),
        DrgnCrash(reps),
        Crashcompat(reps, "drgn"),
        Crashcompat(reps_gdb, "gdb"),
        Crashcompat(reps_gdb, "gdb-bridge"),
    ]
