"""The kernel model's ``mm`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.mm` (its ``__all__``): pages, zones, nodes, vm_stat and vm
events, vmalloc areas, VMAs, memory blocks.
"""

from crashcompat.core.kernel.mm import *  # noqa: F403
from crashcompat.core.kernel.mm import __all__ as __all__
