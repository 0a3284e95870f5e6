"""GDB's types as :class:`crashcompat.core.typeinfo.CType`: what :meth:`GdbTarget.type_info` returns.

Named types (struct, union and enum tags, typedefs, base types) are converted once per target and shared;
the parts of a type (members, pointed-to and element types, parameters) are converted when first used.
GDB's Python API does not expose ``const``/``volatile``, varargs or prototypes directly: they are read
from GDB's own spelling of the type (``str(type)``), which is the C spelling.
"""

from __future__ import annotations

from collections.abc import Callable

import gdb

from crashcompat.core.typeinfo import CMember, CType, Enumerator, TypeKind

_KINDS = {
    gdb.TYPE_CODE_VOID: TypeKind.VOID,
    gdb.TYPE_CODE_INT: TypeKind.INT,
    gdb.TYPE_CODE_CHAR: TypeKind.INT,
    gdb.TYPE_CODE_BOOL: TypeKind.BOOL,
    gdb.TYPE_CODE_FLT: TypeKind.FLOAT,
    gdb.TYPE_CODE_PTR: TypeKind.POINTER,
    gdb.TYPE_CODE_ARRAY: TypeKind.ARRAY,
    gdb.TYPE_CODE_STRUCT: TypeKind.STRUCT,
    gdb.TYPE_CODE_UNION: TypeKind.UNION,
    gdb.TYPE_CODE_ENUM: TypeKind.ENUM,
    gdb.TYPE_CODE_TYPEDEF: TypeKind.TYPEDEF,
    gdb.TYPE_CODE_FUNC: TypeKind.FUNCTION,
}
_NAMED = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM, TypeKind.TYPEDEF, TypeKind.INT, TypeKind.BOOL)


def _qualifiers(t: gdb.Type, kind: TypeKind) -> tuple[bool, bool]:
    """(const, volatile) from GDB's spelling: leading words for a named or base type, trailing ones after
    a pointer's ``*``."""
    if kind in (TypeKind.ARRAY, TypeKind.FUNCTION):
        return False, False
    text = str(t)
    if kind == TypeKind.POINTER:
        words = text[text.rfind("*") + 1 :].split()
    else:
        words = []
        for word in text.split():
            if word not in ("const", "volatile"):
                break
            words.append(word)
    return "const" in words, "volatile" in words


class GdbTypes:
    """Converts ``gdb.Type`` objects, keeping the named ones."""

    def __init__(self) -> None:
        self._named: dict[tuple[TypeKind, str, bool, bool, bool], CType] = {}

    def convert(self, t: gdb.Type) -> CType:
        kind = _KINDS.get(t.code)
        if kind is None:
            raise TypeError(f"unsupported GDB type code {t.code}")
        const, volatile = _qualifiers(t, kind)
        name = t.name if kind in _NAMED or kind == TypeKind.FLOAT else None
        key = None
        if name is not None:
            key = (kind, str(name), _complete(t, kind), const, volatile)
            found = self._named.get(key)
            if found is not None:
                return found
        converted = self._build(t, kind, name, const, volatile)
        if key is not None:
            self._named[key] = converted
        return converted

    def _lazy(self, t: gdb.Type) -> Callable[[], CType]:
        return lambda: self.convert(t)

    def _build(self, t: gdb.Type, kind: TypeKind, name: str | None, const: bool, volatile: bool) -> CType:
        size = int(t.sizeof)
        if kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT):
            signed = bool(getattr(t, "is_signed", False)) if kind != TypeKind.BOOL else False
            return CType(kind, name, size, signed=signed, const=const, volatile=volatile)
        if kind == TypeKind.VOID:
            return CType(kind, "void", None, const=const, volatile=volatile)
        if kind == TypeKind.POINTER:
            return CType(kind, None, size, target=self._lazy(t.target()), const=const, volatile=volatile)
        if kind == TypeKind.ARRAY:
            text = str(t)
            if text.endswith("[]"):
                length = None
            else:
                low, high = t.range()
                length = max(int(high) - int(low) + 1, 0)
            return CType(
                kind, None, size if length is not None else None, target=self._lazy(t.target()), length=length
            )
        if kind == TypeKind.TYPEDEF:
            target = t.target()
            size = int(t.strip_typedefs().sizeof)
            return CType(kind, name, size, target=self._lazy(target), const=const, volatile=volatile)
        if kind == TypeKind.FUNCTION:
            params = [f.type for f in t.fields() if f.type is not None]
            text = str(t)
            return CType(
                kind,
                None,
                None,
                target=self._lazy(t.target()),
                parameters=lambda: [self.convert(p) for p in params],
                variadic=text.endswith("...)"),
                prototyped=bool(params) or text.endswith("(void)"),
            )
        if kind == TypeKind.ENUM:
            values = [Enumerator(str(f.name), int(f.enumval)) for f in t.fields()]
            return CType(
                kind,
                name,
                size,
                signed=any(e.value < 0 for e in values),
                enumerators=values,
                const=const,
                volatile=volatile,
            )
        complete = _complete(t, kind)
        return CType(
            kind,
            name,
            size if complete else None,
            members=(lambda: self._members(t)) if complete else None,
            const=const,
            volatile=volatile,
        )

    def _members(self, t: gdb.Type) -> list[CMember]:
        out = []
        for f in t.fields():
            bitpos = getattr(f, "bitpos", None)  # a static member has no position
            if f.type is None or bitpos is None:
                continue
            out.append(CMember(f.name or None, self._lazy(f.type), int(bitpos), int(f.bitsize) or None))
        return out


def _complete(t: gdb.Type, kind: TypeKind) -> bool:
    """A struct or union with a body (GDB gives an opaque one no fields and no size)."""
    if kind not in (TypeKind.STRUCT, TypeKind.UNION):
        return True
    if t.sizeof or t.fields():
        return True
    if not t.tag:
        # An anonymous struct cannot be only declared: it is empty (``typedef struct {} lockdep_map_p``).
        return True
    # Empty (``struct kmap_ctrl {}``) or only declared: GDB's own ptype tells them apart.
    try:
        text = gdb.execute(f"ptype {t}", to_string=True)
    except gdb.error:
        return False
    return "<incomplete type>" not in str(text)
