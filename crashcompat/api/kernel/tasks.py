"""The kernel model's ``tasks`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.tasks` (its ``__all__``): tasks and crash's task table,
runqueues, task specs (pid, ``0x`` task, command), states.
"""

from crashcompat.core.kernel.tasks import *  # noqa: F403
from crashcompat.core.kernel.tasks import __all__ as __all__
