"""The kernel model's ``stacks`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.stacks` (its ``__all__``): task, hard-IRQ and exception
(IST) stacks and their bounds.
"""

from crashcompat.core.kernel.stacks import *  # noqa: F403
from crashcompat.core.kernel.stacks import __all__ as __all__
