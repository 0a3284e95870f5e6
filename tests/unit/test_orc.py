"""ORC tables, the x86-64 instruction decoder and crash's back-trace algorithm on a synthetic kernel.

The synthetic kernel is laid out by hand: every expected frame below is where the test put a return
address (and how large the test made each frame in its ORC entries or machine code), so the
expectations come from the construction, not from the unwinder's output.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
from collections.abc import Iterator

import pytest

from crashcompat.core.kernel import Kernel, orc, stacks, unwind
from crashcompat.core.kernel.layout import PT_REGS_ORDER
from crashcompat.core.kernel.tasks import Task
from crashcompat.core.kernel.unwind import ExceptionFrame, Frame, Message, NoteRegisters, Separator
from crashcompat.core.kernel.x86insn import Kind, decode
from crashcompat.core.target import Symbol, SymbolBinding, SymbolKind
from crashcompat.plugins import bt as bt_plugin
from crashcompat.testing.synthetic import SyntheticTarget

# ---- the decoder: encodings from the Intel SDM, kinds as gdb prints them ------------------------------


@pytest.mark.parametrize(
    ("code", "length", "kind", "imm"),
    [
        ("55", 1, Kind.PUSH, 0),  # push %rbp
        ("41 57", 2, Kind.PUSH, 0),  # push %r15
        ("6a 00", 2, Kind.PUSH, 0),  # push $0x0
        ("68 00 10 00 00", 5, Kind.PUSH, 0),  # push $0x1000
        ("ff 74 24 08", 4, Kind.PUSH, 0),  # push 0x8(%rsp)
        ("65 ff 34 25 10 00 00 00", 8, Kind.PUSH, 0),  # push %gs:0x10 (segment folded into the operand)
        ("9c", 1, Kind.PUSH, 0),  # pushfq
        ("5d", 1, Kind.POP, 0),  # pop %rbp
        ("41 5c", 2, Kind.POP, 0),  # pop %r12
        ("9d", 1, Kind.POP, 0),  # popfq
        ("f3 48 0f b8 c7", 5, Kind.POP, 0),  # popcnt %rdi,%rax: crash's "pop" prefix match counts it
        ("c9", 1, Kind.LEAVE, 0),
        ("c3", 1, Kind.RET, 0),
        ("c2 08 00", 3, Kind.RET, 0),  # ret $0x8
        ("f3 c3", 2, Kind.OTHER, 0),  # repz ret: gdb's first word is "repz"
        ("f0 ff 07", 3, Kind.OTHER, 0),  # lock incl (%rdi)
        ("48 83 ec 28", 4, Kind.SUB_RSP, 0x28),
        ("48 81 ec 38 02 00 00", 7, Kind.SUB_RSP, 0x238),
        ("48 83 c4 80", 4, Kind.ADD_RSP, 0xFFFFFFFFFFFFFF80),  # add $-0x80: gdb prints 64-bit hex
        ("48 83 e4 f0", 4, Kind.AND_RSP, 0xFFFFFFFFFFFFFFF0),
        ("49 83 ec 08", 4, Kind.OTHER, 0),  # sub $0x8,%r12
        ("83 ec 08", 3, Kind.OTHER, 0),  # sub $0x8,%esp
        ("48 29 c4", 3, Kind.OTHER, 0),  # sub %rax,%rsp: crash cannot parse a register as a number
        ("e8 00 00 00 00", 5, Kind.CALL, 0),
        ("ff d0", 2, Kind.CALL, 0),  # call *%rax
        ("2e e8 00 00 00 00", 6, Kind.OTHER, 0),  # cs call (gdb: "cs call")
        ("0f 1f 44 00 00", 5, Kind.OTHER, 0),  # nopl 0x0(%rax,%rax,1)
        ("66 2e 0f 1f 84 00 00 00 00 00", 10, Kind.OTHER, 0),  # cs nopw 0x0(%rax,%rax,1)
        ("f3 0f 1e fa", 4, Kind.OTHER, 0),  # endbr64
        ("48 b8 01 02 03 04 05 06 07 08", 10, Kind.OTHER, 0),  # movabs $imm64,%rax
        ("48 8b 05 00 00 00 00", 7, Kind.OTHER, 0),  # mov 0x0(%rip),%rax
        ("8b 44 24 08", 4, Kind.OTHER, 0),  # mov 0x8(%rsp),%eax (SIB + disp8)
        ("8b 04 25 00 00 00 00", 7, Kind.OTHER, 0),  # mov 0x0,%eax (SIB, no base: disp32)
        ("f7 c7 00 01 00 00", 6, Kind.OTHER, 0),  # test $0x100,%edi (group 3 /0 has an imm32)
        ("f7 d8", 2, Kind.OTHER, 0),  # neg %eax (group 3 /3: no immediate)
        ("66 f7 c7 00 01", 5, Kind.OTHER, 0),  # test $0x100,%di
        ("c8 10 00 00", 4, Kind.OTHER, 0),  # enter $0x10,$0x0
        ("0f 0b", 2, Kind.OTHER, 0),  # ud2
        ("0f 85 00 00 00 00", 6, Kind.OTHER, 0),  # jne rel32
        ("0f ba e0 03", 4, Kind.OTHER, 0),  # bt $0x3,%eax
        ("66 0f 3a 0f c1 08", 6, Kind.OTHER, 0),  # palignr $0x8,%xmm1,%xmm0
        ("0f 38 f0 07", 4, Kind.OTHER, 0),  # movbe (%rdi),%eax
        ("c5 f8 77", 3, Kind.OTHER, 0),  # vzeroupper
        ("c4 e2 79 18 07", 5, Kind.OTHER, 0),  # vbroadcastss (%rdi),%xmm0
        ("c4 e3 7d 18 c1 01", 6, Kind.OTHER, 0),  # vinsertf128 $0x1,%xmm1,%ymm0,%ymm0
        ("62 f1 7c 48 10 07", 6, Kind.OTHER, 0),  # vmovups (%rdi),%zmm0
        ("0f 20 d8", 3, Kind.OTHER, 0),  # mov %cr3,%rax
        ("06", 1, Kind.BAD, 0),  # push %es: invalid in 64-bit mode
        ("48", 1, Kind.BAD, 0),  # a lone REX prefix at the end of the code
    ],
)
def test_decode(code: str, length: int, kind: Kind, imm: int) -> None:
    insn = decode(bytes.fromhex(code))
    assert (insn.length, insn.kind) == (length, kind)
    if kind in (Kind.ADD_RSP, Kind.SUB_RSP, Kind.AND_RSP):
        assert insn.imm == imm


def test_decode_call_displacement() -> None:
    assert decode(bytes.fromhex("e8 fb ff ff ff")).imm == -5


# ---- a synthetic 6.1-shaped kernel ------------------------------------------------------------------------

STEXT = 0xFFFFFFFF81000000
ETEXT = STEXT + 0x1000
STACK = 0xFFFFC90000010000
THREAD_SIZE = 0x4000
TASK = 0xFFFF888000100000
PAGE_OFFSET = 0xFFFF888000000000
PT_REGS_SIZE = 8 * len(PT_REGS_ORDER)

#: function name → (address, size)
FUNCS = {
    "func_a": (STEXT + 0x100, 0x40),
    "func_b": (STEXT + 0x200, 0x40),
    "func_c": (STEXT + 0x300, 0x40),
    "machine_kexec": (STEXT + 0x400, 0x40),
    "asm_exc_page_fault": (STEXT + 0x500, 0x40),
    "faulting": (STEXT + 0x600, 0x40),
    "__schedule": (STEXT + 0x700, 0x40),
    "asm_exc_divide_error": (STEXT + 0x800, 0x10),
}
CALL, REGS = 0, 1
SP, BP, PREV_SP, UNDEF = 5, 4, 1, 0


class FakeKernel:
    """ORC tables, text, a task stack, ``pt_regs`` and ``inactive_task_frame`` layouts."""

    def __init__(self, orc_entries: list[tuple[int, int, int, int, int, int]]) -> None:
        t = self.t = SyntheticTarget()
        for name, (address, size) in FUNCS.items():
            t.add_symbol(name, address, size, kind=SymbolKind.FUNC)
            # crash's is_kernel_text: a text symbol (type letter t/T) contains the address
            t._symbols[name] = Symbol(name, address, size, SymbolBinding.GLOBAL, SymbolKind.FUNC, None, "T")
        t.map(STEXT, bytes(0x1000))
        for name in ("_stext", "_text"):
            t.add_symbol(name, STEXT)
        t.add_symbol("_etext", ETEXT)
        t.add_symbol("__init_begin", ETEXT + 0x100000)
        t.add_symbol("__init_end", ETEXT + 0x200000)
        page_offset_base = t.alloc(8)
        t.write_u64(page_offset_base, PAGE_OFFSET)
        t.add_symbol("page_offset_base", page_offset_base, 8)
        self._orc_tables(orc_entries)
        t.add_struct(
            "struct pt_regs", PT_REGS_SIZE, {n: (8 * i, 8, "unsigned long") for i, n in enumerate(_PT_NAMES)}
        )
        frame = ("r15", "r14", "r13", "r12", "bx", "bp", "ret_addr")
        t.add_struct(
            "struct inactive_task_frame", 56, {n: (8 * i, 8, "unsigned long") for i, n in enumerate(frame)}
        )
        t.add_struct("struct thread_struct", 16, {"sp": (8, 8, "unsigned long")})
        t.add_struct("struct task_struct", 0x100, {"thread": (0x40, 16, "struct thread_struct")})
        t.add_type("union thread_union", THREAD_SIZE)
        t.map(STACK, bytes(THREAD_SIZE))
        t.map(TASK, bytes(0x100))
        self.kernel = Kernel(t)

    def _orc_tables(self, entries: list[tuple[int, int, int, int, int, int]]) -> None:
        """*entries*: (ip, sp_offset, bp_offset, sp_reg, bp_reg, type), sorted by ip."""
        t = self.t
        t.add_struct(
            "struct orc_entry",
            6,
            {
                "sp_offset": (0, 2, "s16"),
                "bp_offset": (2, 2, "s16"),
                "sp_reg": (4, 4, "unsigned int", 0, 4),
                "bp_reg": (4, 4, "unsigned int", 4, 4),
                "type": (5, 4, "unsigned int", 0, 2),
                "end": (5, 4, "unsigned int", 2, 1),
            },
        )
        # the ip table holds 32-bit offsets: keep it in the kernel image, like .orc_unwind_ip
        ip_table = ETEXT + 0x10000
        orc_table = ip_table + 4 * len(entries)
        t.map(ip_table, bytes(10 * len(entries)))
        for i, (ip, spo, bpo, spr, bpr, typ) in enumerate(entries):
            t.write(ip_table + 4 * i, struct.pack("<i", ip - (ip_table + 4 * i)))
            t.write(orc_table + 6 * i, struct.pack("<hhBB", spo, bpo, spr | bpr << 4, typ))
        ips = [e[0] for e in entries]
        blocks = (ETEXT - STEXT) // orc.LOOKUP_BLOCK_SIZE + 1
        lookup = t.alloc(4 * blocks, 4)
        for i in range(blocks):
            index = max(bisect.bisect_right(ips, STEXT + i * orc.LOOKUP_BLOCK_SIZE) - 1, 0)
            t.write_u32(lookup + 4 * i, index)
        num = t.alloc(4, 4)
        t.write_u32(num, blocks)
        t.add_symbol("__start_orc_unwind_ip", ip_table)
        t.add_symbol("__start_orc_unwind", orc_table)
        t.add_symbol("__stop_orc_unwind", orc_table + 6 * len(entries))
        t.add_symbol("orc_lookup", lookup)
        t.add_symbol("lookup_num_blocks", num)

    def code(self, address: int, hexbytes: str) -> None:
        self.t.write(address, bytes.fromhex(hexbytes))

    def stack(self, address: int, *values: int) -> None:
        for i, value in enumerate(values):
            self.t.write_u64(address + 8 * i, value)

    def pt_regs(self, address: int, **regs: int) -> None:
        for name, value in regs.items():
            self.t.write_u64(address + 8 * _PT_NAMES.index(name), value)


#: ``struct pt_regs`` member names of 6.1 in PT_REGS_ORDER
_PT_NAMES = [{"rbp": "bp", "rbx": "bx", "rax": "ax", "rcx": "cx", "rdx": "dx", "rsi": "si", "rdi": "di",
              "orig_rax": "orig_ax", "rip": "ip", "eflags": "flags", "rsp": "sp"}.get(n, n)
             for n in PT_REGS_ORDER]  # fmt: skip


def fa(offset: int) -> int:
    return FUNCS["func_a"][0] + offset


def fb(offset: int) -> int:
    return FUNCS["func_b"][0] + offset


def fc(offset: int) -> int:
    return FUNCS["func_c"][0] + offset


def task(kthread: bool = False, **kw: int) -> Task:
    fields = dict(
        address=TASK, pid=42, tgid=42, ppid=1, parent=0, comm="t", state="IN", state_value=1, cpu=0, mm=0,
        active_mm=0, stack=STACK, thread_info=TASK, flags=0x00200000 if kthread else 0, rss=0, total_vm=0,
        last_run=0, start_time=0, utime=0, stime=0,
    )  # fmt: skip
    fields.update(kw)
    return Task(**fields)  # type: ignore[arg-type]


@pytest.fixture
def as_task(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """Make :mod:`unwind` see our hand-made task (the task table is not what is tested here)."""
    state: dict[str, object] = {"task": task(), "active": False, "panic": None}
    monkeypatch.setattr(unwind._tasks, "read_task_fields", lambda k, a: state["task"])
    monkeypatch.setattr(unwind._tasks, "is_active", lambda k, a: state["active"])
    monkeypatch.setattr(unwind._tasks, "panic_task", lambda k: state["panic"])
    yield state


def frames(trace: unwind.Backtrace) -> list[tuple[int, int, int]]:
    return [(e.level, e.sp, e.pc) for e in trace.events if isinstance(e, Frame)]


# ---- ORC lookups ------------------------------------------------------------------------------------------


def test_orc_find_picks_the_last_entry_at_or_below() -> None:
    entries = [
        (fa(0), 8, 0, SP, UNDEF, CALL),
        (fa(4), 16, -16, SP, PREV_SP, CALL),
        (fb(0), 8, 0, SP, UNDEF, CALL),
    ]
    fk = FakeKernel(entries)
    tables = orc.tables(fk.kernel)
    assert tables is not None
    found = tables.find(fa(0x10))
    assert found is not None
    assert (found.ip, found.sp_offset, found.bp_offset, found.sp_reg, found.bp_reg) == (
        fa(4),
        16,
        -16,
        SP,
        PREV_SP,
    )
    assert tables.find(fa(3)).sp_offset == 8  # type: ignore[union-attr]
    assert tables.find(fb(0x3F)).ip == fb(0)  # type: ignore[union-attr]
    assert tables.find(STEXT - 1) is None  # below _stext and not in module space
    assert tables.type_call == 0  # the pre-6.4 layout (an "end" member, no "signal")


def test_no_orc_tables() -> None:
    t = SyntheticTarget()
    assert orc.tables(Kernel(t)) is None


def test_orc_module_area_is_the_layouts() -> None:
    """The ORC lookup's module area is :mod:`layout`'s: 512 MiB of image window on this kernel without
    KASLR (no VMCOREINFO, no CONFIG_RANDOMIZE_BASE symbol), as for kmem and the exception-frame check."""
    fk = FakeKernel([(fa(0), 8, 0, SP, UNDEF, CALL)])
    tables = orc.tables(fk.kernel)
    assert tables is not None
    assert (tables.modules_vaddr, tables.modules_end) == (0xFFFFFFFFA0000000, 0xFFFFFFFFFF000000)
    assert tables.in_text(0xFFFFFFFFA0001000) and not tables.in_text(0xFFFFFFFF9FFFF000)


def test_thread_size_and_task_stack() -> None:
    fk = FakeKernel([(fa(0), 8, 0, SP, UNDEF, CALL)])
    assert stacks.task_stack(fk.kernel, STACK) == stacks.StackRange(STACK, STACK + THREAD_SIZE)
    assert stacks.find_irq_stack(fk.kernel, STACK) is None


# ---- a sleeping task: inactive_task_frame, ORC frames, rbp tracking, the disassembly fallback -----------


def sleeping_kernel(func_b_on_rbp: bool) -> tuple[FakeKernel, int]:
    """func_a+0x10 (frame 24 bytes, saved rbp at CFA-16) ← func_b+0x10 ← func_c+11 (sized from its code).

    With *func_b_on_rbp*, func_b's ORC entry finds the CFA from %rbp (a realigned or alloca frame):
    only crash 8.0.3+ follows the rbp saved by func_a; crash 8.0.2 falls back on func_b's code, which the
    test made look like a 48-byte frame.
    """
    b_entry = (fb(2), 16, -16, BP, PREV_SP, CALL) if func_b_on_rbp else (fb(2), 24, 0, SP, UNDEF, CALL)
    entries = [
        (fa(0), 8, 0, SP, UNDEF, CALL),
        (fa(8), 32, -16, SP, PREV_SP, CALL),
        (fb(0), 8, 0, SP, UNDEF, CALL),
        b_entry,
        (fc(0), 0, 0, UNDEF, UNDEF, REGS),  # not a call frame: crash sizes it from the code
    ]
    fk = FakeKernel(entries)
    fk.code(fb(0), "55 53 48 83 ec 20 90 90 90 90 90 e8 00 00 00 00")  # push, push, sub $0x20: 48 bytes
    fk.code(fc(0), "55 53 48 83 ec 10 e8 00 00 00 00")  # push, push, sub $0x10, call: returns to +11
    sp = STACK + 0x3000
    slot0 = sp + 0x30  # inactive_task_frame.ret_addr
    fk.t.write_u64(TASK + 0x48, sp)  # task->thread.sp
    fk.stack(sp + 0x28, slot0 + 0x28)  # inactive_task_frame.bp (unused until func_a's saved rbp)
    fk.stack(slot0, fa(0x10), 0, fc(0x20), 0)  # func_a's frame hides a stale text address
    fk.stack(slot0 + 8 + 32 - 16, slot0 + 0x40 + 8)  # func_a saved rbp at CFA-16: func_b's rbp
    b_slot = slot0 + 32
    fk.stack(b_slot, fb(0x10))
    fk.stack(b_slot + 8 + 16, fc(11))  # where func_b's sp-based entry (24) puts its caller
    return fk, slot0


def test_sleeping_task_follows_orc_frames(as_task: dict[str, object]) -> None:
    fk, slot0 = sleeping_kernel(func_b_on_rbp=False)
    trace = unwind.backtrace(fk.kernel, TASK)
    assert frames(trace) == [(0, slot0, fa(0x10)), (1, slot0 + 32, fb(0x10)), (2, slot0 + 56, fc(11))]
    # a user task: its user-mode registers come last, from the top of the stack; the synthetic frame holds
    # zeros, which do not verify, so crash's warning follows it
    frame, warning = trace.events[-2:]
    assert isinstance(frame, ExceptionFrame) and frame.address == STACK + THREAD_SIZE - PT_REGS_SIZE
    assert warning == Message("possibly bogus exception frame", "warning")


def test_kernel_thread_has_no_user_registers(as_task: dict[str, object]) -> None:
    as_task["task"] = task(kthread=True)
    fk, _ = sleeping_kernel(func_b_on_rbp=False)
    assert not any(isinstance(e, ExceptionFrame) for e in unwind.backtrace(fk.kernel, TASK).events)


def test_rbp_based_frame(as_task: dict[str, object]) -> None:
    fk, slot0 = sleeping_kernel(func_b_on_rbp=True)
    # func_a saved rbp = slot0 + 0x48; func_b's CFA = rbp + 16 = slot0 + 0x58, so its return slot is
    # slot0 + 0x50 — but the test put func_c's return address at slot0 + 56 (an 8.0.2-sized frame
    # would be 48 bytes: slot0 + 32 + 8 + 48).
    fk.stack(slot0 + 56, 0)
    fk.stack(slot0 + 0x50, fc(11))
    assert frames(unwind.backtrace(fk.kernel, TASK))[1:] == [
        (1, slot0 + 32, fb(0x10)),
        (2, slot0 + 0x50, fc(11)),
    ]


def test_text_symbols_lists_every_text_word(as_task: dict[str, object]) -> None:
    fk, slot0 = sleeping_kernel(func_b_on_rbp=False)
    trace = unwind.backtrace(fk.kernel, TASK, text_symbols=True)
    listed = [(e.sp, e.pc) for e in trace.events if isinstance(e, unwind.TextSymbol)]
    assert (slot0 + 16, fc(0x20)) in listed  # the stale address a real trace skips
    assert isinstance(trace.events[0], unwind.TextStart)


# ---- an active task on a dump: the start slot, an exception frame, the register note ------------------


def active_kernel() -> tuple[FakeKernel, int]:
    """machine_kexec+5 (frame 8) ← asm_exc_page_fault+0x22 + pt_regs (faulting+5, frame 0) ← func_a+0x10."""
    entries = [
        (fa(0), 8, 0, SP, UNDEF, CALL),
        (fa(8), 32, -16, SP, PREV_SP, CALL),
        (FUNCS["machine_kexec"][0], 16, 0, SP, UNDEF, CALL),
        (FUNCS["asm_exc_page_fault"][0], 0, 0, SP, UNDEF, REGS),
        (FUNCS["faulting"][0], 8, 0, SP, UNDEF, CALL),
    ]
    fk = FakeKernel(entries)
    kexec = STACK + 0x2000
    fk.stack(kexec - 0x40, FUNCS["func_b"][0] + 3)  # below the start slot: never looked at
    fk.stack(kexec, FUNCS["machine_kexec"][0] + 5, 0, FUNCS["asm_exc_page_fault"][0] + 0x22)
    regs = kexec + 24
    fault_rsp = regs + PT_REGS_SIZE
    fk.pt_regs(regs, ip=FUNCS["faulting"][0] + 5, cs=0x10, ss=0x18, flags=0x246, sp=fault_rsp, bp=0x1234)
    fk.stack(fault_rsp, fa(0x10))
    fk.t.set_registers(0, {"rip": FUNCS["machine_kexec"][0] + 9, "rsp": kexec - 8, "cs": 0x10, "ss": 0x18,
                           "eflags": 0x46, "rbp": 0}, crashed=True)  # fmt: skip
    return fk, kexec


def test_panic_task_starts_at_machine_kexec(as_task: dict[str, object]) -> None:
    as_task.update(active=True, panic=TASK)
    fk, kexec = active_kernel()
    trace = unwind.backtrace(fk.kernel, TASK)
    regs = kexec + 24
    assert frames(trace)[:3] == [
        (0, kexec, FUNCS["machine_kexec"][0] + 5),
        (1, kexec + 16, FUNCS["asm_exc_page_fault"][0] + 0x22),
        (2, regs + PT_REGS_SIZE, fa(0x10)),
    ]
    eframe = next(e for e in trace.events if isinstance(e, ExceptionFrame))
    assert eframe.address == regs and eframe.kernel_mode and eframe.rip_symbol is not None
    assert eframe.rip_symbol.name == "faulting"


def test_render_matches_crash_layout(as_task: dict[str, object]) -> None:
    as_task.update(active=True, panic=TASK)
    fk, kexec = active_kernel()
    text = bt_plugin.render(fk.kernel, unwind.backtrace(fk.kernel, TASK), bt_plugin.BtOptions())
    lines = text.splitlines()
    assert lines[0] == f" #0 [{kexec:x}] machine_kexec at {FUNCS['machine_kexec'][0] + 5:x}"
    assert lines[2] == "    [exception RIP: faulting+5]"
    assert lines[6].startswith("    RBP: 0000000000001234   R8: ")
    assert lines[9] == "    ORIG_RAX: 0000000000000000  CS: 0010  SS: 0018"
    offsets = bt_plugin.render(
        fk.kernel, unwind.backtrace(fk.kernel, TASK), bt_plugin.BtOptions(offsets=True, radix=16)
    )
    assert offsets.splitlines()[0].endswith(f"machine_kexec+0x5 at {FUNCS['machine_kexec'][0] + 5:x}")


def test_kernel_space_registers_when_nothing_is_found(as_task: dict[str, object]) -> None:
    """A CPU whose stacks hold none of crash's markers starts from the register note, and crash 9.0 scans
    its stack from the noted stack pointer on: a stale text address there is the first frame (crash 8.0.x
    failed on such CPUs; we used to step over the interrupted function's frame instead)."""
    as_task.update(active=True, panic=None)
    entries = [
        (fa(0), 8, 0, SP, UNDEF, CALL),
        (fa(8), 32, -16, SP, PREV_SP, CALL),
        (fb(0), 24, 0, SP, UNDEF, CALL),
    ]
    fk = FakeKernel(entries)
    rsp = STACK + 0x3000
    fk.stack(rsp, fc(0x20), 0, fa(0x10))  # fb's CFA is rsp + 24: its return address is at rsp + 16
    fk.t.set_registers(0, {"rip": fb(0x10), "rsp": rsp, "cs": 0x10, "ss": 0x18, "eflags": 0x46, "rbp": 0})
    trace = unwind.backtrace(fk.kernel, TASK)
    assert isinstance(trace.events[0], NoteRegisters) and trace.events[0].header == "kernel"
    assert frames(trace)[0] == (0, rsp, fc(0x20))


def test_unreadable_stack_is_a_crash_message(as_task: dict[str, object]) -> None:
    as_task["task"] = task(stack=0xFFFFC90000100000)
    fk, _ = sleeping_kernel(func_b_on_rbp=False)
    trace = unwind.backtrace(fk.kernel, TASK)
    assert trace.events == [Message("read of stack at ffffc90000100000 failed")]


def test_no_stack(as_task: dict[str, object]) -> None:
    as_task["task"] = task(stack=0)
    fk, _ = sleeping_kernel(func_b_on_rbp=False)
    assert unwind.backtrace(fk.kernel, TASK).events == [Message("(no stack)", "text")]


def test_separator_render() -> None:
    fk = FakeKernel([(fa(0), 8, 0, SP, UNDEF, CALL)])
    trace = unwind.Backtrace(TASK, [Separator("NMI exception stack"), Message("x", "warning")])
    assert (
        bt_plugin.render(fk.kernel, trace, bt_plugin.BtOptions())
        == "--- <NMI exception stack> ---\nWARNING: x\n"
    )


# ---- slow live links (Target.sparse_reads) -------------------------------------------------------------------


def _counting_reads(fk: FakeKernel) -> list[tuple[int, int]]:
    reads: list[tuple[int, int]] = []
    read = fk.t.read

    def counted(address: int, size: int) -> bytes:
        reads.append((address, size))
        return read(address, size)

    fk.t.read = counted  # type: ignore[method-assign]
    return reads


def test_sparse_reads_walk_reads_only_the_words_it_touches(as_task: dict[str, object]) -> None:
    """On a slow link the tracer reads the stack in pieces as the walk reaches them: the same frames, and
    none of the stack below where the walk starts."""
    fk, slot0 = sleeping_kernel(func_b_on_rbp=False)
    whole = unwind.backtrace(fk.kernel, TASK)
    fk, slot0 = sleeping_kernel(func_b_on_rbp=False)
    fk.t.sparse_reads = True
    reads = _counting_reads(fk)
    sparse = unwind.backtrace(fk.kernel, TASK)
    assert (
        frames(sparse)
        == frames(whole)
        == [
            (0, slot0, fa(0x10)),
            (1, slot0 + 32, fb(0x10)),
            (2, slot0 + 56, fc(11)),
        ]
    )
    assert sparse.events == whole.events
    stack_reads = [(a, n) for a, n in reads if STACK <= a < STACK + THREAD_SIZE]
    assert stack_reads and max(n for _, n in stack_reads) <= unwind.STACK_CHUNK
    # the task slept with its stack pointer at STACK + 0x3000: nothing below it is read
    assert min(a for a, _ in stack_reads) >= STACK + 0x3000


def test_live_stub_registers_are_where_the_trace_starts(as_task: dict[str, object]) -> None:
    """A live stub's registers start the trace with no search of the stacks: a stale marker word (a
    ``crash_kexec`` return address) left below the stack pointer is not taken for the panic frame."""
    as_task.update(active=True, panic=None)
    entries = [
        (fa(0), 8, 0, SP, UNDEF, CALL),
        (fa(8), 32, -16, SP, PREV_SP, CALL),
        (fb(0), 24, 0, SP, UNDEF, CALL),
    ]
    fk = FakeKernel(entries)
    fk.t._info = dataclasses.replace(fk.t.info, live=True)
    fk.t.sparse_reads = True
    kexec = fk.t.alloc(0x40)
    fk.t.add_symbol("crash_kexec", kexec, 0x40, kind=SymbolKind.FUNC)
    rsp = STACK + 0x3000
    fk.stack(rsp - 0x100, kexec + 5)  # a stale word of an earlier call, below the stack pointer
    fk.stack(rsp, fc(0x20), 0, fa(0x10))
    fk.t.set_registers(0, {"rip": fb(0x10), "rsp": rsp, "cs": 0x10, "ss": 0x18, "eflags": 0x46, "rbp": 0})
    trace = unwind.backtrace(fk.kernel, TASK)
    assert isinstance(trace.events[0], NoteRegisters) and trace.events[0].header == "kernel"
    assert frames(trace)[0] == (0, rsp, fc(0x20))  # scanned from the stub's stack pointer, as crash 9
