"""Triage on synthetic inputs: the class decision, the culprit, the signature, stack groups, log reports, the
report text, the vmlinux search of a batch and a batch of bad files on a one-worker local Dask cluster."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from crashcompat import batch, cli
from crashcompat.core.kernel import triage
from crashcompat.core.opening import vmlinux_candidates

OOPS_STACK = [
    "machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "page_fault_oops", "exc_page_fault",
    "asm_exc_page_fault", "crashme_deref", "crashme_write", "proc_reg_write", "vfs_write", "ksys_write",
    "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
]  # fmt: skip
SYSRQ_STACK = [
    "panic", "sysrq_handle_crash", "__handle_sysrq.cold", "write_sysrq_trigger", "proc_reg_write",
    "vfs_write", "ksys_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
]  # fmt: skip
BUG_STACK = [
    "machine_kexec", "__crash_kexec", "crash_kexec", "oops_end", "do_trap", "do_error_trap",
    "exc_invalid_op", "asm_exc_invalid_op", "crashme_do_bug", "crashme_write", "vfs_write",
]  # fmt: skip
PANIC_STACK = ["panic", "crashme_do_panic", "crashme_write", "proc_reg_write", "vfs_write"]
WARN_STACK = [
    "panic", "check_panic_on_warn", "__warn", "report_bug", "handle_bug", "exc_invalid_op",
    "asm_exc_invalid_op", "crashme_do_warn", "crashme_write",
]  # fmt: skip
SOFT_LOCKUP_STACK = [
    "panic", "watchdog_timer_fn", "__hrtimer_run_queues", "hrtimer_interrupt",
    "__sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt",
    "crashme_spin", "crashme_write",
]  # fmt: skip
HARD_LOCKUP_STACK = [
    "panic", "watchdog_hardlockup_check", "watchdog_overflow_callback", "__perf_event_overflow",
    "handle_pmi_common", "intel_pmu_handle_irq", "perf_event_nmi_handler", "nmi_handle",
    "default_do_nmi", "exc_nmi", "end_repeat_nmi", "crashme_spin_irqoff",
]  # fmt: skip
HUNG_STACK = ["panic", "check_hung_uninterruptible_tasks", "watchdog", "kthread", "ret_from_fork"]
OOM_STACK = [
    "panic", "out_of_memory", "__alloc_pages_slowpath", "__alloc_pages", "alloc_pages",
    "crashme_hog", "crashme_write",
]  # fmt: skip
RCU_STACK = [
    "panic", "panic_on_rcu_stall", "print_cpu_stall", "rcu_sched_clock_irq", "update_process_times",
    "tick_sched_timer", "__hrtimer_run_queues", "hrtimer_interrupt", "crashme_rcu_spin",
]  # fmt: skip
KASAN_STACK = [
    "panic", "check_panic_on_warn", "end_report", "kasan_report", "__asan_load4", "crashme_uaf",
    "crashme_write",
]  # fmt: skip
KFENCE_STACK = ["panic", "kfence_report_error", "kfence_handle_page_fault", "page_fault_oops", "crashme_oob"]
MCE_STACK = ["panic", "mce_panic", "do_machine_check", "exc_machine_check", "asm_exc_machine_check", "x"]


@pytest.mark.parametrize(
    ("stack", "log", "expected"),
    [
        (OOPS_STACK, ["BUG: kernel NULL pointer dereference, address: 0000000000000000", "Oops: 0000 [#1]"], "oops"),
        (OOPS_STACK, [], "oops"),
        (SYSRQ_STACK, ["sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash"], "sysrq"),
        (BUG_STACK, ["kernel BUG at crashme.c:81!", "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"], "bug"),
        (PANIC_STACK, ["Kernel panic - not syncing: crashme: panic requested by fixcrash"], "panic"),
        (PANIC_STACK, ["WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "Kernel panic - not syncing: boom"], "panic"),
        (WARN_STACK, ["WARNING: CPU: 0 PID: 9 at crashme.c:90 crashme_do_warn+0x5/0x10 [crashme]"], "warn"),
        (SOFT_LOCKUP_STACK, ["watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [fixcrash:116]"], "soft-lockup"),
        (HARD_LOCKUP_STACK, ["Watchdog detected hard LOCKUP on cpu 1"], "hard-lockup"),
        (HUNG_STACK, ["INFO: task a:1 blocked for more than 5 seconds."], "hung-task"),
        (OOM_STACK, ["Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"], "oom"),
        (RCU_STACK, ["rcu: INFO: rcu_preempt self-detected stall on CPU"], "rcu-stall"),
        (KASAN_STACK, ["BUG: KASAN: slab-use-after-free in crashme_uaf+0x1/0x2 [crashme]"], "kasan"),
        (KFENCE_STACK, ["BUG: KFENCE: out-of-bounds read in crashme_oob+0x1/0x2 [crashme]"], "kfence"),
        (MCE_STACK, [], "mce"),
        # no panic task or no trace: the log decides
        ([], ["watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [x:1]", "Kernel panic - not syncing: softlockup: hung tasks"], "soft-lockup"),
        ([], ["kernel BUG at mm/slub.c:1!", "Kernel panic - not syncing: Fatal exception"], "bug"),
        ([], ["Kernel panic - not syncing: VFS: Unable to mount root fs"], "panic"),
        ([], ["INFO: task kworker/0:1:33 blocked for more than 120 seconds.", "Kernel panic - not syncing: hung_task: blocked tasks"], "hung-task"),
        ([], ["nothing to see"], "unknown"),
        (["__schedule", "schedule", "do_idle"], [], "unknown"),
    ],
)  # fmt: skip
def test_classify(stack: list[str], log: list[str], expected: str) -> None:
    assert triage.classify(stack, log) == expected
    assert expected in triage.CLASSES


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("hung_task: blocked tasks", "hung-task"),
        ("softlockup: hung tasks", "soft-lockup"),
        ("RCU Stall", "rcu-stall"),
        ("Out of memory: compulsory panic_on_oom is enabled", "oom"),
        ("kernel: panic_on_warn set ...", "warn"),
        ("kfence: panic_on_warn set ...", "kfence"),
        ("KFENCE: panic_on_warn set ...", "kfence"),
        ("crashme: panic requested by fixcrash", "panic"),
    ],
)
def test_a_folded_checker_is_named_by_the_panic_reason(reason: str, expected: str) -> None:
    # the checker's frame is inlined into its caller: the stack shows panic() and the caller only
    assert (
        triage.classify(["panic", "watchdog", "kthread"], [f"Kernel panic - not syncing: {reason}"])
        == expected
    )


def test_class_comes_from_the_stack_before_the_log() -> None:
    # an old NULL-pointer line in the log does not turn a sysrq crash into an oops, nor a stray WARN a panic
    assert triage.classify(SYSRQ_STACK, ["BUG: kernel NULL pointer dereference, address: 0"]) == "sysrq"
    assert triage.classify(OOPS_STACK, ["WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"]) == "oops"


@pytest.mark.parametrize(
    ("stack", "culprit"),
    [
        (OOPS_STACK, "crashme_deref"),
        (SYSRQ_STACK, "sysrq_handle_crash"),
        (BUG_STACK, "crashme_do_bug"),
        (PANIC_STACK, "crashme_do_panic"),
        (WARN_STACK, "crashme_do_warn"),
        (SOFT_LOCKUP_STACK, "crashme_spin"),
        (HARD_LOCKUP_STACK, "crashme_spin_irqoff"),
        (OOM_STACK, "crashme_hog"),
        (RCU_STACK, "crashme_rcu_spin"),
        (KASAN_STACK, "crashme_uaf"),
        (KFENCE_STACK, "crashme_oob"),
    ],
)
def test_culprit_is_the_first_frame_past_the_machinery(stack: list[str], culprit: str) -> None:
    i = triage.culprit_index(stack)
    assert i is not None and stack[i] == culprit


def test_culprit_of_a_blocked_task_skips_the_wait_machinery() -> None:
    stack = [
        "__schedule",
        "schedule",
        "schedule_preempt_disabled",
        "__mutex_lock.constprop.0",
        "crashme_lock",
    ]
    assert triage.culprit_index(stack) == 0  # __schedule is no crash machinery
    assert triage.culprit_index(stack, waiting=True) == 4
    assert triage.culprit_index(["panic", "oops_end"]) is None
    assert triage.culprit_index([]) is None


def test_machinery_names() -> None:
    assert triage.is_machinery("asm_exc_page_fault")
    assert triage.is_machinery("exc_invalid_op")
    assert triage.is_machinery("panic")
    assert triage.is_machinery("__handle_sysrq.cold")
    assert not triage.is_machinery("sysrq_handle_crash")
    assert not triage.is_machinery("crashme_deref")
    assert triage.frame_function("__handle_sysrq.cold") == "__handle_sysrq"
    assert triage.frame_function("foo.isra.0") == "foo"


def test_signature_is_stable() -> None:
    sig = triage.signature("oops", "crashme_deref", "crashme")
    assert re.fullmatch(r"[0-9a-f]{16}", sig)
    # pinned: a change of the recipe regroups every archive of past dumps
    assert sig == triage.signature("oops", "crashme_deref", "crashme")
    assert sig == "1aec15df930c63b7"
    assert triage.signature("oops", "crashme_deref.isra.0", "crashme") == sig
    assert triage.signature("bug", "crashme_deref", "crashme") != sig
    assert triage.signature("oops", "crashme_deref", None) != sig
    assert triage.signature("oops", "crashme_deref", None) == triage.signature(
        "oops", "crashme_deref", "vmlinux"
    )
    assert triage.signature("unknown", None, None) == triage.signature("unknown", None, None)


def test_stack_groups_fold_and_count() -> None:
    stacks = [
        (1, "a", ["__schedule", "schedule", "worker_thread"]),
        (2, "b", ["__schedule", "schedule", "worker_thread"]),
        (3, "c", ["__schedule.cold", "schedule", "worker_thread"]),
        (4, "d", ["__schedule", "schedule", "do_idle"]),
        (0, "swapper/0", []),
        (0, "swapper/1", []),
    ]
    groups = triage.group_stacks(stacks)
    assert [g.count for g in groups] == [3, 2, 1]
    assert sum(g.count for g in groups) == len(stacks)
    assert groups[0].functions == ("__schedule", "schedule", "worker_thread")
    assert groups[0].tasks == ((1, "a"), (2, "b"), (3, "c"))
    assert groups[1].functions == ()
    assert triage.group_stacks([]) == []


LOG = [
    (1.0, "Linux version 6.1.0"),
    (12.0, "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
    (12.0, "#PF: supervisor read access in kernel mode"),
    (12.1, "Oops: 0000 [#1] PREEMPT SMP NOPTI"),
    (12.1, "CPU: 0 PID: 116 Comm: fixcrash Kdump: loaded Tainted: G           OE      6.1.0 #1"),
    (12.2, "RIP: 0010:crashme_deref+0x5/0x10 [crashme]"),
    (12.3, "Call Trace:"),
    (12.3, " <TASK>"),
    (12.3, " crashme_write+0x118/0x11f [crashme]"),
    (12.3, " ? do_syscall_64+0x69/0x90"),
    (12.3, " vfs_write+0xc7/0x3f0"),
    (13.0, "WARNING: CPU: 1 PID: 7 at kernel/foo.c:42 foo_bar+0x10/0x20 [foo]"),
    (14.0, "BUG: KASAN: slab-use-after-free in crashme_uaf+0x9/0x20 [crashme]"),
    (14.0, "Read of size 4 at addr ffff888003a1b2c0 by task fixcrash/116"),
    (15.0, "kernel BUG at crashme.c:81!"),
    (16.0, "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [fixcrash:116]"),
    (17.0, "INFO: task fixsleep:115 blocked for more than 5 seconds."),
    (18.0, "Kernel panic - not syncing: hung_task: blocked tasks"),
    (18.1, "---[ end Kernel panic - not syncing: hung_task: blocked tasks ]---"),
]


def test_parse_reports() -> None:
    reports = triage.parse_reports(LOG)
    assert [r.kind for r in reports] == ["oops", "warn", "kasan", "bug", "soft-lockup", "hung-task"]
    oops = reports[0].fields
    assert oops["address"] == "0000000000000000"
    assert oops["oops"] == "0000 [#1] PREEMPT SMP NOPTI"
    assert (oops["cpu"], oops["pid"], oops["comm"]) == (0, 116, "fixcrash")
    assert oops["rip"] == {"function": "crashme_deref", "offset": 5, "module": "crashme"}
    assert [f["function"] for f in oops["call_trace"]] == ["crashme_write", "vfs_write"]
    warn = reports[1].fields
    assert warn | {} == warn and warn["file"] == "kernel/foo.c" and warn["line"] == 42
    assert (warn["function"], warn["module"], warn["offset"]) == ("foo_bar", "foo", 16)
    kasan = reports[2].fields
    assert kasan["bug_type"] == "slab-use-after-free" and kasan["function"] == "crashme_uaf"
    assert (kasan["access"], kasan["size"], kasan["pid"]) == ("read", 4, 116)
    assert reports[3].fields == {"file": "crashme.c", "line": 81}
    assert reports[4].fields == {"cpu": 1, "seconds": 22, "comm": "fixcrash", "pid": 116}
    hung = reports[5]
    assert hung.fields["pid"] == 115 and hung.fields["panic"] == "hung_task: blocked tasks"
    assert hung.time == 17.0


def _result(**changes: Any) -> dict[str, Any]:
    frames = [
        {"function": "panic", "offset": 0x2E9, "module": None, "address": "ffffffff8d9cd21a", "exception": False},
        {"function": "sysrq_handle_crash", "offset": 0x16, "module": None, "address": "ffffffff8d6a8a06", "exception": False},
    ]  # fmt: skip
    result: dict[str, Any] = {
        "class": "sysrq",
        "task": {"pid": 116, "comm": "fixcrash", "cpu": 0, "address": "ffff8e4c819bc800"},
        "culprit": frames[1] | {"file": "drivers/tty/sysrq.c", "line": 155},
        "panic_message": "Kernel panic - not syncing: sysrq triggered crash",
        "taint": {
            "mask": 4096,
            "letters": "O",
            "flags": [{"bit": 12, "letter": "O", "meaning": "out-of-tree"}],
        },
        "release": "6.1.0-57-cloud-amd64",
        "uptime": {"seconds": 11, "text": "00:00:11"},
        "panic_sysctls": {"kernel.panic_on_oops": 1, "kernel.panic": 0},
        "backtrace": {"frames": frames, "cpus": []},
        "blocked": [],
        "stack_groups": [{"count": 2, "stack": ["__schedule", "schedule"], "tasks": []}],
        "reports": [],
        "signature": triage.signature("sysrq", "sysrq_handle_crash", None),
    }
    del result["culprit"]["exception"]
    result.update(changes)
    assert tuple(result) == triage.TOP_LEVEL_KEYS
    return result


def test_render_reads_like_a_bug_report() -> None:
    text = triage.render(_result())
    lines = text.splitlines()
    assert lines[0] == "SYSRQ: Kernel panic - not syncing: sysrq triggered crash"
    assert "  culprit:   sysrq_handle_crash+0x16 at drivers/tty/sysrq.c:155" in lines
    assert "  task:      fixcrash (pid 116) on CPU 0" in lines
    assert " *#1  sysrq_handle_crash+0x16" in lines
    assert "Stack groups: 1 for 2 tasks" in lines


def test_docs_list_exactly_the_top_level_keys() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "triage.md").read_text()
    section = doc.split("## Top-level keys", 1)[1].split("\n## ", 1)[0]
    keys = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    assert tuple(keys) == triage.TOP_LEVEL_KEYS


# ---- batch ------------------------------------------------------------------------------------------------


def test_vmlinux_candidates_under_debug_roots() -> None:
    paths = vmlinux_candidates("6.1.0-57-cloud-amd64", ["/srv/debug"])
    assert paths[0] == "/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64"
    assert "/srv/debug/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64" in paths
    assert "/srv/debug/6.1.0-57-cloud-amd64/usr/lib/debug/lib/modules/6.1.0-57-cloud-amd64/vmlinux" in paths
    assert "/srv/debug/vmlinux-6.1.0-57-cloud-amd64" in paths
    assert "/srv/debug/6.1.0-57-cloud-amd64/vmlinux" in paths


def test_triage_dump_never_raises(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.write_text("not a dump\n")
    record = batch.triage_dump(str(foreign))
    assert record["ok"] is False and record["error"] == f"{foreign}: not a supported file format"
    record = batch.triage_dump(str(tmp_path / "missing"))
    assert record["error"] == f"{tmp_path / 'missing'}: No such file or directory"


def _truncated_elf(path: Path) -> None:
    """An ELF core header whose one PT_LOAD promises far more bytes than the file has."""
    import struct

    ehdr = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7, 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0,
    )  # fmt: skip
    phdr = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xFFFFFFFF81000000, 0x1000000, 1 << 24, 1 << 24, 0x1000)
    path.write_bytes(ehdr + phdr + b"\0" * 64)


def test_batch_lists_bad_files_as_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.dump"
    foreign.write_text("hello\n")
    truncated = tmp_path / "truncated.dump"
    _truncated_elf(truncated)
    out = tmp_path / "out"
    code = cli.main(["triage", "--batch", str(foreign), str(truncated), "--out", str(out), "--workers", "1"])
    assert code == 1  # nothing triaged
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dumps"] == 2 and summary["ok"] == 0 and summary["groups"] == []
    errors = {f["dump"]: f["error"] for f in summary["failed"]}
    assert errors[str(foreign)] == f"{foreign}: not a supported file format"
    assert re.search(r"truncated|incomplete|not a supported", errors[str(truncated)])
    for name in ("foreign.dump.json", "truncated.dump.json"):
        assert json.loads((out / name).read_text())["ok"] is False
    assert "<svg" not in (out / "summary.html").read_text()  # no signature, no chart
    err = capsys.readouterr().err
    assert "[2/2]" in err and "FAILED" in err and "0 triaged, 2 failed" in err


def test_summary_groups_and_chart() -> None:
    def ok(dump: str, cls: str, function: str) -> dict[str, Any]:
        result = _result(**{"class": cls, "signature": triage.signature(cls, function, None)})
        result["culprit"] = result["culprit"] | {"function": function}
        return {"dump": dump, "ok": True, "seconds": 1.0, "result": result}

    records = [
        ok("a", "oops", "f"),
        ok("b", "oops", "f"),
        {"dump": "c", "ok": False, "seconds": 0.0, "error": "c: not a supported file format"},
        ok("d", "panic", "g"),
    ]
    names = ["a.json", "b.json", "c.json", "d.json"]
    summary = batch.summarise(records, names, elapsed=1.5, workers=2)
    assert [(g["class"], g["count"]) for g in summary["groups"]] == [("oops", 2), ("panic", 1)]
    assert sum(g["count"] for g in summary["groups"]) == summary["ok"] == 3
    assert summary["failed"] == [{"dump": "c", "error": "c: not a supported file format"}]
    assert summary["classes"] == {"oops": 2, "panic": 1}
    page = batch.summary_html(summary)
    assert page.count("<rect ") == 2 and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "c: not a supported file format" in page


def test_output_names_are_distinct() -> None:
    assert batch._output_names(["/a/dump", "/b/dump", "/c/other"]) == [
        "0000-dump.json",
        "0001-dump.json",
        "other.json",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["triage"], "give one dump"),
        (["triage", "--batch", "x"], "--batch needs --out DIR"),
        (["triage", "--batch", "--out", "d"], "--batch: no dump given"),
        (["triage", "--batch", "x", "--out", "d", "--workers", "0"], "--workers must be at least 1"),
        (["triage", "--bogus"], "unrecognized arguments"),
    ],
)
def test_cli_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("crashcompat: triage: ") and message in err
    assert "Traceback" not in err


def test_cli_single_dump_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign"
    foreign.write_text("x\n")
    assert cli.main(["triage", str(foreign), "--debug-root", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"crashcompat: triage: {foreign}: not a supported file format\n"


def test_without_a_trace_the_log_names_the_culprit() -> None:
    from crashcompat.core.kernel.triage import _culprit_from_log

    oops = triage.parse_reports(LOG[:7])
    assert _culprit_from_log(oops) == {
        "function": "crashme_deref",
        "offset": 5,
        "module": "crashme",
        "address": None,
        "file": None,
        "line": None,
        "source": "log",
    }
    panic = triage.parse_reports(
        [
            (1.0, "Kernel panic - not syncing: sysrq triggered crash"),
            (1.0, " dump_stack_lvl+0x44/0x5c"),
            (1.0, " panic+0x118/0x2f4"),
            (1.0, " sysrq_handle_crash+0x16/0x20"),
        ]
    )
    found = _culprit_from_log(panic)
    assert found is not None and (found["function"], found["module"]) == ("sysrq_handle_crash", None)
    assert _culprit_from_log([]) is None


def test_batch_on_an_existing_scheduler(tmp_path: Path) -> None:
    import distributed

    foreign = tmp_path / "foreign.dump"
    foreign.write_text("hello\n")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        progress = io.StringIO()
        summary = batch.run_batch(
            [str(foreign)], str(tmp_path / "out"), scheduler=cluster.scheduler_address, progress=progress
        )
    assert summary["workers"] == 1
    assert summary["failed"] == [{"dump": str(foreign), "error": f"{foreign}: not a supported file format"}]
    assert progress.getvalue().startswith(f"[1/1] {foreign}: FAILED: ")


def test_stalled_cpus_of_an_rcu_stall_report() -> None:
    from crashcompat.core.kernel.triage import _stalled_cpus

    other = [
        "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
        "rcu: \t0-...0: (1 GPs behind) idle=6c4/1/0x4000000000000000 softirq=1/1 fqs=2",
        "rcu: \t(detected by 1, t=2102 jiffies, g=1, q=3 ncpus=2)",
    ]
    assert _stalled_cpus(other) == [0]
    assert _stalled_cpus(
        ["rcu: INFO: rcu_sched self-detected stall on CPU", "rcu: \t1-....: (2100 ticks)"]
    ) == [1]
    assert _stalled_cpus(["no stall here", "rcu: \t1-....: (2100 ticks)"]) == []


def test_a_user_mode_rip_is_no_culprit() -> None:
    reports = triage.parse_reports(
        [
            (1.0, "Kernel panic - not syncing: sysrq triggered crash"),
            (1.0, "RIP: 0033:0x43ac50"),
            (1.0, " sysrq_handle_crash+0x16/0x20"),
        ]
    )
    assert "rip" not in reports[0].fields
