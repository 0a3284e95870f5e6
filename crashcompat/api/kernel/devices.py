"""The kernel model's ``devices`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.devices` (its ``__all__``): character and block device
majors.
"""

from crashcompat.core.kernel.devices import *  # noqa: F403
from crashcompat.core.kernel.devices import __all__ as __all__
