"""The kernel model's ``layout`` helpers, for plugins.

The public names of :mod:`crashcompat.core.kernel.layout` (its ``__all__``): the x86_64 virtual memory
layout (``START_KERNEL_MAP``, the direct map, vmalloc, vmemmap and module areas), ``THREAD_SIZE`` and the
``struct pt_regs`` order, and crash's address-class checks (``is_kvaddr``, ``is_vmalloc_addr``).
"""

from crashcompat.core.kernel.layout import *  # noqa: F403
from crashcompat.core.kernel.layout import __all__ as __all__
