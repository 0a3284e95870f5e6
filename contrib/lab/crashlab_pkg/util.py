"""Small helpers shared by the crash lab: logging, subprocesses, hashing, atomic directories, locks."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

LAB_DIR = Path(__file__).resolve().parent.parent
GUEST_SRC = LAB_DIR / "guest"


class LabError(Exception):
    """A failure the user should see as one line: ``crashlab: error: <message>``."""


_T0 = time.monotonic()


def log(msg: str) -> None:
    """Progress output: always stderr, so that stdout holds only the result."""
    print(f"crashlab [{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float = 600,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
    input_text: str | None = None,
    what: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard timeout. Output is captured (or written to ``stdout``).

    On failure raises LabError naming the command and the last line of its stderr.
    """
    argv = [str(c) for c in cmd]
    label = what or argv[0]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        if stdout is not None:
            with open(stdout, "w", encoding="utf-8", errors="replace") as out:
                proc = subprocess.run(
                    argv,
                    cwd=cwd,
                    env=full_env,
                    stdout=out,
                    stderr=subprocess.PIPE,
                    text=True,
                    timeout=timeout,
                    input=input_text,
                    errors="replace",
                    stdin=None if input_text is not None else subprocess.DEVNULL,
                )
        else:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input_text,
                errors="replace",
                stdin=None if input_text is not None else subprocess.DEVNULL,
            )
    except FileNotFoundError as exc:
        raise LabError(f"{label}: command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{label}: timed out after {timeout:.0f}s: {' '.join(argv)[:200]}") from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines() or (proc.stdout or "").strip().splitlines() or [""]
        raise LabError(f"{label} failed (exit {proc.returncode}): {tail[-1][:300]}")
    return proc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_tree(paths: Sequence[Path], base: Path) -> str:
    """Hash of the named files' relative paths and contents (directories are walked, caches skipped)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(q for q in p.rglob("*") if q.is_file() and "__pycache__" not in q.parts)
        elif p.is_file():
            files.append(p)
    for f in sorted(files):
        h.update(str(f.relative_to(base)).encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@contextlib.contextmanager
def staging_dir(final: Path, tmp_root: Path) -> Iterator[Path]:
    """Yield a fresh temp dir; on success it is renamed to ``final`` (replacing nothing: final must not
    exist). On failure the temp dir is removed, so no half-written entry is ever visible."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{final.name}.", dir=tmp_root))
    try:
        yield tmp
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: Path, what: str, wait: float = 0.0) -> Iterator[None]:
    """An exclusive flock. With wait=0 a held lock is an immediate LabError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabError(f"{what} is busy (lock {path} held by another crashlab)") from None
                time.sleep(1.0)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def free_port() -> int:
    """A currently free loopback TCP port."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def check_free_space(path: Path, need_gb: float) -> None:
    path.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(path)
    free_gb = st.f_bavail * st.f_frsize / 1e9
    if free_gb < need_gb:
        raise LabError(f"not enough disk space in {path}: {free_gb:.1f} GB free, need {need_gb:.1f} GB")


def du_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
