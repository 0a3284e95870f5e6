"""The backend-neutral Target: everything the kernel model and the commands may ask of a kernel.

A Target is one kernel image under examination: a dump file or a live kernel, reached through drgn
(:mod:`crashcompat.drgn.target`) or GDB (:mod:`crashcompat.gdb.target`).  Backends implement the
abstract *primitives* of :class:`Target`; the concrete helpers below them (integer reads, C strings,
per-cpu offsets, VMCOREINFO parsing) are written once here, so both backends compute them the same way.

Nothing above this layer may import drgn or gdb.  Faults surface as :class:`FaultError`; unknown names
as :class:`SymbolNotFound` / :class:`TypeNotFound`.
"""

from __future__ import annotations

import re
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Literal

from crashcompat.core.disasm import DisassemblerError, Instruction, objdump_disassemble
from crashcompat.core.typeinfo import CType


class TargetError(Exception):
    """Base class of every error a Target raises."""


class FaultError(TargetError):
    """A read of *address* failed (unmapped, excluded from a filtered dump, or not readable).

    :param address: the first address that could not be read.
    :param physical: whether *address* is a physical address.
    """

    def __init__(self, address: int, physical: bool = False, reason: str = "") -> None:
        self.address = address
        self.physical = physical
        self.reason = reason
        kind = "physical" if physical else "virtual"
        text = f"cannot read {kind} address {address:x}"
        super().__init__(f"{text}: {reason}" if reason else text)


class SymbolNotFound(TargetError, LookupError):
    """No symbol of that name (or at that address)."""


class TypeNotFound(TargetError, LookupError):
    """No such type, or no such member in it."""


