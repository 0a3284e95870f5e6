"""The kernel model's ``irq`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.irq` (its ``__all__``): interrupt descriptors, their
actions, counts and affinity, softirq vectors.
"""

from crashcompat.core.kernel.irq import *  # noqa: F403
from crashcompat.core.kernel.irq import __all__ as __all__
