"""``sym``: translate a symbol to its value or a value to its symbol (symbols.c ``cmd_sym``, ``show_symbol``)."""

from __future__ import annotations

import argparse
from typing import Any

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    Kernel,
    Option,
    Symbol,
    TargetError,
    command,
    hookimpl,
)
from crashcompat.api.kernel import symbols

SYNOPSIS = "sym [-l] | [-M] | [-m module] | [-p|-n] | [-q string] | [symbol | vaddr]"


class _InOrder(argparse.Action):
    """Records the listing options (``-l -M -m -q -Q``) in command-line order: crash prints each as its
    getopt loop meets it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        done = list(getattr(namespace, "ordered", None) or [])
        done.append((self.const, values if isinstance(values, str) else None))
        namespace.ordered = done


@command(
    "sym",
    summary="look up a symbol by name, or the symbol at an address",
    synopsis=SYNOPSIS,
    description="""
    For a symbol name, prints its address, its type letter in parentheses (as nm prints it) and its
    name; for a hexadecimal address, the symbol it falls in, as name+offset.  A module symbol is
    followed by the module's name in brackets, and an address in kernel text by its source file and
    line.  When no symbol has the name, the symbols whose names contain it are listed instead.  The
    listing options (-l, -M, -m, -q, -Q) print their lists in the order they are given.
    """,
    arguments=[
        Option(
            "-l",
            aliases=("-L",),
            nargs=0,
            action=_InOrder,
            const="l",
            help="list every kernel and module symbol.",
        ),
        Option("-M", nargs=0, action=_InOrder, const="M", help="list the symbols of every module."),
        Option("-m", "module", action=_InOrder, const="m", help="list the symbols of one module."),
        Option("-p", dest="prev", help="also print the symbol just before the one found."),
        Option("-n", dest="next", help="also print the symbol just after the one found."),
        Option(
            "-q", "string", action=_InOrder, const="q", help="print every symbol whose name contains string."
        ),
        Option(
            "-Q",
            "string",
            action=_InOrder,
            const="Q",
            help="count the symbols whose names contain string, and name the last of them.",
        ),
        Option(
            "-s", dest="section", help="name the symbol's ELF section in place of its source file and line."
        ),
        Argument(
            "items", "symbol | vaddr", nargs="*", help="symbol names or hexadecimal addresses to look up."
        ),
    ],
    examples="""
    A data symbol's address, and back from the address:

      crash> sym jiffies
      ffffffffa50079c0 (D) jiffies
      crash> sym ffffffffa50079c0
      ffffffffa50079c0 (D) jiffies

    An address in kernel text, with its source file and line:

      crash> sym ffffffffa3fccf31
      ffffffffa3fccf31 (T) panic debian/build/build_amd64_none_cloud-amd64/kernel/panic.c: 276
    """,
)
def sym(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    ordered: list[tuple[str, str | None]] = getattr(args, "ordered", None) or []
    for kind, value in ordered:
        if kind == "l":
            _dump(ctx, symbols.kernel_symbols(kernel) + symbols.module_symbols(kernel))
        elif kind == "M":
            _dump(ctx, symbols.module_symbols(kernel))
        elif kind == "m":
            _dump(ctx, symbols.module_symbols(kernel, value))
        elif kind == "q":
            found = symbols.search(kernel, value or "")
            for s in found:
                ctx.write(_show(kernel, s, s.address, ctx.radix, lines=False))
            if not found:
                ctx.write("(none found)\n")
        elif kind == "Q":
            found = symbols.search(kernel, value or "")
            ctx.write(f"{len(found)} found " + (f"({found[-1].name})" if found else "") + "\n")
    if not args.items:
        if not ordered:
            ctx.write(f'Usage:\n  {SYNOPSIS}\nEnter "help sym" for details.\n')
        return
    for item in args.items:
        _one(ctx, _clean(item))


def _clean(arg: str) -> str:
    """crash's ``clean_arg``: a number may end with ``,`` or ``:``."""
    if arg[-1:] in (",", ":") and _is_hex(arg[:-1]):
        return arg[:-1]
    return arg


