"""``files``: a task's root and working directory and its open files (crash's filesys.c ``cmd_files``,
``open_files_dump``, ``file_dump``, ``display_dentry_info``)."""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    FaultError,
    Kernel,
    Option,
    command,
    hexadecimal,
    hookimpl,
    mkstring,
    task_header,
)
from crashcompat.api.kernel import fs, layout, lists, mm, tasks
from crashcompat.plugins._memfmt import page_header, page_row

HEADER = (
    f" FD {mkstring('FILE', VADDR_PRLEN, 'c')} {mkstring('DENTRY', VADDR_PRLEN, 'c')} "
    f"{mkstring('INODE', VADDR_PRLEN, 'c')} TYPE PATH\n"
)
NRPAGES_HEADER = (
    f" FD {mkstring('INODE', VADDR_PRLEN, 'c')} {mkstring('I_MAPPING', VADDR_PRLEN, 'c')} NRPAGES TYPE PATH\n"
)
DENTRY_HEADER = (
    f"{mkstring('DENTRY', VADDR_PRLEN, 'c')} {mkstring('INODE', VADDR_PRLEN, 'c')} "
    f"{mkstring('SUPERBLK', VADDR_PRLEN, 'c')} TYPE PATH\n"
)


def _hex(value: int) -> str:
    return mkstring(f"{value:x}", VADDR_PRLEN, "cr")


def file_line(kernel: Kernel, f: fs.OpenFile, nrpages: bool = False) -> str:
    """One descriptor as crash's ``file_dump()`` prints it for ``files`` (``-c``: inode, mapping, pages)."""
    if not f.dentry:
        return (
            f"{f.fd:3d} {_hex(f.file)} {f.dentry:0{VADDR_PRLEN}x} {mkstring('?', VADDR_PRLEN, 'c')} ?    ?\n"
        )
    if not f.inode:
        return f"{f.fd:3d} {_hex(f.file)} {_hex(f.dentry)} {f.inode:0{VADDR_PRLEN}x} ?    ?\n"
    if nrpages:
        mapping = kernel.read_pointer(f.inode + kernel.offsetof("struct inode", "i_mapping"))
        pages = (
            kernel.read_u64(mapping + kernel.offsetof("struct address_space", "nrpages")) if mapping else 0
        )
        return f"{f.fd:3d} {_hex(f.inode)} {_hex(mapping)} {pages:>7} {f.kind} {f.path}\n"
    return f"{f.fd:3d} {_hex(f.file)} {_hex(f.dentry)} {_hex(f.inode)} {f.kind} {f.path}\n"


def _component(path: str, text: str) -> bool:
    """crash's FILENAME_COMPONENT: *text* names part of *path*."""
    return (path == "/" and text == "/") or (text != "/" and text in path)


def _is_number(text: str) -> bool:
    """crash's IS_A_NUMBER: decimal digits (spaces allowed) or hex digits."""
    return (any(c.isdigit() for c in text) and all(c.isdigit() or c == " " for c in text)) or (
        text != "" and all(c in "0123456789abcdefABCDEF" for c in text)
    )


@dataclass
class _Reference:
    """``files -R``: the text and, when it is a number, how crash reads it."""

    text: str
    hexval: int | None = None
    decval: int | None = None

    def numbers(self, max_fds: int) -> None:
        self.hexval = self.decval = None
        if not _is_number(self.text):
            return
        if any(c in "abcdefABCDEFxX" for c in self.text):
            self.hexval = hexadecimal(self.text)
            return
        value = int(self.text.replace(" ", ""), 10)
        if value <= max_fds:
            self.decval = value
        else:
            self.hexval = int(self.text, 16)

    def matches(self, line: str) -> bool:
        """crash's ``open_file_reference()`` on one ``file_dump()`` line."""
        words = line.split()
        if len(words) < 5:
            return False
        if self.hexval is not None or self.decval is not None:
            fd = int(words[0])
            if fd in (self.hexval, self.decval):
                return True
            for word in words[1:4]:
                if word != "?" and hexadecimal(word) == self.hexval:
                    return True
        if words[4] == self.text:
            return True
        return len(words) == 6 and _component(words[5], self.text)


