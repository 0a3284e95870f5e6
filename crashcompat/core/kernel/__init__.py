"""The kernel model: crash's view of a Linux kernel, written once over :class:`~crashcompat.core.target.Target`.

:class:`Kernel` is the one object the model passes around.  It wraps a Target with cached type layouts
and symbol addresses and a few universal facts (per-cpu offsets, CPU masks, the direct map).  Each
subsystem lives in its own module and takes a ``Kernel`` as first argument:

- :mod:`.layout` — the x86_64 address layout, ``THREAD_SIZE``, the ``struct pt_regs`` registers
- :mod:`.lists` — ``struct list_head`` / ``hlist`` walking with cycle and corruption bounds
- :mod:`.tasks` — the task list, per-cpu runqueues' current tasks, task state letters
- :mod:`.modules` — ``struct module`` list, module kallsyms, section addresses
- :mod:`.printk` — the 6.1 lockless printk ring buffer
- :mod:`.pagetable` — x86_64 4- and 5-level page-table walks
- :mod:`.unwind` — ORC stack unwinding with exception (``pt_regs``) frames
- :mod:`.slub` — SLUB caches and objects
- :mod:`.mm` — memory statistics (``kmem -i``, zones, vm_stat)

The model never prints: it returns data; commands render it.  Kernel differences are handled by trying
the newer field first and falling back (citing the kernel commit), never by comparing versions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from crashcompat.core.kernel.layout import layout as _layout
from crashcompat.core.target import FaultError, SymbolNotFound, Target, TargetError, TypeNotFound
from crashcompat.core.typeinfo import CType, TypeKind, array_of

T = TypeVar("T")

__all__ = ["FaultError", "Kernel", "Struct", "SymbolNotFound", "TargetError", "TypeNotFound"]


#: Bytes a sparse :class:`Struct` fetches at a time, aligned on the address (a cache line: an aligned
#: chunk never crosses a page, so it is readable whenever the member in it is).
SPARSE_CHUNK = 64


class Struct:
    """An instance of a C struct: ``task = kernel.struct("struct task_struct", addr)``.

    Field accessors take the member path: ``task.u32("pid")``, ``task.ptr("mm")``, ``task.cstr("comm")``,
    ``task.addr_of("tasks")``, ``task.raw(offset, size)``.

    On a dump the struct is read in one piece and the accessors decode from those bytes: walking a
    struct costs one target read.  When the target says small reads are cheaper
    (:attr:`Target.sparse_reads <crashcompat.core.target.Target.sparse_reads>`: a live stub on a slow
    link, where a whole ``task_struct`` costs seconds) the struct reads the first :data:`SPARSE_CHUNK`
    bytes, then the aligned chunks around each member asked for, on demand, and keeps them.  Either
    way a struct whose first bytes cannot be read raises :class:`FaultError` when it is made, and
    :attr:`data` gives the whole struct (read then, in the sparse mode).

    :param data: the struct's bytes when the caller has them already.
    """

    __slots__ = ("_chunks", "_data", "address", "kernel", "type_name")

    def __init__(self, kernel: Kernel, type_name: str, address: int, data: bytes | None = None) -> None:
        self.kernel = kernel
        self.type_name = type_name
        self.address = address
        #: Sparse mode: aligned chunk index → its bytes.
        self._chunks: dict[int, bytes] = {}
        if data is None and kernel.target.sparse_reads:
            self._data: bytes | None = None
            self._fetch(address, 1)
        else:
            self._data = data if data is not None else kernel.target.read(address, kernel.sizeof(type_name))

    @property
    def data(self) -> bytes:
        """The whole struct's bytes."""
        if self._data is None:
            self._data = self.kernel.target.read(self.address, self.kernel.sizeof(self.type_name))
        return self._data

    def raw(self, offset: int, size: int) -> bytes:
        """*size* bytes at *offset* from the struct's start."""
        if self._data is not None:
            return self._data[offset : offset + size]
        return self._fetch(self.address + offset, size)

    def _fetch(self, address: int, size: int) -> bytes:
        """Sparse mode: the bytes at *address*, from the chunks kept or, for any missing, one read of the
        chunks spanning them (or of just the bytes asked, if the chunks cannot be read)."""
        if size <= 0:
            return b""
        first, last = address // SPARSE_CHUNK, (address + size - 1) // SPARSE_CHUNK
        chunks = self._chunks
        missing = [i for i in range(first, last + 1) if i not in chunks]
        if missing:
            lo, hi = missing[0], missing[-1]
            try:
                fetched = self.kernel.target.read(lo * SPARSE_CHUNK, (hi - lo + 1) * SPARSE_CHUNK)
            except FaultError:
                return self.kernel.target.read(address, size)
            for i in range(lo, hi + 1):
                chunks[i] = fetched[(i - lo) * SPARSE_CHUNK : (i - lo + 1) * SPARSE_CHUNK]
        start = address - first * SPARSE_CHUNK
        return b"".join(chunks[i] for i in range(first, last + 1))[start : start + size]

    def _int(self, member: str, size: int, signed: bool = False) -> int:
        off = self.kernel.offsetof(self.type_name, member)
        data = self._data  # the hot path, inlined: a dump's whole-struct bytes
        raw = data[off : off + size] if data is not None else self._fetch(self.address + off, size)
        return int.from_bytes(raw, "little", signed=signed)

    def u8(self, member: str) -> int:
        return self._int(member, 1)

    def u16(self, member: str) -> int:
        return self._int(member, 2)

    def u32(self, member: str) -> int:
        return self._int(member, 4)

    def s32(self, member: str) -> int:
        return self._int(member, 4, signed=True)

    def u64(self, member: str) -> int:
        return self._int(member, 8)

    def s64(self, member: str) -> int:
        return self._int(member, 8, signed=True)

    def ptr(self, member: str) -> int:
        return self._int(member, 8)

    def uint(self, member: str) -> int:
        """An unsigned integer member of whatever size the debug info says."""
        m = self.kernel.member(self.type_name, member)
        value = int.from_bytes(self.raw(m.offset, m.size), "little")
        if m.bit_size is not None:
            value = (value >> (m.bit_offset or 0)) & ((1 << m.bit_size) - 1)
        return value

    def sint(self, member: str) -> int:
        m = self.kernel.member(self.type_name, member)
        return int.from_bytes(self.raw(m.offset, m.size), "little", signed=True)

    def cstr(self, member: str) -> str:
        """A ``char name[N]`` member, up to its first NUL."""
        return self.bytes(member).split(b"\0", 1)[0].decode("utf-8", "replace")

    def bytes(self, member: str) -> bytes:
        m = self.kernel.member(self.type_name, member)
        return self.raw(m.offset, m.size)

    def addr_of(self, member: str) -> int:
        """``&obj->member``."""
        return self.address + self.kernel.offsetof(self.type_name, member)

    def has(self, member: str) -> bool:
        return self.kernel.has_member(self.type_name, member)


