"""The kernel model's ``net`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.net` (its ``__all__``): network devices and their
addresses, a task's sockets.
"""

from crashcompat.core.kernel.net import *  # noqa: F403
from crashcompat.core.kernel.net import __all__ as __all__
