"""The kernel model's ``slub`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.slub` (its ``__all__``): SLUB caches, slabs and objects.
"""

from crashcompat.core.kernel.slub import *  # noqa: F403
from crashcompat.core.kernel.slub import __all__ as __all__