def _is_hex(text: str) -> bool:
    """crash's ``hexadecimal(s, 0)``: hex digits (``x`` allowed), at least one digit."""
    return any(c in "0123456789abcdefABCDEF" for c in text) and all(
        c in "0123456789abcdefABCDEFxX" for c in text
    )


def _one(ctx: CommandContext, item: str) -> None:
    kernel = ctx.kernel
    named = symbols.lookup_all(kernel, item)
    if not named and _is_hex(item):
        try:
            address = int(item, 16)
        except ValueError:
            address = -1
        found = symbols.lookup(kernel, address) if 0 <= address < 1 << 64 else None
        if found is None:
            ctx.write(f"sym: invalid address: {item}\n")
            return
        _around(ctx, found, address)
        return
    if not named:
        ctx.write(f"symbol not found: {item}\npossible alternatives:\n")
        alternatives = symbols.search(kernel, item)
        for s in alternatives:
            ctx.write("  " + _show(kernel, s, s.address, ctx.radix, lines=False))
        if not alternatives:
            ctx.write("  (none found)\n")
        return
    for found in named:
        _around(ctx, found, found.address)


def _around(ctx: CommandContext, found: Symbol, address: int) -> None:
    """The symbol, preceded by ``-p``'s previous and followed by ``-n``'s next symbol."""
    kernel = ctx.kernel
    args = ctx.args
    lines = not args.section
    if args.prev:
        before = symbols.adjacent(kernel, found, -1)
        if before is not None:
            ctx.write(_show(kernel, before, before.address, ctx.radix, lines, args.section))
    ctx.write(_show(kernel, found, address, ctx.radix, lines, args.section))
    if args.next:
        after = symbols.adjacent(kernel, found, 1)
        if after is not None:
            ctx.write(_show(kernel, after, after.address, ctx.radix, lines, args.section))


def _show(
    kernel: Kernel, found: Symbol, address: int, radix: int, lines: bool = True, section: bool = False
) -> str:
    """crash's ``show_symbol``: ``%lx (%c) name[+off][ [module]][ file: line][ [section]]``."""
    if found.name.startswith("_MODULE_START_") and found.module is not None:
        offset = address - found.address
        text = f"{found.address:x} ({found.type_char}) ({found.module} module)"
        if offset:
            text += f"+0x{offset:x}" if radix == 16 else f"+{offset}"
        return text + "\n"
    text = f"{address:x} ({found.type_char or '?'}) {symbols.format_offset(found, address, radix)}"
    if found.module is not None:
        text += f" [{found.module}]"
    if lines and symbols.is_kernel_text(kernel, address):
        text += " " + _line_number(kernel, found, address)
    if section:
        text += f" [{symbols.section_of(kernel, address)}]"
    return text + "\n"


def _line_number(kernel: Kernel, found: Symbol, address: int) -> str:
    """crash's ``get_line_number``: ``file: line``, empty for a module whose object file is not loaded."""
    if found.module is not None and symbols.loaded_module_object(kernel, found.module) is None:
        return ""
    try:
        where = kernel.target.source_line(address)
    except TargetError:
        return ""
    return f"{where.filename}: {where.line}" if where is not None else ""


def _dump(ctx: CommandContext, listed: list[Symbol]) -> None:
    """crash's ``symbol_dump``: one ``show_symbol`` line each, module markers as pseudo lines."""
    out = []
    for s in listed:
        if s.module is not None and symbols.is_pseudo(s):
            label = symbols.pseudo_label(s)
            if label is not None:
                out.append(f"{s.address:x} {label}: {s.module}\n")
            continue
        out.append(f"{s.address:x} ({s.type_char or '?'}) {s.name}\n")
    ctx.write("".join(out))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [sym]
