"""``tree``: walk a red-black tree, radix tree, xarray or maple tree (crash's tools.c ``cmd_tree``)."""

from __future__ import annotations

import io
import re

from crashcompat.api import (
    Argument,
    CMember,
    Command,
    CommandArgumentError,
    CommandContext,
    CommandError,
    CType,
    FaultError,
    Kernel,
    Option,
    TypeKind,
    TypeNotFound,
    command,
    declaration,
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
    raise CommandError(f"invalid {option} argument: {text}")


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
    synopsis="tree [-t rbtree|radix|xarray|maple] [-r offset] [-o offset] [-s|-S struct[.member[,member]]]"
    " [-N] [-l] [-p] [-x|-d] start",
    description="""
    Prints the address of each node (red-black trees) or entry (radix trees, xarrays, maple trees)
    found under the root at start, a symbol or a hexadecimal address.  Red-black trees are printed
    root first, then the left and right subtrees, unless -l asks for key order.  With -s or -S, each
    address is followed by the structure found there, or by some of its members.
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
        Option(
            "-s",
            "struct[.member[,member]]",
            dest="show",
            action="append",
            help="after each address, print the structure there, or only these members (may be repeated).",
        ),
        Option(
            "-S",
            "struct[.member[,member]]",
            dest="show_fast",
            action="append",
            help="like -s, but members of eight bytes or less are read and printed directly as numbers.",
        ),
        Option("-x", help="with -s or -S: numbers in hexadecimal."),
        Option("-d", help="with -s or -S: numbers in decimal."),
        Option(
            "-v", help="maple trees: dump every node (range, depth, type, parent, pivots and slots) and slot."
        ),
        Argument("start", "start", nargs="*", help="the root: a symbol or a hexadecimal address."),
    ],
)
def tree(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.type and len(args.type) > 1:
        raise CommandArgumentError("multiple tree types may not be entered")
    kind = _tree_type(args.type[0]) if args.type else "rbtree"
    if kind != "rbtree" and args.l:
        ctx.error(f"-l option is not applicable to {TYPE_NAMES[kind]}")
    if kind != "rbtree" and args.node_offset is not None:
        ctx.error(f"-o option is not applicable to {TYPE_NAMES[kind]}")
    if kind != "maple" and args.v and args.type:  # crash lets -v pass for the default rbtree
        ctx.error(f"-v option is not applicable to {TYPE_NAMES[kind]}")
    if args.show and args.show_fast:
        ctx.error("-S and -s options are mutually exclusive")
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
    if kind == "radix":
        # crash walks a radix tree as an xarray when struct radix_tree_root has xa_head; on kernels
        # where radix_tree_root is only a #define for struct xarray it finds no radix tree at all.
        if kernel.has_member("struct radix_tree_root", "rnode"):
            ctx.error("radix trees before Linux 4.20 are not supported")
        if not kernel.has_member("struct radix_tree_root", "xa_head"):
            ctx.error("radix trees do not exist or have changed their format")
    if not args.N:
        start += root_offset
    shower = _Shower(ctx, args.show or args.show_fast or [], fast=bool(args.show_fast))
    if kind == "rbtree":
        warnings: list[str] = []
        for entry in trees.rbtree_walk(kernel, start, node_pointer=args.N, linear=args.l, warnings=warnings):
            for message in warnings:
                ctx.write(f"tree: {message}\n")
            warnings.clear()
            shower.prepare()
            ctx.write(f"{entry.value - node_offset:x}\n")
            if args.p:
                ctx.write(f"  position: {entry.position}\n")
            shower.show(entry.value - node_offset)
        for message in warnings:
            ctx.write(f"tree: {message}\n")
    elif kind in ("radix", "xarray"):
        chunk = kernel.member("struct xa_node", "slots").size // 8
        for entry in trees.xarray_walk(kernel, start, node_pointer=args.N):
            shower.prepare()
            ctx.write(f"{entry.value:x}\n")
            if args.p:
                ctx.write(f"  index: {entry.index}  position: {entry.position}/{entry.index & (chunk - 1)}\n")
            shower.show(entry.value)
    else:
        radix = 16 if args.x else 10 if args.d else ctx.radix
        _maple(
            ctx, shower, start, radix, verbose=bool(args.v), node_pointer=bool(args.N), positions=bool(args.p)
        )


def _number(value: int, radix: int) -> str:
    return f"{value:x}" if radix == 16 else f"{value}"


def _pointer(value: int) -> str:
    """C's ``%p``: ``(nil)`` for NULL."""
    return f"0x{value:x}" if value else "(nil)"


def _maple(
    ctx: CommandContext,
    shower: _Shower,
    start: int,
    radix: int,
    *,
    verbose: bool,
    node_pointer: bool,
    positions: bool,
) -> None:
    """``tree -t maple``: each entry (crash's maple_tree.c ``do_mt_entry``); with -v crash's dump of every
    node (range, depth, type, parent, pivots and slots) and slot; with -p each entry's index and path."""
    index = 0
    for event in trees.maple_dump(ctx.kernel, start, node_pointer=node_pointer):
        if isinstance(event, trees.MapleTreeHead):
            if verbose:
                ctx.write(f"maple_tree({event.address:x}) flags {event.flags:X}, height {event.height} root "
                          f"0x{event.root:x}\n\n")  # fmt: skip
        elif isinstance(event, trees.MapleNode):
            if verbose:
                ctx.write(_maple_node(event, radix))
        elif isinstance(event, trees.MapleUnknown):
            ctx.write(" UNKNOWN TYPE\n")
        elif isinstance(event, trees.MapleBadPivot):
            ctx.write(f"node {_pointer(event.node_data)} last ({event.last}) > max ({event.maximum}) at pivot "
                      f"{event.pivot}!\n")  # fmt: skip
        else:
            if event.out_of_range:
                ctx.write("OUT OF RANGE: ")
            if verbose:
                ctx.write(
                    _maple_range(event.minimum, event.maximum, event.depth, radix)
                    + _maple_slot(event.value, radix)
                )
            elif event.value:
                ctx.write(_number(event.value, radix) + "\n")
            if positions and event.value:
                index += 1
                ctx.write(f"  index: {_number(index, radix)}  position: {event.position}/{event.index}\n")
            if event.value:
                shower.prepare()
                shower.show(event.value)


def _maple_range(low: int, high: int, depth: int, radix: int) -> str:
    text = _number(low, radix) if low == high else f"{_number(low, radix)}-{_number(high, radix)}"
    return f"{'  ' * depth}{text}: "


def _maple_slot(value: int, radix: int) -> str:
    kind = trees.maple_entry_kind(value)
    if kind == "value":
        return f"value {_number(value >> 1, radix) if radix == 10 else f'0x{value >> 1:x}'} [0x{value:x}]\n"
    if kind == "zero":
        return f"zero ({value >> 2})\n" if radix == 10 else f"zero (0x{value >> 2:x})\n"
    if kind == "reserved":
        return f"UNKNOWN ENTRY (0x{value:x})\n"
    return f"{value}\n" if radix == 10 else f"0x{value:x}\n"


def _maple_node(node: trees.MapleNode, radix: int) -> str:
    head = (
        _maple_range(node.minimum, node.maximum, node.depth, radix)
        + f"node 0x{node.address:x} depth {node.depth} type {node.type} parent {_pointer(node.parent)}"
    )
    if not node.slots or node.type == 0:  # dense (and unknown) nodes: their slots follow on this line
        return head
    pairs = "".join(
        f"{_pointer(s)} {_number(p, radix)} " for s, p in zip(node.slots, node.pivots, strict=False)
    )
    gaps = ""
    if node.gaps:
        gaps = (
            "".join(f"{_number(g, radix)} " for g in node.gaps)
            + f"| {node.meta_end:02X} {node.meta_gap:02X}| "
        )
    return f"{head} contents: {gaps}{pairs}{_pointer(node.slots[-1])}\n"


class _Shower:
    """crash's ``-s``/``-S`` printing after each tree entry (tools.c ``dump_struct``,
    ``dump_struct_members_for_tree``, ``dump_struct_members_fast``, ``print_value``)."""

    def __init__(self, ctx: CommandContext, specs: list[str], fast: bool) -> None:
        self.ctx = ctx
        self.specs = specs
        self.fast = fast
        args = ctx.args
        self.radix_flag = ["-x"] if args.x else ["-d"] if args.d else []
        self.radix = 16 if args.x else 10 if args.d else ctx.radix
        self.checked = False

    def _struct(self, argv: list[str]) -> str:
        out = io.StringIO()
        self.ctx.session.run_argv("struct", [*self.radix_flag, *argv], out)
        return out.getvalue()

    def _type(self, name: str) -> CType | None:
        for candidate in (f"struct {name}", f"union {name}", name):
            try:
                return self.ctx.kernel.type_info(candidate)
            except TypeNotFound:
                continue
        return None

    def _check(self) -> None:
        """crash's ``fill_member_offsets()`` at the first entry: every member named must exist."""
        self.checked = True
        for spec in self.specs:
            if "." not in spec:
                continue
            name, members = spec.split(".", 1)
            t = self._type(name)
            for member in members.replace(",", " ").split():
                if t is None or _member(t, member) is None:
                    self.ctx.error(f"Can't get offset of '{name}.{member}'")

    def prepare(self) -> None:
        """Before the first entry is printed."""
        if self.specs and not self.checked:
            self._check()

    def show(self, address: int) -> None:
        if not self.specs:
            return
        for spec in self.specs:
            if "." not in spec:
                self.ctx.write(self._struct([spec, f"{address:x}"]))
                continue
            name, members = spec.split(".", 1)
            for member in members.replace(",", " ").split():
                if self.fast:
                    self.ctx.write(self._fast(name, member, address))
                else:
                    self.ctx.write(self._struct([f"{name}.{member}", f"{address:x}"]))

    def _fast(self, name: str, member: str, address: int) -> str:
        """``print_value()``: a member of up to eight bytes (or a string) read and printed as a number."""
        kernel = self.ctx.kernel
        t = self._type(name)
        assert t is not None
        found = _member(t, member)
        assert found is not None
        bit_offset, m = found
        width = m.type.strip_typedefs().size or 0
        # crash asks GDB for the member's type code, which a typedef hides.
        is_ptr = m.type.unqualified().kind == TypeKind.POINTER
        last = member.rsplit(".", 1)[-1]
        decl = declaration(m.type, last)
        is_str = re.search(rf"char \*?{re.escape(last)}(\[|$)", decl) is not None
        if not (0 < width <= 8 or is_str):
            return self._struct([f"{name}.{member}", f"{address:x}"])
        at = address + bit_offset // 8
        out = []
        value = 0
        if width <= 8:
            try:
                value = int.from_bytes(kernel.read(at, width), "little")
            except FaultError:
                return f"tree: cannot access member: {member} at {at:x}\n"
            radix = 16 if is_ptr else self.radix
            out.append(f"  {member} = " + (f"0x{value:x}" if radix == 16 else f"{value}"))
        if is_str:
            if is_ptr:
                out.append(f'  "{_read_string(kernel, value, 1500)}"')
            else:
                out.append(f'  {member} = "{_read_string(kernel, at, width)}"')
        elif width <= 8:
            sym = symbols.lookup(kernel, value) if value else None
            if sym is not None and (sym.type_char or "") in ("t", "T"):
                out.append(f" <{sym.name}>")
        return "".join(out) + "\n"


def _member(t: CType, path: str) -> tuple[int, CMember] | None:
    """(bit offset, member) of a dotted member path inside *t*, anonymous members looked into."""
    offset = 0
    found: tuple[int, CMember] | None = None
    for part in path.split("."):
        found = t.member(part)
        if found is None:
            return None
        offset += found[0]
        t = found[1].type
    return (offset, found[1]) if found is not None else None


def _read_string(kernel: Kernel, address: int, limit: int) -> str:
    """crash's ``read_string()``: bytes up to a NUL or *limit*, as they are (nothing from an address that
    is not a kernel virtual one)."""
    if not layout.layout(kernel).is_kvaddr(address):
        return ""
    try:
        raw = kernel.read(address, limit)
    except FaultError:
        return ""
    return raw.split(b"\0", 1)[0].decode("latin-1")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [tree]
