"""The data commands (plugins/data.py: struct, union, *, p, px, pd, whatis, ptype) in a session on a small
synthetic kernel: crash's argument reading, its displays and its error lines.  The lab tests compare the
same commands with crash itself on real dumps."""

from __future__ import annotations

import io
import struct

import pytest

from crashcompat.core.session import Session
from crashcompat.core.typeinfo import (
    CMember,
    array_of,
    enum_type,
    int_type,
    struct_type,
    typedef_of,
)
from crashcompat.testing.synthetic import SyntheticTarget, list_head_type

INT = int_type("int", 4)
ULONG = int_type("unsigned long", 8, False)
CHAR = int_type("char", 1)


LIST_HEAD = list_head_type()
OBJ = struct_type(
    "crashme_obj",
    48,
    [
        CMember("index", INT, 0),
        CMember("tag", array_of(CHAR, 16), 32),
        CMember("cookie", ULONG, 192),
        CMember("node", LIST_HEAD, 256),
    ],
)
STATES = enum_type("system_states", [("SYSTEM_BOOTING", 0), ("SYSTEM_RUNNING", 3)])


@pytest.fixture
def session() -> tuple[Session, int]:
    t = SyntheticTarget()
    for name, ct in [
        ("struct list_head", LIST_HEAD),
        ("struct crashme_obj", OBJ),
        ("enum system_states", STATES),
        ("pid_t", typedef_of("pid_t", INT)),
        ("int", INT),
        ("unsigned long", ULONG),
        ("char", CHAR),
    ]:
        t.add_ctype(name, ct)
    page_offset = t.alloc(8)
    t.write_u64(page_offset, 0xFFFF888000000000)
    t.add_symbol("page_offset_base", page_offset, 8)
    obj = t.alloc(96)
    t.write(obj, struct.pack("<i16s4xQQQ", 1, b"obj01", 7, obj + 80, obj + 80))
    t.write(obj + 48, struct.pack("<i16s4xQQQ", 2, b"obj02", 8, obj + 32, obj + 32))
    t.add_variable("the_obj", OBJ, obj)
    state = t.alloc(4)
    t.write_u32(state, 3)
    t.add_variable("system_state", STATES, state)
    return Session(t, out=io.StringIO(), err=io.StringIO()), obj


def run(session: tuple[Session, int], line: str) -> str:
    return session[0].run(line, echo=False)


def test_struct_layouts(session: tuple[Session, int]) -> None:
    assert run(session, "struct -o crashme_obj") == (
        "struct crashme_obj {\n   [0] int index;\n   [4] char tag[16];\n  [24] unsigned long cookie;\n"
        "  [32] struct list_head node;\n}\nSIZE: 48\n"
    )
    assert run(session, "struct -x crashme_obj").endswith("}\nSIZE: 0x30\n")
    assert run(session, "struct crashme_obj.tag") == "struct crashme_obj {\n   [4] char tag[16];\n}\n"
    assert run(session, "struct crashme_obj.index,tag") == (
        "struct: multiple member format not supported in this syntax\n"
        + run(session, "struct -o crashme_obj")
    )
    assert run(session, "whatis crashme_obj") == run(session, "struct crashme_obj")
    assert run(session, "whatis pid_t") == "typedef int pid_t;\nSIZE: 4\n"
    assert run(session, "whatis enum system_states") == (
        "enum system_states {\n  SYSTEM_BOOTING = 0\n  SYSTEM_RUNNING = 3\n};\n"
    )
    assert run(session, "whatis SYSTEM_RUNNING") == "enum system_states = 3\n"


def test_structs_at_addresses(session: tuple[Session, int]) -> None:
    obj = session[1]
    whole = run(session, f"struct crashme_obj {obj:x}")
    assert whole.startswith('struct crashme_obj {\n  index = 1,\n  tag = "obj01\\000')
    assert run(session, f"struct crashme_obj -x {obj:x}") == run(session, f"struct -x crashme_obj {obj:x}")
    assert "  cookie = 0x7,\n" in run(session, f"struct crashme_obj {obj:x} -x")
    assert run(session, f"struct crashme_obj.index,cookie {obj:x}") == "  index = 1,\n  cookie = 7,\n"
    assert run(session, f"struct crashme_obj.node.next {obj:x}") == f"  node.next = 0x{obj + 80:x},\n"
    two = run(session, f"struct crashme_obj.index {obj:x} 2")
    assert two == "  index = 1,\n\n  index = 2,\n"
    assert run(session, f"struct crashme_obj.index -c 2 {obj:x}") == two
    assert run(session, f"struct crashme_obj.index {obj + 48:x} -c -2") == two
    assert run(session, "struct crashme_obj.index the_obj") == "  index = 1,\n"
    assert run(session, f"*crashme_obj {obj:x}") == whole
    assert run(session, f"struct crashme_obj -l crashme_obj.node {obj + 32:x}") == whole
    assert run(session, f"struct crashme_obj -l 32 {obj + 32:x}") == whole
    assert run(session, f"struct -o crashme_obj {obj:x}").startswith(
        f"struct crashme_obj {{\n  [{obj:x}] int index;"
    )


