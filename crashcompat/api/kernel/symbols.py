"""The kernel model's ``symbols`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.symbols` (its ``__all__``): addresses to names and back,
crash's symbol letters, module debug info.
"""

from crashcompat.core.kernel.symbols import *  # noqa: F403
from crashcompat.core.kernel.symbols import __all__ as __all__
