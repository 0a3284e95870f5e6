"""The kernel model's ``system`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.system` (its ``__all__``): utsname, uptime, date, load
average, taint, CPUs, memory size, the panic message.
"""

from crashcompat.core.kernel.system import *  # noqa: F403
from crashcompat.core.kernel.system import __all__ as __all__