def test_struct_errors(session: tuple[Session, int]) -> None:
    obj = session[1]
    assert run(session, "struct nosuch") == "struct: invalid data structure reference: nosuch\n"
    assert run(session, "struct crashme_obj.nosuch") == (
        "struct: invalid data structure reference: crashme_obj.nosuch\n"
    )
    assert run(session, "union crashme_obj") == "union: data type mismatch: crashme_obj is not a union\n"
    assert run(session, "struct pid_t") == "struct: data type mismatch: pid_t is not a struct\n"
    assert run(session, "struct crashme_obj 1000") == "struct: invalid kernel virtual address: 1000\n"
    assert run(session, "struct crashme_obj nosuchsym") == (
        "symbol not found: nosuchsym\npossible alternatives:\n  (none found)\n"
    )
    assert run(session, "struct -d -x crashme_obj") == "struct: -d and -x are mutually exclusive\n"
    assert run(session, "struct crashme_obj.") == "struct: invalid format: crashme_obj.\n"
    assert run(session, "struct -c 2 crashme_obj") == "struct: no kernel virtual address argument entered\n"
    assert run(session, f"struct crashme_obj {obj:x} -2").startswith("Usage:\n  struct ")
    assert session[0].err.getvalue().endswith("struct: invalid option -- '2'\n")  # type: ignore[attr-defined]
    assert run(session, "struct -r crashme_obj") == "struct: option -r is not supported\n"
    assert run(session, "struct").startswith("Usage:\n  struct struct_name")
    assert run(session, "struct crashme_obj ffffc90000000000").startswith(
        "struct crashme_obj struct: invalid kernel virtual address: ffffc90000000000"
    )


def test_print(session: tuple[Session, int]) -> None:
    obj = session[1]
    assert run(session, "p system_state") == "system_state = $1 = SYSTEM_RUNNING\n"
    assert run(session, "p the_obj.index") == "$2 = 1\n"
    assert run(session, "p -x the_obj.index") == "$3 = 0x1\n"
    assert run(session, "px the_obj.cookie") == "$4 = 0x7\n"
    assert run(session, "pd the_obj.cookie") == "$5 = 7\n"
    assert run(session, "p/x the_obj.cookie") == "$6 = 0x7\n"
    assert run(session, "p/d system_state") == "$7 = 3\n"
    assert run(session, "p the_obj.node.next->prev") == f"$8 = (struct list_head *) 0x{obj + 32:x}\n"
    assert run(session, "p (the_obj.index > 0)") == "$9 = 1\n"
    assert run(session, "p system_state + 1") == "system_state = $10 = 4\n"  # a symbol first: its name leads
    assert run(session, "p sizeof(struct crashme_obj)") == "$11 = 48\n"
    assert run(session, "p the_obj").startswith("the_obj = $12 = {\n  index = 1,\n")
    assert run(session, "p nosuch") == "p: gdb request failed: p nosuch\n"
    assert run(session, "p the_obj.nosuch") == "p: gdb request failed: p the_obj.nosuch\n"
    assert run(session, "p 1 - 2") == "p: gdb request failed: p 1 2\n"
    assert run(session, "p/q the_obj") == "gdb: gdb request failed: p/q the_obj\n"
    assert run(session, "p -x -d the_obj") == "p: -d and -x are mutually exclusive\n"
    assert run(session, "p").startswith("Usage:\n  p [-x|-d]")
    assert run(session, "p the_obj.index") == "$13 = 1\n"  # failures take no history number


def test_whatis_and_ptype(session: tuple[Session, int]) -> None:
    assert run(session, "whatis the_obj") == "struct crashme_obj the_obj;\n"
    assert run(session, "whatis the_obj.tag") == "char [16]\n"
    assert (
        run(session, "whatis crashme_obj.node") == "struct crashme_obj {\n  [32] struct list_head node;\n}\n"
    )
    assert run(session, "whatis nosuch") == (
        "whatis: cannot resolve: nosuch\n" + session[0].lookup("whatis").usage_text()  # type: ignore[union-attr]
    )
    assert run(session, "ptype pid_t") == "type = int\n"
    assert run(session, "ptype the_obj.node") == (
        "type = struct list_head {\n    struct list_head *next;\n    struct list_head *prev;\n}\n"
    )
    assert run(session, "ptype nosuch") == "gdb: gdb request failed: ptype nosuch\n"


def test_line_syntax_keeps_c_operators(session: tuple[Session, int], tmp_path: object) -> None:
    """crash does not redirect at ``->`` or inside parentheses."""
    assert run(session, "p the_obj.node.next->next->prev").startswith("$1 = (struct list_head *)")
    assert run(session, "p (the_obj.index >> 1)") == "$2 = 0\n"
