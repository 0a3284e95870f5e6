"""Reading memory the way crash's ``readmem()`` does, with crash's reasons when a read fails.

A read names its address space — kernel virtual, user virtual (through a task's ``mm->pgd``) or physical —
and fails the way crash fails:

- an address outside the space (crash's ``IS_KVADDR``/``IS_UVADDR``) or one the page tables do not map:
  ``invalid kernel virtual address`` / ``invalid user virtual address``;
- a physical page the dump does not describe (no ELF ``PT_LOAD`` holds it; a kdump-compressed file's RAM
  bitmap lacks it): ``seek error``;
- a page of RAM that makedumpfile left out: ``page excluded``, which crash keeps quiet about (it prints it
  only at debug level 8) — the command just stops;
- anything else the backend cannot read: ``read error``.

The successful part of a read is returned with the failure, so a command prints what it could read before
the error, as crash's item-by-item loops do.  Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crashcompat.core.dumpfile import PhysicalMap, physical_map
from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel import layout as _layout
from crashcompat.core.kernel import pagetable as _pagetable
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "MemoryFault",
    "MemoryReadError",
    "Space",
    "physical_status",
    "read_memory",
    "read_prefix",
    "space_name",
    "translate",
    "user_pgd",
]

#: Where an address lives: crash's ``KVADDR``, ``UVADDR`` and ``PHYSADDR``.
Space = Literal["kernel", "user", "physical"]

#: crash's ``memtype_string(memtype, 0)`` and ``(memtype, 1)``.
_SPACE_WORDS: dict[str, tuple[str, str]] = {
    "kernel": ("kernel virtual", "KVADDR"),
    "user": ("user virtual", "UVADDR"),
    "physical": ("physical", "PHYSADDR"),
}


@dataclass(frozen=True)
class MemoryFault:
    """Why a read stopped.

    :param kind: ``"invalid"`` (not an address of the space, or not mapped), ``"seek"`` (not in the dump),
        ``"excluded"`` (RAM the dump left out), ``"read"`` (the backend could not read it).
    :param address: the address (in the read's space) where the read stopped.
    """

    kind: str
    space: Space
    address: int

    def message(self, what: str) -> str | None:
        """crash's error text for a read of *what* (``"64-bit KVADDR"``), without the command's name and
        newline; ``None`` for an excluded page (crash says nothing)."""
        words = _SPACE_WORDS[self.space][0]
        if self.kind == "excluded":
            return None
        if self.kind == "invalid":
            space = "user" if self.space == "user" else "kernel"
            return f'invalid {space} virtual address: {self.address:x}  type: "{what}"'
        word = "seek" if self.kind == "seek" else "read"
        return f'{word} error: {words} address: {self.address:x}  type: "{what}"'


class MemoryReadError(TargetError):
    """A failed :func:`read_memory`; :attr:`fault` says why."""

    def __init__(self, fault: MemoryFault, what: str) -> None:
        self.fault = fault
        self.text = fault.message(what)
        super().__init__(self.text or f"page excluded: {fault.address:x}")


def space_name(space: Space) -> str:
    """crash's short memory-type name: ``KVADDR``, ``UVADDR`` or ``PHYSADDR``."""
    return _SPACE_WORDS[space][1]


def _dump_map(kernel: Kernel) -> PhysicalMap | None:
    def compute() -> PhysicalMap | None:
        info = kernel.target.info
        if info.live or info.path is None:
            return None
        try:
            return physical_map(info.path)
        except OSError:
            return None

    return kernel.memo("memory.physical_map", compute)


def physical_status(kernel: Kernel, physical: int) -> str:
    """``"ok"``, ``"seek"`` or ``"excluded"``: whether the dump holds the byte at *physical* (always
    ``"ok"`` on a live kernel)."""
    found = _dump_map(kernel)
    return "ok" if found is None else found.status(physical)


def translate(kernel: Kernel, address: int, space: Space, pgd: int | None = None) -> int | None:
    """The physical address of *address* as crash's ``kvtop()``/``uvtop()`` find it (``None``: not mapped).

    :param pgd: for user addresses, the task's ``pgd_t *`` (``mm->pgd``); ``None`` for a task without an mm.
    """
    if space == "physical":
        return address
    if space == "kernel":
        return _pagetable.kvtop(kernel, address)
    if pgd is None:
        return None
    return _pagetable.translate(kernel, address, pgd).physical


def _in_space(kernel: Kernel, address: int, space: Space) -> bool:
    lay = _layout.layout(kernel)
    if space == "kernel":
        return lay.is_kvaddr(address)
    if space == "user":
        return lay.is_uvaddr(address)
    return True


def user_pgd(kernel: Kernel, mm: int | None) -> int | None:
    """``mm->pgd`` of a ``struct mm_struct *`` (``None`` for 0: a kernel thread has no user space)."""
    if not mm:
        return None
    return kernel.read_pointer(mm + kernel.offsetof("struct mm_struct", "pgd"))


def read_prefix(
    kernel: Kernel, address: int, size: int, space: Space, mm: int | None = None
) -> tuple[bytes, MemoryFault | None]:
    """Read *size* bytes at *address*: everything readable from the start, and why the rest is not.

    :param space: the address space of *address*.
    :param mm: for user addresses, the context task's ``struct mm_struct *`` (0 or ``None``: a kernel
        thread, which has no user addresses).
    """
    target = kernel.target
    if not _in_space(kernel, address, space):
        return b"", MemoryFault("invalid", space, address)
    if space == "kernel":
        try:
            return target.read(address, size), None
        except FaultError:
            pass
    elif space == "physical":
        try:
            return target.read_physical(address, size), None
        except FaultError:
            pass
    pgd = user_pgd(kernel, mm) if space == "user" else None
    page = target.page_size
    out = bytearray()
    at = address
    end = address + size
    while at < end:
        count = min(page - at % page, end - at)
        physical = translate(kernel, at, space, pgd)
        if physical is None:
            return bytes(out), MemoryFault("invalid", space, at)
        status = physical_status(kernel, physical)
        if status != "ok":
            return bytes(out), MemoryFault(status, space, at)
        try:
            if space == "kernel":
                out += target.read(at, count)
            else:
                out += target.read_physical(physical, count)
        except FaultError:
            return bytes(out), MemoryFault("read", space, at)
        at += count
    return bytes(out), None


def read_memory(
    kernel: Kernel, address: int, size: int, space: Space, what: str, mm: int | None = None
) -> bytes:
    """Read *size* bytes or raise :class:`MemoryReadError` with crash's message for a read of *what*."""
    data, fault = read_prefix(kernel, address, size, space, mm)
    if fault is not None:
        raise MemoryReadError(fault, what)
    return data
