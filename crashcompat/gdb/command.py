"""The ``crash`` prefix command: crash's command set inside GDB, one session per kernel GDB looks at.

``crash bt -a`` runs crash's ``bt -a`` through :meth:`Session.run`, so crash's line syntax works
(``crash log | tail``, ``crash ps > ps.txt``, ``crash !date``); GDB's own ``pipe`` works too, since
output goes through ``gdb.write`` and GDB's pager.  Every registered command is also a GDB subcommand
(``crash bt``) whose GDB help is the command's own help page, with completion of its options.  Errors
are crash-style lines, never a Python traceback (``CRASHCOMPAT_DEBUG=1`` adds one).

The session is made on first use from what GDB is connected to (:func:`crashcompat.gdb.target.attach`)
and remade when that changes; when a live target resumes, the session drops its caches.
``set crash-aliases on`` adds the bare command names GDB does not use itself.
"""

from __future__ import annotations

import io
import os
import traceback
from typing import IO, Any, cast

import gdb

from crashcompat.core.command import Command
from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session, SessionExit, debug_enabled
from crashcompat.core.target import TargetError
from crashcompat.gdb.target import GdbTarget, attach, loaded_vmlinux, thread_cpu

__all__ = ["GdbOutput", "State", "register", "run", "session", "state"]

#: GDB abbreviations crash-aliases never shadows, though GDB's completion does not list them.
RESERVED = frozenset({"p", "bt", "dis", "list", "set", "search", "i", "x", "f", "s", "n", "c", "q"})


class GdbOutput(io.TextIOBase):
    """A text stream onto ``gdb.write``: GDB's pager, ``pipe``, logging and ``to_string`` captures see
    the output even when ``sys.stdout`` was replaced (pytest's capture, a user's redirect).

    :param stream: ``gdb.STDOUT`` or ``gdb.STDERR``.
    """

    def __init__(self, stream: int = gdb.STDOUT) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            gdb.write(text, self.stream)
        except UnicodeEncodeError:  # surrogate escapes: bytes that were not UTF-8 leave as those bytes
            gdb.flush()
            os.write(2 if self.stream == gdb.STDERR else 1, text.encode("utf-8", "surrogateescape"))
        return len(text)

    def flush(self) -> None:
        gdb.flush()


class State:
    """What the ``crash`` command keeps in this GDB: the plugin host, the session and what it is on."""

    def __init__(self) -> None:
        self.host: PluginHost | None = None
        self.session: Session | None = None
        #: (inferior, connection) numbers the session was made for.
        self.key: tuple[int, int] | None = None
        #: The debug vmlinux and the dump as the user named them (the launcher sets them; ``sys`` shows them).
        self.vmlinux: str | None = None
        self.dump: str | None = None
        self.attaching = False
        self.aliases: dict[str, gdb.Command] = {}
        #: Connections :func:`_auto_attach` tried already (one attempt each).
        self.tried: set[tuple[int, int]] = set()

    def plugin_host(self) -> PluginHost:
        if self.host is None:
            self.host = PluginHost()
            self.host.load()
        return self.host

    def drop(self) -> None:
        """Forget the session (GDB now looks at something else)."""
        if self.session is not None and not self.attaching:
            session, self.session, self.key = self.session, None, None
            session.close()


state = State()


def _connection_key() -> tuple[int, int] | None:
    inferior = gdb.selected_inferior()
    connection = inferior.connection
    return (inferior.num, connection.num) if connection is not None else None


def session() -> Session:
    """The session on what GDB is connected to now (made, or remade, on demand).

    :raises TargetError: nothing to examine or no vmlinux (the message says what to do).
    """
    key = _connection_key()
    if state.session is not None and key == state.key:
        return state.session
    state.drop()
    state.attaching = True
    try:
        target = attach(state.vmlinux, state.dump)
    finally:
        state.attaching = False
    out, err = (cast(IO[str], GdbOutput(stream)) for stream in (gdb.STDOUT, gdb.STDERR))
    state.session = Session(target, state.plugin_host(), out=out, err=err)
    state.key = _connection_key()
    for warning in state.session.warnings:
        gdb.write(warning + "\n", gdb.STDERR)
    return state.session


def run(line: str) -> None:
    """Run one crash command line in the current session, as ``crash <line>`` does."""
    try:
        current = session()
    except TargetError as e:
        raise gdb.GdbError(f"crash: {e}") from None
    try:
        current.run(line)
    except SessionExit:
        gdb.write('crash: "quit" leaves GDB; crash\'s session stays open\n')
    except KeyboardInterrupt:
        gdb.write("\n")
    except gdb.GdbError:
        raise
    except Exception as e:  # the session reports command failures itself; this is a frontend bug
        if debug_enabled():
            traceback.print_exc()
        raise gdb.GdbError(f"crash: internal error: {type(e).__name__}: {e}") from None
    finally:
        save_layouts(current)


def save_layouts(current: Session) -> None:
    """Keep the type layouts the session's commands looked up for the next session (:class:`LayoutCache`)."""
    target = current.target
    if isinstance(target, GdbTarget) and target.layouts is not None:
        target.layouts.save()


# ---- completion -----------------------------------------------------------------------------------------------


def complete_options(spec: Command, text: str, word: str | None) -> Any:
    """Completions for ``crash <name> ...``: the command's options after a ``-``, else symbols.

    GDB first asks with *word* ``None`` (to learn how to split words) and treats ``-`` as a word break,
    so a completion is returned relative to *word*: ``-`` typed, ``a`` returned, ``-a`` shown.
    """
    if word is None:
        return None
    token = text.split(" ")[-1] if text and not text.endswith(" ") else ""
    if token.startswith("-"):
        typed = len(token) - len(word)
        return [flag[typed:] for flag in spec.option_flags() if flag.startswith(token)]
    return gdb.COMPLETE_SYMBOL


