"""GDB's value format as crash shows it (core.values), over synthetic types and bytes.  Expected texts are
crash 8.0.2's output on the lab dumps where the value comes from there, GDB's rules otherwise."""

from __future__ import annotations

import struct

import pytest

from crashcompat.core.target import FaultError
from crashcompat.core.typeinfo import (
    CMember,
    CType,
    array_of,
    enum_type,
    function_type,
    int_type,
    pointer_to,
    struct_type,
    typedef_of,
    void_type,
)
from crashcompat.core.values import CRASH_PRINT, GDB_DEFAULT_PRINT, PrintOptions, ValuePrinter, char_literal
from crashcompat.testing.synthetic import list_head_type

INT = int_type("int", 4)
UINT = int_type("unsigned int", 4, False)
ULONG = int_type("unsigned long", 8, False)
CHAR = int_type("char", 1)
U8 = typedef_of("u8", int_type("unsigned char", 1, False))
BOOL = int_type("_Bool", 1, False)

SYMBOLS = {0xFFFFFFFF9361AA40: ("init_task", 0), 0xFFFFFFFF926114F0: ("schedule", 0)}


def symbolize(address: int) -> tuple[str, int] | None:
    for start, (name, _) in SYMBOLS.items():
        if start <= address < start + 0x2000:
            return name, address - start
    return None


class Memory:
    def __init__(self, regions: dict[int, bytes]) -> None:
        self.regions = regions

    def __call__(self, address: int, size: int) -> bytes:
        for start, data in self.regions.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        raise FaultError(address)


def printer(options: PrintOptions = CRASH_PRINT, memory: dict[int, bytes] | None = None) -> ValuePrinter:
    return ValuePrinter(read=Memory(memory or {}), symbolize=symbolize, options=options)


LIST_HEAD = list_head_type()
CRASHME_OBJ = struct_type(
    "crashme_obj",
    48,
    [
        CMember("index", INT, 0),
        CMember("tag", array_of(CHAR, 16), 32),
        CMember("cookie", ULONG, 192),
        CMember("node", LIST_HEAD, 256),
    ],
)


def obj_bytes(index: int, tag: bytes, cookie: int, nxt: int, prev: int) -> bytes:
    return struct.pack("<i16s4xQQQ", index, tag, cookie, nxt, prev)


def test_struct_pretty_print_as_crash_shows_crashme_obj() -> None:
    data = obj_bytes(1, b"obj01", 13907095934861164270, 0xFFFF8E8F996A4560, 0xFFFF8E8F996A46B0)
    assert printer().value(CRASHME_OBJ, data) == (
        "{\n"
        "  index = 1,\n"
        '  tag = "obj01\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000",\n'
        "  cookie = 13907095934861164270,\n"
        "  node = {\n"
        "    next = 0xffff8e8f996a4560,\n"
        "    prev = 0xffff8e8f996a46b0\n"
        "  }\n"
        "}"
    )


def test_radix_16_and_explicit_formats() -> None:
    data = obj_bytes(-1721087608, b"obj01", 0, 0, 0)
    hexed = printer(CRASH_PRINT.with_radix(16)).value(CRASHME_OBJ, data)
    assert "  index = 0x996a4988,\n" in hexed
    assert '  tag = "obj01\\000' in hexed  # strings stay strings under -x
    assert "  cookie = 0x0,\n" in hexed
    # p/x: characters become numbers too
    comm = b"swapper/0" + bytes(7)
    assert printer(PrintOptions(format="x")).value(array_of(CHAR, 16), comm) == (
        "{0x73, 0x77, 0x61, 0x70, 0x70, 0x65, 0x72, 0x2f, 0x30, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0}"
    )
    assert printer().value(array_of(CHAR, 16), comm) == '"swapper/0\\000\\000\\000\\000\\000\\000"'
    assert printer(PrintOptions(format="d")).value(ULONG, struct.pack("<Q", (1 << 64) - 1)) == "-1"
    assert printer(PrintOptions(format="o")).value(INT, struct.pack("<i", 8)) == "010"
    assert printer(PrintOptions(format="t")).value(INT, struct.pack("<i", 5)) == "101"
    assert printer(PrintOptions(format="z")).value(INT, struct.pack("<i", 5)) == "0x00000005"
    assert printer(PrintOptions(format="c")).value(INT, struct.pack("<i", 65)) == "65 'A'"


