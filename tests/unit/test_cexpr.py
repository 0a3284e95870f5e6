"""C expressions as GDB evaluates them for ``p`` (core.cexpr), printed by the shared printer, on a small
synthetic kernel; the expected texts are crash 8.0.2's for the same expressions on the lab kernel."""

from __future__ import annotations

import struct

import pytest

from crashcompat.core.cexpr import ExpressionError, evaluate
from crashcompat.core.dataprint import DataPrinter
from crashcompat.core.kernel import Kernel
from crashcompat.core.target import FaultError, SymbolKind
from crashcompat.core.typeinfo import (
    CMember,
    array_of,
    enum_type,
    function_type,
    int_type,
    struct_type,
    void_type,
)
from crashcompat.testing.synthetic import SyntheticTarget, list_head_type

INT = int_type("int", 4)
ULONG = int_type("unsigned long", 8, False)
CHAR = int_type("char", 1)


LIST_HEAD = list_head_type()
TASK = struct_type(
    "task_struct",
    64,
    [
        CMember("pid", INT, 0),
        CMember("comm", array_of(CHAR, 16), 32),
        CMember("tasks", LIST_HEAD, 192),
        CMember("flag", int_type("unsigned int", 4, False), 320, 1),
    ],
)
PID_TYPE = enum_type("pid_type", [("PIDTYPE_PID", 0), ("PIDTYPE_TGID", 1)])


@pytest.fixture
def kernel() -> Kernel:
    t = SyntheticTarget()
    t.add_ctype("struct list_head", LIST_HEAD)
    t.add_ctype("struct task_struct", TASK)
    t.add_ctype("enum pid_type", PID_TYPE)
    t.add_ctype("int", INT)
    t.add_ctype("char", CHAR)
    t.add_ctype("unsigned long", ULONG)
    t.add_ctype("long", int_type("long", 8))
    task = t.alloc(64)
    t.write(task, struct.pack("<i", 7) + b"swapper/0")
    t.write_u64(task + 24, task + 24)
    t.write_u64(task + 32, task + 24)
    t.write_u32(task + 40, 1)
    t.add_variable("init_task", TASK, task)
    jiffies = t.alloc(8)
    t.write_u64(jiffies, 4294894946)
    t.add_variable("jiffies", ULONG.qualified(volatile=True), jiffies)
    t.add_variable("schedule", function_type(void_type()), 0xFFFFFFFF81A114F0, SymbolKind.FUNC)
    t.add_symbol("page_offset_base", t.alloc(8), 8)
    return Kernel(t)


def show(kernel: Kernel, text: str, radix: int = 10, fmt: str | None = None) -> str:
    value = evaluate(kernel, text)
    printer = DataPrinter(kernel, radix, fmt)
    return printer.print_value(value.type, value.address, value.data)


def test_members_arrays_and_pointers(kernel: Kernel) -> None:
    task = kernel.symbol("init_task")
    assert show(kernel, "init_task.comm") == '"swapper/0\\000\\000\\000\\000\\000\\000"'
    assert show(kernel, "init_task.pid") == "7"
    assert show(kernel, "init_task.comm[0]") == "115 's'"
    assert show(kernel, "&init_task.tasks") == f"(struct list_head *) 0x{task + 24:x}"
    assert show(kernel, "init_task.tasks.next->next") == f"(struct list_head *) 0x{task + 24:x}"
    assert show(kernel, "&init_task.comm") == f"(char (*)[16]) 0x{task + 4:x}"
    assert show(kernel, "&init_task.comm[1]") == f'0x{task + 5:x} "wapper/0"'
    assert show(kernel, "*init_task.comm@3") == '"swa"'
    assert show(kernel, f"((struct task_struct *)0x{task:x})->pid") == "7"
    assert show(kernel, f"*(struct list_head *)0x{task + 24:x}") == (
        f"{{\n  next = 0x{task + 24:x},\n  prev = 0x{task + 24:x}\n}}"
    )
    assert show(kernel, "init_task.flag") == "1"
    assert show(kernel, "(&init_task)->pid") == "7"
    assert show(kernel, "(&init_task.tasks)[0].next == &init_task.tasks") == "1"


def test_arithmetic_sizes_and_constants(kernel: Kernel) -> None:
    assert show(kernel, "jiffies + 1") == "4294894947"
    assert show(kernel, "jiffies", 16) == "0xfffee562"
    assert show(kernel, "sizeof(struct task_struct)") == "64"
    assert show(kernel, "sizeof(init_task)") == "64"
    assert show(kernel, "sizeof init_task.comm") == "16"
    assert show(kernel, "10/3") == "3"
    assert show(kernel, "-7/2") == "-3"
    assert show(kernel, "0xffffffff") == "4294967295"
    assert show(kernel, "(char)65") == "65 'A'"
    assert show(kernel, "(long)-1") == "-1"
    assert show(kernel, "1 << 40") == "0"  # int arithmetic, as in C
    assert show(kernel, "1UL << 40") == "1099511627776"
    assert show(kernel, "0x10u") == "16"
    assert show(kernel, "PIDTYPE_TGID") == "PIDTYPE_TGID"
    assert show(kernel, "PIDTYPE_TGID", fmt="d") == "1"
    assert show(kernel, "init_task.pid * 2 + 1") == "15"
    assert show(kernel, "(unsigned long)&init_task.tasks - (unsigned long)&init_task") == "24"
    assert (
        show(kernel, "&init_task.tasks + 1") == f"(struct list_head *) 0x{kernel.symbol('init_task') + 40:x}"
    )


def test_functions(kernel: Kernel) -> None:
    assert show(kernel, "schedule") == "{void (void)} 0xffffffff81a114f0"
    assert show(kernel, "*schedule") == "{void (void)} 0xffffffff81a114f0"
    assert show(kernel, "&schedule") == "(void (*)(void)) 0xffffffff81a114f0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch", 'No symbol "nosuch" in current context.'),
        ("init_task.nosuch", "There is no member named nosuch."),
        ("init_task.pid.x", "Attempt to extract a component of a value that is not a structure."),
        ("*init_task.pid", "Attempt to take contents of a non-pointer value."),
        ("init_task.pid[1]", "cannot subscript something of type `int'"),
        ("1 +", "A syntax error in expression, near `'."),
        ("1 / 0", "Division by zero"),
        ("(struct nosuch *)0", 'No symbol "nosuch" in current context.'),
    ],
)
def test_errors(kernel: Kernel, text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as e:
        value = evaluate(kernel, text)
        _ = value.data
    assert str(e.value) == message


def test_values_are_read_when_printed(kernel: Kernel) -> None:
    value = evaluate(kernel, "*(int *)0")  # like GDB, evaluating does not read yet
    with pytest.raises(FaultError):
        _ = value.data
