"""Loaded kernel modules: the ``modules`` list, their memory layout, kallsyms and section addresses.

crash's view (kernel.c ``module_init``, symbols.c ``store_module_symbols_v2``): one entry per ``struct
module`` on the ``modules`` list, **sorted by base address** (``compare_mods``); BASE is the core text
base and SIZE the core size — ``core_layout.base``/``core_layout.size`` up to Linux 6.3, and from 6.4
(commit ac3b43283923 "module: replace module_layout with module_memory") ``mem[MOD_TEXT].base`` and the
sum of ``mem[t].size`` for the core types (everything before ``MOD_INIT_TEXT``), as crash 8.0.6 does.

Nothing here prints; see :mod:`crashcompat.plugins.mod`.
"""

from __future__ import annotations

import fnmatch
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from crashcompat.core.elf import ElfFile
from crashcompat.core.kernel import Kernel, Struct
from crashcompat.core.kernel import system as _system
from crashcompat.core.target import FaultError, SymbolNotFound, TargetError, TypeNotFound

__all__ = [
    "DEBUG_MODULES",
    "KallsymsEntry",
    "Module",
    "build_id",
    "exported_symbols",
    "find_module",
    "find_object",
    "for_each_module",
    "iter_taint_letters",
    "kallsyms",
    "module_at",
    "object_matches",
    "sections",
]

#: Bound on the ``modules`` list walk: a corrupted or cyclic list stops here.
MAX_MODULES = 8192

_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym


@dataclass(frozen=True)
class KallsymsEntry:
    """One ``Elf64_Sym`` of a module's core kallsyms (``mod->core_kallsyms``).

    :param info: the raw ``st_info`` byte; :param typetab: the kernel's own nm letter
        (``core_kallsyms.typetab[i]``, Linux ≥ 5.2), or ``""`` when the kernel has no typetab.
    """

    name: str
    value: int
    size: int
    info: int
    shndx: int
    typetab: str = ""


@dataclass(frozen=True)
class Module:
    """A loaded module as crash sees it.

    :param address: ``struct module *``.
    :param base: the core (text) base crash prints as BASE / TEXT_BASE.
    :param size: crash's SIZE: the core size.
    :param text_size: size of the core text, so ``[base, base + text_size)`` is text (crash's
        ``mod_etext_guess``).
    :param core: the core memory ranges ``(start, end)`` (one range before 6.4).
    :param init_base: ``init_layout.base`` (0 once the module finished initialising).
    :param percpu: ``mod->percpu`` and :param percpu_size: its size.
    :param taints: ``mod->taints`` (bits of ``taint_flags[]``).
    """

    address: int
    name: str
    base: int
    size: int
    text_size: int
    core: tuple[tuple[int, int], ...]
    init_base: int = 0
    init_size: int = 0
    percpu: int = 0
    percpu_size: int = 0
    taints: int = 0
    num_syms: int = 0
    syms: int = 0
    num_gpl_syms: int = 0
    gpl_syms: int = 0
    kallsyms_symtab: int = 0
    kallsyms_num: int = 0
    kallsyms_strtab: int = 0
    kallsyms_typetab: int = 0
    #: Linux >= 6.4: ``(type, base, size)`` of each non-empty ``mem[]`` slot, ``type`` the
    #: ``enum mod_mem_type`` name without ``MOD_`` (``"TEXT"``, ``"INIT_DATA"`` …); crash marks each with
    #: ``_MODULE_<type>_START_<name>``/``_END_`` symbols.  Empty before 6.4.
    regions: tuple[tuple[str, int, int], ...] = ()

    def contains(self, address: int) -> bool:
        """Whether *address* is in the module's core memory (crash ``IN_MODULE``)."""
        return any(start <= address < end for start, end in self.core)

    def contains_init(self, address: int) -> bool:
        """Whether *address* is in the module's (still present) init memory (``IN_MODULE_INIT``)."""
        return self.init_size > 0 and self.init_base <= address < self.init_base + self.init_size

    def contains_percpu(self, address: int) -> bool:
        return self.percpu_size > 0 and self.percpu <= address < self.percpu + self.percpu_size


