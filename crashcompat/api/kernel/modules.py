"""The kernel model's ``modules`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.modules` (its ``__all__``): ``struct module``: the module
list, module kallsyms and section addresses.
"""

from crashcompat.core.kernel.modules import *  # noqa: F403
from crashcompat.core.kernel.modules import __all__ as __all__
