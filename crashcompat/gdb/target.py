"""The Target on GDB: the kernel GDB is looking at, through GDB's Python API, in GDB's own process.

One :class:`GdbTarget` serves four kinds of GDB target (:attr:`GdbTarget.kind`):

- ``"core"``: an ELF vmcore opened with ``core-file``.  GDB's core file maps what the dump's ``PT_LOAD``
  headers give virtual addresses for; anything else (vmalloc'd stacks and modules in a makedumpfile
  ELF dump, everything in a QEMU ``paging=false`` dump) is translated with the kernel's page tables
  (:func:`crashcompat.core.kernel.pagetable.translate`) and read from the file by physical address.
- ``"bridge"``: ``target remote | crashcompat-gdbserver VMLINUX VMCORE`` — any dump drgn reads, served
  by a separate process (:mod:`crashcompat.bridge.server`); dump facts come from its
  ``monitor crashcompat info``.
- ``"qemu"``: QEMU's gdbstub (``-gdb tcp::1234``): threads are vCPUs.
- ``"kgdb"``: the kernel's own KGDB stub: threads are tasks; each CPU's registers at entry are in
  ``kgdb_info[cpu].debuggerinfo`` (kernel/debug/debug_core.c).

Memory goes through ``gdb.selected_inferior().read_memory`` in aligned blocks (on the bridge, through its
binary memory lane, :class:`crashcompat.bridge.lane.MemoryLane`), cached until the target resumes
(:meth:`invalidate`); :attr:`GdbTarget.stats` counts the round trips and bytes.  Symbols come
from the vmlinux's ELF symbol table (:mod:`crashcompat.gdb.symtab`), types from GDB's debug info (looked
up lazily: GDB starts x86_64 sessions with an i386 architecture until an objfile is loaded).  This module
never imports drgn: of the bridge it imports only the memory lane's client (:mod:`crashcompat.bridge.lane`).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import astuple, dataclass
from functools import cached_property
from typing import Any, TypeVar, cast

import gdb

from crashcompat.bridge.lane import lane_read
from crashcompat.core.cache import cache_path, write_atomically
from crashcompat.core.disasm import Instruction
from crashcompat.core.dumpfile import DumpHeader, read_header
from crashcompat.core.elf import ElfFile
from crashcompat.core.kernel import Kernel, layout, pagetable
from crashcompat.core.kernel.layout import PT_REGS_ORDER
from crashcompat.core.opening import cpu_note_registers, dump_vmcoreinfo, dump_warnings, kaslr_offset
from crashcompat.core.target import (
    DumpFormat,
    FaultError,
    Member,
    Registers,
    SourceLine,
    Symbol,
    SymbolNotFound,
    Target,
    TargetError,
    TargetInfo,
    TypeNotFound,
    member_path,
)
from crashcompat.core.typeinfo import CType
from crashcompat.gdb import kaslr
from crashcompat.gdb.symtab import SymbolTable, preferred
from crashcompat.gdb.types import GdbTypes

MASK64 = (1 << 64) - 1
T = TypeVar("T")
#: Block size of the memory cache: whole pages for dumps; on live links, where every packet is a round trip,
#: one ``m`` packet's worth that divides a page (a block is read, or fails, as a whole: it must not run into
#: the next, perhaps unmapped, page) — QEMU's gdbstub answers at most 2 KiB per ``m`` packet, KGDB
#: :data:`KGDB_READ_BYTES` once :func:`widen_kgdb_packets` has told GDB so.
BLOCK_SIZE = {"kgdb": 256, "qemu": 2048}
DEFAULT_BLOCK_SIZE = 4096
#: The cache is dropped when it grows past this many bytes.
CACHE_LIMIT = 64 << 20
#: Registers GDB names as the Target names them (QEMU's gdbstub and KGDB give these).
GDB_REGISTERS = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base",
)  # fmt: skip
_ARRAY_SUFFIX = re.compile(r"^(.*?)\s*\[(\d*)\]$")
_COMPOUND = (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION)


@dataclass
class GdbStats:
    """Memory traffic through GDB, for benchmarks: ``read_memory`` calls (each one or more round trips
    on a remote target), bytes they returned, and reads answered from the cache alone."""

    reads: int = 0
    bytes: int = 0
    cache_hits: int = 0

    def reset(self) -> None:
        self.reads = self.bytes = self.cache_hits = 0


class Vmlinux:
    """The vmlinux file: its ELF symbols at the KASLR offset, and the facts the KASLR search needs.

    :param path: the debug vmlinux; :param offset: the KASLR offset.
    """

    def __init__(self, path: str, offset: int = 0) -> None:
        self.name = path
        self.path = os.path.abspath(path)
        self.offset = offset
        self.elf = ElfFile(self.path)
        self.facts = kaslr.VmlinuxFacts(self.elf)

    @cached_property
    def symbols(self) -> SymbolTable:
        """The symbol table at :attr:`offset` (read on first use: the offset must be known by then)."""
        return SymbolTable.vmlinux(self.elf, self.offset)


class CoreFile:
    """An ELF vmcore's header, notes and physical ``PT_LOAD`` map, read from the file (not through GDB).
    A segment's memory beyond its file data reads as zeros (makedumpfile leaves excluded pages out that
    way), as drgn reads it.

    :param path: the dump.
    """

    def __init__(self, path: str) -> None:
        from elftools.elf.elffile import ELFFile

        self.path = path
        self.header: DumpHeader = read_header(path)
        segments = []
        with open(path, "rb") as f:
            for segment in ELFFile(f).iter_segments():
                h = segment.header
                if h.p_type == "PT_LOAD" and h.p_memsz:
                    segments.append((int(h.p_paddr), int(h.p_offset), int(h.p_filesz), int(h.p_memsz)))
        segments.sort()
        self._segments = segments
        self._starts = [s[0] for s in segments]
        # Segments may overlap (QEMU's paging dumps map one page at several virtual addresses):
        # _reach[i] is the highest end among segments[0..i], so a lookup knows how far back to look.
        self._reach: list[int] = []
        for start, _, _, memory_size in segments:
            self._reach.append(max(self._reach[-1] if self._reach else 0, start + memory_size))
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for the target's life
        self._file_size = os.fstat(self._file.fileno()).st_size

    def vmcoreinfo(self) -> dict[str, str]:
        return dump_vmcoreinfo(self.header.notes)

    def _segment(self, address: int) -> tuple[int, int, int, int]:
        """The PT_LOAD holding physical *address*: of overlapping ones, one whose bytes the file holds (a
        kdump ELF file maps the kernel image twice, so a damaged header of one copy leaves the other)."""
        i = bisect.bisect_right(self._starts, address) - 1
        found = None
        while i >= 0 and self._reach[i] > address:
            start, offset, file_size, memory_size = segment = self._segments[i]
            if address < start + memory_size:
                if offset + file_size <= self._file_size:
                    return segment
                found = found or segment  # its read names the truncation unless another copy turns up
            i -= 1
        if found is None:
            raise FaultError(address, True)
        return found

    def read_physical(self, address: int, size: int) -> bytes:
        out = bytearray()
        while size > 0:
            start, offset, file_size, memory_size = self._segment(address)
            chunk = min(size, start + memory_size - address)
            in_file = max(0, min(chunk, start + file_size - address))
            data = os.pread(self._file.fileno(), in_file, offset + address - start) if in_file else b""
            if len(data) < in_file:
                raise FaultError(address + len(data), True, "dump file truncated")
            out += data + bytes(chunk - in_file)
            address += chunk
            size -= chunk
        return bytes(out)


class LayoutCache:
    """Type layouts (``type_size``, ``member``, ``enumerator``, ``enumerators`` answers) of one vmlinux
    build as GDB reads them, kept in a JSON file across sessions: GDB expands a compilation unit the first
    time a session names a type in it (10 ms to 1 s each), and a build's types never change.

    :param path: the file (read now if it exists; written by :meth:`save`).
    """

    #: Bump when the stored answers change shape.
    FORMAT = 2

    def __init__(self, path: str) -> None:
        self.path = path
        self._entries: dict[str, Any] = {}
        self._dirty = False
        with contextlib.suppress(OSError, ValueError):
            with open(path, encoding="utf-8") as f:
                loaded = json.load(f)
            if isinstance(loaded, dict):
                self._entries = loaded

    @classmethod
    def for_vmlinux(cls, vmlinux: Vmlinux) -> LayoutCache | None:
        """The cache of *vmlinux*'s build under ``$XDG_CACHE_HOME/crashcompat/gdb-layouts`` (one file per
        build-id and GDB version), or ``None`` without a build-id."""
        build_id = vmlinux.elf.build_id()
        if build_id is None:
            return None
        name = f"{build_id}-gdb{gdb.VERSION.split()[0]}-{cls.FORMAT}.json"
        return cls(cache_path("gdb-layouts", name))

    @property
    def entries(self) -> Mapping[str, Any]:
        """Every answer kept, by the method's name (``size``, ``member``, ``enumerator``, ``enums``) and its
        arguments joined with NUL characters: the answer, or ``{"type": message}`` / ``{"symbol": name}``
        when not found."""
        return self._entries

    def get(self, key: str) -> Any:
        return self._entries.get(key)

    def put(self, key: str, value: Any) -> None:
        self._entries[key] = value
        self._dirty = True

    def save(self) -> None:
        """Write the file if anything was added (atomically: sessions may end together)."""
        if not self._dirty:
            return
        if write_atomically(self.path, lambda f: f.write(json.dumps(self._entries).encode())):
            self._dirty = False


class GdbTarget(Target):
    """A :class:`~crashcompat.core.target.Target` over GDB's current inferior.  Build one with
    :func:`attach`.

    :param kind: ``"core"``, ``"bridge"``, ``"qemu"``, ``"kgdb"`` or ``"remote"`` (another live stub).
    :param info: what is examined.
    :param vmlinux: the vmlinux with its KASLR offset.
    :param core: the ELF vmcore (kind ``"core"``).
    :param facts: ``monitor crashcompat info`` of the bridge (kind ``"bridge"``).
    """

    def __init__(
        self,
        kind: str,
        info: TargetInfo,
        vmlinux: Vmlinux,
        *,
        core: CoreFile | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self._info = info
        self.vmlinux = vmlinux
        self.core = core
        self.facts = facts or {}
        self.stats = GdbStats()
        self.block_size = BLOCK_SIZE.get(kind, DEFAULT_BLOCK_SIZE)
        self._cache: dict[int, bytes] = {}
        self._modules: dict[str, tuple[str, SymbolTable]] = {}
        self._types: dict[str, gdb.Type] = {}
        #: Whole types converted for :meth:`type_info` / :meth:`variable_type`.
        self._ctypes = GdbTypes()
        self._lane = _connect_lane(self.facts.get("memory_lane")) if kind == "bridge" else None
        #: Type layouts kept across sessions (:class:`LayoutCache`), when the vmlinux has a build-id.
        self.layouts = LayoutCache.for_vmlinux(vmlinux)
        #: The CPU the live target last stopped on (from the stop event's thread).
        self.stopped_cpu: int | None = None
        #: The kernel model on this target, for what the Target answers from kernel memory (register notes).
        self._kernel: Kernel | None = None

    @property
    def info(self) -> TargetInfo:
        return self._info

    def invalidate(self) -> None:
        self._cache.clear()
        self.stopped_cpu = None

    # ---- memory ----------------------------------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes:
        if size <= 0:
            if size < 0:
                raise FaultError(address, reason="negative size")
            return b""
        if address < 0 or address + size > 1 << 64:
            raise FaultError(address & MASK64, reason="address beyond 64 bits")
        bs = self.block_size
        first, last = address // bs, (address + size - 1) // bs
        cache = self._cache
        if all(b in cache for b in range(first, last + 1)):
            self.stats.cache_hits += 1
        else:
            # make room first: emptying the cache between this read's blocks would lose the earlier ones
            if (len(cache) + last - first + 1) * bs > CACHE_LIMIT:
                cache.clear()
            block = first
            while block <= last:  # fetch each run of missing blocks with one read
                if block in cache:
                    block += 1
                    continue
                end = block
                while end + 1 <= last and end + 1 not in cache:
                    end += 1
                self._fetch(block, end, max(address, block * bs))
                block = end + 1
        data = b"".join(cache[b] for b in range(first, last + 1))
        start = address - first * bs
        return data[start : start + size]

    def _fetch(self, first: int, last: int, wanted: int) -> None:
        """Read blocks *first*..*last* into the cache; on a fault, block by block, so the error names the
        first unreadable address at or after *wanted*."""
        bs = self.block_size
        try:
            data = self._read_uncached(first * bs, (last - first + 1) * bs)
        except FaultError:
            if first == last:
                raise FaultError(wanted) from None
            for block in range(first, last + 1):
                self._fetch(block, block, max(wanted, block * bs))
            return
        for i in range(last - first + 1):
            self._cache[first + i] = data[i * bs : (i + 1) * bs]

    def _read_uncached(self, address: int, size: int) -> bytes:
        self.stats.reads += 1
        if self._lane is not None:  # the bridge's binary memory lane (crashcompat.bridge.lane)
            try:
                data = lane_read(self._lane, address, size)
                self.stats.bytes += len(data)
                return data
            except OSError:
                self._lane = None  # gone: through GDB from now on, if GDB still has the bridge
        if self.kind != "core" and gdb.selected_inferior().connection is None:
            # Without its remote target GDB would read the vmlinux file's own sections: never that.
            raise TargetError(BRIDGE_GONE if self.kind == "bridge" else link_closed(self.kind))
        try:
            data = bytes(gdb.selected_inferior().read_memory(address, size))
        except gdb.MemoryError:
            if self.core is None:
                raise FaultError(address) from None
            data = self._read_translated(address, size)
        except gdb.error as e:  # "Remote communication error.  Target disconnected." …
            if self.kind == "bridge" and gdb.selected_inferior().connection is None:
                raise TargetError(BRIDGE_GONE) from None
            message = " ".join(str(e).split())
            if self.info.live:  # the link dropped or stopped answering (GDB's remote timeout)
                if gdb.selected_inferior().connection is None:
                    raise TargetError(link_closed(self.kind, message)) from None
                raise TargetError(
                    f"no answer from {STUB_NAMES.get(self.kind, 'the stub')}: {message}"
                ) from None
            raise TargetError(message) from None
        self.stats.bytes += len(data)
        return data

    def _read_translated(self, address: int, size: int) -> bytes:
        """What GDB's core file does not map: page by page through the kernel's page tables (kernel image
        addresses directly, by ``phys_base``, so the page tables themselves can be found)."""
        assert self.core is not None
        out = bytearray()
        while size > 0:
            chunk = min(size, 4096 - address % 4096)
            physical = self._translate(address)
            out += self.core.read_physical(physical, chunk)
            address += chunk
            size -= chunk
        return bytes(out)

    def _translate(self, address: int) -> int:
        phys_base = self.vmcoreinfo.get("NUMBER(phys_base)")
        if phys_base and layout.is_kernel_image(self, address):
            return address - layout.START_KERNEL_MAP + int(phys_base, 0)
        walk = pagetable.translate(self, address)
        if walk.physical is None:
            raise FaultError(address, reason=walk.error or "")
        return walk.physical

    def read_physical(self, address: int, size: int) -> bytes:
        if self.core is not None:
            return self.core.read_physical(address, size)
        page_offset = layout.layout(self).page_offset
        try:
            return self.read(page_offset + address, size)
        except FaultError as e:
            raise FaultError(e.address - page_offset, True) from None

    def write(self, address: int, data: bytes) -> None:
        """``wr`` on a live kernel: GDB's memory write (the stub changes the guest's memory)."""
        if not self.live:
            raise TargetError("not allowed on dumpfiles")
        try:
            gdb.selected_inferior().write_memory(address, data)
        except (gdb.MemoryError, gdb.error) as e:
            raise FaultError(address, reason=str(e)) from None
        finally:
            self.invalidate()

    def write_physical(self, address: int, data: bytes) -> None:
        self.write(layout.layout(self).page_offset + address, data)

    def disassemble(self, address: int, count: int) -> list[Instruction]:
        """GDB's own disassembler (what crash's ``x/Ni`` shows)."""
        try:
            found = gdb.selected_inferior().architecture().disassemble(address, count=max(count, 1))
        except (gdb.MemoryError, gdb.error):
            # GDB cannot read kernel addresses of a core file whose segments are physical (QEMU's ELF
            # dumps): disassemble the bytes this target reads itself, with binutils' objdump
            return super().disassemble(address, count)
        return [Instruction(int(d["addr"]), int(d["length"]), str(d["asm"])) for d in found]

    # ---- symbols ---------------------------------------------------------------------------------------

    def _tables(self) -> Iterator[SymbolTable]:
        yield self.vmlinux.symbols
        for _, table in self._modules.values():
            yield table

    def lookup_symbol(self, name: str) -> Symbol:
        found = preferred([s for table in self._tables() for s in table.by_name(name)])
        if found is None:
            raise SymbolNotFound(name)
        return found

    def symbol_at(self, address: int) -> Symbol | None:
        candidates = [s for s in (t.at(address) for t in self._tables()) if s is not None]
        if not candidates:
            return None
        closest = max(s.address for s in candidates)
        return preferred([s for s in candidates if s.address == closest])

    def symbols(self) -> Iterator[Symbol]:
        return iter(self.vmlinux.symbols)

    def source_line(self, address: int) -> SourceLine | None:
        try:
            sal = gdb.find_pc_line(address)
        except (gdb.error, RuntimeError, OverflowError):
            return None
        if sal.symtab is None or not sal.line:
            return None
        return SourceLine(sal.symtab.fullname(), sal.line, sal.symtab.filename)

    # ---- types -----------------------------------------------------------------------------------------

    def _type(self, type_name: str) -> gdb.Type:
        found = self._types.get(type_name)
        if found is None:
            found = self._types[type_name] = _parse_type(type_name)
        return found

    def _layout(self, key: str, compute: Callable[[], T]) -> T:
        """*compute*'s answer from :attr:`layouts`, or computed and kept there: a type's layout, an
        enumerator's value (or their absence: the kernel model probes for those of other kernel versions)
        are the same in every session on this vmlinux build.  Not while module debug info is loaded (its
        types may answer)."""
        layouts = self.layouts if not self._modules else None
        if layouts is None:
            return compute()
        found = layouts.get(key)
        if isinstance(found, dict):  # not found: {"type": message} or {"symbol": name}
            if "symbol" in found:
                raise SymbolNotFound(str(found["symbol"]))
            raise TypeNotFound(str(found.get("type")))
        if found is not None:
            return cast(T, found)
        try:
            value = compute()
        except TypeNotFound as e:
            layouts.put(key, {"type": str(e)})
            raise
        except SymbolNotFound as e:
            layouts.put(key, {"symbol": e.args[0] if e.args else ""})
            raise
        layouts.put(key, value)
        return value

    def type_size(self, type_name: str) -> int:
        return self._layout(f"size\0{type_name}", lambda: self._type_size(type_name))

    def _type_size(self, type_name: str) -> int:
        found = self._type(type_name)
        stripped = found.strip_typedefs()
        if stripped.code in _COMPOUND and stripped.sizeof == 0 and not stripped.fields():
            raise TypeNotFound(f"{type_name}: incomplete type")
        return int(found.sizeof)

    def member(self, type_name: str, member: str) -> Member:
        """Layout of *member*, a path of ``.name`` and ``[index]`` steps (``"mem[0].base"``), in *type_name*.

        :param type_name: a struct or union type (``"struct task_struct"``) or a typedef of one.
        """
        found = self._layout(
            f"member\0{type_name}\0{member}", lambda: list(astuple(self._member(type_name, member)))
        )
        return Member(*found)

    def _member(self, type_name: str, member: str) -> Member:
        current = self._type(type_name)
        bits = 0
        bit_size: int | None = None
        for step in member_path(type_name, member):
            outer = current.strip_typedefs()
            if isinstance(step, str):
                if outer.code not in _COMPOUND:
                    raise TypeNotFound(f"{type_name}.{member}")
                found = _find_field(outer, step)
                if found is None:
                    raise TypeNotFound(f"{type_name}.{member}")
                field_bits, field = found
                if field.type is None:
                    raise TypeNotFound(f"{type_name}.{member}")
                bits += field_bits
                bit_size = field.bitsize or None
                current = field.type
            else:
                if outer.code != gdb.TYPE_CODE_ARRAY:
                    raise TypeNotFound(f"{type_name}.{member}: not an array")
                current = outer.target()
                bits += step * current.sizeof * 8
                bit_size = None
        size = int(current.sizeof)
        if bit_size is not None:
            return Member(member, bits // 8, size, _type_name(current), bits % 8, bit_size)
        return Member(member, bits // 8, size, _type_name(current))

    def type_info(self, type_name: str) -> CType:
        try:
            return self._ctypes.convert(self._type(type_name))
        except (gdb.error, RuntimeError, TypeError):
            raise TypeNotFound(type_name) from None

    def variable_type(self, name: str) -> CType:
        """The type of GDB's symbol *name*: a global, else a file-static variable or function, or an
        enumeration constant (vmlinux, and modules added with :meth:`load_module_debuginfo`)."""
        try:
            symbol = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
        except gdb.error:
            symbol = None
        if symbol is None or symbol.type is None:
            raise SymbolNotFound(name)
        if symbol.addr_class in (gdb.SYMBOL_LOC_TYPEDEF, gdb.SYMBOL_LOC_LABEL, gdb.SYMBOL_LOC_UNDEF):
            raise SymbolNotFound(name)
        try:
            return self._ctypes.convert(symbol.type)
        except (gdb.error, RuntimeError, TypeError):
            raise SymbolNotFound(name) from None

    def enumerator(self, name: str) -> int:
        return self._layout(f"enumerator\0{name}", lambda: self._enumerator(name))

    def _enumerator(self, name: str) -> int:
        try:
            symbol = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
        except gdb.error:
            symbol = None
        if symbol is None or symbol.addr_class != gdb.SYMBOL_LOC_CONST:
            raise SymbolNotFound(name)
        return int(symbol.value())

    def enumerators(self, type_name: str) -> list[tuple[str, int]]:
        found: list[list[Any]] = self._layout(
            f"enums\0{type_name}", lambda: [list(e) for e in self._enumerators(type_name)]
        )
        return [(str(name), int(value)) for name, value in found]

    def _enumerators(self, type_name: str) -> list[tuple[str, int]]:
        names = [type_name] if type_name.startswith("enum ") else [f"enum {type_name}", type_name]
        for name in names:
            try:
                found = self._type(name).strip_typedefs()
            except TypeNotFound:
                continue
            if found.code == gdb.TYPE_CODE_ENUM:
                return [(str(f.name), int(f.enumval)) for f in found.fields()]
        raise TypeNotFound(type_name)

    # ---- registers -------------------------------------------------------------------------------------

    def crashed_cpu(self) -> int | None:
        """A dump's ``panic_cpu`` (kernel/panic.c; ``None`` when no panic was entered), as drgn's
        ``crashed_thread()``; a live target's stopped CPU (KGDB: ``kgdb_active``)."""
        if self.kind == "bridge":
            cpu = self.facts.get("crashed_cpu")
            return int(cpu) if cpu is not None else None
        if self.kind == "core":
            return self._read_cpu_global("panic_cpu")
        if self.kind == "kgdb":
            return self._read_cpu_global("kgdb_active")
        return self.stopped_cpu

    def _read_cpu_global(self, name: str) -> int | None:
        """An ``atomic_t`` or ``int`` CPU number global; ``None`` if -1 or unreadable."""
        try:
            cpu = self.read_s32(self.symbol_address(name))
        except TargetError:
            return None
        return cpu if cpu >= 0 else None

    def cpu_registers(self, cpu: int) -> Registers | None:
        """*cpu*'s registers: the dump's ``NT_PRSTATUS`` as the drgn backend picks it (a real crash's
        per-cpu ``crash_notes``, a hypervisor dump's note with ``pr_pid`` = CPU + 1), the bridge's copy
        of those, QEMU's vCPU thread, or the ``struct pt_regs`` KGDB saved on entry."""
        if self.kind == "bridge":
            regs = self.facts.get("cpu_registers", {}).get(str(cpu))
            return {k: int(v) for k, v in regs.items()} if regs else None
        if self.kind == "core":
            return self._core_registers(cpu)
        if self.kind == "qemu":
            return self._thread_registers(lambda t: t.ptid[1] == cpu + 1)
        if self.kind == "kgdb":
            return self._kgdb_registers(cpu)
        return None

    def _core_registers(self, cpu: int) -> Registers | None:
        """The core file's ``NT_PRSTATUS`` note of *cpu* (:func:`crashcompat.core.opening.cpu_note`)."""
        assert self.core is not None
        if self._kernel is None:
            self._kernel = Kernel(self)
        return cpu_note_registers(self._kernel, cpu, self.core.header.notes)

    def _kgdb_registers(self, cpu: int) -> Registers | None:
        """``kgdb_info[cpu].debuggerinfo``: the ``struct pt_regs *`` of a CPU stopped in KGDB."""
        try:
            entry = self.symbol_address("kgdb_info") + cpu * self.type_size("struct debuggerinfo_struct")
            regs = self.read_pointer(entry + self.member("struct debuggerinfo_struct", "debuggerinfo").offset)
            if not regs:
                return None
            values = self.read_pointers(regs, len(PT_REGS_ORDER))
        except TargetError:
            return None
        return dict(zip(PT_REGS_ORDER, values, strict=True))

    @staticmethod
    def _thread_registers(match: Any) -> Registers | None:
        """Registers of the first GDB thread *match* accepts, read from its innermost frame."""
        inferior = gdb.selected_inferior()
        thread = next((t for t in inferior.threads() if match(t)), None)
        if thread is None:
            return None
        previous = gdb.selected_thread()
        try:
            frame = gdb.selected_frame() if previous is not None else None
        except gdb.error:
            frame = None
        try:
            thread.switch()
            newest = gdb.newest_frame()
            out: dict[str, int] = {}
            for name in GDB_REGISTERS:
                try:
                    out[name] = int(newest.read_register(name)) & MASK64
                except (gdb.error, ValueError):
                    continue
            return out
        except gdb.error:
            return None
        finally:
            if previous is not None and previous.is_valid():
                previous.switch()
                if frame is not None and frame.is_valid():
                    frame.select()

    # ---- module debug info -----------------------------------------------------------------------------

    def load_module_debuginfo(self, name: str, path: str, sections: Mapping[str, int]) -> None:
        """``add-symbol-file`` *path* at *sections* (so GDB's own ``print``/``list``/``bt`` know the
        module too) and add its ELF symbols to this target's tables."""
        if ".text" not in sections:
            raise TargetError(f"{name}: no .text section address")
        try:
            table = SymbolTable.module(ElfFile(path), name, sections)
        except OSError as e:
            raise TargetError(f"{path}: {e.strerror or e}") from None
        except Exception as e:  # not an ELF file
            raise TargetError(f"{path}: {e}") from None
        self.unload_module_debuginfo(name)
        # -readnow: a module is small, and GDB finds line tables of lazily read .ko files only by name.
        command = f"add-symbol-file -readnow {kaslr.gdb_quote(path)} {sections['.text']:#x}"
        for section, address in sorted(sections.items()):
            if section != ".text" and address:
                command += f" -s {section} {address:#x}"
        try:
            _quietly(command)
        except gdb.error as e:
            raise TargetError(f"{path}: {e}") from None
        self._modules[name] = (path, table)

    def unload_module_debuginfo(self, name: str) -> None:
        self._ctypes = GdbTypes()  # types converted from the module's objfile go with it
        loaded = self._modules.pop(name, None)
        if loaded is not None:
            with contextlib.suppress(gdb.error):
                _quietly(f"remove-symbol-file {kaslr.gdb_quote(loaded[0])}")

    # ---- VMCOREINFO ------------------------------------------------------------------------------------

    @cached_property
    def vmcoreinfo(self) -> Mapping[str, str]:
        """The dump's VMCOREINFO note (core file, or the bridge's); else the kernel's own buffer."""
        if self.core is not None:
            found = self.core.vmcoreinfo()
            if found:
                return found
        if self.facts.get("vmcoreinfo"):
            return dict(self.facts["vmcoreinfo"])
        return super().vmcoreinfo


