"""``dev``: the character and block device majors (crash's dev.c ``cmd_dev``, ``dump_chrdevs``,
``dump_blkdevs_v3``)."""

from __future__ import annotations

from crashcompat.api import VADDR_PRLEN, Command, CommandContext, Kernel, command, hookimpl, mkstring
from crashcompat.api.kernel import devices, symbols


def _symstr(kernel: Kernel, address: int) -> str:
    sym = symbols.lookup(kernel, address)
    return symbols.format_offset(sym, address) if sym is not None else ""


def major_line(kernel: Kernel, device: devices.DeviceMajor) -> str:
    """One major as crash prints it: number, name, then the cdev/gendisk and its operations' symbol."""
    head = f" {device.major:3d}      {device.name or '(unknown)':<13} "
    if not device.ops:
        return head + " " + mkstring("(none)", VADDR_PRLEN, "c") + "\n"
    return head + f" {device.holder:{VADDR_PRLEN}x}  {_symstr(kernel, device.ops) or f'{device.ops:x}'}\n"


@command(
    "dev",
    summary="list the character and block device majors",
    synopsis="dev",
    description="""
    Lists each registered character device major with its name, its struct cdev and that cdev's file
    operations, then each block device major with its name, a gendisk of that major and the disk's
    block device operations.
    """,
)
def dev(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if not kernel.has_symbol("chrdevs"):
        ctx.error("chrdevs: symbol does not exist")
    out = [
        f"CHRDEV    NAME           {mkstring('CDEV', VADDR_PRLEN, 'c')}  {mkstring('OPERATIONS', VADDR_PRLEN)}\n"
    ]
    out += [major_line(kernel, d) for d in devices.char_majors(kernel)]
    out.append("\n")
    out.append(
        f"BLKDEV    NAME           {mkstring('GENDISK', VADDR_PRLEN, 'cr')}  {mkstring('OPERATIONS', VADDR_PRLEN)}\n"
    )
    out += [major_line(kernel, d) for d in devices.block_majors(kernel)]
    ctx.write("".join(out))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [dev]