def files_text(kernel: Kernel, task: int, *, nrpages: bool = False, ref: str | None = None,
               subsequent: bool = False) -> str:  # fmt: skip
    """crash's ``open_files_dump()`` of a ``struct task_struct *``, preceded (without *ref*) by its task
    header (a blank line before it when *subsequent*)."""
    t = tasks.read_task(kernel, task)
    header = task_header(t.pid, t.address, t.cpu, t.comm, newline=subsequent)
    info = fs.task_files(kernel, task)
    out: list[str] = []
    if ref is None:
        out.append(header)
    found = False
    roots_printed = False
    roots = ""
    if info.root is not None and info.cwd is not None:
        if ref is not None:
            roots = f"ROOT: {info.root}    CWD: {info.cwd} \n"
            if _component(info.root, ref) or _component(info.cwd, ref):
                out += [task_header(t.pid, t.address, t.cpu, t.comm), roots]
                roots_printed = found = True
        else:
            out.append(f"ROOT: {info.root}    CWD: {info.cwd}\n")
    if info.files is None or (not info.files and ref is None and info.max_fds == 0):
        if ref is None:
            out.append("No open files\n")
        elif found:
            out.append("\n")
        return "".join(out)
    table = NRPAGES_HEADER if nrpages else HEADER
    if ref is not None:
        reference = _Reference(ref)
        reference.numbers(info.max_fds)
        header_printed = False
        for f in info.files:
            line = file_line(kernel, f)
            if not reference.matches(line):
                continue
            if not roots_printed:
                out += [task_header(t.pid, t.address, t.cpu, t.comm), roots]
                roots_printed = True
            if not header_printed:
                out.append(HEADER)
                header_printed = True
            out.append(line)
            found = True
        if found:
            out.append("\n")
        return "".join(out)
    if not info.files:
        out.append("No open files\n")
        return "".join(out)
    out.append(table)
    out += [file_line(kernel, f, nrpages) for f in info.files]
    return "".join(out)


def dentry_text(kernel: Kernel, dentry: int) -> str:
    """crash's ``files -d``: a dentry's inode, super block, type and path."""
    init = tasks.task_by_pid(kernel, 1)
    info = fs.dentry_info(kernel, dentry, init.address if init else kernel.symbol("init_task"))
    return (
        DENTRY_HEADER
        + f"{mkstring(f'{info.dentry:x}', VADDR_PRLEN, 'r')} {mkstring(f'{info.inode:x}', VADDR_PRLEN, 'r')} "
        f"{mkstring(f'{info.superblock:x}', VADDR_PRLEN, 'c')} {info.kind} {info.path}\n"
    )


