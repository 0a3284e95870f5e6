"""The kernel model's ``trees`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.trees` (its ``__all__``): red-black tree, xarray and
maple tree walks as crash's ``tree`` command does them.
"""

from crashcompat.core.kernel.trees import *  # noqa: F403
from crashcompat.core.kernel.trees import __all__ as __all__
