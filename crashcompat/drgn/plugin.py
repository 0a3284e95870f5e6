"""The drgn plugin (entry point ``crashcompat`` in group ``drgn.plugins``): crash's commands inside drgn.

In ``drgn -c vmcore -s vmlinux`` (the REPL, ``-e`` code and scripts alike)::

    >>> crash.bt()                      # prints crash's bt output once and returns it as a str
    >>> crash.bt("-a")                  # arguments are joined into the command line: "bt -a"
    >>> crash("log -m | tail -3")       # any crash line: pipes, > file, >> file
    >>> %cc kmem -i                     # the same as a drgn command (drgn has %crash for its own ports)

drgn calls :func:`drgn_prog_set` when a program gets its core dump or kernel; it binds the builtin name
``crash`` to a :class:`Crash` on that program (``CRASHCOMPAT_DRGN_BUILTIN=0`` opts out; scripts can use
``from crashcompat.drgn import crash``, bound to drgn's default program).  One crashcompat session is kept
per program, created on the first command (after drgn has loaded the debug info).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

import drgn
from drgn.commands.linux import linux_kernel_raw_command

from crashcompat.core.session import Session, SessionExit
from crashcompat.drgn.target import DrgnTarget

#: ``prog.cache`` key of the program's crashcompat session.
SESSION_KEY = "crashcompat.session"


class CrashOutput(str):
    """What a crash command printed.  It is a plain ``str``, except that the interactive prompt does not
    echo it a second time (see :func:`_quiet_displayhook`)."""

    __slots__ = ()


def session_for(prog: drgn.Program) -> Session:
    """*prog*'s crashcompat session, opened on first use.

    :param prog: a Linux kernel program with vmlinux debug info loaded.
    """
    session: Session | None = prog.cache.get(SESSION_KEY)
    if session is None:
        session = prog.cache[SESSION_KEY] = Session(DrgnTarget.from_program(prog))
        for warning in session.warnings:
            print(warning, file=sys.stderr)
    return session


class Crash:
    """crash's command set as Python calls: ``crash.bt("-a")``, ``crash("kmem -i")``.

    Each call runs one crash command line, prints its output and returns it (a :class:`CrashOutput`).

    :param prog: the program to run on; ``None`` means drgn's default program at call time.
    """

    def __init__(self, prog: drgn.Program | None = None) -> None:
        self._prog = prog

    @property
    def prog(self) -> drgn.Program:
        return self._prog if self._prog is not None else drgn.get_default_prog()

    @property
    def session(self) -> Session:
        return session_for(self.prog)

    def __call__(self, line: str) -> CrashOutput:
        """Run one crash command *line* (crash's syntax: ``cmd args | shell``, ``> file``, ``>> file``)."""
        _quiet_displayhook()
        try:
            return CrashOutput(self.session.run(line))
        except SessionExit:  # "q": there is no crash session to end inside drgn
            return CrashOutput("")

    def __getattr__(self, name: str) -> Callable[..., CrashOutput]:
        if name.startswith("_"):
            raise AttributeError(name)
        command = self.session.lookup(name)
        if command is None:
            raise AttributeError(f"crash has no command {name!r}")

        def run(*args: object) -> CrashOutput:
            return self(" ".join([name, *map(str, args)]))

        run.__name__ = name
        run.__doc__ = command.help_text()
        return run

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.session.commands))

    def __repr__(self) -> str:
        return 'crash: crash commands on this program: crash.bt("-a"), crash("log | tail"), crash.help()'


def _quiet_displayhook() -> None:
    """Wrap ``sys.displayhook`` (drgn's REPL sets its own) so that a :class:`CrashOutput` result, already
    printed by the command, is not printed again; every other value is displayed as before."""
    previous = sys.displayhook
    if getattr(previous, "crashcompat", False):
        return

    def displayhook(value: object) -> None:
        if isinstance(value, CrashOutput):
            builtins._ = value  # type: ignore[attr-defined]
            return
        previous(value)

    displayhook.crashcompat = True  # type: ignore[attr-defined]
    sys.displayhook = displayhook


def drgn_prog_set(prog: drgn.Program) -> None:
    """drgn's plugin hook: a program got its target.  Binds ``builtins.crash`` for Linux kernel programs."""
    if os.environ.get("CRASHCOMPAT_DRGN_BUILTIN", "1") == "0":
        return
    if prog.flags & drgn.ProgramFlags.IS_LINUX_KERNEL:
        builtins.crash = Crash(prog)  # type: ignore[attr-defined]


@linux_kernel_raw_command(  # type: ignore[untyped-decorator]
    name="cc",
    description="run a crash command with crashcompat",
    usage="**cc** *COMMAND* [*ARGUMENT*...] [| *SHELL COMMAND*] [> *FILE*]",
    long_description="Runs one crash command line with crashcompat, in crash's output format "
    "(drgn's own crash ports are under %crash).  The line may pipe (|) or redirect (>, >>) its output, "
    'as in crash.  "%cc help" lists the commands.',
)
def _cmd_cc(prog: drgn.Program, name: str, args: str, **kwargs: Any) -> None:
    with contextlib.suppress(SessionExit):
        session_for(prog).run(args.strip() or "help")
