"""``ipcs``: System V IPC objects — shared memory, semaphore arrays, message queues (crash's ipcs.c
``cmd_ipcs``, ``dump_shared_memory``, ``dump_semaphore_arrays``, ``dump_message_queues``)."""

from __future__ import annotations

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandContext,
    Option,
    command,
    hookimpl,
    parse_int,
)
from crashcompat.api.kernel import ipc, tasks

_SHM_DEST = 0o1000
_SHM_LOCKED = 0o2000


def _header(kind: str) -> str:
    if kind == "shm":
        return f"{'SHMID_KERNEL':<{max(12, VADDR_PRLEN)}} KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS\n"
    if kind == "sem":
        return f"{'SEM_ARRAY':<{max(10, VADDR_PRLEN)}} KEY      SEMID      UID   PERMS NSEMS     \n"
    return (
        f"{'MSG_QUEUE':<{max(10, VADDR_PRLEN)}} KEY      MSQID      UID   PERMS USED-BYTES   MESSAGES    \n"
    )


def _line(kind: str, o: ipc.IpcObject) -> str:
    width = max(12 if kind == "shm" else 10, VADDR_PRLEN)
    head = f"{o.address:<{width}x} {o.key:08x} {o.id:<10d} {o.uid:<5d} {o.mode & 0o777:<5o} "
    if kind == "shm":
        dest = "dest" if o.mode & _SHM_DEST else ""
        locked = "locked" if o.mode & _SHM_LOCKED else ""
        return head + f"{o.size:<10d} {o.count:<6d} {dest} {locked}\n"
    if kind == "sem":
        return head + f"{o.count:<10d}\n"
    return head + f"{o.size:<12d} {o.count:<12d}\n"


def _verbose(o: ipc.IpcObject, page_size: int) -> str:
    pages = (o.size + page_size - 1) // page_size
    return f"PAGES ALLOCATED/RESIDENT/SWAPPED: {pages}/{o.rss}/{o.swap}\nINODE: {o.inode:x}\n"


def ipcs_kind(
    ctx: CommandContext, namespace: int, kind: str, verbose: bool, wanted: int | None
) -> tuple[str, bool]:
    """One of crash's three tables (*kind* ``shm``, ``sem`` or ``msg``), or with *wanted* only the object of
    that id or address, each with its own header; and whether *wanted* was found."""
    found = ipc.ipc_objects(ctx.kernel, namespace, kind)
    out: list[str] = []
    listing = wanted is None
    if listing and not (verbose and kind == "shm"):
        out.append(_header(kind))
    if found is None:
        if listing:
            if verbose and kind == "shm":
                out.append(_header(kind))
            out.append("(none allocated)\n\n")
        return "".join(out), False
    hit = False
    for o in found:
        if o.deleted:
            continue
        if not listing and wanted not in (o.id, o.address):
            continue
        if verbose or not listing:
            out.append(_header(kind))
        out.append(_line(kind, o))
        if verbose:
            out.append(_verbose(o, ctx.target.page_size))
        if verbose or not listing:
            out.append("\n")
        hit = True
        if not listing:
            break
    if listing and not verbose:
        out.append("\n")
    return "".join(out), hit


@command(
    "ipcs",
    summary="list System V IPC objects",
    synopsis="ipcs [-smMq] [-n pid | task] [id | address] ...",
    description="""
    Lists the System V shared memory segments, semaphore arrays and message queues of an IPC
    namespace (the first idle task's, or with -n a named task's): the object's kernel address, its
    key, id, owner uid and permissions, then the segment size and attach count (with "dest" or
    "locked" status), the number of semaphores, or the bytes and messages queued.  With ids or
    addresses, only those objects are shown.
    """,
    arguments=[
        Option("-s", help="semaphore arrays."),
        Option("-m", help="shared memory segments."),
        Option(
            "-M",
            help="shared memory segments, with their page counts (allocated, resident, swapped) and inode.",
        ),
        Option("-q", help="message queues."),
        Option("-n", "pid | task", dest="task", help="use this task's IPC namespace."),
        Argument(
            "values", "id | address", nargs="*", help="only the objects with these ids or kernel addresses."
        ),
    ],
)
def ipcs(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    task = tasks.tasks_by_pid(kernel, 0)[0].address
    if args.task is not None:
        found = tasks.find_task(kernel, args.task)
        if found is None:
            ctx.error(f"invalid task or pid value: {args.task}")
        task = found
    values: list[int] = []
    for text in args.values:
        try:
            values.append(parse_int(text))
        except ValueError:
            ctx.error(f"invalid input: {text}")
    shm, sem, msg = args.m or args.M, args.s, args.q
    if not (shm or sem or msg):
        shm = sem = msg = True
    kinds = [k for k, on in (("shm", shm), ("sem", sem), ("msg", msg)) if on]
    namespace = ipc.ipc_namespace(kernel, task)
    if not values:
        for kind in kinds:
            ctx.write(ipcs_kind(ctx, namespace, kind, args.M and kind == "shm", None)[0])
        return
    # crash collects the objects found in a temporary file and prints it after the values not found.
    out: list[str] = []
    for text, value in zip(args.values, values, strict=True):
        hit = False
        for kind in kinds:
            text_out, found = ipcs_kind(ctx, namespace, kind, args.M and kind == "shm", value)
            out.append(text_out)
            hit = hit or found
        if not hit:
            ctx.write(f"invalid id or address: {text}\n\n")
    ctx.write("".join(out))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [ipcs]