# ---- commands ---------------------------------------------------------------------------------------------------


class CrashCommand(gdb.Command):
    """Run crash's commands: crash COMMAND [ARGS] (help crash COMMAND for one command's page).

    crash's line syntax works: "crash log | tail", "crash ps > ps.txt", "crash !date".
    With no arguments, lists the commands.  "set crash-aliases on" also registers the bare names
    of the commands GDB does not have (kmem, ps, ...).
    """

    def __init__(self) -> None:
        super().__init__("crash", gdb.COMMAND_USER, gdb.COMPLETE_NONE, True)

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        run(argument.strip() or "help")


class CrashSubcommand(gdb.Command):
    """One crash command as ``crash <name>`` (its GDB help is the command's help page)."""

    def __init__(self, spec: Command, prefix: str = "crash ") -> None:
        self.spec = spec
        self.alias = not prefix
        self.__doc__ = f"{spec.summary}\n{spec.help_text()}"
        super().__init__(prefix + spec.name, gdb.COMMAND_USER)

    def invoke(self, argument: str, from_tty: bool) -> None:
        self.dont_repeat()
        if self.alias and not gdb.parameter("crash-aliases"):
            raise gdb.GdbError(f'{self.spec.name}: crash aliases are off; use "crash {self.spec.name}"')
        run(f"{self.spec.name} {argument}".strip())

    def complete(self, text: str, word: str | None) -> Any:
        return complete_options(self.spec, text, word)


class AliasesParameter(gdb.Parameter):
    """Whether crash's commands are also GDB commands of their own (kmem, ps ...), for the names GDB
    does not use; GDB's own commands (bt, p, dis ...) are never replaced."""

    set_doc = "Set whether crash's commands are also available without the crash prefix."
    show_doc = "Show whether crash's commands are available without the crash prefix."

    def __init__(self) -> None:
        super().__init__("crash-aliases", gdb.COMMAND_SUPPORT, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self) -> str:
        if not self.value:
            return "crash aliases are off (the names stay registered but refuse to run)"
        added = add_aliases()
        return f"crash aliases on: {' '.join(added)}" if added else "crash aliases on"

    def get_show_string(self, svalue: str) -> str:
        return f"crash aliases are {svalue}"


def gdb_has_command(name: str) -> bool:
    """Whether GDB already has a command (or alias) spelled exactly *name*."""
    if name in RESERVED:
        return True
    try:
        listed = str(gdb.execute(f"complete {name}", to_string=True)).split()
    except gdb.error:
        return False
    return name in listed


def add_aliases() -> list[str]:
    """Register ``<name>`` for every crash command GDB has no command of that name for."""
    added = []
    for spec in _specs():
        name = spec.name
        if name in state.aliases or not _valid_name(name) or gdb_has_command(name):
            continue
        state.aliases[name] = CrashSubcommand(spec, prefix="")
        added.append(name)
    return added


def _valid_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "-_." for c in name) and name[0].isalpha()


def _specs() -> list[Command]:
    """Every command the plugins provide (without a session: the registry is the plugin host's)."""
    return [spec for _, spec in state.plugin_host().hooks.commands() if isinstance(spec, Command)]


_registered = False


def register() -> None:
    """Register ``crash``, its subcommands, ``crash-aliases`` and the event handlers (once per GDB)."""
    global _registered
    if _registered:
        return
    _registered = True
    CrashCommand()
    seen = set()
    for spec in _specs():
        if spec.name not in seen and _valid_name(spec.name):
            seen.add(spec.name)
            CrashSubcommand(spec)
    AliasesParameter()
    gdb.events.before_prompt.connect(_auto_attach)
    gdb.events.cont.connect(_on_cont)
    gdb.events.stop.connect(_on_stop)
    gdb.events.exited.connect(lambda _event: state.drop())
    gdb.events.clear_objfiles.connect(lambda _event: state.drop())
    connection_removed = getattr(gdb.events, "connection_removed", None)
    if connection_removed is not None:
        connection_removed.connect(lambda _event: state.drop())


def _auto_attach(*_: object) -> None:
    """Before GDB's prompt, once per new core file or connection: attach, so the vmlinux's symbols move
    to the kernel's KASLR offset before the user's first ``bt`` or ``print``."""
    key = _connection_key()
    if key is None or key == state.key or key in state.tried or state.attaching:
        return
    state.tried.add(key)
    if state.vmlinux is None and loaded_vmlinux() is None:
        return
    try:
        target = session().target
    except (TargetError, gdb.error) as e:
        gdb.write(f"crashcompat: {e}\n", gdb.STDERR)
        return
    if isinstance(target, GdbTarget):
        gdb.write(
            f'crashcompat: {target.kind} target, kernel KASLR offset {target.vmlinux.offset:#x}; "help crash" '
            "lists crash's commands\n"
        )


def _on_cont(_event: Any) -> None:
    """The kernel runs again: what the session cached is stale."""
    if state.session is not None and state.session.target.live:
        state.session.resumed()


def _on_stop(event: Any) -> None:
    current = state.session
    if current is not None and isinstance(current.target, GdbTarget) and current.target.live:
        thread = getattr(event, "inferior_thread", None) or gdb.selected_thread()
        current.target.stopped_cpu = thread_cpu(current.target.kind, thread)
