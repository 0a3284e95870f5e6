"""The kernel log: the lockless printk ring buffer (Linux ≥ 5.10) and the older variable-length
``log_buf`` records (3.5 to 5.9), read the way crash reads them (printk.c ``dump_lockless_record_log``,
kernel.c ``dump_variable_length_record_log``).

:func:`records` returns the records in crash's order; :func:`render` produces the text of crash's ``log``
(the flags of ``log -t/-T/-m/-d/-c``); :func:`render_dmesg` the text of ``makedumpfile --dump-dmesg``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from crashcompat.core.kernel import Kernel
from crashcompat.core.target import FaultError, SymbolNotFound, TypeNotFound

__all__ = [
    "LogError",
    "LogRecord",
    "RingLayout",
    "audit_records",
    "dmesg_from_vmcoreinfo",
    "dmesg_text",
    "log_text_lines",
    "records",
    "render",
    "render_dmesg",
    "ring_records",
]

# kernel/printk/printk_ringbuffer.h: the two top bits of a descriptor's state_var are its state.
_DESC_SV_BITS = 64
_DESC_FLAGS_SHIFT = _DESC_SV_BITS - 2
_DESC_ID_MASK = (1 << _DESC_FLAGS_SHIFT) - 1
_DESC_COMMITTED = 1
_DESC_FINALIZED = 2

#: Bound on records walked in the old ``log_buf`` (a corrupted index cannot loop forever).
_MAX_OLD_RECORDS = 1 << 20


class LogError(Exception):
    """The log cannot be read; the message is crash's warning text (``cannot read printk_ringbuffer
    contents``)."""


@dataclass(frozen=True)
class LogRecord:
    """One printk record.

    :param text: the message bytes (``None`` for a data-less record, which crash prints as an empty line).
    :param level: the syslog level (``printk_info.level``, 0-7).
    :param caller_id: ``printk_info.caller_id``: a pid, or ``0x80000000 | cpu``.
    :param dictionary: ``KEY=value`` items: ``SUBSYSTEM=…``/``DEVICE=…`` from ``printk_info.dev_info``
        (or the old records' dictionary).
    """

    seq: int
    ts_nsec: int
    level: int
    facility: int
    flags: int
    caller_id: int
    text: bytes | None
    dictionary: tuple[str, ...] = field(default=())


def records(kernel: Kernel) -> list[LogRecord]:
    """Every committed/finalized record from the tail to the head of the ring, in crash's order.

    Raises :class:`LogError` when the buffer cannot be read.
    """
    return kernel.memo("printk.records", lambda: _read_records(kernel))


def _read_records(kernel: Kernel) -> list[LogRecord]:
    if kernel.has_symbol("prb"):
        return _lockless_records(kernel)
    if kernel.has_symbol("log_first_idx") and kernel.has_symbol("log_next_idx"):
        return _variable_length_records(kernel)
    raise LogError("log buf data structure(s) have changed")


@dataclass(frozen=True)
class RingLayout:
    """Where the lockless ring's fields lie (byte offsets, sizes): from the kernel's types
    (:meth:`from_types`) or from VMCOREINFO alone (:meth:`from_vmcoreinfo`, as makedumpfile reads it).

    Offsets named ``rb_*`` are in ``struct printk_ringbuffer``, ``desc_*`` in ``struct prb_desc``, the rest
    in ``struct printk_info``.  *level* and *flags* are (offset, bit offset, bit size) of the bit fields,
    ``None`` where unknown (VMCOREINFO does not describe them; the dmesg text does not need them).
    """

    rb_size: int
    rb_count_bits: int
    rb_descs: int
    rb_infos: int
    rb_head_id: int
    rb_tail_id: int
    rb_size_bits: int
    rb_data: int
    desc_size: int
    desc_state_var: int
    desc_begin: int
    desc_next: int
    info_size: int
    seq: int
    ts_nsec: int
    text_len: int
    facility: int | None = None
    caller_id: int | None = None
    level: tuple[int, int, int] | None = None
    flags: tuple[int, int, int] | None = None
    dev_fields: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def from_types(cls, kernel: Kernel) -> RingLayout:
        """The layout from the debug info's ``struct printk_ringbuffer``, ``prb_desc``, ``printk_info``."""
        rb, desc, info = "struct printk_ringbuffer", "struct prb_desc", "struct printk_info"

        def bitfield(name: str) -> tuple[int, int, int]:
            m = kernel.member(info, name)
            return (m.offset, getattr(m, "bit_offset", None) or 0, getattr(m, "bit_size", None) or 8)

        dev_fields = []
        for key, member in (("SUBSYSTEM", "dev_info.subsystem"), ("DEVICE", "dev_info.device")):
            if kernel.has_member(info, member):
                m = kernel.member(info, member)
                dev_fields.append((key, m.offset, m.size))
        return cls(
            rb_size=kernel.sizeof(rb),
            rb_count_bits=kernel.offsetof(rb, "desc_ring.count_bits"),
            rb_descs=kernel.offsetof(rb, "desc_ring.descs"),
            rb_infos=kernel.offsetof(rb, "desc_ring.infos"),
            rb_head_id=kernel.offsetof(rb, "desc_ring.head_id.counter"),
            rb_tail_id=kernel.offsetof(rb, "desc_ring.tail_id.counter"),
            rb_size_bits=kernel.offsetof(rb, "text_data_ring.size_bits"),
            rb_data=kernel.offsetof(rb, "text_data_ring.data"),
            desc_size=kernel.sizeof(desc),
            desc_state_var=kernel.offsetof(desc, "state_var.counter"),
            desc_begin=kernel.offsetof(desc, "text_blk_lpos.begin"),
            desc_next=kernel.offsetof(desc, "text_blk_lpos.next"),
            info_size=kernel.sizeof(info),
            seq=kernel.offsetof(info, "seq"),
            ts_nsec=kernel.offsetof(info, "ts_nsec"),
            text_len=kernel.offsetof(info, "text_len"),
            facility=kernel.offsetof(info, "facility"),
            caller_id=kernel.offsetof(info, "caller_id") if kernel.has_member(info, "caller_id") else None,
            level=bitfield("level"),
            flags=bitfield("flags"),
            dev_fields=tuple(dev_fields),
        )

    @classmethod
    def from_vmcoreinfo(cls, info: Mapping[str, str]) -> RingLayout:
        """The layout from VMCOREINFO's ``SIZE()``/``OFFSET()``/``LENGTH()`` entries for the ring, which the
        kernel exports for dump tools since the lockless ring (commit 896fbe20b4e2, kernel/printk/printk.c
        ``log_buf_vmcoreinfo_setup``).

        :raises KeyError: an entry is missing (an older kernel: its log needs the vmlinux).
        """

        def num(key: str) -> int:
            return int(info[key])

        def off(struct_name: str, member: str) -> int:
            return num(f"OFFSET({struct_name}.{member})")

        counter = off("atomic_long_t", "counter")
        desc_ring = off("printk_ringbuffer", "desc_ring")
        data_ring = off("printk_ringbuffer", "text_data_ring")
        text_lpos = off("prb_desc", "text_blk_lpos")
        dev_info = off("printk_info", "dev_info")
        dev_fields = []
        for key, member, length in (
            ("SUBSYSTEM", "subsystem", "printk_info_subsystem"),
            ("DEVICE", "device", "printk_info_device"),
        ):
            if f"OFFSET(dev_printk_info.{member})" in info and f"LENGTH({length})" in info:
                dev_fields.append((key, dev_info + off("dev_printk_info", member), num(f"LENGTH({length})")))
        return cls(
            rb_size=num("SIZE(printk_ringbuffer)"),
            rb_count_bits=desc_ring + off("prb_desc_ring", "count_bits"),
            rb_descs=desc_ring + off("prb_desc_ring", "descs"),
            rb_infos=desc_ring + off("prb_desc_ring", "infos"),
            rb_head_id=desc_ring + off("prb_desc_ring", "head_id") + counter,
            rb_tail_id=desc_ring + off("prb_desc_ring", "tail_id") + counter,
            rb_size_bits=data_ring + off("prb_data_ring", "size_bits"),
            rb_data=data_ring + off("prb_data_ring", "data"),
            desc_size=num("SIZE(prb_desc)"),
            desc_state_var=off("prb_desc", "state_var") + counter,
            desc_begin=text_lpos + off("prb_data_blk_lpos", "begin"),
            desc_next=text_lpos + off("prb_data_blk_lpos", "next"),
            info_size=num("SIZE(printk_info)"),
            seq=off("printk_info", "seq"),
            ts_nsec=off("printk_info", "ts_nsec"),
            text_len=off("printk_info", "text_len"),
            caller_id=off("printk_info", "caller_id") if "OFFSET(printk_info.caller_id)" in info else None,
            dev_fields=tuple(dev_fields),
        )


def _lockless_records(kernel: Kernel) -> list[LogRecord]:
    """Linux 5.10+ (commit 896fbe20b4e2 "printk: use the lockless ringbuffer")."""
    try:
        prb = kernel.read_pointer(kernel.symbol("prb"))
    except FaultError:
        raise LogError("cannot read printk_ringbuffer contents") from None
    return ring_records(kernel.read, prb, RingLayout.from_types(kernel))


def ring_records(read: Callable[[int, int], bytes], prb: int, layout: RingLayout) -> list[LogRecord]:
    """The committed/finalized records of the lockless ring at *prb* (``struct printk_ringbuffer *``),
    read through *read(address, size)* with the field positions of *layout*.

    Reads only the live part of the ring: the descriptors and infos of ids tail..head and the text
    blocks they reference (on a live serial link the whole ring costs minutes).
    """
    L = layout

    def u64(buf: bytes | bytearray, off: int) -> int:
        return int.from_bytes(buf[off : off + 8], "little")

    def u32(buf: bytes | bytearray, off: int) -> int:
        return int.from_bytes(buf[off : off + 4], "little")

    def bits(buf: bytes | bytearray, field_at: tuple[int, int, int] | None) -> int:
        if field_at is None:
            return 0
        offset, bit_offset, bit_size = field_at
        return buf[offset] >> bit_offset & ((1 << bit_size) - 1)

    try:
        rb = read(prb, L.rb_size)
    except FaultError:
        raise LogError("cannot read printk_ringbuffer contents") from None
    count = 1 << u32(rb, L.rb_count_bits)
    tail = u64(rb, L.rb_tail_id)
    head = u64(rb, L.rb_head_id)
    # The slots (start, end) of ids tail..head: one run, or two when the ids wrap the arrays.
    span = ((head - tail) & _DESC_ID_MASK) + 1
    if span > count:  # a corrupted tail or head: walk the whole ring as it stands, bounded below
        slots = [(0, count)]
    else:
        first = tail % count
        slots = [(first, min(first + span, count))]
        if first + span > count:
            slots.append((0, first + span - count))
    desc_size, info_size = L.desc_size, L.info_size
    try:
        descs = _read_spans(
            read, u64(rb, L.rb_descs), desc_size * count, [(a * desc_size, b * desc_size) for a, b in slots]
        )
    except FaultError:
        raise LogError("cannot read prb_desc_ring contents") from None
    try:
        infos = _read_spans(
            read, u64(rb, L.rb_infos), info_size * count, [(a * info_size, b * info_size) for a, b in slots]
        )
    except FaultError:
        raise LogError("cannot read prb_info_ring contents") from None
    data_size = 1 << u32(rb, L.rb_size_bits)

    # The committed/finalized records, with the span (start, end) of the text ring holding each one's text.
    found: list[tuple[bytearray, tuple[int, int] | None]] = []
    ident = tail
    for _ in range(2 * count + 1):
        last = ident == head
        slot = ident % count
        desc = descs[slot * desc_size : (slot + 1) * desc_size]
        state_var = u64(desc, L.desc_state_var)
        if state_var & _DESC_ID_MASK == ident and state_var >> _DESC_FLAGS_SHIFT in (
            _DESC_COMMITTED,
            _DESC_FINALIZED,
        ):
            info = infos[slot * info_size : (slot + 1) * info_size]
            begin = u64(desc, L.desc_begin) % data_size
            end = u64(desc, L.desc_next) % data_size
            text: tuple[int, int] | None = None
            if begin != end:
                text_len = int.from_bytes(info[L.text_len : L.text_len + 2], "little")
                if begin > end:  # the block wrapped: its text starts at the beginning of the ring
                    begin = 0
                begin += 8  # skip the block's descriptor id
                if 0 <= end - begin < text_len:  # truncated message
                    text_len = end - begin
                text = (begin, begin + text_len)
            found.append((info, text))
        if last:
            break
        ident = (ident + 1) & _DESC_ID_MASK
    try:
        data = bytes(_read_spans(read, u64(rb, L.rb_data), data_size, [t for _, t in found if t]))
    except FaultError:
        raise LogError("cannot read prb_text_data_ring contents") from None

    out: list[LogRecord] = []
    for info, text in found:
        dictionary = []
        for key, off, size in L.dev_fields:
            value = info[off : off + size].split(b"\0", 1)[0]
            if value:
                dictionary.append(f"{key}={value.decode('utf-8', 'replace')}")
        out.append(
            LogRecord(
                seq=u64(info, L.seq),
                ts_nsec=u64(info, L.ts_nsec),
                level=bits(info, L.level),
                facility=info[L.facility] if L.facility is not None else 0,
                flags=bits(info, L.flags),
                caller_id=u32(info, L.caller_id) if L.caller_id is not None else 0,
                text=None if text is None else data[text[0] : text[1]],
                dictionary=tuple(dictionary),
            )
        )
    return out


#: Gaps of up to this many bytes between the spans :func:`_read_spans` reads are read through (a round
#: trip costs more than a few bytes on a live link).
_GAP = 1024


def _read_spans(
    read: Callable[[int, int], bytes], base: int, size: int, spans: list[tuple[int, int]]
) -> bytearray:
    """A buffer of *size* bytes at *base* (a ring) with only the byte ranges *spans* (start, end) read —
    merged when the gap between them is at most :data:`_GAP`; the rest stays zero."""
    buf = bytearray(size)
    runs: list[list[int]] = []
    for start, end in sorted(spans):
        end = min(end, size)
        if start >= end:
            continue
        if runs and start <= runs[-1][1] + _GAP:
            runs[-1][1] = max(runs[-1][1], end)
        else:
            runs.append([start, end])
    for start, end in runs:
        buf[start:end] = read(base + start, end - start)
    return buf


def _variable_length_records(kernel: Kernel) -> list[LogRecord]:
    """Linux 3.5 to 5.9: ``struct printk_log`` records in ``log_buf`` (``struct log`` before 3.11, commit
    62e32ac3505a "printk: rename struct log to struct printk_log")."""
    type_name = "struct printk_log"
    try:
        header = kernel.sizeof(type_name)
    except TypeNotFound:
        type_name = "struct log"
        header = kernel.sizeof(type_name)
    try:
        first = kernel.read_global_u32("log_first_idx")
        last = kernel.read_global_u32("log_next_idx")
        size = kernel.read_global_u32("log_buf_len")
        buf = kernel.read(kernel.read_pointer(kernel.symbol("log_buf")), size)
    except (FaultError, SymbolNotFound):
        raise LogError("cannot read log_buf contents") from None
    off = {n: kernel.offsetof(type_name, n) for n in ("ts_nsec", "len", "text_len", "dict_len")}
    level_m = kernel.member(type_name, "level")
    has_caller = kernel.has_member(type_name, "caller_id")

    def u16(pos: int) -> int:
        return int.from_bytes(buf[pos : pos + 2], "little")

    out: list[LogRecord] = []
    index = first
    seq = 0
    while index != last and len(out) < _MAX_OLD_RECORDS and index + header <= len(buf):
        pos = index
        if not u16(pos + off["len"]):  # end-of-buffer marker: the record is at the start
            pos = 0
        length = u16(pos + off["len"])
        if not length:
            break
        text_len, dict_len = u16(pos + off["text_len"]), u16(pos + off["dict_len"])
        text = buf[pos + header : pos + header + text_len]
        raw_dict = buf[pos + header + text_len : pos + header + text_len + dict_len]
        level_byte = buf[pos + level_m.offset]
        level = level_byte >> (level_m.bit_offset or 0) & ((1 << (level_m.bit_size or 3)) - 1)
        caller = (
            int.from_bytes(buf[pos + kernel.offsetof(type_name, "caller_id") :][:4], "little")
            if has_caller
            else 0
        )
        out.append(
            LogRecord(
                seq=seq,
                ts_nsec=int.from_bytes(buf[pos + off["ts_nsec"] : pos + off["ts_nsec"] + 8], "little"),
                level=level,
                facility=0,
                flags=0,
                caller_id=caller,
                text=text,
                dictionary=tuple(d.decode("utf-8", "replace") for d in raw_dict.split(b"\0") if d),
            )
        )
        seq += 1
        index = pos + length
    return out


# ---- rendering ------------------------------------------------------------------------------------------


def _printable(byte: int) -> bool:
    """C-locale ``isprint(c) || isspace(c)`` of a (signed) ``char``."""
    return 0x20 <= byte < 0x7F or byte in (0x09, 0x0A, 0x0B, 0x0C, 0x0D)


def _text(raw: bytes, indent: int, escape: bool = False) -> str:
    """A message body: embedded newlines continue under the prefix; non-printable bytes become ``.``
    (crash) or ``\\xNN`` (makedumpfile, which prints the sign-extended ``char``)."""
    out = []
    pad = "\n" + " " * indent
    for byte in raw:
        if byte == 0x0A:
            out.append(pad)
        elif _printable(byte):
            out.append(chr(byte))
        elif escape:
            out.append(f"\\x{byte:02x}" if byte < 0x80 else f"\\x{byte | 0xFFFFFF00:08x}")
        else:
            out.append(".")
    return "".join(out)


def timestamp(ts_nsec: int) -> str:
    """``[%5lld.%06ld] `` of a record's ``ts_nsec``."""
    return f"[{ts_nsec // 1_000_000_000:5d}.{ts_nsec % 1_000_000_000 // 1000:06d}] "


def caller_width(kernel: Kernel) -> int:
    """crash's ``pid_max_chars`` for ``log -c``: 6 for ``pid_max`` ≤ 99999, 7 up to 999999, else 8."""
    try:
        pid_max = kernel.read_global_u32("pid_max")
    except (SymbolNotFound, FaultError):
        return 8
    return 6 if pid_max <= 99999 else 7 if pid_max <= 999999 else 8


def render(
    kernel: Kernel,
    *,
    show_time: bool = True,
    human_time: bool = False,
    boot_time: int = 0,
    show_level: bool = False,
    show_dict: bool = False,
    show_caller: bool = False,
) -> str:
    """The text of crash's ``log`` with the given flags.

    :param show_time: ``False`` for ``-t``.  :param human_time: ``-T``: ``[%a %b %e %T %Z %Y] `` of
        *boot_time* (seconds since the epoch, crash's ``boot_date``) plus the record's seconds.
    :param show_level: ``-m``; :param show_dict: ``-d``; :param show_caller: ``-c`` (crash ≥ 8.0.5).
    """
    width = caller_width(kernel) if show_caller else 0
    out: list[str] = []
    for rec in records(kernel):
        if rec.text is None:
            out.append("\n")
            continue
        prefix = ""
        if show_time:
            if human_time:
                seconds = boot_time + rec.ts_nsec // 1_000_000_000
                prefix = "[" + time.strftime("%a %b %e %T %Z %Y", time.localtime(seconds)) + "] "
            else:
                prefix = timestamp(rec.ts_nsec)
        if show_caller:
            cid = rec.caller_id
            ident = f"C{cid & 0x7FFFFFFF}" if cid & 0x80000000 else f"T{cid}"
            prefix += f"[{ident:>{width}}] "
        if show_level:
            prefix += f"<{rec.level:x}>"
        line = prefix + _text(rec.text, len(prefix))
        if show_dict:
            line += "".join("\n" + " " * len(prefix) + item for item in rec.dictionary)
        out.append(line + "\n")
    return "".join(out)


def log_text_lines(kernel: Kernel) -> list[str]:
    """The lines of ``log -t`` (message text only): what crash searches for the panic message."""
    return render(kernel, show_time=False).splitlines()


def render_dmesg(kernel: Kernel) -> str:
    """The text ``makedumpfile --dump-dmesg`` writes for this kernel's log (makedumpfile 1.7 printk.c):
    every record with text, ``[%5lld.%06ld] `` prefix, continuation lines indented under it, and
    non-printable bytes as ``\\xNN``."""
    return dmesg_text(records(kernel))


def dmesg_text(found: Iterable[LogRecord]) -> str:
    """The ``makedumpfile --dump-dmesg`` text of *found* records (see :func:`render_dmesg`)."""
    out = []
    for rec in found:
        if rec.text is None:
            continue
        prefix = timestamp(rec.ts_nsec)
        out.append(prefix + _text(rec.text, len(prefix), escape=True) + "\n")
    return "".join(out)


def dmesg_from_vmcoreinfo(info: Mapping[str, str], read: Callable[[int, int], bytes]) -> str:
    """The ``makedumpfile --dump-dmesg`` text from a dump's memory and its VMCOREINFO alone, without the
    vmlinux: ``SYMBOL(prb)`` and the ring's ``SIZE()``/``OFFSET()`` entries (:meth:`RingLayout.from_vmcoreinfo`).

    :param read: reads kernel virtual memory: ``read(address, size)``.
    :raises LogError: no ring in VMCOREINFO (a kernel before 5.10), or the ring cannot be read.
    """
    try:
        layout = RingLayout.from_vmcoreinfo(info)
        prb_pointer = int(info["SYMBOL(prb)"], 16)
    except (KeyError, ValueError):
        raise LogError("the dump's VMCOREINFO does not describe the printk ring buffer") from None
    try:
        prb = int.from_bytes(read(prb_pointer, 8), "little")
    except FaultError:
        raise LogError("cannot read printk_ringbuffer contents") from None
    return dmesg_text(ring_records(read, prb, layout))


def audit_records(kernel: Kernel) -> list[tuple[int, str]]:
    """Audit messages still queued in the kernel (crash ``dump_audit``): ``(nlmsg_type, text)`` from
    ``audit_hold_queue``, ``audit_retry_queue`` and ``audit_queue`` (``audit_skb_hold_queue`` and
    ``audit_skb_queue`` before 4.11, commit af8b824f283d "audit: rename the queues and kauditd related
    functions").  Raises :class:`SymbolNotFound` without CONFIG_AUDIT.
    """
    if kernel.has_symbol("audit_skb_queue"):
        names: tuple[str, ...] = ("audit_skb_hold_queue", "audit_skb_queue")
    elif kernel.has_symbol("audit_queue"):
        names = ("audit_hold_queue", "audit_retry_queue", "audit_queue")
    else:
        raise SymbolNotFound("audit_queue")
    header = (kernel.sizeof("struct nlmsghdr") + 3) & ~3  # NLMSG_HDRLEN
    type_off = kernel.offsetof("struct nlmsghdr", "nlmsg_type")
    out: list[tuple[int, str]] = []
    for name in names:
        if not kernel.has_symbol(name):
            continue
        queue = kernel.struct("struct sk_buff_head", kernel.symbol(name))
        qlen = queue.uint("qlen")
        node = queue.ptr("next")
        for _ in range(min(qlen, 1 << 16)):
            if node == queue.address or not node:
                break
            skb = kernel.struct("struct sk_buff", node)
            data = skb.ptr("data")
            length = max(skb.uint("len") - header, 0)
            kind = int.from_bytes(kernel.read(data + type_off, 2), "little")
            text = kernel.read(data + header, length).split(b"\0", 1)[0]
            out.append((kind, text.decode("utf-8", "replace")))
            node = skb.ptr("next")
    return out
