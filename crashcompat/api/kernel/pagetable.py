"""The kernel model's ``pagetable`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.pagetable` (its ``__all__``): x86_64 page-table walks,
virtual to physical, PTE bits.
"""

from crashcompat.core.kernel.pagetable import *  # noqa: F403
from crashcompat.core.kernel.pagetable import __all__ as __all__
