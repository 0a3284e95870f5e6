"""The real crash as test oracle: run the lab's oracle crash on a lab dump, one output per command.

The crash is the one that wrote the lab's references (the manifest's ``oracle``: crash's newest release run
from its private root), else the ``crash`` on PATH.

The lab manifest's reference files cover a few command lines; for the rest (``kmem -z``, ``kmem -S``,
``kmem ADDRESS`` …) the tests run crash itself when it is installed, once per dump and command list,
and cache the result next to the pytest cache.  Each command is preceded by a ``kmem -o`` whose output
is dropped: in ``-i`` batch mode crash does not reset its per-command flags between commands (so a
second ``vtop`` would omit its page-table header), and ``kmem`` resets them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from crashcompat.testing import lab as _lab
from crashcompat.testing.lab import oracle_argv

#: The command run before each one, whose output ends the previous one (crash keeps no marker of its own).
RESET = "kmem -o"
_PROMPT = re.compile(r"^crash> (.*)\n", re.M)
_CACHE = Path(os.environ.get("CRASHCOMPAT_ORACLE_CACHE", Path(tempfile.gettempdir()) / "crashcompat-oracle"))


def run_crash(
    vmlinux: str, dump: str, commands: Sequence[str], timeout: int = 900, cwd: str | None = None
) -> dict[str, str]:
    """crash's output for each of *commands* on *dump* (``{}`` if crash is missing or fails to start); in
    the directory *cwd* if given (then not cached: what crash reads there may change)."""
    crash = oracle_argv(vmlinux)
    if crash is None:
        return {}
    stat = os.stat(dump)
    key = hashlib.sha256(
        json.dumps([dump, stat.st_size, stat.st_mtime, vmlinux, list(commands), crash]).encode()
    ).hexdigest()
    cached = _CACHE / f"{key[:24]}.json"
    if cached.exists() and cwd is None:
        return dict(json.loads(cached.read_text()))
    # crash runs in a directory of its own: a line it reads as a redirection (it takes the ">" of "->" in
    # some p arguments for one) writes a file there, not into the checkout
    with tempfile.TemporaryDirectory(prefix="crash-oracle-") as work:
        script = Path(work) / "commands.crash"
        script.write_text("".join(f"{RESET}\n{c}\n" for c in commands))
        proc = subprocess.run(
            [*crash, vmlinux, dump, "-i", str(script)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or work,
            check=False,
        )
    # crash 9 prints one more prompt when its input ends: not part of the last command's output.
    parts = _PROMPT.split(proc.stdout.removesuffix("crash> "))
    found: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        if parts[i] != RESET:
            found.setdefault(parts[i], parts[i + 1])
    if found and cwd is None:
        _CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(found))
    return found


def makedumpfile_dmesg(dump: str, timeout: int = 300) -> bytes:
    """The host's ``makedumpfile --dump-dmesg`` of *dump*: the one makedumpfile ``crashcompat dmesg`` follows
    (a series' capture kernel may run another release: 6.12's runs unstable's 1.7.8, which adds a caller
    column)."""
    with tempfile.TemporaryDirectory(prefix="crashcompat-dmesg-") as tmp:
        out = Path(tmp) / "dmesg"
        proc = subprocess.run(
            ["makedumpfile", "--dump-dmesg", dump, str(out)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0 and out.exists(), proc.stderr.decode(errors="replace")[-2000:]
        return out.read_bytes()


def adopt_oracle(vmlinux: str, argv: Sequence[str] | None) -> None:
    """Make *argv* (a lab manifest's ``oracle.argv``) the oracle for *vmlinux* in this process: the tests that
    run inside GDB do not load the manifest themselves and are handed it in their context."""
    if argv:
        _lab._ORACLES[vmlinux] = [str(a) for a in argv]
