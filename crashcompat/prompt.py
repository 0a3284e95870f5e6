"""crash's front door, shared by every frontend that behaves like the ``crash`` program: its command line
(options; the vmlinux and the dump in either order) and its prompt loop (the banner, ``crash>``, ``-i``
files, commands on stdin, the exit status).

The ``crashcompat`` program (:mod:`crashcompat.cli`, on drgn) and the GDB launcher
(:mod:`crashcompat.gdb.launcher`, inside GDB) both use it; it imports only the standard library and
core, so neither frontend imports the other and GDB's side never reaches drgn through it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import IO, NoReturn

from crashcompat import __version__
from crashcompat.core.session import Session, SessionExit, debug_enabled, write_text

__all__ = [
    "HISTORY_FILE",
    "LICENSE",
    "PROG",
    "PROMPT",
    "USAGE",
    "EndOfInput",
    "UsageError",
    "banner",
    "build_parser",
    "classify_files",
    "command_lines",
    "report_internal_error",
    "run",
]

PROG = "crashcompat"
PROMPT = "crash> "
HISTORY_FILE = "~/.crashcompat_history"

USAGE = f"""\

Usage:

  {PROG} [OPTION]... VMLINUX VMCORE   (dumpfile form)
  {PROG} [OPTION]... [VMLINUX]        (live system form)

Enter "{PROG} -h" for details.
"""

LICENSE = """\
This program is free software, covered by the GNU General Public License,
and you are welcome to change it and/or distribute copies of it under
certain conditions.  crash's commands are reproduced in crash's formats;
this program has absolutely no warranty.
 """


class UsageError(Exception):
    """Bad command line; printed as ``crashcompat: <message>`` followed by the short usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="crash's commands, in crash's output formats, on drgn or GDB.",
        epilog=f"Subcommands: '{PROG} dmesg VMCORE [VMLINUX]' prints the kernel log; "
        f"'{PROG} gdb-script' prints the path of the GDB loader script.",
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="VMLINUX and VMCORE, in either order")
    parser.add_argument("-s", dest="silent", action="store_true", help="silently proceed to the prompt")
    parser.add_argument("-i", dest="input_file", metavar="FILE", help="run the commands in FILE first")
    parser.add_argument(
        "--backend", choices=("drgn", "gdb"), default="drgn", help="what reads the kernel (default: drgn)"
    )
    parser.add_argument("-k", "--live", action="store_true", help="examine the running kernel (/proc/kcore)")
    parser.add_argument("--qemu", metavar="QMP", help="examine a running QEMU guest through its QMP socket")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    return parser


def classify_files(files: Iterable[str]) -> tuple[str | None, str | None]:
    """(vmlinux, vmcore) from the file arguments in any order, told apart by content as crash does:
    an ELF executable is the kernel, a dump (ELF core, kdump-compressed, flattened) the memory image.

    :raises UsageError: a file is missing, unsupported, or one kind is given twice.
    """
    from crashcompat.core.dumpfile import detect_format, is_elf_executable
    from crashcompat.core.target import DumpFormat

    vmlinux = vmcore = None
    for path in files:
        if not os.path.exists(path):
            raise UsageError(f"{path}: No such file or directory")
        if os.path.isdir(path):
            raise UsageError(f"{path}: not a supported file format")
        if is_elf_executable(path):
            if vmlinux is not None:
                raise UsageError("too many namelist arguments")
            vmlinux = path
            continue
        try:
            fmt = detect_format(path)
        except OSError as e:
            raise UsageError(f"{path}: {e.strerror}") from None
        if fmt is DumpFormat.UNKNOWN:
            raise UsageError(f"{path}: not a supported file format")
        if vmcore is not None:
            raise UsageError("too many dumpfile arguments")
        vmcore = path
    return vmlinux, vmcore


def banner(session: Session, engine: str) -> str:
    """crash's start-up text: program and version, the licence lines, a blank line (where crash has
    GDB's banner), then the ``sys`` block and the current context (``set``; indented by 5 at start-up, crash's ``show_context()``) when those commands
    exist, and a blank line.

    :param engine: what runs the commands (``"drgn 0.0.33"``, ``"GDB 13.1"``).
    """
    text = f"\n{PROG} {__version__}  (crash commands on {engine})\n{LICENSE}\n\n"
    if session.lookup("sys") is not None:
        text += session.run("sys", echo=False)
    if session.lookup("set") is not None:
        text += "".join(f"     {line}\n" for line in session.run("set", echo=False).splitlines())
    return text + "\n"


