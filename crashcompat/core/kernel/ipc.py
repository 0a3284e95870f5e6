"""System V IPC objects (shared memory segments, semaphore arrays, message queues) as crash's ``ipcs``
reads them (ipcs.c ``ipc_search_idr``, ``get_shm_info``, ``get_sem_info``, ``get_msg_info``,
``add_rss_swap``).

Layout: a task's IPC namespace is ``task->nsproxy->ipc_ns``; ``struct ipc_namespace.ids[3]`` are the
``struct ipc_ids`` of semaphores, message queues and shared memory, in that order (2.6.19, commit
73ea41302bab "[PATCH] namespaces: utsname: ..."/"ipc namespace").  Each keeps its objects' ``struct
kern_ipc_perm *`` in the IDR ``ipcs_idr`` (an xarray since 4.20) and their number in ``in_use``; the
perm is the first part of ``struct shmid_kernel`` (``shm_perm``), ``struct sem_array`` (``sem_perm``)
and ``struct msg_queue`` (``q_perm``); ``kern_ipc_perm.id`` is the user-visible id (2.6.24).
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import xarray_for_each

__all__ = ["IpcObject", "ipc_namespace", "ipc_objects"]

#: ``ipc_namespace.ids[]`` indexes (``ipc/util.h``: IPC_SEM_IDS, IPC_MSG_IDS, IPC_SHM_IDS).
_INDEX = {"sem": 0, "msg": 1, "shm": 2}
_CONTAINER = {
    "shm": ("struct shmid_kernel", "shm_perm"),
    "sem": ("struct sem_array", "sem_perm"),
    "msg": ("struct msg_queue", "q_perm"),
}


@dataclass(frozen=True)
class IpcObject:
    """One IPC object: its container address (``shmid_kernel``, ``sem_array`` or ``msg_queue``), key,
    id, owner uid, mode bits (``kern_ipc_perm.mode``), whether it is being removed, and per kind:

    - shm: *size* (``shm_segsz``), *count* (``shm_nattch``), *inode* of its file, *rss* and *swap*
      (pages, crash's ``add_rss_swap``);
    - sem: *count* (``sem_nsems``);
    - msg: *size* (``q_cbytes``), *count* (``q_qnum``).
    """

    address: int
    key: int
    id: int
    uid: int
    mode: int
    deleted: bool
    size: int = 0
    count: int = 0
    inode: int = 0
    rss: int = 0
    swap: int = 0


def ipc_namespace(kernel: Kernel, task: int) -> int:
    """``task->nsproxy->ipc_ns`` of ``struct task_struct *`` *task*.  Raises FaultError."""
    nsproxy = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "nsproxy"))
    return kernel.read_pointer(nsproxy + kernel.offsetof("struct nsproxy", "ipc_ns"))


def ipc_objects(kernel: Kernel, namespace: int, kind: str) -> list[IpcObject] | None:
    """The objects of *kind* (``"shm"``, ``"sem"`` or ``"msg"``) in ``struct ipc_namespace *``
    *namespace*, in IDR order; ``None`` when ``in_use`` is 0 (crash's "(none allocated)")."""
    ids = (
        namespace
        + kernel.offsetof("struct ipc_namespace", "ids")
        + _INDEX[kind] * kernel.sizeof("struct ipc_ids")
    )
    in_use = int.from_bytes(kernel.read(ids + kernel.offsetof("struct ipc_ids", "in_use"), 4), "little")
    if not in_use:
        return None
    idr = ids + kernel.offsetof("struct ipc_ids", "ipcs_idr")
    xa = idr + kernel.offsetof("struct idr", "idr_rt")
    return [_object(kernel, kind, perm) for _, perm in xarray_for_each(kernel, xa, on_error="stop")]


def _i32(kernel: Kernel, address: int) -> int:
    return int.from_bytes(kernel.read(address, 4), "little", signed=True)


def _object(kernel: Kernel, kind: str, perm: int) -> IpcObject:
    type_name, member = _CONTAINER[kind]
    address = perm - kernel.offsetof(type_name, member)
    p = "struct kern_ipc_perm"
    key = _i32(kernel, perm + kernel.offsetof(p, "key")) & 0xFFFFFFFF
    ident = _i32(kernel, perm + kernel.offsetof(p, "id"))
    uid = kernel.read_u32(perm + kernel.offsetof(p, "uid"))
    mode = kernel.read_u32(perm + kernel.offsetof(p, "mode"))
    deleted = bool(kernel.read(perm + kernel.offsetof(p, "deleted"), 1)[0])
    if kind == "sem":
        # crash reads sem_nsems as an unsigned long.
        count = kernel.read_u64(address + kernel.offsetof(type_name, "sem_nsems"))
        return IpcObject(address, key, ident, uid, mode, deleted, count=count)
    if kind == "msg":
        return IpcObject(
            address,
            key,
            ident,
            uid,
            mode,
            deleted,
            size=kernel.read_u64(address + kernel.offsetof(type_name, "q_cbytes")),
            count=kernel.read_u64(address + kernel.offsetof(type_name, "q_qnum")),
        )
    file = kernel.read_pointer(address + kernel.offsetof(type_name, "shm_file"))
    dentry = kernel.read_pointer(file + kernel.offsetof("struct file", "f_path.dentry"))
    inode = kernel.read_pointer(dentry + kernel.offsetof("struct dentry", "d_inode"))
    rss, swap = _rss_swap(kernel, file, inode)
    return IpcObject(
        address,
        key,
        ident,
        uid,
        mode,
        deleted,
        size=kernel.read_u64(address + kernel.offsetof(type_name, "shm_segsz")),
        count=kernel.read_u64(address + kernel.offsetof(type_name, "shm_nattch")),
        inode=inode,
        rss=rss,
        swap=swap,
    )


def _rss_swap(kernel: Kernel, file: int, inode: int) -> tuple[int, int]:
    """crash's ``add_rss_swap()``: resident pages of a segment's inode (``i_mapping->nrpages``; for
    hugetlbfs in base pages) and swapped ones (``shmem_inode_info.swapped``)."""
    mapping = kernel.read_pointer(inode + kernel.offsetof("struct inode", "i_mapping"))
    pages = kernel.read_u64(mapping + kernel.offsetof("struct address_space", "nrpages"))
    f_op = kernel.read_pointer(file + kernel.offsetof("struct file", "f_op"))
    huge = {kernel.symbol(s) for s in ("hugetlbfs_file_operations", "shm_file_operations_huge")
            if kernel.has_symbol(s)}  # fmt: skip
    if f_op in huge:
        return pages * (1 << 21) // 4096, 0
    info = inode - kernel.offsetof("struct shmem_inode_info", "vfs_inode")
    return pages, kernel.read_u64(info + kernel.offsetof("struct shmem_inode_info", "swapped"))