class Kernel:
    """A Target plus the caches every kernel-model function shares.

    :param target: the backend's view of the kernel.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self._sizes: dict[str, int] = {}
        self._members: dict[tuple[str, str], Any] = {}
        self._symbols: dict[str, int] = {}
        #: Whole C types and variables' types (:meth:`type_info`, :meth:`variable_type`); misses too.
        self._ctypes: dict[tuple[str, str], CType | TargetError] = {}
        #: Per-subsystem memo (``kernel.memo("modules", loader)``); dropped by :meth:`invalidate`.
        self._memo: dict[str, Any] = {}
        #: Told how a long read on a slow link goes: ``progress(what, done, total)`` in bytes.  The
        #: session sets it (and shows it on stderr); the kernel model only reports, never prints.
        self.progress: Callable[[str, int, int], None] | None = None
        #: What the kernel model found missing and the user must know (crash's ``WARNING:`` lines), each once
        #: per session; the session prints them after the command that met them (:meth:`take_warnings`).
        self._warnings: list[str] = []
        self._warned: set[str] = set()

    def warn(self, text: str) -> None:
        """Have the session print ``WARNING: text`` once, after the running command."""
        if text not in self._warned:
            self._warned.add(text)
            self._warnings.append(text)

    def take_warnings(self) -> list[str]:
        """The warnings not printed yet (and forget them)."""
        found, self._warnings = self._warnings, []
        return found

    def report_progress(self, what: str, done: int, total: int) -> None:
        """Tell :attr:`progress` that *done* of *total* bytes of *what* were read."""
        if self.progress is not None:
            self.progress(what, done, total)

    # ---- cached layouts and symbols ---------------------------------------------------------------------

    def sizeof(self, type_name: str) -> int:
        size = self._sizes.get(type_name)
        if size is None:
            size = self._sizes[type_name] = self.target.type_size(type_name)
        return size

    def member(self, type_name: str, member: str) -> Any:
        """:class:`~crashcompat.core.target.Member` (cached; a miss is cached too)."""
        key = (type_name, member)
        found = self._members.get(key)
        if found is None:
            try:
                found = self.target.member(type_name, member)
            except TypeNotFound as e:
                found = e
            self._members[key] = found
        if isinstance(found, TypeNotFound):
            raise found
        return found

    def offsetof(self, type_name: str, member: str) -> int:
        return int(self.member(type_name, member).offset)

    def has_member(self, type_name: str, member: str) -> bool:
        try:
            self.member(type_name, member)
        except TypeNotFound:
            return False
        return True

    def type_info(self, type_name: str) -> CType:
        """The C type *type_name* (:meth:`Target.type_info <crashcompat.core.target.Target.type_info>`),
        cached.  Raises TypeNotFound."""
        return self._ctype("type", type_name, self.target.type_info)

    def variable_type(self, name: str) -> CType:
        """The type of global variable or function *name*
        (:meth:`Target.variable_type <crashcompat.core.target.Target.variable_type>`), cached until module
        debug info changes (:meth:`forget_types`).  Raises SymbolNotFound."""
        return self._ctype("variable", name, self._variable_type)

    def _variable_type(self, name: str) -> CType:
        found = self.target.variable_type(name)
        if found.kind == TypeKind.ARRAY and found.length is None:
            # The debug info may give a variable its header declaration's type (``const char
            # linux_banner[]``); the definition's length is in the ELF symbol's size.
            element = found.target.strip_typedefs().size
            try:
                size = self.target.lookup_symbol(name).size
            except TargetError:
                size = 0
            if element and size and size % element == 0:
                found = array_of(found.target, size // element)
        return found

    def _ctype(self, space: str, name: str, compute: Callable[[str], CType]) -> CType:
        key = (space, name)
        found = self._ctypes.get(key)
        if found is None:
            try:
                found = compute(name)
            except (TypeNotFound, SymbolNotFound) as e:
                found = e
            self._ctypes[key] = found
        if isinstance(found, TargetError):
            raise found
        return found

    def forget_types(self) -> None:
        """Drop cached :meth:`type_info` / :meth:`variable_type` answers (module debug info was loaded or
        unloaded: its types and variables come and go)."""
        self._ctypes.clear()

    def symbol(self, name: str) -> int:
        """Address of a vmlinux symbol (cached).  Raises SymbolNotFound."""
        address = self._symbols.get(name)
        if address is None:
            address = self._symbols[name] = self.target.symbol_address(name)
        return address

    def has_symbol(self, name: str) -> bool:
        try:
            self.symbol(name)
        except SymbolNotFound:
            return False
        return True

    def struct(self, type_name: str, address: int) -> Struct:
        return Struct(self, type_name, address)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Compute once per stop: the module list, the task list, the cpu masks …"""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[no-any-return]

    def memoized(self, key: str) -> Any:
        """What :meth:`memo` computed for *key* in this stop, or ``None`` when nothing asked for it yet."""
        return self._memo.get(key)

    def invalidate(self) -> None:
        """A live kernel ran: drop memoised kernel state (layouts and symbols stay valid)."""
        self._memo.clear()
        self.target.invalidate()

    # ---- reads --------------------------------------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes:
        return self.target.read(address, size)

    def read_u32(self, address: int) -> int:
        return self.target.read_u32(address)

    def read_u64(self, address: int) -> int:
        return self.target.read_u64(address)

    def read_pointer(self, address: int) -> int:
        return self.target.read_pointer(address)

    def read_cstring(self, address: int, limit: int = 4096) -> str:
        return self.target.read_cstring(address, limit).decode("utf-8", "replace")

    def read_global_u64(self, name: str) -> int:
        return self.target.read_u64(self.symbol(name))

    def read_global_u32(self, name: str) -> int:
        return self.target.read_u32(self.symbol(name))

    # ---- per-cpu ------------------------------------------------------------------------------------------

    def cpumask(self, name: str) -> list[int]:
        """CPUs set in a ``struct cpumask`` global (``__cpu_online_mask``, ``__cpu_possible_mask`` …)."""

        def compute() -> list[int]:
            nr = self.nr_cpu_ids()
            words = (nr + 63) // 64
            raw = self.read(self.symbol(name), 8 * words)
            bits = int.from_bytes(raw, "little")
            return [cpu for cpu in range(nr) if bits >> cpu & 1]

        return self.memo(f"cpumask:{name}", compute)

    def nr_cpu_ids(self) -> int:
        return self.memo("nr_cpu_ids", lambda: self.read_global_u32("nr_cpu_ids"))

    def possible_cpus(self) -> list[int]:
        return self.cpumask("__cpu_possible_mask")

    def online_cpus(self) -> list[int]:
        return self.cpumask("__cpu_online_mask")

    def per_cpu_offset(self, cpu: int) -> int:
        """``__per_cpu_offset[cpu]`` (arch/x86/kernel/setup_percpu.c), read once per stop, as the number
        to add to a per-cpu symbol's address.

        Up to Linux 6.14 x86_64's per-cpu section is zero-based (``__per_cpu_start`` is 0) and the offsets
        are the areas' addresses.  Since Linux 6.15 (the "x86/percpu/64: Use relative percpu offsets"
        series) per-cpu symbols are ordinary kernel addresses and the offset is ``area - __per_cpu_start``,
        which the kernel adds modulo 2**64: it is returned signed so that ``symbol + offset`` is the
        area's address.  Print it with ``& 0xFFFFFFFFFFFFFFFF``."""
        offsets: dict[int, int] = self.memo("per_cpu_offsets", dict)
        offset = offsets.get(cpu)
        if offset is None:
            offset = self.read_u64(self.symbol("__per_cpu_offset") + 8 * cpu)
            if offset >= 1 << 63 and self._per_cpu_relative():
                offset -= 1 << 64
            offsets[cpu] = offset
        return offset

    def _per_cpu_relative(self) -> bool:
        """Whether per-cpu symbols are kernel addresses, not zero-based offsets (Linux >= 6.15)."""
        try:
            return self.symbol("__per_cpu_start") != 0
        except SymbolNotFound:
            return False

    def per_cpu_address(self, name: str, cpu: int) -> int:
        """``per_cpu_ptr(&name, cpu)`` for a per-cpu variable *name*."""
        return self.symbol(name) + self.per_cpu_offset(cpu)

    # ---- direct map ---------------------------------------------------------------------------------------

    def page_offset(self) -> int:
        """``PAGE_OFFSET``: the direct map's base (:attr:`Layout.page_offset
        <crashcompat.core.kernel.layout.Layout.page_offset>`)."""
        return self.memo("page_offset", lambda: _layout(self.target).page_offset)

    def phys_to_virt(self, physical: int) -> int:
        return physical + self.page_offset()

    def virt_to_phys_direct(self, address: int) -> int:
        """``__pa()`` for a direct-map address (not for kernel text or vmalloc)."""
        return address - self.page_offset()
