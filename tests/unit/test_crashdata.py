"""crash's edits of GDB's text (core.crashdata): declarations with ``SIZE`` and ``-o`` offsets, members
picked out of a printed struct, ``p``'s leader, ``whatis`` of variables and enums.  The inputs are what
GDB prints; the expected outputs are crash 8.0.2's on the lab kernel (Debian 6.1)."""

from __future__ import annotations

from crashcompat.core import crashdata
from crashcompat.core.typeinfo import enum_type, typedef_of

PID_TEXT = """struct pid {
  count = {
    refs = {
      counter = 1
    }
  },
  level = 0,
  lock = {
    {
      rlock = {
        raw_lock = {
          {
            val = {
              counter = 0
            },
            {
              locked = 0 '\\000',
              pending = 0 '\\000'
            }
          }
        }
      }
    }
  },
  tasks = {{
      first = 0x0
    }, {
      first = 0x0
    }, {
      first = 0xffff8e8f9fe35200
    }, {
      first = 0xffff8e8f9fe35210
    }},
  inodes = {
    first = 0x0
  },
  rcu = {
    next = 0x0,
    func = 0x0
  },
  numbers = 0xffffffff93659520 <init_struct_pid+96>
}
"""

OBJ_TEXT = """struct crashme_obj {
  index = 1,
  tag = "obj01\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000",
  cookie = 13907095934861164270,
  node = {
    next = 0xffff8e8f996a4560,
    prev = 0xffff8e8f996a46b0
  }
}
"""

OBJ_PTYPE = """type = struct crashme_obj {
    int index;
    char tag[16];
    unsigned long cookie;
    struct list_head node;
}
"""
OBJ_OFFSETS = {"index": 0, "tag": 4, "cookie": 24, "node": 32}

RCU_PTYPE = """type = union rcu_special {
    struct {
        u8 blocked;
        u8 need_qs;
        u8 exp_hint;
        u8 need_mb;
    } b;
    u32 s;
}
"""


def test_member_data() -> None:
    assert crashdata.member_data(OBJ_TEXT, "index") == "  index = 1,\n"
    assert crashdata.member_data(OBJ_TEXT, "node") == (
        "  node = {\n    next = 0xffff8e8f996a4560,\n    prev = 0xffff8e8f996a46b0\n  }\n"
    )
    assert crashdata.member_data(PID_TEXT, "tasks") == (
        "  tasks = {{\n      first = 0x0\n    }, {\n      first = 0x0\n    }, {\n"
        "      first = 0xffff8e8f9fe35200\n    }, {\n      first = 0xffff8e8f9fe35210\n    }},\n"
    )
    assert crashdata.member_data(PID_TEXT, "level") + crashdata.member_data(PID_TEXT, "count") == (
        "  level = 0,\n  count = {\n    refs = {\n      counter = 1\n    }\n  },\n"
    )
    assert crashdata.member_data(PID_TEXT, "nosuch") == ""


def test_member_path_data() -> None:
    assert crashdata.member_path_data(OBJ_TEXT, "node.next") == "  node.next = 0xffff8e8f996a4560,\n"
    assert crashdata.member_path_data(PID_TEXT, "tasks[1]") == "  tasks[1] =   {\n    first = 0x0\n  },\n"
    assert crashdata.member_path_data(PID_TEXT, "tasks[1].first") == "  tasks[1].first = 0x0\n"
    assert crashdata.member_path_data(PID_TEXT, "rcu.func") == "  rcu.func = 0x0\n"
    assert crashdata.member_path_data(PID_TEXT, "count.refs") == ("  count.refs = {\n    counter = 1\n  }\n")
    assert crashdata.member_path_data(PID_TEXT, "tasks[9].first") is None
    assert crashdata.member_path_data(PID_TEXT, "rcu.nosuch") is None


def test_lines_longer_than_crash_buffer_arrive_in_pieces() -> None:
    long = "x" * 4000 + "\n"
    assert [len(p) for p in crashdata.fgets_lines(long + "y\n")] == [1499, 1499, 1003, 2]


