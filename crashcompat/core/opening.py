"""Opening a dump and its vmlinux, crash's way, for both backends (:mod:`crashcompat.drgn` and the GDB
launcher and target): the errors and their messages, where the vmlinux of a release is found, the
version check, the KASLR offset, and which ``NT_PRSTATUS`` note holds a CPU's registers.

Nothing here imports drgn or GDB; the dump's headers come from :mod:`crashcompat.core.dumpfile`, the
vmlinux file from :mod:`crashcompat.core.elf`.  A backend does what only it can (drgn's program, GDB's
symbol files) and asks here for every decision.

crash's references: main.c (file arguments), kernel.c ``verify_version()``/``verify_namelist()``,
symbols.c ``kaslr_init()``/``derive_kaslr_offset()``, netdump.c/diskdump.c (per-CPU ``NT_PRSTATUS``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from crashcompat.core.dumpfile import (
    NT_PRSTATUS,
    DumpHeader,
    Note,
    parse_notes,
    prstatus_pid,
    prstatus_registers,
)
from crashcompat.core.dumpfile import read_header as _read_header
from crashcompat.core.target import DumpFormat, Registers, TargetError, parse_vmcoreinfo

if TYPE_CHECKING:
    from crashcompat.core.elf import ElfFile
    from crashcompat.core.kernel import Kernel

__all__ = [
    "BANNER_PREFIX",
    "OpenError",
    "VmlinuxBanner",
    "banner_release",
    "check_readable",
    "cpu_note",
    "cpu_note_registers",
    "crash_note",
    "dump_header",
    "dump_vmcoreinfo",
    "dump_warnings",
    "find_vmlinux",
    "kaslr_offset",
    "mismatch",
    "unreadable_banner",
    "verify_version",
    "vmlinux_banner",
    "vmlinux_candidates",
]

#: What ``linux_banner`` starts with (init/version.c); crash refuses a dump whose banner does not.
BANNER_PREFIX = b"Linux version"
#: How much of the vmlinux's ``linux_banner`` identifies its build: "Linux version <release> (<builder>)".
BANNER_BYTES = 64
#: crash's ``derive_kaslr_offset()`` accepts only page-aligned differences of ``_stext``.
_KASLR_GRANULE = 0x1000


class OpenError(Exception):
    """The target cannot be opened; the message is crash's (``vmlinux and vmcore do not match!``)."""


# ---- files ----------------------------------------------------------------------------------------------


def check_readable(path: str) -> None:
    """crash's complaints about a file argument: missing, a directory, or unreadable.

    :raises OpenError: ``PATH: No such file or directory`` / ``not a supported file format`` /
        ``Permission denied``.
    """
    if not os.path.exists(path):
        raise OpenError(f"{path}: No such file or directory")
    if os.path.isdir(path):
        raise OpenError(f"{path}: not a supported file format")
    if not os.access(path, os.R_OK):
        raise OpenError(f"{path}: Permission denied")


def dump_header(path: str) -> DumpHeader:
    """*path*'s header and notes (:func:`crashcompat.core.dumpfile.read_header`), refusing what is not a
    dump crash reads.

    :raises OpenError: as :func:`check_readable`, or ``PATH: not a supported file format``.
    """
    check_readable(path)
    try:
        header = _read_header(path)
    except OSError as e:
        raise OpenError(f"{path}: {e.strerror or e}") from None
    if header.format is DumpFormat.UNKNOWN:
        raise OpenError(f"{path}: not a supported file format")
    if header.damage is not None:
        raise OpenError(f"{path}: {header.damage}")
    return header


def dump_warnings(path: str, header: DumpHeader | None) -> tuple[str, ...]:
    """What crash warns of when it opens *path*: a file shorter than its headers promise (netdump.c
    ``check_dumpfile_size()``) or a dump makedumpfile marked incomplete (main.c, ``INCOMPLETE_DUMP``).
    Reads of the missing pages then fail (:class:`~crashcompat.core.target.FaultError`)."""
    if header is None or header.truncated is None:
        return ()
    return (f"WARNING: {path}: {header.truncated}",)


