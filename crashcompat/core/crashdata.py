"""How crash reshapes GDB's text for its data commands (crash symbols.c), written once for every backend.

crash does not format structures itself: it has GDB print them into a temporary file and then reads that
file back a line at a time (``fgets`` into a 1500-byte buffer, so a longer line arrives in pieces) and
edits it.  The functions here take the text GDB would have printed (:mod:`crashcompat.core.values`,
:func:`crashcompat.core.typeinfo.type_body`) and apply the same edits, quirks included:

- :func:`declaration` — ``do_datatype_declaration``: ``struct NAME`` / ``union NAME`` / ``whatis TYPE``
  from ``ptype``'s text, ``typedef`` spelled out, ``SIZE: N``, and with ``-o`` each member prefixed by
  its offset (``show_member_offset``: ``   [8] struct list_head *prev;``);
- :func:`member_data` — ``parse_for_member``: the lines of one member picked out of a printed struct
  (``struct task_struct.pid,comm ADDR``, ``list -s``);
- :func:`member_path_data` — ``parse_for_member_extended``: a nested member (``node.next``,
  ``thread.sp``) found in a tree built from the printed struct;
- :func:`with_leader` — ``process_gdb_output``: ``p``'s ``NAME = $1 = …`` with the brace moved to its own
  line when the value starts with one on the same line;
- :func:`variable_declaration` — ``whatis_variable``: ``void schedule(void);``;
- :func:`enum_declaration` — the enumerator list crash's patched GDB prints for ``whatis enum NAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from crashcompat.core.typeinfo import CType

__all__ = [
    "BUFSIZE",
    "declaration",
    "enum_declaration",
    "fgets_lines",
    "member_data",
    "member_path_data",
    "variable_declaration",
    "with_leader",
]

#: crash's line buffer (defs.h ``BUFSIZE``): ``fgets`` returns at most 1499 characters at a time.
BUFSIZE = 1500


def fgets_lines(text: str) -> Iterator[str]:
    """*text* as crash's ``fgets(buf, BUFSIZE, …)`` loop sees it: lines with their newline, longer ones in
    pieces of ``BUFSIZE - 1`` bytes (UTF-8 characters are not split in this model)."""
    limit = BUFSIZE - 1
    for line in text.splitlines(keepends=True):
        if len(line.encode()) <= limit:
            yield line
            continue
        piece: list[str] = []
        size = 0
        for ch in line:
            n = len(ch.encode())
            if size + n > limit:
                yield "".join(piece)
                piece, size = [], 0
            piece.append(ch)
            size += n
        if piece:
            yield "".join(piece)


def _leading(buf: str) -> int:
    """``count_leading_spaces``."""
    return len(buf) - len(buf.lstrip(" \t"))


# ---- struct/union/whatis declarations ----------------------------------------------------------------------


def declaration(
    ptype: str,
    name: str,
    size: int,
    *,
    typedef: bool = False,
    offsets: bool = False,
    member: str | None = None,
    radix: int = 10,
    address: int = 0,
    offset_of: Callable[[str], int | None] = lambda _: None,
) -> str:
    """crash's ``do_datatype_declaration`` over GDB's ``ptype`` output.

    :param ptype: what GDB's ``ptype`` printed (``"type = struct list_head {\\n …}\\n"``).
    :param name: the name the user gave (``list_head``, ``pid_t``), appended to typedefs.
    :param size: the type's size, for the ``SIZE:`` line and the width of offsets.
    :param typedef: the name is a typedef (``typedef int pid_t;``).
    :param offsets: ``-o``: prefix members with their offsets.
    :param member: only this member's line (``struct -o crashme_obj.node``); implies offsets, no ``SIZE``.
    :param radix: offsets and ``SIZE`` in decimal (10) or hex (16).
    :param address: with ``-o ADDRESS``, offsets print as addresses.
    :param offset_of: the byte offset of a member of the type by name, looking into anonymous members
        (crash's ``MEMBER_OFFSET`` / ``ANON_MEMBER_OFFSET``); ``None`` when there is none.
    """
    out: list[str] = []
    if member is not None:
        offsets = True
    state = _OffsetState(name, size, member, radix, address, offset_of)
    multiline = False
    for buf in fgets_lines(ptype):
        if buf.startswith("type = "):
            multiline = "{" in buf
            if typedef:
                out.append("typedef ")
            body = buf[len("type = ") :]
            if "(*)()" in buf:
                out.append(body[: body.index("(*)()")] + f"(*{name})();\n")
            elif "()" in buf:
                out.append(body[: body.index("()")] + f"({name})();\n")
            elif multiline:
                out.append(body)
            else:
                out.append(body.rstrip("\n") + f" {name};\n")
        elif multiline and buf.startswith("}") and typedef:
            if "} **()" in buf:
                out.append(f"}} **({name})();\n")
            else:
                out.append(buf.rstrip("\n") + f" {name};\n")
        elif offsets and buf[:1] in (" ", "\t"):
            state.line(buf, out)
        else:
            out.append(buf)
    if member is None:
        out.append(f"SIZE: {size}\n" if radix != 16 else f"SIZE: 0x{size:x}\n")
    return "".join(out)


class _OffsetState:
    """``show_member_offset`` with the ``IN_UNION``/``IN_STRUCT`` flags it keeps between lines."""

    def __init__(
        self,
        name: str,
        size: int,
        member: str | None,
        radix: int,
        address: int,
        offset_of: Callable[[str], int | None],
    ) -> None:
        self.member = member
        self.radix = radix
        self.address = address
        self.offset_of = offset_of
        self.size_text = f"0x{size:x}" if radix == 16 else str(size)
        self.in_union = False
        self.in_struct = False

    def _target(self, buf: str) -> str | None:
        args = buf.split()
        target: str | None = None
        if ":" in buf:
            for i, arg in enumerate(args):
                if i and arg == ":":
                    target = args[i - 1]
                    break
        elif args:
            found = False
            if "(*" in buf:
                for arg in args:
                    for prefix in ("(*", "*(*", "**(*"):
                        if arg.startswith(prefix):
                            candidate = arg[len(prefix) :]
                            break
                    else:
                        continue
                    if ")" not in candidate:
                        continue
                    target = candidate[: candidate.index(")")]
                    found = True
                    break
            if not found:
                target = args[-1] if ";" in args[-1] else None
        if target is None:
            return None
        for ch in "*[];()":
            target = target.replace(ch, " ")
        return target.strip(" \t\n").split(" ")[0].split("\t")[0]

    def line(self, buf: str, out: list[str]) -> None:
        if not buf.startswith("    "):
            out.append("rejecting: " + buf)
            return
        if buf.startswith("    union {"):
            self.in_union = True
        if buf.startswith("    struct {"):
            self.in_struct = True
        end_of_block = buf.startswith("    } ")
        width = len(self.size_text) + 4
        target = self._target(buf)
        offset = None
        if target:
            if self.member is not None and self.member != target:
                if end_of_block:
                    self.in_union = self.in_struct = False
                return
            offset = self.offset_of(target)
        if offset is None:
            if end_of_block:
                self.in_union = self.in_struct = False
            if self.member is not None:
                return
            out.append(" " * (len(self.size_text) + 1) + buf)
            return
        if self.address:
            text = f"  [{offset + self.address:x}]"
        else:
            text = f"  [{offset}]" if self.radix != 16 else f"  [0x{offset:x}]"
        if end_of_block and self.member is not None:
            out.append(" " * (width + 1))
            if self.in_union and not self.in_struct:
                out.append("union {\n")
            elif self.in_struct and not self.in_union:
                out.append("struct {\n")
            self.in_union = self.in_struct = False
        out.append(text.rjust(width) + buf[3:])


# ---- picking members out of a printed struct ----------------------------------------------------------------


def member_data(text: str, member: str) -> str:
    """crash's ``parse_for_member(…, PARSE_FOR_DATA)``: the line(s) of *member* in *text*, a struct printed
    as ``struct NAME {`` … ``}`` (lines printed as they are, trailing comma included)."""
    look1, look2 = f"  {member} ", f"  {member}["
    out: list[str] = []
    lines = fgets_lines(text)
    indent = 0
    on = 0
    embed = 0
    array = False
    while True:
        for buf in lines:
            lead = _leading(buf)
            if (embed and lead == embed) or ("}}" in buf and embed == lead - 2):
                embed = 0
            if not on and not embed and "= {" in buf and look1 not in buf:
                embed = lead
            if embed:
                continue
            if look1 in buf or look2 in buf:
                on += 1
                if "= {" in buf:
                    indent = lead
                if "[" in buf:
                    array = True
            if not on:
                continue
            if (indent and on > 1 and lead == indent and "}" not in buf) or buf[:1] == "}":
                break
            if indent and on > 1 and indent == lead - 2 and "}}" in buf:
                out.append(buf)
                break
            if not indent:
                cut = buf.find(", \n")
                out.append(buf[:cut] + "\n" if cut >= 0 else buf)
                break
            if "}" in buf and lead == indent:
                cut = buf.find("}, \n")
                out.append(buf[:cut] + "}\n" if cut >= 0 else buf)
                break
            out.append(buf)
            on += 1
        if array:
            on = 0
            array = False
            continue
        break
    return "".join(out)


class _Elem:
    """A node of ``parse_for_member_extended``'s tree (``struct struct_elem``)."""

    __slots__ = ("field_name", "inner", "is_array_root", "next", "parent", "value")

    def __init__(self, parent: _Elem | None) -> None:
        self.field_name = ""
        self.value = ""
        self.is_array_root = False
        self.parent = parent
        self.inner: _Elem | None = None
        self.next: _Elem | None = None


def _right_braces(buf: str) -> int:
    """``is_right_brace``: 1 for ``}``, 2 for ``}}`` (optionally followed by a comma), else 0."""
    s = buf.lstrip(" ")
    count = 0
    if s.startswith("}"):
        count = 2 if s.startswith("}}") else 1
        s = s[count:]
    if s.startswith(","):
        s = s[1:]
    return count if s == "" else 0


def member_path_data(text: str, member: str) -> str | None:
    """crash's ``parse_for_member_extended``: *member*, a path with ``.`` and ``[i]`` (``node.next``,
    ``tls_array[1].base0``), found in a tree built from *text* and printed as ``  node.next = 0x0,``;
    ``None`` when it is not found (crash: ``invalid data structure member reference``)."""
    root = _Elem(None)
    current: _Elem | None = root

    def inner() -> None:
        nonlocal current
        assert current is not None
        current.inner = _Elem(current)
        current = current.inner

    def after() -> None:
        nonlocal current
        assert current is not None
        current.next = _Elem(current.parent)
        current = current.next

    inner()
    for raw in fgets_lines(text):
        end = len(raw)
        while end > 0 and (ord(raw[end - 1]) <= 32 or ord(raw[end - 1]) >= 128):
            end -= 1
        buf = raw[:end]
        trailing_comma = buf.endswith(",")
        if trailing_comma:
            buf = buf[:-1]
        braces = _right_braces(buf)
        if braces:
            while braces and current is not None:
                current = current.parent
                braces -= 1
            if current is not None and (current.parent is root or trailing_comma):
                after()
            continue
        first = len(buf) - len(buf.lstrip(" "))
        eq = buf.find(" = ")
        rest = buf[eq + 3 :] if eq >= 0 else buf[first:]
        if current is not None and eq >= 0:
            current.field_name = buf[first:eq]
        if current is None:
            continue
        if eq >= 0 and (not rest.startswith("{") or buf.endswith("}")):
            current.value = rest
            if trailing_comma:
                after()
        elif rest.startswith("{"):
            inner()
            if rest[1:2] == "{":
                assert current.parent is not None
                current.parent.is_array_root = True
                inner()
        elif "}, {" in rest:
            current = current.parent
            after()
            inner()
        elif buf.startswith("struct "):
            brace = buf.find(" {")
            current.field_name = buf[7:brace] if brace >= 0 else buf[7:]
            inner()
    node = root.inner
    while node is not None:
        found = _find_node(node.inner, member)
        if found is not None:
            out: list[str] = []
            _dump_node(found, member, 0, False, out)
            return "".join(out)
        node = node.next
    return None


def _siblings(node: _Elem | None) -> Iterator[_Elem]:
    while node is not None:
        yield node
        node = node.next


def _find_node(start: _Elem | None, path: str) -> _Elem | None:
    if not path or start is None:
        return start
    dot = path.find(".")
    p = dot if dot >= 0 else len(path)
    bracket = path.find("[", 0, p)
    b = bracket if bracket >= 0 else p
    for s in _siblings(start):
        if not s.field_name:
            continue
        if len(s.field_name) != b or s.field_name[:b] != path[:b]:
            continue
        if s.is_array_root and path[b : b + 1] != "[" and p < len(path):
            return None
        node: _Elem | None = s
        if path[b : b + 1] == "[":
            digits = ""
            i = b + 1
            while i < len(path) and path[i].isdigit():
                digits += path[i]
                i += 1
            if not (s.is_array_root and path[i : i + 1] == "]" and digits):
                return None
            count = int(digits)
            node = s.inner
            while node is not None and count:
                node = node.next
                count -= 1
            if count or node is None:
                return None
        if p == len(path):
            return node
        assert node is not None
        return _find_node(node.inner, path[p + 1 :])
    for s in _siblings(start):
        if s.field_name:
            continue
        found = _find_node(s.inner, path)
        if found is not None:
            return found
    return None


def _dump_node(node: _Elem | None, name: str | None, level: int, is_array: bool, out: list[str]) -> None:
    p = node
    while p is not None:

        def put(m: int, text: str) -> None:
            out.append(" " * (2 + 2 * (m * int(is_array) + level)) + text)

        if p.inner is not None:
            brace = "{{" if p.inner.is_array_root else "{"
            if p.field_name:
                put(1, f"{name or p.field_name} = {brace}\n")
            else:
                if name:
                    put(1, f"{name} = ")
                put(1, f"{brace}\n")
            _dump_node(p.inner, None, int(is_array) + level + 1, p.inner.is_array_root, out)
            close = "}}" if p.inner.is_array_root else "}"
            comma = "," if p.next is not None and not p.next.is_array_root else ""
            put(1, f"{close}{comma}\n")
        else:
            put(1, f"{name or p.field_name} = {p.value}" + (",\n" if p.next is not None else "\n"))
        if not level:
            break
        p = p.next
        if p is not None and p.is_array_root:
            put(0, "}, {\n")


# ---- p, whatis --------------------------------------------------------------------------------------------


def with_leader(leader: str | None, output: str, filtered: bool = False) -> str:
    """``process_gdb_output``: GDB's ``print`` output (``$1 = …\n``) as crash shows it.  With a *leader*
    (the symbol printed, or ``per_cpu(name, 1)``) the text starts ``leader = ``; with a leader, or when
    crash *filtered* the output (it does once any module's symbols are loaded with ``mod -s``, or when the
    symbol is a module's), a first line with a ``{`` not ending it (``$2 = {1, 2, 3}``,
    ``$3 = {void (void)} 0x… <f>``) breaks before the brace."""
    if leader is None and not filtered:
        return output
    out = [f"{leader} = "] if leader is not None else []
    first = True
    for buf in fgets_lines(output):
        brace = buf.find("{")
        if first and brace >= 0 and not buf.startswith("{\n", brace):
            out.append(buf[:brace] + "\n {" + buf[brace + 1 :])
        else:
            out.append(buf)
        first = False
    return "".join(out)


def variable_declaration(name: str, whatis: str) -> str:
    """``whatis_variable``: the declaration of variable or function *name* from GDB's ``whatis`` type
    (``const char [204]`` → ``const char linux_banner[204];``, ``void (void)`` → ``void schedule(void);``,
    ``int (*)(int *)`` → ``int (*name)(int *);``)."""
    text = whatis.strip()
    if "[" in text:
        at = text.index("[")
        return text[:at] + name + text[at:] + ";\n"
    if "(" in text:
        at = text.index("(") if text.index("(") == text.rindex("(") else text.index(")")
        return text[:at] + name + text[at:] + ";\n"
    return text + ("" if text.endswith("*") else " ") + name + ";\n"


def enum_declaration(t: CType, typedef_name: str | None = None) -> str:
    """The enumerator list crash's GDB prints for ``whatis enum NAME``: one ``  NAME = value`` a line,
    closed by ``};`` (``} name;`` for an anonymous enum known by a typedef *typedef_name*)."""
    u = t.strip_typedefs()
    out = [f"enum {u.name} {{\n" if u.name else "enum {\n"]
    for e in u.enumerators:
        out.append(f"  {e.name} = {e.value}\n")
    out.append("};\n" if u.name else f"}} {typedef_name or ''};\n")
    return "".join(out)
