"""C values printed the way GDB prints them — the text crash shows for ``p``, ``struct``, ``union``, ``list -s``.

crash passes these commands to the GDB built into it (GDB 10.2 in crash 8.0.x) and prints GDB's text, with
its own print settings (gdb_interface.c ``restore_gdb_sanity``, ``gdb_session_init``): structures printed
pretty (one member a line, two spaces of indentation a level), ``<repeats N times>`` folding off (a
threshold of 0x7fffffff), 256 elements or string characters at most (``print_max``), and GDB's defaults
otherwise (``print max-depth`` 20, ``print symbol`` on, arrays not pretty, stop-at-null off).  GDB's output
radix 16 (crash's ``-x``, ``set radix 16``) prints integers, characters and booleans in hex but leaves
pointers, enums and strings alone; an explicit ``/x`` format (``p/x``) also turns those into numbers.

:class:`ValuePrinter` renders a :class:`~crashcompat.core.typeinfo.CType` and the value's bytes in that
format (gdb/valprint.c ``generic_printstr`` and ``value_print_array_elements``, gdb/c-valprint.c,
gdb/cp-valprint.c ``cp_print_value_fields``, gdb/printcmd.c ``print_scalar_formatted``).  It needs two
things from outside, both optional: *read* (memory, for the string a ``char *`` points to and the contents
of a flexible array member) and *symbolize* (the ``<symbol+offset>`` GDB appends to a kernel address).
Strings are decoded as UTF-8, as GDB does under a UTF-8 locale (the lab runs crash with ``C.UTF-8``):
bytes that are not valid UTF-8, and characters that are not printable, become octal escapes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from crashcompat.core.target import FaultError
from crashcompat.core.typeinfo import CType, TypeKind, declaration

__all__ = ["CRASH_PRINT", "GDB_DEFAULT_PRINT", "PrintOptions", "ReadMemory", "Symbolizer", "ValuePrinter"]

#: Reads *size* bytes at a kernel address; raises :class:`~crashcompat.core.target.FaultError`.
ReadMemory = Callable[[int, int], bytes]
#: The symbol GDB would name an address by: ``(name, offset)``, or ``None`` to print the bare address.
Symbolizer = Callable[[int], "tuple[str, int] | None"]


@dataclass(frozen=True)
class PrintOptions:
    """GDB's ``value_print_options`` that matter here.

    :param format: an explicit print format letter (``p/x`` → ``"x"``; ``d u o t z c a``), or ``None``.
    :param output_format: GDB's output radix as a format (``"x"`` for radix 16), applied to integers,
        characters and booleans only.
    :param pretty: ``set print pretty``.
    :param print_max: elements of an array, characters of a string (``None``: unlimited).
    :param repeat_threshold: runs longer than this fold into ``<repeats N times>`` (``None``: never).
    :param max_depth: nesting depth printed before ``{...}`` (``None``: unlimited).
    :param stop_print_at_null: ``set print null-stop``.
    :param gdb14_strings: strings as GDB 14 and later print them (the GDB 16 inside crash 9): a run of
        one repeated character that crosses ``print_max`` is cut there (an ellipsis follows), and a
        digit after an octal escape is printed as it is; older GDBs print that last run whole and
        escape such a digit too.
    """

    format: str | None = None
    output_format: str | None = None
    pretty: bool = True
    print_max: int | None = 256
    repeat_threshold: int | None = None
    max_depth: int | None = 20
    stop_print_at_null: bool = False
    gdb14_strings: bool = True

    def with_radix(self, radix: int) -> PrintOptions:
        """These options under crash's output radix (16: ``-x``, 10: ``-d``)."""
        return replace(self, output_format="x" if radix == 16 else None)


#: What crash 8.0.2 sets.
CRASH_PRINT = PrintOptions()
#: A plain GDB's defaults (for comparison tests against the host's GDB).
GDB_DEFAULT_PRINT = PrintOptions(pretty=False, print_max=200, repeat_threshold=10, gdb14_strings=False)

_NAMED_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}

# Results of decoding one character (GDB's wchar_iterate_*).
_OK, _INVALID, _INCOMPLETE, _EOF = range(4)


def _printable(ch: str) -> bool:
    """``iswprint`` in a UTF-8 locale (the space separators count as printable there)."""
    return ch.isprintable() or unicodedata.category(ch) == "Zs"


