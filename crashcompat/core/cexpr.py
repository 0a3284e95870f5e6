"""C expressions over the kernel, as GDB evaluates the ones crash users give ``p``: ``init_task.comm``,
``crashme_list.next->next``, ``*(struct list_head *)0xffff…``, ``&init_task.tasks``, ``sizeof(struct
task_struct)``, ``jiffies + 1``, ``init_task.comm[1]``, ``*init_task.comm@3``.

:func:`evaluate` parses an expression and returns a :class:`CValue`: a type and either an address in
kernel memory (an lvalue, read when needed) or the bytes of a computed value.  Names are global variables,
functions and enumeration constants of the debug info (:meth:`Kernel.variable_type`).  The arithmetic
follows GDB's (C's usual conversions, pointer arithmetic scaled by the pointed-to size, ``.`` and ``->``
both following pointers).  Errors raise :class:`ExpressionError` with GDB's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from crashcompat.core.kernel import Kernel
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound
from crashcompat.core.typeinfo import CType, TypeKind, array_of, int_type, pointer_to, type_name

__all__ = ["CValue", "ExpressionError", "evaluate", "parse_type"]


class ExpressionError(ValueError):
    """An expression GDB would refuse (its message), or a read it could not do."""


class CValue:
    """A value: *type* and its *address* in kernel memory (an lvalue) or its *data* (a computed value).

    :param bits: for a bit field, (bit offset from *address*, width).
    """

    __slots__ = ("_data", "address", "bits", "kernel", "type")

    def __init__(
        self,
        kernel: Kernel,
        t: CType,
        address: int | None = None,
        data: bytes | None = None,
        bits: tuple[int, int] | None = None,
    ) -> None:
        self.kernel = kernel
        self.type = t
        self.address = address
        self._data = data
        self.bits = bits

    @property
    def stripped(self) -> CType:
        return self.type.strip_typedefs()

    @property
    def data(self) -> bytes:
        """The value's bytes (read from memory for an lvalue; a bit field's value as its type's bytes)."""
        if self._data is None:
            size = self.stripped.size or 0
            if self.address is None:
                self._data = bytes(size)
            elif self.bits is not None:
                offset, width = self.bits
                raw = self.kernel.read(self.address, (offset + width + 7) // 8)
                value = (int.from_bytes(raw, "little") >> offset) & ((1 << width) - 1)
                if _signed(self.stripped) and value >> (width - 1):
                    value -= 1 << width
                self._data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            else:
                self._data = self.kernel.read(self.address, size) if size else b""
        return self._data

    def integer(self) -> int:
        """The value as a number (pointers as addresses; arrays and functions as their address)."""
        u = self.stripped
        if u.kind in (TypeKind.ARRAY, TypeKind.FUNCTION):
            if self.address is None:
                raise ExpressionError("Attempt to take address of value not located in memory.")
            return self.address
        if u.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.VOID):
            raise ExpressionError("Argument to arithmetic operation not a number or boolean.")
        return int.from_bytes(self.data, "little", signed=_signed(u))


def _signed(u: CType) -> bool:
    if u.kind == TypeKind.ENUM:
        return any(e.value < 0 for e in u.enumerators)
    return u.signed and u.kind in (TypeKind.INT, TypeKind.FLOAT)


# ---- tokens -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+)(?P<suffix>[uUlL]*)"
    r"|(?P<name>[A-Za-z_$][A-Za-z0-9_$]*)"
    r"|(?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>()\[\].@,?:]))"
)
_BASE_WORDS = {"unsigned", "signed", "char", "short", "int", "long", "void", "_Bool", "float", "double"}
_PREFIX_WORDS = {"struct", "union", "enum", "const", "volatile"}


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExpressionError(f"Invalid character '{text[pos:].lstrip()[:1]}' in expression.")
        out.append(m.group(0).strip())
        pos = m.end()
    return out


# ---- evaluation ---------------------------------------------------------------------------------------------


def _int_type(name: str) -> CType:
    size = 4 if name in ("int", "unsigned int") else 8
    return int_type(name, size, not name.startswith("unsigned"))


