"""Dropped, silent and interrupted live links, in GDB on a real terminal, on the lab's live guests (KGDB over a
serial line, QEMU's gdbstub).

GDB reaches the guest's stub through a loopback proxy of the test's own (:class:`LinkProxy`), which can drop
the connection (as when the guest dies or the cable is pulled) or stop forwarding (a guest or line that
hangs) in the middle of a command.  Each case asserts: one crash-style line naming the stub, no traceback,
the prompt comes back (every wait has a timeout), and after a drop ``target remote`` again reconnects;
``kmem -i=shared`` shows its progress on stderr and Ctrl-C ends it, not the session.  The guest is
started with ``crashlab live`` (waiting for the lab's one VM slot) and stopped again.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pty_terminal import Terminal

from crashcompat.gdb import script_path
from crashcompat.gdb.launcher import site_dirs
from crashcompat.testing.lab import crashlab_script

#: Waiting for the VM slot and booting take minutes; the commands over KGDB's serial line too.
pytestmark = [pytest.mark.lab, pytest.mark.gdb, pytest.mark.timeout(2400)]

STUB = {"kgdb": "KGDB", "gdbstub": "QEMU's gdbstub"}


class LinkProxy:
    """A loopback TCP proxy to the stub at *port*, one client at a time, in a thread of the test: it forwards
    both ways until told to :meth:`drop` the connection or :meth:`freeze` (stop forwarding, socket open)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._action: str | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def drop(self) -> None:
        self._action = "drop"

    def freeze(self) -> None:
        self._action = "freeze"

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            stub = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            self.connections += 1
            self._action = None
            try:
                self._forward(client, stub)
            finally:
                client.close()
                _drain(stub)  # closed with unread data, the socket would reset QEMU's serial port
                stub.close()

    def _forward(self, client: socket.socket, stub: socket.socket) -> None:
        while not self._stop and self._action != "drop":
            ready, _, _ = select.select([client, stub], [], [], 0.05)
            if self._action == "freeze":
                continue
            for end in ready:
                data = end.recv(65536)
                if not data:
                    return
                (stub if end is client else client).sendall(data)


def _drain(conn: socket.socket) -> None:
    """Read what *conn* has received (for at most a second)."""
    end = time.monotonic() + 1
    conn.setblocking(False)
    while time.monotonic() < end:
        try:
            if not conn.recv(65536):
                return
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            return


def _crashlab(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(crashlab_script()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module", params=["kgdb", "gdbstub"])
def live_guest(request: pytest.FixtureRequest, lab_manifest: Any) -> Iterator[dict[str, Any]]:
    """The lab's live guest (``crashlab live``), stopped at the end if it is still ours."""
    proc = _crashlab("live", f"--{request.param}", "--json", "--wait", "900", "--lifetime", "2000")
    if proc.returncode != 0:
        pytest.skip(f"crashlab live --{request.param}: {proc.stderr.strip().splitlines()[-1:]}")
    info: dict[str, Any] = json.loads(proc.stdout)
    try:
        yield info
    finally:
        if f"QEMU pid {info['pid']}" in _crashlab("status", timeout=120).stdout:
            _crashlab("stop", timeout=120)


def gdb_on_terminal(info: dict[str, Any], port: int) -> Terminal:
    """Interactive GDB on a pseudo-terminal with crashcompat loaded, connected to the stub through *port*."""
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("GDB is not installed")
    argv = [gdb, "-q", "-nx", "-iex", "set pagination off", "-iex", "set confirm off"]
    argv += ["-ex", f"file {info['vmlinux']}"]
    if info["mode"] == "kgdb":
        argv += ["-ex", "set serial baud 115200"]
    argv += ["-ex", f"target remote 127.0.0.1:{port}", "-ex", f"source {script_path()}"]
    env = {k: v for k, v in os.environ.items() if k != "CRASHCOMPAT_DEBUG"}
    env.update(TERM="dumb", COLUMNS="200", LINES="50", CRASHCOMPAT_SITE=os.pathsep.join(site_dirs()))
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return Terminal(argv, env)


PROMPT = "(gdb) "


def _run(term: Terminal, line: str, until: str, timeout: float = 300) -> str:
    term.send(line + "\r")
    text = term.expect(until, timeout)
    assert "Traceback" not in text and "internal error" not in text, text
    return text


def _errors(text: str, command: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"{command}: ")]


def test_dropped_silent_and_interrupted_link(live_guest: dict[str, Any]) -> None:
    stub = STUB[live_guest["mode"]]
    port = live_guest.get("kgdb_port") or live_guest["gdb_port"]
    proxy = LinkProxy(port)
    term = gdb_on_terminal(live_guest, proxy.port)
    try:
        term.expect(PROMPT, 300)
        reconnect = f"target remote 127.0.0.1:{proxy.port}"
        _run(term, "crash mod", "MODULE")
        term.expect(PROMPT, 120)

        # Ctrl-C during a long read ends the command; the session goes on.
        _run(term, "crash kmem -i=shared", "of page structs (", 180)  # the progress line on stderr
        term.send("\x03")
        text = term.expect(PROMPT, 60)
        assert "TOTAL MEM" not in text and "Traceback" not in text, text
        _run(term, "crash mod", "MODULE", 120)
        term.expect(PROMPT, 120)

        # The link drops in the middle of a command: one line naming the stub, then reconnect.
        _run(term, "crash kmem -i=shared", "of page structs (", 180)
        proxy.drop()
        text = term.expect(PROMPT, 120)
        assert len(_errors(text, "kmem")) == 1 and f"link to {stub} is closed" in text, text
        text = _run(term, "crash sys", PROMPT, 60)
        assert "no kernel to examine" in text, text
        _run(term, reconnect, PROMPT, 120)
        text = _run(term, "crash bt | head -1", PROMPT, 120)
        assert "PID:" in text, text

        # The link stops answering: an error line after GDB's timeouts, never a hang.
        _run(term, "crash kmem -i=shared", "of page structs (", 180)
        proxy.freeze()
        text = term.expect(PROMPT, 180)
        assert len(_errors(text, "kmem")) == 1 and f"no answer from {stub}" in text, text
        text = _run(
            term, "crash kmem -i=shared", PROMPT, 180
        )  # the next command: an error line again, no hang
        assert len(_errors(text, "kmem")) == 1 and f"no answer from {stub}" in text, text
        proxy.drop()
        assert proxy.connections == 2
    except AssertionError as e:
        shown = term.transcript.decode(errors="replace")[-8000:]
        term.send("quit\r")
        with contextlib.suppress(AssertionError):
            term.close()
        raise AssertionError(f"{e}\n---- the terminal:\n{shown}") from None
    finally:
        proxy.close()
    term.send("quit\r")
    term.close()
