"""The kernel model's ``fs`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.fs` (its ``__all__``): a task's root, working directory
and open files, dentry paths and inode types as crash builds them, the mounts of a namespace.
"""

from crashcompat.core.kernel.fs import *  # noqa: F403
from crashcompat.core.kernel.fs import __all__ as __all__
