"""Ctrl-C in a real terminal, on every frontend: it ends the running command (one busy in Python, and a
shell escape) and the prompt comes back, at the prompt it clears the line, and the next command works.

Each frontend runs on a pseudo-terminal (:func:`pty.fork`) on the lab's ELF dump; a plugin of the test's
own (``spin``: busy in Python for up to a minute, saying so on the terminal first) stands for a long
command.  Every wait has a timeout.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pty_terminal import Terminal

from crashcompat.gdb import script_path

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

SPIN = """
import os, time
from crashcompat.api import command, hookimpl

@command("spin", summary="spin", synopsis="spin", description="Busy in Python until interrupted.")
def spin(ctx):
    os.write(1, b"spinning\\n")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pass
    ctx.write("spin: not interrupted\\n")

@hookimpl
def crashcompat_commands():
    return [spin]
"""


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    plugin = tmp_path / "spin.py"
    plugin.write_text(SPIN)
    env = {k: v for k, v in os.environ.items() if k != "CRASHCOMPAT_DEBUG"}
    env.update(CRASHCOMPAT_PLUGINS=f"spin={plugin}", TERM="dumb", COLUMNS="200", LINES="50")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


@pytest.fixture
def elf_dump(lab_manifest: Any) -> Any:
    return next(d for d in lab_manifest["dumps"] if d["format"] == "elf")


def _interrupt_and_go_on(term: Terminal, prompt: str, prefix: str, nodename: str) -> None:
    """The shared script: Ctrl-C a Python-busy command, a shell escape and a half-typed line."""
    term.send(f"{prefix}spin\r")
    term.expect("spinning")
    time.sleep(0.5)
    term.send("\x03")
    assert "not interrupted" not in term.expect(prompt, 30)
    term.send(f"{prefix}sys | grep NODENAME\r")
    term.expect(f"NODENAME: {nodename}")
    term.expect(prompt)
    term.send(f"{prefix}!sleep 30\r")
    time.sleep(1)
    term.send("\x03")
    term.expect(prompt, 15)
    term.send("half-typed")
    time.sleep(0.3)
    term.send("\x03")
    term.expect(prompt, 15)
    term.send(f"{prefix}sys | grep NODENAME\r")
    after = term.expect(f"NODENAME: {nodename}")
    assert "half-typed" not in after.split("\n", 1)[-1]  # the line was cleared, not run
    term.expect(prompt)


@pytest.mark.parametrize("backend", ["drgn", pytest.param("gdb", marks=pytest.mark.gdb)])
def test_crashcompat_prompt(
    backend: str, elf_dump: Any, lab_manifest: Any, terminal_env: dict[str, str]
) -> None:
    argv = [
        sys.executable,
        "-m",
        "crashcompat",
        "--backend",
        backend,
        "-s",
        lab_manifest.vmlinux,
        elf_dump["path"],
    ]
    term = Terminal(argv, terminal_env)
    try:
        term.expect("crash> ", 300)
        _interrupt_and_go_on(term, "crash> ", "", elf_dump["facts"]["hostname"])
        term.send("q\r")
    finally:
        status = term.close()
    assert status == 0


@pytest.mark.gdb
def test_crash_command_in_gdb(elf_dump: Any, lab_manifest: Any, terminal_env: dict[str, str]) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("GDB is not installed")
    argv = [gdb, "-q", "-nx", "-iex", "set pagination off", "-ex", f"source {script_path()}"]
    argv += ["-ex", f"file {lab_manifest.vmlinux}", "-ex", f"core-file {elf_dump['path']}"]
    term = Terminal(argv, terminal_env)
    try:
        term.expect("(gdb) ", 300)
        _interrupt_and_go_on(term, "(gdb) ", "crash ", elf_dump["facts"]["hostname"])
        term.send("quit\r")
    finally:
        term.close()


def test_cc_in_drgn(elf_dump: Any, lab_manifest: Any, terminal_env: dict[str, str]) -> None:
    drgn = str(Path(sys.executable).with_name("drgn"))
    argv = [drgn, "-q", "-c", elf_dump["path"], "-s", lab_manifest.vmlinux, "--main-symbols"]
    term = Terminal(argv, terminal_env)
    try:
        term.expect(">>> ", 300)
        _interrupt_and_go_on(term, ">>> ", "%cc ", elf_dump["facts"]["hostname"])
        term.send("exit()\r")
    finally:
        term.close()


@pytest.mark.parametrize("backend", ["drgn", pytest.param("gdb", marks=pytest.mark.gdb)])
def test_sigint_with_commands_from_a_pipe(
    backend: str, elf_dump: Any, lab_manifest: Any, terminal_env: dict[str, str]
) -> None:
    """crash, its commands on a pipe, ends quietly on SIGINT with status 1: so does crashcompat."""
    import subprocess

    argv = [
        sys.executable,
        "-m",
        "crashcompat",
        "--backend",
        backend,
        "-s",
        lab_manifest.vmlinux,
        elf_dump["path"],
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=terminal_env,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"sys | grep NODENAME\nspin\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 300
    seen = b""
    while b"spinning" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
    assert b"spinning" in seen, seen
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal's Ctrl-C reaches the whole process group
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1
    assert b"Traceback" not in err and b"not interrupted" not in out, err
