"""The printk ring-buffer reader and crash's ``log`` rendering, on a synthetic lockless ring buffer.

Expected texts follow crash 8.0.2's printk.c ``dump_record`` (and makedumpfile 1.7's printk.c for
``render_dmesg``): skipped states, data-less records, wrapped blocks, continuation indentation, ``.`` for
non-printable bytes, ``-m``/``-t``/``-d``/``-c`` prefixes.
"""

from __future__ import annotations

import pytest

from crashcompat.core.kernel import Kernel, printk
from crashcompat.core.session import Session
from crashcompat.testing.synthetic import SyntheticTarget

DATA_BITS = 8  # a 256-byte text ring
COUNT_BITS = 3  # 8 descriptors
COMMITTED, FINALIZED, RESERVED = 1, 2, 0


def _layouts(t: SyntheticTarget) -> None:
    t.add_struct("atomic_long_t", 8, {"counter": (0, 8, "long")})
    t.add_struct(
        "struct prb_desc_ring",
        40,
        {
            "count_bits": (0, 4, "unsigned int"),
            "descs": (8, 8, "struct prb_desc *"),
            "infos": (16, 8, "struct printk_info *"),
            "head_id": (24, 8, "atomic_long_t"),
            "tail_id": (32, 8, "atomic_long_t"),
        },
    )
    t.add_struct(
        "struct prb_data_ring",
        32,
        {
            "size_bits": (0, 4, "unsigned int"),
            "data": (8, 8, "char *"),
            "head_lpos": (16, 8, "atomic_long_t"),
        },
    )
    t.add_struct(
        "struct printk_ringbuffer",
        72,
        {"desc_ring": (0, 40, "struct prb_desc_ring"), "text_data_ring": (40, 32, "struct prb_data_ring")},
    )
    t.add_struct(
        "struct prb_data_blk_lpos", 16, {"begin": (0, 8, "unsigned long"), "next": (8, 8, "unsigned long")}
    )
    t.add_struct(
        "struct prb_desc",
        24,
        {"state_var": (0, 8, "atomic_long_t"), "text_blk_lpos": (8, 16, "struct prb_data_blk_lpos")},
    )
    t.add_struct(
        "struct dev_printk_info", 64, {"subsystem": (0, 16, "char [16]"), "device": (16, 48, "char [48]")}
    )
    t.add_struct(
        "struct printk_info",
        88,
        {
            "seq": (0, 8, "u64"),
            "ts_nsec": (8, 8, "u64"),
            "text_len": (16, 2, "u16"),
            "facility": (18, 1, "u8"),
            "flags": (19, 1, "u8", 0, 5),
            "level": (19, 1, "u8", 5, 3),
            "caller_id": (20, 4, "u32"),
            "dev_info": (24, 64, "struct dev_printk_info"),
        },
    )


class Ring:
    """Builds a lockless printk ring in a SyntheticTarget."""

    def __init__(self) -> None:
        self.t = t = SyntheticTarget()
        _layouts(t)
        self.descs = t.alloc(24 << COUNT_BITS)
        self.infos = t.alloc(88 << COUNT_BITS)
        self.data = t.alloc(1 << DATA_BITS)
        self.prb = t.alloc(72)
        t.write_u32(self.prb, COUNT_BITS)
        t.write_u64(self.prb + 8, self.descs)
        t.write_u64(self.prb + 16, self.infos)
        t.write_u32(self.prb + 40, DATA_BITS)
        t.write_u64(self.prb + 48, self.data)
        pointer = t.alloc(8)
        t.write_u64(pointer, self.prb)
        t.add_symbol("prb", pointer, 8)
        pid_max = t.alloc(4)
        t.write_u32(pid_max, 32768)
        t.add_symbol("pid_max", pid_max, 4)

    def record(
        self,
        ident: int,
        state: int,
        begin: int,
        end: int,
        text: bytes,
        ts_nsec: int = 0,
        level: int = 6,
        caller: int = 1,
        subsystem: bytes = b"",
        device: bytes = b"",
        text_at: int | None = None,
    ) -> None:
        slot = ident % (1 << COUNT_BITS)
        desc = self.descs + 24 * slot
        self.t.write_u64(desc, state << 62 | ident)
        self.t.write_u64(desc + 8, begin)
        self.t.write_u64(desc + 16, end)
        info = self.infos + 88 * slot
        self.t.write_u64(info, ident)
        self.t.write_u64(info + 8, ts_nsec)
        self.t.write(info + 16, len(text).to_bytes(2, "little") + bytes([0, level << 5]))
        self.t.write_u32(info + 20, caller)
        self.t.write(info + 24, subsystem.ljust(16, b"\0") + device.ljust(48, b"\0"))
        start = (begin % (1 << DATA_BITS)) if text_at is None else text_at
        self.t.write(self.data + start, ident.to_bytes(8, "little") + text)

    def ids(self, tail: int, head: int) -> Kernel:
        self.t.write_u64(self.prb + 32, tail)
        self.t.write_u64(self.prb + 24, head)
        return Kernel(self.t)


