"""``log`` and ``crashcompat dmesg`` on the lab's real dumps.

Oracles: Debian crash 8.0.2's output for the same command line on the same dump (the lab's reference
files), makedumpfile's ``--dump-dmesg`` file of the kdump dumps, and the marker lines the guest wrote to
``/dev/kmsg``.  ``log -c`` is newer than crash 8.0.2 (crash 8.0.5): it is checked against ``log`` and the
crashing task's pid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from crash_oracle import makedumpfile_dmesg
from line_match import assert_like_crash

from crashcompat.core.kernel import printk
from crashcompat.core.session import Session

pytestmark = pytest.mark.lab

COMMANDS = ["log", "log -m", "log -t", "log -T", "log -d", "log -a", "log | tail -20"]


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


@pytest.mark.lab_dumps(
    where=lambda d: all(c in d.get("reference", {}) and not d.known_wrong(c) for c in COMMANDS)
)
@pytest.mark.parametrize("command", COMMANDS)
def test_log_matches_crash(lab_dump: Any, session: Session, command: str) -> None:
    reference = lab_dump.reference(command)
    assert reference is not None
    assert_like_crash(session.run(command, echo=False), reference, command)


def test_markers_are_logged(lab_dump: Any, session: Session) -> None:
    text = session.run("log -t", echo=False).splitlines()
    for marker in lab_dump.facts.get("markers", []):
        assert marker in text


def test_log_c_adds_the_caller(lab_dump: Any, session: Session) -> None:
    """crash's ``log -c``: ``[%*s] `` of ``T<pid>``/``C<cpu>`` after the timestamp, as wide as ``pid_max``'s
    digits and the letter (6 for 32768; 8 for 7.x's 4194304)."""
    try:
        pid_max = session.target.prog["pid_max"].value_()  # type: ignore[attr-defined]
        width = len(str(pid_max)) + 1
    except LookupError:  # 6.14+ keeps pid_max per pid namespace: crash falls back on the widest column
        width = 8
    plain = session.run("log", echo=False).splitlines()
    with_caller = session.run("log -c", echo=False).splitlines()
    caller = re.compile(r"^(\[ *\d+\.\d{6}\] )\[( *[TC]\d+)\] (.*)$")
    stripped, oops_callers = [], []
    for line in with_caller:
        m = caller.match(line)
        if m is None:  # a continuation line, indented under the longer prefix
            assert line.startswith(" " * (15 + width + 3))
            stripped.append(line[width + 3 :])
            continue
        assert len(m.group(2)) == width
        stripped.append(m.group(1) + m.group(3))
        if "Comm: " in m.group(3):
            oops_callers.append(m.group(2).strip())
    assert stripped == plain
    assert f"T{lab_dump.facts['crash_pid']}" in oops_callers


@pytest.mark.lab_dumps(where=lambda d: "dmesg" in d)  # makedumpfile --dump-dmesg ran in the capture kernel
def test_dmesg_equals_makedumpfile(lab_dump: Any, session: Session) -> None:
    expected = makedumpfile_dmesg(lab_dump.path).decode("utf-8", errors="surrogateescape")
    assert printk.render_dmesg(session.kernel) == expected


def test_bad_option_is_a_usage_error(session: Session) -> None:
    out = session.run("log -x", echo=False)
    assert "Usage:" in out and "log [-Ttdmas" in out
