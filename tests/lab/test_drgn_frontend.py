"""The drgn frontend on every lab dump: the ``crashcompat`` program, ``crash.*`` inside the drgn CLI, the
refusal of a mismatched vmlinux, and :class:`DrgnTarget` against the guest's recorded facts, drgn's own
answers and Debian crash 8.0.2's output on the same dump."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import drgn
import pytest
from crash_oracle import makedumpfile_dmesg
from drgn.helpers.linux.sched import cpu_curr

from crashcompat.core.session import Session
from crashcompat.drgn import OpenError, open_dump_target
from crashcompat.drgn.target import DrgnTarget
from crashcompat.testing.sessions import run_cli

pytestmark = pytest.mark.lab

DRGN = str(Path(sys.executable).with_name("drgn"))


def _target(session: Session) -> DrgnTarget:
    assert isinstance(session.target, DrgnTarget)
    return session.target


def _sys_value(text: str, label: str) -> str:
    for line in text.splitlines():
        if line[:12].strip() == label and line[12:14] == ": ":
            return line[14:]
    raise AssertionError(f"no {label} line in:\n{text}")


# ---- the crashcompat program ---------------------------------------------------------------------------


def test_run_cli_helper(lab_dump: Any, lab_manifest: Any) -> None:
    """The fixture helper other tests (GDB parity) use: -s, commands on stdin, stdout and stderr."""
    out = run_cli(lab_dump, ["sys", "q"], vmlinux=lab_manifest.vmlinux)
    assert _sys_value(out, "RELEASE") == lab_manifest.release
    assert "crash>" not in out


def test_cli_runs_input_file(lab_dump: Any, lab_manifest: Any, tmp_path: Path) -> None:
    """``crashcompat -s VMLINUX VMCORE -i cmds`` runs the file's commands silently and ``q`` exits 0."""
    cmds = tmp_path / "cmds"
    cmds.write_text("# comment\nsys\n\nsys | grep RELEASE\nq\nsys\n")
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "-s", lab_manifest.vmlinux, lab_dump.path, "-i", str(cmds)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "crash>" not in proc.stdout
    assert _sys_value(proc.stdout, "NODENAME") == lab_dump.facts["hostname"]
    releases = [line for line in proc.stdout.splitlines() if "RELEASE:" in line]
    assert releases == [f"     RELEASE: {lab_manifest.release}"] * 2  # "sys" after "q" did not run


def test_cli_batch_on_stdin_files_in_either_order(lab_dump: Any, lab_manifest: Any) -> None:
    """Commands on stdin, the dump named before the vmlinux; the end of stdin ends it with status 1."""
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "-s", lab_dump.path, lab_manifest.vmlinux],
        input="sys\nnosuchcommand\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert _sys_value(proc.stdout, "RELEASE") == lab_manifest.release
    assert "crash: command not found: nosuchcommand" in proc.stdout


def test_cli_banner_has_sys_block_and_context(lab_dump: Any, lab_manifest: Any) -> None:
    """Without -s: crash's start-up text (program banner, ``sys`` block, the context indented by 5)."""
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", lab_manifest.vmlinux, lab_dump.path],
        input="q\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("\ncrashcompat ")
    assert _sys_value(proc.stdout, "NODENAME") == lab_dump.facts["hostname"]
    pid = int(re.search(r"^ {9}PID: (\d+)$", proc.stdout, re.M).group(1))  # type: ignore[union-attr]
    if lab_dump.capture == "kdump":
        assert pid == lab_dump.facts["crash_pid"]
    assert proc.stdout.endswith("\n\ncrash> ")


def test_mismatched_vmlinux_refused(lab_dump: Any, lab_manifest: Any) -> None:
    """A kernel ELF that is not this dump's vmlinux (the test module) is refused with crash's message."""
    wrong = lab_manifest.crashme_ko
    with pytest.raises(OpenError, match="do not match!"):
        open_dump_target(lab_dump.path, wrong)
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "-s", wrong, lab_dump.path],
        input="sys\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert f"crashcompat: {wrong} and {lab_dump.path} do not match!" in proc.stderr
    assert "NODENAME" not in proc.stdout


def test_vmlinux_found_from_the_dump_release(
    lab_dump: Any, lab_manifest: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a vmlinux argument the dump's OSRELEASE picks the debug kernel among the standard places."""
    import crashcompat.core.opening

    asked: list[str] = []

    def candidates(release: str, *roots: object) -> list[str]:
        asked.append(release)
        return [str(tmp_path / f"vmlinux-{release}"), lab_manifest.vmlinux]

    monkeypatch.setattr(crashcompat.core.opening, "vmlinux_candidates", candidates)
    target = open_dump_target(lab_dump.path)
    assert asked == [lab_dump.facts["release"]]
    assert target.info.vmlinux == lab_manifest.vmlinux
    monkeypatch.setattr(
        crashcompat.core.opening, "vmlinux_candidates", lambda release, *roots: [str(tmp_path / "none")]
    )
    with pytest.raises(
        OpenError, match=re.escape(f"cannot find a vmlinux for kernel {lab_dump.facts['release']}")
    ):
        open_dump_target(lab_dump.path)


def test_missing_dump_is_not_replaced_by_live_kernel(lab_manifest: Any, tmp_path: Path) -> None:
    missing = tmp_path / "vmcore"
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "-s", lab_manifest.vmlinux, str(missing)],
        input="sys\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr == f"crashcompat: {missing}: No such file or directory\n"