def for_each_module(kernel: Kernel) -> list[Module]:
    """Every module on the ``modules`` list, in crash's order (by base address).

    Cached per stop.  A corrupted list is cut at the first unreadable entry, a repeated entry, or
    :data:`MAX_MODULES`.
    """
    return kernel.memo("modules.list", lambda: _read_modules(kernel))


def find_module(kernel: Kernel, name: str) -> Module | None:
    """The module called *name*, or ``None``."""
    for mod in for_each_module(kernel):
        if mod.name == name:
            return mod
    return None


def module_at(kernel: Kernel, address: int) -> Module | None:
    """The module whose core, init or per-cpu memory holds *address* (crash ``module_symbol``)."""
    for start, end, mod in _module_ranges(kernel):
        if start <= address < end:
            return mod
    return None


def _module_ranges(kernel: Kernel) -> list[tuple[int, int, Module]]:
    """Each module's core, init and per-cpu ranges (:meth:`Module.contains` and the like), in module
    order: the unwinder asks :func:`module_at` about every stack word."""

    def compute() -> list[tuple[int, int, Module]]:
        out: list[tuple[int, int, Module]] = []
        for mod in for_each_module(kernel):
            out += [(start, end, mod) for start, end in mod.core]
            if mod.init_size > 0:
                out.append((mod.init_base, mod.init_base + mod.init_size, mod))
            if mod.percpu_size > 0:
                out.append((mod.percpu, mod.percpu + mod.percpu_size, mod))
        return out

    return kernel.memo("modules.ranges", compute)


def _read_modules(kernel: Kernel) -> list[Module]:
    try:
        head = kernel.symbol("modules")
    except SymbolNotFound:
        return []
    list_off = kernel.offsetof("struct module", "list")
    out: list[Module] = []
    seen: set[int] = set()
    # A module that cannot be read is an error (FaultError), as in crash: stopping there would present a
    # truncated dump's partial list as the whole one.
    node = kernel.read_pointer(head)
    while node != head and node not in seen and len(out) < MAX_MODULES:
        seen.add(node)
        mod = kernel.struct("struct module", node - list_off)
        out.append(_module_from_struct(kernel, mod))
        node = mod.ptr("list.next")
    out.sort(key=lambda m: m.base)
    return out


def _module_from_struct(kernel: Kernel, mod: Struct) -> Module:
    """Build a :class:`Module` from a read ``struct module``.

    :param mod: ``struct module`` view.
    """
    name = mod.cstr("name")
    try:
        # Linux >= 6.4: struct module_memory mem[MOD_MEM_NUM_TYPES] (commit ac3b43283923).
        kinds = dict(kernel.target.enumerators("enum mod_mem_type"))
        # Only 0 <= value < MOD_MEM_NUM_TYPES index mem[]: the enum also holds MOD_INVALID (-1) on 6.12.
        slots = {k: v for k, v in kinds.items() if 0 <= v < kinds["MOD_MEM_NUM_TYPES"]}
        core_kinds = [v for v in slots.values() if v < kinds["MOD_INIT_TEXT"]]
        init_kinds = [v for k, v in slots.items() if k.startswith("MOD_INIT_")]
        ranges = []
        size = 0
        regions = []
        for kind, index in sorted(slots.items(), key=lambda kv: kv[1]):
            length = mod.uint(f"mem[{index}].size")
            if length:
                regions.append((kind.removeprefix("MOD_"), mod.ptr(f"mem[{index}].base"), length))
        for index in core_kinds:
            start, length = mod.ptr(f"mem[{index}].base"), mod.uint(f"mem[{index}].size")
            size += length
            if length:
                ranges.append((start, start + length))
        base = mod.ptr(f"mem[{kinds['MOD_TEXT']}].base")
        text_size = mod.uint(f"mem[{kinds['MOD_TEXT']}].size")
        init_base = mod.ptr(f"mem[{kinds['MOD_INIT_TEXT']}].base")
        init_size = sum(mod.uint(f"mem[{index}].size") for index in init_kinds)
        core = tuple(ranges)
    except (TypeNotFound, KeyError, TargetError):
        base = mod.ptr("core_layout.base")
        size = mod.uint("core_layout.size")
        text_size = mod.uint("core_layout.text_size")
        init_base = mod.ptr("init_layout.base")
        init_size = mod.uint("init_layout.size")
        core = ((base, base + size),)
        regions = []
    percpu = mod.ptr("percpu") if mod.has("percpu") else 0
    percpu_size = mod.uint("percpu_size") if mod.has("percpu_size") else 0
    kallsyms = "core_kallsyms" if mod.has("core_kallsyms.symtab") else ""
    return Module(
        address=mod.address,
        name=name,
        base=base,
        size=size,
        text_size=text_size,
        core=core,
        init_base=init_base,
        init_size=init_size,
        percpu=percpu,
        percpu_size=percpu_size,
        taints=mod.uint("taints") if mod.has("taints") else 0,
        num_syms=mod.uint("num_syms"),
        syms=mod.ptr("syms"),
        num_gpl_syms=mod.uint("num_gpl_syms") if mod.has("num_gpl_syms") else 0,
        gpl_syms=mod.ptr("gpl_syms") if mod.has("gpl_syms") else 0,
        kallsyms_symtab=mod.ptr(f"{kallsyms}.symtab") if kallsyms else 0,
        kallsyms_num=mod.uint(f"{kallsyms}.num_symtab") if kallsyms else 0,
        kallsyms_strtab=mod.ptr(f"{kallsyms}.strtab") if kallsyms else 0,
        kallsyms_typetab=mod.ptr(f"{kallsyms}.typetab") if mod.has(f"{kallsyms}.typetab") else 0,
        regions=tuple(regions),
    )


