"""crash's data displays over a :class:`~crashcompat.core.kernel.Kernel`: the type model
(:mod:`crashcompat.core.typeinfo`), GDB's printer (:mod:`crashcompat.core.values`) and crash's edits
(:mod:`crashcompat.core.crashdata`) put together the way crash's symbols.c does for ``struct``,
``union``, ``p``, ``whatis`` and ``list -s``.  Written once; both backends' commands use it.

:class:`DataPrinter` holds the output radix (crash's ``-x``/``-d`` or the session's) and an explicit
GDB format (``p/x``); its methods return crash's text.  They raise the Target's errors
(:class:`~crashcompat.core.target.TypeNotFound`, :class:`~crashcompat.core.target.SymbolNotFound`,
:class:`~crashcompat.core.target.FaultError`); commands turn those into crash's error lines.
"""

from __future__ import annotations

import re
from dataclasses import replace

from crashcompat.core import crashdata
from crashcompat.core.cexpr import evaluate, parse_type
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.gdbsyms import gdb_symbol
from crashcompat.core.target import SymbolNotFound, TypeNotFound
from crashcompat.core.typeinfo import CType, TypeKind, type_body, type_name
from crashcompat.core.values import CRASH_PRINT, ValuePrinter

__all__ = ["DataPrinter", "MemberReferenceError"]


