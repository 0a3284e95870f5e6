"""The kernel model's ``memory`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.memory` (its ``__all__``): reads of kernel, user and
physical memory that fail with crash's reasons (invalid address, seek error, excluded page).
"""

from crashcompat.core.kernel.memory import *  # noqa: F403
from crashcompat.core.kernel.memory import __all__ as __all__
