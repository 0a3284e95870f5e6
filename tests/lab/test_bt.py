"""``bt`` on the lab's real dumps, beside the byte-for-byte comparison with crash's newest release that
``test_references.py`` makes for every ``bt`` line of the lab's references.

Oracles here:

* drgn's stack trace of every task of every dump: each frame crashcompat prints is one of drgn's frames,
  in drgn's order (crash adds its own top frames above where drgn starts for a panicking task).  A CPU
  that ``panic()`` stopped with an IPI is the exception: crash 9.0 starts its trace from what it finds on
  the stack, stale words included, so there drgn's frames are a subsequence of ours.
* the guest's facts (its sleeping processes);
* objdump, for the instruction decoder that sizes frames when ORC cannot.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from crashcompat.core.kernel import symbols, tasks, unwind
from crashcompat.core.kernel.x86insn import Kind, decode
from crashcompat.core.session import Session
from crashcompat.testing.lab import expect_failure

pytestmark = pytest.mark.lab

FRAME = re.compile(r"^ ?#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)(.*)$")
HEADER = re.compile(r'^PID: (\d+) +TASK: ([0-9a-f]+) +CPU: (\d+) +COMMAND: "(.*)"$')


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


def prog_of(session: Session) -> Any:
    return session.target.prog  # type: ignore[attr-defined]


def drgn_frames(session: Session, task: int) -> list[int]:
    """The return addresses (and interrupted pcs) of drgn's stack trace of *task*, inline frames and
    non-text frames left out."""
    import drgn

    prog = prog_of(session)
    out: list[int] = []
    for frame in prog.stack_trace(drgn.Object(prog, "struct task_struct *", task)):
        if frame.is_inline or not symbols.is_kernel_text(session.kernel, frame.pc):
            continue
        if not out or out[-1] != frame.pc:
            out.append(frame.pc)
    return out


def printed_pcs(trace: unwind.Backtrace) -> list[int]:
    """Frame addresses of a trace: frame lines, kernel-mode exception RIPs and a kernel-mode register note."""
    out: list[int] = []
    for e in trace.events:
        if isinstance(e, unwind.Frame):
            pc = e.pc
        elif isinstance(e, unwind.ExceptionFrame | unwind.NoteRegisters) and not e.regs["cs"] & 3:
            pc = e.regs["rip"]
        else:
            continue
        if not out or out[-1] != pc:
            out.append(pc)
    return out


#: (series, dump) -> why the drgn check fails there; strict expected failures (issue 15 stays open).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _known_bug(request: pytest.FixtureRequest, lab_dump: Any) -> None:
    expect_failure(request, KNOWN_BUGS.get((lab_dump.kernel, lab_dump.name)))


def test_every_frame_is_a_drgn_frame(session: Session, lab_dump: Any, request: pytest.FixtureRequest) -> None:
    """All tasks: the frames bt prints are drgn's frames, in order, from where drgn's trace and ours meet."""
    _known_bug(request, lab_dump)
    kernel = session.kernel
    ipi_stopped = ipi_stopped_tasks(session) if lab_dump.capture == "qemu" else set()
    checked = 0
    start = time.monotonic()
    import drgn

    for task in tasks.for_each_task(kernel):
        if drgn.Object(prog_of(session), "struct task_struct *", task.address).exit_state:
            checked += (
                1  # a zombie's stack is freed: drgn has no trace (crash's foreach bt is compared elsewhere)
            )
            continue
        ours = printed_pcs(unwind.backtrace(kernel, task.address))
        theirs = drgn_frames(session, task.address)
        assert ours and theirs, task
        if task.address in ipi_stopped:
            assert is_subsequence(theirs[1:], ours), (task.pid, task.comm)
        elif ours[0] in theirs:  # drgn starts above us (a sleeping task, or delay_tsc under panic)
            assert theirs[theirs.index(ours[0]) :] == ours, (task.pid, task.comm)
        else:  # crash starts above drgn (machine_kexec, crash_nmi_callback …)
            assert theirs[0] in ours, (task.pid, task.comm)
            assert ours[ours.index(theirs[0]) :] == theirs, (task.pid, task.comm)
        checked += 1
    assert checked == len(list(tasks.for_each_task(kernel)))
    assert time.monotonic() - start < 30


def test_sleepers(session: Session, lab_dump: Any) -> None:
    """``bt PID`` of the guest's sleeping processes (crash 8.0.2 cannot find them on this kernel)."""
    for sleeper in lab_dump.facts.get("sleepers", []):
        out = session.run(f"bt {sleeper['pid']}", echo=False).splitlines()
        header = HEADER.match(out[0])
        assert (
            header is not None
            and header.group(1) == str(sleeper["pid"])
            and header.group(4) == sleeper["comm"]
        )
        names = [m.group(3) for m in map(FRAME.match, out) if m]
        assert names[:2] == ["__schedule", "schedule"]
        assert "entry_SYSCALL_64_after_hwframe" in names
        assert out[-1].startswith("    ORIG_RAX: ") and out[-1].endswith("CS: 0033  SS: 002b")


