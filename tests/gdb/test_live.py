"""crashcompat in GDB on the lab's live guests: QEMU's gdbstub (Debian's kernel, KASLR on) and real KGDB
over a serial line (the lab's KGDB kernel).  Each guest is started with ``crashlab live`` (waiting for the
lab's one VM slot), tested from inside GDB (``in_gdb/gdbtest_live.py``), and stopped again."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from gdbtools import pytest_in_gdb

from crashcompat.testing.lab import crashlab_script

#: Waiting for the lab's one VM slot, booting, and KGDB's 115200-baud line take minutes.
pytestmark = [pytest.mark.lab, pytest.mark.gdb, pytest.mark.timeout(3000)]


@pytest.fixture(scope="module", params=["gdbstub", "kgdb"])
def live_guest(request: pytest.FixtureRequest, lab_manifest: Any) -> Iterator[dict[str, Any]]:
    crashlab = [sys.executable, str(crashlab_script())]
    proc = subprocess.run(
        [*crashlab, "live", f"--{request.param}", "--json", "--wait", "900", "--lifetime", "1500"],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"crashlab live --{request.param}: {proc.stderr.strip().splitlines()[-1:]}")
    info: dict[str, Any] = json.loads(proc.stdout)
    try:
        yield info
    finally:
        status = subprocess.run([*crashlab, "status"], capture_output=True, text=True, check=False).stdout
        if f"QEMU pid {info['pid']}" in status:  # still ours: stop it
            subprocess.run([*crashlab, "stop"], capture_output=True, check=False)


def test_live(live_guest: dict[str, Any]) -> None:
    port = live_guest.get("gdb_port") or live_guest["kgdb_port"]
    setup = [f"file {live_guest['vmlinux']}"]
    if live_guest["mode"] == "kgdb":
        setup.append("set serial baud 115200")
    setup.append(f"target remote {live_guest['host']}:{port}")
    pytest_in_gdb("gdbtest_live.py", setup, {"live": live_guest, "python": sys.executable}, timeout=1200)
