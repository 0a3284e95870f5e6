"""``list``: follow a chain of next pointers (crash's tools.c ``cmd_list``/``do_list``), printing each entry's
address and optionally the structure around it, in the shared printer's text.

The walk ends as crash's does: at a NULL pointer, back at the start, the first entry, the given end, or an
entry that points to itself; an entry seen twice (a cycle that does not pass the start) ends it with
crash's ``duplicate list entry`` error, and a pointer that cannot be read with crash's read error.  The
seen-set bounds every walk.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    CommandError,
    CType,
    DataPrinter,
    FaultError,
    Kernel,
    MemberReferenceError,
    Option,
    TypeKind,
    command,
    hookimpl,
)
from crashcompat.api.kernel import layout, memory
from crashcompat.plugins._words import Options, is_number, parse_hex, parse_number, symbol_search

LIST_SYNOPSIS = (
    "list [[-o] offset][-e end][-[s|S] struct[.member[,member] [-l offset]] -[x|d]]\n"
    "       [-r|-B] [-h [-O head_offset]|-H] start"
)


class _Usage(Exception):
    """crash's ``error(INFO, ...)`` followed by the usage block."""


@dataclass
class _List:
    """crash's ``struct list_data`` for one ``list`` command."""

    start: int | None = None
    offset: int | None = None  # -o, or a struct.member word: where the next pointer is
    end: int = 0
    head_offset: int | None = None  # -O
    struct_offset: int = 0  # -l
    head: bool = False  # -h
    head_pointer: bool = False  # -H
    reverse: bool = False  # -r
    structs: list[str] = field(default_factory=list)
    read_members: bool = False  # -S
    radix: int | None = None
    brent: bool = False  # -B


def _member_offset(kernel: Kernel, text: str) -> int | None:
    """crash's ``arg_to_datatype(text) > 1``: ``struct.member`` (or ``union.member``), its byte offset."""
    name, dot, member = text.partition(".")
    if not dot:
        return None
    printer = DataPrinter(kernel)
    t = printer.datatype(name)
    if t is None or t.strip_typedefs().kind not in (TypeKind.STRUCT, TypeKind.UNION):
        return None
    return printer.member_offset(t, member)


def _parse(ctx: CommandContext) -> _List:
    kernel = ctx.kernel
    opts = Options(ctx.argv, "BHhrs:S:e:o:O:xdl:")
    found = _List()
    if "x" in opts and "d" in opts:
        raise CommandError("-d and -x are mutually exclusive")
    found.radix = 16 if "x" in opts else 10 if "d" in opts else None
    found.head_pointer = "H" in opts
    found.head = "h" in opts or "H" in opts or "r" in opts
    found.reverse = "r" in opts
    found.brent = "B" in opts
    if "s" in opts and "S" in opts:
        raise CommandError("-S and -s options are mutually exclusive")
    found.structs = opts.values.get("s", []) + opts.values.get("S", [])
    found.read_members = "S" in opts
    if "l" in opts:
        text = opts.value("l") or ""
        at = parse_number(text) if is_number(text) else _member_offset(kernel, text)
        if at is None:
            raise CommandError(f"invalid -l option: {text}")
        if not found.structs:
            raise _Usage("-l option can only be used with -s or -S option")
        found.struct_offset = at
    for letter, name in (("O", "-O argument"), ("o", "-o argument")):
        if letter in opts:
            text = opts.value(letter) or ""
            at = parse_number(text) if is_number(text) else _member_offset(kernel, text)
            if at is None:
                raise CommandError(f"invalid {name}: {text}")
            if letter == "O":
                found.head_offset = at
            else:
                found.offset = at
    if "e" in opts:
        found.end = parse_hex(opts.value("e") or "")
    words = opts.words
    if len(words) > 2:
        raise _Usage("too many arguments")
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else None
        at = _member_offset(kernel, word) if "." in word else None
        if at is not None:
            if found.offset is not None:
                raise CommandError(f"offset value {found.offset} (0x{found.offset:x}) already entered")
            found.offset = at
        elif (sym := symbol_search(kernel, word)) is not None:
            if found.start is not None:
                raise CommandError("list start already entered")
            found.start = sym.address
        elif not is_number(word):
            raise CommandError(f"invalid argument: {word}")
        elif found.start is not None:
            found.offset = parse_number(word)
            break
        elif found.offset is not None or following is None:
            value = parse_hex(word)
            if not layout.layout(kernel).is_kvaddr(value):
                raise CommandError(f"invalid kernel virtual address: {word}")
            found.start = value
            break
        elif symbol_search(kernel, following) is not None:
            found.offset = parse_number(word)
        else:
            if not is_number(following) and "." not in following:
                raise CommandError(f"symbol not found: {following}")
            hexadecimal = parse_hex(word) if not word.isdigit() else None
            if hexadecimal is not None and layout.layout(kernel).is_kvaddr(hexadecimal):
                found.start = hexadecimal
            else:
                found.offset = parse_number(word)
        i += 1
    if found.start is None:
        raise _Usage("starting address required")
    if found.offset is not None and found.struct_offset:
        raise _Usage("-l and -o are mutually exclusive")
    return found