def _next_char(data: bytes, pos: int) -> tuple[int, bytes, str | None]:
    """Decode the character at *pos* as iconv does from UTF-8: (result, its bytes, the character)."""
    lead = data[pos]
    if lead < 0x80:
        return _OK, data[pos : pos + 1], chr(lead)
    need = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
    if need == 0:
        return _INVALID, data[pos : pos + 1], None
    chunk = data[pos : pos + need]
    try:
        return _OK, chunk, chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data" and pos + need > len(data):
            return _INCOMPLETE, data[pos:], None
        return _INVALID, data[pos : pos + 1], None


class _Escaper:
    """GDB's ``print_wchar``: one character, escaped for a string or a character literal.  Before GDB 14
    a digit after an octal escape is escaped too (*octal_needs_escape*)."""

    def __init__(self, quoter: str, octal_needs_escape: bool = True) -> None:
        self.quoter = quoter
        self.need_escape = False
        self.octal_needs_escape = octal_needs_escape

    def char(self, ch: str | None, raw: bytes) -> str:
        need_escape, self.need_escape = self.need_escape, False
        if ch is not None:
            named = _NAMED_ESCAPES.get(ord(ch))
            if named is not None:
                return named
            if _printable(ch) and not (need_escape and ch.isdigit()):
                return "\\" + ch if ch in (self.quoter, "\\") else ch
        self.need_escape = self.octal_needs_escape
        return "".join(f"\\{b:03o}" for b in raw)


def char_literal(value: int) -> str:
    """A one-byte character as GDB quotes it after the number: ``'A'``, ``'\\000'``, ``'\\''``."""
    raw = bytes([value & 0xFF])
    result, chunk, ch = _next_char(raw, 0)
    return "'" + _Escaper("'").char(ch if result == _OK else None, chunk) + "'"


