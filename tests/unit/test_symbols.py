"""The ELF reader, the vmlinux symbol table and the module kallsyms tables, on a generated vmlinux and a
synthetic kernel.

Type letters are checked against binutils ``nm`` (when installed), the table against crash 8.0.2's rules
(symbols.c ``store_symbols``, ``x86_64_verify_symbol``, ``value_search``, ``store_module_kallsyms_v2``).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from crashcompat.core import elf
from crashcompat.core.kernel import Kernel, modules, symbols
from crashcompat.core.session import Session
from crashcompat.core.target import SymbolNotFound
from crashcompat.testing.synthetic import SyntheticTarget

TEXT, RODATA, DATA, BSS = 0xFFFFFFFF81000000, 0xFFFFFFFF82000000, 0xFFFFFFFF82A00000, 0xFFFFFFFF83000000
OFFSET = 0x1C00000  # the KASLR offset of the synthetic kernel
LOCAL, GLOBAL, WEAK = 0, 1, 2
NOTYPE, OBJECT, FUNC, SECTION, FILE = 0, 1, 2, 3, 4
ABS = 0xFFF1

# (name, value, size, binding, type, section index); section indexes as in SECTIONS below.
SYMBOLS = [
    ("vmlinux.c", 0, 0, LOCAL, FILE, ABS),
    ("", TEXT, 0, LOCAL, SECTION, 1),  # bfd names it ".text"; dropped: it sorts before _stext
    ("__per_cpu_start", 0, 0, GLOBAL, NOTYPE, 4),
    ("fixed_percpu_data", 0, 48, GLOBAL, OBJECT, 4),
    ("cpu_number", 0x100, 4, GLOBAL, OBJECT, 4),
    ("early_abs", 0x1000, 0, GLOBAL, NOTYPE, ABS),  # absolute, before _text: dropped
    ("__per_cpu_end", 0x2000, 0, GLOBAL, NOTYPE, 4),
    ("_text", TEXT, 0, GLOBAL, NOTYPE, 1),
    ("_stext", TEXT, 0, GLOBAL, NOTYPE, 1),
    ("startup_64", TEXT, 0, GLOBAL, FUNC, 1),
    ("do_thing", TEXT + 0x100, 0x40, GLOBAL, FUNC, 1),
    ("helper.isra.0", TEXT + 0x200, 0x20, LOCAL, FUNC, 1),
    ("helper.cold", TEXT + 0x300, 0x10, LOCAL, FUNC, 1),
    ("weak_fn", TEXT + 0x400, 0x10, WEAK, FUNC, 1),
    ("alias_b", TEXT + 0x500, 0x10, GLOBAL, FUNC, 1),
    ("alias_a", TEXT + 0x500, 0x10, GLOBAL, FUNC, 1),
    ("_etext", TEXT + 0x1000, 0, GLOBAL, NOTYPE, 1),
    ("linux_banner", RODATA, 0x40, GLOBAL, OBJECT, 2),
    ("jiffies", DATA, 8, GLOBAL, OBJECT, 3),
    ("static_var", DATA + 0x10, 8, LOCAL, OBJECT, 3),
    ("modules", DATA + 0x20, 16, GLOBAL, OBJECT, 3),
    ("bss_var", BSS, 8, GLOBAL, OBJECT, 5),
    ("local_bss", BSS + 8, 8, LOCAL, OBJECT, 5),
]

# (name, type, flags, address, size): .rodata writable, as in Debian's vmlinux.
SECTIONS = [
    (".text", 1, 0x6, TEXT, 0x1000),
    (".rodata", 1, 0x3, RODATA, 0x1000),
    (".data", 1, 0x3, DATA, 0x1000),
    (".data..percpu", 1, 0x3, 0, 0x2000),
    (".bss", 8, 0x3, BSS, 0x1000),
]


def write_elf(path: Path) -> None:
    """A minimal ELF64 x86_64 executable: the SECTIONS (no contents) and a .symtab of SYMBOLS."""
    strtab = b"\0"
    syms = [bytes(24)]
    for name, value, size, bind, kind, shndx in SYMBOLS:
        offset = 0
        if name:
            offset = len(strtab)
            strtab += name.encode() + b"\0"
        syms.append(struct.pack("<IBBHQQ", offset, bind << 4 | kind, 0, shndx, value, size))
    symtab = b"".join(syms)
    names = [s[0] for s in SECTIONS] + [".symtab", ".strtab", ".shstrtab"]
    shstrtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    name_off = {n: shstrtab.index(b"\0" + n.encode() + b"\0") + 1 for n in names}
    body = symtab + strtab + shstrtab
    shoff = 64 + len(body)
    headers = [bytes(64)]
    for name, kind, flags, address, size in SECTIONS:
        headers.append(
            struct.pack("<IIQQQQIIQQ", name_off[name], kind, flags, address, 64, size, 0, 0, 16, 0)
        )
    n = len(SECTIONS)
    headers.append(struct.pack("<IIQQQQIIQQ", name_off[".symtab"], 2, 0, 0, 64, len(symtab), n + 2, 1, 8, 24))
    headers.append(
        struct.pack("<IIQQQQIIQQ", name_off[".strtab"], 3, 0, 0, 64 + len(symtab), len(strtab), 0, 0, 1, 0)
    )
    headers.append(
        struct.pack(
            "<IIQQQQIIQQ",
            name_off[".shstrtab"],
            3,
            0,
            0,
            64 + len(symtab) + len(strtab),
            len(shstrtab),
            0,
            0,
            1,
            0,
        )
    )
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    header = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 2, 62, 1, TEXT, 0, shoff, 0, 64, 0, 0, 64, len(headers), n + 3
    )
    path.write_bytes(header + body + b"".join(headers))


@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("vmlinux") / "vmlinux"
    write_elf(path)
    return str(path)


@pytest.fixture
def kernel(vmlinux: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kernel:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the disk cache goes to a scratch directory
    t = SyntheticTarget()
    t.info.vmlinux = vmlinux
    t.set_vmcoreinfo({"KERNELOFFSET": f"{OFFSET:x}"})
    return Kernel(t)


def reloc(value: int) -> int:
    return value + OFFSET


# ---- the ELF reader ----------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("nm") is None, reason="binutils nm not installed")
def test_letters_match_nm(vmlinux: str) -> None:
    """bfd's classification (what crash and nm print) for every symbol nm lists."""
    listed = subprocess.run(["nm", vmlinux], capture_output=True, text=True, check=True).stdout
    expected = {line[19:]: line[17] for line in listed.splitlines()}
    ours = {s.name: s.letter for s in elf.ElfFile(vmlinux).symbols() if s.type not in (SECTION, FILE)}
    assert ours == expected