@command(
    "files",
    summary="show a task's root, working directory and open files",
    synopsis="files [-d dentry] | [-R reference] [-c] [pid | task] ...",
    description="""
    For the current task, or each task named by pid or task_struct address, prints its root and
    current working directory, then one line per open file descriptor: the descriptor number, the
    addresses of its struct file, dentry and inode, the inode type (REG, DIR, CHR, BLK, LNK, FIFO,
    PIPE, SOCK or UNKN) and the path, built from the dentry names up through each mount.  Pipes have
    no path; sockets and anonymous inodes show their pseudo-filesystem names.
    """,
    arguments=[
        Option("-d", "dentry", dest="dentry", help="print one dentry's inode, super block, type and path."),
        Option(
            "-R",
            "reference",
            dest="reference",
            action="append",
            help="show only the tasks and descriptors that refer to it: a path or part of one, a type, "
            "a descriptor number, or a file, dentry or inode address.",
        ),
        Option("-c", help="show each file's inode, its address_space and the number of pages it caches."),
        Option(
            "-p",
            "inode",
            dest="inode",
            help="print an inode's number of cached pages, then the page struct of each (as kmem -p).",
        ),
        Argument("targets", "pid | task", nargs="*", help="the tasks: pids or task_struct addresses."),
    ],
    examples="""
    crash> files
    PID: 115      TASK: ffff8e8f9feb6000  CPU: 1    COMMAND: "fixcrash"
    ROOT: /    CWD: /
     FD       FILE            DENTRY           INODE       TYPE PATH
      0 ffff8e8f9fecc200 ffff8e8f81409780 ffff8e8f811d77b0 CHR  /dev/null
    """,
)
def files(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.dentry is not None:
        value = hexadecimal(args.dentry)
        if value is None:
            ctx.error(f'invalid input: "{args.dentry}"')
        ctx.write(dentry_text(kernel, value))
        return
    if args.inode is not None:
        value = hexadecimal(args.inode)
        if value is None:
            ctx.error(f'invalid input: "{args.inode}"')
        inode_pages(ctx, value)
        return
    if args.reference and len(args.reference) > 1:
        raise CommandArgumentError("only one -R option allowed")
    ref = args.reference[0] if args.reference else None
    if not args.targets:
        ctx.write(files_text(kernel, ctx.session.current_task(), nrpages=args.c, ref=ref))
        return
    for i, text in enumerate(args.targets):
        parsed = tasks.parse_task_spec(kernel, text)
        if parsed is None:
            ctx.write(f"files: invalid task or pid value: {text}\n")
        elif parsed[0] == "task":
            ctx.write(files_text(kernel, parsed[1], nrpages=args.c, ref=ref, subsequent=i > 0))
        else:
            for t in tasks.tasks_by_pid(kernel, parsed[1]):
                ctx.write(files_text(kernel, t.address, nrpages=args.c, ref=ref, subsequent=i > 0) + "\n")


def inode_pages(ctx: CommandContext, inode: int) -> None:
    """crash's ``files -p`` (``dump_inode_page_cache_info``): the inode's ``i_mapping->nrpages``, then
    each page of its page cache (``address_space.i_pages``, value entries skipped) as ``kmem -p`` shows a
    page, under one header."""
    kernel = ctx.kernel
    bad = f'invalid kernel virtual address: {inode:x}  type: "inode buffer"'
    if not layout.layout(kernel).is_kvaddr(inode):
        ctx.error(bad)
    try:
        mapping = kernel.read_pointer(inode + kernel.offsetof("struct inode", "i_mapping"))
        kernel.read(inode, kernel.sizeof("struct inode"))
    except FaultError:
        ctx.error(bad)
    nrpages = kernel.read_u64(mapping + kernel.offsetof("struct address_space", "nrpages"))
    ctx.write(
        f"{mkstring('INODE', VADDR_PRLEN, 'cl')}  NRPAGES\n"
        f"{mkstring(f'{inode:x}', VADDR_PRLEN, 'cr')}  {mkstring(str(nrpages), len('NRPAGES'), 'r')}\n\n"
    )
    if not nrpages:
        return
    xa = mapping + kernel.offsetof("struct address_space", "i_pages")
    count = 0
    out: list[str] = []
    for _, entry in lists.xarray_for_each(kernel, xa, on_error="stop"):
        if entry & 1:  # a value entry (a shadow of an evicted page), not a page
            continue
        if mm.page_to_pfn(kernel, entry) is None:
            continue
        if not out:
            out.append(page_header(kernel))
        out.append(page_row(kernel, mm.read_page(kernel, entry)))
        count += 1
    ctx.write("".join(out))
    if count != nrpages:
        ctx.write(f"files: xarray page count: {count}  nrpages: {nrpages}\n")


# ---- mount ----------------------------------------------------------------------------------------------

_DEVLEN = len("DEVNAME") + 2
MOUNT_HEADER = (
    f"{mkstring('MOUNT', VADDR_PRLEN, 'c')} {mkstring('SUPERBLK', VADDR_PRLEN, 'c')} "
    f"{mkstring('TYPE', len('rootfs'))} {mkstring('DEVNAME', _DEVLEN)} DIRNAME\n"
)


def mount_line(info: fs.MountInfo) -> str:
    """One line of crash's ``show_mounts()``: type and device squeezed as crash squeezes them."""
    kind = f"{info.fstype:<6} " if info.fstype is not None else "unknown "
    middle = kind + mkstring(info.devname if info.devname is not None else "(unknown)", _DEVLEN) + " "
    while len(middle) > 17 and middle[-2] == " ":
        middle = middle[:-1]
    return f"{info.mount:>{VADDR_PRLEN}x} {info.superblock:>{VADDR_PRLEN}x} {middle}{info.dirname:<10}\n"


def _pathcmp_key(text: str) -> str:
    """crash's ``pathcmp()`` equality: repeated slashes count once, a trailing slash not at all."""
    while "//" in text:
        text = text.replace("//", "/")
    return text.rstrip("/") if text != "/" else text


def mount_lines(ctx: CommandContext, namespace_task: int) -> list[str]:
    kernel = ctx.kernel
    out = []
    for mount in fs.mount_list(kernel, namespace_task):
        info = fs.mount_info(kernel, mount)
        if info is None:
            continue
        if not info.superblock:
            ctx.warning(f"cannot get super_block from vfsmnt: 0x{mount:x}")
            continue
        out.append(mount_line(info))
    return out


@command(
    "mount",
    summary="list the mounted file systems",
    synopsis="mount [-n pid|task] [mount | superblock | devname | dirname | inode]",
    description="""
    Lists the mounts of a task's mount namespace (pid 1's unless -n names another task): the
    struct mount and super_block addresses, the file system type, the device name and the
    directory it is mounted on.  With arguments, only the mounts a word of whose line matches one.
    """,
    arguments=[
        Option(
            "-n", "task", dest="namespace", help="use the mount namespace of this pid or task_struct address."
        ),
        Option("-f", help="(open files per super block: not kept by Linux 3.13 and later)."),
        Option("-i", help="(dirty inodes per super block: not kept by Linux 3.6 and later)."),
        Argument(
            "specs", "address | name", nargs="*", help="mounts to show: an address, device or directory."
        ),
    ],
)
def mount(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.f:
        ctx.write("mount: the super_block.s_files linked list does not exist in this kernel\n")
        ctx.error("-f option not supported or applicable on this architecture or kernel")
    if args.i:
        ctx.write("mount: the super_block.s_dirty linked list does not exist in this kernel\n")
        ctx.error("-i option not supported or applicable on this architecture or kernel")
    namespace = next(
        (t.address for t in tasks.for_each_task(kernel) if t.pid >= 1), kernel.symbol("init_task")
    )
    if args.namespace is not None:
        parsed = tasks.parse_task_spec(kernel, args.namespace)
        if parsed is None:
            ctx.error(f"invalid task or pid value: {args.namespace}")
        found = tasks.find_task(kernel, args.namespace)
        if found is not None:
            namespace = found
    lines = mount_lines(ctx, namespace)
    if not args.specs:
        ctx.write(MOUNT_HEADER + "".join(lines))
        return
    # crash searches its own listing and prints the line it saved after the header, which is the first
    # mount's: every match prints that line.
    header_printed = False
    offset = kernel.offsetof("struct mount", "mnt")
    for spec in args.specs:
        text = spec[2:] if spec.startswith("0x") and hexadecimal(spec) is not None else spec
        for line in lines:
            words = line.split()
            found = any(_pathcmp_key(w) == _pathcmp_key(text) for w in words)
            value = hexadecimal(text)
            if len(words) == 5 and value is not None and hexadecimal(words[0]) is not None:
                found = found or value == (hexadecimal(words[0]) or 0) + offset
            if found:
                if not header_printed:
                    ctx.write(MOUNT_HEADER)
                    header_printed = True
                ctx.write(lines[0])


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [files, mount]
