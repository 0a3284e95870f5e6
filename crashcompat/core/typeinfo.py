"""C types as the kernel's debug info describes them, the same on every backend, and their C spelling.

A :class:`CType` is one C type: its :class:`TypeKind`, name (a struct's tag, a base type's or a typedef's
name), size and signedness, ``const``/``volatile``, and what it is built from — a pointer's or an array's
element type, a typedef's target, a function's return and parameter types, a struct's or a union's
members (:class:`CMember`: name, bit offset, bit-field width) and an enum's enumerators.  Backends build
them from their own type objects (:meth:`crashcompat.core.target.Target.type_info`); the parts a type is
built from are resolved only when first asked for, so naming ``struct task_struct`` does not convert the
hundreds of types it reaches.

The spelling functions print a type the way GDB's C type printer does (gdb/c-typeprint.c), which is what
crash shows in ``whatis``, ``struct`` and ``ptype`` (with crash's patch that expands anonymous members at
every depth):

- :func:`type_name` — ``struct task_struct *``, ``char [16]``, ``void (*)(struct callback_head *)``;
- :func:`declaration` — ``void (*func)(struct callback_head *)``, ``unsigned int flag : 1`` is not part
  of it (bit-field widths belong to the struct body);
- :func:`type_body` — ``struct list_head {`` … ``}`` as ``ptype`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from typing import Generic, TypeVar

__all__ = [
    "CMember",
    "CType",
    "Enumerator",
    "TypeKind",
    "array_of",
    "declaration",
    "enum_type",
    "function_type",
    "int_type",
    "pointer_to",
    "struct_type",
    "type_body",
    "type_name",
    "typedef_of",
    "void_type",
]

T = TypeVar("T")


class TypeKind(Enum):
    """What sort of C type a :class:`CType` is (GDB's ``TYPE_CODE_*``, drgn's ``TypeKind``)."""

    VOID = "void"
    INT = "int"
    BOOL = "bool"
    FLOAT = "float"
    POINTER = "pointer"
    ARRAY = "array"
    STRUCT = "struct"
    UNION = "union"
    ENUM = "enum"
    TYPEDEF = "typedef"
    FUNCTION = "function"


class _Lazy(Generic[T]):
    """A value computed on first use (shared by the qualified copies of one type)."""

    __slots__ = ("_compute", "_value")

    def __init__(self, value: T | Callable[[], T]) -> None:
        if callable(value):
            self._compute: Callable[[], T] | None = value
            self._value: T | None = None
        else:
            self._compute = None
            self._value = value

    def get(self) -> T:
        if self._compute is not None:
            self._value = self._compute()
            self._compute = None
        return self._value  # type: ignore[return-value]


class Enumerator:
    """One enumeration constant: ``PIDTYPE_TGID = 1``."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"Enumerator({self.name!r}, {self.value})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Enumerator) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))


class CMember:
    """A member of a struct or union.

    :param name: the member's name; ``None`` for an anonymous struct or union member.
    :param bit_offset: bits from the start of the enclosing struct or union.
    :param bit_size: the width of a bit field, else ``None``.
    :param type: the member's type, or a function that returns it (called once, when first needed).
    """

    __slots__ = ("_type", "bit_offset", "bit_size", "name")

    def __init__(
        self,
        name: str | None,
        type: CType | Callable[[], CType],
        bit_offset: int,
        bit_size: int | None = None,
    ) -> None:
        self.name = name
        self._type: _Lazy[CType] = _Lazy(type)
        self.bit_offset = bit_offset
        self.bit_size = bit_size

    @property
    def type(self) -> CType:
        return self._type.get()

    @property
    def offset(self) -> int:
        """Byte offset of the member (of the byte holding its first bit, for a bit field)."""
        return self.bit_offset // 8

    def __repr__(self) -> str:
        bits = f", bits={self.bit_size}" if self.bit_size is not None else ""
        return f"CMember({self.name!r}, bit_offset={self.bit_offset}{bits})"