@pytest.fixture
def kernel() -> Kernel:
    ring = Ring()
    ring.record(1, FINALIZED, 64, 80, b"hello", ts_nsec=1_500_000_000, level=6, caller=1)
    ring.record(
        2,
        COMMITTED,
        96,
        120,
        b"line1\nline2",
        ts_nsec=2_000_001_000,
        level=3,
        caller=0x80000001,
        subsystem=b"pci",
        device=b"+pci:0000:00:01.0",
    )
    ring.record(3, FINALIZED, 120, 120, b"", ts_nsec=3_000_000_000)  # data-less: an empty line
    ring.record(4, RESERVED, 128, 144, b"unfinished", ts_nsec=3_500_000_000)  # skipped
    # Wrapped block: begins near the end of the ring, its text is stored at the ring's start.
    ring.record(5, FINALIZED, 240, 256 + 24, b"\x01bad\ttab", ts_nsec=12345_678901_234, text_at=0)
    return ring.ids(1, 5)


def test_records_follow_crash_rules(kernel: Kernel) -> None:
    recs = printk.records(kernel)
    assert [r.seq for r in recs] == [1, 2, 3, 5]
    assert recs[0].text == b"hello" and recs[0].level == 6
    assert recs[1].dictionary == ("SUBSYSTEM=pci", "DEVICE=+pci:0000:00:01.0")
    assert recs[2].text is None
    assert recs[3].text == b"\x01bad\ttab"


def test_render_plain(kernel: Kernel) -> None:
    assert printk.render(kernel) == (
        "[    1.500000] hello\n[    2.000001] line1\n               line2\n\n[12345.678901] .bad\ttab\n"
    )


def test_render_flags(kernel: Kernel) -> None:
    assert printk.render(kernel, show_time=False).splitlines() == ["hello", "line1", "line2", "", ".bad\ttab"]
    assert printk.render(kernel, show_level=True).splitlines()[:3] == [
        "[    1.500000] <6>hello",
        "[    2.000001] <3>line1",
        "                  line2",
    ]
    assert printk.render(kernel, show_dict=True).splitlines()[1:5] == [
        "[    2.000001] line1",
        "               line2",
        "               SUBSYSTEM=pci",
        "               DEVICE=+pci:0000:00:01.0",
    ]
    # crash 8.0.6 "log -c": "[%*s] " of T<pid> / C<cpu>, width 6 for pid_max <= 99999.
    assert printk.render(kernel, show_caller=True).splitlines()[:3] == [
        "[    1.500000] [    T1] hello",
        "[    2.000001] [    C1] line1",
        "                        line2",
    ]


def test_render_dmesg_like_makedumpfile(kernel: Kernel) -> None:
    assert printk.render_dmesg(kernel) == (
        "[    1.500000] hello\n[    2.000001] line1\n               line2\n[12345.678901] \\x01bad\ttab\n"
    )


def test_log_text_lines(kernel: Kernel) -> None:
    assert printk.log_text_lines(kernel)[:2] == ["hello", "line1"]


def test_unreadable_ring_is_a_log_error() -> None:
    ring = Ring()
    ring.t.write_u64(ring.prb + 8, 0xDEAD000000000000)  # descs pointer into nowhere
    with pytest.raises(printk.LogError, match="prb_desc_ring"):
        printk.records(ring.ids(1, 1))


def test_corrupted_ids_are_bounded() -> None:
    ring = Ring()
    ring.record(1, FINALIZED, 64, 80, b"hello")
    # head far from tail: the walk stops after twice the ring size.
    recs = printk.records(ring.ids(1, 1 << 40))
    assert len(recs) <= 2 * (1 << COUNT_BITS) + 1


