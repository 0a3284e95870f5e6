"""``dis``: disassemble kernel text as crash shows it (kernel.c ``cmd_dis`` and x86_64.c
``x86_64_dis_filter``).

crash asks GDB for ``x/Ni`` and rewrites each line: the address's symbol in the output radix, the target
of a call or jump (and of a ``# 0x...`` comment) named by crash's own symbols, and ``[FTRACE NOP]`` after
the five-byte nop at a function's entry.  The instructions come from the target's disassembler (GDB's
inside GDB, binutils' objdump on drgn: both are libopcodes); the naming and the rest are done here, once.
"""

from __future__ import annotations

import argparse
import os
import re

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    CommandError,
    FaultError,
    Kernel,
    Option,
    Symbol,
    TargetError,
    command,
    hookimpl,
)
from crashcompat.api.kernel import layout, memory, symbols, tasks
from crashcompat.plugins._words import (
    Options,
    can_eval,
    crash_eval,
    is_number,
    leading_operand,
    parse_number,
    symbol_not_found,
    symbol_search,
)

DIS_SYNOPSIS = "dis [-rfludxs][-b [num]] [address | symbol | (expression)] [count]"

#: A trailing address operand: a call or jump target, or GDB's ``# 0x...`` comment on a RIP-relative operand.
_TRAILING_ADDRESS = re.compile(r"(?:^|[ ,])0x([0-9a-f]+)$")
_TRAILING_NAME = re.compile(r" 0x([0-9a-f]+) <[^<>]*>$")
_FTRACE_NOPS = ("nopl   0x0(%rax,%rax,1)", "data32 data32 data32 xchg %ax,%ax")
#: A shift or rotate by one (opcodes D0/D1) with its single operand: libopcodes before binutils 2.41 (GDB 13,
#: objdump 2.40) leaves the count out (``shr    %rsi``), crash 9's GDB 16 prints it (``shr    $1,%rsi``).
_SHIFT_BY_ONE = re.compile(r"^((?:rol|ror|rcl|rcr|shl|sal|shr|sar)[bwlq]?\s+)([^,$#\s]+(?:\([^)]*\))?)$")


def _symstr(kernel: Kernel, value: int, radix: int) -> str:
    """crash's ``value_to_symstr()``: ``name`` or ``name+offset`` (in *radix*), ``""`` without a symbol."""
    if not layout.layout(kernel).is_kvaddr(value):
        return ""
    sym = symbols.lookup(kernel, value)
    return symbols.format_offset(sym, value, radix) if sym is not None else ""


def _operand_name(kernel: Kernel, value: int, radix: int) -> str:
    """The name crash shows after an operand address: its own symbol, except an assembler-local label
    (``.LC0``: the vmlinux's symbol table keeps them, crash 9's GDB names no address by them)."""
    name = _symstr(kernel, value, radix)
    return "" if name.startswith(".L") else name


def _filter(kernel: Kernel, address: int, text: str, radix: int) -> str:
    """One instruction line as crash prints it: ``0xADDR <sym+off>:\\tTEXT``, operand addresses named."""
    text = _SHIFT_BY_ONE.sub(r"\1$1,\2", text.rstrip())
    named = _TRAILING_NAME.search(text)
    if named is not None:  # GDB named it: crash names it again with its own symbols and radix
        value = int(named.group(1), 16)
        name = _operand_name(kernel, value, radix)  # none: GDB named a per-cpu offset crash's GDB leaves bare
        text = text[: named.start()] + f" 0x{value:x}" + (f" <{name}>" if name else "")
    else:
        bare = _TRAILING_ADDRESS.search(text)
        if bare is not None:
            value = int(bare.group(1), 16)
            name = _operand_name(kernel, value, radix)
            if name:
                text += f" <{name}>"
    sym = symbols.lookup(kernel, address)
    if sym is not None and sym.address == address and any(nop in text for nop in _FTRACE_NOPS):
        text += " [FTRACE NOP]"
    return f"0x{address:x} <{_symstr(kernel, address, radix)}>:\t{text}\n"


def _function_end(kernel: Kernel, sym: Symbol) -> int:
    """Where the function starting at *sym* ends: its size where debug info gives it, else the next symbol
    (crash's ``get_text_function_range()``, then ``next_symbol()``)."""
    # GDB knows a function's range from its debug info: the kernel's, or a module's once mod -s loaded it
    debuginfo = sym.module is None or symbols.loaded_module_object(kernel, sym.module) is not None
    if sym.size and debuginfo:
        return sym.address + sym.size
    following = symbols.adjacent(kernel, sym, 1)
    if following is None:
        raise CommandError(f"unable to determine symbol after {sym.name}")
    return following.address


def _line_of(kernel: Kernel, address: int) -> str:
    found = kernel.target.source_line(address)
    return f"{found.filename}: {found.line}" if found is not None else ""


