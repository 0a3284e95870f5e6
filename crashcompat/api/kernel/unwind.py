"""The kernel model's ``unwind`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.unwind` (its ``__all__``): back traces: frames, exception
frames, the ORC unwinder's events.
"""

from crashcompat.core.kernel.unwind import *  # noqa: F403
from crashcompat.core.kernel.unwind import __all__ as __all__
