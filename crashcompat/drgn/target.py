"""The Target on drgn: a ``drgn.Program`` (a vmcore, ``/proc/kcore`` or a QEMU guest over QMP) seen through
:class:`crashcompat.core.target.Target`.

Memory and types come straight from drgn (its reads are fast, so nothing is cached here).  drgn 0.3.0 finds
an ELF symbol by name or address with a linear scan of the symbol table (about 0.5 ms for the 119 000
symbols of a distribution vmlinux), so symbols are cached here (:meth:`DrgnTarget.lookup_symbol`), and a
variable's address is taken from drgn's DWARF index when its name is unique in the vmlinux symbol table
(:meth:`DrgnTarget.symbol_address`).
Registers come from the dump's ``NT_PRSTATUS`` notes as crash reads them, including ``orig_rax`` (drgn's
first frame is the fallback); source lines from the DWARF line tables with GDB's rules
(:mod:`crashcompat.drgn.dwarf`), as crash prints them.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterator, Mapping
from functools import cached_property

import drgn
from drgn.helpers.linux.sched import cpu_curr, task_cpu

from crashcompat.core.cache import cache_path, write_atomically
from crashcompat.core.dumpfile import DumpHeader, read_header
from crashcompat.core.kernel import Kernel, layout
from crashcompat.core.opening import cpu_note_registers, dump_warnings
from crashcompat.core.target import (
    DumpFormat,
    FaultError,
    Member,
    Registers,
    SourceLine,
    Symbol,
    SymbolBinding,
    SymbolKind,
    SymbolNotFound,
    Target,
    TargetError,
    TargetInfo,
    TypeNotFound,
    member_path,
    parse_vmcoreinfo,
)
from crashcompat.core.typeinfo import CType
from crashcompat.drgn.dwarf import debug_file
from crashcompat.drgn.types import DrgnTypes

_BINDINGS = {
    drgn.SymbolBinding.GLOBAL: SymbolBinding.GLOBAL,
    drgn.SymbolBinding.UNIQUE: SymbolBinding.GLOBAL,
    drgn.SymbolBinding.LOCAL: SymbolBinding.LOCAL,
    drgn.SymbolBinding.WEAK: SymbolBinding.WEAK,
}
_KINDS = {
    drgn.SymbolKind.FUNC: SymbolKind.FUNC,
    drgn.SymbolKind.IFUNC: SymbolKind.FUNC,
    drgn.SymbolKind.OBJECT: SymbolKind.OBJECT,
    drgn.SymbolKind.COMMON: SymbolKind.OBJECT,
    drgn.SymbolKind.TLS: SymbolKind.OBJECT,
}
#: drgn's x86_64 register names that differ from ``struct user_regs_struct``'s.
_DRGN_REGISTER_NAMES = {"rflags": "eflags", "fs.base": "fs_base", "gs.base": "gs_base"}
_COMPOUND = (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS)


class DrgnTarget(Target):
    """A :class:`~crashcompat.core.target.Target` over a ``drgn.Program`` with the kernel's debug info loaded.

    :param prog: the program (``set_core_dump``/``set_kernel``/``set_qemu_qmp`` done, vmlinux loaded).
    :param info: what is examined (see :func:`crashcompat.drgn.open_dump`).
    :param header: the dump file's header and notes (:func:`crashcompat.core.dumpfile.read_header`),
        ``None`` for a live kernel.
    """

    def __init__(self, prog: drgn.Program, info: TargetInfo, header: DumpHeader | None = None) -> None:
        self.prog = prog
        self._info = info
        self._header = header
        #: Modules whose debug info was "unloaded": drgn cannot drop it, so their symbols are hidden.
        self._hidden_modules: set[str] = set()
        #: Symbols found by name / by address (``None``: not found); see :meth:`_forget_symbols`.
        self._by_name: dict[str, Symbol | None] = {}
        self._by_address: dict[int, Symbol | None] = {}
        self._ambiguous: frozenset[str] | None = None
        #: Types converted for :meth:`type_info` / :meth:`variable_type`.
        self._types = DrgnTypes()
        self._modules_area: tuple[int, int] | None = None
        #: The kernel model on this target, for what the Target answers from kernel memory (register notes).
        self._kernel: Kernel | None = None

    @classmethod
    def from_program(
        cls,
        prog: drgn.Program,
        *,
        path: str | None = None,
        vmlinux: str | None = None,
        header: DumpHeader | None = None,
    ) -> DrgnTarget:
        """A target on a program whose memory and vmlinux are set up (by :mod:`crashcompat.drgn` or by the
        drgn CLI).  What it examines defaults to what drgn knows (``core_dump_path``, the main module's
        debug file, ``IS_LIVE``) and the dump's header.

        :param path: the dump as the user named it; :param vmlinux: likewise the vmlinux.
        :param header: the dump's header if already read.
        """
        live = bool(prog.flags & drgn.ProgramFlags.IS_LIVE)
        path = path or prog.core_dump_path
        if header is None and path and not live:
            try:
                header = read_header(path)
            except OSError:
                header = None
        if vmlinux is None:
            try:
                vmlinux = prog.main_module().debug_file_path
            except LookupError:
                vmlinux = None
        info = TargetInfo(
            path=None if live else path,
            vmlinux=vmlinux,
            format=DumpFormat.LIVE if live else header.format if header else DumpFormat.UNKNOWN,
            live=live,
            partial=bool(header and header.partial),
            stub=("kcore" if prog.core_dump_path == "/proc/kcore" else "qmp") if live else None,
            extra={"dump_level": str(header.dump_level)} if header and header.dump_level is not None else {},
            warnings=() if live or path is None else dump_warnings(path, header),
        )
        return cls(prog, info, header)

    @property
    def info(self) -> TargetInfo:
        return self._info

    # ---- memory ----------------------------------------------------------------------------------------

    def read(self, address: int, size: int) -> bytes:
        return self._read(address, size, False)

    def read_physical(self, address: int, size: int) -> bytes:
        return self._read(address, size, True)

    def _read(self, address: int, size: int, physical: bool) -> bytes:
        try:
            return bytes(self.prog.read(address, size, physical))
        except drgn.FaultError as e:
            raise FaultError(e.address, physical) from None
        except (ValueError, OverflowError) as e:  # negative size, address beyond 64 bits
            raise FaultError(address, physical, str(e)) from None

    # ---- symbols ---------------------------------------------------------------------------------------

    def lookup_symbol(self, name: str) -> Symbol:
        if name in self._by_name:
            found = self._by_name[name]
        else:
            try:
                found = self._symbol(self.prog.symbol(name))
            except LookupError:
                found = None
            self._by_name[name] = found
        if found is None:
            raise SymbolNotFound(name)
        return found

    def symbol_at(self, address: int) -> Symbol | None:
        if address in self._by_address:
            return self._by_address[address]
        try:
            found = self._symbol(self.prog.symbol(address))
        except (LookupError, OverflowError, ValueError):
            found = None
        self._by_address[address] = found
        return found

    def symbol_address(self, name: str) -> int:
        """The address of symbol *name*.  A vmlinux variable whose name is unique in the vmlinux symbol table
        is found through drgn's DWARF index (a hash lookup) rather than drgn's linear scan of the ELF
        symbols: the two agree for every such variable (checked over all 22 000 of Debian's 6.1 vmlinux);
        functions and repeated names (static variables of several files) take the exact ELF lookup."""
        found = self._by_name.get(name)
        if found is not None:
            return found.address
        if name not in self._by_name and not self._module_debuginfo():
            ambiguous = self._ambiguous_names()
            if ambiguous is not None and name not in ambiguous:
                try:
                    address = self.prog.object(name, drgn.FindObjectFlags.VARIABLE).address_
                except Exception:  # any failure of the shortcut falls back to the ELF lookup
                    address = None
                if address is not None and not self._in_modules(address):
                    return int(address)
        return self.lookup_symbol(name).address

    def _module_debuginfo(self) -> bool:
        """Whether some module has debug info in drgn (its DWARF and ELF symbols then join the lookups)."""
        return any(
            isinstance(m, drgn.RelocatableModule) and m.debug_file_path is not None
            for m in self.prog.modules()
        )

    def _ambiguous_names(self) -> frozenset[str] | None:
        """Names that several vmlinux ELF symbols share, cached on disk per vmlinux file (like the symbol
        table of :mod:`crashcompat.core.kernel.symbols`); ``None`` without a vmlinux file."""
        if self._ambiguous is not None:
            return self._ambiguous
        path = self._info.vmlinux
        try:
            if not path:
                return None
            st = os.stat(path)
        except OSError:
            return None
        key = repr((os.path.realpath(path), st.st_size, st.st_mtime_ns, "ambiguous-names-1"))
        cache = cache_path(f"elfdup-{hashlib.sha1(key.encode()).hexdigest()[:24]}.txt")
        try:
            with open(cache, encoding="utf-8") as f:
                self._ambiguous = frozenset(f.read().split("\n"))
            return self._ambiguous
        except OSError:
            pass
        seen: set[str] = set()
        repeated: set[str] = set()
        for sym in self.prog.symbols():
            name = sym.name
            if name and not self._in_modules(sym.address):
                if name in seen:
                    repeated.add(name)
                seen.add(name)
        self._ambiguous = frozenset(repeated)
        write_atomically(cache, lambda f: f.write("\n".join(sorted(repeated)).encode()))
        return self._ambiguous

    def _in_modules(self, address: int) -> bool:
        """Whether *address* is in the module area, where no vmlinux symbol lies."""
        start, end = self._module_area()
        return start <= address < end

    def _module_area(self) -> tuple[int, int]:
        """:func:`crashcompat.core.kernel.layout.modules_range`, kept here: finding it may look symbols up
        (and so fill the symbol caches), which must not happen while they are being walked."""
        if self._modules_area is None:
            self._modules_area = layout.modules_range(self)
        return self._modules_area

    def _forget_symbols(self, everything: bool) -> None:
        """Drop cached lookups that may change: all of them when module debug info is loaded or hidden
        (*everything*), else those of the module area and the misses (a live kernel ran: modules may have
        come or gone).  vmlinux symbols never move."""
        self._module_area()
        if everything:
            self._by_name.clear()
            self._by_address.clear()
            return
        for name in [n for n, sym in self._by_name.items() if sym is None or self._in_modules(sym.address)]:
            del self._by_name[name]
        for address in [a for a, sym in self._by_address.items() if sym is None or self._in_modules(a)]:
            del self._by_address[address]

    def invalidate(self) -> None:
        """A live kernel ran: forget module symbols and misses."""
        self._forget_symbols(everything=False)

    def symbols(self) -> Iterator[Symbol]:
        """vmlinux's named symbols (not ``STT_FILE``/``STT_SECTION`` ones, nor those of modules whose
        debug info was loaded: they lie in the module area)."""
        for sym in self.prog.symbols():
            if (
                sym.name
                and sym.kind not in (drgn.SymbolKind.FILE, drgn.SymbolKind.SECTION)
                and not self._in_modules(sym.address)
            ):
                yield self._convert(sym, None)

    def _symbol(self, sym: drgn.Symbol) -> Symbol | None:
        """*sym* with its module (``None`` if that module's debug info was unloaded)."""
        module = None
        try:
            owner = self.prog.module(sym.address)
        except LookupError:
            owner = None
        if isinstance(owner, drgn.RelocatableModule):
            module = owner.name
            if module in self._hidden_modules:
                return None
        return self._convert(sym, module)

    @staticmethod
    def _convert(sym: drgn.Symbol, module: str | None) -> Symbol:
        return Symbol(
            sym.name,
            sym.address,
            sym.size,
            _BINDINGS.get(sym.binding, SymbolBinding.UNKNOWN),
            _KINDS.get(sym.kind, SymbolKind.OTHER),
            module,
        )

    def source_line(self, address: int) -> SourceLine | None:
        """File and line of *address* as crash prints them (GDB's line-table rules and the unit's
        compilation directory, :mod:`crashcompat.drgn.dwarf`); drgn's answer if the DWARF cannot be read."""
        try:
            module = self.prog.module(address)
        except (LookupError, OverflowError, ValueError):
            return None
        if module.name in self._hidden_modules and isinstance(module, drgn.RelocatableModule):
            return None
        debug = debug_file(module.debug_file_path) if module.debug_file_path else None
        if debug is not None:
            try:
                if isinstance(module, drgn.RelocatableModule):
                    found = debug.source_line(address, dict(module.section_addresses))
                else:
                    found = debug.source_line(address - (module.debug_file_bias or 0))
            except (ValueError, IndexError, KeyError, struct.error):
                pass
            else:
                return SourceLine(*found) if found else None
        try:
            location = self.prog.source_location(address)[0]
        except (LookupError, ValueError, OverflowError, IndexError):
            return None
        if not location.filename or not location.line:
            return None
        filename = location.filename
        directory = debug.compile_dir() if debug is not None else None
        if not filename.startswith("/") and directory:
            filename = re.sub("/+", "/", f"{directory}/{filename}")
        return SourceLine(filename, location.line, location.filename)

    # ---- types -----------------------------------------------------------------------------------------

    def _type(self, type_name: str) -> drgn.Type:
        try:
            return self.prog.type(type_name)
        except (LookupError, SyntaxError, ValueError):
            raise TypeNotFound(type_name) from None

    def type_size(self, type_name: str) -> int:
        try:  # drgn.sizeof() also sizes typedefs and arrays
            return int(drgn.sizeof(self._type(type_name)))
        except TypeError:
            raise TypeNotFound(f"{type_name}: incomplete type") from None

    def member(self, type_name: str, member: str) -> Member:
        """Layout of *member*, a path of ``.name`` and ``[index]`` steps (``"mem[0].base"``), in *type_name*.

        :param type_name: a struct or union type (``"struct task_struct"``) or a typedef of one.
        """
        current = self._type(type_name)
        bits = 0
        bit_size: int | None = None
        for step in member_path(type_name, member):
            outer = current.unaliased()
            if isinstance(step, str):
                if outer.kind not in _COMPOUND:
                    raise TypeNotFound(f"{type_name}.{member}")
                try:
                    found = outer.member(step)
                except LookupError:
                    raise TypeNotFound(f"{type_name}.{member}") from None
                bits += found.bit_offset
                bit_size = found.bit_field_size
                current = found.type
            else:
                if outer.kind != drgn.TypeKind.ARRAY or outer.type.size is None:
                    raise TypeNotFound(f"{type_name}.{member}: not an array")
                current = outer.type
                bits += step * current.size * 8
                bit_size = None
        try:  # typedefs and arrays have no .size of their own
            size = drgn.sizeof(current)
        except TypeError:  # incomplete: a flexible array, void
            size = 0
        if bit_size is not None:
            return Member(member, bits // 8, size, current.type_name(), bits % 8, bit_size)
        return Member(member, bits // 8, size, current.type_name())

    def type_info(self, type_name: str) -> CType:
        return self._types.convert(self._type(type_name))

    def variable_type(self, name: str) -> CType:
        """The type drgn's DWARF index gives variable, function or enumeration constant *name* (module
        ones only while their debug info is loaded and not hidden)."""
        flags = drgn.FindObjectFlags.VARIABLE | drgn.FindObjectFlags.FUNCTION | drgn.FindObjectFlags.CONSTANT
        try:
            obj = self.prog.object(name, flags)
        except (LookupError, ValueError, SyntaxError):
            raise SymbolNotFound(name) from None
        if self._hidden_modules and obj.address_ is not None:
            try:
                owner = self.prog.module(obj.address_)
            except LookupError:
                owner = None
            if isinstance(owner, drgn.RelocatableModule) and owner.name in self._hidden_modules:
                raise SymbolNotFound(name)
        return self._types.convert(obj.type_)

    def enumerator(self, name: str) -> int:
        try:
            return int(self.prog.constant(name).value_())
        except (LookupError, TypeError, ValueError):
            raise SymbolNotFound(name) from None

    def enumerators(self, type_name: str) -> list[tuple[str, int]]:
        names = [type_name] if type_name.startswith("enum ") else [f"enum {type_name}", type_name]
        for name in names:
            try:
                found = self.prog.type(name).unaliased()
            except (LookupError, SyntaxError, ValueError):
                continue
            if found.kind == drgn.TypeKind.ENUM and found.enumerators is not None:
                return [(e.name, e.value) for e in found.enumerators]
        raise TypeNotFound(type_name)

    # ---- registers -------------------------------------------------------------------------------------

    def crashed_cpu(self) -> int | None:
        """The CPU in ``panic_cpu`` (drgn's crashed thread); ``None`` for a live kernel or no panic."""
        if self._info.live:
            return None
        try:
            return int(task_cpu(self.prog.crashed_thread().object))
        except (LookupError, ValueError, drgn.FaultError):
            return None

    def cpu_registers(self, cpu: int) -> Registers | None:
        """*cpu*'s registers from its ``NT_PRSTATUS`` note (:func:`crashcompat.core.opening.cpu_note`
        picks it), else drgn's first frame of the task on *cpu*; ``None`` for a live kernel."""
        if self._info.live:
            return None
        if self._kernel is None:
            self._kernel = Kernel(self)
        registers = cpu_note_registers(self._kernel, cpu, self._header.notes if self._header else ())
        return registers if registers is not None else self._first_frame_registers(cpu)

    def _first_frame_registers(self, cpu: int) -> Registers | None:
        try:
            frame = self.prog.stack_trace(cpu_curr(self.prog, cpu))[0]
            registers = frame.registers()
        except (LookupError, ValueError, drgn.FaultError, NotImplementedError, IndexError):
            return None
        return {_DRGN_REGISTER_NAMES.get(k, k): v for k, v in registers.items()}

    # ---- module debug info -----------------------------------------------------------------------------

    def load_module_debuginfo(self, name: str, path: str, sections: Mapping[str, int]) -> None:
        """Give module *name* the debug info in *path*; drgn checks the ``.ko``'s build ID against the
        module's.  Section addresses drgn did not read from the kernel are taken from *sections*.

        Limits: drgn keeps one debug file per module for the program's life, so loading a different file
        for a module that already has one fails; :meth:`unload_module_debuginfo` only hides its symbols.
        """
        try:
            module = self.prog.module(name)
        except LookupError:
            self.prog.create_loaded_modules()
            try:
                module = self.prog.module(name)
            except LookupError:
                raise TargetError(f"{name}: no such module") from None
        if not isinstance(module, drgn.RelocatableModule):
            raise TargetError(f"{name}: not a loadable module")
        if module.debug_file_path is not None:
            if module.debug_file_path != os.path.realpath(path):
                raise TargetError(f"{name}: debug info already loaded from {module.debug_file_path}")
            self._hidden_modules.discard(name)
            self._forget_symbols(everything=True)
            return
        if not os.path.isfile(path):
            raise TargetError(f"{path}: No such file or directory")
        for section, address in sections.items():
            if section not in module.section_addresses:
                module.section_addresses[section] = address
        try:
            module.try_file(path)
        except OSError as e:
            raise TargetError(f"{path}: {e.strerror or e}") from None
        except Exception as e:  # drgn reports unreadable ELF files with its own exception types
            raise TargetError(f"{path}: {e}") from None
        self._forget_symbols(everything=True)
        if module.debug_file_path is None:
            raise TargetError(f"{path}: does not match module {name} (build ID)")
        self._hidden_modules.discard(name)

    def unload_module_debuginfo(self, name: str) -> None:
        """Hide module *name*'s debug-info symbols (drgn cannot drop them; its types stay known)."""
        self._hidden_modules.add(name)
        self._forget_symbols(everything=True)

    # ---- VMCOREINFO --------------------------------------------------------------------------------------

    @cached_property
    def vmcoreinfo(self) -> Mapping[str, str]:
        """The dump's VMCOREINFO note as drgn read it; the kernel's own buffer when there is none."""
        try:
            text = self.prog["VMCOREINFO"].string_().decode("ascii", "replace")
        except (LookupError, drgn.FaultError, ValueError):
            return super().vmcoreinfo
        return parse_vmcoreinfo(text)