def test_log_command(kernel: Kernel) -> None:
    session = Session(kernel.target)
    assert session.run("log -m", echo=False).startswith("[    1.500000] <6>hello\n")
    assert session.run("log -t", echo=False).splitlines()[0] == "hello"
    assert session.run("log -a", echo=False) == (
        "log: -a option not supported or applicable on this architecture or kernel\n"
    )


def test_variable_length_records() -> None:
    """Linux 3.5 to 5.9 ``struct printk_log`` records in ``log_buf``: a zero-length record at the first
    index wraps to the buffer's start (crash ``log_from_idx``/``log_next``)."""
    t = SyntheticTarget()
    t.add_struct(
        "struct printk_log",
        16,
        {
            "ts_nsec": (0, 8, "u64"),
            "len": (8, 2, "u16"),
            "text_len": (10, 2, "u16"),
            "dict_len": (12, 2, "u16"),
            "facility": (14, 1, "u8"),
            "flags": (15, 1, "u8", 0, 5),
            "level": (15, 1, "u8", 5, 3),
        },
    )
    buf = t.alloc(128)
    t.write(buf, (1_000_000_000).to_bytes(8, "little") + bytes([56, 0, 7, 0, 27, 0, 0, 4 << 5]))
    t.write(buf + 16, b"old oneSUBSYSTEM=usb\0DEVICE=c189:1")
    t.write(
        buf + 56, (2_000_000_000).to_bytes(8, "little") + bytes([24, 0, 6, 0, 0, 0, 0, 6 << 5]) + b"second"
    )
    for name, value in (("log_buf_len", 128), ("log_first_idx", 96), ("log_next_idx", 80)):
        address = t.alloc(4)
        t.write_u32(address, value)
        t.add_symbol(name, address, 4)
    pointer = t.alloc(8)
    t.write_u64(pointer, buf)
    t.add_symbol("log_buf", pointer, 8)
    kernel = Kernel(t)
    recs = printk.records(kernel)
    assert [(r.text, r.level, r.dictionary) for r in recs] == [
        (b"old one", 4, ("SUBSYSTEM=usb", "DEVICE=c189:1")),
        (b"second", 6, ()),
    ]
    assert printk.render(kernel, show_level=True) == "[    1.000000] <4>old one\n[    2.000000] <6>second\n"


def _spans(ring: Ring, base: int, size: int, reads: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The reads that fell in [base, base+size), relative to base."""
    return sorted((a - base, a - base + n) for a, n in reads if base <= a < base + size)


def test_only_the_live_part_of_the_ring_is_read() -> None:
    """Descriptors and infos of ids tail..head, and the text blocks they reference — not the whole
    arrays: a live serial link pays for every byte."""
    ring = Ring()
    ring.record(2, FINALIZED, 64, 80, b"hello")
    ring.record(3, FINALIZED, 80, 100, b"world")
    kernel = ring.ids(2, 3)
    reads: list[tuple[int, int]] = []
    read = ring.t.read

    def counting(address: int, size: int) -> bytes:
        reads.append((address, size))
        return read(address, size)

    ring.t.read = counting  # type: ignore[method-assign]
    assert [r.text for r in printk.records(kernel)] == [b"hello", b"world"]
    assert _spans(ring, ring.descs, 24 << COUNT_BITS, reads) == [(2 * 24, 4 * 24)]
    assert _spans(ring, ring.infos, 88 << COUNT_BITS, reads) == [(2 * 88, 4 * 88)]
    assert _spans(ring, ring.data, 1 << DATA_BITS, reads) == [(64 + 8, 80 + 8 + 5)]


def test_descriptor_ids_wrapping_the_ring() -> None:
    """Ids tail..head that wrap the descriptor array (slots 6, 7, 0, 1) are read in two runs."""
    ring = Ring()
    texts = {6: b"six", 7: b"seven", 8: b"eight", 9: b"nine"}
    begin = 0
    for ident, text in texts.items():
        ring.record(ident, FINALIZED, begin, begin + 8 + len(text), text, ts_nsec=ident)
        begin += 32
    recs = printk.records(ring.ids(6, 9))
    assert [(r.seq, r.text) for r in recs] == list(texts.items())