class CType:
    """One C type (see the module docstring).  Build with the helper functions (:func:`int_type`,
    :func:`pointer_to`, :func:`struct_type` …) or a backend's ``type_info``.

    :param kind: what sort of type.
    :param name: the tag of a struct/union/enum (``None`` if anonymous), the name of a base type or typedef;
        ``None`` for pointers, arrays and functions.
    :param size: ``sizeof`` in bytes; ``None`` when the type has none (void, functions, incomplete
        structs, arrays without a length).
    :param signed: for integers, enums and characters.
    :param const: a ``const``-qualified type.
    :param volatile: a ``volatile``-qualified type.
    :param target: a pointer's or array's element type, a typedef's target, a function's return type,
        an enum's compatible integer type; or a function that returns it.
    :param length: an array's number of elements (``None`` for ``[]``).
    :param members: a struct's or union's members (``None``: incomplete, a declaration only).
    :param enumerators: an enum's constants in declaration order.
    :param parameters: a function's parameter types.
    :param variadic: a function taking ``...``.
    :param prototyped: a function declared with a prototype (``(void)`` rather than ``()``).
    """

    __slots__ = (
        "_enumerators",
        "_members",
        "_parameters",
        "_target",
        "const",
        "kind",
        "length",
        "name",
        "prototyped",
        "signed",
        "size",
        "variadic",
        "volatile",
    )

    def __init__(
        self,
        kind: TypeKind,
        name: str | None = None,
        size: int | None = None,
        *,
        signed: bool = False,
        const: bool = False,
        volatile: bool = False,
        target: CType | Callable[[], CType] | None = None,
        length: int | None = None,
        members: Sequence[CMember] | Callable[[], Sequence[CMember] | None] | None = None,
        enumerators: Sequence[Enumerator] | Callable[[], Sequence[Enumerator]] = (),
        parameters: Sequence[CType] | Callable[[], Sequence[CType]] = (),
        variadic: bool = False,
        prototyped: bool = True,
    ) -> None:
        self.kind = kind
        self.name = name
        self.size = size
        self.signed = signed
        self.const = const
        self.volatile = volatile
        self.length = length
        self.variadic = variadic
        self.prototyped = prototyped
        self._target: _Lazy[CType | None] = _Lazy(target)
        self._members: _Lazy[tuple[CMember, ...] | None] = _Lazy(_tuple_or_none(members))
        self._enumerators: _Lazy[tuple[Enumerator, ...]] = _Lazy(_tuple(enumerators))
        self._parameters: _Lazy[tuple[CType, ...]] = _Lazy(_tuple(parameters))

    # ---- structure ------------------------------------------------------------------------------------

    @property
    def target(self) -> CType:
        """The pointed-to, element, aliased, return or compatible type.  Raises ValueError without one."""
        found = self._target.get()
        if found is None:
            raise ValueError(f"{type_name(self)} has no target type")
        return found

    @property
    def has_target(self) -> bool:
        return self._target.get() is not None

    @property
    def members(self) -> tuple[CMember, ...]:
        """A struct's or union's members in declaration order (empty when incomplete)."""
        return self._members.get() or ()

    @property
    def is_complete(self) -> bool:
        """Whether a struct/union has a body (not only ``struct foo;``) and a size."""
        if self.kind in (TypeKind.STRUCT, TypeKind.UNION):
            return self._members.get() is not None
        return self.kind != TypeKind.VOID

    @property
    def enumerators(self) -> tuple[Enumerator, ...]:
        return self._enumerators.get()

    @property
    def parameters(self) -> tuple[CType, ...]:
        return self._parameters.get()

    @property
    def is_char(self) -> bool:
        """A one-byte integer type GDB prints as a character (``char``, ``signed char``, ``unsigned char``
        and typedefs of them: ``u8``, ``__u8``)."""
        t = self.strip_typedefs()
        return t.kind == TypeKind.INT and t.size == 1

    # ---- qualifiers and typedefs ----------------------------------------------------------------------

    def qualified(self, *, const: bool | None = None, volatile: bool | None = None) -> CType:
        """This type with other qualifiers (a copy sharing the parts it is built from)."""
        const = self.const if const is None else const
        volatile = self.volatile if volatile is None else volatile
        if const == self.const and volatile == self.volatile:
            return self
        copy = CType.__new__(CType)
        for slot in CType.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.const = const
        copy.volatile = volatile
        return copy

    def unqualified(self) -> CType:
        return self.qualified(const=False, volatile=False)

    def strip_typedefs(self) -> CType:
        """The type behind any typedefs, with their qualifiers added (GDB's ``check_typedef``)."""
        t = self
        const, volatile = self.const, self.volatile
        while t.kind == TypeKind.TYPEDEF and t.has_target:
            t = t.target
            const, volatile = const or t.const, volatile or t.volatile
        return t.qualified(const=const, volatile=volatile)

    # ---- members --------------------------------------------------------------------------------------

    def member(self, name: str) -> tuple[int, CMember] | None:
        """(bit offset from this type's start, member) of the member called *name*, looking inside
        anonymous struct and union members as C does; ``None`` if there is none."""
        outer = self.strip_typedefs()
        for m in outer.members:
            if m.name == name:
                return m.bit_offset, m
        for m in outer.members:
            if m.name is None:
                inner = m.type.strip_typedefs()
                if inner.kind in (TypeKind.STRUCT, TypeKind.UNION):
                    found = inner.member(name)
                    if found is not None:
                        return m.bit_offset + found[0], found[1]
        return None

    def __repr__(self) -> str:
        return f"<CType {self.kind.value} {type_name(self)!r} size={self.size}>"