# ---- types ------------------------------------------------------------------------------------------------


def _parse_type(type_name: str) -> gdb.Type:
    """A ``gdb.Type`` from a C type name: ``struct x``, typedefs, base types, ``T *``, ``T [N]``."""
    text = type_name.strip()
    try:
        if text.endswith("*"):
            return _parse_type(text[:-1]).pointer()
        array = _ARRAY_SUFFIX.match(text)
        if array is not None:
            inner = _parse_type(array.group(1))
            return inner.array(int(array.group(2)) - 1) if array.group(2) else inner.array(0)
        return gdb.lookup_type(text)
    except (gdb.error, RuntimeError, ValueError):
        raise TypeNotFound(type_name) from None


def _find_field(outer: gdb.Type, name: str) -> tuple[int, gdb.Field] | None:
    """(bit offset, field) of *name* in a struct/union, looking inside anonymous members."""
    for field in outer.fields():
        if field.name == name:
            return field.bitpos or 0, field
    for field in outer.fields():
        inner_type = field.type.strip_typedefs() if field.type is not None else None
        if not field.name and inner_type is not None and inner_type.code in _COMPOUND:
            inner = _find_field(inner_type, name)
            if inner is not None:
                return (field.bitpos or 0) + inner[0], inner[1]
    return None


