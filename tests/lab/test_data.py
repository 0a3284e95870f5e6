"""The type model and crash's value printer (core.typeinfo, core.values, core.crashdata) on the lab's real
dumps, drgn backend, against the real crash (Debian's 8.0.2) run on the same dump (:mod:`crash_oracle`).

Each case is a crash command line and the same text built from the core layer: type layouts (``struct
NAME``, ``-o``), whole structs at an address (``-x``), member lists, ``p`` of globals (with crash's
``NAME = $N =`` leader), ``whatis`` of variables, typedefs and enums.  ``$N`` (GDB's value-history number,
which depends on what ran before) is compared as ``$N``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from crash_oracle import run_crash

from crashcompat.core import crashdata
from crashcompat.core.kernel import Kernel, tasks
from crashcompat.core.kernel.gdbsyms import gdb_symbol
from crashcompat.core.session import Session
from crashcompat.core.typeinfo import CType, TypeKind, type_body, type_name
from crashcompat.core.values import CRASH_PRINT, ValuePrinter

pytestmark = [pytest.mark.lab, pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf")]

_HISTORY = re.compile(r"\$\d+ = ")


def _printer(kernel: Kernel, radix: int = 10) -> ValuePrinter:
    return ValuePrinter(
        read=kernel.read, symbolize=lambda a: gdb_symbol(kernel, a), options=CRASH_PRINT.with_radix(radix)
    )


def _struct_type(kernel: Kernel, name: str) -> CType:
    return kernel.type_info(f"struct {name}")


def struct_at(kernel: Kernel, name: str, address: int, radix: int = 10) -> str:
    """``struct NAME ADDRESS``."""
    t = _struct_type(kernel, name)
    assert t.size is not None
    return f"struct {name} " + _printer(kernel, radix).value(t, kernel.read(address, t.size), address) + "\n"


def members_at(kernel: Kernel, name: str, members: list[str], address: int) -> str:
    """``struct NAME.m1,m2 ADDRESS``: crash prints the whole struct for each member and picks it out."""
    out = []
    for m in members:
        text = struct_at(kernel, name, address)
        if "." in m or "[" in m:
            found = crashdata.member_path_data(text, m)
            out.append(
                found if found is not None else f"struct: invalid data structure member reference: {m}\n"
            )
        else:
            out.append(crashdata.member_data(text, m))
    return "".join(out)


def layout(kernel: Kernel, name: str, offsets: bool = False) -> str:
    """``struct NAME`` / ``struct -o NAME``."""
    t = _struct_type(kernel, name)
    assert t.size is not None

    def offset_of(member: str) -> int | None:
        found = t.member(member)
        return None if found is None else found[0] // 8

    ptype = "type = " + type_body(t) + "\n"
    return crashdata.declaration(ptype, name, t.size, offsets=offsets, offset_of=offset_of)


def print_global(kernel: Kernel, name: str, radix: int = 10) -> str:
    """``p NAME`` of a global variable or function."""
    t = kernel.variable_type(name)
    address = kernel.symbol(name)
    size = t.strip_typedefs().size or 0
    value = _printer(kernel, radix).print_value(t, kernel.read(address, size), address)
    return crashdata.with_leader(name, f"$1 = {value}\n")


def print_member(kernel: Kernel, name: str, path: list[str], radix: int = 10) -> str:
    """``p NAME.a.b`` (no leader: the expression is not a symbol)."""
    t = kernel.variable_type(name)
    address = kernel.symbol(name)
    for step in path:
        found = t.member(step)
        assert found is not None, step
        address += found[0] // 8
        t = found[1].type
    size = t.strip_typedefs().size or 0
    return f"$1 = {_printer(kernel, radix).print_value(t, kernel.read(address, size), address)}\n"


def whatis(kernel: Kernel, name: str) -> str:
    return crashdata.variable_declaration(name, type_name(kernel.variable_type(name)))


def whatis_type(kernel: Kernel, name: str) -> str:
    t = kernel.type_info(name)
    if t.strip_typedefs().kind == TypeKind.ENUM and t.kind != TypeKind.TYPEDEF:
        return crashdata.enum_declaration(t)
    assert t.size is not None
    return crashdata.declaration(
        "type = " + type_body(t) + "\n", name, t.size, typedef=t.kind == TypeKind.TYPEDEF
    )


def cases(kernel: Kernel, facts: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """crash command line → the same text from the core layer."""
    task = tasks.default_context(kernel)
    init_task = kernel.symbol("init_task")
    objects = [int(o["address"], 16) for o in facts["test_module"]["list_objects"][:3]]
    cache = kernel.read_pointer(kernel.symbol("crashme_cache"))
    out: dict[str, Callable[[], str]] = {
        "struct list_head": lambda: layout(kernel, "list_head"),
        "struct -o list_head": lambda: layout(kernel, "list_head", True),
        "struct -o task_struct": lambda: layout(kernel, "task_struct", True),
        "struct -o kobject": lambda: layout(kernel, "kobject", True),
        "struct crashme_obj": lambda: layout(kernel, "crashme_obj"),
        "struct -o crashme_obj": lambda: layout(kernel, "crashme_obj", True),
        f"struct task_struct {task:x}": lambda: struct_at(kernel, "task_struct", task),
        f"struct task_struct -x {task:x}": lambda: struct_at(kernel, "task_struct", task, 16),
        f"struct task_struct {init_task:x}": lambda: struct_at(kernel, "task_struct", init_task),
        f"struct task_struct.pid,comm,tasks {task:x}": lambda: members_at(
            kernel, "task_struct", ["pid", "comm", "tasks"], task
        ),
        f"struct task_struct.se.avg,se.load {task:x}": lambda: members_at(
            kernel, "task_struct", ["se.avg", "se.load"], task
        ),
        f"struct kmem_cache {cache:x}": lambda: struct_at(kernel, "kmem_cache", cache),
        "p jiffies": lambda: print_global(kernel, "jiffies"),
        "p -x jiffies": lambda: print_global(kernel, "jiffies", 16),
        "p init_task": lambda: print_global(kernel, "init_task"),
        "p linux_banner": lambda: print_global(kernel, "linux_banner"),
        "p init_uts_ns": lambda: print_global(kernel, "init_uts_ns"),
        "p schedule": lambda: print_global(kernel, "schedule"),
        "p system_state": lambda: print_global(kernel, "system_state"),
        "p init_task.comm": lambda: print_member(kernel, "init_task", ["comm"]),
        "p init_task.sched_class": lambda: print_member(kernel, "init_task", ["sched_class"]),
        "p init_task.se": lambda: print_member(kernel, "init_task", ["se"]),
        "p crashme_magic": lambda: print_global(kernel, "crashme_magic"),
        "p crashme_banner": lambda: print_global(kernel, "crashme_banner"),
        "p crashme_list": lambda: print_global(kernel, "crashme_list"),
        "p -x crashme_nobj": lambda: print_global(kernel, "crashme_nobj", 16),
        "p crashme_cache": lambda: print_global(kernel, "crashme_cache"),
        "p crashme_deref": lambda: print_global(kernel, "crashme_deref"),
        "whatis init_task": lambda: whatis(kernel, "init_task"),
        "whatis schedule": lambda: whatis(kernel, "schedule"),
        "whatis linux_banner": lambda: whatis(kernel, "linux_banner"),
        "whatis jiffies": lambda: whatis(kernel, "jiffies"),
        "whatis crashme_deref": lambda: whatis(kernel, "crashme_deref"),
        "whatis pid_t": lambda: whatis_type(kernel, "pid_t"),
        "whatis atomic_t": lambda: whatis_type(kernel, "atomic_t"),
        "whatis enum pid_type": lambda: whatis_type(kernel, "enum pid_type"),
    }
    for address in objects:
        node = address + _struct_type(kernel, "crashme_obj").members[3].bit_offset // 8
        out[f"struct crashme_obj {address:x}"] = lambda a=address: struct_at(kernel, "crashme_obj", a)
        out[f"struct crashme_obj -l crashme_obj.node {node:x}"] = lambda a=address: struct_at(
            kernel, "crashme_obj", a
        )
        out[f"struct crashme_obj.index,tag {address:x}"] = lambda a=address: members_at(
            kernel, "crashme_obj", ["index", "tag"], a
        )
    return out


@pytest.fixture
def session(lab_dump: Any, lab_manifest: Any, crash_session: Callable[[Any], Session]) -> Session:
    opened = crash_session(lab_dump)
    opened.run(f"mod -s crashme {lab_manifest['test_module']['ko']}", echo=False)
    return opened


def test_printer_matches_crash(session: Session, lab_dump: Any, lab_manifest: Any) -> None:
    table = cases(session.kernel, lab_dump.facts)
    commands = [f"mod -s crashme {lab_manifest['test_module']['ko']}", *table]
    oracle = run_crash(lab_manifest.vmlinux, lab_dump.path, commands)
    if not oracle:
        pytest.skip("crash is not installed")
    failures = []
    for line, render in table.items():
        expected = _HISTORY.sub("$N = ", oracle[line])
        got = _HISTORY.sub("$N = ", render())
        if got != expected:
            failures.append(f"--- {line}\n--- crash:\n{expected[:3000]}\n--- ours:\n{got[:3000]}")
    assert not failures, "\n".join(failures)