_MEMBER_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def member_path(type_name: str, path: str) -> list[str | int]:
    """The steps of a member path for :meth:`Target.member`: ``"mem[0].base"`` → ``["mem", 0, "base"]``
    (member names and array indexes).

    :raises TypeNotFound: an empty or malformed path (in *type_name*, for the message).
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        token = _MEMBER_STEP.match(path, pos)
        if token is None or (pos == 0 and token.group(0).startswith(".")):
            raise TypeNotFound(f"{type_name}: bad member path {path!r}")
        pos = token.end()
        steps.append(token.group(1) if token.group(1) is not None else int(token.group(2)))
    if not steps:
        raise TypeNotFound(f"{type_name}: empty member path")
    return steps


class SymbolBinding(Enum):
    GLOBAL = "global"
    LOCAL = "local"
    WEAK = "weak"
    UNKNOWN = "unknown"


class SymbolKind(Enum):
    FUNC = "func"
    OBJECT = "object"
    OTHER = "other"


@dataclass(frozen=True)
class Symbol:
    """One ELF/kallsyms symbol.

    :param module: the module's name for a module symbol, ``None`` for vmlinux.
    :param type_char: the ``nm``-style type letter (``t``, ``T``, ``d``, ``D``, ``b``, ``r`` …) when the
        source knows it (kallsyms does); ``None`` lets the kernel model derive it from the section bounds.
    """

    name: str
    address: int
    size: int
    binding: SymbolBinding = SymbolBinding.UNKNOWN
    kind: SymbolKind = SymbolKind.OTHER
    module: str | None = None
    type_char: str | None = None


@dataclass(frozen=True)
class Member:
    """A member of a struct or union type, possibly nested (``"thread.sp"``).

    :param offset: byte offset from the start of the outer type.
    :param size: byte size of the member's type (0 for a flexible array).
    :param type_name: the member's C type as the debug info spells it (``"struct list_head"``,
        ``"unsigned long"``, ``"char [16]"``, ``"struct task_struct *"``).
    :param bit_offset: for a bit field, the bit offset within the byte at *offset*; else ``None``.
    :param bit_size: for a bit field, its width in bits; else ``None``.
    """

    name: str
    offset: int
    size: int
    type_name: str
    bit_offset: int | None = None
    bit_size: int | None = None


@dataclass(frozen=True)
class SourceLine:
    """Where a text address comes from: *filename* as crash prints it (behind the unit's compilation
    directory), *line*, and *display*, the name GDB shows (the line table's, without that directory)."""

    filename: str
    line: int
    display: str = ""


class DumpFormat(Enum):
    ELF = "elf"
    KDUMP_COMPRESSED = "kdump-compressed"
    FLATTENED = "flattened"
    LIVE = "live"
    UNKNOWN = "unknown"


@dataclass
class TargetInfo:
    """What a Target is looking at, for ``sys`` and the banner.

    :param path: the dump file (``None`` for a live kernel); :param vmlinux: the debug-info kernel image.
    :param partial: ``True`` when the dump omits pages (makedumpfile ``-d`` > 0): crash's ``[PARTIAL DUMP]``.
    :param stub: for live targets, the remote stub kind (``"qemu"``, ``"kgdb"``, ``"kcore"``, ``"qmp"``).
    """

    path: str | None
    vmlinux: str | None
    format: DumpFormat
    live: bool
    partial: bool = False
    stub: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: What crash warns of as it opens the dump (a truncated or incomplete file), one line each.
    warnings: tuple[str, ...] = ()


#: A CPU's or task's registers by lower-case x86_64 name (``rip``, ``rsp``, ``eflags``, ``cs`` …).
Registers = Mapping[str, int]

Endian = Literal["little", "big"]


class Target(ABC):
    """One kernel, as both backends present it.  See the module docstring.

    Subclasses implement the abstract primitives.  Every address is a kernel virtual address unless
    the method says physical.  Implementations may cache; a live target drops its caches in
    :meth:`invalidate` (called when the kernel resumes).
    """

    # ---- identity -------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def info(self) -> TargetInfo:
        """What is being examined (dump path and format, live or not)."""

    @property
    def live(self) -> bool:
        return self.info.live

    page_size: int = 4096
    pointer_size: int = 8
    byteorder: Endian = "little"
    #: ``True`` when many small reads cost less than one large one (a live remote stub on a slow link,
    #: where every byte crosses the wire): the kernel model then reads a struct's members on demand
    #: instead of the whole struct (:class:`crashcompat.core.kernel.Struct`).  ``False`` for dumps.
    sparse_reads: bool = False

    def invalidate(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Forget cached memory (a live kernel ran since the last stop)."""

    # ---- memory ----------------------------------------------------------------------------------------

    @abstractmethod
    def read(self, address: int, size: int) -> bytes:
        """Read *size* bytes of kernel virtual memory.  Raises :class:`FaultError`."""

    @abstractmethod
    def read_physical(self, address: int, size: int) -> bytes:
        """Read *size* bytes of physical memory.  Raises :class:`FaultError`."""

    def write(self, address: int, data: bytes) -> None:
        """Write *data* to kernel virtual memory of a live kernel (``wr``).  A dump is never written: the
        default refuses, and only live backends that can change the kernel's memory override it.
        Raises :class:`TargetError` (:class:`FaultError` for an address that cannot be written)."""
        raise TargetError("this target cannot write memory")

    def disassemble(self, address: int, count: int) -> list[Instruction]:
        """At most *count* instructions from kernel virtual *address*, in GDB's AT&T syntax (``dis``).  The
        default reads the code and hands it to binutils' objdump (:mod:`crashcompat.core.disasm`); a
        backend with a disassembler of its own (GDB) uses that.  Raises :class:`TargetError`."""
        return self._objdump(address, count, self.read)

    def disassemble_user(
        self, address: int, count: int, read: Callable[[int, int], bytes]
    ) -> list[Instruction]:
        """Like :meth:`disassemble` for code that *read* (a user address space's reader) returns."""
        return self._objdump(address, count, read)

    @staticmethod
    def _objdump(address: int, count: int, read: Callable[[int, int], bytes]) -> list[Instruction]:
        size = min(max(count, 1) * 15 + 16, 1 << 20)
        code = b""
        while size >= 16 and not code:
            try:
                code = read(address, size)
            except FaultError:
                size //= 2  # the end may run into an unreadable page: fewer bytes, fewer instructions
        if not code:
            raise FaultError(address, reason="dis")
        try:
            found = objdump_disassemble(address, code)
        except DisassemblerError as e:
            raise TargetError(str(e)) from None
        # objdump decodes the last bytes too, whole instruction or not: keep those that surely are whole
        limit = address + len(code) - 15
        return [i for i in found if i.address < limit][:count]

    def write_physical(self, address: int, data: bytes) -> None:
        """Write *data* to physical memory of a live kernel; see :meth:`write`."""
        raise TargetError("this target cannot write memory")

    # ---- symbols ---------------------------------------------------------------------------------------

    @abstractmethod
    def lookup_symbol(self, name: str) -> Symbol:
        """The vmlinux (or loaded module debug info) symbol *name*.  Raises :class:`SymbolNotFound`."""

    @abstractmethod
    def symbol_at(self, address: int) -> Symbol | None:
        """The debug-info/ELF symbol containing *address* (vmlinux, plus modules loaded with
        :meth:`load_module_debuginfo`), or ``None``.  Module symbols from the kernel's own kallsyms
        are the kernel model's business (:mod:`crashcompat.core.kernel.modules`)."""

    @abstractmethod
    def symbols(self) -> Iterator[Symbol]:
        """Every vmlinux ELF symbol (for ``sym -q`` and ``sym -l``); may be slow."""

    def source_line(self, address: int) -> SourceLine | None:
        """File and line of a text address, when debug info has it."""
        return None

    # ---- types -----------------------------------------------------------------------------------------

    @abstractmethod
    def type_size(self, type_name: str) -> int:
        """``sizeof`` a type named as in C: ``"struct task_struct"``, ``"unsigned long"``, ``"pid_t"``.
        Raises :class:`TypeNotFound`."""

    @abstractmethod
    def member(self, type_name: str, member: str) -> Member:
        """Layout of *member* (a dotted path, ``"thread.sp"``; array subscripts allowed: ``"mem[0].base"``)
        in *type_name*.  Raises :class:`TypeNotFound`."""

    @abstractmethod
    def enumerator(self, name: str) -> int:
        """The value of the enumeration constant *name* (``"PIDTYPE_PID"``, ``"NR_FREE_PAGES"``).
        Raises :class:`SymbolNotFound`."""

    def enumerators(self, type_name: str) -> list[tuple[str, int]]:
        """All (name, value) pairs of ``enum`` *type_name*, in declaration order.  Raises TypeNotFound."""
        raise TypeNotFound(type_name)

    def type_info(self, type_name: str) -> CType:
        """The whole C type named as in C (``"struct task_struct"``, ``"pid_t"``, ``"unsigned long"``,
        ``"struct list_head *"``, ``"char [16]"``): a :class:`~crashcompat.core.typeinfo.CType` whose
        members, targets and parameters are resolved on first use.  Raises :class:`TypeNotFound`."""
        raise TypeNotFound(type_name)

    def variable_type(self, name: str) -> CType:
        """The declared type of global variable or function *name* in the debug info of vmlinux or of a
        module whose debug info is loaded (``jiffies`` → ``volatile unsigned long``, ``schedule`` →
        ``void (void)``); for an enumeration constant (``PIDTYPE_TGID``), its enum type.
        Raises :class:`SymbolNotFound`."""
        raise SymbolNotFound(name)

    # ---- registers -------------------------------------------------------------------------------------

    def crashed_cpu(self) -> int | None:
        """The CPU that panicked (dumps), or the CPU the live stub stopped on; ``None`` if unknown."""
        return None

    def cpu_registers(self, cpu: int) -> Registers | None:
        """Registers of *cpu* as the dump's per-CPU notes (NT_PRSTATUS) or the live stub saw them."""
        return None

    # ---- module debug info -----------------------------------------------------------------------------

    def load_module_debuginfo(self, name: str, path: str, sections: Mapping[str, int]) -> None:
        """Make the debug info in *path* (a ``.ko``) known for module *name*, whose sections are loaded
        at *sections* (``{".text": addr, ".data": addr, …}``).  Raises :class:`TargetError`."""
        raise TargetError("this backend cannot load module debug info")

    def unload_module_debuginfo(self, name: str) -> None:  # noqa: B027 - optional, no-op by default
        """Forget debug info loaded for module *name* (no-op if none)."""

    # ---- derived helpers (written once, over the primitives) -------------------------------------------

    def read_u8(self, address: int) -> int:
        return self.read(address, 1)[0]

    def read_u16(self, address: int) -> int:
        return int.from_bytes(self.read(address, 2), self.byteorder)

    def read_u32(self, address: int) -> int:
        return int.from_bytes(self.read(address, 4), self.byteorder)

    def read_u64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), self.byteorder)

    def read_s32(self, address: int) -> int:
        return int.from_bytes(self.read(address, 4), self.byteorder, signed=True)

    def read_s64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), self.byteorder, signed=True)

    def read_pointer(self, address: int) -> int:
        return int.from_bytes(self.read(address, self.pointer_size), self.byteorder)

    def read_pointers(self, address: int, count: int) -> tuple[int, ...]:
        """*count* consecutive pointers, in one read."""
        fmt = ("<" if self.byteorder == "little" else ">") + "Q" * count
        return struct.unpack(fmt, self.read(address, 8 * count))

    def read_cstring(self, address: int, limit: int = 4096) -> bytes:
        """A NUL-terminated string of at most *limit* bytes, read in chunks that stop at page ends."""
        out = bytearray()
        while len(out) < limit:
            chunk = min(limit - len(out), self.page_size - (address % self.page_size), 256)
            data = self.read(address, chunk)
            nul = data.find(b"\0")
            if nul >= 0:
                out += data[:nul]
                break
            out += data
            address += chunk
        return bytes(out)

    def symbol_address(self, name: str) -> int:
        return self.lookup_symbol(name).address

    def offsetof(self, type_name: str, member: str) -> int:
        return self.member(type_name, member).offset

    def has_member(self, type_name: str, member: str) -> bool:
        try:
            self.member(type_name, member)
        except TypeNotFound:
            return False
        return True

    @cached_property
    def vmcoreinfo(self) -> Mapping[str, str]:
        """VMCOREINFO as ``KEY=value`` pairs (``OSRELEASE``, ``KERNELOFFSET``, ``NUMBER(phys_base)`` …).

        The default reads the kernel's own ``vmcoreinfo_data`` buffer (kernel/crash_core.c), which every
        dump and live kernel with CONFIG_CRASH_CORE holds; backends with the ELF note may override.
        """
        try:
            data = self.read_pointer(self.symbol_address("vmcoreinfo_data"))
            size = self.read_u64(self.symbol_address("vmcoreinfo_size"))
            text = self.read(data, min(size, 1 << 16)).decode("ascii", "replace")
        except (TargetError, ValueError):
            return {}
        return parse_vmcoreinfo(text)


def parse_vmcoreinfo(text: str) -> dict[str, str]:
    """Parse VMCOREINFO's ``KEY=value`` lines (the ELF note's payload, or ``vmcoreinfo_data``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value.rstrip("\0")
    return out