@pytest.mark.lab_dumps(where=lambda d: "dmesg" in d)  # makedumpfile --dump-dmesg ran in the capture kernel
def test_dmesg_matches_makedumpfile(lab_dump: Any, lab_manifest: Any) -> None:
    """``crashcompat dmesg`` prints what the host's ``makedumpfile --dump-dmesg`` prints for the dump."""
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "dmesg", lab_dump.path, lab_manifest.vmlinux],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == makedumpfile_dmesg(lab_dump.path).decode(errors="replace")


def test_dmesg_without_vmlinux(lab_dump: Any, lab_manifest: Any) -> None:
    """``crashcompat dmesg VMCORE`` alone reads the log from VMCOREINFO, byte for byte what makedumpfile wrote
    (the host's makedumpfile on the dump) or, for QEMU's dumps that makedumpfile cannot read, what the vmlinux's
    types give."""

    def dmesg(*files: str) -> bytes:
        proc = subprocess.run(
            [sys.executable, "-m", "crashcompat", "dmesg", *files],
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    alone = dmesg(lab_dump.path)
    if lab_dump.get("dmesg"):
        assert alone == makedumpfile_dmesg(lab_dump.path)
    else:
        assert alone == dmesg(lab_dump.path, lab_manifest.vmlinux)
    assert alone.count(b"\n") > 100


def test_dmesg_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "crashcompat", "dmesg", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: crashcompat dmesg VMCORE [VMLINUX]")


# ---- inside drgn ------------------------------------------------------------------------------------------


def test_drgn_cli_crash_builtin_and_cc_command(lab_dump: Any, lab_manifest: Any) -> None:
    """``drgn -c VMCORE -s VMLINUX -e 'crash.bt()'`` prints crash's output once and returns it."""
    with_bt = "crash.bt()" if "bt" in _command_names() else "crash.help()"
    code = (
        f"out = {with_bt}\n"
        "assert isinstance(out, str) and out\n"
        "print('RETURNED', len(out))\n"
        "from drgn.commands import run_command\n"
        "run_command(prog, 'cc sys | grep NODENAME')\n"
    )
    argv = [DRGN, "-q", "-c", lab_dump.path, "-s", lab_manifest.vmlinux, "--main-symbols", "-e", code]
    if lab_dump.needs_host_platform:
        argv[1:1] = ["--architecture", "x86_64"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    returned = int(re.search(r"^RETURNED (\d+)$", proc.stdout, re.M).group(1))  # type: ignore[union-attr]
    printed = proc.stdout[: proc.stdout.index("RETURNED")]
    assert len(printed) == returned
    if with_bt == "crash.bt()":
        assert printed.startswith(f"PID: {lab_dump.facts['crash_pid']:<7} ")
    assert f"    NODENAME: {lab_dump.facts['hostname']}\n" in proc.stdout


def _command_names() -> set[str]:
    from crashcompat.core.plugins import PluginHost

    host = PluginHost()
    host.load()
    return {cmd.name for _, cmd in host.hooks.commands()}


# ---- DrgnTarget ------------------------------------------------------------------------------------------


def test_target_identity_matches_crash(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    """Format as the lab recorded it; ``[PARTIAL DUMP]`` exactly when crash 8.0.2's ``sys`` says so (where
    crash was run: not on the reassembled copy of a flattened dump)."""
    info = _target(crash_session(lab_dump)).info
    assert info.format.value == lab_dump.format
    reference = lab_dump.reference("sys")
    if reference is not None:
        assert info.partial == ("[PARTIAL DUMP]" in _sys_value(reference, "DUMPFILE"))


def test_target_reads_facts(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    target = _target(crash_session(lab_dump))
    nodename = target.member("struct uts_namespace", "name.nodename")
    uts = target.symbol_address("init_uts_ns")
    assert target.read_cstring(uts + nodename.offset).decode() == lab_dump.facts["hostname"]
    comm = target.symbol_address("init_task") + target.offsetof("struct task_struct", "comm")
    assert target.read_cstring(comm) == b"swapper/0"
    assert target.vmcoreinfo["OSRELEASE"] == lab_dump.facts["release"]
    for name, address in lab_dump.facts["symbols"].items():
        if not name.startswith("crashme_"):
            assert target.lookup_symbol(name).address == int(address, 16), name


def test_target_layouts_equal_drgn(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    target = _target(crash_session(lab_dump))
    prog = target.prog
    for type_name, path in [
        ("struct task_struct", "tasks"),
        ("struct task_struct", "thread.sp"),
        ("struct task_struct", "sched_reset_on_fork"),
        ("struct mm_struct", "mm_mt" if prog.type("struct mm_struct").has_member("mm_mt") else "mmap"),
        ("struct zone", "free_area[3].nr_free"),
        ("struct pglist_data", "node_zones[1].name"),
        ("struct page", "lru"),
        ("struct sk_buff", "cloned"),
    ]:
        member = target.member(type_name, path)
        obj = drgn.Object(prog, type_name, address=0).subobject_(path)
        layout = (member.offset, member.bit_offset or 0, member.bit_size, member.type_name, member.size)
        assert layout == (
            obj.address_,
            obj.bit_offset_,
            obj.bit_field_size_,
            obj.type_.type_name(),
            drgn.sizeof(obj.type_),
        ), path
        if obj.bit_field_size_ is None:
            assert member.offset == drgn.offsetof(prog.type(type_name), path), path
    assert target.type_size("struct task_struct") == drgn.sizeof(prog.type("struct task_struct"))
    expected = [(e.name, e.value) for e in prog.type("enum pid_type").enumerators or ()]
    assert target.enumerators("pid_type") == expected
    assert target.enumerator("PIDTYPE_SID") == prog.constant("PIDTYPE_SID").value_()


def test_cpu_registers_are_prstatus(lab_dump: Any, crash_session: Callable[[Any], Session]) -> None:
    """Each CPU's registers equal drgn's first frame of the task on that CPU (drgn reads the same
    NT_PRSTATUS), plus what drgn leaves out (``orig_rax``); the crashed CPU runs the crashing task."""
    target = _target(crash_session(lab_dump))
    prog = target.prog
    for cpu in range(2):
        registers = target.cpu_registers(cpu)
        assert registers is not None
        frame = prog.stack_trace(cpu_curr(prog, cpu))[0].registers()
        renamed = {"rflags": "eflags", "fs.base": "fs_base", "gs.base": "gs_base"}
        assert {renamed.get(k, k): v for k, v in frame.items()} == {
            k: v for k, v in registers.items() if k != "orig_rax"
        }
        assert "orig_rax" in registers
    crashed = target.crashed_cpu()
    assert crashed is not None
    if lab_dump.capture == "kdump":
        assert cpu_curr(prog, crashed).pid.value_() == lab_dump.facts["crash_pid"]


def test_module_debuginfo(lab_dump: Any, lab_manifest: Any, crash_session: Callable[[Any], Session]) -> None:
    target = _target(crash_session(lab_dump))
    deref = int(lab_dump.facts["symbols"]["crashme_deref"], 16)
    target.load_module_debuginfo("crashme", lab_manifest.crashme_ko, {})
    symbol = target.symbol_at(deref)
    assert symbol is not None and (symbol.name, symbol.module) == ("crashme_deref", "crashme")
    for name, address in lab_dump.facts["symbols"].items():
        if name.startswith("crashme_"):
            assert target.lookup_symbol(name).address == int(address, 16), name
    assert target.member("struct crashme_obj", "tag").type_name.startswith("char [")
    target.unload_module_debuginfo("crashme")
    assert target.symbol_at(deref) is None
    target.load_module_debuginfo("crashme", lab_manifest.crashme_ko, {})
    assert target.symbol_at(deref) is not None


@pytest.mark.lab_dumps(
    where=lambda d: any(re.search(r"(^|; )(dis -l |sym 0x[0-9a-f]+$)", c) for c in d.get("reference", {}))
)
def test_source_lines_match_crash(
    lab_dump: Any, lab_manifest: Any, crash_session: Callable[[Any], Session]
) -> None:
    """``file: line`` of every instruction crash 8.0.2 printed in ``dis -l`` (none for a module without
    ``mod -s``) and of ``sym ADDRESS``, exactly: GDB's line-table rules and crash's spelling (the unit's
    compilation directory in front of a relative name)."""
    target = _target(crash_session(lab_dump))
    checked = 0
    for command, path in sorted((lab_dump.get("reference") or {}).items()):
        text = Path(path).read_text(errors="replace")
        if "mod -s crashme" in command:
            target.load_module_debuginfo("crashme", lab_manifest.crashme_ko, {})
        else:
            target.unload_module_debuginfo("crashme")
        if re.search(r"(^|; )sym 0x[0-9a-f]+$", command):
            for line in text.splitlines():
                found = re.match(r"^([0-9a-f]{16}) \(\w\) \S+(?: \[\w+\])? ?(?:(\S.*): (\d+))?$", line)
                if found:
                    got = target.source_line(int(found.group(1), 16))
                    expected = (found.group(2), int(found.group(3))) if found.group(2) else None
                    assert ((got.filename, got.line) if got else None) == expected, line
                    checked += 1
        if not re.search(r"(^|; )dis -l ", command):
            continue
        where: tuple[str, int] | None = None
        for line in text.splitlines():
            header = re.match(r"^(\S.*): (\d+)$", line)
            if header:
                where = (header.group(1), int(header.group(2)))
                continue
            insn = re.match(r"^0x([0-9a-f]+) <", line)
            if insn:
                got = target.source_line(int(insn.group(1), 16))
                assert ((got.filename, got.line) if got else None) == where, line
                checked += 1
    target.load_module_debuginfo("crashme", lab_manifest.crashme_ko, {})
    assert checked
