"""Data commands: ``struct``, ``union``, ``*``, ``p``, ``px``, ``pd`` and ``whatis`` (crash's symbols.c
``cmd_datatype_common``, ``cmd_p``, ``cmd_whatis``), over the shared type model and printer
(:class:`crashcompat.api.DataPrinter`): the same text on every backend.

crash hands these to GDB and reshapes GDB's text; the printer reproduces both, so the commands here only
read crash's arguments the way its getopt loops do and pick the display.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    CommandError,
    CpuSpecError,
    CType,
    DataPrinter,
    ExpressionError,
    FaultError,
    Kernel,
    MemberReferenceError,
    Option,
    SymbolNotFound,
    TargetError,
    TypeKind,
    command,
    hookimpl,
    parse_cpu_spec,
)
from crashcompat.api.kernel import modules, symbols, tasks
from crashcompat.plugins._words import Options, is_number, symbol_not_found, symbol_search

STRUCT_SYNOPSIS = (
    "struct struct_name[.member[,member]][-o][-l offset][-rfuxdp]\n"
    "         [address | symbol][:cpuspec] [count | -c count]"
)
UNION_SYNOPSIS = (
    "union union_name[.member[,member]] [-o][-l offset][-rfuxdp]\n"
    "        [address | symbol][:cpuspec] [count | -c count]"
)
POINTER_SYNOPSIS = "*(struct or union command arguments)"
P_SYNOPSIS = "p [-x|-d][-u] [expression | symbol[:cpuspec]]"
WHATIS_SYNOPSIS = (
    "whatis [[-o] [struct | union | typedef | symbol]] | \n         [[-r [size|range]] [-m member]]"
)

#: GDB's print formats that ``p/FMT`` accepts here.
_FORMATS = "xduotzca"


@dataclass
class _State:
    """What the data commands keep per session: GDB's value-history number (``$N``)."""

    history: int = 0


def _state(ctx: CommandContext) -> _State:
    found = ctx.session.plugin_state.get("data")
    if not isinstance(found, _State):
        found = ctx.session.plugin_state["data"] = _State()
    return found


def _usage(ctx: CommandContext, name: str) -> str:
    found = ctx.session.lookup(name)
    assert found is not None
    return found.usage_text()


def _modules_loaded(kernel: Kernel) -> bool:
    """Whether ``mod -s`` loaded some module's object file (crash then filters ``p``'s output)."""
    return any(symbols.loaded_module_object(kernel, m.name) for m in modules.for_each_module(kernel))


def _cpus(ctx: CommandContext, spec: str) -> list[int]:
    """crash's cpuspec after ``:``: empty for the current context's CPU, else a CPU list."""
    kernel = ctx.kernel
    if spec == "":
        return [tasks.read_task(kernel, ctx.session.current_task()).cpu]
    return parse_cpu_spec(spec, tasks.cpu_count(kernel))


def _atoi(text: str) -> int:
    """C's ``atoi``: an optional sign and the decimal digits that follow, 0 without any."""
    digits = re.match(r"\s*([-+]?\d+)", text)
    return int(digits.group(1)) if digits else 0


def _is_kernel_address(kernel: Kernel, address: int) -> bool:
    """crash's ``IS_KVADDR`` on x86_64: at or above ``PAGE_OFFSET``."""
    try:
        return address >= kernel.page_offset()
    except TargetError:
        return address >= 0xFFFF800000000000


def _fault_line(name: str, e: FaultError) -> str:
    return f'{name}: invalid kernel virtual address: {e.address:x}  type: "gdb_readmem_callback"\n'


# ---- struct, union, * -----------------------------------------------------------------------------------


def _datatype_arguments(what: str) -> list[Option | Argument]:
    return [
        Option("-o", help="show the offset of each member (with an address, each member's address)."),
        Option("-x", aliases=("-h",), help="print integers in hexadecimal."),
        Option("-d", help="print integers in decimal."),
        Option("-c", "count", help=f"print this many {what}s in a row (negative: ending at the address)."),
        Option(
            "-l",
            "offset",
            help=f"the address given is that of a member (struct.member, or a byte offset) inside the {what}.",
        ),
        *[Option(f"-{letter}", help="") for letter in "prfuv"],  # crash's, not implemented: refused
        Argument(
            "items",
            "name[.member[,member]] [address | symbol][:cpuspec] [count]",
            nargs=argparse.REMAINDER,
            help=f"the {what}'s name, optionally with the members to show; where it is (an address, or a "
            "symbol, or a per-cpu symbol and CPUs after a colon); how many to show.",
        ),
    ]