def _type_name(t: gdb.Type) -> str:
    """A type's C spelling as drgn's ``type_name()`` gives it (``struct list_head``, ``char [16]``)."""
    return str(t)


# ---- attaching --------------------------------------------------------------------------------------------


def _quietly(command: str) -> str:
    """Run a GDB command, capturing what it prints."""
    return str(gdb.execute(command, to_string=True))


def core_file_path() -> str | None:
    """The file of GDB's current core target (``info target`` names it), or ``None``."""
    text = _quietly("info target")
    found = re.search(r"Local core dump file:\s*`(.*)', file type", text)
    return found.group(1) if found else None


#: The error of every read once the bridge has exited (killed, or its dump could not be read).
BRIDGE_GONE = "crashcompat-gdbserver has exited: the dump is closed (start crashcompat again)"
#: How errors name a live target's stub.
STUB_NAMES = {"kgdb": "KGDB", "qemu": "QEMU's gdbstub", "remote": "the remote stub"}


def link_closed(kind: str, why: str = "") -> str:
    """The error of a read once the link to a live *kind* stub is gone (the guest died, the socket or serial
    line closed): GDB is still usable, and ``target remote`` again reconnects."""
    cause = f" ({why})" if why else ""
    return f'the link to {STUB_NAMES.get(kind, "the stub")} is closed{cause}: "target remote ..." reconnects'