@command(
    "dis",
    summary="disassemble kernel (or user) code",
    synopsis=DIS_SYNOPSIS,
    description="""
    Disassembles instructions at an address or symbol in GDB's AT&T syntax, each line headed by its
    address and symbol offset, with the targets of calls and jumps named.  A function's name, or its
    first address, disassembles the whole function; any other address one instruction, or a count
    of them.  -r disassembles from the start of the function up to the address; -l adds a source
    file and line before each group of instructions from one line.
    """,
    arguments=[
        Option("-r", help="from the start of the function up to and including the address."),
        Option("-f", help="from the address to the end of the function."),
        Option("-l", help="show the source file and line of the instructions."),
        Option("-u", help="the address is a user address of the current context's process."),
        Option("-x", aliases=("-h",), help="show symbol offsets in hexadecimal."),
        Option("-d", help="show symbol offsets in decimal."),
        Option(
            "-s",
            help="list the source code around the address (the source files must be where the debug "
            "info says, or under the current directory).",
        ),
        Option("-U", help=""),
        Option("-b", "num", help=""),
        Option("-B", "num", help=""),
        Argument(
            "words",
            "address | symbol [count]",
            nargs=argparse.REMAINDER,
            help="where to disassemble (a hexadecimal address or a symbol) and how many instructions.",
        ),
    ],
    examples="""
    The first instructions of a function, with their source lines:

      crash> dis -l panic 3
      kernel/panic.c: 276
      0xffffffff813ccf31 <panic>:	nopl   0x0(%rax,%rax,1) [FTRACE NOP]
      0xffffffff813ccf36 <panic+5>:	push   %rbp
      0xffffffff813ccf37 <panic+6>:	mov    %rsp,%rbp
    """,
)
def dis(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    usage = ctx.session.lookup("dis")
    assert usage is not None
    opts = Options(ctx.argv, "dxhulsrfUb:B:")
    radix = ctx.radix
    if ("x" in opts or "h" in opts) and "d" in opts:
        raise CommandError("-d and -x are mutually exclusive")
    if "x" in opts or "h" in opts:
        radix = 16
    elif "d" in opts:
        radix = 10
    if "r" in opts and "f" in opts:
        raise CommandError("-r and -f are mutually exclusive")
    sources = "s" in opts
    if sources and ("r" in opts or "f" in opts):
        raise CommandError(f"-{'r' if 'r' in opts else 'f'} and -s are mutually exclusive")
    if sources and "u" in opts:
        raise CommandError("-s can only be used with kernel addresses")
    if not opts.words:
        ctx.write(usage.usage_text())
        return
    word = opts.words[0]
    user = "u" in opts
    sym: Symbol | None = None
    whole = False
    if can_eval(word):  # crash: "(expression)" or "symbol+offset", one instruction there
        address = crash_eval(kernel, word)
        sym = None if user else symbols.lookup(kernel, address)
        named = _expression_symbol(kernel, word)
        if sym is not None and named is not None and sym.name not in word and named != sym:
            # crash's resolve_text_symbol(): "func+N" must stay inside func
            offset = address - sym.address
            raise CommandError(f"invalid expression: {word} evaluates to: {sym.name}+{offset:x}")
    elif is_number(word) and symbol_search(kernel, word) is None:
        address = int(word, 16)
        sym = None if user else symbols.lookup(kernel, address)
        if not user and sym is None:
            ctx.write(f"WARNING: {address:x}: no associated kernel symbol found\n")
        whole = sym is not None and sym.address == address and symbols.is_kernel_text(kernel, address)
    else:
        found = symbol_search(kernel, word)
        if found is None:
            symbol_not_found(ctx, word)
            return
        sym = found
        address = found.address
        whole = symbols.is_kernel_text(kernel, address)
    count = 0
    if len(opts.words) > 1:
        count = parse_number(opts.words[1])
        if count == 0:
            raise CommandError("invalid count argument: 0")
        whole = False
    if sources:
        _list_source(ctx, word, address, count)
        return
    if user:
        _dis_user(ctx, address, count or 1)
        return
    if not layout.layout(kernel).is_kvaddr(address):
        raise CommandError(f"{address:x} is not a kernel virtual address")
    target = address
    end = None
    reverse, forward = "r" in opts, "f" in opts and not count
    if reverse or forward or whole:
        containing = sym if sym is not None else symbols.lookup(kernel, address)
        if containing is None:
            raise CommandError(f"cannot resolve address: {address:x}")
        end = _function_end(kernel, containing)
        if reverse or forward:
            address = containing.address
    try:
        if reverse:
            # up to the first instruction at or past the address (crash: GDB's x/Ni, cut where curaddr >= target)
            found_insns = kernel.target.disassemble(address, max(target - address, 0) + 1)
            last = next((n for n, i in enumerate(found_insns) if i.address >= target), len(found_insns) - 1)
            found_insns = found_insns[: last + 1]
            if count:
                found_insns = found_insns[-count:]
        elif count:
            found_insns = kernel.target.disassemble(address, count)
        elif end is not None:
            found_insns = [i for i in kernel.target.disassemble(address, end - address) if i.address < end]
            if forward:
                found_insns = [i for i in found_insns if i.address >= target]
        else:
            found_insns = kernel.target.disassemble(address, 1)
    except FaultError:
        raise CommandError(f"cannot disassemble address: {address:x}") from None
    except TargetError as e:
        raise CommandError(str(e)) from None
    previous = ""
    for insn in found_insns:
        if "l" in opts:
            line = _line_of(kernel, insn.address)
            if line != previous:
                ctx.write(line + "\n")
                previous = line
        ctx.write(_filter(kernel, insn.address, insn.text, radix))


def _expression_symbol(kernel: Kernel, word: str) -> Symbol | None:
    """The text symbol an expression starts from (``schedule`` of ``schedule+20``), or ``None``."""
    operand = leading_operand(word)
    found = symbol_search(kernel, operand) if operand is not None else None
    return found if found is not None and found.type_char in ("t", "T") else None


#: Lines GDB's ``list`` shows at a time (around a line: five before it, four after).
_LIST_LINES = 10


def _list_source(ctx: CommandContext, word: str, address: int, count: int) -> None:
    """``dis -s``: ``FILE:``/``LINE:`` of *address*, then its source (crash's ``list_source_code()`` over
    GDB's ``list``): from five lines before it to the end of the function (a ``}`` alone on a line), or to
    *count* lines past it; the address's own line marked ``*``."""
    kernel = ctx.kernel
    sym = symbols.lookup(kernel, address)
    if sym is None or sym.type_char not in ("t", "T"):
        raise CommandError(f"{address:x}: not a kernel text address")
    if sym.module is not None and symbols.loaded_module_object(kernel, sym.module) is None:
        raise CommandError(f"{sym.module}: module source code is not available")
    found = kernel.target.source_line(address)
    if found is None:
        ctx.write("FILE: (unknown)\nLINE: (unknown)\n\n")
        raise CommandError(f"{word}: source code is not available\n")
    ctx.write(f"FILE: {found.display or found.filename}\nLINE: {found.line}\n\n")
    text = _source_text(found.filename, found.display)
    if text is None:
        raise CommandError(f"{word}: source code is not available\n")
    target = found.line
    start = max(target - _LIST_LINES // 2, 1)
    remaining, last, out = count, 0, []
    chunk = text[start - 1 : start - 1 + _LIST_LINES]
    done = False
    for number, line in enumerate(chunk, start):  # GDB's "list *ADDRESS"
        if count and last >= target:
            if remaining == 0:
                done = True
                break
            remaining -= 1
        last = number
        out.append(f"{'* ' if number == target else '  '}{number}\t{line}\n")
        if not count and number > target and line == "}":
            done = True
            break
    assembly = found.filename.endswith(".S")  # GDB: "is at FILE:LINE", no function around it
    following = start - 1 + len(chunk)
    while not done and not (count and remaining == 0) and not (not count and assembly):
        chunk = text[following : following + _LIST_LINES]  # GDB's "list": the next lines
        if not chunk:  # GDB: "Line number N out of range": crash stops without its last newline
            ctx.write("".join(out))
            return
        for number, line in enumerate(chunk, following + 1):
            if count:
                if remaining == 0:
                    done = True
                    break
                remaining -= 1
            out.append(f"  {number}\t{line}\n")
            if not count and line == "}":
                done = True
                break
        following += len(chunk)
    ctx.write("".join(out) + "\n")


#: Source files larger than this are not read (a kernel's largest C file is about 2 MB).
_SOURCE_LIMIT = 64 << 20


def _source_text(filename: str, display: str) -> list[str] | None:
    """The lines of a source file where GDB looks for it (its default source path ``$cdir:$cwd``): the
    debug info's name behind the compilation directory, then the line table's name under the current
    directory; ``None`` when neither is a readable file."""
    for path in dict.fromkeys(p for p in (filename, display) if p):
        try:
            if not os.path.isfile(path) or os.path.getsize(path) > _SOURCE_LIMIT:
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        return data.decode("utf-8", "replace").splitlines()
    return None


def _dis_user(ctx: CommandContext, address: int, count: int) -> None:
    """``dis -u``: GDB's ``x/Ni`` at a user address, unfiltered."""
    kernel = ctx.kernel
    task_mm = tasks.task_mm(kernel, ctx.session.current_task())

    def read(at: int, size: int) -> bytes:
        return memory.read_memory(kernel, at, size, "user", "dis", task_mm)

    try:
        found = kernel.target.disassemble_user(address, count, read)
    except (memory.MemoryReadError, FaultError):
        raise CommandError(f"cannot disassemble address: {address:x}") from None
    for insn in found:
        ctx.write(f"   0x{insn.address:x}:\t{insn.text}\n")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [dis]