def _datatype(ctx: CommandContext, keyword: str | None, name_word: str) -> None:
    """crash's ``cmd_datatype_common`` for ``struct`` (*keyword* ``"struct"``), ``union`` and ``*``
    (*keyword* ``None``: whichever the type is)."""
    opts = Options(ctx.argv, "xdhc:l:o", unsupported="prfuv")
    kernel = ctx.kernel
    items = opts.words
    if not items:
        ctx.write(_usage(ctx, name_word))
        return
    spec = items[0]
    if spec.endswith((",", ".")):
        raise CommandError(f"invalid format: {spec}")
    radix = opts.radix(ctx.radix)
    count_text = opts.value("c")
    count: int | None = _atoi(count_text) if count_text is not None else None
    address: int | None = None
    cpuspec: str | None = None
    for word in items[1:]:
        if address is not None and count is not None:
            raise CommandError("too many arguments!")
        if address is None and ":" in word:
            word, cpuspec = word.split(":", 1)
        clean = word[:-1] if word[-1:] in (",", ":") and is_number(word[:-1]) else word
        if is_number(clean):
            if address is not None:
                count = int(clean, 16) if clean.lower().startswith("0x") else _atoi(clean)
                continue
            address = int(clean, 16)
            if cpuspec is None and not _is_kernel_address(kernel, address):
                raise CommandError(f"invalid kernel virtual address: {word}")
            continue
        sym = symbol_search(kernel, clean)
        if sym is None:
            symbol_not_found(ctx, clean)
            return
        if cpuspec is not None and not DataPrinter(kernel).is_percpu(sym.name):
            ctx.warning(f"{sym.name} is not percpu; cpuspec ignored.")
            cpuspec = None
        address = sym.address
    if count is None:
        count = 1
    elif address is None:
        raise CommandError("no kernel virtual address argument entered")

    name, _, member_list = spec.partition(".")
    members = [m for m in member_list.replace(",", " ").split()] if member_list else []
    printer = DataPrinter(kernel, radix)
    t = printer.datatype(name)
    if t is None:
        raise CommandError(f"invalid data structure reference: {name}")
    kind = t.strip_typedefs().kind
    if kind not in (TypeKind.STRUCT, TypeKind.UNION):
        if keyword is None:
            ctx.write(f"{name_word}: invalid argument")
            return
        raise CommandError(f"data type mismatch: {name} is not a {keyword}")
    word = "union" if kind == TypeKind.UNION else "struct"
    if keyword is not None and keyword != word:
        raise CommandError(f"data type mismatch: {name} is not a {keyword}")

    offsets = "o" in opts
    if len(members) > 1 and address is None:
        ctx.write(
            f"{name_word}: "
            + (
                "-o option not valid with multiple member format\n"
                if offsets
                else "multiple member format not supported in this syntax\n"
            )
        )
        members = []
        offsets = True
    if len(members) > 1 and offsets:
        raise CommandError("-o option not valid with multiple member format")

    member_spec = opts.value("l")
    if member_spec is not None and address is not None:
        address -= _member_offset(printer, member_spec)

    if address is None:
        member = members[0] if members else None
        if member is not None and (printer.member_offset(t, member) is None or "." in member):
            raise CommandError(f"invalid data structure reference: {name}.{member}")
        ctx.write(printer.declaration(name, t, offsets=offsets, member=member))
        return

    size = t.strip_typedefs().size or 0
    if cpuspec is not None:
        for cpu in _cpus(ctx, cpuspec):
            at = address + kernel.per_cpu_offset(cpu)
            ctx.write(f"[{cpu}]: {at:x}\n")
            _show_aggregate(ctx, printer, word, name, t, at, size, count, members, offsets)
        return
    _show_aggregate(ctx, printer, word, name, t, address, size, count, members, offsets)