def test_characters_booleans_and_integers() -> None:
    p = printer()
    assert p.value(U8, b"\x01") == "1 '\\001'"
    assert p.value(CHAR, b"A") == "65 'A'"
    assert p.value(CHAR, b"\xff") == "-1 '\\377'"
    assert p.value(U8, b"\xff") == "255 '\\377'"
    assert p.value(CHAR, b"'") == "39 '\\''"
    assert p.value(CHAR, b"\\") == "92 '\\\\'"
    assert p.value(CHAR, b"\n") == "10 '\\n'"
    assert p.value(CHAR, b'"') == "34 '\"'"
    assert char_literal(0) == "'\\000'"
    assert p.value(BOOL, b"\x01") == "true"
    assert p.value(BOOL, b"\x00") == "false"
    assert p.value(BOOL, b"\x02") == "2"
    assert printer(CRASH_PRINT.with_radix(16)).value(BOOL, b"\x01") == "0x1"
    assert printer(CRASH_PRINT.with_radix(16)).value(U8, b"\x01") == "0x1"
    assert p.value(INT, struct.pack("<i", -5)) == "-5"
    assert p.value(ULONG, struct.pack("<Q", 4294894946)) == "4294894946"


def test_enums_plain_and_flag() -> None:
    states = enum_type("system_states", [("SYSTEM_BOOTING", 0), ("SYSTEM_RUNNING", 3), ("SYSTEM_HALT", 4)])
    p = printer()
    assert p.value(states, struct.pack("<I", 3)) == "SYSTEM_RUNNING"
    assert p.value(states, struct.pack("<I", 7)) == "7"
    assert printer(CRASH_PRINT.with_radix(16)).value(states, struct.pack("<I", 3)) == "SYSTEM_RUNNING"
    assert printer(PrintOptions(format="x")).value(states, struct.pack("<I", 3)) == "0x3"
    flags = enum_type("flags", [("F_NONE", 0), ("F_A", 1), ("F_B", 2), ("F_B_AGAIN", 2), ("F_C", 8)])
    assert p.value(flags, struct.pack("<I", 0)) == "F_NONE"
    assert p.value(flags, struct.pack("<I", 3)) == "(F_A | F_B)"
    assert p.value(flags, struct.pack("<I", 0x19)) == "(F_A | F_C | unknown: 0x10)"
    assert p.value(flags, struct.pack("<I", 0x10)) == "(unknown: 0x10)"
    no_zero = enum_type("nz", [("A", 1), ("B", 2)])
    assert p.value(no_zero, struct.pack("<I", 0)) == "0"
    signed = enum_type("s", [("NEG", -1), ("POS", 1)])
    assert p.value(signed, struct.pack("<i", -2)) == "-2"