def _tuple(value: Sequence[T] | Callable[[], Sequence[T]]) -> tuple[T, ...] | Callable[[], tuple[T, ...]]:
    if callable(value):
        compute = value
        return lambda: tuple(compute())
    return tuple(value)


def _tuple_or_none(
    value: Sequence[T] | Callable[[], Sequence[T] | None] | None,
) -> tuple[T, ...] | Callable[[], tuple[T, ...] | None] | None:
    if value is None:
        return None
    if callable(value):
        compute = value

        def resolved() -> tuple[T, ...] | None:
            found = compute()
            return None if found is None else tuple(found)

        return resolved
    return tuple(value)


# ---- building types (tests, synthetic targets) -------------------------------------------------------------


def void_type() -> CType:
    return CType(TypeKind.VOID, "void")


def int_type(name: str, size: int, signed: bool = True) -> CType:
    """A base integer type (``int``, ``unsigned long``, ``char``); ``_Bool`` is a :attr:`TypeKind.BOOL`."""
    kind = TypeKind.BOOL if name == "_Bool" else TypeKind.INT
    return CType(kind, name, size, signed=signed)


def pointer_to(target: CType | Callable[[], CType], size: int = 8) -> CType:
    return CType(TypeKind.POINTER, None, size, target=target)


def array_of(element: CType, length: int | None) -> CType:
    """``element [length]``; *length* ``None`` for a flexible array ``[]``."""
    size = None if length is None or element.size is None else element.size * length
    return CType(TypeKind.ARRAY, None, size, target=element, length=length)


def typedef_of(name: str, target: CType | Callable[[], CType], size: int | None = None) -> CType:
    if size is None and isinstance(target, CType):
        size = target.size
    return CType(TypeKind.TYPEDEF, name, size, target=target)


def struct_type(
    tag: str | None,
    size: int,
    members: Sequence[CMember] | Callable[[], Sequence[CMember] | None] | None,
    union: bool = False,
) -> CType:
    """A struct (or *union*) with *members*; ``members=None`` for an incomplete ``struct tag;``."""
    kind = TypeKind.UNION if union else TypeKind.STRUCT
    return CType(kind, tag, size if members is not None else None, members=members)


def enum_type(tag: str | None, values: Sequence[tuple[str, int]], size: int = 4) -> CType:
    signed = any(v < 0 for _, v in values)
    compatible = int_type("int" if signed else "unsigned int", size, signed)
    return CType(
        TypeKind.ENUM,
        tag,
        size,
        signed=signed,
        target=compatible,
        enumerators=[Enumerator(n, v) for n, v in values],
    )


def function_type(
    returns: CType, parameters: Sequence[CType] = (), variadic: bool = False, prototyped: bool = True
) -> CType:
    return CType(
        TypeKind.FUNCTION,
        None,
        None,
        target=returns,
        parameters=parameters,
        variadic=variadic,
        prototyped=prototyped,
    )


# ---- C spelling (gdb/c-typeprint.c) -----------------------------------------------------------------------


def type_name(t: CType) -> str:
    """The type alone, as GDB names it in casts and ``whatis``: ``struct task_struct *``."""
    return declaration(t, "", show=-1)


def type_body(t: CType) -> str:
    """The type as ``ptype`` prints it after ``type = ``: typedefs resolved, a struct's or union's body
    expanded (members one per line, indented by four spaces per level; no final newline)."""
    return declaration(t, "", show=1)


def declaration(t: CType, name: str, show: int = 0, level: int = 0) -> str:
    """*name* declared with type *t*, as GDB's ``c_print_type`` spells it: ``char comm[16]``,
    ``struct list_head *next``, ``void (*func)(struct callback_head *)``.

    :param show: GDB's depth of expansion: ``-1`` names types (an anonymous struct is ``struct {...}``),
        ``0`` expands only anonymous structs, ``1`` also expands *t* itself if it is a struct or typedef.
    :param level: indentation of an expanded body's closing brace.
    """
    out: list[str] = []
    _print_type(t, name, show, level, out)
    return "".join(out)


_SPACED = (TypeKind.POINTER, TypeKind.FUNCTION, TypeKind.ARRAY)


def _print_type(t: CType, name: str, show: int, level: int, out: list[str]) -> None:
    if show > 0:
        t = t.strip_typedefs()
    _print_base(t, show, level, out)
    if name or ((show > 0 or t.name is None) and t.kind in _SPACED):
        out.append(" ")
    _print_prefix(t, show, False, bool(name), out)
    out.append(name)
    _print_suffix(t, show, False, out)


