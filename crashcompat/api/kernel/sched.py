"""The kernel model's ``sched`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.sched` (its ``__all__``): run queues, their RT and CFS
queues, task groups and run-queue clocks.
"""

from crashcompat.core.kernel.sched import *  # noqa: F403
from crashcompat.core.kernel.sched import __all__ as __all__