def _connect_lane(path: Any) -> socket.socket | None:
    """A connection to the bridge's memory lane at *path*, or ``None`` (then memory goes through GDB)."""
    if not isinstance(path, str):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    return conn


def bridge_facts() -> dict[str, Any] | None:
    """``monitor crashcompat info`` of a ``crashcompat-gdbserver``, or ``None`` for another stub."""
    try:
        text = _quietly("monitor crashcompat info")
    except gdb.error:
        return None
    try:
        facts = json.loads(text)
    except ValueError:
        return None
    return facts if isinstance(facts, dict) else None


def stub_kind() -> str:
    """``"kgdb"`` (a CPU's shadow thread has the 32-bit id ``-cpu - 2``, kernel/debug/gdbstub.c),
    ``"qemu"`` (answers ``qqemu.sstepbits``) or ``"remote"``."""
    if any(thread.ptid[1] & 0xFFFFFFFF >= 0x80000000 for thread in gdb.selected_inferior().threads()):
        return "kgdb"
    try:
        reply = _quietly("maint packet qqemu.sstepbits")
    except gdb.error:
        reply = ""
    return "qemu" if "ENABLE=" in reply else "remote"


#: Bytes of memory in one ``m`` reply from KGDB: its reply buffer is ``BUFMAX`` (1024) characters
#: (arch/x86/include/asm/kgdb.h), two hex digits a byte and a NUL, and it announces no ``PacketSize``
#: (x86 has no ``qSupported`` in kernel/debug/gdbstub.c), so GDB would ask it for 200 bytes at a time.
KGDB_READ_BYTES = 480