def _modifiers(t: CType, pre_space: bool, post_space: bool) -> str:
    words = [w for w, on in (("const", t.const), ("volatile", t.volatile)) if on]
    if not words:
        return ""
    return (" " if pre_space else "") + " ".join(words) + (" " if post_space else "")


_KEYWORD = {TypeKind.STRUCT: "struct ", TypeKind.UNION: "union ", TypeKind.ENUM: "enum "}


def _print_base(t: CType, show: int, level: int, out: list[str]) -> None:
    if show <= 0 and t.name is not None:
        out.append(_modifiers(t, False, True) + _KEYWORD.get(t.kind, "") + t.name)
        return
    t = t.strip_typedefs()
    kind = t.kind
    if kind in (TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION):
        if kind == TypeKind.FUNCTION and not t.has_target:
            out.append("void")
        else:
            _print_base(t.target, show, level, out)
    elif kind in (TypeKind.STRUCT, TypeKind.UNION):
        _print_struct(t, show, level, out)
    elif kind == TypeKind.ENUM:
        out.append(_modifiers(t, False, True) + "enum ")
        if t.name is not None:
            out.append(t.name + (" " if show > 0 else ""))
        if show < 0:
            if t.name is None:
                out.append("{...}")
        elif show > 0 or t.name is None:
            out.append("{")
            last = 0
            for i, e in enumerate(t.enumerators):
                out.append((", " if i else "") + e.name)
                if e.value != last:
                    out.append(f" = {e.value}")
                    last = e.value
                last += 1
            out.append("}")
    else:
        out.append(_modifiers(t, False, True) + (t.name or "void"))


def _print_struct(t: CType, show: int, level: int, out: list[str]) -> None:
    out.append(_modifiers(t, False, True) + _KEYWORD[t.kind])
    if t.name is not None:
        out.append(t.name + (" " if show > 0 else ""))
    if show < 0:
        if t.name is None:
            out.append("{...}")
        return
    if show <= 0 and t.name is not None:
        return
    out.append("{\n")
    members = t.members
    if not members:
        text = "<no data fields>" if t.is_complete else "<incomplete type>"
        out.append(" " * (level + 4) + text + "\n")
    for m in members:
        out.append(" " * (level + 4))
        # crash's patch to GDB: an anonymous member is expanded as deep as its parent
        _print_type(m.type, m.name or "", show if not m.name else show - 1, level + 4, out)
        if m.bit_size is not None:
            out.append(f" : {m.bit_size}")
        out.append(";\n")
    out.append(" " * level + "}")


def _print_prefix(t: CType, show: int, passed_a_ptr: bool, post_space: bool, out: list[str]) -> None:
    if t.name is not None and show <= 0:
        return
    kind = t.kind
    if kind == TypeKind.POINTER:
        _print_prefix(t.target, show, True, True, out)
        out.append("*" + _modifiers(t, True, post_space))
    elif kind == TypeKind.FUNCTION:
        if t.has_target:
            _print_prefix(t.target, show, False, False, out)
        if passed_a_ptr:
            out.append("(")
    elif kind == TypeKind.ARRAY:
        _print_prefix(t.target, show, False, post_space, out)
        if passed_a_ptr:
            out.append("(")
    elif kind == TypeKind.TYPEDEF:
        _print_prefix(t.target, show, passed_a_ptr, False, out)


def _print_suffix(t: CType, show: int, passed_a_ptr: bool, out: list[str]) -> None:
    if t.name is not None and show <= 0:
        return
    kind = t.kind
    if kind == TypeKind.ARRAY:
        if passed_a_ptr:
            out.append(")")
        out.append("[" + (str(t.length) if t.length is not None else "") + "]")
        _print_suffix(t.target, show, False, out)
    elif kind == TypeKind.POINTER:
        _print_suffix(t.target, show, True, out)
    elif kind == TypeKind.FUNCTION:
        if passed_a_ptr:
            out.append(")")
        out.append(_parameters(t))
        if t.has_target:
            _print_suffix(t.target, show, passed_a_ptr, out)
    elif kind == TypeKind.TYPEDEF:
        _print_suffix(t.target, show, passed_a_ptr, out)


def _parameters(t: CType) -> str:
    params = [declaration(p, "", show=0) for p in t.parameters]
    if params and t.variadic:
        params.append("...")
    elif not params and t.prototyped:
        params.append("void")
    return "(" + ", ".join(params) + ")"


def walk_members(t: CType) -> Iterator[tuple[int, CMember]]:
    """Every member of struct/union *t* with its bit offset from *t*'s start, descending into anonymous
    members (which are yielded too, before their contents)."""
    for m in t.strip_typedefs().members:
        yield m.bit_offset, m
        if m.name is None:
            for offset, inner in walk_members(m.type):
                yield m.bit_offset + offset, inner