def _read_pointer(kernel: Kernel, address: int, what: str) -> int:
    data = memory.read_memory(kernel, address, 8, "kernel", what)
    return int.from_bytes(data, "little")


@dataclass
class _Show:
    """One ``-s``/``-S`` argument: the type and the members to show (none: the whole structure)."""

    text: str
    keyword: str
    name: str
    type: CType
    members: list[str]


def _shows(kernel: Kernel, texts: list[str]) -> list[_Show]:
    printer = DataPrinter(kernel)
    out = []
    for text in texts:
        name, dot, members = text.partition(".")
        t = printer.datatype(name)
        if t is None or t.strip_typedefs().kind not in (TypeKind.STRUCT, TypeKind.UNION):
            raise CommandError(f"invalid structure name: {name}")
        keyword = "union" if t.strip_typedefs().kind == TypeKind.UNION else "struct"
        out.append(_Show(text, keyword, name, t, [m for m in members.split(",") if m] if dot else []))
    return out


def _show_struct(
    ctx: CommandContext, printer: DataPrinter, show: _Show, address: int, read_members: bool
) -> None:
    if not show.members:
        ctx.write(printer.aggregate_at(show.keyword, show.name, show.type, address))
        return
    for member in show.members:
        if read_members and printer.member_offset(show.type, member) is None:
            raise CommandError(f"Can't get offset of '{show.name}.{member}'")
        if "." not in member and "[" not in member and printer.member_offset(show.type, member) is None:
            ctx.write(f"list: invalid data structure member reference: {member}\n")
            continue
        try:
            ctx.write(printer.members_at(show.keyword, show.name, show.type, [member], address))
        except MemberReferenceError:
            ctx.write(f"list: invalid data structure member reference: {member}\n")
        except FaultError as e:
            ctx.write(f'list: invalid kernel virtual address: {e.address:x}  type: "gdb_readmem_callback"\n')


def _walk(ctx: CommandContext, found: _List) -> None:
    kernel = ctx.kernel
    assert found.start is not None
    start = found.start
    end = found.end
    member_offset = found.offset or 0
    list_head_offset = 0
    if found.head:
        list_head_offset = member_offset
        member_offset = 8 if found.reverse else 0
        if found.head_pointer:
            end = end or start
            start = _read_pointer(kernel, start + member_offset, "LIST_HEAD contents")
            if start == end:
                ctx.write("(empty)\n")
                return
        elif found.head_offset is not None:
            end = end or start + found.head_offset
            start = _read_pointer(kernel, start + found.head_offset, "LIST_HEAD contents")
            if start == end:
                ctx.write("(empty)\n")
                return
        else:
            start += list_head_offset
    if found.read_members:
        for show in _shows(kernel, found.structs):
            for member in show.members:
                if DataPrinter(kernel).member_offset(show.type, member) is None:
                    raise CommandError(f"Can't get offset of '{show.name}.{member}'")
    printer = DataPrinter(kernel, found.radix if found.radix is not None else ctx.radix)
    offset = list_head_offset + found.struct_offset
    first = _read_pointer(kernel, start + member_offset, "first list entry")
    if found.brent:
        _walk_brent(ctx, found, printer, start, end, first, member_offset, list_head_offset)
        return
    seen: set[int] = set()
    shows: list[_Show] | None = None
    next_entry = start
    count = 0
    while True:
        ctx.write(f"{next_entry - list_head_offset:x}\n")
        if shows is None:  # crash finds the structure's type as it prints the first entry
            shows = _shows(kernel, found.structs)
        for show in shows:
            _show_struct(ctx, printer, show, next_entry - offset, found.read_members)
        if next_entry:
            if next_entry - list_head_offset in seen:
                ctx.write("\n")
                raise CommandError(f"duplicate list entry: {next_entry:x}")
            seen.add(next_entry - list_head_offset)
        count += 1
        last = next_entry
        next_entry = _read_pointer(kernel, next_entry + member_offset, "list entry")
        if _ends(ctx, found, next_entry, (end, start, last), first, count):
            break


