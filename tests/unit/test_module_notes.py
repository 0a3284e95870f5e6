"""A module's GNU build ID from its ELF notes (``mod -s`` compares it with the object file's)."""

from __future__ import annotations

import struct

from crashcompat.core.kernel.modules import NT_GNU_BUILD_ID, _gnu_build_id


def _note(name: bytes, kind: int, desc: bytes) -> bytes:
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), kind) + pad(name) + pad(desc)


def test_build_id_after_other_notes() -> None:
    notes = _note(b"Linux\0", 6, b"x86\0\0") + _note(b"GNU\0", NT_GNU_BUILD_ID, bytes.fromhex("0b8e5cab"))
    assert _gnu_build_id(notes) == "0b8e5cab"


def test_no_build_id_or_torn_notes() -> None:
    assert _gnu_build_id(_note(b"GNU\0", 1, b"abcd")) is None
    assert _gnu_build_id(_note(b"GNU\0", NT_GNU_BUILD_ID, b"abcdefgh")[:-4]) is None
    assert _gnu_build_id(b"") is None