def test_section_symbols_take_the_section_name(vmlinux: str) -> None:
    found = [s for s in elf.ElfFile(vmlinux).symbols() if s.type == SECTION]
    assert [(s.name, s.letter) for s in found] == [(".text", "t")]


def test_not_elf(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"nope" * 40)
    with pytest.raises(elf.ElfError):
        elf.ElfFile(str(bad))


# ---- the vmlinux table -------------------------------------------------------------------------------------


def test_table_order_filter_and_relocation(kernel: Kernel) -> None:
    listed = [(s.address, s.type_char, s.name) for s in symbols.kernel_symbols(kernel)]
    assert listed == [
        # per-cpu symbols, kept from __per_cpu_start on, not relocated (outside [.text, last section end])
        (0, "D", "__per_cpu_start"),
        (0, "D", "fixed_percpu_data"),
        (0x100, "D", "cpu_number"),
        (0x2000, "D", "__per_cpu_end"),
        # same value: by name (strcmp); clone suffix cut, .cold kept
        (reloc(TEXT), "T", "_stext"),
        (reloc(TEXT), "T", "_text"),
        (reloc(TEXT), "T", "startup_64"),
        (reloc(TEXT + 0x100), "T", "do_thing"),
        (reloc(TEXT + 0x200), "t", "helper"),
        (reloc(TEXT + 0x300), "t", "helper.cold"),
        (reloc(TEXT + 0x400), "W", "weak_fn"),
        (reloc(TEXT + 0x500), "T", "alias_a"),
        (reloc(TEXT + 0x500), "T", "alias_b"),
        (reloc(TEXT + 0x1000), "T", "_etext"),
        (reloc(RODATA), "D", "linux_banner"),  # .rodata is SHF_WRITE in this vmlinux, so bfd says D
        (reloc(DATA), "D", "jiffies"),
        (reloc(DATA + 0x10), "d", "static_var"),
        (reloc(DATA + 0x20), "D", "modules"),
        (reloc(BSS), "B", "bss_var"),
        (reloc(BSS + 8), "b", "local_bss"),
    ]


