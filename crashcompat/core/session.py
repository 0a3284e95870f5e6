"""A session: one target, the command registry, crash's line syntax, settings and context.

Every frontend (the ``crashcompat`` prompt, drgn's ``crash.bt()``, GDB's ``crash bt``) hands lines to
:meth:`Session.run`, which understands crash's line syntax:

- ``cmd args | shell pipeline`` — the command's output is piped through ``/bin/sh -c pipeline``;
- ``cmd args > file`` and ``cmd args >> file`` — written or appended to *file*;
- ``!shell command`` — runs a shell command.

Errors are crash-style lines (``kmem: invalid address: …``); a Python traceback appears only with
``CRASHCOMPAT_DEBUG=1``.  Ctrl-C stops the command, not the session.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
import time
import traceback
from typing import IO, Any

from crashcompat.core.command import Command, CommandArgumentError, CommandContext, CommandError, GetoptError
from crashcompat.core.kernel import Kernel
from crashcompat.core.plugins import PluginHost
from crashcompat.core.target import FaultError, Target, TargetError

#: Seconds between two progress lines of a long read on a slow link (:meth:`Session._progress`).
PROGRESS_INTERVAL = 5.0


def debug_enabled() -> bool:
    return os.environ.get("CRASHCOMPAT_DEBUG", "") not in ("", "0")


class SessionExit(Exception):
    """Raised by ``q``/``exit``: the frontend ends the session."""


class Session:
    """One open kernel and everything crash keeps per session.

    :param target: the backend's Target.
    :param host: a loaded :class:`PluginHost` (a default one is loaded when omitted).
    :param out: where output goes when a line is not redirected (default ``sys.stdout``, looked up at
        write time so frontends that swap stdout keep working).
    """

    def __init__(
        self,
        target: Target,
        host: PluginHost | None = None,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.target = target
        self.kernel = Kernel(target)
        if host is None:
            host = PluginHost()
            host.load()
        self.host = host
        self._out = out
        self._err = err
        #: Output radix of ``set radix``/``hex``/``dec``: 10 (crash's default) or 16.
        self.radix = 10
        #: The task (``struct task_struct *``) commands default to; ``None`` means crash's default context.
        self.context_task: int | None = None
        #: Free-form per-plugin state: ``session.plugin_state["myplugin"]``.
        self.plugin_state: dict[str, Any] = {}
        #: Settings shown by ``set`` (name → value), beyond radix and context.
        self.settings: dict[str, str] = {"scroll": "off"}
        self.commands: dict[str, Command] = {}
        self.aliases: dict[str, str] = {}
        self.warnings: list[str] = [*target.info.warnings, *host.warnings]
        #: Whether Ctrl-C ended the last line :meth:`run` ran.
        self.interrupted = False
        #: The command running now (for progress lines) and when it last showed progress.
        self._running: str | None = None
        self._progress_at = 0.0
        self._progress_shown = False
        self.kernel.progress = self._progress
        self._register_commands()
        host.hooks.session_opened(self)
        self.warnings += [w for w in host.warnings if w not in self.warnings]

    # ---- registry -----------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        """Register every plugin's commands.  One rule settles a name two plugins provide: the plugin
        loaded first keeps it (installed entry points, then ``CRASHCOMPAT_PLUGINS``, then plugins an
        embedding program hands over), and the later one's command is skipped with a warning."""
        order = {name: i for i, name in enumerate(self.host.records)}
        provided = sorted(self.host.hooks.commands(), key=lambda item: order.get(item[0], len(order)))
        for plugin_name, cmd in provided:
            if not isinstance(cmd, Command):
                self.host.fail(plugin_name, f"crashcompat_commands returned {cmd!r}, not a Command")
                continue
            if cmd.name in self.commands:
                owner = self.commands[cmd.name].plugin
                self.warnings.append(
                    f"WARNING: plugin {plugin_name}: command {cmd.name} already provided by {owner} (skipped)"
                )
                continue
            cmd.plugin = plugin_name
            self.commands[cmd.name] = cmd
            record = self.host.records.get(plugin_name)
            if record is not None:
                record.commands.append(cmd.name)
            for alias in cmd.aliases:
                self.aliases.setdefault(alias, cmd.name)

    def lookup(self, name: str) -> Command | None:
        return self.commands.get(name) or self.commands.get(self.aliases.get(name, ""))

    # ---- output -------------------------------------------------------------------------------------------

    @property
    def out(self) -> IO[str]:
        return self._out if self._out is not None else sys.stdout

    @property
    def err(self) -> IO[str]:
        """Where getopt-style complaints go (crash prints them on stderr)."""
        return self._err if self._err is not None else sys.stderr

    # ---- context ------------------------------------------------------------------------------------------

    def current_task(self) -> int:
        """The ``struct task_struct *`` of the current context: ``set`` task, else crash's default (the
        panic task of a dump, or the task on the stopped CPU of a live target)."""
        if self.context_task is None:
            from crashcompat.core.kernel import tasks

            self.context_task = tasks.default_context(self.kernel)
        return self.context_task

    def resumed(self) -> None:
        """A live target ran: drop caches (kernel model and plugins)."""
        self.kernel.invalidate()
        self.context_task = None
        self.host.hooks.target_resumed(self)

    def close(self) -> None:
        self.host.hooks.session_closed(self)

    def _progress(self, what: str, done: int, total: int) -> None:
        """Show on stderr how a long read goes, on a slow link only (a line every
        :data:`PROGRESS_INTERVAL` seconds, the first after one interval), for the command running now."""
        if not self.target.sparse_reads or not total:
            return
        now = time.monotonic()
        if not self._progress_at:  # the first report starts the clock
            self._progress_at, self._progress_shown = now, False
            return
        due = now - self._progress_at >= PROGRESS_INTERVAL
        if not due and not (done >= total and self._progress_shown):  # the end, once it was shown
            return
        self._progress_at, self._progress_shown = now, True
        name = self._running or "crash"
        self.err.write(
            f"{name}: read {done >> 10} of {total >> 10} KiB of {what} ({100 * done // total}%; Ctrl-C stops)\n"
        )
        self.err.flush()

    # ---- running lines ------------------------------------------------------------------------------------

    def run(self, line: str, echo: bool = True) -> str:
        """Run one crash command line; return the text the command produced.

        With *echo* (the default) the text is also written to :attr:`out` unless the line redirects or
        pipes it.  Raises :class:`SessionExit` for ``q``/``exit``.  Bytes that are not UTF-8 travel as
        the surrogate escapes of :pep:`383` (``errors="surrogateescape"``) and leave as the same bytes.
        """
        self.interrupted = False
        line = line.strip()
        if not line or line.startswith("#"):
            return ""
        if line.startswith("!"):
            return self._shell(line[1:].strip(), None, echo)
        command_part, pipe, redirect, mode = split_line(line)
        buffer = io.StringIO()
        self._dispatch(command_part, buffer)
        text = buffer.getvalue()
        if pipe is not None:
            return self._shell(pipe, text, echo)
        if redirect is not None:
            self._redirect(text, redirect, mode)
            return text
        if echo and text:
            self._emit(text)
        return text

    def _redirect(self, text: str, name: str, mode: str) -> None:
        """Write *text* to the file *name* (``>``: *mode* ``"w"``; ``>>``: ``"a"``); a failure is one line."""
        if "\0" in name:
            self._emit("crash: NUL character in file name\n")
            return
        path = os.path.expanduser(name)
        try:
            f = open(path, mode, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115 (two errors)
        except OSError as e:
            self._emit(f"crash: cannot open {name}: {e.strerror}\n")
            return
        try:
            with f:
                f.write(text)
        except OSError as e:
            self._emit(f"crash: write error: {name}: {e.strerror}\n")

    def _emit(self, text: str) -> None:
        """Write *text* to :attr:`out` and flush; see :func:`write_text`."""
        write_text(self.out, text)

    def run_argv(self, name: str, argv: list[str], out: IO[str]) -> None:
        """Run command *name* with already-split *argv*, writing to *out* (errors included)."""
        cmd = self.lookup(name)
        if cmd is None:
            out.write(f"crash: command not found: {name}\n")
            return
        self._running, self._progress_at = cmd.name, 0.0
        try:
            if self.target.live and "live" not in cmd.targets:
                raise CommandError("not supported on a live target")
            if not self.target.live and "dump" not in cmd.targets:
                raise CommandError("only supported on a live target")
            args = cmd.parse(argv)
            with contextlib.redirect_stdout(out):  # a plugin's print() follows the line's | and >
                cmd.handler(CommandContext(self, cmd.name, argv, args, out))
        except SessionExit:
            raise
        except GetoptError as e:  # like getopt(3): the complaint on stderr, the usage on stdout
            self.err.write(f"{cmd.name}: {e}\n")
            self.err.flush()
            out.write(cmd.usage_text())
        except CommandArgumentError as e:
            out.write(f"{cmd.name}: {e}\n")
            out.write(cmd.usage_text())
        except CommandError as e:
            out.write(f"{cmd.name}: {e}\n")
        except FaultError as e:
            out.write(f"{cmd.name}: {_fault_text(e)}\n")
        except TargetError as e:
            out.write(f"{cmd.name}: {e}\n")
        except KeyboardInterrupt:
            self.interrupted = True
            out.write("\n")
        except SystemExit as e:  # sys.exit() in a command ends the command, never the session
            out.write(f"{cmd.name}: internal error: SystemExit: {e.code}\n")
        except Exception as e:
            if debug_enabled():
                traceback.print_exc(file=out)
            out.write(f"{cmd.name}: internal error: {type(e).__name__}: {e}\n")
            if not debug_enabled():
                out.write("        (set CRASHCOMPAT_DEBUG=1 for a traceback)\n")
        for warning in self.kernel.take_warnings():
            out.write(f"WARNING: {warning}\n")

    def _dispatch(self, command_part: str, out: IO[str]) -> None:
        try:
            argv = split_arguments(command_part)
        except ValueError as e:
            out.write(f"crash: {e}\n")
            return
        if not argv:
            return
        name, rest = argv[0], argv[1:]
        if self.lookup(name) is None:
            if name.startswith("*") and len(name) > 1 and self.lookup("*") is not None:
                name, rest = "*", [name[1:], *rest]  # crash reads "*name" as the "*" command
            elif "/" in name and self.lookup(name.split("/", 1)[0]) is not None:
                name, fmt = name.split("/", 1)  # GDB's print format: "p/x jiffies"
                rest = [f"/{fmt}", *rest]
        self.run_argv(name, rest, out)

    def _shell(self, command: str, stdin_text: str | None, echo: bool) -> str:
        """Run *command* with ``/bin/sh -c`` (fed *stdin_text*, the output of a piped command); its
        output and errors, byte for byte, are the text returned (and written with *echo*)."""
        if "\0" in command:
            self._emit("crash: NUL character in shell command\n")
            return ""
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", command],
                input=stdin_text.encode("utf-8", "surrogateescape") if stdin_text is not None else None,
                stdin=None if stdin_text is not None else subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except KeyboardInterrupt:
            self.interrupted = True
            if echo:
                self._emit("\n")
            return ""
        except (OSError, ValueError) as e:
            self._emit(f"crash: {e}\n")
            return ""
        text = (proc.stdout + proc.stderr).decode("utf-8", "surrogateescape")
        if echo and text:
            self._emit(text)
        return text


def write_text(stream: IO[str], text: str) -> None:
    """Write *text* to *stream* and flush it.

    Surrogate escapes (bytes that were not UTF-8 on the way in) go out as the original bytes: through the
    stream's binary buffer when it has one, else with each such byte shown as ``\\xNN``.  A reader that
    went away (a closed pipe) ends the writing quietly.
    """
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is not None and _has_surrogates(text):
            stream.flush()
            buffer.write(text.encode(getattr(stream, "encoding", None) or "utf-8", "surrogateescape"))
            buffer.flush()
        else:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
        stream.flush()
    except BrokenPipeError:
        pass


def _has_surrogates(text: str) -> bool:
    """Whether *text* holds surrogate escapes (bytes that were not UTF-8)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def split_arguments(text: str) -> list[str]:
    """Split a command's arguments as crash does: whitespace separates, double quotes group and are removed,
    single quotes group and are *kept* (crash marks a regular expression with them: ``ps 'fix.*'``)."""
    lexer = shlex.shlex(text, posix=False)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return [tok[1:-1] if len(tok) >= 2 and tok[0] == tok[-1] == '"' else tok for tok in lexer]


def split_line(line: str) -> tuple[str, str | None, str | None, str]:
    """Split crash's line syntax: ``(command, pipe, redirect_file, open_mode)``.

    The first unquoted ``|`` starts a shell pipeline (which may itself redirect); otherwise an unquoted
    ``>`` or ``>>`` names the output file.  As in crash, neither counts inside parentheses, nor ``>`` in
    C's ``->``.
    """
    quote = ""
    depth = 0  # crash leaves | and > inside parentheses alone: "p (a > b)"
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth or (ch == ">" and line[i - 1 : i] == "-"):  # "->" is C's member operator
            continue
        elif ch == "|":
            return line[:i].strip(), line[i + 1 :].strip(), None, "w"
        elif ch == ">":
            mode = "a" if line[i + 1 : i + 2] == ">" else "w"
            target = line[i + (2 if mode == "a" else 1) :].strip()
            return line[:i].strip(), None, target or None, mode
    return line, None, None, "w"


def _fault_text(e: FaultError) -> str:
    kind = "physical" if e.physical else "kernel virtual"
    return f'invalid {kind} address: {e.address:x}  type: "{e.reason or "memory read"}"'
