"""``triage`` on every lab dump: the class, the task and the culprit match what the guest recorded; the stack
groups cover every task; the JSON has exactly docs/triage.md's keys; the GDB frontend prints the same report
as the drgn frontend; and ``crashcompat triage --batch`` finds every dump's vmlinux by its release."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crashcompat.core.kernel import tasks, triage
from crashcompat.core.session import Session
from crashcompat.testing.lab import expect_failure

pytestmark = pytest.mark.lab

#: What each crash trigger of the lab makes, until the lab records ``facts["triage"]`` itself.
_BY_TRIGGER: dict[str, tuple[str, str, str | None]] = {
    "null": ("oops", "crashme_deref", "crashme"),
    "sysrq": ("sysrq", "sysrq_handle_crash", None),
    "panic": ("panic", "crashme_do_panic", "crashme"),
    "bug": ("bug", "crashme_do_bug", "crashme"),
}


def expected(facts: dict[str, Any]) -> dict[str, Any]:
    """The guest's facts about the crash: ``facts["triage"]`` when the lab records it, else derived from
    the trigger (``facts["crash"]``) and the crashing task (``crash_pid``, ``crash_comm``)."""
    if "triage" in facts:
        found: dict[str, Any] = facts["triage"]
        return found
    trigger = facts.get("crash")
    if trigger not in _BY_TRIGGER:
        pytest.skip(f"no triage facts for crash trigger {trigger!r}")
    cls, function, module = _BY_TRIGGER[trigger]
    return {
        "class": cls,
        "task": {"pid": facts["crash_pid"], "comm": facts["crash_comm"]},
        "culprit": {"function": function, "module": module},
    }


def module_dirs(lab_manifest: Any) -> list[str]:
    """Where the lab's test module's object file is (it is no distribution module)."""
    ko = lab_manifest.crashme_ko
    return [os.path.dirname(ko)] if ko else []


#: The lab's triage scenarios (crashlab's qemu-warn ... qemu-kfence; a series that lacks one skips it in its
#: own table, so it is not generated there) beside every series' default dumps.
TRIAGE_DUMPS = tuple(
    f"qemu-{s}-elf" for s in ("warn", "softlockup", "hung-task", "rcu-stall", "oom", "kfence")
)
DEFAULT_AND_TRIAGE = (
    "kdump-null-zlib-d31",
    "kdump-null-lzo-d31",
    "kdump-null-elf-d31",
    "qemu-sysrq-elf",
    *TRIAGE_DUMPS,
)


#: (series, dump) -> why the culprit is not found yet; strict expected failures (issue 13 stays open).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.lab_dumps(*DEFAULT_AND_TRIAGE)
def test_triage_matches_the_guest(
    lab_dump: Any, lab_manifest: Any, crash_session: Callable[[Any], Session], request: pytest.FixtureRequest
) -> None:
    expect_failure(request, KNOWN_BUGS.get((lab_dump.kernel, lab_dump.name)))
    want = expected(lab_dump.facts)
    session = crash_session(lab_dump)
    result = triage.triage(session.kernel, module_search=module_dirs(lab_manifest))
    assert tuple(result) == triage.TOP_LEVEL_KEYS
    assert result["class"] == want["class"]
    assert {k: result["task"][k] for k in want["task"]} == want["task"]
    culprit = result["culprit"]
    assert {k: culprit[k] for k in ("function", "module")} == want["culprit"]
    assert culprit["file"] and culprit["line"], "the culprit has its source line"
    assert result["release"] == lab_dump.facts["release"]
    assert result["signature"] == triage.signature(
        want["class"], want["culprit"]["function"], want["culprit"]["module"]
    )
    # every task of crash's table in exactly one group
    groups = result["stack_groups"]
    assert sum(g["count"] for g in groups) == tasks.task_count(session.kernel)
    assert sum(len(g["tasks"]) for g in groups) == tasks.task_count(session.kernel)
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    json.dumps(result)  # plain data
    if "mutex" in want and _records_blocker(session):
        entry = next(b for b in result["blocked"] if b["pid"] == want["task"]["pid"])
        assert entry["mutex"]["owner"]["pid"] == want["mutex"]["owner"]["pid"]


def _records_blocker(session: Session) -> bool:
    """The kernel records the lock a task blocks on (CONFIG_DETECT_HUNG_TASK_BLOCKER, 6.14+)."""
    kernel = session.kernel
    return any(kernel.has_member("struct task_struct", m) for m in ("blocker", "blocker_mutex"))


def test_triage_command(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    want = expected(lab_dump.facts)
    session = crash_session(lab_dump)
    text = session.run("triage", echo=False)
    assert text.startswith(want["class"].upper() + ": ")
    assert f"(pid {want['task']['pid']})" in text
    data = json.loads(session.run("triage -j", echo=False))
    assert tuple(data) == triage.TOP_LEVEL_KEYS and data["class"] == want["class"]


@pytest.mark.gdb
def test_gdb_prints_what_drgn_prints(
    lab_dump: Any, lab_manifest: Any, cli_runner: Callable[..., str]
) -> None:
    lines = ["triage" + "".join(f" -m {d}" for d in module_dirs(lab_manifest))]
    drgn_out = cli_runner(lab_dump, lines, "drgn")
    gdb_out = cli_runner(lab_dump, lines, "gdb")
    assert drgn_out.startswith(expected(lab_dump.facts)["class"].upper() + ": ")
    if gdb_out != drgn_out and lab_manifest.crashme_ko:
        # the GDB backend's own "mod -s" may fail where drgn's works: then only the culprit's line differs
        mod = cli_runner(lab_dump, [f"mod -s crashme {lab_manifest.crashme_ko}"], "gdb")
        if "cannot load symbols" in mod and _without_lines(gdb_out) == _without_lines(drgn_out):
            pytest.xfail("the GDB backend cannot load crashme.ko on this kernel (its mod -s fails too)")
    assert gdb_out == drgn_out


def _without_lines(report: str) -> str:
    return re.sub(r"^(  culprit: .*?) at \S+:\d+$", r"\1", report, flags=re.M)


def test_batch_finds_the_vmlinux(lab_manifest: Any, tmp_path: Path) -> None:
    from crashcompat import batch

    vmlinux = lab_manifest.vmlinux
    root = vmlinux.split("/usr/lib/debug/", 1)[0]
    dumps = [d for d in lab_manifest.dumps if d.format == "elf"][:2]
    summary = batch.run_batch(
        [d.path for d in dumps], str(tmp_path), workers=1, roots=[root, *module_dirs(lab_manifest)]
    )
    assert summary["ok"] == len(dumps), summary["failed"]
    for d in dumps:
        record = json.loads((tmp_path / f"{Path(d.path).name}.json").read_text())
        assert record["vmlinux"] == vmlinux
        assert record["result"]["class"] == expected(d.facts)["class"]
    assert sum(g["count"] for g in summary["groups"]) == len(dumps)
    assert "<svg" in (tmp_path / "summary.html").read_text()


@pytest.mark.lab_dumps(format="elf")
def test_drgn_crash_triage(lab_dump: Any, lab_manifest: Any) -> None:
    """``drgn -c VMCORE -e 'crash.triage("-j")'``: the drgn frontend's command returns the JSON."""
    import shutil
    import subprocess
    import sys

    drgn = shutil.which("drgn") or str(Path(sys.executable).with_name("drgn"))
    code = "import json\nout = crash.triage('-j')\nprint('CLASS', json.loads(out)['class'])\n"
    argv = [drgn, "-q", "-c", lab_dump.path, "-s", lab_manifest.vmlinux, "--main-symbols", "-e", code]
    if lab_dump.needs_host_platform:
        argv[1:1] = ["--architecture", "x86_64"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"\nCLASS {expected(lab_dump.facts)['class']}\n" in proc.stdout
