"""The kernel model's ``ipc`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.ipc` (its ``__all__``): System V IPC objects.
"""

from crashcompat.core.kernel.ipc import *  # noqa: F403
from crashcompat.core.kernel.ipc import __all__ as __all__
