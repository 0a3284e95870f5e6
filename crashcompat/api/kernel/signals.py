"""The kernel model's ``signals`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.signals` (its ``__all__``): signal handlers, blocked and
pending sets, queued signals.
"""

from crashcompat.core.kernel.signals import *  # noqa: F403
from crashcompat.core.kernel.signals import __all__ as __all__
