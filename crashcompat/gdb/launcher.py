"""``crashcompat --backend gdb [VMLINUX] VMCORE [-s] [-i FILE]``: crash's prompt, run by stock GDB.

:func:`main` (outside GDB) finds the vmlinux and the dump's KASLR offset, then starts
``gdb -batch`` with GDB's index cache on (the 590 MB Debian vmlinux loads in about a second instead of
thirty), the loader script, and :func:`run_in_gdb`.  Inside GDB that loads the vmlinux's symbols at the
offset, opens the dump — an ELF vmcore as GDB's core file, any other format through
``target remote | crashcompat-gdbserver`` (set ``CRASHCOMPAT_GDB_BRIDGE=1`` to use the bridge for ELF
too) — and runs the same session loop as the drgn backend (:func:`crashcompat.prompt.run`): the same
banner, ``crash>`` prompt, ``-s``, ``-i`` and exit status.  The ``crash`` GDB command shares the session.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from crashcompat import prompt
from crashcompat.core.cache import trim
from crashcompat.core.opening import (
    OpenError,
    check_readable,
    dump_header,
    dump_vmcoreinfo,
    find_vmlinux,
    kaslr_offset,
    mismatch,
    verify_version,
)
from crashcompat.core.session import debug_enabled
from crashcompat.core.target import DumpFormat
from crashcompat.gdb.kaslr import VmlinuxFacts, index_cache_dir

if TYPE_CHECKING:
    from crashcompat.core.target import Target
    from crashcompat.gdb.target import Vmlinux

#: Where the launch settings travel from :func:`main` to :func:`run_in_gdb`.
LAUNCH_ENV = "CRASHCOMPAT_GDB_LAUNCH"
#: Seconds GDB waits for a reply from the bridge (GDB's ``remotetimeout``; its default is 2).
REMOTE_TIMEOUT = 30


def site_dirs() -> list[str]:
    """This Python's package directories, for GDB's Python to find crashcompat and its dependencies."""
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [d for d in dict.fromkeys([*dirs, root]) if os.path.isdir(d)]


def _vmlinux_facts(vmlinux: str) -> VmlinuxFacts | None:
    """What the launcher needs from the vmlinux file (its banner, ``_stext``), or ``None`` if unreadable."""
    from crashcompat.core.elf import ElfError, ElfFile

    try:
        return VmlinuxFacts(ElfFile(vmlinux))
    except (OSError, ElfError, ValueError):
        return None


def gdb_command(gdb: str) -> list[str]:
    """The GDB command line that runs :func:`run_in_gdb` with crashcompat loaded."""
    from crashcompat.gdb import script_path

    return [
        gdb, "-q", "-nx", "-batch",
        # crashcompat-gdbserver answers at once and keeps GDB waiting with keepalive bytes while it opens
        # the dump (GDB's default 2 s is enough); 30 s is a margin for a badly overloaded machine.
        "-iex", f"set remotetimeout {REMOTE_TIMEOUT}",
        "-iex", f"set index-cache directory {index_cache_dir()}",  # crashcompat's, never ~/.cache/gdb
        "-iex", "set index-cache enabled on",
        # an internal error of GDB ends the session with a line of ours (main), never with a core file
        "-iex", "maint set internal-error corefile no",
        "-iex", "maint set internal-error quit yes",
        "-ex", f"source {script_path()}",
        "-ex", "python import crashcompat.gdb.launcher as _launcher; _launcher.run_in_gdb()",
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    """The ``--backend gdb`` command line (the ``crashcompat`` options less ``--backend``)."""
    from crashcompat.core.dumpfile import detect_format

    try:
        args = prompt.build_parser().parse_args(argv)
        if args.live or args.qemu:
            raise prompt.UsageError(
                "the gdb backend opens dump files; for a live kernel, start GDB on the vmlinux, "
                '"target remote ..." the gdbstub or KGDB, and source the script "crashcompat gdb-script" names'
            )
        vmlinux, vmcore = prompt.classify_files(args.files)
        if vmcore is None:
            raise prompt.UsageError("the gdb backend needs a dump file")
        if args.input_file and not os.path.isfile(args.input_file):
            raise prompt.UsageError(f"{args.input_file}: No such file or directory")
        info = dump_vmcoreinfo(dump_header(vmcore).notes)
        if vmlinux is None:
            vmlinux = find_vmlinux(info.get("OSRELEASE", ""))
        check_readable(vmlinux)
        facts = _vmlinux_facts(vmlinux)
        # The dump's release against the vmlinux file's banner, before GDB starts; GDB checks the memory's
        # banner once the dump is open (run_in_gdb).
        if info.get("OSRELEASE") and not verify_version(
            facts.banner if facts is not None else None, release=info["OSRELEASE"]
        ):
            raise mismatch(vmlinux, vmcore)
    except (prompt.UsageError, OpenError) as e:
        sys.stderr.write(f"{prompt.PROG}: {e}\n")
        sys.stdout.write(prompt.USAGE)
        return 1
    gdb = os.environ.get("CRASHCOMPAT_GDB") or shutil.which("gdb")
    if gdb is None:
        sys.stderr.write(f"{prompt.PROG}: the gdb backend needs GDB (gdb not found on PATH)\n")
        return 1
    bridge = detect_format(vmcore) is not DumpFormat.ELF or os.environ.get("CRASHCOMPAT_GDB_BRIDGE") == "1"
    server = [
        sys.executable,
        "-m",
        "crashcompat.bridge.server",
        "--no-exec-file",  # run_in_gdb loads the vmlinux at its KASLR offset before it connects
        os.path.abspath(vmlinux),
        os.path.abspath(vmcore),
    ]
    settings = {
        "vmlinux": vmlinux,
        "vmcore": vmcore,
        "offset": kaslr_offset(info, lambda: facts.stext if facts is not None else None) or 0,
        "bridge": shlex.join(server) if bridge else None,
        "silent": args.silent,
        "input_file": args.input_file,
    }
    trim()
    os.makedirs(index_cache_dir(), exist_ok=True)
    # What GDB prints while run_in_gdb keeps it quiet goes to this file, which run_in_gdb removes once the
    # session has ended in order: if it is still there, GDB itself failed, and its last words are in it.
    fd, settings["hidden_output"] = tempfile.mkstemp(prefix="crashcompat-gdb-")
    os.close(fd)
    env = {**os.environ, LAUNCH_ENV: json.dumps(settings), "CRASHCOMPAT_SITE": os.pathsep.join(site_dirs())}
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is GDB's (it stops the command)
    try:
        status = subprocess.run(gdb_command(gdb), env=env, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)
    if os.path.exists(settings["hidden_output"]):
        with open(settings["hidden_output"], "rb") as f:
            hidden = f.read().decode("utf-8", "replace")
        os.unlink(settings["hidden_output"])
        sys.stderr.write(f"{prompt.PROG}: {gdb_failure(hidden, status)}\n")
        return status or 1
    return status


def gdb_failure(output: str, status: int) -> str:
    """One line for a GDB that ended before the session did: its internal error if it printed one."""
    for line in output.splitlines():
        if "internal-error:" in line:
            return "GDB failed: " + line.split("internal-error:", 1)[1].strip()
    if "internal problem" in output:  # GDB's own report failed too (it was writing to a captured string)
        return "GDB failed with an internal error"
    if status < 0:
        return f"GDB was stopped by signal {signal.Signals(-status).name}"
    return f"GDB ended before the session did (exit status {status})"


def run_in_gdb() -> None:
    """Inside GDB: open the dump from :data:`LAUNCH_ENV`'s settings, run crash's prompt, quit GDB with
    the session's exit status."""
    import gdb

    from crashcompat.core.target import TargetError
    from crashcompat.gdb import command
    from crashcompat.gdb.kaslr import gdb_quote
    from crashcompat.gdb.target import Vmlinux, load_vmlinux

    settings = json.loads(os.environ.pop(LAUNCH_ENV))
    hidden = settings.get("hidden_output") or os.devnull
    status = 1
    # The bridge's stderr: GDB's own goes to /dev/null while it connects (_quiet), so the bridge writes to
    # this unlinked file (reopened through /proc: GDB closes inherited descriptors in the pipe's child).
    bridge_errors = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as GDB
    try:
        for setting in ("confirm off", "pagination off", "width 0", "height 0", "print pretty off"):
            gdb.execute(f"set {setting}", to_string=True)
        vmlinux = Vmlinux(settings["vmlinux"], settings["offset"])
        load_vmlinux(vmlinux)
        with _quiet(hidden):  # GDB reports the first stop ("0x... in ?? ()") outside what to_string captures
            if settings["bridge"]:
                errors = f"/proc/{os.getpid()}/fd/{bridge_errors.fileno()}"
                try:
                    gdb.execute(f"target remote | {settings['bridge']} 2>>{errors}", to_string=True)
                except gdb.error as e:
                    raise gdb.error(_last_line(bridge_errors) or str(e)) from None
            else:
                gdb.execute(f"core-file {gdb_quote(os.path.abspath(settings['vmcore']))}", to_string=True)
        command.state.vmlinux = settings["vmlinux"]
        command.state.dump = settings["vmcore"]
        session = command.session()
        if not _matches(session.target, vmlinux):
            raise mismatch(settings["vmlinux"], settings["vmcore"])
        args = argparse.Namespace(silent=settings["silent"], input_file=settings["input_file"])
        if not args.silent:
            sys.stdout.write(prompt.banner(session, f"GDB {gdb.VERSION}"))
        status = prompt.run(session, args)
        command.save_layouts(session)
    except (TargetError, OpenError, gdb.error) as e:
        sys.stderr.write(f"{prompt.PROG}: {e}\n")
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    except Exception as e:  # never a silent end: one line, a traceback only with CRASHCOMPAT_DEBUG=1
        if debug_enabled():
            traceback.print_exc()
        sys.stderr.write(f"{prompt.PROG}: internal error: {type(e).__name__}: {e}\n")
    finally:
        sys.stdout.flush()
        bridge_errors.close()
        if hidden != os.devnull:
            with contextlib.suppress(OSError):
                os.unlink(hidden)  # the session ended in order (main reports GDB's failures otherwise)
        with _quiet():  # and "[Inferior 1 (Remote target) detached]" as it quits
            gdb.execute(f"quit {status}")


def _last_line(file: IO[bytes]) -> str:
    """The last line the bridge wrote to *file*, without its program name (crashcompat's own prefixes
    the message)."""
    file.seek(0)
    lines = [line.strip() for line in file.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].removeprefix("crashcompat-gdbserver: ") if lines else ""


@contextlib.contextmanager
def _quiet(into: str = os.devnull) -> Iterator[None]:
    """Send what GDB itself prints (file descriptors 1 and 2) to the file *into* for the duration."""
    import gdb

    gdb.flush()
    sys.stdout.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(into, os.O_WRONLY | os.O_APPEND)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        gdb.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _matches(target: Target, vmlinux: Vmlinux) -> bool:
    """crash's ``verify_version()``: the dump holds the vmlinux's ``linux_banner`` where it says."""
    from crashcompat.core.target import TargetError

    facts = vmlinux.facts
    try:
        banner: bytes | None = target.read(facts.banner_address + vmlinux.offset, len(facts.banner))
    except TargetError:
        banner = None
    return verify_version(banner, vmlinux=facts.banner)
