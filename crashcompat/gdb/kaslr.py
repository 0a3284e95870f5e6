"""The kernel's KASLR offset, found without user help, and applied to GDB's symbols.

- A dump says it: VMCOREINFO's ``KERNELOFFSET=<hex>`` or ``SYMBOL(_stext)``
  (:func:`crashcompat.core.opening.kaslr_offset`), read from the ELF note of a core file or asked of
  ``crashcompat-gdbserver``.
- A live kernel does not: the image is placed at a multiple of ``CONFIG_PHYSICAL_ALIGN`` (2 MiB) within
  the 1 GiB kernel image window (arch/x86/boot/compressed/kaslr.c,
  :data:`~crashcompat.core.kernel.layout.KERNEL_IMAGE_SIZE_KASLR`), so the offset is
  the candidate at which ``linux_banner`` reads back as the vmlinux's own bytes.  The stopped CPU's
  program counter, when it is in kernel text, narrows the candidates to a handful.

:func:`relocate` then reloads the vmlinux's symbols at the offset, keeping the per-cpu section at 0
(``symbol-file -o`` would move it too, and every per-cpu symbol with it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from functools import cached_property

from crashcompat.core.cache import cache_path, trim
from crashcompat.core.elf import ElfFile
from crashcompat.core.kernel.layout import KERNEL_IMAGE_SIZE_KASLR
from crashcompat.core.opening import vmlinux_banner

#: CONFIG_PHYSICAL_ALIGN's default on x86_64, the step of KASLR's choices.
KASLR_ALIGN = 0x200000
#: The x86_64 per-cpu section, linked at address 0 on SMP kernels (arch/x86/kernel/vmlinux.lds.S).
PERCPU_SECTION = ".data..percpu"

#: Reads *size* bytes of kernel memory; raises on a fault.
Reader = Callable[[int, int], bytes]


def candidates(pc: int | None, text_start: int, text_end: int) -> Iterator[int]:
    """KASLR offsets to try, most likely first: those that put *pc* inside ``[text_start, text_end)``
    (link-time addresses of the kernel text), then 0, then the rest of the window in order."""
    tried: set[int] = set()
    if pc is not None:
        low = max(0, pc - text_end + 1)
        high = min(KERNEL_IMAGE_SIZE_KASLR - KASLR_ALIGN, pc - text_start)
        first = (low + KASLR_ALIGN - 1) // KASLR_ALIGN * KASLR_ALIGN
        for offset in range(first, high + 1, KASLR_ALIGN):
            tried.add(offset)
            yield offset
    for offset in range(0, KERNEL_IMAGE_SIZE_KASLR, KASLR_ALIGN):
        if offset not in tried:
            yield offset


def find_offset(read: Reader, banner_address: int, banner: bytes, offsets: Iterator[int]) -> int | None:
    """The first of *offsets* at which *banner* (the vmlinux's ``linux_banner`` bytes, link-time address
    *banner_address*) is what memory holds, or ``None``."""
    if not banner:
        return None
    for offset in offsets:
        try:
            if read(banner_address + offset, len(banner)) == banner:
                return offset
        except Exception:  # unmapped candidate: the backend's fault type varies
            continue
    return None


class VmlinuxFacts:
    """What the search and the version check need from the vmlinux file: the link-time text range,
    ``_stext`` and ``linux_banner`` (found without reading the whole symbol table).

    :param elf: the vmlinux.
    """

    def __init__(self, elf: ElfFile) -> None:
        self.elf = elf
        text = elf.section(".text")
        if text is None:
            raise ValueError(f"{elf.path}: no .text section")
        self.text_start = text.address
        self.text_end = text.address + text.size
        self.has_percpu = any(s.name == PERCPU_SECTION and s.address == 0 for s in elf.sections)
        banner = vmlinux_banner(elf)
        self.banner_address = banner.address if banner is not None else 0
        #: The banner's first bytes ("Linux version <release> (<builder>) ..."), which identify the build.
        self.banner = banner.text if banner is not None else b""

    @cached_property
    def stext(self) -> int | None:
        """``_stext``'s link-time address (for :func:`crashcompat.core.opening.kaslr_offset`)."""
        found = self.elf.find_symbol("_stext")
        return found[0] if found is not None else None


def relocate(vmlinux: str, offset: int, percpu_at_zero: bool) -> None:
    """Make GDB's symbols for *vmlinux* those of a kernel loaded at KASLR *offset*.

    Drops the main symbol file and exec file if they are this vmlinux, then ``add-symbol-file -o`` it
    with ``.data..percpu`` kept at 0.  Turns GDB's index cache on (:func:`use_index_cache`) so the next
    start is fast.
    """
    import gdb

    quoted = gdb_quote(vmlinux)
    confirm = gdb.parameter("confirm")
    gdb.execute("set confirm off", to_string=True)
    try:
        use_index_cache()
        progspace = gdb.current_progspace()
        if progspace is not None and progspace.filename is not None:
            gdb.execute("symbol-file", to_string=True)
        for objfile in gdb.objfiles():
            if objfile.is_valid() and objfile.filename == vmlinux:
                gdb.execute(f"remove-symbol-file {quoted}", to_string=True)
        with contextlib.suppress(gdb.error):
            gdb.execute("exec-file", to_string=True)
        sections = f" -s {PERCPU_SECTION} 0" if percpu_at_zero else ""
        gdb.execute(f"add-symbol-file {quoted} -o {offset:#x}{sections}", to_string=True)
        if "x86-64" not in gdb.selected_inferior().architecture().name():
            gdb.execute("set architecture i386:x86-64", to_string=True)
    finally:
        gdb.execute(f"set confirm {'on' if confirm else 'off'}", to_string=True)


def index_cache_dir() -> str:
    """GDB's index cache for crashcompat: ``$XDG_CACHE_HOME/crashcompat/gdb-index``."""
    return cache_path("gdb-index")


def use_index_cache() -> None:
    """Turn GDB's index cache on in crashcompat's own cache directory (trimmed first, :func:`trim`).

    A GDB whose user turned the index cache on already keeps the user's setting and directory; GDB's
    global cache (``~/.cache/gdb``) is never switched on by crashcompat.
    """
    import gdb

    try:
        if gdb.parameter("index-cache enabled"):
            return
    except (gdb.error, RuntimeError):
        return  # a GDB without the setting
    directory = index_cache_dir()
    trim()
    with contextlib.suppress(OSError, gdb.error):
        os.makedirs(directory, exist_ok=True)
        gdb.execute(f"set index-cache directory {directory}", to_string=True)
        gdb.execute("set index-cache enabled on", to_string=True)


def gdb_quote(path: str) -> str:
    """A file name as GDB's command line reads it (quoted when it has blanks or quotes)."""
    if any(c in path for c in " \t'\"\\"):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return path