class ValuePrinter:
    """Prints values in GDB's format (see the module docstring).

    :param read: memory, for strings behind ``char *`` pointers and flexible arrays (``None``: not shown).
    :param symbolize: names an address (``None``: bare addresses).
    :param options: :data:`CRASH_PRINT` unless told otherwise.
    """

    def __init__(
        self,
        read: ReadMemory | None = None,
        symbolize: Symbolizer | None = None,
        options: PrintOptions = CRASH_PRINT,
    ) -> None:
        self.read = read
        self.symbolize = symbolize
        self.options = options

    # ---- entry points ---------------------------------------------------------------------------------

    def print_value(self, t: CType, data: bytes, address: int | None = None) -> str:
        """What GDB's ``print`` shows after ``$N = ``: a pointer's type in parentheses first
        (``(struct task_struct *) 0xffff…``), except for plain ``char *``."""
        out: list[str] = []
        if t.strip_typedefs().kind == TypeKind.POINTER and (
            t.kind != TypeKind.POINTER or t.target.name != "char"
        ):
            out.append(f"({declaration(t, '', show=-1)}) ")
        self._value(t, memoryview(data), address, 0, self.options.max_depth, out)
        return "".join(out)

    def value(self, t: CType, data: bytes, address: int | None = None, recurse: int = 0) -> str:
        """The value as GDB's ``output`` command prints it (no pointer-type prefix); *recurse* is the
        nesting level it is printed at (its members are indented ``2 + 2 * recurse`` spaces)."""
        out: list[str] = []
        self._value(t, memoryview(data), address, recurse, self.options.max_depth, out)
        return "".join(out)

    def string(self, address: int, length: int = -1) -> str:
        """The string at *address* as GDB prints a ``char *`` (``"text"``, ``"long…"...``, ``<error: …>``)."""
        return self._read_string(address, length)

    # ---- dispatch ---------------------------------------------------------------------------------------

    def _value(
        self, t: CType, data: memoryview, address: int | None, recurse: int, depth: int | None, out: list[str]
    ) -> None:
        u = t.strip_typedefs()
        kind = u.kind
        fmt = self.options.format
        aggregate = kind in (TypeKind.STRUCT, TypeKind.UNION) or (
            kind == TypeKind.ARRAY and not _is_string_type(u)
        )
        if aggregate and depth is not None and recurse >= depth:
            out.append("{...}")
            return
        if kind in (TypeKind.STRUCT, TypeKind.UNION):
            self._struct(u, data, address, recurse, depth, out)
        elif kind == TypeKind.ARRAY:
            self._array(t, u, data, address, recurse, depth, out)
        elif kind == TypeKind.POINTER:
            if fmt is not None and fmt != "s":
                out.append(self._formatted(u, data, fmt))
            else:
                self._pointer(u, self._uint(data), out)
        elif kind == TypeKind.ENUM:
            if fmt is not None:
                out.append(self._formatted(u, data, fmt))
            else:
                out.append(self._enum(u, data))
        elif kind == TypeKind.FUNCTION:
            if fmt is not None:
                out.append(self._formatted(u, data, fmt))
            else:
                out.append("{" + declaration(t, "", show=-1) + "} ")
                out.append(self._address(address or 0))
        elif kind == TypeKind.BOOL:
            radix = fmt or self.options.output_format
            if radix is not None:
                out.append(self._formatted(u, data, radix))
            else:
                value = self._uint(data)
                out.append("false" if value == 0 else "true" if value == 1 else str(value))
        elif kind == TypeKind.INT:
            radix = fmt or self.options.output_format
            if radix is not None:
                out.append(self._formatted(u, data, radix))
            else:
                value = int.from_bytes(data, "little", signed=u.signed)
                out.append(str(value))
                if u.size == 1:
                    out.append(" " + char_literal(value))
        elif kind == TypeKind.FLOAT:
            out.append(self._formatted(u, data, fmt) if fmt is not None else _float_text(bytes(data)))
        elif kind == TypeKind.VOID:
            out.append("void")
        else:  # a typedef whose target is unknown
            out.append("<incomplete type>")

    # ---- scalars ------------------------------------------------------------------------------------------

    @staticmethod
    def _uint(data: memoryview) -> int:
        return int.from_bytes(data, "little")

    def _address(self, address: int) -> str:
        """``0xffffffff81a114f0 <schedule>`` (GDB's ``print_address_demangle``)."""
        text = f"0x{address:x}"
        if self.symbolize is not None:
            found = self.symbolize(address)
            if found is not None:
                name, offset = found
                text += f" <{name}+{offset}>" if offset else f" <{name}>"
        return text

    def _pointer(self, u: CType, address: int, out: list[str]) -> None:
        target = u.target
        if target.strip_typedefs().kind == TypeKind.FUNCTION:
            out.append(self._address(address))
            return
        out.append(self._address(address))
        if target.is_char and address != 0 and self.read is not None:
            out.append(" " + self._read_string(address, -1))

    def _formatted(self, u: CType, data: memoryview, fmt: str) -> str:
        """``print_scalar_formatted``: the value's bytes in format *fmt*."""
        size = len(data)
        raw = int.from_bytes(data, "little")
        if fmt == "x":
            return f"0x{raw:x}"
        if fmt == "z":
            return f"0x{raw:0{2 * size}x}"
        if fmt == "o":
            return f"0{raw:o}" if raw else "0"
        if fmt == "t":
            return f"{raw:b}"
        if fmt == "d":
            return str(int.from_bytes(data, "little", signed=True))
        if fmt == "u":
            return str(raw)
        if fmt == "c":
            signed = u.signed or (u.kind == TypeKind.ENUM and _enum_signed(u))
            value = int.from_bytes(data, "little", signed=signed)
            byte = value & 0xFF
            return f"{byte - 256 if signed and byte > 127 else byte} {char_literal(byte)}"
        if fmt == "a":
            return self._address(raw)
        signed = u.signed and u.kind != TypeKind.POINTER
        return str(int.from_bytes(data, "little", signed=signed))

    def _enum(self, u: CType, data: memoryview) -> str:
        """``generic_val_print_enum_1``: the enumerator's name; a "flag" enum (every enumerator a single
        bit or zero) decomposed as ``(A | B | unknown: 0x8)``; else the number."""
        enumerators = u.enumerators
        value = int.from_bytes(data, "little", signed=_enum_signed(u))
        for e in enumerators:
            if e.value == value:
                return e.name
        if not _is_flag_enum(u):
            return str(value)
        parts: list[str] = []
        for e in enumerators:
            if value & e.value:
                parts.append(e.name)
                value &= ~e.value
        if value:
            parts.append(f"unknown: 0x{value:x}")
        if not parts:
            return "0"
        return "(" + " | ".join(parts) + ")"

    # ---- aggregates -------------------------------------------------------------------------------------

    def _struct(
        self, u: CType, data: memoryview, address: int | None, recurse: int, depth: int | None, out: list[str]
    ) -> None:
        """``cp_print_value_fields``."""
        if not u.is_complete:
            out.append("<incomplete type>")
            return
        out.append("{")
        members = u.members
        if not members:
            out.append("<No data fields>}")
            return
        pretty = self.options.pretty
        for i, m in enumerate(members):
            if i:
                out.append("," if pretty else ", ")
            if pretty:
                out.append("\n" + " " * (2 + 2 * recurse))
            inner_depth = depth
            if m.name:
                out.append(m.name + " = ")
            elif depth is not None:
                inner_depth = depth + 1  # an anonymous member counts at its parent's depth
            offset = m.bit_offset // 8
            mt = m.type
            if m.bit_size is not None:
                field = self._bitfield(mt, data, m.bit_offset, m.bit_size)
                self._value(mt, memoryview(field), None, recurse + 1, inner_depth, out)
                continue
            size = mt.strip_typedefs().size or 0
            inner = data[offset : offset + size]
            self._value(
                mt, inner, None if address is None else address + offset, recurse + 1, inner_depth, out
            )
        if pretty:
            out.append("\n" + " " * (2 * recurse))
        out.append("}")

    @staticmethod
    def _bitfield(t: CType, data: memoryview, bit_offset: int, bit_size: int) -> bytes:
        """A bit field's value as the bytes of a value of its type (sign-extended if the type is signed)."""
        u = t.strip_typedefs()
        size = u.size or 4
        first, end = bit_offset // 8, (bit_offset + bit_size + 7) // 8
        raw = int.from_bytes(data[first:end], "little") >> (bit_offset % 8)
        value = raw & ((1 << bit_size) - 1)
        signed = _enum_signed(u) if u.kind == TypeKind.ENUM else u.signed and u.kind != TypeKind.BOOL
        if signed and value >> (bit_size - 1) & 1:
            value -= 1 << bit_size
        return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def _array(
        self,
        t: CType,
        u: CType,
        data: memoryview,
        address: int | None,
        recurse: int,
        depth: int | None,
        out: list[str],
    ) -> None:
        """``c_value_print_array``: a string for textual elements, else ``{a, b, …}``; an array of no size
        (``[]``, ``[0]``) prints as a pointer to its first element."""
        element = u.target
        element_size = element.strip_typedefs().size or 0
        if not u.size or element_size <= 0:
            self._pointer_to_elements(element, address or 0, out)
            return
        length = u.size // element_size
        fmt = self.options.format
        if element.is_char and fmt in (None, "s"):
            raw = bytes(data[:length])
            force = False
            if self.options.stop_print_at_null:
                limit = self.options.print_max
                n = 0
                while n < length and (limit is None or n < limit) and raw[n] != 0:
                    n += 1
                if limit is not None and n == limit and n < length and raw[n] != 0:
                    force = True
                raw = raw[:n]
            out.append(self._printstr(raw, force))
            return
        out.append("{")
        self._elements(element, element_size, length, data, address, recurse, depth, out)
        out.append("}")

    def _pointer_to_elements(self, element: CType, address: int, out: list[str]) -> None:
        out.append(self._address(address))
        if element.is_char and address != 0 and self.read is not None:
            out.append(" " + self._read_string(address, -1))

    def _elements(
        self,
        element: CType,
        size: int,
        length: int,
        data: memoryview,
        address: int | None,
        recurse: int,
        depth: int | None,
        out: list[str],
    ) -> None:
        """``value_print_array_elements`` (arrays not pretty-printed)."""
        limit = self.options.print_max
        threshold = self.options.repeat_threshold
        printed = 0
        i = 0
        while i < length and (limit is None or printed < limit):
            if i:
                out.append(", ")
            chunk = data[i * size : (i + 1) * size]
            reps = 1
            if threshold is not None:
                while i + reps < length and data[(i + reps) * size : (i + reps + 1) * size] == chunk:
                    reps += 1
            at = None if address is None else address + i * size
            self._value(element, chunk, at, recurse + 1, depth, out)
            if threshold is not None and reps > threshold:
                out.append(f" <repeats {reps} times>")
                i += reps
                printed += threshold
            else:
                i += 1
                printed += 1
        if i < length:
            out.append("...")

    # ---- strings ------------------------------------------------------------------------------------------

    def _read_string(self, address: int, length: int) -> str:
        """``val_print_string``: read up to ``print_max`` bytes (or *length*), up to and including a NUL,
        eight at a time; print what was read, ``...`` if the string goes on, and the read error if any."""
        assert self.read is not None
        limit = self.options.print_max
        fetch = (length if length >= 0 else 1 << 30) if limit is None else limit
        if length >= 0:
            fetch = min(fetch, length)
        buffer = bytearray()
        error: int | None = None
        found_nul = False
        pos = address
        while len(buffer) < fetch and not found_nul and error is None:
            want = min(8, fetch - len(buffer))
            chunk, error = self._partial_read(pos, want)
            for b in chunk:
                buffer.append(b)
                pos += 1
                if b == 0 and length < 0:
                    found_nul = True
                    error = None
                    break
        force = False
        if length < 0 and not found_nul:
            try:
                peek = self.read(pos, 1)
            except FaultError:
                peek = b"\0"
            force = peek[0] != 0
        elif (length >= 0 and error is not None) or length > len(buffer):
            force = True
        text = ""
        if error is None or buffer:
            text = self._printstr(bytes(buffer), force)
        if error is not None:
            text += f"<error: Cannot access memory at address 0x{error:x}>"
        return text

    def _partial_read(self, address: int, size: int) -> tuple[bytes, int | None]:
        """Up to *size* bytes at *address*: all of them, or those before the first unreadable one (and
        its address)."""
        assert self.read is not None
        try:
            return self.read(address, size), None
        except FaultError:
            pass
        got = bytearray()
        for i in range(size):
            try:
                got += self.read(address + i, 1)
            except FaultError:
                return bytes(got), address + i
        return bytes(got), None

    def _printstr(self, raw: bytes, force_ellipses: bool) -> str:
        """``generic_printstr`` for one-byte characters: quoted, escaped, cut after ``print_max``
        characters (a run of one repeated character is taken whole), without a final NUL."""
        length = len(raw)
        if not force_ellipses and length > 0 and raw[length - 1] == 0:
            length -= 1
        if length == 0:
            return '""'
        data = raw[:length]
        # Runs of identical characters, as count_next_character groups them.
        runs: list[_Run] = []
        limit = self.options.print_max
        pos = 0
        counted = 0
        finished = False
        while limit is None or counted < limit:
            if pos >= length:
                finished = True
                break
            result, chunk, ch = _next_char(data, pos)
            pos += len(chunk)
            count = 1
            if result != _INCOMPLETE:
                while pos < length:
                    nresult, nchunk, _ = _next_char(data, pos)
                    if nresult != result or nchunk != chunk:
                        break
                    count += 1
                    pos += len(nchunk)
            runs.append(_Run(result, chunk, ch, count))
            counted += count
        else:
            finished = pos >= length
        threshold = self.options.repeat_threshold
        escaper = _Escaper('"', not self.options.gdb14_strings)
        out: list[str] = []
        state = "start"
        printed = 0
        for result, chunk, ch, count in runs:
            char = ch if result == _OK else None
            if result == _INCOMPLETE:
                if state == "single":
                    out.append('"')
                if state != "start":
                    out.append(", ")
                out.append("<incomplete sequence " + _Escaper("").char(None, chunk) + ">")
                state = "finish"
                break
            if threshold is not None and count > threshold:
                if state == "single":
                    out.append('"')
                if state != "start":
                    out.append(", ")
                out.append("'" + escaper.char(char, chunk) + "'" + f" <repeats {count} times>")
                printed += count
                state = "repeat"
            else:
                if state != "single":
                    if state != "start":
                        out.append(", ")
                    out.append('"')
                if self.options.gdb14_strings and limit is not None and printed + count > limit:
                    count = max(0, limit - printed)
                    finished = False
                out.extend(escaper.char(char, chunk) for _ in range(count))
                printed += count
                state = "single"
        if state == "single":
            out.append('"')
        if force_ellipses or not finished:
            out.append("...")
        return "".join(out)


class _Run(NamedTuple):
    """A run of one character repeated *repeat* times (GDB's ``converted_character``)."""

    result: int
    raw: bytes
    char: str | None
    repeat: int


def _is_string_type(u: CType) -> bool:
    """GDB's ``c_is_string_type_p`` for an array: one-byte textual elements."""
    element = u.target
    return (element.strip_typedefs().size or 0) > 0 and element.is_char


def _enum_signed(u: CType) -> bool:
    """GDB reads an enum as signed when one of its enumerators is negative."""
    return any(e.value < 0 for e in u.enumerators)


def _is_flag_enum(u: CType) -> bool:
    """GDB's ``TYPE_FLAG_ENUM``: no negative enumerator and none with more than one bit set."""
    return all(e.value >= 0 and e.value & (e.value - 1) == 0 for e in u.enumerators)


def _float_text(raw: bytes) -> str:
    import struct

    if len(raw) == 4:
        return f"{struct.unpack('<f', raw)[0]:.9g}"
    if len(raw) == 8:
        return f"{struct.unpack('<d', raw)[0]:.17g}"
    return "<unsupported float>"
