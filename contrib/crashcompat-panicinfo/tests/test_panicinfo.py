"""panicinfo on a synthetic kernel and on the crash lab's real dumps (through crashcompat.testing)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session
from crashcompat.testing.synthetic import SyntheticTarget


def _synthetic() -> Session:
    t = SyntheticTarget()
    t.add_struct(
        "struct resource", 64, {"start": (0, 8, "resource_size_t"), "end": (8, 8, "resource_size_t")}
    )
    for name, value in (("panic_timeout", -1), ("panic_on_oops", 1), ("panic_on_warn", 0)):
        address = t.alloc(4)
        t.write_u32(address, value)
        t.add_symbol(name, address, 4)
    image = t.alloc(8)
    t.write_u64(image, 0xFFFF888012345000)
    t.add_symbol("kexec_crash_image", image, 8)
    res = t.alloc(64)
    t.write_u64(res, 0x2B000000)
    t.write_u64(res + 8, 0x36FFFFFF)
    t.add_symbol("crashk_res", res, 64)
    host = PluginHost()
    host.load()
    return Session(t, host=host, out=io.StringIO())


def test_synthetic_policy() -> None:
    text = _synthetic().run("panicinfo")
    assert "   PANIC TIMEOUT: -1  (reboot immediately)\n" in text
    assert "   PANIC ON OOPS: 1  (yes)\n" in text
    assert "SOFTLOCKUP PANIC: (not configured)\n" in text
    assert "    CRASH KERNEL: yes\n" in text
    assert "     CRASHKERNEL: 2b000000-36ffffff  (192 MB)\n" in text


def test_listed_by_plugins() -> None:
    listing = _synthetic().run("plugins")
    row = next(line for line in listing.splitlines() if line.startswith("panicinfo"))
    assert row.split() == ["panicinfo", "crashcompat-panicinfo", "0.1.0", "panicinfo"]


ROWS_TO_SYSCTLS = {
    "PANIC TIMEOUT": "kernel.panic",
    "PANIC ON OOPS": "kernel.panic_on_oops",
    "PANIC ON WARN": "kernel.panic_on_warn",
    "SOFTLOCKUP PANIC": "kernel.softlockup_panic",
    "HUNG TASK PANIC": "kernel.hung_task_panic",
}


@pytest.mark.lab
def test_lab_dumps_report_the_guest_policy(lab_manifest: dict[str, Any], crash_session: Any) -> None:
    """The guest read its sysctls before crashing; panicinfo reads the same values back from each dump."""
    for dump in lab_manifest["dumps"]:
        policy = dump["facts"]["panic_policy"]
        text = crash_session(dump).run("panicinfo", echo=False)
        rows = dict(line.strip().split(": ", 1) for line in text.splitlines())
        for row, sysctl in ROWS_TO_SYSCTLS.items():
            # panic() clears panic_on_warn before it dumps (kernel/panic.c: a WARN in the notifiers must not
            # panic again), so every dump holds 0 whatever the guest had set
            expected = 0 if sysctl == "kernel.panic_on_warn" else policy[sysctl]
            assert rows[row].split()[0] == str(expected), (dump["name"], row)
        expect_loaded = "yes" if dump["capture"] == "kdump" else "no"
        assert rows["CRASH KERNEL"] == expect_loaded, dump["name"]
