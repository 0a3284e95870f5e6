"""The kernel model's ``printk`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.printk` (its ``__all__``): the kernel log (the lockless
printk ring buffer).
"""

from crashcompat.core.kernel.printk import *  # noqa: F403
from crashcompat.core.kernel.printk import __all__ as __all__