def test_pointers_symbols_and_strings() -> None:
    name = 0xFFFF8E8F98D7B7E0
    memory = {name: b"crashme_obj\0junk"}
    p = printer(memory=memory)
    char_ptr = pointer_to(CHAR.qualified(const=True))
    assert p.value(char_ptr, struct.pack("<Q", name)) == '0xffff8e8f98d7b7e0 "crashme_obj"'
    assert p.value(char_ptr, struct.pack("<Q", 0)) == "0x0"
    assert p.print_value(char_ptr, struct.pack("<Q", name)) == '0xffff8e8f98d7b7e0 "crashme_obj"'
    task_ptr = pointer_to(struct_type("task_struct", 64, []))
    assert p.print_value(task_ptr, struct.pack("<Q", 0xFFFFFFFF9361AA40)) == (
        "(struct task_struct *) 0xffffffff9361aa40 <init_task>"
    )
    assert p.value(task_ptr, struct.pack("<Q", 0xFFFFFFFF9361C000)) == "0xffffffff9361c000 <init_task+5568>"
    assert p.print_value(pointer_to(void_type()), struct.pack("<Q", 0xFFFFFFFF93600000)) == (
        "(void *) 0xffffffff93600000"
    )
    fn = pointer_to(function_type(void_type()))
    assert p.value(fn, struct.pack("<Q", 0xFFFFFFFF926114F0)) == "0xffffffff926114f0 <schedule>"
    assert p.print_value(pointer_to(function_type(INT, [pointer_to(INT)])), struct.pack("<Q", 0)) == (
        "(int (*)(int *)) 0x0"
    )
    assert printer(PrintOptions(format="x")).value(task_ptr, struct.pack("<Q", 0xFFFFFFFF9361AA40)) == (
        "0xffffffff9361aa40"
    )
    # a function itself (p schedule)
    assert p.print_value(function_type(void_type()), b"", 0xFFFFFFFF926114F0) == (
        "{void (void)} 0xffffffff926114f0 <schedule>"
    )


def test_string_reads_stop_at_faults_and_limits() -> None:
    start = 0xFFFF888000001000
    p = printer(memory={start: b"abcd"})
    assert p.string(start) == '"abcd"<error: Cannot access memory at address 0xffff888000001004>'
    long = b"x" * 300 + b"\0"
    assert printer(memory={start: long}).string(start) == '"' + "x" * 256 + '"...'  # 256 bytes read
    mixed = bytes(range(65, 91)) * 12 + b"\0"
    text = printer(memory={start: mixed}).string(start)
    assert text == '"' + mixed[:256].decode() + '"...'


def test_string_escapes_and_utf8() -> None:
    p = printer()
    tag = b"\x8f\x8e\xff\xff \xd0;\xc0\xff\xff\xff\xff\xc6\x80\x0f("
    assert p.value(array_of(CHAR, 16), tag) == (
        '"\\217\\216\\377\\377 \\320;\\300\\377\\377\\377\\377\u0180\\017("'
    )
    # a digit after an octal escape: as it is (GDB 14 and later), escaped too (older GDBs)
    assert p.value(array_of(CHAR, 4), b"\x001x\0") == '"\\0001x"'
    assert printer(PrintOptions(gdb14_strings=False)).value(array_of(CHAR, 4), b"\x001x\0") == '"\\000\\061x"'
    assert p.value(array_of(CHAR, 4), b'a"\\\t') == '"a\\"\\\\\\t"'
    assert p.value(array_of(CHAR, 3), b"a\xc3\0") == '"a", <incomplete sequence \\303>'
    assert p.value(array_of(CHAR, 2), b"\0\0") == '"\\000"'
    assert p.value(array_of(CHAR, 1), b"\0") == '""'


def test_long_arrays_and_strings_are_cut_after_print_max() -> None:
    p = printer()
    zeros = array_of(ULONG, 300)
    text = p.value(zeros, bytes(8 * 300))
    assert text == "{" + ", ".join(["0"] * 256) + "...}"
    # the run of one repeated character that crosses the limit is cut there (GDB 14 and later) …
    padding = array_of(U8, 1000)
    assert p.value(padding, bytes(1000)) == '"' + "\\000" * 256 + '"...'
    # … and taken whole by older GDBs
    old = printer(PrintOptions(gdb14_strings=False))
    assert old.value(padding, bytes(1000)) == '"' + "\\000" * 999 + '"'
    banner = b"L" + b"0123456789" * 26 + b"tail"
    assert p.value(array_of(CHAR.qualified(const=True), len(banner) + 1), banner + b"\0") == (
        '"' + banner[:256].decode() + '"...'
    )
    fits = b"L" + b"0123456789" * 25 + b"tail\n"  # 256 characters: all of them, no ellipsis
    assert p.value(array_of(CHAR, len(fits) + 1), fits + b"\0") == '"' + fits[:-1].decode() + '\\n"'