def test_lookup_like_value_search(kernel: Kernel) -> None:
    exact = symbols.lookup(kernel, reloc(TEXT))
    assert exact is not None and exact.name == "_stext"  # the first symbol at that value
    inside = symbols.lookup(kernel, reloc(TEXT + 0x10))
    assert inside is not None and inside.name == "startup_64"  # the last symbol at the value below
    alias = symbols.lookup(kernel, reloc(TEXT + 0x510))
    assert alias is not None and alias.name == "alias_b"
    assert symbols.format_offset(alias, reloc(TEXT + 0x510), 10) == "alias_b+16"
    assert symbols.format_offset(alias, reloc(TEXT + 0x510), 16) == "alias_b+0x10"
    assert symbols.format_offset(alias, alias.address, 16) == "alias_b"
    assert symbols.lookup(kernel, 0x100) is None  # per-cpu offsets are below the first kernel symbol
    far = symbols.lookup(kernel, reloc(RODATA + 0x500))  # however far beyond its size
    assert far is not None and far.name == "linux_banner"
    assert symbols.lookup(kernel, reloc(BSS + 8) + 1) is None  # above the last symbol: out of range


def test_names(kernel: Kernel) -> None:
    assert symbols.address_of(kernel, "helper") == reloc(TEXT + 0x200)
    with pytest.raises(SymbolNotFound):
        symbols.address_of(kernel, "no_such_symbol")
    assert [s.name for s in symbols.search(kernel, "helper")] == ["helper", "helper.cold"]
    assert symbols.is_kernel_text(kernel, reloc(TEXT + 0x210))
    assert not symbols.is_kernel_text(kernel, reloc(DATA))


