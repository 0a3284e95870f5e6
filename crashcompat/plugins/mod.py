"""``mod``: list modules, load and unload their object files (kernel.c ``cmd_mod``, ``do_module_cmd``)."""

from __future__ import annotations

import os

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    ElfError,
    ElfFile,
    Kernel,
    Option,
    TargetError,
    command,
    hookimpl,
    mkstring,
)
from crashcompat.api.kernel import modules, symbols
from crashcompat.api.kernel.modules import Module

SYNOPSIS = "mod -s module [objfile] | -d module | -S [directory] [-D|-t|-r|-R|-o|-g]"


@command(
    "mod",
    summary="list kernel modules; load or drop their symbols and debug info",
    synopsis=SYNOPSIS,
    description="""
    Without options, prints one line per loaded module: the address of its struct module, its name,
    the start of its text, its size, and the object file whose symbols were loaded for it, or "(not
    loaded)" plus [CONFIG_KALLSYMS] when the kernel holds the module's own symbol table.

    A module's object file (.ko, or the .ko.debug of a debug package) adds its symbols to sym and bt
    and its types and line numbers to the debugger.  A module is named by its name or by an address
    inside it (16 hexadecimal digits).  Object files are looked for under
    /usr/lib/debug/lib/modules/<release>, $CRASH_MODULE_PATH, /lib/modules/<release>/updates,
    /lib/modules/<release> and the directory of the vmlinux file, as <name>.o, <name>.ko or
    <name>.ko.debug, with "-" also tried for "_" in the name.
    """,
    arguments=[
        Option(
            "-s",
            "module",
            dest="load",
            help="load this module's object file (the one given after the module, or else the first one "
            "the search finds), then print the module's line.",
        ),
        Option("-d", "module", dest="delete", help="drop the symbols and debug info loaded for this module."),
        Option(
            "-S",
            dest="load_all",
            help="load the object file of every module, searching the directory tree given after it or "
            "else the usual places, and print each module's line.",
        ),
        Option("-D", dest="delete_all", help="drop the symbols and debug info loaded for every module."),
        Option(
            "-t",
            dest="taints",
            help="list the modules whose taint flags are set, with the letter of each flag.",
        ),
        Option("-r", dest="readnow", help="accepted and ignored."),
        Option(
            "-R",
            dest="reinit",
            help="forget every loaded object file and what was read from the module list, then list "
            "the modules afresh.",
        ),
        Option("-o", dest="old", help="accepted; does nothing."),
        Option("-g", dest="sections", help="accepted and ignored."),
        Argument(
            "rest",
            "objfile | directory",
            nargs="*",
            help="after -s, the object file to load (a path, or a file name to search for); after -S, "
            "the directory tree to search.",
        ),
    ],
    examples="""
    The modules of a dump:

      crash> mod
           MODULE       NAME      BASE         SIZE  OBJECT FILE
      ffffffffc03d6080  crashme   ffffffffc03d4000  16384  (not loaded)  [CONFIG_KALLSYMS]

    Symbols and debug info of one module, from a given object file:

      crash> mod -s crashme build/crashme/crashme.ko
    """,
)
def mod(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    actions = [
        bool(args.load),
        args.load_all,
        bool(args.delete),
        args.delete_all,
        args.taints,
        args.reinit,
        args.old,
    ]
    if sum(actions) > 1:
        _usage(ctx)
        return
    installed = modules.for_each_module(kernel)
    if not installed:
        ctx.write("no modules installed\n")
        return
    if args.old:
        return
    if args.reinit:
        symbols.unload_module_object(kernel)
        kernel.invalidate()
        ctx.write(_listing(kernel, modules.for_each_module(kernel)))
        return
    if args.taints:
        ctx.write(_taints(kernel, installed))
        return
    if args.delete_all:
        for m in installed:
            _unload(ctx, m)
        return
    if args.delete:
        target = _module_ref(kernel, args.delete)
        if target is None or args.rest:
            _usage(ctx)
            return
        _unload(ctx, target)
        return
    if args.load:
        _load_one(ctx, args.load, args.rest)
        return
    if args.load_all:
        if len(args.rest) > 1:
            _usage(ctx)
            return
        tree = args.rest[0] if args.rest else None
        if tree is not None and not os.path.isdir(tree):
            ctx.write(f"mod: {tree} is not a directory\n")
            _usage(ctx)
            return
        _load_all(ctx, installed, tree)
        return
    if args.rest:
        _usage(ctx)
        return
    ctx.write(_listing(kernel, installed))


def _usage(ctx: CommandContext) -> None:
    """crash's ``cmd_usage(SYNOPSIS)``."""
    ctx.write(f'Usage:\n  {SYNOPSIS}\nEnter "help mod" for details.\n')


def _module_ref(kernel: Kernel, ref: str) -> Module | None:
    """A module by name, or by the 16-digit address of its ``struct module`` / anywhere inside it."""
    if len(ref) == 16:
        try:
            address = int(ref, 16)
        except ValueError:
            address = -1
        if address >= 0:
            for m in modules.for_each_module(kernel):
                if m.address == address or m.contains(address):
                    return m
            return None
    return modules.find_module(kernel, ref)


def _listing(kernel: Kernel, shown: list[Module], header: bool = True) -> str:
    """crash's ``LIST_MODULE_HDR`` table; widths come from every installed module."""
    everything = modules.for_each_module(kernel)
    name_w = max((len(m.name) for m in everything), default=0)
    size_w = max((len(str(m.size)) for m in everything), default=0)
    base = "TEXT_BASE" if kernel.has_member("struct module", "mem") else "BASE"
    lines = []
    if header:
        lines.append(
            f"{mkstring('MODULE', 16, 'c')}  {'NAME':<{name_w}}  {mkstring(base, 16, 'c')}  {'SIZE':>{size_w}}  OBJECT FILE"
        )
    for m in shown:
        path = symbols.loaded_module_object(kernel, m.name)
        obj = f"{path} " if path else "(not loaded)" + ("  [CONFIG_KALLSYMS]" if m.kallsyms_num else "")
        lines.append(f"{m.address:>16x}  {m.name:<{name_w}}  {m.base:>16x}  {m.size:>{size_w}}  {obj}")
    return "".join(line + "\n" for line in lines)


def _taints(kernel: Kernel, installed: list[Module]) -> str:
    """crash's ``show_module_taint_4_10``."""
    tainted = [m for m in installed if m.taints]
    if not tainted:
        return "no tainted modules\n"
    width = max(len(m.name) for m in tainted)
    lines = [f"{'NAME':<{width}}  TAINTS"]
    lines += [f"{m.name:<{width}}  {''.join(modules.iter_taint_letters(kernel, m))}" for m in tainted]
    return "".join(line + "\n" for line in lines)


# ---- loading ----------------------------------------------------------------------------------------------


def _load_one(ctx: CommandContext, ref: str, rest: list[str]) -> None:
    kernel = ctx.kernel
    m = _module_ref(kernel, ref)
    if m is None or len(rest) > 1:
        _usage(ctx)
        return
    if rest:
        path: str | None = rest[0]
        if not os.path.exists(rest[0]):
            path = modules.find_object(kernel, m.name, rest[0])
            if path is None:
                ctx.error(f"{m.name}: cannot find or load object file: {rest[0]}")
    else:
        path = modules.find_object(kernel, m.name)
        if path is None:
            ctx.error(f"cannot find or load object file for {m.name} module")
    assert path is not None
    if not _is_elf(path):
        ctx.write(f"mod: {path}: not an ELF format object file\n")
        _usage(ctx)
        return
    if symbols.loaded_module_object(kernel, m.name) is None:
        _load(ctx, m, path)
    ctx.write(_listing(kernel, [m]))


def _load_all(ctx: CommandContext, installed: list[Module], tree: str | None) -> None:
    kernel = ctx.kernel
    header = True
    for m in installed:
        path = modules.find_object(kernel, m.name, tree=tree)
        if path is not None:
            if not _is_elf(path):
                ctx.write(f"mod: {path}: not an ELF format object file\n")
            elif symbols.loaded_module_object(kernel, m.name) is None:
                _load(ctx, m, path, fatal=False)
        elif symbols.loaded_module_object(kernel, m.name) is None:
            ctx.write(f"mod: cannot find or load object file for {m.name} module\n")
            continue
        ctx.write(_listing(kernel, [m], header=header))
        header = False


def _load(ctx: CommandContext, m: Module, path: str, fatal: bool = True) -> None:
    """Hand *path* to the backend (debug info for ``p``, ``bt -l`` …) and to the symbol table."""
    kernel = ctx.kernel
    try:
        if not modules.object_matches(kernel, m, path):  # the one check for every backend
            raise TargetError(f"{path}: does not match module {m.name} (build ID)")
        kernel.target.load_module_debuginfo(m.name, path, modules.sections(kernel, m))
        symbols.load_module_object(kernel, m.name, path)
    except (TargetError, ElfError, OSError):
        if fatal:
            ctx.error(f"cannot load symbols from: {path}")
        ctx.write(f"mod: cannot load symbols from: {path}\n")


def _unload(ctx: CommandContext, m: Module) -> None:
    kernel = ctx.kernel
    if symbols.loaded_module_object(kernel, m.name) is None:
        return
    kernel.target.unload_module_debuginfo(m.name)
    symbols.unload_module_object(kernel, m.name)


def _is_elf(path: str) -> bool:
    try:
        ElfFile(path)
    except (ElfError, OSError):
        return False
    return True


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [mod]