def test_gdb_default_repeats() -> None:
    p = printer(GDB_DEFAULT_PRINT)
    assert p.value(array_of(CHAR, 16), b"swapper/0" + bytes(7)) == '"swapper/0\\000\\000\\000\\000\\000\\000"'
    assert p.value(array_of(CHAR, 16), b"ab" + bytes(14)) == "\"ab\", '\\000' <repeats 13 times>"
    assert p.value(array_of(INT, 12), bytes(48)) == "{0 <repeats 12 times>}"
    assert p.value(LIST_HEAD, bytes(16)) == "{next = 0x0, prev = 0x0}"


def test_arrays_of_structs_and_anonymous_members() -> None:
    desc = struct_type("desc_struct", 8, [CMember("limit0", int_type("u16", 2, False), 0, None)])
    thread = struct_type(
        "thread_struct", 24, [CMember("tls_array", array_of(desc, 2), 0), CMember("sp", ULONG, 128)]
    )
    outer = struct_type("task", 24, [CMember("thread", thread, 0)])
    assert printer().value(outer, bytes(24)) == (
        "{\n"
        "  thread = {\n"
        "    tls_array = {{\n"
        "        limit0 = 0\n"
        "      }, {\n"
        "        limit0 = 0\n"
        "      }},\n"
        "    sp = 0\n"
        "  }\n"
        "}"
    )
    anon = struct_type(None, 8, [CMember("u_flags", UINT, 0)], union=True)
    node = struct_type(
        "__call_single_node", 8, [CMember(None, anon, 0), CMember("src", int_type("u16", 2, False), 32)]
    )
    assert printer().value(node, struct.pack("<IH2x", 48, 0)) == (
        "{\n  {\n    u_flags = 48\n  },\n  src = 0\n}"
    )
    assert printer().value(struct_type("kmap_ctrl", 0, []), b"") == "{<No data fields>}"


def test_bitfields() -> None:
    kobj = struct_type(
        "k",
        4,
        [
            CMember("state_initialized", UINT, 0, 1),
            CMember("state_in_sysfs", UINT, 1, 1),
            CMember("level", INT, 2, 3),
            CMember("flag", BOOL, 5, 1),
        ],
    )
    data = struct.pack("<I", 0b1_110_01)
    assert printer().value(kobj, data) == (
        "{\n  state_initialized = 1,\n  state_in_sysfs = 0,\n  level = -2,\n  flag = true\n}"
    )
    assert "level = 0xfffffffe" in printer(CRASH_PRINT.with_radix(16)).value(kobj, data)


def test_flexible_array_prints_as_its_address() -> None:
    area = 0xFFFFFFFF9361C280
    holder = struct_type(
        "xs", 8, [CMember("n", ULONG, 0), CMember("extended_state_area", array_of(U8, None), 64)]
    )
    p = printer(memory={area: b"\0"})
    assert p.value(holder, bytes(8), area - 8) == (
        '{\n  n = 0,\n  extended_state_area = 0xffffffff9361c280 <init_task+6208> ""\n}'
    )


def test_max_depth() -> None:
    t: CType = INT
    for i in range(22):
        t = struct_type(f"s{i}", 4, [CMember("m", t, 0)])
    text = printer(PrintOptions(pretty=False)).value(t, bytes(4))
    assert text.count("{...}") == 1
    assert text.startswith("{m = " * 20 + "{...}")


@pytest.mark.parametrize("options", [CRASH_PRINT, GDB_DEFAULT_PRINT])
def test_print_value_of_a_struct_has_no_prefix(options: PrintOptions) -> None:
    assert printer(options).print_value(LIST_HEAD, bytes(16)).startswith("{")
