"""Memory commands: ``rd``, ``wr``, ``ptov`` and ``search`` (crash's memory.c ``cmd_rd``/``display_memory``,
``cmd_wr``, ``cmd_ptov``, ``cmd_search``), over the kernel model's reads that fail with crash's reasons
(:mod:`crashcompat.api.kernel.memory`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    CommandError,
    Kernel,
    Option,
    TargetError,
    command,
    hookimpl,
    mkstring,
    parse_cpu_spec,
    task_header,
)
from crashcompat.api.kernel import layout, memory, mm, slub, stacks, symbols, tasks
from crashcompat.plugins._words import (
    Options,
    can_eval,
    crash_eval,
    is_number,
    parse_hex,
    parse_number,
    symbol_not_found,
    symbol_search,
)

RD_SYNOPSIS = "rd [-adDsSupxmfNR][-8|-16|-32|-64][-o offs][-e addr][-r file][address|symbol]\n     [count]"

#: ``display_memory``'s columns per item size: items per line, hex digits, where the ASCII text starts
#: (``ASCII_START_*`` with ``VADDR_PRLEN`` 16).
_PER_LINE = {1: 16, 2: 8, 4: 4, 8: 2}
_HEX_DIGITS = {1: 2, 2: 4, 4: 8, 8: 16}
_ASCII_START = {1: 67, 2: 59, 4: 55, 8: 53}


def _address_or_symbol(ctx: CommandContext, word: str) -> int | None:
    """crash's ``hexadecimal()`` test, then ``symbol_search()``; ``None`` after printing crash's list of
    possible alternatives."""
    if is_number(word):
        return parse_hex(word)
    sym = symbol_search(ctx.kernel, word)
    if sym is None:
        symbol_not_found(ctx, word)
        return None
    return sym.address


# ---- rd ------------------------------------------------------------------------------------------------------


@dataclass
class Display:
    """How ``display_memory`` shows the items (crash's flag bits)."""

    size: int = 8
    ascii: bool = False
    radix: str = "hex"  # "hex", "signed" (-d) or "unsigned" (-D)
    symbolic: int = 0  # 1: -s, 2: -S, 3: -SS
    no_ascii: bool = False
    net_endian: bool = False


def _item_text(kernel: Kernel, value: int, shown: Display) -> str:
    size = shown.size
    if shown.symbolic and shown.radix == "hex" and size in (8, 4):
        sym = symbols.lookup(kernel, value) if value else None
        if sym is not None:
            return f"{symbols.format_offset(sym, value, 10):<16} "
        if shown.symbolic > 1:
            try:
                found = slub.slab_of_address(kernel, value)
            except TargetError:
                found = None
            if found is not None:
                name = f"[{value:x}:{found[0].name}]" if shown.symbolic > 2 else f"[{found[0].name}]"
                return f"{name:<16} "
    if shown.net_endian and size in (2, 4):
        value = int.from_bytes(value.to_bytes(size, "little"), "big")
    if shown.radix == "hex":
        return f"{value:0{_HEX_DIGITS[size]}x} "
    signed = value - (1 << (8 * size)) if value >> (8 * size - 1) else value
    if size == 8:
        return f"{signed:15d} " if shown.radix == "signed" else f"{value:20d} "
    if size == 4:
        return f"{signed if shown.radix == 'signed' else value:12d} "
    if size == 2:
        return f"{value:5d} "
    return f"{value:3d} "


def display_memory(
    kernel: Kernel,
    address: int,
    count: int,
    shown: Display,
    space: memory.Space,
    mm: int | None = None,
    ascii_unlimited: bool = False,
    command: str = "rd",
) -> tuple[str, str | None]:
    """crash's ``display_memory()``: the text of *count* items from *address*, and crash's error line for
    the item where reading stopped (``None``: all read, or a quiet excluded page).  In the dump file
    (``rd -f``) crash goes on past a failed item: each gets its error line inside the text, where crash
    prints it (the open line's text column comes after them).

    :param ascii_unlimited: ``rd -a`` without a count: stop at the first unprintable byte.
    :param command: the command those error lines are named by (``dev -v`` shows a device dump this way).
    """
    if count <= 0:
        raise CommandError(f"invalid count request: {count}")
    size = 1 if shown.ascii else shown.size
    what = "ascii" if shown.ascii else f"{8 * size}-bit {memory.space_name(space)}"
    if shown.ascii and ascii_unlimited:
        data, fault = _read_string(kernel, address, space, mm)
    else:
        data, fault = memory.read_prefix(kernel, address, count * size, space, mm)
    items = len(data) // size
    out: list[str] = []
    if shown.ascii:
        _ascii_lines(out, address, data[:items], ascii_unlimited)
    else:
        hexadecimal = shown.radix == "hex"
        endline = hexadecimal and not shown.symbolic and not shown.no_ascii
        per_line = _PER_LINE[size]
        chars = ""
        length = 0
        for i in range(items):
            at = address + i * size
            raw = data[i * size : (i + 1) * size]
            if i % per_line == 0:
                if i:
                    out.append(f"  {chars}\n" if endline else "\n")
                out.append(f"{at:>16x}:  ")
                chars = ""
                length = 19
            text = _item_text(kernel, int.from_bytes(raw, "little"), shown)
            out.append(text)
            length += len(text)
            if shown.net_endian and size in (2, 4) and not text.startswith("["):
                raw = raw[::-1]  # crash swaps the value before it takes the text column's bytes from it
            if hexadecimal:
                chars += "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in raw)
        if fault is not None and space == "file":
            for i in range(items, count):
                item = memory.MemoryFault(fault.kind, fault.space, address + i * size)
                out.append(f"{command}: {item.message(what)}\n")
            fault = None
        if endline and chars:
            out.append(" " * max(_ASCII_START[size] - length, 0) + f"  {chars}")
        if items:
            out.append("\n")
    error = None
    if fault is not None:
        stopped = address + items * size
        error = memory.MemoryFault(fault.kind, fault.space, stopped).message(what)
    return "".join(out), error


def _read_string(
    kernel: Kernel, address: int, space: memory.Space, mm: int | None
) -> tuple[bytes, memory.MemoryFault | None]:
    """``rd -a`` without a count: the bytes up to and including the first unprintable one (read a page at
    a time, at most 1 MiB)."""
    out = bytearray()
    at = address
    while len(out) < 1 << 20:
        chunk = 4096 - at % 4096
        data, fault = memory.read_prefix(kernel, at, chunk, space, mm)
        for b in data:
            out.append(b)
            if not 0x20 <= b < 0x7F:
                return bytes(out), None
        if fault is not None:
            return bytes(out), fault
        at += chunk
    return bytes(out), None


def _ascii_lines(out: list[str], address: int, data: bytes, unlimited: bool) -> None:
    """The ``DISPLAY_ASCII`` loop: 60 printable characters a line, each line headed by its address.  An
    unprintable byte ends the text when no count was given (then without a newline, as crash does) and
    otherwise starts a new line at the next printable one."""
    column = 0
    shown = 0
    for i, b in enumerate(data):
        if 0x20 <= b < 0x7F:
            if column % 60 == 0:
                if shown and i:
                    out.append("\n")
                out.append(f"{address + i:>16x}:  ")
            out.append(chr(b))
            shown += 1
            column += 1
        elif unlimited:
            return
        else:
            column = 0
    if data:
        out.append("\n")


_RD_ARGUMENTS: list[Option | Argument] = [
    Option("-8", dest="size8", help="show 8-bit values."),
    Option("-16", dest="size16", help="show 16-bit values."),
    Option("-32", dest="size32", help="show 32-bit values."),
    Option("-64", dest="size64", help="show 64-bit values (the default)."),
    Option("-a", help="show the memory as text: printable characters, up to the first other byte."),
    Option("-s", help="show 64-bit values that are kernel symbols by name, and no text column."),
    Option("-S", help="like -s, and name the slab cache of values inside a slab object (-SS: address too)."),
    Option("-x", help="leave out the text column of a hexadecimal display."),
    Option("-d", help="show values in signed decimal."),
    Option("-D", help="show values in unsigned decimal."),
    Option("-N", help="show 16- and 32-bit values in network byte order."),
    Option("-R", help="show the items ending at the address instead of starting there."),
    Option("-u", help="the address is a user address of the current context's process."),
    Option("-p", help="the address is a physical address."),
    Option("-o", "offs", help="add this byte offset to the address."),
    Option("-e", "addr", help="show memory up to this address (instead of a count)."),
    Option("-r", "file", help="copy the memory, raw, into this file (needs a count or -e)."),
    Option("-m", help=""),
    Option("-f", help="the address is an offset in the dump file itself."),
    Argument(
        "words",
        "address | symbol [count]",
        nargs=argparse.REMAINDER,
        help="where to start (a hexadecimal address, or a symbol) and how many items to show (one by "
        "default; -a without a count shows the whole string).",
    ),
]


@command(
    "rd",
    summary="show memory contents",
    synopsis=RD_SYNOPSIS,
    description="""
    Displays memory from a kernel virtual address (or a symbol), a user address of the current
    context's process (-u) or a physical address (-p): a count of 8-, 16-, 32- or 64-bit items per
    line in hexadecimal followed by the same bytes as text, or in decimal, or as a string (-a).
    Addresses below the kernel's are read as user addresses.  Pages that the dump does not hold stop
    the display with crash's error; pages that makedumpfile left out stop it silently.
    """,
    arguments=_RD_ARGUMENTS,
    examples="""
    Two 64-bit words of jiffies, and a string:

      crash> rd jiffies 2
      ffffffff8f6079c0:  00000000fffee7a8 0000000000000000   ................
      crash> rd -a linux_banner 20
      ffffffff8ed1ffe0:  Linux version 6.1.0-
    """,
)
def rd(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    usage = ctx.session.lookup("rd")
    assert usage is not None
    opts = Options(ctx.argv, "Raxme:r:pfudDusSNo:81:3:6:")
    shown = Display()
    space: memory.Space = "kernel"
    order = [(letter, value) for letter, values in opts.values.items() for value in values]
    bad = False
    for letter, value in _in_order(ctx.argv, order):
        if letter == "a":
            shown.ascii = True
        elif letter == "8":
            shown.ascii, shown.size = False, 1
        elif letter in "136":
            want = {"1": "6", "3": "2", "6": "4"}[letter]
            if value != want:
                ctx.write(f"rd: invalid option: {letter}{value}\n")
                bad = True
            else:
                shown.ascii, shown.size = False, {"1": 2, "3": 4, "6": 8}[letter]
        elif letter in "sS":
            if shown.ascii or shown.size != 8:
                ctx.write(f"rd: -{letter} option is only allowed with 64-bit display\n")
                bad = True
            else:
                shown.symbolic = max(shown.symbolic, 1) if letter == "s" else max(shown.symbolic + 1, 2)
        elif letter == "x":
            shown.no_ascii = True
        elif letter == "N":
            shown.net_endian = True
        elif letter == "d":
            shown.radix = "signed"
        elif letter == "D":
            shown.radix = "unsigned"
        elif letter == "p":
            space = "physical"
        elif letter == "u":
            space = "user"
        elif letter == "m":
            raise CommandError("-m option only applies to xen architecture")
        elif letter == "f":
            if kernel.target.live or not kernel.target.info.path:
                raise CommandError("-f option requires a dumpfile")
            space = "file"
    if bad or not opts.words:
        ctx.write(usage.usage_text())
        return
    end = parse_hex(opts.value("e") or "0") if "e" in opts else 0
    offset = parse_number(opts.value("o") or "0") if "o" in opts else 0
    address = _address_or_symbol(ctx, opts.words[0])
    if address is None:
        return
    address += offset
    count = parse_number(opts.words[1]) if len(opts.words) > 1 else -1
    size = 1 if shown.ascii else shown.size
    raw_file = opts.value("r")
    unlimited = False
    if count == -1:
        if end:
            if end <= address:
                raise CommandError(f"invalid ending address: {end:x}")
            count = max((end - address) // size, 1)
        else:
            if raw_file is not None:
                raise CommandError("-r option requires either a count argument or the -e option")
            unlimited = shown.ascii
            count = 1 << 62 if unlimited else 1
    elif end:
        ctx.write("WARNING: ending address ignored when count is specified\n")
    if space == "kernel" and not layout.layout(kernel).is_kvaddr(address):
        space = "user"
    if "R" in opts:
        count = count or 1
        if count > 1:
            address -= count * size - size
    mm = tasks.task_mm(kernel, ctx.session.current_task()) if space == "user" else None
    if raw_file is not None:
        _raw_copy(ctx, address, count, space, mm, raw_file)
        return
    text, error = display_memory(kernel, address, count, shown, space, mm, unlimited)
    ctx.write(text)
    if error is not None:
        raise CommandError(error)


def _in_order(argv: list[str], found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The options in the order the command line gave them (getopt's order decides which size wins)."""
    ordered: list[tuple[str, str]] = []
    remaining = list(found)
    for word in argv:
        if not word.startswith("-") or word == "-":
            continue
        for letter in word[1:]:
            for i, (found_letter, _value) in enumerate(remaining):
                if found_letter == letter:
                    ordered.append(remaining.pop(i))
                    break
            if letter in "136eor":
                break
    return ordered + remaining


def _raw_copy(
    ctx: CommandContext, address: int, count: int, space: memory.Space, mm: int | None, path: str
) -> None:
    """``rd -r FILE``: the bytes themselves into a file."""
    try:
        f = open(path, "wb")  # noqa: SIM115 - closed below
    except OSError:
        raise CommandError(f"cannot open output file: {path}") from None
    with f:
        data = memory.read_memory(ctx.kernel, address, count, space, "raw dump to file", mm)
        f.write(data)
    ctx.write(f"{count} bytes copied from 0x{address:x} to {path}\n")


# ---- wr ------------------------------------------------------------------------------------------------------


@command(
    "wr",
    summary="change memory (live kernels only)",
    synopsis="wr [-u|-k|-p] [-8|-16|-32|-64] [address | symbol] value",
    description="""
    Writes one value (64 bits unless a size is given) at a kernel virtual address or symbol, a user
    address of the current context's process (-u) or a physical address (-p).  Only a live kernel can
    be changed: on a dump file the command refuses, and dump files are never written.
    """,
    arguments=[
        Option("-8", dest="size8", help="write an 8-bit value."),
        Option("-16", dest="size16", help="write a 16-bit value."),
        Option("-32", dest="size32", help="write a 32-bit value."),
        Option("-64", dest="size64", help="write a 64-bit value (the default)."),
        Option("-u", help="the address is a user address of the current context's process."),
        Option("-k", help="the address is a kernel virtual address."),
        Option("-p", help="the address is a physical address."),
        Option("-f", help=""),
        Argument(
            "words",
            "address | symbol value",
            nargs=argparse.REMAINDER,
            help="where to write (a hexadecimal address or a symbol) and the value (decimal, or hexadecimal "
            "with 0x).",
        ),
    ],
)
def wr(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if not ctx.target.live:
        raise CommandError("not allowed on dumpfiles")
    usage = ctx.session.lookup("wr")
    assert usage is not None
    opts = Options(ctx.argv, "fukp81:3:6:")
    size = 8
    space: memory.Space | None = None
    for letter, values in opts.values.items():
        given = values[-1]
        if letter == "8":
            size = 1
        elif letter in "136":
            want = {"1": "6", "3": "2", "6": "4"}[letter]
            if given != want:
                ctx.write(f"wr: invalid option: {letter}{given}\n")
                ctx.write(usage.usage_text())
                return
            size = {"1": 2, "3": 4, "6": 8}[letter]
        elif letter == "p":
            space = "physical"
        elif letter == "u":
            space = "user"
        elif letter == "k":
            space = "kernel"
        elif letter == "f":
            raise CommandError("-f option requires a dumpfile")
    if len(opts.words) < 2:
        ctx.write(usage.usage_text())
        return
    address = _address_or_symbol(ctx, opts.words[0])
    if address is None:
        return
    value = parse_number(opts.words[1]) & ((1 << (8 * size)) - 1)
    if space is None:
        lay = layout.layout(kernel)
        space = "user" if lay.is_uvaddr(address) else "kernel"
    if space == "user" and not layout.layout(kernel).is_uvaddr(address):
        raise CommandError(f"invalid user virtual address: {address:x}")
    if space == "kernel" and not layout.layout(kernel).is_kvaddr(address):
        raise CommandError(f"invalid kernel virtual address: {address:x}")
    data = value.to_bytes(size, "little")
    if space == "kernel":
        ctx.target.write(address, data)
    else:
        physical = address
        if space == "user":
            mm = tasks.task_mm(kernel, ctx.session.current_task())
            found = memory.translate(kernel, address, "user", memory.user_pgd(kernel, mm))
            if found is None:
                raise CommandError(f"invalid user virtual address: {address:x}")
            physical = found
        ctx.target.write_physical(physical, data)
    kernel.invalidate()
    ctx.target.invalidate()


# ---- ptov ----------------------------------------------------------------------------------------------------


@command(
    "ptov",
    summary="translate physical addresses (or per-cpu offsets) to kernel virtual addresses",
    synopsis="ptov [address | offset:cpuspec]",
    description="""
    For each physical address, prints its address in the kernel's direct map.  An offset followed by
    a colon and CPUs (offset:0,2 or offset:a) prints that per-cpu offset's address on each CPU.
    """,
    arguments=[
        Argument(
            "words",
            "address | offset:cpuspec",
            nargs="*",
            help="physical addresses in hexadecimal, or per-cpu offsets with the CPUs after a colon.",
        )
    ],
)
def ptov(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if not ctx.argv:
        usage = ctx.session.lookup("ptov")
        assert usage is not None
        ctx.write(usage.usage_text())
        return
    for others, word in enumerate(ctx.argv):
        text, colon, spec = word.partition(":")
        if colon:
            current = tasks.read_task(kernel, ctx.session.current_task()).cpu
            cpus = parse_cpu_spec(spec, tasks.cpu_count(kernel)) if spec else [current]
        offset = parse_hex(text)
        if colon:
            ncpus = tasks.cpu_count(kernel)
            width = len(f"[{ncpus - 1}]") + 2
            ctx.write(f"{chr(10) if others else ''}PER-CPU OFFSET: {offset:x}\n")
            ctx.write(f"  {mkstring('CPU', width)}  {mkstring('VIRTUAL', 16)}\n")
            for cpu in cpus:
                ctx.write(f"  {mkstring(f'[{cpu}]', width)}{offset + kernel.per_cpu_offset(cpu):x}\n")
        else:
            virtual = kernel.phys_to_virt(offset)
            ctx.write(f"{chr(10) if others else ''}{mkstring('VIRTUAL', 16)}  {mkstring('PHYSICAL', 16)}\n")
            ctx.write(f"{mkstring(f'{virtual:x}', 16)}  {mkstring(f'{offset:x}', 16)}\n")


# ---- search --------------------------------------------------------------------------------------------------

SEARCH_SYNOPSIS = (
    "search [-s start] [ -[kKV] | -u | -p | -t | -T ] [-e end | -l length] [-m mask]\n"
    "         [-x count] -[cwh] [value | (expression) | symbol | string] ..."
)
#: How many bytes of text crash shows from a string match (``CHARS_CTX``).
_CHARS_CONTEXT = 56
#: Merged readable memory is searched in pieces of this size (with an overlap for matches across them).
_PIECE = 8 << 20


@dataclass
class _Needle:
    """One value (or string) to look for, and what crash prints after a match: ``(symbol)`` or nothing."""

    value: int
    label: str
    text: bytes = b""


def _merged(chunks: Iterator[tuple[int, bytes]], overlap: int) -> Iterator[tuple[int, bytes, int]]:
    """Contiguous chunks joined into pieces of about ``_PIECE`` bytes: ``(address, bytes, fresh)`` where
    matches before ``address + fresh``... begin at ``fresh``: the first *fresh* bytes were already searched
    as the tail of the previous piece (they are repeated so that matches across the seam are found)."""
    buffer = bytearray()
    base = 0
    skip = 0
    for address, data in chunks:
        if buffer and base + len(buffer) != address:
            yield base, bytes(buffer), skip
            buffer, skip = bytearray(), 0
        if not buffer:
            base = address
        buffer += data
        if len(buffer) >= _PIECE:
            yield base, bytes(buffer), skip
            keep = min(overlap, len(buffer))
            tail = buffer[-keep:] if keep else bytearray()
            base = base + len(buffer) - keep
            buffer, skip = bytearray(tail), keep
    if buffer:
        yield base, bytes(buffer), skip


def _fixed_run(mask: int, size: int) -> tuple[int, int] | None:
    """The longest run of byte positions of a *size*-byte word that *mask* leaves whole (at least two), as
    ``(start, stop)``; ``None`` when there is none."""
    best: tuple[int, int] | None = None
    start = None
    for i in range(size + 1):
        whole = i < size and not (mask >> (8 * i)) & 0xFF
        if whole and start is None:
            start = i
        elif not whole and start is not None:
            if i - start >= 2 and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = None
    return best


def _value_pattern(value: int, mask: int, size: int) -> re.Pattern[bytes]:
    """Every position where a *size*-byte little-endian word equals *value* outside the *mask* bits."""
    parts = []
    for i in range(size):
        m = (mask >> (8 * i)) & 0xFF
        v = ((value | mask) >> (8 * i)) & 0xFF
        allowed = [b for b in range(256) if (b | m) == v]
        parts.append(b"[" + b"".join(re.escape(bytes([b])) for b in allowed) + b"]")
    return re.compile(b"(?=(" + b"".join(parts) + b"))", re.DOTALL)


def _word_matches(
    base: int, data: bytes, fresh: int, needles: list[_Needle], mask: int, size: int
) -> list[tuple[int, int]]:
    """``(address, needle index)`` of aligned *size*-byte words matching, in crash's order."""
    found: list[tuple[int, int]] = []
    limit = len(data) - size + 1
    for n, needle in enumerate(needles):
        if mask:
            fixed = _fixed_run(mask, size)
            if fixed is None:  # no two bytes in a row outside the mask: a pattern over every position
                for m in _value_pattern(needle.value, mask, size).finditer(data):
                    p = m.start()
                    if p >= fresh and (base + p) % size == 0 and p < limit:
                        found.append((base + p, n))
                continue
            # find the bytes the mask leaves whole, then compare the word they sit in
            start, stop = fixed
            want = (needle.value | mask) & ((1 << (8 * size)) - 1)
            run = want.to_bytes(size, "little")[start:stop]
            p = data.find(run, fresh + start)
            while p >= 0:
                word = p - start
                aligned = (base + word) % size == 0 and fresh <= word < limit
                if aligned and int.from_bytes(data[word : word + size], "little") | mask == want:
                    found.append((base + word, n))
                p = data.find(run, p + 1)
            continue
        pattern = (needle.value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        p = data.find(pattern, fresh)
        while p >= 0:
            if (base + p) % size == 0:
                found.append((base + p, n))
                p = data.find(pattern, p + size)
            else:
                p = data.find(pattern, p + 1)
    found.sort()
    return found


def _show_char(b: int) -> str:
    return chr(b) if 0x20 <= b < 0x7F else "."


def _string_matches(base: int, data: bytes, fresh: int, needles: list[_Needle]) -> list[tuple[int, str]]:
    """``(address, text)`` of string matches: the text crash shows is the match and what follows, up to 56
    bytes, cut at the end of the page unless the match itself runs into the next page."""
    found: list[tuple[int, int, str]] = []
    for n, needle in enumerate(needles):
        target = needle.text
        p = data.find(target, fresh)
        while p >= 0:
            address = base + p
            page_end = (address | 0xFFF) + 1
            if address + len(target) <= page_end:
                end = min(address + _CHARS_CONTEXT, page_end)
            else:
                end = address + _CHARS_CONTEXT
            text = "".join(_show_char(b) for b in data[p : p + end - address])
            found.append((address, n, text))
            p = data.find(target, p + 1)
    found.sort()
    return [(address, text) for address, _, text in found]


def _search_value(ctx: CommandContext, word: str, size: int, masked: bool) -> _Needle:
    if can_eval(word):  # crash: "(expression)" or "symbol+offset", shown like a symbol; cut to the size
        label = word if word.startswith("(") else f"({word})"  # crash's show_opt_string()
        return _Needle(crash_eval(ctx.kernel, word) & ((1 << 8 * size) - 1), "" if masked else label)
    sym = symbol_search(ctx.kernel, word) if not is_number(word) else None
    if sym is not None:
        return _Needle(sym.address, "" if masked else f"({word})")
    if not is_number(word):
        body = word[2:] if word.lower().startswith("0x") else word
        raise CommandError(f'invalid input: "{body}"')
    value = int(word, 16)
    if size == 4 and value > 0xFFFFFFFF:
        raise CommandError(f"value too large for -w option: {value:x} ")
    if size == 2 and value > 0xFFFF:
        raise CommandError(f"value too large for -h option: {value:x} ")
    return _Needle(value, "")


@command(
    "search",
    summary="search memory for values or strings",
    synopsis=SEARCH_SYNOPSIS,
    description="""
    Looks for 64-bit values (or 32-bit with -w, 16-bit with -h, text with -c) in kernel memory, in
    the current context's user memory (-u) or in physical memory (-p), and prints each address where
    one is found with what is there.  Kernel memory is the direct map, the kernel image, vmalloc and
    module space and the page structs unless -K (only the direct map and the image) or -V (only the
    others) narrows it.  A mask leaves bits out of the comparison; -x shows words around each match.
    Pages that are not mapped or not in the dump are skipped.
    """,
    arguments=[
        Option("-s", "start", help="where to start (an address or a symbol); by default the space's start."),
        Option("-e", "end", help="where to stop (an address or a symbol)."),
        Option("-l", "length", help="how many bytes to search from the start (instead of -e)."),
        Option("-k", help="search kernel memory (the default)."),
        Option("-K", help="search only the direct map and the kernel image."),
        Option("-V", help="search only vmalloc and module space and the page structs."),
        Option("-u", help="search the user memory of the current context's process."),
        Option("-p", help="search physical memory."),
        Option("-m", "mask", help="bits (hexadecimal) left out when comparing."),
        Option("-c", help="look for strings."),
        Option("-w", help="look for 32-bit values."),
        Option("-h", help="look for 16-bit values."),
        Option("-x", "count", help="also show this many words before and after each match."),
        Option("-t", help=""),
        Option("-T", help=""),
        Option("-v", "value", help=""),
        Argument(
            "words",
            "value | symbol | string",
            nargs=argparse.REMAINDER,
            help="what to look for: hexadecimal values or symbols (whose addresses are looked for), or "
            "strings with -c.",
        ),
    ],
    examples="""
    Where the crashme module's magic number is kept, in the direct map and the image:

      crash> search -K c0ffee11deadbeef
      ffff8cecdfd9ee50: c0ffee11deadbeef
    """,
)
def search(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    usage = ctx.session.lookup("search")
    assert usage is not None
    opts = Options(ctx.argv, "Ttl:ukKVps:e:v:m:hwcx:")
    mode = "ulong"
    for word in ctx.argv:
        if not word.startswith("-") or word == "-":
            continue
        for letter in word[1:]:
            if letter in "hwc":
                new = {"h": "ushort", "w": "uint", "c": "chars"}[letter]
                if mode != "ulong":
                    kind = "type" if letter == "c" else "mode"
                    ctx.write(f'search: WARNING: overriding previously set search {kind} with "{letter}"\n')
                mode = new
            if letter in "lsevmx":
                break
    if "t" in opts and "T" in opts:
        raise CommandError("-t and -T options are mutually exclusive")
    stacks_of = "t" if "t" in opts else "T" if "T" in opts else ""
    if stacks_of and any(letter in opts for letter in "upkKVsel"):
        raise CommandError(f"-{stacks_of} option cannot be used with other memory-selection options")
    space: memory.Space = "kernel"
    kinds: frozenset[str] | None = None
    if "u" in opts:
        space = "user"
    if "p" in opts:
        space = "physical"
    if "k" in opts or "K" in opts or "V" in opts:
        space = "kernel"
        if "K" in opts:
            kinds = frozenset({"unity", "start"})
        elif "V" in opts:
            kinds = frozenset({"vmalloc", "vmemmap"})
    if not opts.words:
        ctx.write(usage.usage_text())
        return
    if stacks_of:
        _search_stacks(ctx, opts, mode, active_only=stacks_of == "T")
        return
    if space == "user":
        task_mm = tasks.task_mm(kernel, ctx.session.current_task())
        if not task_mm:
            raise CommandError("current context has no user address space")
    else:
        task_mm = None
    regions = memory.kernel_regions(kernel)
    if space == "kernel":
        start, end = regions[0].start, max(r.end for r in regions)
    elif space == "user":
        vmas = list(mm_vmas(kernel, task_mm))
        start, end = (vmas[0] if vmas else 0), layout.layout(kernel).userspace_top
    else:
        nodes = mm.nodes(kernel)
        start = nodes[0].start_pfn * 4096 if nodes else 0
        end = (nodes[-1].start_pfn + nodes[-1].spanned) * 4096 if nodes else 0
    if "s" in opts:
        start = _search_address(ctx, opts.value("s") or "")
    length = parse_number(opts.value("l") or "0") if "l" in opts else 0
    if "e" in opts:
        end = _search_address(ctx, opts.value("e") or "")
        if not end:
            raise CommandError("invalid ending address: 0")
        if length:
            ctx.write(usage.usage_text())
            return
    elif length:
        end = start + length
    if space == "kernel" and not layout.layout(kernel).is_kvaddr(start):
        ctx.write(f"search: invalid kernel virtual address: {start:x}\n" + usage.usage_text())
        return
    if space == "user" and not layout.layout(kernel).is_uvaddr(start):
        ctx.write(f"search: invalid user virtual address: {start:x}\n" + usage.usage_text())
        return
    if end < start:
        ctx.write(
            f"search: ending address {end:x} is below starting address {start:x}\n" + usage.usage_text()
        )
        return
    plan = _search_plan(ctx, opts, mode)
    if plan is None:
        ctx.write(usage.usage_text())
        return
    if start % 8:
        start -= start % 8
        ctx.write(f"search: rounding down start address to: {start:x}\n")
    _report(ctx, plan, memory.search_chunks(kernel, start, end, space, task_mm, kinds), space, task_mm)


@dataclass
class _Plan:
    """What one search looks for: *needles* of *size* bytes (1: strings), under *mask*, shown with
    *context* words around them."""

    mode: str
    size: int
    mask: int
    context: int
    needles: list[_Needle]


def _search_plan(ctx: CommandContext, opts: Options, mode: str) -> _Plan | None:
    """The needles and their display from the command line; ``None`` when there are none (usage)."""
    mask = parse_hex(opts.value("m") or "0") if "m" in opts else 0
    if mask and mode == "chars":
        ctx.write("search: mask ignored on string search\n")
        mask = 0
    size = {"ulong": 8, "uint": 4, "ushort": 2, "chars": 1}[mode]
    context = int(opts.value("x") or "0") if "x" in opts else 0
    if context:
        if mode == "chars":
            raise CommandError("-x option is not allowed with -c")
        if context > 4096 // size:
            raise CommandError(f"context value {context} is too large: maximum is {4096 // size}")
    if mode == "chars":
        needles = [_Needle(0, "", w.encode()) for w in opts.words if w]
    else:
        needles = [_search_value(ctx, w, size, bool(mask)) for w in opts.words]
    return _Plan(mode, size, mask, context, needles) if needles else None


def _report(
    ctx: CommandContext,
    plan: _Plan,
    chunks: Iterator[tuple[int, bytes]],
    space: memory.Space,
    task_mm: int | None,
    header: str = "",
) -> bool:
    """Write every match in *chunks*, *header* before the first; whether there was one."""
    overlap = _CHARS_CONTEXT + max((len(n.text) for n in plan.needles), default=8)
    found = False
    # A string may run across two chunks: they are joined with an overlap.  An aligned word never crosses a
    # page, and chunks are runs of whole pages (the first from an 8-byte aligned start): each is searched as
    # it comes, with no copying.
    pieces = _merged(chunks, overlap) if plan.mode == "chars" else ((a, d, 0) for a, d in chunks)
    for base, data, fresh in pieces:
        if plan.mode == "chars":
            lines = [f"{a:x}: {text}\n" for a, text in _string_matches(base, data, fresh, plan.needles)]
            if lines and not found:
                ctx.write(header)
                found = True
            ctx.write("".join(lines))
            continue
        for address, n in _word_matches(base, data, fresh, plan.needles, plan.mask, plan.size):
            if not found:
                ctx.write(header)
                found = True
            value = int.from_bytes(data[address - base : address - base + plan.size], "little")
            label = plan.needles[n].label
            if plan.context:
                _show_context(ctx, address, value, label, plan.size, plan.context, space, task_mm)
            else:
                ctx.write(f"{address:x}: {value:x} {label}\n")
    return found


def _search_stacks(ctx: CommandContext, opts: Options, mode: str, active_only: bool) -> None:
    """``search -t`` (every task's kernel stack) and ``-T`` (the active tasks' only): each task's matches
    after its ``bt``-style header."""
    kernel = ctx.kernel
    plan = _search_plan(ctx, opts, mode)
    if plan is None:
        usage = ctx.session.lookup("search")
        assert usage is not None
        ctx.write(usage.usage_text())
        return
    found = 0
    for task in tasks.for_each_task(kernel):
        if active_only and not tasks.is_active(kernel, task.address):
            continue
        stack = stacks.task_stack(kernel, task.stack)
        header = task_header(task.pid, task.address, task.cpu, task.comm, newline=found > 0)
        chunks = memory.search_chunks(kernel, stack.base, stack.top, "kernel", None, None)
        if _report(ctx, plan, chunks, "kernel", None, header):
            found += 1


def mm_vmas(kernel: Kernel, task_mm: int | None) -> Iterator[int]:
    """The start addresses of the process's VMAs (crash's ``address_space_start()`` takes the first)."""
    if task_mm:
        for vma in mm.for_each_vma(kernel, task_mm):
            yield vma.start


def _search_address(ctx: CommandContext, word: str) -> int:
    sym = symbol_search(ctx.kernel, word)
    return sym.address if sym is not None else parse_hex(word)


def _show_context(
    ctx: CommandContext,
    address: int,
    word: int,
    label: str,
    size: int,
    count: int,
    space: memory.Space,
    task_mm: int | None,
) -> None:
    """crash's ``display_with_pre_and_post()``: *count* words before, the match, *count* words after."""
    shown = Display(size=size)
    before, _ = display_memory(ctx.kernel, address - count * size, count, shown, space, task_mm)
    after, _ = display_memory(ctx.kernel, address + size, count, shown, space, task_mm)
    ctx.write(before + f"{address:>16x}:  {word:x} {label}\n" + after + "\n")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [rd, wr, ptov, search]