def test_kaslr_from_stext_without_kerneloffset(
    vmlinux: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    t = SyntheticTarget()
    t.info.vmlinux = vmlinux
    t.set_vmcoreinfo({"SYMBOL(_stext)": f"{reloc(TEXT):x}"})
    assert symbols.address_of(Kernel(t), "jiffies") == reloc(DATA)


def test_disk_cache_round_trip(vmlinux: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    symbols._TABLES.clear()
    first = symbols._load_vmlinux(vmlinux)
    symbols._TABLES.clear()
    assert list((tmp_path / "crashcompat").glob("symtab-*.bin"))
    loaded = symbols._load_vmlinux(vmlinux)
    # The cached table holds packed arrays and a joined name string: compare the items.
    for name in ("values", "names", "types", "sizes"):
        assert list(getattr(loaded, name)) == list(getattr(first, name))
    assert [loaded.names[i] for i in range(len(loaded.names))] == list(first.names)
    for name in ("first_ksymbol", "percpu_syms", "text_start", "last_section_end", "stext", "code_ranges"):
        assert getattr(loaded, name) == getattr(first, name)
    assert loaded.sections == first.sections


# ---- modules -----------------------------------------------------------------------------------------------


def add_module(kernel: Kernel, base: int = 0xFFFFFFFFC0400000, size: int = 0x4000) -> modules.Module:
    """One module "m" on the ``modules`` list with core kallsyms: ``mod_local`` (st_info 0x02) at base,
    ``mod_fn`` (0x12) at base+0x10, ``mod_data`` (0x11) at base+0x1000, an undefined and an outside one."""
    t = kernel.target
    assert isinstance(t, SyntheticTarget)
    t.add_struct(
        "struct list_head", 16, {"next": (0, 8, "struct list_head *"), "prev": (8, 8, "struct list_head *")}
    )
    t.add_struct(
        "struct module_layout",
        24,
        {"base": (0, 8, "void *"), "size": (8, 4, "unsigned int"), "text_size": (12, 4, "unsigned int")},
    )
    t.add_struct(
        "struct mod_kallsyms",
        32,
        {"symtab": (0, 8, "Elf64_Sym *"), "num_symtab": (8, 4, "unsigned int"), "strtab": (16, 8, "char *"),
         "typetab": (24, 8, "char *")},
    )  # fmt: skip
    t.add_struct(
        "struct module",
        256,
        {
            "list": (0, 16, "struct list_head"),
            "name": (16, 56, "char [56]"),
            "syms": (72, 8, "const struct kernel_symbol *"),
            "num_syms": (80, 4, "unsigned int"),
            "core_layout": (96, 24, "struct module_layout"),
            "init_layout": (128, 24, "struct module_layout"),
            "taints": (160, 8, "unsigned long"),
            "core_kallsyms": (176, 32, "struct mod_kallsyms"),
        },
    )
    t.map(base, bytes(size))
    strtab = b"\0mod_local\0mod_fn\0mod_data\0undef\0far\0"
    entries = [
        (0, 0, 0, 0),
        (1, 0x02, 1, base),
        (11, 0x12, 1, base + 0x10),
        (18, 0x11, 2, base + 0x1000),
        (27, 0x10, 0, 0),  # undefined
        (33, 0x02, 1, base + size + 0x100),  # outside the module
    ]
    symtab = b"".join(
        struct.pack("<IBBHQQ", n, info, 0, shndx, value, 0) for n, info, shndx, value in entries
    )
    t.write(base + 0x2000, symtab)
    t.write(base + 0x2400, strtab)
    mod = t.alloc(256)
    head = reloc(DATA + 0x20)  # the vmlinux "modules" list head
    t.map(head, struct.pack("<QQ", mod, mod))
    t.write(mod, struct.pack("<QQ", head, head) + b"m".ljust(56, b"\0"))
    t.write(mod + 96, struct.pack("<QII", base, size, 0x1000))
    t.write_u64(mod + 160, 0x3000)  # O and E
    t.write(mod + 176, struct.pack("<QIIQQ", base + 0x2000, len(entries), 0, base + 0x2400, 0))
    t.add_symbol("modules", head, 16)
    found = modules.find_module(kernel, "m")
    assert found is not None
    return found


def test_module_table_like_crash(kernel: Kernel) -> None:
    mod = add_module(kernel)
    assert (mod.base, mod.size, mod.text_size, mod.taints) == (0xFFFFFFFFC0400000, 0x4000, 0x1000, 0x3000)
    listed = [(s.address - mod.base, s.type_char, s.name) for s in symbols.module_symbols(kernel, "m")]
    assert listed == [
        (0, "m", "_MODULE_START_m"),
        (0, "t", "mod_local"),
        (0x10, "T", "mod_fn"),
        (0x1000, "?", "mod_data"),  # crash 8.0.2 maps st_info 0x11 to '?'
        (0x4000, "m", "_MODULE_END_m"),
    ]
    at_base = symbols.lookup(kernel, mod.base)
    assert at_base is not None and (at_base.name, at_base.module) == ("mod_local", "m")
    inside = symbols.lookup(kernel, mod.base + 0x15)
    assert inside is not None and symbols.format_offset(inside, mod.base + 0x15) == "mod_fn+5"
    assert symbols.lookup(kernel, mod.base + 0x4000) is None  # the end is outside
    assert symbols.address_of(kernel, "mod_data") == mod.base + 0x1000
    assert symbols.is_kernel_text(kernel, mod.base + 0xFFF) and not symbols.is_kernel_text(
        kernel, mod.base + 0x1000
    )


def test_sym_and_mod_commands(kernel: Kernel) -> None:
    add_module(kernel)
    session = Session(kernel.target)
    assert session.run("sym ffffffffc0400015", echo=False) == "ffffffffc0400015 (T) mod_fn+5 [m] \n"
    assert session.run("sym mod_data", echo=False) == "ffffffffc0401000 (?) mod_data [m]\n"
    assert session.run("sym 0x100", echo=False) == "sym: invalid address: 0x100\n"
    assert (
        session.run("sym nosuch_sym", echo=False)
        == "symbol not found: nosuch_sym\npossible alternatives:\n  (none found)\n"
    )
    assert session.run("sym -m m", echo=False).splitlines()[0] == "ffffffffc0400000 MODULE START: m"
    listing = session.run("mod", echo=False).splitlines()
    assert listing[0] == "     MODULE       NAME        BASE         SIZE  OBJECT FILE"
    assert listing[1].endswith("  m  ffffffffc0400000  16384  (not loaded)  [CONFIG_KALLSYMS]")
    assert session.run("mod -s nosuch", echo=False).startswith("Usage:\n  mod -s module")
