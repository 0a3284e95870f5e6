"""``Struct`` views: one whole read on a dump, aligned chunks on demand when the target asks for sparse
reads (a live remote link), with the same values either way."""

from __future__ import annotations

import pytest

from crashcompat.core.kernel import SPARSE_CHUNK, FaultError, Kernel
from crashcompat.testing.synthetic import SyntheticTarget

SIZE = 1024  # a struct spanning 16 chunks


class CountingTarget(SyntheticTarget):
    """Records every read as (address, size)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def read(self, address: int, size: int) -> bytes:
        self.reads.append((address, size))
        return super().read(address, size)


def _target(sparse: bool) -> tuple[CountingTarget, int]:
    t = CountingTarget()
    t.sparse_reads = sparse
    t.add_struct(
        "struct thing",
        SIZE,
        {
            "id": (0, 4, "int"),
            "flags": (8, 8, "unsigned long"),
            "straddle": (SPARSE_CHUNK - 4, 8, "unsigned long"),  # across the first two chunks
            "name": (520, 16, "char [16]"),
            "mode": (600, 1, "u8", 2, 3),  # a 3-bit field at bit 2
            "far": (SIZE - 8, 8, "long"),
        },
    )
    address = t.alloc(SIZE, align=SPARSE_CHUNK)
    t.write_u32(address, 42)
    t.write_u64(address + 8, 0xF00D)
    t.write_u64(address + SPARSE_CHUNK - 4, 0x1122334455667788)
    t.write(address + 520, b"kworker/0:1\0")
    t.write(address + 600, bytes([0b10100]))
    t.write_u64(address + SIZE - 8, (-5) & (1 << 64) - 1)
    t.reads.clear()
    return t, address


def _values(kernel: Kernel, address: int) -> tuple[object, ...]:
    s = kernel.struct("struct thing", address)
    return (
        s.u32("id"),
        s.u64("flags"),
        s.u64("straddle"),
        s.cstr("name"),
        s.uint("mode"),
        s.sint("far"),
        s.s64("far"),
        s.addr_of("name"),
        s.raw(8, 2),
    )


def test_sparse_and_whole_give_the_same_values() -> None:
    whole_t, address = _target(sparse=False)
    sparse_t, sparse_address = _target(sparse=True)
    assert address == sparse_address
    expected = (42, 0xF00D, 0x1122334455667788, "kworker/0:1", 0b101, -5, -5, address + 520, b"\x0d\xf0")
    assert _values(Kernel(whole_t), address) == expected
    assert _values(Kernel(sparse_t), address) == expected


def test_whole_mode_reads_the_struct_once() -> None:
    t, address = _target(sparse=False)
    _values(Kernel(t), address)
    assert t.reads == [(address, SIZE)]


def test_sparse_mode_reads_only_the_chunks_asked_for_once() -> None:
    t, address = _target(sparse=True)
    kernel = Kernel(t)
    s = kernel.struct("struct thing", address)
    assert t.reads == [(address, SPARSE_CHUNK)]  # the first chunk, when made
    assert s.u32("id") == 42 and s.u64("flags") == 0xF00D
    assert len(t.reads) == 1  # both in the first chunk
    assert s.u64("straddle") == 0x1122334455667788
    assert t.reads[1:] == [(address + SPARSE_CHUNK, SPARSE_CHUNK)]  # only the missing second chunk
    s.cstr("name")
    s.cstr("name")
    assert t.reads[2:] == [(address + 512, SPARSE_CHUNK)]
    assert sum(size for _, size in t.reads) == 3 * SPARSE_CHUNK < SIZE


def test_sparse_data_is_the_whole_struct() -> None:
    t, address = _target(sparse=True)
    s = Kernel(t).struct("struct thing", address)
    data = s.data
    assert len(data) == SIZE and data[:4] == (42).to_bytes(4, "little")
    assert t.reads[-1] == (address, SIZE)
    count = len(t.reads)
    assert s.sint("far") == -5 and s.data is data
    assert len(t.reads) == count  # decoded from the whole bytes now


def test_caller_data_is_used_as_is() -> None:
    from crashcompat.core.kernel import Struct

    t, address = _target(sparse=True)
    raw = bytes(range(256)) * 4
    s = Struct(Kernel(t), "struct thing", address, data=raw)
    assert s.u32("id") == int.from_bytes(raw[:4], "little") and s.data is raw
    assert t.reads == []


@pytest.mark.parametrize("sparse", [False, True])
def test_unreadable_struct_faults_when_made(sparse: bool) -> None:
    t, _ = _target(sparse)
    with pytest.raises(FaultError):
        Kernel(t).struct("struct thing", 0xDEAD000000000000)


def test_sparse_chunk_beyond_mapped_memory_falls_back_to_the_bytes_asked() -> None:
    t = CountingTarget()
    t.sparse_reads = True
    t.add_struct("struct small", 12, {"a": (0, 4, "int"), "b": (8, 4, "int")})
    address = t.alloc(12, align=SPARSE_CHUNK)  # the chunk around it is not all mapped
    t.write_u32(address + 8, 7)
    t.reads.clear()
    s = Kernel(t).struct("struct small", address)
    assert s.u32("b") == 7 and s.u32("b") == 7
