"""Running GDB from tests: batch GDB with crashcompat's loader, and pytest inside GDB.

Tests that must run in GDB's own Python live in ``in_gdb/gdbtest_*.py`` (a name the host pytest does
not collect); :func:`pytest_in_gdb` runs them in a GDB prepared with setup commands and turns their
result into GDB's exit status (``gdb -batch`` only reports the last command's, so pytest's status is
passed to ``os._exit``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from crashcompat.gdb import script_path
from crashcompat.gdb.launcher import LAUNCH_ENV, REMOTE_TIMEOUT, index_cache_dir, site_dirs

IN_GDB = Path(__file__).parent / "in_gdb"
#: Handed to the tests inside GDB (JSON): the dump, its facts and how GDB opened it.
CONTEXT_ENV = "CRASHCOMPAT_GDBTEST"


def gdb_binary() -> str:
    found = os.environ.get("CRASHCOMPAT_GDB") or shutil.which("gdb")
    if found is None:
        pytest.skip("GDB is not installed")
    return found


def bridge_command(vmlinux: str, vmcore: str) -> str:
    """The ``target remote |`` command line of the bridge, run with this Python."""
    return shlex.join([sys.executable, "-m", "crashcompat.bridge.server", vmlinux, vmcore])


def open_dump_commands(vmlinux: str, dump: str, mode: str, remote_timeout: int | None = None) -> list[str]:
    """The GDB commands that open *dump*: as GDB's own core file (*mode* ``"core"``, the vmlinux loaded
    without the KASLR offset, as a user would: crashcompat must relocate it), or through the bridge
    (``"bridge"``, with GDB's ``remotetimeout`` raised to *remote_timeout* seconds first when given)."""
    if mode == "core":
        return [f"file {vmlinux}", f"core-file {dump}"]
    timeout = [f"set remotetimeout {remote_timeout}"] if remote_timeout else []
    return [*timeout, f"target remote | {bridge_command(vmlinux, dump)}"]


def run_gdb(
    commands: Iterable[str], env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``gdb -batch`` with the index cache on and crashcompat's loader sourced first, then *commands*
    (each an ``-ex``); returns the finished process (text output)."""
    os.makedirs(index_cache_dir(), exist_ok=True)
    argv = [gdb_binary(), "-q", "-nx", "-batch", "-iex", "set index-cache enabled on"]
    argv += ["-iex", f"set remotetimeout {REMOTE_TIMEOUT}"]  # the bridge's start-up on a busy machine
    argv += ["-iex", f"set index-cache directory {index_cache_dir()}", "-ex", f"source {script_path()}"]
    for command in commands:
        argv += ["-ex", command]
    full_env = {**os.environ, "CRASHCOMPAT_SITE": os.pathsep.join(site_dirs()), **(env or {})}
    full_env.pop(LAUNCH_ENV, None)
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def pytest_in_gdb(
    module: str, setup: Iterable[str] = (), context: Mapping[str, Any] | None = None, timeout: float = 600
) -> None:
    """Run ``in_gdb/<module>`` with pytest inside GDB after the *setup* commands; fail with GDB's output
    unless every test passed."""
    run = (
        "python import gdb, os, sys, pytest; "
        f"rc = pytest.main(['-q', '-p', 'no:cacheprovider', '-W', 'ignore::pytest.PytestAssertRewriteWarning', '-o', 'python_files=gdbtest_*.py', "
        f"'--rootdir', {str(IN_GDB)!r}, {str(IN_GDB / module)!r}]); "
        "sys.stdout.flush(); sys.stderr.flush(); gdb.flush(); os._exit(int(rc))"
    )
    env = {CONTEXT_ENV: json.dumps(context or {})}
    proc = run_gdb([*setup, run], env=env, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"pytest in GDB exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
            pytrace=False,
        )


def pytest_in_gdb_on_dump(module: str, lab_manifest: Any, lab_dump: Any, setup: Iterable[str]) -> None:
    """:func:`pytest_in_gdb` for a lab dump compared with the lab's oracle crash: the context holds the dump
    (with the test module's ``.ko``), the vmlinux and the oracle's command line (GDB's process does not load
    the manifest)."""
    oracle = lab_manifest.get("oracle", {}).get("argv")
    assert oracle, "the lab names no oracle crash"
    dump = {**dict(lab_dump), "test_module_ko": lab_manifest["test_module"]["ko"]}
    context = {"dump": dump, "vmlinux": lab_manifest.vmlinux, "mode": "data", "oracle": oracle}
    pytest_in_gdb(module, setup, context)