INT = _int_type("int")
UINT = _int_type("unsigned int")
LONG = _int_type("long")
ULONG = _int_type("unsigned long")
_RANKS = [INT, UINT, LONG, ULONG]


class _Parser:
    def __init__(self, kernel: Kernel, text: str) -> None:
        self.kernel = kernel
        self.tokens = _tokens(text)
        self.pos = 0

    # -- helpers
    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExpressionError(
                "A syntax error in expression, near `" + " ".join(self.tokens[self.pos :]) + "'."
            )
        self.pos += 1
        return token

    def value(self, t: CType, number: int) -> CValue:
        size = t.strip_typedefs().size or 8
        return CValue(self.kernel, t, data=(number & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    # -- grammar
    def parse(self) -> CValue:
        if not self.tokens:
            raise ExpressionError("A syntax error in expression, near `'.")
        result = self.binary(0)
        if self.peek() is not None:
            raise ExpressionError(
                "A syntax error in expression, near `" + " ".join(self.tokens[self.pos :]) + "'."
            )
        return result

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("|",),
        ("^",),
        ("&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("<<", ">>"),
        ("+", "-"),
        ("*", "/", "%"),
        ("@",),
    )

    def binary(self, level: int) -> CValue:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            left = self.apply(op, left, right)
        return left

    def unary(self) -> CValue:
        token = self.peek()
        if token in ("*", "&", "-", "+", "~", "!"):
            self.take()
            operand = self.unary()
            return self.apply_unary(token, operand)
        if token == "sizeof":
            self.take()
            if self.peek() == "(" and self.is_type_start(1):
                self.take("(")
                t = self.type_name()
                self.take(")")
            else:
                t = self.unary().type
            size = t.strip_typedefs().size
            if size is None:
                raise ExpressionError("Attempt to take size of incomplete type.")
            return self.value(ULONG, size)
        if token == "(" and self.is_type_start(1):
            self.take("(")
            t = self.type_name()
            self.take(")")
            return self.cast(t, self.unary())
        return self.postfix(self.primary())

    def postfix(self, value: CValue) -> CValue:
        while True:
            token = self.peek()
            if token in (".", "->"):
                self.take()
                value = self.member(value, self.take())
            elif token == "[":
                self.take()
                index = self.binary(0).integer()
                self.take("]")
                value = self.index(value, index)
            else:
                return value

    def primary(self) -> CValue:
        token = self.take()
        if token == "(":
            inner = self.binary(0)
            self.take(")")
            return inner
        number = re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)", token)
        if number is not None:
            n = int(number.group(1), 0)
            suffix = number.group(2).lower()
            for t in _RANKS:
                if ("u" in suffix and t.signed) or ("l" in suffix and t.size == 4):
                    continue
                bits = 8 * (t.size or 8)
                if n < 1 << (bits - (1 if t.signed else 0)):
                    return self.value(t, n)
            return self.value(ULONG, n)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            return self.symbol(token)
        raise ExpressionError(f"A syntax error in expression, near `{token}'.")

    # -- names and types
    def symbol(self, name: str) -> CValue:
        try:
            t = self.kernel.variable_type(name)
        except SymbolNotFound:
            raise ExpressionError(f'No symbol "{name}" in current context.') from None
        u = t.strip_typedefs()
        if u.kind == TypeKind.ENUM and any(e.name == name for e in u.enumerators):
            value = next(e.value for e in u.enumerators if e.name == name)
            return self.value(t, value)
        try:
            address = self.kernel.symbol(name)
        except SymbolNotFound:
            raise ExpressionError(f'No symbol "{name}" in current context.') from None
        return CValue(self.kernel, t, address)

    def is_type_start(self, ahead: int) -> bool:
        token = self.peek(ahead)
        if token is None:
            return False
        if token in _BASE_WORDS or token in _PREFIX_WORDS:
            return True
        if not re.fullmatch(r"[A-Za-z_]\w*", token):
            return False
        try:
            self.kernel.variable_type(token)
            return False  # a variable shadows a typedef of the same name
        except SymbolNotFound:
            pass
        try:
            return self.kernel.type_info(token).kind == TypeKind.TYPEDEF
        except TypeNotFound:
            return False

    def type_name(self) -> CType:
        words: list[str] = []
        while self.peek() is not None and self.peek() not in ("*", ")", "["):
            words.append(self.take())
        const = "const" in words
        volatile = "volatile" in words
        words = [w for w in words if w not in ("const", "volatile")]
        name = " ".join(words)
        try:
            t = self.kernel.type_info(name)
        except TypeNotFound:
            raise ExpressionError(f'No symbol "{words[-1] if words else name}" in current context.') from None
        t = t.qualified(const=const or None, volatile=volatile or None)
        while self.peek() == "*":
            self.take()
            t = pointer_to(t)
        while self.peek() == "[":
            self.take()
            length = int(self.take(), 0)
            self.take("]")
            t = array_of(t, length)
        return t

    # -- operations
    def member(self, value: CValue, name: str) -> CValue:
        while value.stripped.kind == TypeKind.POINTER:
            value = self.deref(value)
        u = value.stripped
        if u.kind not in (TypeKind.STRUCT, TypeKind.UNION):
            raise ExpressionError("Attempt to extract a component of a value that is not a structure.")
        found = u.member(name)
        if found is None:
            raise ExpressionError(f"There is no member named {name}.")
        bit_offset, m = found
        if value.address is None:
            offset = bit_offset // 8
            size = m.type.strip_typedefs().size or 0
            return CValue(self.kernel, m.type, data=value.data[offset : offset + size])
        if m.bit_size is not None:
            return CValue(
                self.kernel, m.type, value.address + bit_offset // 8, bits=(bit_offset % 8, m.bit_size)
            )
        return CValue(self.kernel, m.type, value.address + bit_offset // 8)

    def deref(self, value: CValue) -> CValue:
        u = value.stripped
        if u.kind == TypeKind.POINTER:
            target = u.target
            if target.strip_typedefs().kind == TypeKind.VOID:
                raise ExpressionError("Attempt to take contents of a non-pointer value.")
            return CValue(self.kernel, target, value.integer())
        if u.kind == TypeKind.ARRAY:
            return CValue(self.kernel, u.target, value.integer())
        if u.kind == TypeKind.FUNCTION:
            return value
        raise ExpressionError("Attempt to take contents of a non-pointer value.")

    def index(self, value: CValue, index: int) -> CValue:
        u = value.stripped
        if u.kind not in (TypeKind.ARRAY, TypeKind.POINTER):
            raise ExpressionError("cannot subscript something of type `" + type_name(value.type) + "'")
        element = u.target
        size = element.strip_typedefs().size or 0
        return CValue(self.kernel, element, value.integer() + index * size)

    def address_of(self, value: CValue) -> CValue:
        if value.address is None or value.bits is not None:
            raise ExpressionError("Attempt to take address of value not located in memory.")
        return self.value(pointer_to(value.type), value.address)

    def cast(self, t: CType, value: CValue) -> CValue:
        u = t.strip_typedefs()
        if u.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ARRAY):
            if value.stripped.size == u.size and value.address is not None:
                return CValue(self.kernel, t, value.address)
            raise ExpressionError("Invalid cast.")
        if u.kind == TypeKind.VOID:
            return CValue(self.kernel, t, data=b"")
        return self.value(t, value.integer())

    def apply_unary(self, op: str, operand: CValue) -> CValue:
        if op == "*":
            return self.deref(operand)
        if op == "&":
            if operand.stripped.kind == TypeKind.FUNCTION:
                return self.value(pointer_to(operand.type), operand.integer())
            return self.address_of(operand)
        n = operand.integer()
        t = self.promote(operand.type)
        if op == "-":
            return self.value(t, -n)
        if op == "+":
            return self.value(t, n)
        if op == "~":
            return self.value(t, ~n)
        return self.value(INT, int(not n))

    def promote(self, t: CType) -> CType:
        u = t.strip_typedefs()
        if u.kind in (TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION):
            return t
        size = u.size or 4
        if size < 4 or u.kind in (TypeKind.BOOL, TypeKind.ENUM):
            return INT
        if size == 4:
            return INT if u.signed else UINT
        return LONG if u.signed else ULONG

    def apply(self, op: str, left: CValue, right: CValue) -> CValue:
        if op == "@":
            count = right.integer()
            if count <= 0 or left.address is None:
                raise ExpressionError("Only values in memory can be extended with '@'.")
            return CValue(self.kernel, array_of(left.type, count), left.address)
        lk, rk = left.stripped.kind, right.stripped.kind
        pointers = (TypeKind.POINTER, TypeKind.ARRAY)
        if op in ("+", "-") and (lk in pointers or rk in pointers):
            return self.pointer_arithmetic(op, left, right)
        a, b = left.integer(), right.integer()
        if op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            result = {
                "==": a == b,
                "!=": a != b,
                "<": a < b,
                ">": a > b,
                "<=": a <= b,
                ">=": a >= b,
                "&&": bool(a) and bool(b),
                "||": bool(a) or bool(b),
            }[op]
            return self.value(INT, int(result))
        t = self.common(self.promote(left.type), self.promote(right.type))
        bits = 8 * (t.size or 8)
        if not t.signed:
            a, b = a % (1 << bits), b % (1 << bits)
        operations: dict[str, Callable[[int, int], int]] = {
            "+": lambda x, y: x + y,
            "-": lambda x, y: x - y,
            "*": lambda x, y: x * y,
            "/": _divide,
            "%": lambda x, y: x - _divide(x, y) * y,
            "<<": lambda x, y: x << y,
            ">>": lambda x, y: x >> y,
            "&": lambda x, y: x & y,
            "|": lambda x, y: x | y,
            "^": lambda x, y: x ^ y,
        }
        return self.value(t, operations[op](a, b))

    @staticmethod
    def common(a: CType, b: CType) -> CType:
        return max(a, b, key=lambda t: _RANKS.index(t) if t in _RANKS else 0)

    def pointer_arithmetic(self, op: str, left: CValue, right: CValue) -> CValue:
        pointers = (TypeKind.POINTER, TypeKind.ARRAY)
        if left.stripped.kind in pointers and right.stripped.kind in pointers:
            if op != "-":
                raise ExpressionError("Argument to arithmetic operation not a number or boolean.")
            size = left.stripped.target.strip_typedefs().size or 1
            return self.value(LONG, (left.integer() - right.integer()) // size)
        pointer, other = (left, right) if left.stripped.kind in pointers else (right, left)
        u = pointer.stripped
        t = pointer_to(u.target) if u.kind == TypeKind.ARRAY else pointer.type
        size = u.target.strip_typedefs().size or 1
        step = other.integer() * size
        return self.value(t, pointer.integer() + (step if op == "+" else -step))


def _divide(x: int, y: int) -> int:
    if y == 0:
        raise ExpressionError("Division by zero")
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def parse_type(kernel: Kernel, text: str) -> CType | None:
    """The type *text* names as a whole (``struct list_head *``, ``pid_t``, ``unsigned long``,
    ``char [16]``), or ``None`` when it is no type name (an expression, or nothing known)."""
    try:
        parser = _Parser(kernel, text)
        if not parser.tokens or not parser.is_type_start(0):
            return None
        t = parser.type_name()
        return t if parser.peek() is None else None
    except (ExpressionError, TargetError):
        return None


def evaluate(kernel: Kernel, text: str) -> CValue:
    """The value of the C expression *text*.  Raises :class:`ExpressionError` (bad expression, unknown
    name or member, unreadable memory)."""
    try:
        return _Parser(kernel, text).parse()
    except FaultError as e:
        raise ExpressionError(f"Cannot access memory at address 0x{e.address:x}") from None
    except TargetError as e:
        raise ExpressionError(str(e)) from None
