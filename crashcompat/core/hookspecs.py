"""The hooks a crashcompat plugin may implement, in the order of a session's life.

Every hook is named ``crashcompat_*`` and called with keyword arguments only, through the typed facade
:class:`crashcompat.core.plugins.Hooks`, which calls pluggy's hook callers: ``tryfirst``/``trylast``
and hook wrappers (``@hookimpl(wrapper=True)``) work as pluggy documents them.  Implement one with
``@crashcompat.api.hookimpl``; declare only the arguments you use, and give them no defaults (pluggy
passes none to defaulted arguments).  An implementation that raises is reported once and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

from crashcompat import PROJECT

if TYPE_CHECKING:
    from crashcompat.core.command import Command
    from crashcompat.core.session import Session

hookspec = pluggy.HookspecMarker(PROJECT)


# ---- registration (once per plugin host, before any session) -------------------------------------------


@hookspec
def crashcompat_commands() -> Sequence[Command]:
    """Return the commands this plugin provides.

    Called once when the plugin host loads its plugins.  A name already taken by an earlier plugin is
    reported and the later command skipped.
    """
    raise NotImplementedError


# ---- session lifecycle ----------------------------------------------------------------------------------


@hookspec
def crashcompat_session_opened(session: Session) -> None:
    """The session has its target and kernel model; commands may now run.

    Use it to prepare per-session state (keep it on ``session.plugin_state[<your name>]``).  An
    exception here is reported once and the plugin's other hooks still run.
    """


@hookspec
def crashcompat_session_closed(session: Session) -> None:
    """The session is ending (``q``, end of input, or the frontend closed it)."""


@hookspec
def crashcompat_target_resumed(session: Session) -> None:
    """A live target ran and stopped again: drop whatever you cached about its memory."""