def _walk_brent(
    ctx: CommandContext,
    found: _List,
    printer: DataPrinter,
    start: int,
    end: int,
    first: int,
    member_offset: int,
    list_head_offset: int,
) -> None:
    """``list -B``: the walk of crash's ``do_list_no_hash()``, which keeps no table of the entries seen but
    runs Brent's cycle detection beside the walk: the entries up to where it finds a loop, the loop's
    length, then how far from the start the loop begins, and the entry where it does."""
    kernel = ctx.kernel

    def step(at: int) -> int:
        try:
            return _read_pointer(kernel, at + member_offset, "list entry")
        except CommandError:
            ctx.write("\n")
            raise CommandError(f"invalid list entry: {at:x}") from None

    offset = list_head_offset + found.struct_offset
    shows: list[_Show] | None = None
    tortoise = hare = next_entry = start
    hare = step(hare)
    power, length, distance = 2, 0, 0
    looping = leaving = False
    count = 0
    while True:
        if not looping:
            ctx.write(f"{next_entry - list_head_offset:x}\n")
            if shows is None:  # crash finds the structure's type as it prints the first entry
                shows = _shows(kernel, found.structs)
            for show in shows:
                _show_struct(ctx, printer, show, next_entry - offset, found.read_members)
        if next_entry and leaving:
            ctx.write("\n")
            raise CommandError(f"duplicate list entry: {tortoise:x}")
        count += 1
        last = next_entry
        next_entry = step(next_entry)
        if not looping:
            if count > 1 and tortoise == hare:
                looping = True
                ctx.write(f"list: loop detected, loop length: {length}\n")
                tortoise = hare = start
                for _ in range(length):
                    hare = step(hare)
            else:
                if power == length:
                    tortoise, power, length = hare, power * 2, 0
                hare = next_entry
                length += 1
        elif not leaving and tortoise == hare:
            leaving = True
            ctx.write(f"list: length from start to loop: {distance:x}")  # crash ends it with no newline
        else:
            tortoise, hare, distance = step(tortoise), step(hare), distance + 1
        if _ends(ctx, found, next_entry, (end, start, last), first, count):
            break


def _ends(
    ctx: CommandContext, found: _List, entry: int, stops: tuple[int, int, int], first: int, count: int
) -> bool:
    """crash's end of a walk at *entry*: NULL (an error for a list_head list), the end, the start or the
    entry before it, or the first entry again."""
    if entry == 0:
        if found.head:
            ctx.write("\n")
            raise CommandError("invalid list entry: 0")
        return True
    return entry in stops or (entry == first and count != 1)


@command(
    "list",
    summary="walk a linked list",
    synopsis=LIST_SYNOPSIS,
    description="""
    Follows a chain of structures linked by next pointers from a start address (or symbol), printing
    the address of each entry and, with -s, the structure (or some of its members) around it.  The
    next pointer sits at the offset given by -o or by a struct.member word (0 by default).  With -h
    the start is an embedded list_head and the addresses printed are those of the structures holding
    it; with -H the start is a standalone list_head that is itself not printed.  The walk ends at a
    NULL pointer, back at its start, at the -e address, or when an entry repeats.
    """,
    arguments=[
        Option(
            "-o", "offset", help="where the next pointer is in each entry: a byte offset or struct.member."
        ),
        Option("-e", "end", help="stop when the next pointer is this address."),
        Option(
            "-s",
            "struct",
            action="append",
            help="also show each entry's structure (struct, or struct.m1,m2).",
        ),
        Option(
            "-S", "struct", action="append", help="like -s, reading the members directly (no nested paths)."
        ),
        Option(
            "-l", "offset", help="with -s, where the list_head is in the structure (offset or struct.member)."
        ),
        Option("-x", help="show structure members in hexadecimal."),
        Option("-d", help="show structure members in decimal."),
        Option("-r", help="walk backwards, through the list_heads' prev pointers."),
        Option("-h", help="the start is a list_head embedded in a structure (see -o)."),
        Option("-H", help="the start is a list head that is not part of the list."),
        Option("-O", "offset", help="with -h, where the list head is in the start's structure."),
        Option(
            "-B",
            help="find a loop with Brent's algorithm instead of remembering every entry: its length, and "
            "how far from the start it begins.",
        ),
        Argument(
            "words",
            "[offset] start",
            nargs=argparse.REMAINDER,
            help="where the list starts (a hexadecimal address or a symbol), optionally after the offset "
            "of the next pointer.",
        ),
    ],
    examples="""
    The objects on a list headed by a variable, with one member of each:

      crash> list -H crashme_list -o crashme_obj.node -s crashme_obj.index
      ffff8cecdfd9ee38
        index = 0,
      ffff8cecdfd9ea10
        index = 1,
    """,
)
def list_(ctx: CommandContext) -> None:
    try:
        found = _parse(ctx)
    except _Usage as e:
        ctx.write(f"list: {e}\n")
        usage = ctx.session.lookup("list")
        assert usage is not None
        ctx.write(usage.usage_text())
        return
    try:
        _walk(ctx, found)
    except memory.MemoryReadError as e:
        if e.text is not None:
            raise CommandError(e.text) from None


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [list_]
