"""``dev -V`` / ``dev -v``: device dumps (``NT_VMCOREDD`` notes) of an ELF dump file made here, the way
fs/proc/vmcore.c lays them out."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from crashcompat.core.kernel.devices import NT_VMCOREDD, device_dumps
from crashcompat.core.session import Session
from crashcompat.core.target import DumpFormat, TargetInfo
from crashcompat.testing.synthetic import SyntheticTarget


def _note(name: bytes, n_type: int, desc: bytes) -> bytes:
    owner = name + b"\0"
    return (
        struct.pack("<III", len(owner), len(desc), n_type)
        + owner
        + b"\0" * (-len(owner) % 4)
        + desc
        + b"\0" * (-len(desc) % 4)
    )


def _device_note(device: str, data: bytes) -> bytes:
    # struct vmcoredd_header: the note header, "LINUX\0" padded to 8, dump_name[44]; then the data
    head = (
        struct.pack("<III", 6, 44 + len(data), NT_VMCOREDD)
        + b"LINUX\0\0\0"
        + device.encode().ljust(44, b"\0")
    )
    return head + data + b"\0" * (-len(data) % 4)


def _elf(path: Path, notes: bytes) -> int:
    """An ELF core file with one PT_NOTE; returns the offset of the notes."""
    ehdr = (
        b"\x7fELF\x02\x01\x01"
        + b"\0" * 9
        + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    )
    at = 64 + 56
    phdr = struct.pack("<IIQQQQQQ", 4, 0, at, 0, 0, len(notes), 0, 4)
    path.write_bytes(ehdr + phdr + notes)
    return at


@pytest.fixture
def dump(tmp_path: Path) -> tuple[Session, int]:
    core = _note(b"CORE", 1, b"\0" * 336)
    notes = (
        core
        + _device_note("cxgb4_0000:02:00.4", b"ABCDEFGH" * 3 + b"xyz")
        + _device_note("nic1", b"\x01" * 16)
    )
    at = _elf(tmp_path / "vmcore", notes)
    t = SyntheticTarget()
    t._info = TargetInfo(path=str(tmp_path / "vmcore"), vmlinux=None, format=DumpFormat.ELF, live=False)
    return Session(t), at + len(core) + 64


def test_listing_and_words(dump: tuple[Session, int], tmp_path: Path) -> None:
    session, first = dump
    assert [(d.name, d.offset, d.size) for d in device_dumps(session.kernel)] == [
        ("cxgb4_0000:02:00.4", first, 27),
        ("nic1", first + 28 + 64, 16),
    ]
    listing = session.run("dev -V", echo=False)
    assert listing.splitlines() == [
        "INDEX  OFFSET             SIZE             NAME",
        f"  0    0x{first:<16x} 27               cxgb4_0000:02:00.4",
        f"  1    0x{first + 92:<16x} 16               nic1",
    ]
    words = session.run("dev -v 0", echo=False).splitlines()
    assert words[0] == "DEVICE: cxgb4_0000:02:00.4"
    assert words[1] == f"{first:>16x}:  4847464544434241 4847464544434241   ABCDEFGHABCDEFGH"
    # 27 bytes are four whole words: the last runs into what follows in the file (the next note's header)
    assert words[2].startswith(f"{first + 16:>16x}:  4847464544434241 ") and words[2].endswith(
        "ABCDEFGHxyz....."
    )
    out = tmp_path / "nic1.bin"
    assert session.run(f"dev -v 1 {out}", echo=False) == (
        f"DEVICE: nic1\n16 bytes copied from 0x{first + 92:x} to {out}\n"
    )
    assert out.read_bytes() == b"\x01" * 16


def test_errors(dump: tuple[Session, int]) -> None:
    session, _ = dump
    assert session.run("dev -v 2", echo=False) == "dev: no device dump found at index: 2\n"
    session.kernel.target._info = TargetInfo(path=None, vmlinux=None, format=DumpFormat.LIVE, live=True)  # type: ignore[attr-defined]
    assert session.run("dev -V", echo=False) == "dev: -V option not supported on a live system\n"
