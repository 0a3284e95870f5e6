"""Starting crashcompat in GDB: the loader script finds the installation or refuses a Python it does not
fit, and ``crashcompat --backend gdb`` behaves like the drgn backend on bad command lines and files."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gdbtools import gdb_binary, run_gdb

from crashcompat.gdb import script_path

pytestmark = pytest.mark.gdb


def _bare_gdb(env: dict[str, str], *commands: str) -> subprocess.CompletedProcess[str]:
    """GDB sourcing the loader with nothing telling it where crashcompat lives but *env*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHCOMPAT_", "VIRTUAL_ENV"))}
    clean["PATH"] = "/usr/bin:/bin"  # no crashcompat script to read a shebang from
    argv = [gdb_binary(), "-q", "-nx", "-batch", "-ex", f"source {script_path()}"]
    for command in commands:
        argv += ["-ex", command]
    return subprocess.run(
        argv, capture_output=True, text=True, env={**clean, **env}, timeout=120, check=False
    )


def test_loader_finds_the_installation() -> None:
    proc = run_gdb(["python import crashcompat.gdb, sys; print('ok', 'drgn' in sys.modules)", "help crash"])
    assert "ok False" in proc.stdout and "crash sys" in proc.stdout, proc.stderr


def test_loader_asks_the_installing_python(tmp_path: Path) -> None:
    # No CRASHCOMPAT_SITE: the loader runs CRASHCOMPAT_PYTHON for its version and site directories.
    proc = _bare_gdb({"CRASHCOMPAT_PYTHON": sys.executable}, "help crash")
    assert "crash sys" in proc.stdout, proc.stderr


def test_loader_refuses_another_python_minor(tmp_path: Path) -> None:
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\necho '[[3, 9], [\"/nonexistent\"]]'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    proc = _bare_gdb({"CRASHCOMPAT_PYTHON": str(fake)}, "help crash")
    assert "crashcompat is installed for Python 3.9, but this GDB runs Python 3.11" in proc.stderr
    assert "crash sys" not in proc.stdout


def _launch(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crashcompat", "--backend", "gdb", "-s", *argv],
        input="sys\n", capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_missing_dump_is_crashs_usage_error(tmp_path: Path) -> None:
    proc = _launch(str(tmp_path / "vmcore"))
    assert proc.returncode == 1
    assert proc.stderr == f"crashcompat: {tmp_path / 'vmcore'}: No such file or directory\n"
    assert "Usage:" in proc.stdout


@pytest.mark.lab
def test_mismatched_vmlinux_is_refused(lab_manifest: Any) -> None:
    kgdb = (lab_manifest.get("kgdb") or {}).get("vmlinux")
    if not kgdb or not os.path.exists(kgdb):
        pytest.skip("the lab has no second kernel")
    dump = lab_manifest.default_dump
    proc = _launch(kgdb, dump.path)
    assert proc.returncode == 1
    assert f"{kgdb} and {dump.path} do not match!" in proc.stderr


@pytest.mark.lab
def test_launcher_banner_and_exit_status(lab_manifest: Any) -> None:
    dump = lab_manifest.default_dump
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "--backend", "gdb", lab_manifest.vmlinux, dump.path],
        input="q\n", capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "(crash commands on GDB " in proc.stdout and f"NODENAME: {dump.facts['hostname']}" in proc.stdout
    assert proc.stdout.rstrip().endswith("crash>")


def test_index_cache_is_crashcompats_own(tmp_path: Path) -> None:
    """crashcompat turns GDB's index cache on in its own cache directory, never GDB's global one, and
    leaves a user's own index cache setting alone."""
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "CRASHCOMPAT_PYTHON": sys.executable,
    }
    show = "python import gdb; print('dir=' + gdb.parameter('index-cache directory'))"
    use = "python from crashcompat.gdb.kaslr import use_index_cache; use_index_cache()"
    proc = _bare_gdb(env, use, show, "show index-cache enabled")
    assert f"dir={tmp_path / 'cache' / 'crashcompat' / 'gdb-index'}" in proc.stdout, proc.stderr
    assert "The index cache is on." in proc.stdout, proc.stdout
    mine = str(tmp_path / "mine")
    proc = _bare_gdb(env, f"set index-cache directory {mine}", "set index-cache enabled on", use, show)
    assert f"dir={mine}" in proc.stdout, proc.stderr


def _wrapped_gdb(tmp_path: Path, body: str) -> dict[str, str]:
    """``CRASHCOMPAT_GDB`` for a GDB started through a shell script (*body*; ``$GDB`` is the real one)."""
    wrapper = tmp_path / "gdb"
    wrapper.write_text(f"#!/bin/sh\nGDB={gdb_binary()}\n{body}\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "CRASHCOMPAT_GDB": str(wrapper)}


@pytest.mark.lab
def test_gdb_internal_error_is_one_line(lab_manifest: Any, tmp_path: Path) -> None:
    """GDB failing its own internal check while it opens the dump (GDB 13 did on Linux 7.2 before the
    bridge stopped offering a second copy of the vmlinux): one line naming GDB's error, no core file."""
    # the dump's first thread appears while GDB opens it (core file or bridge): fail there
    fail = "gdb.events.new_thread.connect(lambda _: gdb.execute('maint internal-error simulated failure'))"
    env = _wrapped_gdb(tmp_path, f'exec "$GDB" -iex "python {fail}" "$@"')
    dump = lab_manifest.default_dump
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "--backend", "gdb", "-s", lab_manifest.vmlinux, dump.path],
        input="sys\n", capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    # GDB's report of the error itself fails where it happens inside gdb.execute(to_string=True)
    assert re.search(
        r"^crashcompat: GDB failed(: simulated failure| with an internal error)\n\Z", proc.stderr, re.M
    )
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("core*"))


@pytest.mark.lab
def test_gdb_killed_is_one_line(lab_manifest: Any, tmp_path: Path) -> None:
    env = _wrapped_gdb(tmp_path, "kill -ABRT $$")
    dump = lab_manifest.default_dump
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "--backend", "gdb", "-s", lab_manifest.vmlinux, dump.path],
        input="sys\n", capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr == "crashcompat: GDB was stopped by signal SIGABRT\n"
