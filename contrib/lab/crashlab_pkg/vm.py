"""QEMU driver: start a guest, talk QMP over a unix socket, wait (bounded) for markers, dump memory, stop.

Only loopback TCP (127.0.0.1) and unix sockets are used. Every wait has a timeout, and QEMU is killed on any
error (use VM as a context manager).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .util import LabError, log

QEMU = "qemu-system-x86_64"
_ACCEL: str | None = None


class QMP:
    """A minimal synchronous QMP client."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(str(path))
                break
            except OSError as exc:
                self.sock.close()
                last = exc
                if time.monotonic() > deadline:
                    raise LabError(f"cannot connect to QMP socket {path}: {last}") from exc
                time.sleep(0.2)
        self.buf = b""
        self._read_msg(timeout)  # greeting
        self.command("qmp_capabilities")

    def _read_msg(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise LabError("QMP connection closed by QEMU")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg: dict[str, Any] = json.loads(line)
        return msg

    def command(self, name: str, timeout: float = 60.0, **args: Any) -> Any:
        req: dict[str, Any] = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError(f"QMP {name}: no answer within {timeout:.0f}s")
            try:
                msg = self._read_msg(left)
            except TimeoutError as exc:
                raise LabError(f"QMP {name}: no answer within {timeout:.0f}s") from exc
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise LabError(f"QMP {name} failed: {msg['error'].get('desc', msg['error'])}")

    def close(self) -> None:
        self.sock.close()


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def accel() -> str:
    """TCG unless CRASHLAB_TRY_KVM=1 and a short probe shows KVM boots a stock guest (kvm_pvm hosts hang)."""
    global _ACCEL
    if _ACCEL is None:
        _ACCEL = os.environ.get("CRASHLAB_ACCEL", "tcg")
    return _ACCEL


def set_accel(value: str) -> None:
    global _ACCEL
    _ACCEL = value


class VM:
    """One QEMU guest. Serial ports: ttyS0 console (file), ttyS1 (kgdb tcp or null), ttyS2 facts (file)."""

    def __init__(
        self,
        workdir: Path,
        *,
        kernel: Path,
        initrd: Path,
        append: str,
        mem: str = "512M",
        smp: int = 2,
        cpu: str = "qemu64",
        disk: Path | None = None,
        gdb_port: int | None = None,
        kgdb_port: int | None = None,
        extra_qmp: Sequence[Path] = (),
        name: str = "crashlab",
        accel_override: str | None = None,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.console = workdir / "console.log"
        self.facts = workdir / "facts.log"
        self.qmp_path = workdir / "qmp.sock"
        self.pidfile = workdir / "qemu.pid"
        self.stderr_path = workdir / "qemu.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.qmp: QMP | None = None
        acc = accel_override or accel()
        accel_args = ["-accel", "tcg,thread=multi"] if acc == "tcg" else ["-accel", "kvm"]
        kgdb_serial = f"tcp:127.0.0.1:{kgdb_port},server=on,wait=off" if kgdb_port else "null"
        self.argv: list[str] = [
            QEMU,
            "-name",
            name,
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-machine",
            "pc",
            *accel_args,
            "-cpu",
            cpu,
            "-m",
            mem,
            "-smp",
            str(smp),
            "-kernel",
            str(kernel),
            "-initrd",
            str(initrd),
            "-append",
            append,
            "-serial",
            f"file:{self.console}",
            "-serial",
            kgdb_serial,
            "-serial",
            f"file:{self.facts}",
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
            "-device",
            "vmcoreinfo",
            "-no-reboot",
            "-pidfile",
            str(self.pidfile),
        ]
        for extra in extra_qmp:
            self.argv += ["-qmp", f"unix:{extra},server=on,wait=off"]
        if disk is not None:
            self.argv += ["-drive", f"file={disk},format=raw,if=virtio,cache=unsafe"]
        if gdb_port is not None:
            self.argv += ["-gdb", f"tcp:127.0.0.1:{gdb_port}"]

    def start(self, detached: bool = False, lifetime: float | None = None) -> None:
        for p in (self.console, self.facts, self.qmp_path, self.pidfile):
            p.unlink(missing_ok=True)
        self.console.touch()
        self.facts.touch()
        argv = self.argv
        if lifetime is not None:
            # A live VM outlives this process: `timeout` kills it after `lifetime` seconds at the latest.
            argv = ["timeout", "--signal=KILL", str(int(lifetime)), *argv]
        (self.workdir / "qemu.cmdline").write_text(" ".join(argv) + "\n")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=detached
            )
        deadline = time.monotonic() + 30
        while not self.qmp_path.exists():
            if self.proc.poll() is not None:
                raise LabError(f"QEMU exited at start: {self._stderr_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise LabError("QEMU did not create its QMP socket within 30s")
            time.sleep(0.1)

    def _stderr_tail(self) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def connect(self) -> QMP:
        if self.qmp is None:
            self.qmp = QMP(self.qmp_path)
        return self.qmp

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(
        self,
        path: Path,
        pattern: str,
        timeout: float,
        what: str,
        fail_pattern: str = r"FIXTURE-FACT error text=(.*)",
    ) -> re.Match[str]:
        """Poll a log file until ``pattern`` matches (bounded); LabError on timeout, QEMU exit, or fail_pattern."""
        rx = re.compile(pattern, re.M)
        frx = re.compile(fail_pattern, re.M) if fail_pattern else None
        deadline = time.monotonic() + timeout
        while True:
            text = path.read_text(errors="replace") if path.exists() else ""
            m = rx.search(text)
            if m:
                return m
            if frx is not None:
                f = frx.search(text) or (
                    frx.search(self.facts.read_text(errors="replace"))
                    if self.facts.exists() and path != self.facts
                    else None
                )
                if f:
                    raise LabError(f"guest failed while waiting for {what}: {f.group(1).strip()[:200]}")
            if self.proc is not None and self.proc.poll() is not None:
                raise LabError(
                    f"QEMU exited while waiting for {what} (see {self.console}): {self._stderr_tail()}"
                )
            if time.monotonic() > deadline:
                tail = [ln for ln in self.console.read_text(errors="replace").splitlines() if ln.strip()][-1:]
                raise LabError(
                    f"guest never reached {what} within {timeout:.0f}s "
                    f"(last console line: {tail[0][:160] if tail else '<none>'!r})"
                )
            time.sleep(0.25)

    def dump(self, out: Path, fmt: str, paging: bool = False, timeout: float = 300) -> float:
        t0 = time.monotonic()
        args: dict[str, Any] = {"paging": paging, "protocol": f"file:{out}"}
        if fmt != "elf":
            args["format"] = fmt
        self.connect().command("dump-guest-memory", timeout=timeout, **args)
        if not out.exists() or out.stat().st_size == 0:
            raise LabError(f"dump-guest-memory wrote no {out}")
        return time.monotonic() - t0

    def quit(self, timeout: float = 15) -> None:
        """QMP quit, then wait; kill if QEMU does not go."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(LabError, OSError):
                self.connect().command("quit", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout)
        self.kill()

    def kill(self) -> None:
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        # With `timeout` as the parent, QEMU itself may still run: use its pid file.
        pid = read_pid(self.pidfile)
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> VM:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.quit() if et is None else self.kill()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def probe_kvm(kernel: Path, initrd: Path, workdir: Path, timeout: float = 20.0) -> bool:
    """Boot the live guest under KVM for at most ``timeout`` s: does it reach /init's first fact?"""
    if not kvm_usable():
        return False
    log(f"probing KVM (at most {timeout:.0f}s; CRASHLAB_TRY_KVM=1)")
    vm = VM(
        workdir,
        kernel=kernel,
        initrd=initrd,
        append="console=ttyS0,115200 fixture.mode=live fixture.crash=none",
        accel_override="kvm",
        cpu="host",
        mem="512M",
    )
    try:
        vm.start()
        vm.wait_for(vm.facts, r"^FIXTURE-FACT info ", timeout, "the KVM probe marker")
        return True
    except LabError as exc:
        log(f"KVM probe failed ({exc}); using TCG")
        return False
    finally:
        vm.kill()


def choose_accel(kernel: Path, initrd: Path, workdir: Path) -> str:
    """TCG, unless CRASHLAB_TRY_KVM=1 and the bounded probe shows that KVM boots the stock guest."""
    if os.environ.get("CRASHLAB_TRY_KVM") == "1" and _ACCEL is None:
        set_accel("kvm" if probe_kvm(kernel, initrd, workdir) else "tcg")
    return accel()
