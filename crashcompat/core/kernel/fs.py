"""Files as crash sees them: a task's root and working directory, its open file descriptors, dentry
paths built the way crash's ``get_pathname()`` builds them, and crash's inode type names.

Layouts used (Linux 2.6.38+, still so in 7.x):

- ``struct file.f_path`` (``struct path``: ``mnt``, ``dentry``; 2.6.20, commit 0f7fc9e4d03987 "[PATCH] VFS:
  change struct file to use struct path").
- ``files_struct.fdt`` → ``struct fdtable`` (``max_fds``, ``fd``, ``open_fds``; 2.6.14, commit
  badf16621c1f "[PATCH] files: break up files struct").
- ``fs_struct.root`` / ``pwd`` as ``struct path`` (2.6.26, commit 6ac08c39a166 "Use struct path in
  fs_struct").
- ``struct mount`` wrapping ``struct vfsmount`` (3.3, commit 7d6fec45a5131 "vfs: start hiding
  vfsmount guts series"): ``mnt_parent``, ``mnt_mountpoint``, ``mnt_devname``, ``mnt_list``.
- The mounts of a namespace: the ``mnt_namespace.list`` list up to 6.7; an rbtree
  ``mnt_namespace.mounts`` from 6.8 (commit 2eea9ce4310d "mounts: keep list of mounts in an rbtree").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import rbtree_inorder
from crashcompat.core.kernel.tasks import task_struct
from crashcompat.core.target import FaultError, SymbolNotFound

__all__ = [
    "DentryInfo",
    "MountInfo",
    "OpenFile",
    "TaskFiles",
    "dentry_info",
    "file_path_crash",
    "inode_type",
    "mount_devname",
    "mount_info",
    "mount_list",
    "open_file",
    "pathname",
    "task_files",
]

#: ``S_IFMT`` and the file types in it (include/uapi/linux/stat.h: octal 0170000, 0140000 …).
_S_IFMT = 0o17 << 12
_S_IFSOCK, _S_IFLNK, _S_IFREG, _S_IFBLK = 0o14 << 12, 0o12 << 12, 0o10 << 12, 0o6 << 12
_S_IFDIR, _S_IFCHR, _S_IFIFO = 0o4 << 12, 0o2 << 12, 0o1 << 12

#: crash's path buffer (BUFSIZE): longer names are not read.
_BUFSIZE = 1500
#: A bound on the components of one path (a corrupt dentry chain must end).
_MAX_DEPTH = 4096


def _inline_name_member(kernel: Kernel) -> str:
    """Where a ``struct dentry`` keeps a short name: ``d_iname``, or since Linux 6.14 the union
    ``d_shortname`` (commit 58cf9c383c5c, "dcache: back inline names with a struct-wrapped array of
    unsigned long")."""
    return "d_iname" if kernel.has_member("struct dentry", "d_iname") else "d_shortname"


def _component(kernel: Kernel, dentry: int) -> tuple[str, int] | None:
    """crash's ``get_pathname_component()``: ``(name, d_parent)`` of a ``struct dentry *``, or ``None``
    when the name is empty, missing, or not as long as ``d_name.len`` says."""
    d = kernel.struct("struct dentry", dentry)
    length = d.uint("d_name.len")
    if not length:
        return None
    name_ptr = d.ptr("d_name.name")
    if not name_ptr:
        return None
    inline = _inline_name_member(kernel)
    if name_ptr == d.addr_of(inline):
        raw = d.bytes(inline).split(b"\0", 1)[0]
    else:
        try:
            raw = kernel.target.read_cstring(name_ptr, _BUFSIZE - 1)
        except FaultError:
            return None
    if len(raw) != length:
        return None
    return raw.decode("utf-8", "replace"), d.ptr("d_parent")


def pathname(kernel: Kernel, dentry: int, vfsmnt: int = 0, full: bool = True) -> str:
    """crash's ``get_pathname()`` of a ``struct dentry *``: dentry names up to their filesystem's root
    (a dentry that is its own ``d_parent``), then, with *full* and a ``struct vfsmount *`` *vfsmnt*,
    on from each mount's ``mnt_mountpoint`` in its ``mnt_parent`` until a mount that is its own parent.
    An empty or unreadable name ends the walk where it is (a pipe's dentry has no name: ``""``)."""
    mnt_off = kernel.offsetof("struct mount", "mnt")
    path = ""
    parent = dentry
    mount_vfs = vfsmnt
    for _ in range(_MAX_DEPTH):
        current = parent
        try:
            found = _component(kernel, current)
        except FaultError:
            break
        if found is None:
            break
        name, parent = found
        if current != dentry:
            if (len(name) > 1 or name != "/") and not path.startswith("/"):
                path = f"{name}/{path}"
            else:
                path = name + path
        else:
            path = name
        if current == parent and full and mount_vfs:
            if path.startswith("//"):
                path = path[1:]
            mount = mount_vfs - mnt_off
            m = kernel.struct("struct mount", mount)
            parent = m.ptr("mnt_mountpoint")
            mnt_parent = m.ptr("mnt_parent")
            if mount == mnt_parent:
                break
            mount_vfs = mnt_parent + mnt_off
            continue
        if current == parent or not parent:
            break
    if path != "/" and path.endswith("/"):
        path = path[:-1]
    return path


def inode_type(kernel: Kernel, inode: int, path: str) -> tuple[str, str]:
    """crash's ``inode_type()`` of a ``struct inode *``: its four-letter type (``REG ``, ``DIR ``, ``CHR ``,
    ``BLK ``, ``LNK ``, ``FIFO``, ``PIPE``, ``SOCK``, ``UNKN``) and *path* as crash then prints it (a
    pipe's path and a socket's ``/`` are dropped)."""
    i = kernel.struct("struct inode", inode)
    mode = i.uint("i_mode") & _S_IFMT
    kind = {_S_IFREG: "REG ", _S_IFLNK: "LNK ", _S_IFDIR: "DIR ", _S_IFCHR: "CHR ", _S_IFBLK: "BLK "}.get(
        mode, "UNKN"
    )
    if mode == _S_IFIFO:
        kind = "FIFO"
        try:
            if i.ptr("i_op") == kernel.symbol("pipe_inode_operations"):
                kind, path = "PIPE", ""
        except SymbolNotFound:
            pass
    if mode == _S_IFSOCK:
        kind = "SOCK"
        if path == "/":
            path = ""
    return kind, path


def mount_devname(kernel: Kernel, vfsmnt: int) -> str:
    """crash's ``vfsmount_devname()``: the ``mnt_devname`` of the ``struct mount`` around a
    ``struct vfsmount *`` ("" when unreadable)."""
    try:
        mount = vfsmnt - kernel.offsetof("struct mount", "mnt")
        pointer = kernel.read_pointer(mount + kernel.offsetof("struct mount", "mnt_devname"))
        return kernel.read_cstring(pointer, _BUFSIZE - 1) if pointer else ""
    except FaultError:
        return ""


def _root_vfsmount(kernel: Kernel, vfsmnt: int) -> int:
    """crash's ``get_root_vfsmount()``: a file on a ``udev``/``devtmpfs`` mount whose parent mount has the
    same device name is named from that parent (crash hands the parent's ``struct mount *`` on as it is)."""
    name = mount_devname(kernel, vfsmnt)
    if name not in ("udev", "devtmpfs"):
        return vfsmnt
    try:
        parent = kernel.read_pointer(
            vfsmnt - kernel.offsetof("struct mount", "mnt") + kernel.offsetof("struct mount", "mnt_parent")
        )
    except FaultError:
        return vfsmnt
    return parent if mount_devname(kernel, parent) == name else vfsmnt


def file_path_crash(kernel: Kernel, dentry: int, vfsmnt: int) -> str:
    """The full path crash prints for an open file (``file_dump()`` with ``DUMP_FULL_NAME``): its dentry
    from the file's root vfsmount, with ``/dev`` put before a devpts ``/pts/…`` path.

    :param dentry: ``struct dentry *``; :param vfsmnt: ``struct vfsmount *`` (``file->f_path.mnt``).
    """
    vfsmnt = _root_vfsmount(kernel, vfsmnt)
    path = pathname(kernel, dentry, vfsmnt)
    if path.startswith("/pts/") and mount_devname(kernel, vfsmnt) == "devpts":
        path = "/dev" + path
    return path


@dataclass(frozen=True)
class OpenFile:
    """One open file descriptor, as crash's ``file_dump()`` shows it.

    :param file: ``struct file *``; :param dentry: ``struct dentry *`` (0: none);
    :param inode: ``struct inode *`` (0: none); :param kind: the four-letter type, ``"?   "`` without
    an inode; :param path: the path crash prints (``"?"`` without an inode).
    """

    fd: int
    file: int
    dentry: int
    inode: int
    kind: str
    path: str


@dataclass(frozen=True)
class TaskFiles:
    """A task's files: ``root``/``cwd`` paths (``None`` without an ``fs_struct``), their inodes, and the
    open descriptors (``None`` when crash says "No open files": no ``files_struct``, no fdtable, or
    no descriptors); ``max_fds`` is ``fdt->max_fds``."""

    root: str | None
    cwd: str | None
    root_inode: int
    cwd_inode: int
    files: list[OpenFile] | None
    max_fds: int


def open_file(kernel: Kernel, fd: int, file: int) -> OpenFile:
    """The :class:`OpenFile` of ``struct file *`` *file* at descriptor *fd*."""
    f = kernel.struct("struct file", file)
    dentry = f.ptr("f_path.dentry")
    if not dentry:
        return OpenFile(fd, file, 0, 0, "?   ", "?")
    inode = kernel.read_pointer(dentry + kernel.offsetof("struct dentry", "d_inode"))
    if not inode:
        return OpenFile(fd, file, dentry, 0, "?   ", "?")
    kind, path = inode_type(kernel, inode, file_path_crash(kernel, dentry, f.ptr("f_path.mnt")))
    return OpenFile(fd, file, dentry, inode, kind, path)


def _fs_paths(kernel: Kernel, fs: int) -> tuple[str, str, int, int]:
    s = kernel.struct("struct fs_struct", fs)
    out: list[str] = []
    inodes: list[int] = []
    for which in ("root", "pwd"):
        dentry = s.ptr(f"{which}.dentry")
        out.append(pathname(kernel, dentry, s.ptr(f"{which}.mnt")) if dentry else "")
        inodes.append(
            kernel.read_pointer(dentry + kernel.offsetof("struct dentry", "d_inode")) if dentry else 0
        )
    return out[0], out[1], inodes[0], inodes[1]


def task_files(kernel: Kernel, task: int) -> TaskFiles:
    """What crash's ``open_files_dump()`` reads of a ``struct task_struct *``: ``task->fs`` and the
    descriptors set in ``task->files->fdt->open_fds``, in fd order.  Raises FaultError."""
    t = task_struct(kernel, task)
    fs = t.ptr("fs")
    root = cwd = None
    root_inode = cwd_inode = 0
    if fs:
        root, cwd, root_inode, cwd_inode = _fs_paths(kernel, fs)
    files = t.ptr("files")
    fdt = kernel.read_pointer(files + kernel.offsetof("struct files_struct", "fdt")) if files else 0
    max_fds = kernel.target.read_u32(fdt + kernel.offsetof("struct fdtable", "max_fds")) if fdt else 0
    if not fdt or not max_fds:
        return TaskFiles(root, cwd, root_inode, cwd_inode, None, max_fds)
    table = kernel.struct("struct fdtable", fdt)
    open_fds, fd_array = table.ptr("open_fds"), table.ptr("fd")
    if not open_fds or not fd_array:
        return TaskFiles(root, cwd, root_inode, cwd_inode, [], max_fds)
    words = (max_fds + 63) // 64
    bits = int.from_bytes(kernel.read(open_fds, max_fds // 8), "little")
    out: list[OpenFile] = []
    for fd in range(min(words * 64, max_fds)):
        if not bits >> fd & 1:
            continue
        file = kernel.read_pointer(fd_array + 8 * fd)
        if file:
            out.append(open_file(kernel, fd, file))
    return TaskFiles(root, cwd, root_inode, cwd_inode, out, max_fds)


def mount_list(kernel: Kernel, task: int) -> list[int]:
    """The ``struct mount *`` of *task*'s mount namespace (``task->nsproxy->mnt_ns``), in crash's
    ``get_mount_list()`` order: from the namespace's root mount along ``mnt_list`` (6.8+: the
    ``mounts`` rbtree in order)."""
    nsproxy = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "nsproxy"))
    mnt_ns = kernel.read_pointer(nsproxy + kernel.offsetof("struct nsproxy", "mnt_ns"))
    if kernel.has_member("struct mnt_namespace", "nr_mounts"):
        node_off = kernel.offsetof("struct mount", "mnt_node")
        mounts = mnt_ns + kernel.offsetof("struct mnt_namespace", "mounts")
        return [node - node_off for node in rbtree_inorder(kernel, mounts)]
    root = kernel.read_pointer(mnt_ns + kernel.offsetof("struct mnt_namespace", "root"))
    list_off = kernel.offsetof("struct mount", "mnt_list")
    head = mnt_ns + kernel.offsetof("struct mnt_namespace", "list")
    out = [root]
    for entry in _list_from(kernel, root + list_off, head):
        out.append(entry - list_off)
    return out


def _list_from(kernel: Kernel, start: int, head: int) -> Iterator[int]:
    """The ``list_head`` nodes after *start* up to (not including) *head* or back at *start*."""
    node = kernel.read_pointer(start)
    for _ in range(1 << 20):
        if node in (head, start) or not node:
            return
        yield node
        node = kernel.read_pointer(node)


@dataclass(frozen=True)
class DentryInfo:
    """crash's ``files -d`` line: a ``struct dentry *``, its inode, super block, type and path."""

    dentry: int
    inode: int
    superblock: int
    kind: str
    path: str


def dentry_info(kernel: Kernel, dentry: int, namespace_task: int) -> DentryInfo:
    """crash's ``display_dentry_info()``: the path is built from the last mount of *namespace_task*'s
    namespace (crash uses pid 1) on the dentry's super block, else from ``pipe_mnt`` or ``sock_mnt``
    when they are on it.  Raises FaultError."""
    d = kernel.struct("struct dentry", dentry)
    inode = d.ptr("d_inode")
    superblock = (
        kernel.read_pointer(inode + kernel.offsetof("struct inode", "i_sb")) if inode else d.ptr("d_sb")
    )
    path = ""
    if superblock:
        mnt_off = kernel.offsetof("struct mount", "mnt")
        sb_off = kernel.offsetof("struct vfsmount", "mnt_sb")
        found = False
        for mount in mount_list(kernel, namespace_task):
            if kernel.read_pointer(mount + mnt_off + sb_off) == superblock:
                path = pathname(kernel, dentry, mount + mnt_off)
                found = True
        for symbol in ("pipe_mnt", "sock_mnt"):
            if found or not kernel.has_symbol(symbol):
                continue
            vfs = kernel.read_pointer(kernel.symbol(symbol))
            if kernel.read_pointer(vfs + sb_off) == superblock:
                path = pathname(kernel, dentry, vfs)
                found = True
    kind = "N/A"
    if inode:
        kind, path = inode_type(kernel, inode, path)
    return DentryInfo(dentry, inode, superblock, kind, path)


#: ``MNT_CURSOR`` (5.8 - 6.7): a ``/proc/mounts`` reader's place holder in the namespace list (commit
#: 9f6c61f96f2d "proc/mounts: add cursor"), which has no super block.
_MNT_CURSOR = 0x10000000


@dataclass(frozen=True)
class MountInfo:
    """One mount as crash's ``mount`` shows it: :param mount: ``struct mount *``; :param superblock:
    ``struct super_block *``; :param fstype: ``sb->s_type->name`` (``None``: unreadable); :param devname:
    ``mnt_devname`` (``None``: unreadable); :param dirname: the mountpoint's path."""

    mount: int
    superblock: int
    fstype: str | None
    devname: str | None
    dirname: str


def mount_info(kernel: Kernel, mount: int) -> MountInfo | None:
    """The :class:`MountInfo` of a ``struct mount *`` (``None`` for a cursor entry).  Raises FaultError."""
    m = kernel.struct("struct mount", mount)
    superblock = m.ptr("mnt.mnt_sb")
    if not superblock and m.uint("mnt.mnt_flags") == _MNT_CURSOR:
        return None
    fstype: str | None
    try:
        fs_type = kernel.read_pointer(superblock + kernel.offsetof("struct super_block", "s_type"))
        name = kernel.read_pointer(fs_type + kernel.offsetof("struct file_system_type", "name"))
        fstype = kernel.read_cstring(name, 255) or None
    except FaultError:
        fstype = None
    devname: str | None
    try:
        devname = kernel.read_cstring(m.ptr("mnt_devname"), _BUFSIZE - 1) or None
    except FaultError:
        devname = None
    parent = m.ptr("mnt_parent")
    dirname = pathname(kernel, m.ptr("mnt_mountpoint"), parent + kernel.offsetof("struct mount", "mnt"))
    return MountInfo(mount, superblock, fstype, devname, dirname)
