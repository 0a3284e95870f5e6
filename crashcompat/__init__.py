"""crashcompat: crash's command set, byte for byte, inside drgn and stock GDB.

Plugins import :mod:`crashcompat.api`, which re-exports :data:`hookimpl`, the one marker for plugins'
hook implementations (it stays importable from here too)::

    from crashcompat.api import hookimpl

    @hookimpl
    def crashcompat_commands():
        return [my_command]
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: The project name pluggy knows crashcompat's hooks by.
PROJECT = "crashcompat"

#: Marks a plugin's hook implementations (``@hookimpl def crashcompat_commands(): ...``).
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl"]
