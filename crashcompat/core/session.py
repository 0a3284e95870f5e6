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

import io
import os
import shlex
import subprocess
import sys
import traceback
from typing import IO, Any

from crashcompat.core.command import Command, CommandArgumentError, CommandContext, CommandError, GetoptError
from crashcompat.core.kernel import Kernel
from crashcompat.core.plugins import PluginHost
from crashcompat.core.target import FaultError, Target, TargetError


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
        self._register_commands()
        host.hooks.session_opened(self)
        self.warnings += [w for w in host.warnings if w not in self.warnings]

    # ---- registry -----------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        for plugin_name, cmd in self.host.hooks.commands():
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

    # ---- running lines ------------------------------------------------------------------------------------

    def run(self, line: str, echo: bool = True) -> str:
        """Run one crash command line; return the text the command produced.

        With *echo* (the default) the text is also written to :attr:`out` unless the line redirects or
        pipes it.  Raises :class:`SessionExit` for ``q``/``exit``.
        """
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
            try:
                with open(os.path.expanduser(redirect), mode, encoding="utf-8") as f:
                    f.write(text)
            except OSError as e:
                self.out.write(f"crash: cannot open {redirect}: {e.strerror}\n")
            return text
        if echo and text:
            self.out.write(text)
            self.out.flush()
        return text

    def run_argv(self, name: str, argv: list[str], out: IO[str]) -> None:
        """Run command *name* with already-split *argv*, writing to *out* (errors included)."""
        cmd = self.lookup(name)
        if cmd is None:
            out.write(f"crash: command not found: {name}\n")
            return
        try:
            if self.target.live and "live" not in cmd.targets:
                raise CommandError("not supported on a live target")
            if not self.target.live and "dump" not in cmd.targets:
                raise CommandError("only supported on a live target")
            args = cmd.parse(argv)
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
            out.write("\n")
        except Exception as e:
            if debug_enabled():
                traceback.print_exc(file=out)
            out.write(f"{cmd.name}: internal error: {type(e).__name__}: {e}\n")
            if not debug_enabled():
                out.write("        (set CRASHCOMPAT_DEBUG=1 for a traceback)\n")

    def _dispatch(self, command_part: str, out: IO[str]) -> None:
        try:
            argv = split_arguments(command_part)
        except ValueError as e:
            out.write(f"crash: {e}\n")
            return
        if not argv:
            return
        self.run_argv(argv[0], argv[1:], out)

    def _shell(self, command: str, stdin_text: str | None, echo: bool) -> str:
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", command],
                input=stdin_text if stdin_text is not None else None,
                stdin=None if stdin_text is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
        except KeyboardInterrupt:
            return ""
        except OSError as e:
            self.out.write(f"crash: {e}\n")
            return ""
        text = proc.stdout + proc.stderr
        if echo and text:
            self.out.write(text)
            self.out.flush()
        return text


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
    ``>`` or ``>>`` names the output file.
    """
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
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
