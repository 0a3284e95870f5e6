"""pytest fixtures that open the crash lab's dumps with crashcompat, for our tests and for plugin authors.

- ``crash_session`` (session-scoped factory): ``crash_session("kdump-null-zlib-d31")`` returns a
  :class:`~crashcompat.core.session.Session` on the drgn backend, opened in-process once per dump for the
  whole test session::

      @pytest.mark.lab
      def test_my_command(crash_session, lab_manifest):
          session = crash_session(lab_manifest["dumps"][0])
          assert "PID:" in session.run("bt", echo=False)

- :func:`run_cli`: runs the ``crashcompat`` program in a subprocess with ``-s`` and the commands on stdin,
  the way ``crash -s vmlinux vmcore < cmds`` is run; returns what it printed (stdout and stderr).
  ``cli_runner`` is the same bound to the lab's vmlinux.

Both take a dump as its manifest entry (a dict with ``name``, ``path``, ``format``) or as its name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest

from crashcompat.core.session import Session

Dump = Mapping[str, Any] | str


def find_dump(manifest: Mapping[str, Any], dump: Dump) -> Mapping[str, Any]:
    """The manifest entry of *dump* (an entry already, or a dump name).  Fails the test if unknown."""
    if not isinstance(dump, str):
        return dump
    for entry in manifest.get("dumps", ()):
        if entry.get("name") == dump:
            return entry  # type: ignore[no-any-return]
    pytest.fail(f"no lab dump named {dump!r}")


def manifest_vmlinux(manifest: Mapping[str, Any]) -> str:
    """The lab kernel's debug vmlinux."""
    return str(manifest["kernel"]["vmlinux"])


def run_cli(
    dump: Dump,
    commands: str | Iterable[str],
    backend: str = "drgn",
    *,
    vmlinux: str | None = None,
    args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> str:
    """Run ``crashcompat --backend BACKEND -s VMLINUX VMCORE`` with *commands* on stdin; return its output.

    :param dump: a manifest entry (its ``path``, and its ``vmlinux`` when it has one) or a dump file path.
    :param commands: one command per line (a string or the lines).
    :param vmlinux: the debug kernel; default: the entry's ``vmlinux``, else crashcompat's own discovery.
    :param args: extra command-line options placed before the file names.
    :returns: stdout followed by stderr, as text.
    """
    if isinstance(dump, str):
        path = dump
    else:
        path = str(dump["path"])
        vmlinux = vmlinux or dump.get("vmlinux")
    text = commands if isinstance(commands, str) else "".join(f"{line}\n" for line in commands)
    argv = [sys.executable, "-m", "crashcompat", "--backend", backend, "-s", *args]
    argv += [vmlinux, path] if vmlinux else [path]
    proc = subprocess.run(
        argv,
        input=text,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def crash_session(lab_manifest: Mapping[str, Any]) -> Iterator[Callable[[Dump], Session]]:
    """Factory: ``crash_session(dump) -> Session`` on the drgn backend, cached per dump for the test session.

    Each call hands the cached session out as it was opened — output radix 10, crash's default context, no
    module objects loaded (``mod -D``) — so what one test changed does not leak into the next.
    """
    from crashcompat.drgn import open_dump

    opened: dict[str, Session] = {}
    vmlinux = manifest_vmlinux(lab_manifest)

    def open_session(dump: Dump) -> Session:
        entry = find_dump(lab_manifest, dump)
        path = str(entry["path"])  # not the name: each kernel series of the lab has a dump of each name
        if path not in opened:
            opened[path] = open_dump(path, str(entry.get("vmlinux") or vmlinux))
        session = opened[path]
        session.radix = 10
        session.context_task = None
        session.plugin_state.pop("data", None)  # GDB's value history: $1 first, as in a fresh crash session
        if session.lookup("mod") is not None:
            session.run("mod -D", echo=False)
        return session

    yield open_session
    for session in opened.values():
        session.close()


@pytest.fixture(scope="session")
def cli_runner(lab_manifest: Mapping[str, Any]) -> Callable[..., str]:
    """:func:`run_cli` with the lab's vmlinux: ``cli_runner(dump, commands, backend="drgn", **kw)``."""
    vmlinux = manifest_vmlinux(lab_manifest)

    def run(dump: Dump, commands: str | Iterable[str], backend: str = "drgn", **kwargs: Any) -> str:
        entry = find_dump(lab_manifest, dump)
        kwargs.setdefault("vmlinux", str(entry.get("vmlinux") or vmlinux))
        return run_cli(entry, commands, backend, **kwargs)

    return run
