"""crash's sys conversions (kernel.c, tools.c) and the panic-message rules, on values and synthetic kernels."""

from __future__ import annotations

import pytest

from crashcompat.core.format import pages_to_size
from crashcompat.core.kernel import Kernel, system
from crashcompat.testing.synthetic import SyntheticTarget


@pytest.mark.parametrize(
    ("jiffies", "hz", "text"),
    [
        (0, 250, "00:00:00"),
        (8 * 250 + 249, 250, "00:00:08"),
        ((2 * 86400 + 3723) * 100, 100, "2 days, 01:02:03"),
    ],
)
def test_format_uptime(jiffies: int, hz: int, text: str) -> None:
    assert system.format_uptime(jiffies, hz) == text


def test_format_loadavg_rounds_like_the_kernel() -> None:
    fixed_1 = 1 << 11
    # 0.08 is stored as 163/2048 (0.0796); LOAD_INT/LOAD_FRAC after adding FIXED_1/200 give "0.08".
    assert system.format_loadavg([163, 41, 20]) == "0.08, 0.02, 0.01"
    assert system.format_loadavg([fixed_1 * 3 + fixed_1 // 2, 0, fixed_1 - 1]) == "3.50, 0.00, 1.00"


@pytest.mark.parametrize(
    ("pages", "text"),
    [
        (0, "0"),
        (1, "4 KB"),
        (130944, "511.5 MB"),
        (262144, "1 GB"),
        (262144 * 3 // 2, "1.5 GB"),
        (256, "1 MB"),
    ],
)
def test_pages_to_size(pages: int, text: str) -> None:
    assert pages_to_size(pages) == text


def _memory_kernel(present_pages: int) -> Kernel:
    t = SyntheticTarget()
    t.add_struct(
        "struct pglist_data",
        64,
        {"node_present_pages": (0, 8, "unsigned long"), "node_spanned_pages": (8, 8, "unsigned long")},
    )
    pgdat = t.alloc(64)
    t.write_u64(pgdat, present_pages)
    t.write_u64(pgdat + 8, present_pages + 1000)
    t.add_symbol("contig_page_data", pgdat, 64)
    return Kernel(t)


def test_memory_size_rounds_up_to_a_gigabyte_within_64_mb() -> None:
    assert system.memory_size_text(_memory_kernel(130944)) == "511.5 MB"
    assert system.memory_size_text(_memory_kernel(262144 - 16384)) == "1 GB"  # 64 MiB short of 1 GiB
    assert system.memory_size_text(_memory_kernel(262144 - 16385)) == "960 MB"


def test_panic_message_categories_in_crash_order() -> None:
    log = [
        "Linux version 6.1.0",
        "sysrq: Trigger a crash",
        "BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        "Kernel panic - not syncing: Fatal exception",
    ]
    # "Oops: " is tried before "Kernel panic - ", whatever the order in the log.
    assert system.panic_message_from_log(log) == "Oops: 0000 [#1] PREEMPT SMP NOPTI"
    assert system.panic_message_from_log(log[:2] + log[4:]) == "Kernel panic - not syncing: Fatal exception"
    assert (
        system.panic_message_from_log(["general protection fault: 0000", *log])
        == "general protection fault: 0000"
    )
    assert system.panic_message_from_log(log[:2]) == ""


def test_uptime_jiffies_removes_initial_jiffies() -> None:
    t = SyntheticTarget()
    hz = 250
    tick = t.alloc(8)
    t.write_u64(tick, 4_000_000)  # tick_nsec of HZ=250
    t.add_symbol("tick_nsec", tick, 8)
    t.add_symbol("dd_init_sched", t.alloc(16), 16)  # mq-deadline built in: crash knows the real HZ
    j = t.alloc(8)
    t.write_u64(j, ((-300 * hz) & 0xFFFFFFFF) + 7 * hz)  # INITIAL_JIFFIES + 7 s
    t.add_symbol("jiffies_64", j, 8)
    k = Kernel(t)
    assert system.hz(k) == 250
    assert system.uptime_jiffies(k) == 7 * hz
    t.write_u64(j, (1 << 32) + 5 * hz)  # past the 32-bit wrap
    assert system.uptime_jiffies(Kernel(t)) == 300 * hz + 5 * hz


def test_hz_defaults_to_1000_without_builtin_mq_deadline() -> None:
    """mq-deadline a module (Debian 6.12+): crash keeps x86_64's HZ of 1000, whatever tick_nsec says."""
    t = SyntheticTarget()
    tick = t.alloc(8)
    t.write_u64(tick, 4_000_000)
    t.add_symbol("tick_nsec", tick, 8)
    assert system.hz(Kernel(t)) == 1000
    t.add_symbol("dd_init_queue", t.alloc(16), 16)  # 5.10's name of the init function
    assert system.hz(Kernel(t)) == 250