def command_lines(args: argparse.Namespace, stdin: IO[str]) -> Iterator[str]:
    """The lines to run: ``-i FILE`` first (echoed after the prompt unless ``-s``, as crash does), then
    stdin (read with the prompt and history on a terminal).  Bytes that are not UTF-8 come as surrogate
    escapes (:pep:`383`), so they reach a shell escape or a file name unchanged."""
    if args.input_file:
        with open(args.input_file, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    if not args.silent:
                        write_text(sys.stdout, f"{PROMPT}{line}\n")
                    yield line
    if stdin.isatty():
        yield from _terminal_lines()
        return
    buffer: IO[bytes] | None = getattr(stdin, "buffer", None)
    while True:
        if not args.silent:
            write_text(sys.stdout, PROMPT)
        line = (
            buffer.readline().decode("utf-8", "surrogateescape") if buffer is not None else stdin.readline()
        )
        if not line:
            raise EndOfInput
        yield line


class EndOfInput(Exception):
    """A non-terminal stdin ended: crash exits with status 1."""


def _terminal_lines() -> Iterator[str]:
    """Lines typed at the ``crash>`` prompt; Ctrl-C clears the line, Ctrl-D ends the session."""
    read = input if _real_stdout() else _read_line
    if read is input:
        _setup_readline()
    while True:
        try:
            yield read(PROMPT)
        except KeyboardInterrupt:
            write_text(sys.stdout, "\n")
        except EOFError:
            sys.stdout.write("\n")
            return


def _real_stdout() -> bool:
    """Whether ``sys.stdout`` is a file on a terminal, so ``input()`` edits the line with readline.

    Inside GDB it is GDB's pager instead: ``input()`` then reads with a plain ``read(2)`` that GDB's
    SIGINT handler restarts, and a Ctrl-C would only be noticed after the next line (and lose it)."""
    try:
        return os.isatty(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _read_line(prompt: str) -> str:
    """``input()`` for a terminal that readline cannot drive (the kernel's line editing only): waits in
    ``select(2)``, which a signal always interrupts, so Ctrl-C raises :class:`KeyboardInterrupt` at once.

    :raises EOFError: Ctrl-D on an empty line.
    """
    write_text(sys.stdout, prompt)
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([sys.stdin.fileno()], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            if data:
                break
            raise EOFError
        data += chunk
    return data.decode("utf-8", "surrogateescape").rstrip("\n")


_completion_names: list[str] = []


def _setup_readline() -> None:
    try:
        import readline
    except ImportError:
        return
    import atexit

    history = os.path.expanduser(HISTORY_FILE)
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    atexit.register(_save_history, readline.write_history_file, history)

    def complete(text: str, state: int) -> str | None:
        if readline.get_begidx() != 0:  # only the command name is completed
            return None
        matches = [name for name in _completion_names if name.startswith(text)]
        return matches[state] + " " if state < len(matches) else None

    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")


def _save_history(write: Callable[[str], None], path: str) -> None:
    with contextlib.suppress(OSError):
        write(path)


def run(session: Session, args: argparse.Namespace, stdin: IO[str] | None = None) -> int:
    """Run the session's command loop; returns the exit status (0 after ``q``, 1 at the end of a
    non-terminal stdin, as crash).

    Ctrl-C ends the running command and the prompt comes back; while commands come from a pipe or a
    file, it ends the session quietly with status 1 (crash's behaviour).  An unexpected error in one line
    is one ``crash: internal error: ...`` line (a traceback with ``CRASHCOMPAT_DEBUG=1``) and the session
    goes on.
    """
    _completion_names[:] = sorted({*session.commands, *session.aliases})
    stdin = stdin or sys.stdin
    interactive = stdin.isatty()
    try:
        for line in command_lines(args, stdin):
            try:
                session.run(line)
                if session.interrupted and not interactive:
                    return 1
            except KeyboardInterrupt:
                if not interactive:
                    return 1
                write_text(sys.stdout, "\n")
            except SessionExit:
                raise
            except Exception as e:
                report_internal_error(e)
        return 0
    except SessionExit:
        return 0
    except (EndOfInput, KeyboardInterrupt):
        return 1
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # whoever read our output went away: say nothing more
            _silence_stdout()
        session.close()


def report_internal_error(e: BaseException) -> None:
    """One crash-style line for an error no command handled (a traceback with ``CRASHCOMPAT_DEBUG=1``)."""
    if debug_enabled():
        traceback.print_exc()
    write_text(sys.stdout, f"crash: internal error: {type(e).__name__}: {e}\n")


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so the interpreter's last flush has nowhere to fail."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