def ipi_stopped_tasks(session: Session) -> set[int]:
    """The tasks running on the CPUs that panic() stopped with an IPI (``struct task_struct *``)."""
    panic_cpu = tasks.panic_cpu(session.kernel)
    return {task for cpu, task in tasks.active_tasks(session.kernel).items() if cpu != panic_cpu}


def is_subsequence(part: list[int], whole: list[int]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


@pytest.mark.lab_dumps(capture="qemu")
def test_ipi_stopped_cpu(session: Session, lab_dump: Any, request: pytest.FixtureRequest) -> None:
    """The CPU that ``panic()`` stopped with an IPI: its trace crosses from the IRQ stack, and holds every
    frame drgn finds, in drgn's order."""
    _known_bug(request, lab_dump)
    for task in ipi_stopped_tasks(session):
        cpu = tasks.read_task_fields(session.kernel, task).cpu
        out = session.run(f"bt -c {cpu}", echo=False)
        assert "--- <IRQ stack> ---" in out
        # drgn starts at the noted RIP, which crash 9.0 does not use on an ELF dump (see unwind's docstring)
        theirs = drgn_frames(session, task)[1:]
        assert is_subsequence(theirs, printed_pcs(unwind.backtrace(session.kernel, task)))


# ---- errors ------------------------------------------------------------------------------------------------


def test_bad_arguments(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    ncpus = tasks.cpu_count(session.kernel)
    assert session.run("bt 99999", echo=False) == "bt: invalid task or pid value: 99999\n"
    assert session.run(f"bt -c {ncpus}", echo=False) == f"bt: invalid cpu specification: {ncpus}\n"
    assert session.run("bt -x -d", echo=False) == "bt: -d and -x are mutually exclusive\n"
    assert session.run("bt -Q", echo=False).startswith("Usage:\n  bt ")
    assert capsys.readouterr().err == "bt: invalid option -- 'Q'\n"
    out = session.run("bt 99999 1", echo=False).splitlines()
    assert out[0] == "bt: invalid task or pid value: 99999" and out[1] == ""
    assert HEADER.match(out[2])


# ---- the decoder --------------------------------------------------------------------------------------------


def test_decoder_against_objdump(lab_manifest: Any) -> None:
    """Instruction lengths and the kinds crash counts, over 4 MiB of the lab kernel's text."""
    from crashcompat.core.elf import ElfFile

    vmlinux = lab_manifest.vmlinux
    elf = ElfFile(vmlinux)
    text = elf.section(".text")
    assert text is not None
    start, stop = text.address + 0x200000, text.address + 0x600000
    with open(vmlinux, "rb") as f:
        f.seek(text.offset + 0x200000)
        code = f.read(stop - start)
    proc = subprocess.run(
        [
            "objdump",
            "-d",
            "-w",
            "--insn-width=16",
            f"--start-address={start:#x}",
            f"--stop-address={stop:#x}",
            vmlinux,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line_re = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S*)\s*(\S*)")
    checked = 0
    for line in proc.stdout.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        address, raw, word, operands = int(m.group(1), 16), m.group(2).split(), m.group(3), m.group(4)
        if address + 16 >= stop or word == "finit":  # the slice's end; fwait+fninit: objdump fuses two
            continue
        insn = decode(code, address - start)
        assert insn.length == len(raw), line
        expected = {
            "push": Kind.PUSH,
            "pop": Kind.POP,
            "leave": Kind.LEAVE,
            "ret": Kind.RET,
            "call": Kind.CALL,
        }
        kind = next(
            (k for w, k in expected.items() if word.startswith(w) and (w in ("push", "pop") or word == w)),
            None,
        )
        if word in ("add", "sub", "and") and re.fullmatch(r"\$0x[0-9a-f]+,%rsp", operands):
            kind = {"add": Kind.ADD_RSP, "sub": Kind.SUB_RSP, "and": Kind.AND_RSP}[word]
            assert insn.imm == int(operands[1:].split(",")[0], 16), line
        assert insn.kind == (kind or (Kind.BAD if word == "(bad)" else Kind.OTHER)), line
        checked += 1
    assert checked > 500_000
