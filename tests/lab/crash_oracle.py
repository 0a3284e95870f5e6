"""The real crash as test oracle: run the installed ``crash`` on a lab dump, one output per command.

The lab manifest's reference files cover a few command lines; for the rest (``kmem -z``, ``kmem -S``,
``kmem ADDRESS`` …) the tests run crash itself when it is installed, once per dump and command list,
and cache the result next to the pytest cache.  Each command is preceded by a ``kmem -o`` whose output
is dropped: in ``-i`` batch mode crash does not reset its per-command flags between commands (so a
second ``vtop`` would omit its page-table header), and ``kmem`` resets them.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

CRASH = shutil.which("crash")
#: Where the lab matrix unpacks a newer crash (9.x, right about 6.1's task table and maple-tree VMAs):
#: ``ROOT/usr/bin/crash`` with its own loader and libraries.
NEWER_CRASH_ROOTS = os.environ.get(
    "CRASHCOMPAT_NEWER_CRASH", "/var/cache/crashlab-matrix-dev/oracle/crash-9*/root"
)
_RESET = "kmem -o"
_PROMPT = re.compile(r"^crash> (.*)\n", re.M)
_CACHE = Path(os.environ.get("CRASHCOMPAT_ORACLE_CACHE", Path(tempfile.gettempdir()) / "crashcompat-oracle"))


def newer_crash() -> list[str] | None:
    """The command line running the newest unpacked crash 9.x (``None`` when there is none)."""
    roots = sorted(glob.glob(NEWER_CRASH_ROOTS))
    if not roots:
        return None
    root = roots[-1]
    loader = f"{root}/usr/lib64/ld-linux-x86-64.so.2"
    if not os.path.exists(loader) or not os.path.exists(f"{root}/usr/bin/crash"):
        return None
    libs = f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu"
    return [loader, "--library-path", libs, f"{root}/usr/bin/crash"]


def run_crash(
    vmlinux: str, dump: str, commands: Sequence[str], timeout: int = 900, crash: Sequence[str] | None = None
) -> dict[str, str]:
    """crash's output for each of *commands* on *dump* (``{}`` if crash is missing or fails to start);
    *crash* is the command line of another crash than the installed one (see :func:`newer_crash`)."""
    program = list(crash) if crash else [CRASH] if CRASH else None
    if program is None:
        return {}
    stat = os.stat(dump)
    key = hashlib.sha256(
        json.dumps(
            [dump, stat.st_size, stat.st_mtime, vmlinux, list(commands), *([program] if crash else [])]
        ).encode()
    ).hexdigest()
    cached = _CACHE / f"{key[:24]}.json"
    if cached.exists():
        return dict(json.loads(cached.read_text()))
    with tempfile.NamedTemporaryFile("w", suffix=".crash", delete=False) as script:
        script.write("".join(f"{_RESET}\n{c}\n" for c in commands))
    try:
        proc = subprocess.run(
            [*program, vmlinux, dump, "-i", script.name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        os.unlink(script.name)
    parts = _PROMPT.split(proc.stdout)
    found: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        if parts[i] != _RESET:
            found.setdefault(parts[i], parts[i + 1])
    if found:
        _CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(found))
    return found