def widen_kgdb_packets() -> None:
    """Let GDB read :data:`KGDB_READ_BYTES` bytes per ``m`` packet from KGDB instead of 200: over a
    115200-baud line each packet costs about 20 ms besides its characters, so a large read (the printk
    ring) takes a third fewer seconds.  GDB asks before raising the size past its default: the answer is
    yes (``confirm`` off for the two commands)."""
    confirm = gdb.parameter("confirm")
    try:
        _quietly("set confirm off")
        _quietly(f"set remote memory-read-packet-size {2 * KGDB_READ_BYTES}")
        _quietly("set remote memory-read-packet-size fixed")
    except gdb.error:
        pass
    finally:
        _quietly(f"set confirm {'on' if confirm else 'off'}")


def current_offset(vmlinux: Vmlinux) -> int | None:
    """The KASLR offset GDB's symbols are at now (from ``linux_banner``), or ``None`` if not loaded."""
    try:
        address = int(gdb.parse_and_eval("(unsigned long)&linux_banner"))
    except gdb.error:
        return None
    return address - vmlinux.facts.banner_address


def loaded_vmlinux() -> str | None:
    """The kernel GDB has symbols of: the main symbol file, else the first objfile with ``linux_banner``."""
    progspace = gdb.current_progspace()
    if progspace is not None and progspace.filename:
        return str(progspace.filename)
    for objfile in gdb.objfiles():
        if objfile.is_valid() and objfile.lookup_global_symbol("linux_banner") is not None:
            return str(objfile.filename)
    return None