def unreadable_banner(vmlinux: str, memory: str, address: int | None, truncated: bool) -> OpenError:
    """The refusal when ``linux_banner`` cannot be read from *memory* at all: a read error (crash's
    words for it), not a mismatch — the vmlinux may well be the right one."""
    where = f"kernel virtual address: {address:x}  " if address is not None else ""
    why = " (the dump is truncated or incomplete)" if truncated else ""
    return OpenError(f'{memory}: read error: {where}type: "linux_banner"{why}')


def dump_vmcoreinfo(notes: Iterable[Note]) -> dict[str, str]:
    """The ``VMCOREINFO`` note among a dump's *notes* as ``KEY=value`` pairs (empty without one)."""
    for note in notes:
        if note.name == "VMCOREINFO":
            return parse_vmcoreinfo(note.desc.decode("ascii", "replace"))
    return {}


def vmlinux_candidates(release: str, roots: Sequence[str] = ()) -> list[str]:
    """Where a distribution installs the debug vmlinux of kernel *release*, in crash's search order; then,
    under each directory of *roots* (``triage --debug-root``), the same paths below it, below its
    ``RELEASE`` subdirectory, and ``vmlinux-RELEASE`` and ``RELEASE/vmlinux`` in it."""
    usual = [
        f"/usr/lib/debug/boot/vmlinux-{release}",
        f"/usr/lib/debug/lib/modules/{release}/vmlinux",
        f"/boot/vmlinux-{release}",
    ]
    out = list(usual)
    for root in roots:
        for base in (root, os.path.join(root, release)):
            out += [base + path for path in usual]
        out += [os.path.join(root, f"vmlinux-{release}"), os.path.join(root, release, "vmlinux")]
    return out


def find_vmlinux(release: str, roots: Sequence[str] = ()) -> str:
    """The first existing :func:`vmlinux_candidates` of *release* (the dump's ``OSRELEASE``).

    :raises OpenError: none exists.
    """
    for path in vmlinux_candidates(release, roots):
        if os.path.isfile(path):
            return path
    raise OpenError(
        f"cannot find a vmlinux for kernel {release}: please enter the namelist (vmlinux) argument"
    )


# ---- the version check ------------------------------------------------------------------------------------


class VmlinuxBanner(NamedTuple):
    """``linux_banner`` as the vmlinux file holds it: its link-time *address* and first *text* bytes
    (:data:`BANNER_BYTES`)."""

    address: int
    text: bytes


def vmlinux_banner(elf: ElfFile) -> VmlinuxBanner | None:
    """The vmlinux's own ``linux_banner``, read from the file (without reading its whole symbol table),
    or ``None`` when it has none."""
    found = elf.find_symbol("linux_banner")
    if found is None:
        return None
    value, size, shndx = found
    section = elf.sections[shndx] if shndx < len(elf.sections) else None
    if section is None:
        return VmlinuxBanner(value, b"")
    start = value - section.address
    return VmlinuxBanner(
        value, elf.read_section(section)[start : start + min(size or BANNER_BYTES, BANNER_BYTES)]
    )


def banner_release(banner: bytes) -> str | None:
    """The release in a ``linux_banner`` ("Linux version <release> ..."), or ``None``."""
    words = banner.split()
    if len(words) < 3 or not banner.startswith(BANNER_PREFIX):
        return None
    return words[2].decode("ascii", "replace")


def verify_version(banner: bytes | None, *, release: str = "", vmlinux: bytes = b"") -> bool:
    """crash's ``verify_version()``: does the memory's ``linux_banner`` belong to this vmlinux?

    :param banner: the bytes at ``linux_banner`` in the dump or live memory (at the vmlinux's address
        for it, KASLR applied), ``None`` when they cannot be read (crash: not ``accessible()``).
    :param release: the dump's ``OSRELEASE``; when given, the banner must name that release.
    :param vmlinux: the vmlinux's own banner bytes (:func:`vmlinux_banner`); when given, memory must
        hold them (crash's ``verify_namelist()`` looks for the dump's banner in the vmlinux).
    :returns: ``False`` for a mismatch (:func:`mismatch` is crash's message).
    """
    if not banner or not banner.startswith(BANNER_PREFIX):
        return False
    if vmlinux and not banner.startswith(vmlinux):
        return False
    return not release or banner_release(banner) == release


