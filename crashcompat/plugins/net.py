"""``net``: network devices and their addresses (crash's net.c ``cmd_net``, ``show_net_devices_v3``)."""

from __future__ import annotations

import ipaddress

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    Option,
    command,
    hookimpl,
    mkstring,
    parse_int,
)
from crashcompat.api.kernel import net as netdev
from crashcompat.api.kernel import tasks


@command(
    "net",
    summary="list the network devices and their addresses",
    synopsis="net [-N address] [-n [pid | task]]",
    description="""
    Lists the network devices of a network namespace (the first idle task's, or with -n the current
    or a named task's): the net_device address, the device name and its IPv4 and IPv6 addresses.
    """,
    arguments=[
        Option(
            "-N", "address", dest="number", help="print a 32-bit IPv4 address (as stored) in dotted notation."
        ),
        Option("-n", help="use the network namespace of the current task, or of the pid or task given."),
        Argument("targets", "pid | task", nargs="*", help="with -n: the task whose namespace to show."),
    ],
)
def net(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.number is not None:
        try:
            value = parse_int(args.number)
        except ValueError:
            ctx.error(f"invalid input: {args.number}")  # crash's stol() message
        ctx.write(f"{ipaddress.IPv4Address((value & 0xFFFFFFFF).to_bytes(4, 'little'))}\n")
        return
    if args.targets and not args.n:
        raise CommandArgumentError("unexpected argument")
    task = tasks.tasks_by_pid(kernel, 0)[0].address
    if args.n:
        task = ctx.session.current_task()
        if args.targets:
            found = tasks.find_task(kernel, args.targets[0])
            if found is None:
                ctx.error(f"invalid task or pid value: {args.targets[0]}")
            task = found
    out = [f"{mkstring('NET_DEVICE', VADDR_PRLEN, 'cl')}  NAME       IP ADDRESS(ES)\n"]
    for device in netdev.net_devices(kernel, task):
        out.append(
            f"{mkstring(f'{device.address:x}', VADDR_PRLEN, 'cr')}  {device.name:<10} {', '.join(device.addresses)}\n"
        )
    ctx.write("".join(out))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [net]