def _member_offset(printer: DataPrinter, text: str) -> int:
    """``-l``'s argument: a number, or ``struct.member`` (or ``union.member``)."""
    if is_number(text):
        return int(text, 0) if text.lower().startswith("0x") else int(text, 10)
    name, _, member = text.partition(".")
    t = printer.datatype(name) if member else None
    offset = printer.member_offset(t, member) if t is not None else None
    if offset is None:
        raise CommandError(f"invalid -l option: {text}")
    return offset


def _show_aggregate(
    ctx: CommandContext,
    printer: DataPrinter,
    word: str,
    name: str,
    t: CType,
    address: int,
    size: int,
    count: int,
    members: list[str],
    offsets: bool,
) -> None:
    """crash's ``do_datatype_addr``: *count* structs from *address* (backwards when negative)."""
    if count < 0:
        address -= size * abs(count) - size
    for i in range(abs(count)):
        at = address + i * size
        if i:
            ctx.write("\n")
        for member in members or [None]:  # type: ignore[list-item]
            if member is not None and printer.member_offset(t, member) is None:
                raise CommandError(f"invalid data structure reference: {name}.{member}")
            if offsets:
                ctx.write(printer.declaration(name, t, offsets=True, member=member, address=at))
                continue
            try:
                if member is None:
                    ctx.write(printer.aggregate_at(word, name, t, at))
                else:
                    ctx.write(printer.members_at(word, name, t, [member], at))
            except FaultError as e:
                if member is None:
                    ctx.write(
                        f"{word} {name} " + _fault_line(ctx.name, e) + ("\n" if word == "struct" else "")
                    )
                else:
                    ctx.write(_fault_line(ctx.name, e))
            except MemberReferenceError:
                ctx.write(f"{ctx.name}: invalid data structure member reference: {member}\n")


@command(
    "struct",
    summary="show a structure's layout, or structures in memory",
    synopsis=STRUCT_SYNOPSIS,
    description="""
    With only a structure's name (or a typedef of one), prints its definition and size; -o adds each
    member's offset.  With an address, or the name of a variable, prints the structure stored there,
    member by member in GDB's format, or only the members listed after the name with a dot
    (name.member,member).  A count prints that many consecutive structures, and a per-cpu variable
    followed by a colon and CPUs (name:0,2 or name:a) prints each CPU's copy.
    """,
    arguments=_datatype_arguments("structure"),
    examples="""
    A structure's definition with its members' offsets:

      crash> struct -o list_head
      struct list_head {
         [0] struct list_head *next;
         [8] struct list_head *prev;
      }
      SIZE: 16

    Two members of a task, at its address:

      crash> struct task_struct.pid,comm ffff8e8f9feb6000
        pid = 115,
        comm = "fixcrash\\000\\000\\000\\000\\000\\000\\000",
    """,
)
def struct(ctx: CommandContext) -> None:
    _datatype(ctx, "struct", "struct")


@command(
    "union",
    summary="show a union's layout, or unions in memory",
    synopsis=UNION_SYNOPSIS,
    description="""
    Works as struct does, for unions: the union's definition and size, or its contents at an address
    or variable (all members, or those named after a dot), with the same options.
    """,
    arguments=_datatype_arguments("union"),
)
def union(ctx: CommandContext) -> None:
    _datatype(ctx, "union", "union")


@command(
    "*",
    summary="show a structure or union, whichever the name is",
    synopsis=POINTER_SYNOPSIS,
    description="""
    Takes the arguments of struct and union and works out which of the two the name is: *name ADDRESS
    shows the structure or union at ADDRESS.
    """,
    arguments=_datatype_arguments("structure or union"),
)
def pointer(ctx: CommandContext) -> None:
    _datatype(ctx, None, "*")


# ---- p, px, pd -----------------------------------------------------------------------------------------------


_P_ARGUMENTS: list[Option | Argument] = [
    Option("-x", aliases=("-h",), help="print integers in hexadecimal."),
    Option("-d", help="print integers in decimal."),
    Option("-u", help=""),  # crash's user-space addresses: refused
    Argument(
        "expression",
        "expression | symbol[:cpuspec]",
        nargs=argparse.REMAINDER,
        help="a C expression over kernel variables and types, or a per-cpu variable followed by a colon "
        "and the CPUs whose copies to print (none: the current context's CPU; a: all).",
    ),
]