def mismatch(vmlinux: str, memory: str) -> OpenError:
    """crash's refusal of a vmlinux that does not match the dump (or live memory) *memory*."""
    return OpenError(f"{vmlinux} and {memory} do not match!")


# ---- the KASLR offset -------------------------------------------------------------------------------------

#: A value, or how to get it when it is needed.
Lazy = int | None | Callable[[], int | None]


def _value(lazy: Lazy) -> int | None:
    return lazy() if callable(lazy) else lazy


def kaslr_offset(
    vmcoreinfo: Mapping[str, str], vmlinux_stext: Lazy = None, running_stext: Lazy = None
) -> int | None:
    """The kernel's KASLR offset (where its text is minus where the vmlinux links it).

    VMCOREINFO ``KERNELOFFSET`` (hex; arch/x86/kernel/machine_kexec_64.c, 0 without KASLR); else, as
    crash's ``derive_kaslr_offset()``, the relocated ``_stext`` — VMCOREINFO ``SYMBOL(_stext)``, else
    *running_stext* — minus the vmlinux's *vmlinux_stext*, when that is page-aligned.  Either argument
    may be a callable, asked only when needed.

    :returns: the offset, or ``None`` when nothing tells.
    """
    text = vmcoreinfo.get("KERNELOFFSET")
    if text is not None:
        try:
            return int(text, 16)
        except ValueError:
            pass
    linked = _value(vmlinux_stext)
    if linked is None:
        return None
    relocated = None
    if "SYMBOL(_stext)" in vmcoreinfo:
        try:
            relocated = int(vmcoreinfo["SYMBOL(_stext)"], 16)
        except ValueError:
            relocated = None
    if relocated is None:
        relocated = _value(running_stext)
    if relocated is None:
        return None
    delta = relocated - linked
    return delta if delta % _KASLR_GRANULE == 0 else None


# ---- registers from notes ---------------------------------------------------------------------------------


def crash_note(kernel: Kernel, cpu: int) -> bytes | None:
    """*cpu*'s ``NT_PRSTATUS`` payload in the kernel's per-cpu ``crash_notes`` buffer (a ``note_buf_t``
    that kernel/crash_core.c ``crash_save_cpu()`` fills as the CPU stops), or ``None`` when the CPU left
    none or it cannot be read."""
    try:
        buffer = kernel.read_pointer(kernel.symbol("crash_notes")) + kernel.per_cpu_offset(cpu)
        data = kernel.read(buffer, kernel.sizeof("note_buf_t"))
    except TargetError:
        return None
    return next((n.desc for n in parse_notes(data) if n.name == "CORE" and n.type == NT_PRSTATUS), None)


def cpu_note(kernel: Kernel, cpu: int, notes: Iterable[Note]) -> bytes | None:
    """Which ``NT_PRSTATUS`` note holds *cpu*'s registers, as its payload, or ``None``.

    A dump of a kernel crash (VMCOREINFO has ``CRASHTIME``, kernel/crash_core.c) lists the notes the
    CPUs saved in ``crash_notes``, in the order of the CPUs that saved one — an offline or silent CPU
    leaves a gap — so the CPU's own buffer is read (:func:`crash_note`).  A dump a hypervisor took (QEMU
    ``dump-guest-memory``) has a note per vCPU with ``pr_pid`` = CPU + 1.

    :param notes: the dump's ELF notes (:attr:`DumpHeader.notes <crashcompat.core.dumpfile.DumpHeader>`).
    """
    if "CRASHTIME" in kernel.target.vmcoreinfo:
        return crash_note(kernel, cpu)
    return next(
        (
            n.desc
            for n in notes
            if n.name == "CORE" and n.type == NT_PRSTATUS and prstatus_pid(n.desc) == cpu + 1
        ),
        None,
    )


def cpu_note_registers(kernel: Kernel, cpu: int, notes: Iterable[Note]) -> Registers | None:
    """*cpu*'s registers from its ``NT_PRSTATUS`` note (:func:`cpu_note`), by lower-case name."""
    desc = cpu_note(kernel, cpu, notes)
    return prstatus_registers(desc) if desc is not None else None
