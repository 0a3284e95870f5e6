"""C types (core.typeinfo) and their spelling as GDB's C type printer gives it (what crash shows for
``whatis``, ``struct`` and ``ptype``).  Expected texts are crash 8.0.2's on the lab kernel (Debian 6.1)
where the type exists there, GDB's rules otherwise."""

from __future__ import annotations

from crashcompat.core.typeinfo import (
    CMember,
    CType,
    TypeKind,
    array_of,
    declaration,
    enum_type,
    function_type,
    int_type,
    pointer_to,
    struct_type,
    type_body,
    type_name,
    typedef_of,
    void_type,
)
from crashcompat.testing.synthetic import list_head_type

INT = int_type("int", 4)
UINT = int_type("unsigned int", 4, False)
ULONG = int_type("unsigned long", 8, False)
CHAR = int_type("char", 1)
U8 = typedef_of("u8", int_type("unsigned char", 1, False))


LIST_HEAD = list_head_type()


def test_struct_body_and_names() -> None:
    assert "type = " + type_body(LIST_HEAD) == (
        "type = struct list_head {\n    struct list_head *next;\n    struct list_head *prev;\n}"
    )
    assert type_name(LIST_HEAD) == "struct list_head"
    assert type_name(pointer_to(LIST_HEAD)) == "struct list_head *"
    assert type_name(array_of(CHAR, 16)) == "char [16]"
    assert declaration(array_of(CHAR, 16), "comm") == "char comm[16]"
    assert declaration(pointer_to(LIST_HEAD), "next") == "struct list_head *next"


def test_function_pointers_and_prototypes() -> None:
    head: CType = struct_type("callback_head", 16, None)
    func = function_type(void_type(), [pointer_to(head)])
    cb = struct_type(
        "callback_head", 16, [CMember("next", pointer_to(head), 0), CMember("func", pointer_to(func), 64)]
    )
    assert type_body(cb) == (
        "struct callback_head {\n"
        "    struct callback_head *next;\n"
        "    void (*func)(struct callback_head *);\n"
        "}"
    )
    assert type_name(function_type(void_type())) == "void (void)"
    assert type_name(pointer_to(function_type(INT, [pointer_to(INT)]))) == "int (*)(int *)"
    const_char = CHAR.qualified(const=True)
    printf = function_type(INT, [pointer_to(const_char)], variadic=True)
    assert type_name(pointer_to(printf)) == "int (*)(const char *, ...)"
    assert type_name(function_type(INT, prototyped=False)) == "int ()"
    assert declaration(array_of(pointer_to(function_type(void_type())), 2), "fns") == "void (*fns[2])(void)"
    assert type_name(function_type(pointer_to(CHAR))) == "char *(void)"
    assert type_name(pointer_to(array_of(INT, 4))) == "int (*)[4]"


def test_qualifiers() -> None:
    sched_class = struct_type("sched_class", 8, [])
    assert declaration(pointer_to(sched_class.qualified(const=True)), "sched_class") == (
        "const struct sched_class *sched_class"
    )
    assert declaration(ULONG.qualified(volatile=True), "jiffies") == "volatile unsigned long jiffies"
    assert declaration(pointer_to(CHAR).qualified(const=True), "name") == "char * const name"
    assert type_name(array_of(CHAR.qualified(const=True), 204)) == "const char [204]"


def test_bitfields_flexible_arrays_and_typedefs() -> None:
    kobject = struct_type(
        "kobject",
        8,
        [
            CMember("name", pointer_to(CHAR.qualified(const=True)), 0),
            CMember("state_initialized", UINT, 32, 1),
            CMember("state_in_sysfs", UINT, 33, 1),
        ],
    )
    assert type_body(kobject) == (
        "struct kobject {\n"
        "    const char *name;\n"
        "    unsigned int state_initialized : 1;\n"
        "    unsigned int state_in_sysfs : 1;\n"
        "}"
    )
    upid = struct_type("upid", 16, [CMember("nr", INT, 0)])
    pid = struct_type("pid", 8, [CMember("level", UINT, 0), CMember("numbers", array_of(upid, None), 64)])
    assert "    struct upid numbers[];\n" in type_body(pid)
    assert "    int zero[0];\n" in type_body(struct_type("z", 0, [CMember("zero", array_of(INT, 0), 0)]))
    atomic = typedef_of("atomic_t", struct_type(None, 4, [CMember("counter", INT, 0)]))
    assert type_body(atomic) == "struct {\n    int counter;\n}"
    assert type_name(atomic) == "atomic_t"
    assert type_body(typedef_of("pid_t", INT)) == "int"
    assert atomic.strip_typedefs().kind == TypeKind.STRUCT
    assert U8.is_char and CHAR.is_char and not INT.is_char


def test_anonymous_members_are_expanded_at_every_depth() -> None:
    """crash patches GDB to print anonymous structs and unions in full however deep they are."""
    inner = struct_type(None, 8, [CMember("a", INT, 0), CMember("b", INT, 32)])
    middle = struct_type(None, 8, [CMember(None, inner, 0)], union=True)
    rcu = struct_type(
        "rcu_special",
        4,
        [
            CMember(
                "b",
                struct_type(None, 4, [CMember(n, U8, 8 * i) for i, n in enumerate(("blocked", "need_qs"))]),
                0,
            ),
            CMember("s", int_type("u32", 4, False), 0),
        ],
        union=True,
    )
    outer = struct_type("outer", 16, [CMember(None, middle, 0), CMember("tail", rcu, 64)])
    assert type_body(outer) == (
        "struct outer {\n"
        "    union {\n"
        "        struct {\n"
        "            int a;\n"
        "            int b;\n"
        "        };\n"
        "    };\n"
        "    union rcu_special tail;\n"
        "}"
    )
    assert type_body(rcu) == (
        "union rcu_special {\n    struct {\n        u8 blocked;\n        u8 need_qs;\n    } b;\n    u32 s;\n}"
    )
    assert type_name(inner) == "struct {...}"
    assert outer.member("b") == (32, inner.members[1])
    assert outer.member("nosuch") is None


def test_enums_and_empty_structs() -> None:
    pid_type = enum_type("pid_type", [("PIDTYPE_PID", 0), ("PIDTYPE_TGID", 1), ("PIDTYPE_MAX", 4)])
    assert type_body(pid_type) == "enum pid_type {PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_MAX = 4}"
    assert type_name(pid_type) == "enum pid_type"
    assert type_name(enum_type(None, [("A", 0)])) == "enum {...}"
    assert type_body(struct_type("kmap_ctrl", 0, [])) == "struct kmap_ctrl {\n    <no data fields>\n}"
    assert type_body(struct_type("opaque", 0, None)) == "struct opaque {\n    <incomplete type>\n}"


def test_members_resolve_lazily() -> None:
    calls: list[str] = []

    def resolve() -> CType:
        calls.append("resolved")
        return INT

    t = struct_type("lazy", 4, [CMember("x", resolve, 0)])
    member = t.members[0]
    assert calls == []
    assert member.type is INT and member.type is INT
    assert calls == ["resolved"]
