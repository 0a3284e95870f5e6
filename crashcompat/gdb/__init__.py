"""crashcompat in stock GDB: crash's commands as ``crash <command>`` on dumps and live kernels.

Load it in GDB with ``source crashcompat.gdb`` (the loader script next to this file; ``crashcompat
gdb-script`` prints its path), or with ``python import crashcompat.gdb`` when GDB's Python already finds
the package.  Importing this package inside GDB registers:

- ``crash`` — a prefix command: ``crash bt -a``, ``crash kmem -i``, ``crash log | tail`` (``help crash``
  lists the commands, ``help crash bt`` shows one's help);
- ``set crash-aliases on`` — also the bare names (``kmem``, ``ps`` …) for commands GDB does not have.

``crashcompat --backend gdb VMLINUX VMCORE`` (:mod:`crashcompat.gdb.launcher`) starts GDB with all of this
done.  For dumps GDB cannot open (kdump-compressed, flattened), :mod:`crashcompat.bridge.server` is a
GDB remote-protocol bridge in a process of its own: ``target remote | crashcompat-gdbserver VMLINUX VMCORE``.

Outside GDB importing this package does nothing (so the launcher can live here); nothing in it can reach
drgn (import-linter checks it), whose bundled libdw crashes GDB.
"""

from __future__ import annotations

import os

__all__ = ["script_path"]


def script_path() -> str:
    """The GDB loader script, ``crashcompat.gdb``, shipped inside this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "crashcompat.gdb")


def _in_gdb() -> bool:
    """Whether this is GDB's Python (a directory called ``gdb`` on ``sys.path`` is not GDB)."""
    try:
        import gdb
    except ImportError:
        return False
    return hasattr(gdb, "execute")


if _in_gdb():
    from crashcompat.gdb.command import register

    register()