def kallsyms(kernel: Kernel, module: Module) -> list[KallsymsEntry]:
    """The module's core kallsyms symbols (index 0, the null symbol, excluded), in table order.

    An unreadable table (a filtered dump, a corrupted pointer) gives an empty list.
    """

    def compute() -> list[KallsymsEntry]:
        count = min(module.kallsyms_num, 1 << 20)
        if count <= 1 or not module.kallsyms_symtab:
            return []
        try:
            raw = kernel.read(module.kallsyms_symtab, count * _SYM.size)
            types = kernel.read(module.kallsyms_typetab, count) if module.kallsyms_typetab else b""
        except FaultError:
            return []
        entries = list(_SYM.iter_unpack(raw))
        strings = _read_strtab(kernel, module, max((e[0] for e in entries), default=0))
        out = []
        for i, (st_name, st_info, _other, st_shndx, st_value, st_size) in enumerate(entries):
            if i == 0:
                continue
            end = strings.find(b"\0", st_name)
            name = strings[st_name : end if end >= 0 else len(strings)].decode("utf-8", "replace")
            letter = chr(types[i]) if i < len(types) else ""
            out.append(KallsymsEntry(name, st_value, st_size, st_info, st_shndx, letter))
        return out

    return kernel.memo(f"modules.kallsyms:{module.address:x}", compute)


def _read_strtab(kernel: Kernel, module: Module, last_offset: int) -> bytes:
    """The module's kallsyms string table up to the end of the string at *last_offset*."""
    size = last_offset + 512
    # Stay inside the module's memory: the strtab lives in the core (or init) region.
    for start, end in module.core:
        if start <= module.kallsyms_strtab < end:
            size = min(size, end - module.kallsyms_strtab)
    try:
        return kernel.read(module.kallsyms_strtab, size)
    except FaultError:
        out = bytearray()
        address = module.kallsyms_strtab
        while len(out) < size:
            chunk = min(size - len(out), 4096 - address % 4096)
            try:
                out += kernel.read(address, chunk)
            except FaultError:
                break
            address += chunk
        return bytes(out)