def test_declarations_sizes_and_offsets() -> None:
    offset_of = OBJ_OFFSETS.get
    assert crashdata.declaration(OBJ_PTYPE, "crashme_obj", 48) == (
        "struct crashme_obj {\n    int index;\n    char tag[16];\n    unsigned long cookie;\n"
        "    struct list_head node;\n}\nSIZE: 48\n"
    )
    assert crashdata.declaration(OBJ_PTYPE, "crashme_obj", 48, offsets=True, offset_of=offset_of) == (
        "struct crashme_obj {\n   [0] int index;\n   [4] char tag[16];\n  [24] unsigned long cookie;\n"
        "  [32] struct list_head node;\n}\nSIZE: 48\n"
    )
    assert crashdata.declaration(OBJ_PTYPE, "crashme_obj", 48, member="tag", offset_of=offset_of) == (
        "struct crashme_obj {\n   [4] char tag[16];\n}\n"
    )
    assert crashdata.declaration(
        OBJ_PTYPE, "crashme_obj", 48, offsets=True, offset_of=offset_of, address=0xFFFF8E8F996A46B0
    ) == (
        "struct crashme_obj {\n  [ffff8e8f996a46b0] int index;\n  [ffff8e8f996a46b4] char tag[16];\n"
        "  [ffff8e8f996a46c8] unsigned long cookie;\n  [ffff8e8f996a46d0] struct list_head node;\n}\nSIZE: 48\n"
    )
    assert crashdata.declaration(
        OBJ_PTYPE, "crashme_obj", 48, radix=16, offsets=True, offset_of=offset_of
    ) == (
        "struct crashme_obj {\n   [0x0] int index;\n   [0x4] char tag[16];\n  [0x18] unsigned long cookie;\n"
        "  [0x20] struct list_head node;\n}\nSIZE: 0x30\n"
    )
    assert crashdata.declaration(
        RCU_PTYPE, "rcu_special", 4, offsets=True, offset_of={"b": 0, "s": 0}.get
    ) == (
        "union rcu_special {\n      struct {\n          u8 blocked;\n          u8 need_qs;\n"
        "          u8 exp_hint;\n          u8 need_mb;\n  [0] } b;\n  [0] u32 s;\n}\nSIZE: 4\n"
    )
    # union -o rcu_special.b: the member's block opener is reprinted before its offset line
    assert crashdata.declaration(RCU_PTYPE, "rcu_special", 4, member="b", offset_of={"b": 0, "s": 0}.get) == (
        "union rcu_special {\n      struct {\n  [0] } b;\n}\n"
    )


def test_typedef_declarations() -> None:
    assert crashdata.declaration("type = int\n", "pid_t", 4, typedef=True) == "typedef int pid_t;\nSIZE: 4\n"
    assert crashdata.declaration("type = struct {\n    int counter;\n}\n", "atomic_t", 4, typedef=True) == (
        "typedef struct {\n    int counter;\n} atomic_t;\nSIZE: 4\n"
    )
    assert crashdata.declaration("type = void (*)()\n", "fp_t", 8, typedef=True) == (
        "typedef void (*fp_t)();\nSIZE: 8\n"
    )


def test_print_leader() -> None:
    assert crashdata.with_leader("jiffies", "$1 = 4294894946\n") == "jiffies = $1 = 4294894946\n"
    assert crashdata.with_leader(None, "$2 = 0\n") == "$2 = 0\n"
    assert crashdata.with_leader("schedule", "$6 = {void (void)} 0xffffffff926114f0 <schedule>\n") == (
        "schedule = $6 = \n {void (void)} 0xffffffff926114f0 <schedule>\n"
    )
    assert crashdata.with_leader("crashme_list", "$14 = {\n  next = 0x0,\n  prev = 0x0\n}\n") == (
        "crashme_list = $14 = {\n  next = 0x0,\n  prev = 0x0\n}\n"
    )


def test_variable_and_enum_declarations() -> None:
    assert (
        crashdata.variable_declaration("init_task", "struct task_struct") == "struct task_struct init_task;\n"
    )
    assert crashdata.variable_declaration("schedule", "void (void)") == "void schedule(void);\n"
    assert (
        crashdata.variable_declaration("linux_banner", "const char [204]")
        == "const char linux_banner[204];\n"
    )
    assert (
        crashdata.variable_declaration("jiffies", "volatile unsigned long")
        == "volatile unsigned long jiffies;\n"
    )
    assert crashdata.variable_declaration("current_task", "struct task_struct *") == (
        "struct task_struct *current_task;\n"
    )
    assert crashdata.variable_declaration("fp", "int (*)(int *)") == "int (*fp)(int *);\n"
    pid_type = enum_type("pid_type", [("PIDTYPE_PID", 0), ("PIDTYPE_TGID", 1), ("PIDTYPE_MAX", 4)])
    assert crashdata.enum_declaration(pid_type) == (
        "enum pid_type {\n  PIDTYPE_PID = 0\n  PIDTYPE_TGID = 1\n  PIDTYPE_MAX = 4\n};\n"
    )
    anonymous = typedef_of("mode_t", enum_type(None, [("A", 0)]))
    assert crashdata.enum_declaration(anonymous, "mode_t") == "enum {\n  A = 0\n} mode_t;\n"