def _print(ctx: CommandContext, radix: int | None) -> None:
    """crash's ``cmd_p`` (``px``, ``pd``: *radix* fixed)."""
    kernel = ctx.kernel
    opts = Options(ctx.argv, "xdh", unsupported="u")
    words = opts.words
    radix = radix if radix is not None else opts.radix(ctx.radix)
    if words and words[0].startswith("/"):  # p/FMT: GDB's own print command, which crash passes through
        _gdb_print(ctx, words[0][1:], words[1:], radix)
        return
    if not words:
        ctx.write(_usage(ctx, "p"))
        return
    # crash's request to GDB leaves out the words that start with "-" ("p 1 - 2" asks for "p 1 2")
    words = [w for w in words if not w.startswith("-")]
    if not words:
        ctx.write(_usage(ctx, "p"))
        return
    request = "p " + " ".join(words)
    first = words[0]
    cpuspec: str | None = None
    if ":" in first:
        first, cpuspec = first.rsplit(":", 1)
    printer = DataPrinter(kernel, radix)
    state = _state(ctx)
    sym = symbol_search(kernel, first)
    filtered = _modules_loaded(kernel)
    if sym is not None and len(words) == 1:
        if printer.is_percpu(sym.name) and sym.type_char in ("d", "D", "V", None):
            try:
                if cpuspec is None:
                    ctx.write(printer.percpu_listing(sym.name, list(range(tasks.cpu_count(kernel)))))
                    return
                cpus = _cpus(ctx, cpuspec)
                ctx.write(printer.percpu_values(sym.name, cpus, state.history + 1, sym.module is not None))
                state.history += len(cpus)
            except CpuSpecError:
                raise
            except (FaultError, ExpressionError, SymbolNotFound):
                ctx.write(f"p: gdb request failed: {request}\n")
            return
        filtered = sym.module is not None
    if cpuspec is not None and sym is not None:
        ctx.warning(f"{sym.name} is not percpu; cpuspec ignored.")
        words[0] = first
        request = "p " + " ".join(words)
    expression = " ".join(words)
    leader = sym.name if sym is not None else None
    try:
        text = printer.print_expression(expression, state.history + 1, leader, filtered or leader is not None)
    except (ExpressionError, FaultError):
        ctx.write(f"p: gdb request failed: {request}\n")
        return
    state.history += 1
    ctx.write(text)


def _gdb_print(ctx: CommandContext, fmt: str, words: list[str], radix: int) -> None:
    """``p/FMT EXPRESSION``: crash hands the whole line to GDB (no symbol leader, GDB's formats)."""
    request = f"p/{fmt}" + (" " + " ".join(words) if words else "")
    if len(fmt) != 1 or fmt not in _FORMATS or not words:
        ctx.write(f"gdb: gdb request failed: {request}\n")
        return
    state = _state(ctx)
    try:
        value = DataPrinter(ctx.kernel, radix, fmt).print_expression(" ".join(words), state.history + 1)
    except (ExpressionError, FaultError):
        ctx.write(f"gdb: gdb request failed: {request}\n")
        return
    state.history += 1
    ctx.write(value)


@command(
    "p",
    summary="print the value of an expression or variable",
    synopsis=P_SYNOPSIS,
    description="""
    Evaluates a C expression over the kernel's variables and types (members with . and ->, [index],
    * and &, casts, sizeof, arithmetic) and prints its value in GDB's format: structures member by
    member, pointers with the symbol they point into, character arrays as strings.  A variable named
    alone is printed with its name in front.  A per-cpu variable alone lists each CPU's address; with
    a colon and CPUs it prints those CPUs' copies.  p/x, p/d and the other GDB formats print the value
    in that format.
    """,
    arguments=_P_ARGUMENTS,
    examples="""
    A variable, and a member of one:

      crash> p jiffies
      jiffies = $1 = 4294894946
      crash> p init_task.comm
      $2 = "swapper/0\\000\\000\\000\\000\\000\\000"

    Each CPU's copy of a per-cpu variable:

      crash> p cpu_number:a
      per_cpu(cpu_number, 0) = $3 = 0
      per_cpu(cpu_number, 1) = $4 = 1
    """,
)
def p(ctx: CommandContext) -> None:
    _print(ctx, None)


