"""The wheel built from this repository is complete: installed alone into a fresh virtual environment,
``crashcompat``, ``crashcompat-gdbserver`` and GDB's loader (``source $(crashcompat gdb-script)``) work.

It builds and installs for real (about a minute, most of it pip), so it catches what an editable install
hides: a module or data file (the GDB loader script) missing from the package, a broken entry point.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(900)


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRASHCOMPAT_", "VIRTUAL_ENV", "PYTHON"))}
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, env=env, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the repository's wheel installed (and drgn, for the CLI)."""
    work = tmp_path_factory.mktemp("wheel")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(work / "dist")]
    )
    assert built.returncode == 0, built.stderr
    wheels = glob.glob(str(work / "dist" / "crashcompat-*.whl"))
    assert len(wheels) == 1, wheels
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", wheels[0], "drgn"])
    assert pip.returncode == 0, pip.stderr
    return venv


def test_the_programs_run_from_the_wheel(installed: Path) -> None:
    version = _run([str(installed / "bin" / "crashcompat"), "--version"], cwd="/")
    assert version.returncode == 0 and version.stdout.startswith("crashcompat "), version.stderr
    usage = _run([str(installed / "bin" / "crashcompat-gdbserver"), "--help"], cwd="/")
    assert usage.returncode == 0 and "target remote | crashcompat-gdbserver" in usage.stdout, usage.stderr
    script = _run([str(installed / "bin" / "crashcompat"), "gdb-script"], cwd="/").stdout.strip()
    assert script.startswith(str(installed)) and os.path.isfile(script), script
    origin = _run(
        [str(installed / "bin" / "python"), "-c", "import crashcompat; print(crashcompat.__file__)"], cwd="/"
    )
    assert origin.stdout.startswith(str(installed)), origin.stdout  # the wheel's copy, not the work tree


def test_gdb_loads_the_installed_wheel(installed: Path) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("GDB is not installed")
    # As a user types it: the shell fills in the loader's path.
    command = f'{gdb} -q -nx -batch -ex "source $({installed}/bin/crashcompat gdb-script)" -ex "help crash"'
    env_path = f"{installed}/bin:/usr/bin:/bin"
    proc = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd="/",
        env={"PATH": env_path, "HOME": os.environ.get("HOME", "/root")},
    )
    assert "crash sys" in proc.stdout and "crashcompat:" not in proc.stderr, proc.stdout + proc.stderr
