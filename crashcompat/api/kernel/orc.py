"""The kernel model's ``orc`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.orc` (its ``__all__``): the ORC unwind tables of the kernel
and its modules.
"""

from crashcompat.core.kernel.orc import *  # noqa: F403
from crashcompat.core.kernel.orc import __all__ as __all__
