"""``tree``: walk a red-black tree, radix tree, xarray or maple tree (crash's tools.c ``cmd_tree``)."""

from __future__ import annotations

from crashcompat.api import (
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    Kernel,
    Option,
    TypeNotFound,
    command,
    hexadecimal,
    hookimpl,
)
from crashcompat.api.kernel import layout, symbols, trees

#: ``-t`` prefixes as crash matches them, and the names its messages use.
TYPE_NAMES = {"rbtree": "rbtrees", "radix": "Xarrays", "xarray": "Xarrays", "maple": "maple trees"}


def _tree_type(text: str) -> str:
    if text.startswith("ra"):
        return "radix"
    if text.startswith("rb"):
        return "rbtree"
    if text.startswith("x"):
        return "xarray"
    if text.startswith("m"):
        return "maple"
    raise CommandArgumentError(f"invalid tree type: {text}")


def _offset(kernel: Kernel, text: str, option: str) -> int:
    """A ``-r``/``-o`` value: a number, or ``struct.member`` (its offset)."""
    if text.isdigit():
        return int(text, 10)
    value = hexadecimal(text)
    if value is not None and text.lower().startswith("0x"):
        return value
    if "." in text:
        struct, member = text.split(".", 1)
        for name in (f"struct {struct}", f"union {struct}", struct):
            try:
                return kernel.offsetof(name, member)
            except TypeNotFound:
                continue
    if value is not None:
        return value
    raise CommandArgumentError(f"invalid {option} argument: {text}")


def _start(kernel: Kernel, text: str) -> int:
    found = symbols.lookup_all(kernel, text)
    if found:
        return found[0].address
    value = hexadecimal(text)
    if (
        value is not None
        and any(c in "abcdefABCDEFxX" for c in text)
        and layout.layout(kernel).is_kvaddr(value)
    ):
        return value
    raise ValueError(text)


@command(
    "tree",
    summary="walk a red-black tree, radix tree, xarray or maple tree",
    synopsis="tree [-t rbtree|radix|xarray|maple] [-r offset] [-o offset] [-N] [-l] [-p] start",
    description="""
    Prints the address of each node (red-black trees) or entry (radix trees, xarrays, maple trees)
    found under the root at start, a symbol or a hexadecimal address.  Red-black trees are printed
    root first, then the left and right subtrees, unless -l asks for key order.
    """,
    arguments=[
        Option("-t", "type", dest="type", action="append", help="the kind of tree (rbtree by default)."),
        Option(
            "-r",
            "offset",
            dest="root_offset",
            help="the root sits at this offset (or struct.member) inside start.",
        ),
        Option(
            "-o",
            "offset",
            dest="node_offset",
            help="rbtree nodes are embedded at this offset (or struct.member); "
            "print the containing structures.",
        ),
        Option("-N", help="start is a node (rb_node or xa_node), not a root."),
        Option("-l", help="red-black trees in key order."),
        Option("-p", help="after each entry, its position in the tree."),
        Option("-x", help="(accepted for crash's struct printing, which is not supported here)."),
        Option("-d", help="(accepted for crash's struct printing, which is not supported here)."),
        Argument("start", "start", nargs="*", help="the root: a symbol or a hexadecimal address."),
    ],
)
def tree(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.type and len(args.type) > 1:
        raise CommandArgumentError("multiple tree types may not be entered")
    kind = _tree_type(args.type[0]) if args.type else "rbtree"
    if kind == "radix":
        # crash walks a radix tree as an xarray when struct radix_tree_root has xa_head; on kernels
        # where radix_tree_root is only a #define for struct xarray it finds no radix tree at all.
        if kernel.has_member("struct radix_tree_root", "rnode"):
            ctx.error("radix trees before Linux 4.20 are not supported")
        if not kernel.has_member("struct radix_tree_root", "xa_head"):
            ctx.error("radix trees do not exist or have changed their format")
    if kind != "rbtree" and args.l:
        ctx.error(f"-l option is not applicable to {TYPE_NAMES[kind]}")
    if kind != "rbtree" and args.node_offset is not None:
        ctx.error(f"-o option is not applicable to {TYPE_NAMES[kind]}")
    if args.root_offset is not None and args.N:
        ctx.error("-r and -N options are mutually exclusive")
    if args.x and args.d:
        ctx.error("-d and -x are mutually exclusive")
    if not args.start:
        raise CommandArgumentError("a starting address is required")
    if len(args.start) > 1:
        raise CommandArgumentError("too many arguments entered")
    root_offset = _offset(kernel, args.root_offset, "-r") if args.root_offset is not None else 0
    node_offset = _offset(kernel, args.node_offset, "-o") if args.node_offset is not None else 0
    try:
        start = _start(kernel, args.start[0])
    except ValueError:
        ctx.error(f"invalid start argument: {args.start[0]}")
    if not args.N:
        start += root_offset
    if kind == "rbtree":
        warnings: list[str] = []
        for entry in trees.rbtree_walk(kernel, start, node_pointer=args.N, linear=args.l, warnings=warnings):
            for message in warnings:
                ctx.write(f"tree: {message}\n")
            warnings.clear()
            ctx.write(f"{entry.value - node_offset:x}\n")
            if args.p:
                ctx.write(f"  position: {entry.position}\n")
        for message in warnings:
            ctx.write(f"tree: {message}\n")
    elif kind in ("radix", "xarray"):
        chunk = kernel.member("struct xa_node", "slots").size // 8
        for entry in trees.xarray_walk(kernel, start, node_pointer=args.N):
            ctx.write(f"{entry.value:x}\n")
            if args.p:
                ctx.write(f"  index: {entry.index}  position: {entry.position}/{entry.index & (chunk - 1)}\n")
    else:
        if args.p:
            ctx.error("-p is not supported for maple trees here")
        radix = 16 if args.x else 10 if args.d else ctx.radix
        for entry in trees.maple_walk(kernel, start):
            ctx.write(f"{entry.value:x}\n" if radix == 16 else f"{entry.value}\n")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [tree]
