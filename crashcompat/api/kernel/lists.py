"""The kernel model's ``lists`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.lists` (its ``__all__``): ``struct list_head`` / ``hlist``
walks, bounded against cycles and corruption.
"""

from crashcompat.core.kernel.lists import *  # noqa: F403
from crashcompat.core.kernel.lists import __all__ as __all__