class DataPrinter:
    """crash's data displays (see the module docstring).

    :param kernel: the kernel examined.
    :param radix: GDB's output radix while printing (10, or 16 for crash's ``-x``).
    :param format: an explicit GDB print format letter (``p/x`` → ``"x"``), or ``None``.
    """

    def __init__(self, kernel: Kernel, radix: int = 10, format: str | None = None) -> None:
        self.kernel = kernel
        self.radix = radix
        options = replace(CRASH_PRINT.with_radix(radix), format=format)
        self.printer = ValuePrinter(read=kernel.read, symbolize=self.symbolize, options=options)

    def symbolize(self, address: int) -> tuple[str, int] | None:
        return gdb_symbol(self.kernel, address)

    # ---- types ------------------------------------------------------------------------------------------

    def aggregate(self, keyword: str, name: str) -> CType:
        """The struct or union *name* (a tag, or a typedef of one), as crash's ``struct``/``union`` take it.

        :param keyword: ``"struct"`` or ``"union"``.
        :raises TypeNotFound: no such type.
        """
        try:
            return self.kernel.type_info(f"{keyword} {name}")
        except TypeNotFound:
            return self.kernel.type_info(name)

    def offset_of(self, t: CType, member: str) -> int | None:
        """crash's ``MEMBER_OFFSET``/``ANON_MEMBER_OFFSET``: *member*'s byte offset in *t* (looking into
        anonymous members), or ``None``."""
        found = t.member(member)
        return None if found is None else found[0] // 8

    def member_offset(self, t: CType, path: str) -> int | None:
        """The byte offset of member *path* (``tag``, ``node.next``, ``tasks[1].first``) in *t*, looking
        into anonymous members; ``None`` if there is no such member."""
        offset = 0
        current = t
        for step in re.findall(r"\.?([A-Za-z_]\w*)|\[(\d+)\]", path):
            name, index = step
            u = current.strip_typedefs()
            if name:
                found = u.member(name) if u.kind in (TypeKind.STRUCT, TypeKind.UNION) else None
                if found is None:
                    return None
                offset += found[0] // 8
                current = found[1].type
            else:
                if u.kind != TypeKind.ARRAY:
                    return None
                current = u.target
                offset += int(index) * (current.strip_typedefs().size or 0)
        if re.sub(r"\.?[A-Za-z_]\w*|\[\d+\]", "", path):
            return None
        return offset

    def declaration(
        self,
        name: str,
        t: CType,
        *,
        offsets: bool = False,
        member: str | None = None,
        address: int = 0,
    ) -> str:
        """``struct NAME`` / ``union NAME`` / ``whatis TYPE`` without an address: the type's body with
        ``SIZE:``, typedefs spelled out, and with ``-o`` (or a single *member*) member offsets (or
        addresses, from *address*)."""
        size = t.strip_typedefs().size or 0
        return crashdata.declaration(
            "type = " + type_body(t) + "\n",
            name,
            size,
            typedef=t.kind == TypeKind.TYPEDEF,
            offsets=offsets,
            member=member,
            radix=self.radix,
            address=address,
            offset_of=lambda m: self.offset_of(t, m),
        )

    # ---- values at addresses ------------------------------------------------------------------------------

    def output(self, t: CType, address: int) -> str:
        """GDB's ``output *(TYPE *)ADDRESS``: the value at *address* (raises FaultError)."""
        size = t.strip_typedefs().size or 0
        return self.printer.value(t, self.kernel.read(address, size), address)

    def aggregate_at(self, keyword: str, name: str, t: CType, address: int) -> str:
        """``struct NAME ADDRESS`` (``union``: crash prints no newline after the closing brace)."""
        text = f"{keyword} {name} " + self.output(t, address)
        return text if keyword == "union" else text + "\n"

    def members_at(self, keyword: str, name: str, t: CType, members: list[str], address: int) -> str:
        """``struct NAME.m1,m2 ADDRESS``: crash prints the whole struct for each member and picks the
        member out of the text (a path with ``.``/``[`` through its own tree parser)."""
        out = []
        for member in members:
            text = self.aggregate_at(keyword, name, t, address)
            if "." in member or "[" in member:
                found = crashdata.member_path_data(text, member)
                if found is None:
                    raise MemberReferenceError(member)
                out.append(found)
            else:
                out.append(crashdata.member_data(text, member))
        return "".join(out)

    # ---- p, whatis ---------------------------------------------------------------------------------------

    def print_value(self, t: CType, address: int | None, data: bytes | None = None) -> str:
        """GDB's ``print`` of a value of type *t* at *address* (or made of *data*): what follows ``$N = ``."""
        if data is None:
            assert address is not None
            size = t.strip_typedefs().size or 0
            data = self.kernel.read(address, size) if size else b""
        return self.printer.print_value(t, data, address)

    def print_expression(
        self, expression: str, history: int, leader: str | None = None, filtered: bool = False
    ) -> str:
        """``p EXPRESSION``: ``$N = value`` (``LEADER = $N = value`` with a *leader*, crash's name for the
        symbol printed or ``per_cpu(name, cpu)``; *filtered*: crash's module-symbol filter is on, see
        :func:`crashcompat.core.crashdata.with_leader`).

        :raises ExpressionError: GDB would refuse the expression.
        :raises FaultError: the value cannot be read.
        """
        value = evaluate(self.kernel, expression)
        text = self.print_value(value.type, value.address, value.data)
        return crashdata.with_leader(leader, f"${history} = {text}\n", filtered)

    def print_symbol(self, name: str, history: int, leader: str | None = None, filtered: bool = False) -> str:
        """``p NAME`` of a global variable or function: ``NAME = $N = value``.

        :param history: GDB's value-history number ``$N``.
        :param leader: what precedes ``$N`` (crash's ``per_cpu(name, cpu)``); default *name*.
        """
        return self.print_expression(name, history, leader or name, filtered)

    def datatype(self, name: str) -> CType | None:
        """What crash's ``arg_to_datatype`` finds for a bare *name*: a struct, union or enum tag (GDB's
        ``STRUCT_DOMAIN``), else a type name (a typedef or a base type); ``None`` if neither."""
        for keyword in ("struct", "union", "enum"):
            try:
                return self.kernel.type_info(f"{keyword} {name}")
            except TypeNotFound:
                continue
        try:
            return self.kernel.type_info(name)
        except TypeNotFound:
            return None

    def whatis_type(self, name: str, t: CType, offsets: bool = False, member: str | None = None) -> str:
        """``whatis NAME`` of a type: a struct's or union's body with ``SIZE`` (or one *member*'s offset),
        ``typedef … NAME;``, an enum's enumerators one a line; a base type shows only its ``SIZE``."""
        u = t.strip_typedefs()
        typedef = t.kind == TypeKind.TYPEDEF
        if u.kind == TypeKind.ENUM and member is None:
            return ("typedef " if typedef else "") + crashdata.enum_declaration(u, name if typedef else None)
        if typedef or u.kind in (TypeKind.STRUCT, TypeKind.UNION):
            return self.declaration(name, t, offsets=offsets, member=member)
        size = u.size or 0
        return f"SIZE: {size}\n" if self.radix != 16 else f"SIZE: 0x{size:x}\n"

    def whatis_constant(self, name: str) -> str | None:
        """``whatis ENUMERATOR``: ``enum pid_type = 1``; ``None`` if *name* is no enumeration constant."""
        try:
            t = self.kernel.variable_type(name)
        except SymbolNotFound:
            return None
        u = t.strip_typedefs()
        if u.kind != TypeKind.ENUM:
            return None
        for e in u.enumerators:
            if e.name == name:
                prefix = "typedef " if t.kind == TypeKind.TYPEDEF else ""
                return f"{prefix}enum{' ' + u.name if u.name else ''} = {e.value}\n"
        return None

    def ptype(self, text: str) -> str:
        """GDB's ``ptype``: ``type = `` and the type *text* names, or the type of expression *text*, with
        a struct's or union's body expanded.  Raises ExpressionError."""
        t = parse_type(self.kernel, text)
        if t is None:
            t = evaluate(self.kernel, text).type
        return "type = " + type_body(t) + "\n"

    def whatis_expression(self, text: str) -> str:
        """GDB's ``whatis EXPRESSION`` (crash prints the type alone: ``pid_t``).  Raises ExpressionError."""
        return type_name(evaluate(self.kernel, text).type) + "\n"

    # ---- per-cpu variables ---------------------------------------------------------------------------------

    def is_percpu(self, name: str) -> bool:
        """Whether vmlinux symbol *name* is a per-cpu variable (its value between ``__per_cpu_start`` and
        ``__per_cpu_end``: an offset into each CPU's area)."""
        try:
            address = self.kernel.symbol(name)
            return self.kernel.symbol("__per_cpu_start") <= address < self.kernel.symbol("__per_cpu_end")
        except SymbolNotFound:
            return False

    def percpu_listing(self, name: str, cpus: list[int]) -> str:
        """``p NAME`` of a per-cpu variable without a CPU: its type and each CPU's address."""
        try:
            declared = self.whatis_symbol(name)
        except SymbolNotFound:
            declared = f"[undetermined type] {name};\n"
        base = self.kernel.symbol(name)
        lines = [f"  [{cpu}]: {base + self.kernel.per_cpu_offset(cpu):x}\n" for cpu in cpus]
        return "PER-CPU DATA TYPE:\n  " + declared + "PER-CPU ADDRESSES:\n" + "".join(lines)

    def percpu_values(self, name: str, cpus: list[int], history: int, filtered: bool = False) -> str:
        """``p NAME:CPUS``: ``per_cpu(NAME, cpu) = $N = value`` for each CPU, numbered from *history*."""
        base = self.kernel.symbol(name)
        try:
            t: CType | None = self.kernel.variable_type(name)
        except SymbolNotFound:
            t = None
        out = []
        for i, cpu in enumerate(cpus):
            address = base + self.kernel.per_cpu_offset(cpu)
            if t is None:
                value = f"(void *) 0x{address:x}"
                leader = f"&per_cpu({name}, {cpu})"
            else:
                value = self.print_value(t, address)
                leader = f"per_cpu({name}, {cpu})"
            out.append(crashdata.with_leader(leader, f"${history + i} = {value}\n", filtered))
        return "".join(out)

    def whatis_symbol(self, name: str) -> str:
        """``whatis SYMBOL``: the variable's or function's declaration (``void schedule(void);``)."""
        return crashdata.variable_declaration(name, type_name(self.kernel.variable_type(name)))


class MemberReferenceError(LookupError):
    """crash: ``invalid data structure member reference: PATH`` (a member path its parser did not find)."""
