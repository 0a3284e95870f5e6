"""A small in-memory Target for unit tests: memory regions, symbols, struct layouts and enums you declare.

Example::

    t = SyntheticTarget()
    t.add_struct("struct list_head", 16, {"next": (0, 8, "struct list_head *"),
                                          "prev": (8, 8, "struct list_head *")})
    head = t.alloc(16)                         # zero-filled memory at a fresh kernel address
    t.write_u64(head, head); t.write_u64(head + 8, head)
    t.add_symbol("my_list", head, 16)
    kernel = Kernel(t)

Nested member paths work when the member's type is itself declared (``"thread.sp"``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping

from crashcompat.core.kernel.layout import PAGE_OFFSET_4LEVEL
from crashcompat.core.target import (
    DumpFormat,
    FaultError,
    Member,
    Registers,
    Symbol,
    SymbolBinding,
    SymbolKind,
    SymbolNotFound,
    Target,
    TargetInfo,
    TypeNotFound,
)
from crashcompat.core.typeinfo import CMember, CType, TypeKind, pointer_to, struct_type

#: A member declaration: (offset, size, type name) or (offset, size, type name, bit offset, bit size).
MemberSpec = tuple[int, int, str] | tuple[int, int, str, int, int]

_SUBSCRIPT = re.compile(r"^(\w+)\[(\d+)\]$")


class SyntheticTarget(Target):
    """A Target backed by Python dictionaries (see the module docstring)."""

    def __init__(self, *, live: bool = False, base: int = PAGE_OFFSET_4LEVEL) -> None:
        self._info = TargetInfo(
            path=None, vmlinux=None, format=DumpFormat.LIVE if live else DumpFormat.ELF, live=live
        )
        self._regions: list[tuple[int, bytearray]] = []  # sorted by start
        self._phys: dict[int, bytearray] = {}
        self._symbols: dict[str, Symbol] = {}
        self._structs: dict[str, tuple[int, dict[str, MemberSpec]]] = {}
        self._sizes: dict[str, int] = {"char": 1, "int": 4, "long": 8, "unsigned long": 8, "unsigned int": 4}
        self._enums: dict[str, list[tuple[str, int]]] = {}
        self._registers: dict[int, dict[str, int]] = {}
        self._crashed_cpu: int | None = None
        self._next = base
        self._vmcoreinfo: dict[str, str] = {}
        self._ctypes: dict[str, CType] = {}
        self._variables: dict[str, CType] = {}

    # ---- building ---------------------------------------------------------------------------------------

    def map(self, address: int, data: bytes | bytearray) -> None:
        """Back [address, address+len) with *data* (a copy)."""
        starts = [s for s, _ in self._regions]
        i = bisect.bisect_left(starts, address)
        self._regions.insert(i, (address, bytearray(data)))

    def alloc(self, size: int, align: int = 64) -> int:
        """Fresh zeroed memory; returns its address."""
        address = (self._next + align - 1) // align * align
        self._next = address + size
        self.map(address, bytes(size))
        return address

    def map_physical(self, address: int, data: bytes) -> None:
        self._phys[address] = bytearray(data)

    def write(self, address: int, data: bytes) -> None:
        region, off = self._find(address, len(data))
        region[off : off + len(data)] = data

    def write_u64(self, address: int, value: int) -> None:
        self.write(address, (value & (1 << 64) - 1).to_bytes(8, "little"))

    def write_u32(self, address: int, value: int) -> None:
        self.write(address, (value & (1 << 32) - 1).to_bytes(4, "little"))

    def add_symbol(
        self,
        name: str,
        address: int,
        size: int = 0,
        kind: SymbolKind = SymbolKind.OBJECT,
        binding: SymbolBinding = SymbolBinding.GLOBAL,
        module: str | None = None,
    ) -> None:
        self._symbols[name] = Symbol(name, address, size, binding, kind, module)

    def add_struct(self, name: str, size: int, members: Mapping[str, MemberSpec]) -> None:
        self._structs[name] = (size, dict(members))
        self._sizes[name] = size

    def add_type(self, name: str, size: int) -> None:
        self._sizes[name] = size

    def add_enum(self, type_name: str, values: Mapping[str, int]) -> None:
        self._enums[type_name] = list(values.items())

    def add_ctype(self, name: str, t: CType) -> None:
        """Make the whole type *t* known as *name* (``"struct list_head"``, ``"pid_t"``) to
        :meth:`type_info`; pointers to known types (``"struct list_head *"``) follow."""
        self._ctypes[name] = t

    def add_variable(self, name: str, t: CType, address: int, kind: SymbolKind = SymbolKind.OBJECT) -> None:
        """A global variable (or function) *name* of type *t* at *address*: a symbol and its type."""
        self.add_symbol(name, address, t.strip_typedefs().size or 0, kind)
        self._variables[name] = t

    def set_registers(self, cpu: int, registers: Mapping[str, int], crashed: bool = False) -> None:
        self._registers[cpu] = dict(registers)
        if crashed:
            self._crashed_cpu = cpu

    def set_vmcoreinfo(self, values: Mapping[str, str]) -> None:
        self._vmcoreinfo = dict(values)

    # ---- Target primitives ------------------------------------------------------------------------------

    @property
    def info(self) -> TargetInfo:
        return self._info

    def _find(self, address: int, size: int) -> tuple[bytearray, int]:
        starts = [s for s, _ in self._regions]
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0:
            start, data = self._regions[i]
            if address + size <= start + len(data):
                return data, address - start
        raise FaultError(address)

    def read(self, address: int, size: int) -> bytes:
        region, off = self._find(address, size)
        return bytes(region[off : off + size])

    def read_physical(self, address: int, size: int) -> bytes:
        for start, data in self._phys.items():
            if start <= address and address + size <= start + len(data):
                return bytes(data[address - start : address - start + size])
        raise FaultError(address, physical=True)

    def lookup_symbol(self, name: str) -> Symbol:
        try:
            return self._symbols[name]
        except KeyError:
            raise SymbolNotFound(name) from None

    def symbol_at(self, address: int) -> Symbol | None:
        best = None
        for sym in self._symbols.values():
            if sym.address <= address < sym.address + max(sym.size, 1) and (
                best is None or sym.address > best.address
            ):
                best = sym
        return best

    def symbols(self) -> Iterator[Symbol]:
        return iter(sorted(self._symbols.values(), key=lambda s: s.address))

    def type_size(self, type_name: str) -> int:
        if type_name.endswith("*"):
            return 8
        try:
            return self._sizes[type_name]
        except KeyError:
            raise TypeNotFound(type_name) from None

    def member(self, type_name: str, member: str) -> Member:
        offset = 0
        current = type_name
        spec: MemberSpec | None = None
        for part in member.split("."):
            index = 0
            m = _SUBSCRIPT.match(part)
            if m:
                part, index = m.group(1), int(m.group(2))
            layout = self._structs.get(current)
            if layout is None or part not in layout[1]:
                raise TypeNotFound(f"{type_name}.{member}")
            spec = layout[1][part]
            elem_type = spec[2]
            if m:
                elem_type = re.sub(r"\s*\[\d*\]$", "", elem_type)
                offset += spec[0] + index * self.type_size(elem_type)
            else:
                offset += spec[0]
            current = elem_type
        assert spec is not None
        if len(spec) == 5:
            return Member(member, offset, spec[1], spec[2], spec[3], spec[4])
        return Member(
            member, offset, spec[1], current if _SUBSCRIPT.match(member.split(".")[-1]) else spec[2]
        )

    def type_info(self, type_name: str) -> CType:
        name = type_name.strip()
        if name.endswith("*"):
            return pointer_to(self.type_info(name[:-1]))
        try:
            return self._ctypes[name]
        except KeyError:
            raise TypeNotFound(type_name) from None

    def variable_type(self, name: str) -> CType:
        found = self._variables.get(name)
        if found is not None:
            return found
        for t in self._ctypes.values():
            u = t.strip_typedefs()
            if u.kind == TypeKind.ENUM and any(e.name == name for e in u.enumerators):
                return t
        raise SymbolNotFound(name)

    def enumerator(self, name: str) -> int:
        for values in self._enums.values():
            for key, value in values:
                if key == name:
                    return value
        raise SymbolNotFound(name)

    def enumerators(self, type_name: str) -> list[tuple[str, int]]:
        try:
            return list(self._enums[type_name])
        except KeyError:
            raise TypeNotFound(type_name) from None

    def crashed_cpu(self) -> int | None:
        return self._crashed_cpu

    def cpu_registers(self, cpu: int) -> Registers | None:
        return self._registers.get(cpu)

    @property
    def vmcoreinfo(self) -> Mapping[str, str]:
        return self._vmcoreinfo


def list_head_type() -> CType:
    """A synthetic ``struct list_head`` (16 bytes: ``next`` and ``prev`` pointers to itself), the
    self-referential type that type and value printer tests build on."""
    head: CType = struct_type(
        "list_head",
        16,
        [CMember("next", lambda: pointer_to(head), 0), CMember("prev", lambda: pointer_to(head), 64)],
    )
    return head