def exported_symbols(kernel: Kernel, module: Module) -> list[tuple[str, int]]:
    """``(name, value)`` of the module's ``EXPORT_SYMBOL`` and ``EXPORT_SYMBOL_GPL`` tables, in that
    order (``mod->syms``, then ``mod->gpl_syms``: ``struct kernel_symbol``)."""

    def compute() -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for table, count in ((module.syms, module.num_syms), (module.gpl_syms, module.num_gpl_syms)):
            if not table or not count:
                continue
            out += _kernel_symbols(kernel, table, min(count, 1 << 16))
        return out

    return kernel.memo(f"modules.exports:{module.address:x}", compute)


def _kernel_symbols(kernel: Kernel, table: int, count: int) -> list[tuple[str, int]]:
    """Decode an array of ``struct kernel_symbol``: either absolute ``value``/``name`` pointers or,
    with CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (commit 7290d5809571, v4.19), ``int value_offset`` /
    ``int name_offset`` relative to the fields themselves."""
    size = kernel.sizeof("struct kernel_symbol")
    try:
        raw = kernel.read(table, count * size)
    except FaultError:
        return []
    try:
        value_off = kernel.offsetof("struct kernel_symbol", "value_offset")
        name_off = kernel.offsetof("struct kernel_symbol", "name_offset")
        relative = True
    except TypeNotFound:
        value_off = kernel.offsetof("struct kernel_symbol", "value")
        name_off = kernel.offsetof("struct kernel_symbol", "name")
        relative = False
    out = []
    for i in range(count):
        entry = table + i * size
        if relative:
            value = (
                entry
                + value_off
                + int.from_bytes(raw[i * size + value_off : i * size + value_off + 4], "little", signed=True)
            )
            name_ptr = (
                entry
                + name_off
                + int.from_bytes(raw[i * size + name_off : i * size + name_off + 4], "little", signed=True)
            )
        else:
            value = int.from_bytes(raw[i * size + value_off : i * size + value_off + 8], "little")
            name_ptr = int.from_bytes(raw[i * size + name_off : i * size + name_off + 8], "little")
        value &= (1 << 64) - 1
        try:
            name = kernel.read_cstring(name_ptr & ((1 << 64) - 1), 512)
        except FaultError:
            continue
        if name:
            out.append((name, value))
    return out


def sections(kernel: Kernel, module: Module) -> dict[str, int]:
    """Section name → load address from ``mod->sect_attrs`` (what ``/sys/module/<m>/sections/`` shows),
    for handing a ``.ko`` to a debugger (``add-symbol-file``).  Empty when unavailable.

    ``struct module_sect_attr`` holds the name in ``battr.attr.name`` since Linux 5.8 (commit
    ed66f991bb19 "module: Refactor section attr into bin attribute"), in ``name`` before.  Once the module
    sysfs code dropped ``struct module_sect_attr`` and ``nsections`` (Linux 6.14's "module: sysfs: Drop
    member 'module_sect_attr::address'" series), ``attrs[]`` are plain ``struct bin_attribute`` with the
    address in ``private``, listed by the NULL-terminated ``grp.bin_attrs``.
    """

    def compute() -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            attrs = kernel.read_pointer(module.address + kernel.offsetof("struct module", "sect_attrs"))
            if not attrs:
                return out
            if not kernel.has_member("struct module_sect_attrs", "nsections"):
                return _bin_attribute_sections(kernel, attrs)
            nsections = kernel.read_u32(attrs + kernel.offsetof("struct module_sect_attrs", "nsections"))
            first = attrs + kernel.offsetof("struct module_sect_attrs", "attrs")
            size = kernel.sizeof("struct module_sect_attr")
            address_off = kernel.offsetof("struct module_sect_attr", "address")
            try:
                name_off = kernel.offsetof("struct module_sect_attr", "battr.attr.name")
            except TypeNotFound:
                name_off = kernel.offsetof("struct module_sect_attr", "name")
            for i in range(min(nsections, 1024)):
                entry = first + i * size
                name = kernel.read_cstring(kernel.read_pointer(entry + name_off), 256)
                if name:
                    out[name] = kernel.read_pointer(entry + address_off)
        except (FaultError, TypeNotFound, SymbolNotFound):
            pass
        return out

    return kernel.memo(f"modules.sections:{module.address:x}", compute)


