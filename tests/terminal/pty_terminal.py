"""A program on a pseudo-terminal for the tests: what it prints, and what a user types."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import time


class Terminal:
    """A program on a pseudo-terminal: :meth:`expect` what it prints, :meth:`send` what a user types."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the program
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""
        #: Everything the program printed so far.
        self.transcript = b""

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until *text* appears in what was printed since the last :meth:`expect`; return that output."""
        wanted = text.encode()
        end = time.monotonic() + timeout
        while wanted not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {text!r} within {timeout} s; the terminal shows:\n{self.seen.decode(errors='replace')}"
                )
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(
                        f"the program ended; the terminal shows:\n{self.seen.decode(errors='replace')}"
                    )
                self.seen += chunk
                self.transcript += chunk
        before, _, self.seen = self.seen.partition(wanted)
        return before.decode(errors="replace")

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> int:
        """Wait for the program to end (killing it after 30 s); its exit status."""
        end = time.monotonic() + 30
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.fd, 65536)  # keep the terminal drained
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(
            f"the program did not end; the terminal shows:\n{self.seen.decode(errors='replace')}"
        )
