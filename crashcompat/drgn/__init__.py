"""crashcompat on drgn: open a dump, ``/proc/kcore`` or a QEMU guest as a crashcompat :class:`Session`.

::

    from crashcompat.drgn import open_dump
    session = open_dump("vmcore", "vmlinux")      # vmlinux found from the dump's OSRELEASE when omitted
    session.run("bt -a")

Inside drgn (``drgn -c vmcore -s vmlinux``) the ``crash`` object runs crash commands on drgn's program:
``crash.bt("-a")``, ``crash("log -m | tail -3")`` (see :mod:`crashcompat.drgn.plugin`); scripts get it
with ``from crashcompat.drgn import crash``.

Opening follows crash's rules (:mod:`crashcompat.core.opening`, shared with the GDB backend): dumps are
opened read-only; module debug info is not loaded (``mod -s`` loads it); a vmlinux that does not match the
dump is refused with crash's message.  Importing this package does not import drgn (it is imported on
first use).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crashcompat.core.opening import (
    OpenError,
    check_readable,
    dump_header,
    dump_vmcoreinfo,
    find_vmlinux,
    mismatch,
    verify_version,
)
from crashcompat.core.target import DumpFormat, parse_vmcoreinfo

if TYPE_CHECKING:
    import drgn

    from crashcompat.core.dumpfile import DumpHeader
    from crashcompat.core.plugins import PluginHost
    from crashcompat.core.session import Session
    from crashcompat.drgn.target import DrgnTarget

__all__ = [
    "OpenError",
    "dump_memory",
    "find_vmlinux",
    "open_dump",
    "open_dump_target",
    "open_live",
    "open_qemu",
]


def open_dump_target(vmcore: str, vmlinux: str | None = None) -> DrgnTarget:
    """Open *vmcore* read-only with drgn and load *vmlinux*'s debug info (no modules' debug info).

    :param vmcore: an ELF, kdump-compressed or flattened dump.
    :param vmlinux: the matching debug kernel; default: found from the dump's ``OSRELEASE``.
    :raises OpenError: with crash's message for a missing, unsupported or mismatched file.
    """
    from crashcompat.drgn.target import DrgnTarget

    header = dump_header(vmcore)
    prog = _core_program(vmcore, header)
    release = _osrelease(prog)
    if vmlinux is None:
        vmlinux = find_vmlinux(release)
    check_readable(vmlinux)
    _load_vmlinux(prog, vmlinux, vmcore, release)
    return DrgnTarget.from_program(prog, path=vmcore, vmlinux=vmlinux, header=header)


def _core_program(vmcore: str, header: DumpHeader) -> drgn.Program:
    """A drgn program on the dump *vmcore* (its memory only, no debug info)."""
    import drgn

    # drgn reads kdump-compressed files through libkdumpfile, which cannot tell the architecture of the
    # files QEMU writes: drgn needs the platform given (crash lab recipe, pitfall 5).
    kdump = header.format in (DumpFormat.KDUMP_COMPRESSED, DumpFormat.FLATTENED)
    prog = drgn.Program(drgn.host_platform) if kdump else drgn.Program()
    # libkdumpfile advises reassembling a flattened file; crash reads them silently, and so do we.
    quiet = logging.getLogger("drgn")
    advice = _DropMessage("flattened format")
    quiet.addFilter(advice)
    try:
        prog.set_core_dump(vmcore)
    except (OSError, ValueError, drgn.FaultError) as e:
        raise OpenError(f"{vmcore}: not a supported file format ({e})") from None
    finally:
        quiet.removeFilter(advice)
    return prog


def dump_memory(vmcore: str) -> tuple[dict[str, str], Callable[[int, int], bytes]]:
    """The dump's VMCOREINFO and a reader of its kernel virtual memory, without any vmlinux (drgn
    translates addresses with the page tables VMCOREINFO names), for ``crashcompat dmesg VMCORE``.

    :raises OpenError: as :func:`open_dump_target`.
    """
    import drgn

    from crashcompat.core.target import FaultError

    header = dump_header(vmcore)
    prog = _core_program(vmcore, header)

    def read(address: int, size: int) -> bytes:
        try:
            data: bytes = prog.read(address, size)
        except drgn.FaultError as e:
            raise FaultError(address, reason=str(e)) from None
        return data

    return dump_vmcoreinfo(header.notes), read


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def open_dump(vmcore: str, vmlinux: str | None = None, *, host: PluginHost | None = None) -> Session:
    """A crashcompat session on *vmcore* (see :func:`open_dump_target`).

    :param host: a loaded plugin host; default: one loading every installed crashcompat plugin.
    """
    from crashcompat.core.session import Session

    return Session(open_dump_target(vmcore, vmlinux), host)


def open_live(vmlinux: str | None = None, *, host: PluginHost | None = None) -> Session:
    """A session on the running kernel through ``/proc/kcore`` (root only), like ``crash`` with no dump."""
    import drgn

    from crashcompat.core.session import Session
    from crashcompat.drgn.target import DrgnTarget

    prog = drgn.Program()
    try:
        prog.set_kernel()
    except (OSError, ValueError) as e:
        raise OpenError(f"/proc/kcore: {getattr(e, 'strerror', None) or e}") from None
    release = _osrelease(prog) or os.uname().release
    vmlinux = vmlinux or find_vmlinux(release)
    check_readable(vmlinux)
    _load_vmlinux(prog, vmlinux, "/proc/kcore", release)
    return Session(DrgnTarget.from_program(prog, vmlinux=vmlinux), host)


def open_qemu(qmp_socket: str, vmlinux: str | None = None, *, host: PluginHost | None = None) -> Session:
    """A session on a running QEMU guest through its QMP socket (drgn's ``--qemu``; QEMU needs
    ``-device vmcoreinfo`` and the guest ``qemu_fw_cfg`` for drgn to find the kernel)."""
    import drgn

    from crashcompat.core.session import Session
    from crashcompat.drgn.target import DrgnTarget

    prog = drgn.Program(drgn.host_platform)
    try:
        prog.set_qemu_qmp(qmp_socket)
    except (OSError, ValueError) as e:
        raise OpenError(f"{qmp_socket}: {getattr(e, 'strerror', None) or e}") from None
    release = _osrelease(prog)
    vmlinux = vmlinux or find_vmlinux(release)
    check_readable(vmlinux)
    _load_vmlinux(prog, vmlinux, qmp_socket, release)
    return Session(DrgnTarget.from_program(prog, vmlinux=vmlinux), host)


def _osrelease(prog: drgn.Program) -> str:
    """``OSRELEASE`` from the VMCOREINFO drgn found (the dump's note, or the live kernel's)."""
    try:
        text = prog["VMCOREINFO"].string_().decode("ascii", "replace")
    except Exception:  # no VMCOREINFO: drgn raises LookupError or its own errors
        return ""
    return parse_vmcoreinfo(text).get("OSRELEASE", "")


def _load_vmlinux(prog: drgn.Program, vmlinux: str, memory: str, release: str) -> None:
    """Load *vmlinux*'s debug info and check that ``linux_banner`` in *memory* is where *vmlinux* says it
    is (:func:`crashcompat.core.opening.verify_version`); drgn itself ignores a vmlinux whose build ID
    differs."""
    import drgn

    try:
        prog.load_debug_info([vmlinux])
    except drgn.MissingDebugInfoError:
        pass
    except Exception:  # not an ELF file, unreadable DWARF: drgn's own error types
        raise mismatch(vmlinux, memory) from None
    banner: bytes | None
    try:
        if prog.main_module().wants_debug_file():
            raise mismatch(vmlinux, memory)
        banner = prog.read_c_string(prog.symbol("linux_banner").address, max_size=512)
    except (LookupError, drgn.FaultError, ValueError):
        banner = None
    if not verify_version(banner, release=release):
        raise mismatch(vmlinux, memory)


def __getattr__(name: str) -> Any:
    """``crashcompat.drgn.crash``: the :class:`~crashcompat.drgn.plugin.Crash` facade on drgn's default
    program, created on first use."""
    if name == "crash":
        from crashcompat.drgn.plugin import Crash

        facade = Crash()
        globals()["crash"] = facade
        return facade
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