@command(
    "px",
    summary="print an expression with integers in hexadecimal",
    synopsis="px [expression | symbol[:cpuspec]]",
    description="Does what p -x does: evaluates the expression and prints its integers in hexadecimal.",
    arguments=[_P_ARGUMENTS[3]],
)
def px(ctx: CommandContext) -> None:
    _print(ctx, 16)


@command(
    "pd",
    summary="print an expression with integers in decimal",
    synopsis="pd [expression | symbol[:cpuspec]]",
    description="Does what p -d does: evaluates the expression and prints its integers in decimal.",
    arguments=[_P_ARGUMENTS[3]],
)
def pd(ctx: CommandContext) -> None:
    _print(ctx, 10)


# ---- whatis ----------------------------------------------------------------------------------------------


@command(
    "whatis",
    summary="show the definition of a type, or the declaration of a variable",
    synopsis=WHATIS_SYNOPSIS,
    description="""
    For a structure, union or typedef name, prints its definition as struct and union do (-o adds the
    members' offsets; name.member shows that member's offset alone); for an enum, its constants with
    their values; for a variable or function, its declaration; for an enumeration constant, its enum
    and value; for any other expression, its type.
    """,
    arguments=[
        Option("-o", help="show each member's offset in a structure or union."),
        Option("-m", "member", help=""),  # crash's type search: refused
        Option("-r", "size", help=""),
        Argument(
            "names",
            "[struct | union | enum] name | symbol | expression",
            nargs=argparse.REMAINDER,
            help="what to describe; the keyword struct, union or enum may come first.",
        ),
    ],
    examples="""
    A function, a typedef and an enumeration constant:

      crash> whatis schedule
      void schedule(void);
      crash> whatis pid_t
      typedef int pid_t;
      SIZE: 4
      crash> whatis PIDTYPE_TGID
      enum pid_type = 1
    """,
)
def whatis(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    opts = Options(ctx.argv, "o", unsupported="mr")
    words = opts.words
    usage = _usage(ctx, "whatis")
    if not words:
        ctx.write(usage)
        return
    printer = DataPrinter(kernel, ctx.radix)
    original = " ".join(words)
    if words[0] in ("struct", "union", "enum"):
        words = words[1:]
    else:
        sym = symbol_search(kernel, words[0])
        if sym is not None:
            try:
                ctx.write(printer.whatis_symbol(sym.name))
            except SymbolNotFound:
                raise CommandError(f"gdb request failed: whatis {sym.name}") from None
            return
    if not words:
        ctx.write(usage)
        return
    name, dot, member = words[0].partition(".")
    t = printer.datatype(name)
    single = member.isidentifier()  # crash allows one member here, not a path
    if t is not None and (not dot or (single and printer.member_offset(t, member) is not None)):
        ctx.write(printer.whatis_type(name, t, offsets="o" in opts, member=member or None))
        return
    constant = printer.whatis_constant(words[0]) if not dot else None
    if constant is not None:
        ctx.write(constant)
        return
    try:
        ctx.write(printer.whatis_expression(original))
    except (ExpressionError, FaultError):
        ctx.write(f"whatis: cannot resolve: {original}\n" + usage)


@command(
    "ptype",
    summary="show a type, or an expression's type, with its members",
    synopsis="ptype [type | expression]",
    description="""
    GDB's ptype, which crash hands to GDB: prints "type = " and the named type, or the type of a C
    expression, with the members of a structure or union listed.
    """,
    arguments=[
        Argument(
            "words", "type | expression", nargs=argparse.REMAINDER, help="a type name or a C expression."
        )
    ],
)
def ptype(ctx: CommandContext) -> None:
    text = " ".join(ctx.argv)
    try:
        ctx.write(DataPrinter(ctx.kernel, ctx.radix).ptype(text))
    except (ExpressionError, FaultError):
        ctx.write(f"gdb: gdb request failed: {('ptype ' + text).rstrip()}\n")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [struct, union, pointer, p, px, pd, whatis, ptype]
