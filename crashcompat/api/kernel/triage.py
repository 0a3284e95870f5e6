"""The kernel model's ``triage`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.triage` (its ``__all__``): the crash class, the culprit,
the signature, stack groups and log reports of a dump, and its short report.
"""

from crashcompat.core.kernel.triage import *  # noqa: F403
from crashcompat.core.kernel.triage import __all__ as __all__
