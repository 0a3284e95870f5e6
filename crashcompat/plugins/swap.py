"""``swap``: the swap devices in use (crash's memory.c ``cmd_swap``, ``dump_swap_info``)."""

from __future__ import annotations

from crashcompat.api import Command, CommandContext, command, hookimpl, mkstring
from crashcompat.api.kernel import mm

HEADER = "SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME\n"


def swap_line(device: mm.SwapDevice, page_size: int) -> str:
    """One device as crash prints it: sizes in KiB, the share used, the priority and the path."""
    pages = device.pages * page_size // 1024
    used = device.used * page_size // 1024
    pct = used * 100 // pages if pages else 0
    kind = "PARTITION" if device.partition else "  FILE   "
    return (
        f"{mkstring(f'{device.address:x}', len('SWAP_INFO_STRUCT'), 'cl')}  {kind} "
        f"{mkstring(f'{pages}k', 10, 'cr')} {mkstring(f'{used}k', 10, 'cr')} "
        f"{mkstring(f'{pct:2d}%', 4, 'cr')} {device.prio:>4}  {device.path}\n"
    )


@command(
    "swap",
    summary="list the swap devices in use",
    synopsis="swap",
    description="""
    Prints one line per swap device or file in use: its swap_info_struct address, whether it is a
    partition or a file, its size and the part used (in KiB and percent), its priority and its path.
    """,
)
def swap(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if not kernel.has_symbol("nr_swapfiles"):
        ctx.error("nr_swapfiles doesn't exist in this kernel!")
    if not kernel.has_symbol("swap_info"):
        ctx.error("swap_info doesn't exist in this kernel!")
    devices = mm.swap_devices(kernel) or []
    ctx.write(HEADER + "".join(swap_line(d, ctx.target.page_size) for d in devices))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [swap]