def _bin_attribute_sections(kernel: Kernel, attrs: int) -> dict[str, int]:
    """:func:`sections` from a ``struct module_sect_attrs *`` whose ``attrs[]`` are ``struct bin_attribute``."""
    out: dict[str, int] = {}
    listed = kernel.read_pointer(attrs + kernel.offsetof("struct module_sect_attrs", "grp.bin_attrs"))
    name_off = kernel.offsetof("struct bin_attribute", "attr.name")
    private_off = kernel.offsetof("struct bin_attribute", "private")
    for i in range(1024):
        entry = kernel.read_pointer(listed + 8 * i) if listed else 0
        if not entry:
            break
        name = kernel.read_cstring(kernel.read_pointer(entry + name_off), 256)
        if name:
            out[name] = kernel.read_pointer(entry + private_off)
    return out


#: ``NT_GNU_BUILD_ID``, the ELF note type of the GNU build ID.
NT_GNU_BUILD_ID = 3
_NHDR = struct.Struct("<III")  # Elf64_Nhdr: n_namesz, n_descsz, n_type


def build_id(kernel: Kernel, module: Module) -> str | None:
    """The module's GNU build ID (hex) from its ELF notes as the kernel keeps them for
    ``/sys/module/<m>/notes``: ``mod->notes_attrs->attrs[i]`` (``struct bin_attribute``: ``private`` the
    note data, ``size`` its length), there since Linux 2.6.23 (commit 6d76013381ed "Add
    /sys/module/name/notes").  ``None`` when the kernel or its types do not say.

    :param module: a module of :func:`for_each_module` (``struct module *`` in ``module.address``).
    """

    def compute() -> str | None:
        try:
            attrs = kernel.read_pointer(module.address + kernel.offsetof("struct module", "notes_attrs"))
            if not attrs:
                return None
            count = kernel.read_u32(attrs + kernel.offsetof("struct module_notes_attrs", "notes"))
            first = attrs + kernel.offsetof("struct module_notes_attrs", "attrs")
            size = kernel.sizeof("struct bin_attribute")
            private_off = kernel.offsetof("struct bin_attribute", "private")
            size_off = kernel.offsetof("struct bin_attribute", "size")
            for i in range(min(count, 64)):
                entry = first + i * size
                length = kernel.read_u64(entry + size_off)
                data = kernel.read(kernel.read_pointer(entry + private_off), min(length, 4096))
                found = _gnu_build_id(data)
                if found is not None:
                    return found
        except (FaultError, TypeNotFound, SymbolNotFound):
            pass
        return None

    return kernel.memo(f"modules.build_id:{module.address:x}", compute)


def _gnu_build_id(notes: bytes) -> str | None:
    """The ``NT_GNU_BUILD_ID`` descriptor (hex) in a block of ELF notes, or ``None``."""
    offset = 0
    while offset + _NHDR.size <= len(notes):
        namesz, descsz, kind = _NHDR.unpack_from(notes, offset)
        name_at = offset + _NHDR.size
        desc_at = name_at + (namesz + 3) // 4 * 4
        if desc_at + descsz > len(notes):
            return None
        if kind == NT_GNU_BUILD_ID and notes[name_at : name_at + namesz].rstrip(b"\0") == b"GNU":
            return notes[desc_at : desc_at + descsz].hex()
        offset = desc_at + (descsz + 3) // 4 * 4
    return None


def iter_taint_letters(kernel: Kernel, module: Module) -> Iterator[str]:
    """The ``taint_flags[i].c_true`` letters of the module's taint bits that are module taints
    (crash ``show_module_taint_4_10``), in bit order."""
    if not module.taints:
        return
    try:
        table = kernel.symbol("taint_flags")
        size = kernel.sizeof("struct taint_flag")
        try:
            true_off = kernel.offsetof("struct taint_flag", "c_true")
        except TypeNotFound:
            true_off = kernel.offsetof("struct taint_flag", "true")
        module_off = kernel.offsetof("struct taint_flag", "module")
        count = kernel.target.lookup_symbol("taint_flags").size // size
    except (SymbolNotFound, TypeNotFound):
        return
    for bit in range(min(count, 64)):
        try:
            entry = kernel.read(table + bit * size, size)
        except FaultError:
            return
        if entry[module_off] and module.taints >> bit & 1:
            yield chr(entry[true_off])


