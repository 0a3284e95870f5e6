"""crashcompat's pytest plugin, for this project's tests and for plugin authors.

Installed as the ``pytest11`` entry point ``crashcompat``, so any project with crashcompat installed gets:

- the ``lab`` marker and the ``lab_manifest`` session fixture (:mod:`crashcompat.testing.lab`): the crash
  lab's real Debian kernel dumps, built on first use; skipped when the lab cannot be built, failed
  instead when ``CRASHCOMPAT_REQUIRE_LAB=1``;
- session fixtures (:mod:`crashcompat.testing.sessions`): open a lab dump with crashcompat and run commands;
- :class:`crashcompat.testing.synthetic.SyntheticTarget` for unit tests without a kernel.
"""

from __future__ import annotations

pytest_plugins = ["crashcompat.testing.lab", "crashcompat.testing.sessions"]
