"""``bt`` on the lab's real dumps.

Oracles:

* Debian crash 8.0.2's own output on each dump (the lab's reference files).  With ``set bt_orc 8.0.2``
  crashcompat sizes frames the way crash 8.0.2 does, and must print the same lines — every option, every
  dump — except where crash 8.0.2 fails (the IPI-stopped CPU of QEMU dumps) and the source lines of
  ``bt -l``, which come from the backend's line table.
* By default frames are sized like crash 8.0.3+ (ORC following %rbp), which drops the stale return
  addresses crash 8.0.2 shows above ``do_syscall_64``.  There, crash 8.0.2's output with its stale frames
  removed is the reference, where "stale" is decided by drgn's own unwinder: a frame line after the first
  real frame whose address is not a frame of drgn's stack trace.
* drgn's stack trace of every task of every dump: each frame crashcompat prints is one of drgn's frames,
  in drgn's order (crash adds its own top frames above where drgn starts for a panicking task).
* objdump, for the instruction decoder that sizes frames when ORC cannot.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from crashcompat.core.kernel import symbols, tasks, unwind
from crashcompat.core.kernel.x86insn import Kind, decode
from crashcompat.core.session import Session

pytestmark = pytest.mark.lab

FRAME = re.compile(r"^ ?#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)(.*)$")
HEADER = re.compile(r'^PID: (\d+) +TASK: ([0-9a-f]+) +CPU: (\d+) +COMMAND: "(.*)"$')
#: bt command lines of the references that this module compares (foreach is another command's).
BT_LINE = re.compile(r"^bt( |$)")


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


@contextmanager
def crash_802(session: Session) -> Iterator[None]:
    session.run("set bt_orc 8.0.2", echo=False)
    try:
        yield
    finally:
        session.run("set bt_orc 8.0.3", echo=False)


def prog_of(session: Session) -> Any:
    return session.target.prog  # type: ignore[attr-defined]


def references(lab_dump: Any) -> list[tuple[str, str]]:
    """(command, crash's output) of the dump's bt references, in the order crash ran them."""
    out = []
    for command, path in lab_dump.get("reference", {}).items():
        if BT_LINE.match(command):
            with open(path) as f:
                out.append((command, f.read()))
    return out


def blocks(text: str) -> list[list[str]]:
    """The output split into per-task blocks (each starting with its ``PID:`` header)."""
    out: list[list[str]] = []
    for line in text.splitlines():
        if HEADER.match(line) or not out:
            out.append([])
        out[-1].append(line)
    return [[line for line in b if line] for b in out]


def crash_failed(block: list[str]) -> bool:
    """crash 8.0.2 cannot trace the IPI-stopped CPU of a QEMU dump (it reads an IST slot of size 0)."""
    return any(line.startswith("bt: invalid size request: 0") for line in block)


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


# ---- crash 8.0.2, line for line -----------------------------------------------------------------------


def has_bt_references(lab_dump: Any) -> bool:
    return any(BT_LINE.match(c) for c in lab_dump.get("reference", {}))


@pytest.mark.lab_dumps(where=has_bt_references)
def test_crash_802_frame_sizes_reproduce_crash(session: Session, lab_dump: Any) -> None:
    refs = [(c, text) for c, text in references(lab_dump)]
    with crash_802(session):
        for command, reference in refs:
            ours = session.run(command, echo=False)
            theirs_blocks, our_blocks = blocks(reference), blocks(ours)
            assert len(our_blocks) == len(theirs_blocks), command
            for theirs, mine in zip(theirs_blocks, our_blocks, strict=True):
                if crash_failed(theirs):
                    assert mine[0] == theirs[0], command  # the header; the trace is checked against drgn
                    continue
                assert mine == theirs, f"{lab_dump.name}: {command}"


def bt_l_after_mod_s(lab_dump: Any) -> str | None:
    """The dump's ``mod -s ...; bt -l`` reference command line, if crash was run with one."""
    return next(
        (c for c in lab_dump.get("reference", {}) if c.startswith("mod -s") and c.endswith("bt -l")), None
    )


@pytest.mark.lab_dumps(where=lambda d: bt_l_after_mod_s(d) is not None)
def test_source_lines_after_mod_s(session: Session, lab_dump: Any, lab_manifest: Any) -> None:
    command = bt_l_after_mod_s(lab_dump)
    assert command is not None
    with open(lab_dump["reference"][command]) as f:
        reference = f.read().splitlines()
    with crash_802(session):
        for part in command.split(";")[:-1]:
            session.run(part.strip(), echo=False)
        ours = session.run("bt -l", echo=False).splitlines()
    assert len(ours) == len(reference)
    same = 0
    for mine, theirs in zip(ours, reference, strict=True):
        if theirs.startswith("    ") and theirs[4] in "/abcdefghijklmnopqrstuvwxyz" and ": " in theirs:
            # a source line: the same file; the line may differ where gdb's line table lookup skips
            # non-statement rows (syscall_exit_to_user_mode+30: crash says 145, the DWARF row says 309)
            assert mine.rsplit(": ", 1)[0] == theirs.rsplit(": ", 1)[0]
        else:
            assert mine == theirs
        same += mine == theirs
    assert same >= 0.9 * len(reference)


# ---- crash 8.0.3+ (the default) --------------------------------------------------------------------------


def drop_stale_frames(session: Session, block: list[str]) -> list[str]:
    """crash 8.0.2's trace of one task without its stale frames (see the module docstring), renumbered.

    Frames are matched with drgn's trace in order: crash's own top frames come before the first frame
    drgn has; after it, a frame that is not drgn's next frame is stale (it may repeat a real return
    address that a deeper call left on the stack)."""
    header = HEADER.match(block[0])
    assert header is not None
    real = drgn_frames(session, int(header.group(2), 16))
    out = [block[0]]
    next_real: int | None = None  # index in *real* of the next frame once the traces met

    def is_real(pc: int) -> bool:
        nonlocal next_real
        if next_real is None:
            if pc in real:
                next_real = real.index(pc) + 1
            return True
        if next_real < len(real) and real[next_real] == pc:
            next_real += 1
            return True
        # the pc of an exception frame again, as the frame crash starts after an exception stack
        return next_real > 0 and real[next_real - 1] == pc

    level = 0
    for i, line in enumerate(block[1:], 1):
        m = FRAME.match(line)
        if line.startswith("    [exception RIP: ") and i + 1 < len(block):
            is_real(int(block[i + 1].split()[1], 16))
        if not m:
            out.append(line)
            continue
        if not is_real(int(m.group(4), 16)):
            continue
        out.append(
            f"{' ' if level < 10 else ''}#{level} [{m.group(2)}] {m.group(3)} at {m.group(4)}{m.group(5)}"
        )
        level += 1
    return out


@pytest.mark.lab_dumps(where=has_bt_references)
def test_default_is_crash_without_stale_frames(session: Session, lab_dump: Any) -> None:
    refs = [(c, t) for c, t in references(lab_dump) if not re.search(r" -[a-zA-Z]*[fF]", c)]
    assert refs
    for command, reference in refs:
        ours = blocks(session.run(command, echo=False))
        theirs = blocks(reference)
        assert len(ours) == len(theirs)
        for mine, block in zip(ours, theirs, strict=True):
            if crash_failed(block):
                continue
            assert mine == drop_stale_frames(session, block), f"{lab_dump.name}: {command}"


def test_every_frame_is_a_drgn_frame(session: Session, lab_dump: Any) -> None:
    """All tasks: the frames bt prints are drgn's frames, in order, from where drgn's trace and ours meet."""
    kernel = session.kernel
    checked = 0
    start = time.monotonic()
    for task in tasks.for_each_task(kernel):
        ours = printed_pcs(unwind.backtrace(kernel, task.address))
        theirs = drgn_frames(session, task.address)
        assert ours and theirs, task
        if ours[0] in theirs:  # drgn starts above us (a sleeping task, or delay_tsc under panic)
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


@pytest.mark.lab_dumps(capture="qemu")
def test_ipi_stopped_cpu(session: Session, lab_dump: Any) -> None:
    """The CPU that ``panic()`` stopped with an IPI: crash 8.0.2 fails; its frames are drgn's."""
    active = tasks.active_tasks(session.kernel)
    panic_cpu = tasks.panic_cpu(session.kernel)
    for cpu, task in sorted(active.items()):
        if cpu == panic_cpu:
            continue
        out = session.run(f"bt -c {cpu}", echo=False)
        assert "--- <IRQ stack> ---" in out
        trace = unwind.backtrace(session.kernel, task)
        assert printed_pcs(trace) == drgn_frames(session, task)


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
