"""drgn's types as :class:`crashcompat.core.typeinfo.CType`: what :meth:`DrgnTarget.type_info` returns.

Named types (struct, union and enum tags, typedefs, base types) are converted once per target and shared;
the parts of a type (members, pointed-to and element types, parameters) are converted when first used.
"""

from __future__ import annotations

from collections.abc import Callable

import drgn

from crashcompat.core.typeinfo import CMember, CType, Enumerator, TypeKind

_KINDS = {
    drgn.TypeKind.VOID: TypeKind.VOID,
    drgn.TypeKind.INT: TypeKind.INT,
    drgn.TypeKind.BOOL: TypeKind.BOOL,
    drgn.TypeKind.FLOAT: TypeKind.FLOAT,
    drgn.TypeKind.POINTER: TypeKind.POINTER,
    drgn.TypeKind.ARRAY: TypeKind.ARRAY,
    drgn.TypeKind.STRUCT: TypeKind.STRUCT,
    drgn.TypeKind.CLASS: TypeKind.STRUCT,
    drgn.TypeKind.UNION: TypeKind.UNION,
    drgn.TypeKind.ENUM: TypeKind.ENUM,
    drgn.TypeKind.TYPEDEF: TypeKind.TYPEDEF,
    drgn.TypeKind.FUNCTION: TypeKind.FUNCTION,
}
_NAMED = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM, TypeKind.TYPEDEF)


class DrgnTypes:
    """Converts ``drgn.Type`` objects, keeping the named ones."""

    def __init__(self) -> None:
        self._named: dict[tuple[TypeKind, str, bool, bool, bool], CType] = {}

    def convert(self, t: drgn.Type) -> CType:
        kind = _KINDS.get(t.kind)
        if kind is None:
            raise TypeError(f"unsupported drgn type kind {t.kind}")
        const = bool(t.qualifiers & drgn.Qualifiers.CONST)
        volatile = bool(t.qualifiers & drgn.Qualifiers.VOLATILE)
        name = t.tag if kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM) else getattr(t, "name", None)
        key = None
        if name is not None and (kind in _NAMED or kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT)):
            complete = kind not in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ENUM) or t.is_complete()
            key = (kind, name, complete, const, volatile)
            found = self._named.get(key)
            if found is not None:
                return found
        converted = self._build(t, kind, name, const, volatile)
        if key is not None:
            self._named[key] = converted
        return converted

    def _lazy(self, t: drgn.Type) -> Callable[[], CType]:
        return lambda: self.convert(t)

    def _build(self, t: drgn.Type, kind: TypeKind, name: str | None, const: bool, volatile: bool) -> CType:
        size = _sizeof(t)
        if kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT):
            return CType(
                kind, name, size, signed=bool(getattr(t, "is_signed", False)), const=const, volatile=volatile
            )
        if kind == TypeKind.VOID:
            return CType(kind, "void", None, const=const, volatile=volatile)
        if kind == TypeKind.POINTER:
            return CType(kind, None, size, target=self._lazy(t.type), const=const, volatile=volatile)
        if kind == TypeKind.ARRAY:
            return CType(
                kind, None, size, target=self._lazy(t.type), length=t.length, const=const, volatile=volatile
            )
        if kind == TypeKind.TYPEDEF:
            return CType(kind, name, size, target=self._lazy(t.type), const=const, volatile=volatile)
        if kind == TypeKind.FUNCTION:
            return CType(
                kind,
                None,
                None,
                target=self._lazy(t.type),
                parameters=lambda: [self.convert(p.type) for p in t.parameters],
                variadic=bool(t.is_variadic),
                const=const,
                volatile=volatile,
            )
        if kind == TypeKind.ENUM:
            compatible = t.type if t.is_complete() else None
            return CType(
                kind,
                name,
                size,
                signed=bool(compatible is not None and compatible.is_signed),
                target=self._lazy(compatible) if compatible is not None else None,
                enumerators=lambda: [Enumerator(e.name, e.value) for e in t.enumerators or ()],
                const=const,
                volatile=volatile,
            )
        return CType(
            kind,
            name,
            size,
            members=(lambda: self._members(t)) if t.is_complete() else None,
            const=const,
            volatile=volatile,
        )

    def _members(self, t: drgn.Type) -> list[CMember]:
        return [
            CMember(m.name, self._lazy(m.type), m.bit_offset, m.bit_field_size or None)
            for m in t.members or ()
        ]


def _sizeof(t: drgn.Type) -> int | None:
    try:
        return int(drgn.sizeof(t))
    except TypeError:  # void, functions, incomplete types
        return None
