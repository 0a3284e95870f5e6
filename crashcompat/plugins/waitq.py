"""``waitq``: the tasks on a wait queue (crash's kernel.c ``cmd_waitq``, ``dump_waitq``)."""

from __future__ import annotations

from crashcompat.api import (
    Argument,
    Command,
    CommandContext,
    Kernel,
    SymbolNotFound,
    TypeNotFound,
    command,
    hexadecimal,
    hookimpl,
    task_header,
)
from crashcompat.api.kernel import layout, lists, tasks


def waiters(kernel: Kernel, head: int) -> list[int]:
    """``entry->private`` of each ``struct wait_queue_entry`` on a ``struct wait_queue_head *`` (4.13+,
    commit ac6424b981bc "sched/wait: Rename wait_queue_t => wait_queue_entry_t"), in queue order."""
    link = kernel.offsetof("struct wait_queue_entry", "entry")
    private = kernel.offsetof("struct wait_queue_entry", "private")
    start = head + kernel.offsetof("struct wait_queue_head", "head")
    return [
        kernel.read_pointer(node - link + private)
        for node in lists.list_for_each(kernel, start, on_error="stop")
    ]


def _member_offset(kernel: Kernel, struct: str, member: str) -> int | None:
    for name in (f"struct {struct}", f"union {struct}", struct):
        try:
            return kernel.offsetof(name, member)
        except TypeNotFound:
            continue
    return None


@command(
    "waitq",
    summary="list the tasks waiting on a wait queue",
    synopsis="waitq [symbol | struct.member address | address]",
    description="""
    Prints the task header of each task queued on a wait_queue_head: one named by a symbol, by a
    structure member and the structure's address, or given by its address.
    """,
    arguments=[
        Argument(
            "words", "queue", nargs="*", help="the wait queue: symbol, struct.member address, or address."
        )
    ],
)
def waitq(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    words = ctx.args.words
    if not 1 <= len(words) <= 2:
        ctx.write(waitq.usage_text())  # crash prints the usage alone
        return
    name = None
    text = words[0]
    if text.isdigit() or hexadecimal(text) is not None:
        head = hexadecimal(text) or 0
    elif "." not in text:
        name = text
        try:
            head = kernel.symbol(text)
        except SymbolNotFound:
            ctx.error(f'cannot resolve "{text}"')
    else:
        struct, member = text.split(".", 1)
        if len(words) != 2:
            ctx.write(f"must supply an address for {struct}\n")
            return
        base = hexadecimal(words[1])
        if base is None:
            ctx.error(f'invalid input: "{words[1]}"')
        offset = _member_offset(kernel, struct, member)
        if offset is None:
            ctx.write(f"{member} is not a member of {struct}\n")
            return
        head = base + offset
    if not head or not layout.layout(kernel).is_kvaddr(head):
        return
    queued = waiters(kernel, head)
    if not queued:
        ctx.write(f'wait queue "{name}" ({head:x}) is empty\n' if name else f"wait queue {head:x} is empty\n")
        return
    for task in queued:
        t = tasks.table_task(kernel, task)
        if t is None:
            break
        ctx.write(task_header(t.pid, t.address, t.cpu, t.comm))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [waitq]