#: crash's DEFAULT_REDHAT_DEBUG_LOCATION.
DEBUG_MODULES = "/usr/lib/debug/lib/modules"


def object_matches(kernel: Kernel, module: Module, path: str) -> bool:
    """Whether the object file *path* was built with *module*'s code: the GNU build IDs agree (or one
    side has none to compare).

    :raises ElfError: *path* is not an ELF file; :raises OSError: it cannot be read.
    """
    loaded = build_id(kernel, module)
    if loaded is None:
        return True
    on_disk = ElfFile(path).build_id()
    return on_disk is None or on_disk == loaded


# ---- finding object files (crash's find_module_objfile / module_objfile_search) --------------------------


def find_object(
    kernel: Kernel,
    name: str,
    filename: str | None = None,
    tree: str | None = None,
    extra: Sequence[str] = (),
) -> str | None:
    """crash's ``find_module_objfile``: search for module *name*'s object file (or for *filename*) under
    *tree*, else under ``/usr/lib/debug/lib/modules/<release>``, ``$CRASH_MODULE_PATH``,
    ``/lib/modules/<release>/updates``, ``/lib/modules/<release>`` and the vmlinux file's directory; then
    again with ``-`` for ``_`` in the name, then with ``[_-]`` for each ``_``.  *extra* directories
    (``triage --debug-root``) are searched after ``$CRASH_MODULE_PATH``."""
    found = _search(kernel, name, filename, tree, extra)
    if found is None:
        found = _search(kernel, name.replace("_", "-"), filename, tree, extra)
    if found is None and name.count("_") > 1:
        found = _search(kernel, name.replace("_", "[_-]"), filename, tree, extra)
    return found


def _search(
    kernel: Kernel, ref: str, filename: str | None, tree: str | None, extra: Sequence[str]
) -> str | None:
    file = filename or f"{ref}.o"
    if tree is not None:
        return _find_in(tree, (file, f"{ref}.ko", f"{ref}.ko.debug"), follow_links=True)
    try:
        release = _system.utsname(kernel).release
    except TargetError:
        release = ""
    places: list[tuple[str, tuple[str, ...]]] = [
        (f"{DEBUG_MODULES}/{release}", (file, f"{ref}.ko", f"{ref}.ko.debug"))
    ]
    env = os.environ.get("CRASH_MODULE_PATH")
    if env:
        places.append((env, (file, f"{ref}.ko", f"{ref}.ko.debug")))
    places += [(directory, (file, f"{ref}.ko", f"{ref}.ko.debug")) for directory in extra]
    places.append((f"/lib/modules/{release}/updates", (file, f"{ref}.ko")))
    places.append((f"/lib/modules/{release}", (file, f"{ref}.ko")))
    vmlinux = kernel.target.info.vmlinux
    if vmlinux:
        places.append((os.path.dirname(os.path.realpath(vmlinux)), (file, f"{ref}.ko", f"{ref}.ko.debug")))
    for directory, names in places:
        found = _find_in(directory, names)
        if found is not None:
            return found
    return None


def _find_in(directory: str, names: tuple[str, ...], follow_links: bool = False) -> str | None:
    """crash's ``search_directory_tree``: ``find DIR -name NAME``'s first hit (pre-order, directory
    order), for each name in turn."""
    if not os.path.isdir(directory):
        return None
    for name in names:
        if not name.startswith("("):
            found = _walk(directory, name, follow_links, 0)
            if found is not None:
                return found
    return None


def _walk(directory: str, pattern: str, follow_links: bool, depth: int) -> str | None:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        path = os.path.join(directory, entry.name)
        if fnmatch.fnmatchcase(entry.name, pattern):
            return path
        if depth < 64 and entry.is_dir(follow_symlinks=follow_links):
            found = _walk(path, pattern, follow_links, depth + 1)
            if found is not None:
                return found
    return None
