"""Opening rules shared by both backends (:mod:`crashcompat.core.opening`): crash's file errors, the
vmlinux of a release, the version check, the KASLR offset and which NT_PRSTATUS note is a CPU's."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from test_dumpfile import REGS, kdump, note, prstatus

from crashcompat.core import opening
from crashcompat.core.dumpfile import NT_PRSTATUS, parse_notes
from crashcompat.core.elf import ElfFile
from crashcompat.core.kernel import Kernel
from crashcompat.core.opening import OpenError
from crashcompat.core.target import DumpFormat
from crashcompat.testing.synthetic import SyntheticTarget

BANNER = b"Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0)"
RODATA, STEXT = 0xFFFFFFFF82000000, 0xFFFFFFFF81000000


# ---- files ----------------------------------------------------------------------------------------------


def refusal(call: Callable[[str], object], path: Path) -> str:
    with pytest.raises(OpenError) as caught:
        call(str(path))
    return str(caught.value)


def test_file_errors_are_crashs(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    assert refusal(opening.check_readable, missing) == f"{missing}: No such file or directory"
    assert refusal(opening.check_readable, tmp_path) == f"{tmp_path}: not a supported file format"
    text = tmp_path / "notes.txt"
    text.write_text("not a dump\n")
    assert refusal(opening.dump_header, text) == f"{text}: not a supported file format"
    if os.geteuid() != 0:  # root reads anything
        text.chmod(0)
        assert refusal(opening.check_readable, text) == f"{text}: Permission denied"


def test_dump_header_and_vmcoreinfo(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(kdump(31))
    header = opening.dump_header(str(path))
    assert header.format is DumpFormat.KDUMP_COMPRESSED
    assert opening.dump_vmcoreinfo(header.notes) == {"OSRELEASE": "6.1.0"}
    assert opening.dump_vmcoreinfo([]) == {}


def test_vmlinux_of_a_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        opening.vmlinux_candidates("6.1.0-57-cloud-amd64")[0]
        == "/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64"
    )
    present = tmp_path / "vmlinux-6.1.0"
    present.write_bytes(b"")
    monkeypatch.setattr(
        opening, "vmlinux_candidates", lambda release, roots=(): [str(tmp_path / "x"), str(present)]
    )
    assert opening.find_vmlinux("6.1.0") == str(present)
    monkeypatch.setattr(opening, "vmlinux_candidates", lambda release, roots=(): [str(tmp_path / "x")])
    with pytest.raises(OpenError) as caught:
        opening.find_vmlinux("6.1.0")
    assert str(caught.value) == (
        "cannot find a vmlinux for kernel 6.1.0: please enter the namelist (vmlinux) argument"
    )


# ---- the version check ------------------------------------------------------------------------------------


def write_vmlinux(path: Path) -> None:
    """An ELF64 executable with a .rodata holding ``linux_banner`` and a .symtab naming it and ``_stext``."""
    rodata = BANNER + b"\n\0"
    strtab = b"\0linux_banner\0_stext\0"
    symtab = bytes(24) + struct.pack("<IBBHQQ", 1, 0x11, 0, 1, RODATA, len(rodata))
    symtab += struct.pack("<IBBHQQ", 14, 0x10, 0, 1, STEXT, 0)
    shstrtab = b"\0.rodata\0.symtab\0.strtab\0.shstrtab\0"
    body = rodata + symtab + strtab + shstrtab
    at = [64, 64 + len(rodata), 64 + len(rodata) + len(symtab), 64 + len(rodata) + len(symtab) + len(strtab)]
    headers = bytes(64)
    headers += struct.pack("<IIQQQQIIQQ", 1, 1, 2, RODATA, at[0], len(rodata), 0, 0, 16, 0)
    headers += struct.pack("<IIQQQQIIQQ", 9, 2, 0, 0, at[1], len(symtab), 3, 1, 8, 24)
    headers += struct.pack("<IIQQQQIIQQ", 17, 3, 0, 0, at[2], len(strtab), 0, 0, 1, 0)
    headers += struct.pack("<IIQQQQIIQQ", 25, 3, 0, 0, at[3], len(shstrtab), 0, 0, 1, 0)
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", ident, 2, 62, 1, STEXT, 0, 64 + len(body), 0, 64, 0, 0, 64, 5, 4)
    path.write_bytes(ehdr + body + headers)


def test_vmlinux_banner_from_the_file(tmp_path: Path) -> None:
    write_vmlinux(tmp_path / "vmlinux")
    banner = opening.vmlinux_banner(ElfFile(str(tmp_path / "vmlinux")))
    assert banner == (RODATA, BANNER[: opening.BANNER_BYTES])
    assert opening.banner_release(banner.text) == "6.1.0-57-cloud-amd64"
    assert opening.banner_release(b"Linux") is None
    assert opening.banner_release(b"Something version 6.1") is None


def test_verify_version() -> None:
    memory = BANNER + b"\n"
    assert opening.verify_version(memory)
    assert opening.verify_version(memory, release="6.1.0-57-cloud-amd64", vmlinux=BANNER[:64])
    assert not opening.verify_version(None)  # unreadable: crash's accessible() fails
    assert not opening.verify_version(b"")
    assert not opening.verify_version(b"\0" * 64)  # not a banner
    assert not opening.verify_version(memory, release="6.1.0-56-cloud-amd64")
    assert not opening.verify_version(memory, release="6.1.0")  # the whole release, not a prefix
    other_build = BANNER.replace(b"gcc-12", b"gcc-13")
    assert not opening.verify_version(memory, vmlinux=other_build[:96])
    assert str(opening.mismatch("vmlinux", "vmcore")) == "vmlinux and vmcore do not match!"


# ---- the KASLR offset -------------------------------------------------------------------------------------


def test_kaslr_offset_rules() -> None:
    assert opening.kaslr_offset({"KERNELOFFSET": "10c00000"}) == 0x10C00000
    assert opening.kaslr_offset({"KERNELOFFSET": "0"}, STEXT, 0xDEAD) == 0
    asked: list[str] = []

    def running() -> int:
        asked.append("running")
        return STEXT + 0x2000000

    assert opening.kaslr_offset({"KERNELOFFSET": "200000"}, STEXT, running) == 0x200000
    assert not asked  # KERNELOFFSET was enough
    assert opening.kaslr_offset({"SYMBOL(_stext)": f"{STEXT + 0x3000000:x}"}, STEXT, running) == 0x3000000
    assert not asked  # so was SYMBOL(_stext)
    assert opening.kaslr_offset({"KERNELOFFSET": "zz"}, lambda: STEXT, running) == 0x2000000
    assert asked == ["running"]
    assert opening.kaslr_offset({}, STEXT, STEXT + 0x800) is None  # not page-aligned: crash ignores it
    assert opening.kaslr_offset({}, None, STEXT) is None
    assert opening.kaslr_offset({}) is None


# ---- registers from notes ---------------------------------------------------------------------------------


def crashed_kernel(cpus: int, saved: dict[int, dict[str, int]]) -> Kernel:
    """A kernel whose per-cpu ``crash_notes`` buffers hold an NT_PRSTATUS for the CPUs in *saved*."""
    t = SyntheticTarget()
    t.set_vmcoreinfo({"CRASHTIME": "1796667030"})
    size = 0x150 + 32
    t.add_type("note_buf_t", size)
    offsets = t.alloc(8 * cpus)
    t.add_symbol("__per_cpu_offset", offsets, 8 * cpus)
    pointer = t.alloc(8)
    t.add_symbol("crash_notes", pointer, 8)
    t.write_u64(pointer, 0x100)  # the per-cpu variable's offset in each CPU's area
    for cpu in range(cpus):
        area = t.alloc(0x1000)
        t.write_u64(offsets + 8 * cpu, area)
        if cpu in saved:
            t.write(area + 0x100, note("CORE", NT_PRSTATUS, prstatus(cpu + 1, saved[cpu]))[:size])
    return Kernel(t)


def test_a_crash_dump_reads_each_cpus_crash_notes() -> None:
    """CPU 1 left no note: the dump's second note is CPU 2's, and crash_notes says so."""
    kernel = crashed_kernel(3, {0: REGS, 2: {**REGS, "rip": 0xFFFFFFFF81000020}})
    listed = [prstatus(1, REGS), prstatus(3, {**REGS, "rip": 0xFFFFFFFF81000020})]
    notes = [n for d in listed for n in parse_notes(note("CORE", NT_PRSTATUS, d))]
    assert opening.cpu_note_registers(kernel, 2, notes)["rip"] == 0xFFFFFFFF81000020  # type: ignore[index]
    assert opening.cpu_note_registers(kernel, 1, notes) is None
    assert opening.cpu_note_registers(kernel, 0, notes)["rip"] == REGS["rip"]  # type: ignore[index]
    assert opening.crash_note(kernel, 7) is None  # no such CPU: unreadable, not an error


def test_a_hypervisor_dump_has_a_note_per_vcpu() -> None:
    kernel = Kernel(SyntheticTarget())  # no CRASHTIME
    listed = [prstatus(2, {**REGS, "rip": 0x2}), prstatus(1, {**REGS, "rip": 0x1})]
    notes = [n for d in listed for n in parse_notes(note("CORE", NT_PRSTATUS, d))]
    assert opening.cpu_note_registers(kernel, 0, notes)["rip"] == 0x1  # type: ignore[index]
    assert opening.cpu_note_registers(kernel, 1, notes)["rip"] == 0x2  # type: ignore[index]
    assert opening.cpu_note_registers(kernel, 2, notes) is None
