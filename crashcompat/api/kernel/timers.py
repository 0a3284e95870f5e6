"""The kernel model's ``timers`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.timers` (its ``__all__``): the timer wheel and the
high-resolution timers.
"""

from crashcompat.core.kernel.timers import *  # noqa: F403
from crashcompat.core.kernel.timers import __all__ as __all__