def live_offset(vmlinux: Vmlinux) -> int:
    """Search the live kernel for its KASLR offset (:mod:`crashcompat.gdb.kaslr`)."""
    facts = vmlinux.facts
    try:
        pc = int(gdb.selected_frame().read_register("rip")) & MASK64
    except (gdb.error, RuntimeError, ValueError):  # ValueError: "Bad register" before GDB knows the arch
        pc = None
    inferior = gdb.selected_inferior()

    def read(address: int, size: int) -> bytes:
        return bytes(inferior.read_memory(address, size))

    found = kaslr.find_offset(
        read, facts.banner_address, facts.banner, kaslr.candidates(pc, facts.text_start, facts.text_end)
    )
    if found is None:
        raise TargetError("cannot find the kernel in memory (is this the right vmlinux?)")
    return found


def attach(vmlinux_path: str | None = None, dump_path: str | None = None) -> GdbTarget:
    """A :class:`GdbTarget` on what GDB is connected to, with the vmlinux's symbols moved to the kernel's
    KASLR offset (reloaded in GDB when they are not there already).

    :param vmlinux_path: the debug vmlinux; default: the one GDB has loaded.
    :param dump_path: the dump as the user named it (for ``sys``), when GDB opened it as a core file.
    :raises TargetError: nothing to examine, or no vmlinux.
    """
    vmlinux_path = vmlinux_path or loaded_vmlinux()
    if vmlinux_path is None:
        raise TargetError('no kernel symbols: load the debug vmlinux first ("file VMLINUX")')
    connection = gdb.selected_inferior().connection
    if connection is None:
        raise TargetError('no kernel to examine: "core-file VMCORE" or "target remote ..." first')
    vmlinux = Vmlinux(vmlinux_path)
    core = None
    facts: dict[str, Any] = {}
    if connection.type == "core":
        path = core_file_path()
        if path is None:
            raise TargetError("cannot tell which core file GDB has open")
        core = CoreFile(path)
        kind = "core"
        offset = kaslr_offset(core.vmcoreinfo(), lambda: vmlinux.facts.stext) or 0
        header = core.header
        info = TargetInfo(
            path=dump_path or path,
            vmlinux=vmlinux.name,
            format=header.format,
            live=False,
            partial=header.partial,
            extra={"dump_level": str(header.dump_level)} if header.dump_level is not None else {},
            warnings=dump_warnings(dump_path or path, header),
        )
    elif connection.type in ("remote", "extended-remote"):
        found = bridge_facts()
        if found is not None:
            kind, facts = "bridge", found
            offset = kaslr_offset(facts.get("vmcoreinfo", {}), lambda: vmlinux.facts.stext) or 0
            info = TargetInfo(
                path=dump_path or facts.get("path"),
                vmlinux=vmlinux.name,
                format=DumpFormat(facts.get("format", "unknown")),
                live=False,
                partial=bool(facts.get("partial")),
                extra=dict(facts.get("extra", {})),
                warnings=tuple(str(w) for w in facts.get("warnings", ())),
            )
        else:
            kind = stub_kind()
            if kind == "kgdb":
                widen_kgdb_packets()
            offset = live_offset(vmlinux)
            info = TargetInfo(path=None, vmlinux=vmlinux.name, format=DumpFormat.LIVE, live=True, stub=kind)
    else:
        raise TargetError(f"cannot examine a {connection.type} target")
    vmlinux.offset = offset
    if current_offset(vmlinux) != offset or (offset and _relocated.get(vmlinux.path) != offset):
        load_vmlinux(vmlinux)
    target = GdbTarget(kind, info, vmlinux, core=core, facts=facts)
    vmlinux.symbols.index()  # as crash reads its symbol table at start-up: no command pays for it
    if info.live:
        target.stopped_cpu = thread_cpu(kind, gdb.selected_thread())
        target.sparse_reads = True  # every byte crosses the remote link: read struct members on demand
    return target


#: vmlinux path → KASLR offset :func:`load_vmlinux` loaded it at, in this GDB.
_relocated: dict[str, int] = {}


def load_vmlinux(vmlinux: Vmlinux) -> None:
    """Load *vmlinux*'s symbols into GDB at its KASLR offset (:func:`kaslr.relocate`)."""
    kaslr.relocate(vmlinux.path, vmlinux.offset, vmlinux.facts.has_percpu)
    _relocated[vmlinux.path] = vmlinux.offset


def thread_cpu(kind: str, thread: gdb.InferiorThread | None) -> int | None:
    """The CPU a live stub's stopped thread stands for: QEMU numbers vCPU threads from 1."""
    if thread is None or kind != "qemu":
        return None
    return int(thread.ptid[1]) - 1
