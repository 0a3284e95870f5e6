"""``net``: network devices and their addresses, and tasks' open sockets (crash's net.c ``cmd_net``,
``show_net_devices_v3``, ``dump_sockets``, ``sym_socket_dump``)."""

from __future__ import annotations

import io
import ipaddress

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    Kernel,
    Option,
    command,
    hookimpl,
    mkstring,
    parse_int,
    task_header,
)
from crashcompat.api.kernel import fs, tasks
from crashcompat.api.kernel import net as netdev


@command(
    "net",
    summary="list the network devices and their addresses",
    synopsis="net [[-s | -S] [-xd] [-R ref] [pid | task]] [-a] [-N address] [-n [pid | task]]",
    description="""
    Lists the network devices of a network namespace (the first idle task's, or with -n the current
    or a named task's): the net_device address, the device name and its IPv4 and IPv6 addresses.
    With -s or -S it shows instead the open sockets of the current task or of each task named.
    """,
    arguments=[
        Option(
            "-a", help="the ARP cache: neighbour, IPv4 address, hardware type and address, device, state."
        ),
        Option("-s", help="each open socket in one line: descriptor, socket, sock, family and type, ports."),
        Option("-S", help="each open socket's struct socket and inet_sock in full."),
        Option(
            "-R", "ref", dest="ref", help="with -s or -S: only the socket with this descriptor or address."
        ),
        Option("-x", help="with -S: numbers in hexadecimal."),
        Option("-d", help="with -S: numbers in decimal."),
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
    if args.a:
        if not kernel.has_symbol("arp_tbl"):
            ctx.error("arp_tbl does not exist in this kernel")
        ctx.write(arp_text(kernel))
    if args.x and args.d:
        ctx.error("-d and -x are mutually exclusive")
    if args.s and args.S:
        ctx.write("net: only one -s or -S option allowed\n")
        args.S = False
    if args.s or args.S:
        _sockets(ctx)
        return
    if args.a and not args.n:
        return
    if (args.targets and not args.n) or args.ref is not None:
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


#: crash's names of the hardware types (``ARPHRD_*``) it knows; Ethernet addresses are colon-separated.
_HW_TYPES = {
    1: "ETHER", 0: "NETROM", 2: "EETHER", 3: "AX25", 4: "PRONET", 5: "CHAOS", 6: "IEEE802",
    7: "ARCNET", 8: "APPLETLK", 15: "DLCI", 23: "METRICOM",
}  # fmt: skip
_NUD_STATES = (
    (0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"), (0x10, "PROBE"),
    (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"),
)  # fmt: skip


def arp_text(kernel: Kernel) -> str:
    """crash's ``dump_arp()``: a header and one line per neighbour, nothing when the cache is empty."""
    entries = netdev.arp_entries(kernel)
    if not entries:
        return ""
    out = ["NEIGHBOUR        IP ADDRESS      HW TYPE    HW ADDRESS         DEVICE  STATE\n"]
    for e in entries:
        kind = _HW_TYPES.get(e.device_type, "UNKNOWN")
        if e.device_type == 1:
            hw = ":".join(f"{b:02x}" for b in e.hw) + (" " if e.hw else "")
        else:
            hw = "".join(f"{b:02x} " for b in e.hw)
        states = "|".join(name for bit, name in _NUD_STATES if e.state & bit)
        tail = "\n" if not e.state else (states + "\n" if states else "")
        out.append(f"{e.address:<16x} {e.ip:<16s}{kind:<10s} {hw} {e.device:<6s}  {tail}")
    return "".join(out)


def _sockets(ctx: CommandContext) -> None:
    """crash's ``dump_sockets()``: the sockets of the current task or of each pid or task given."""
    args = ctx.args
    kernel = ctx.kernel
    ref = args.ref
    if not args.targets:
        if ref is None:
            current = tasks.read_task(kernel, ctx.session.current_task())
            ctx.write(task_header(current.pid, current.address, current.cpu, current.comm))
        ctx.write(task_sockets_text(ctx, ctx.session.current_task(), ref))
        return
    subsequent = 0
    for text in args.targets:
        parsed = tasks.parse_task_spec(kernel, text)
        found = []
        if parsed is not None:
            found = (
                [parsed[1]]
                if parsed[0] == "task"
                else [t.address for t in tasks.tasks_by_pid(kernel, parsed[1])]
            )
        if not found:
            ctx.write(("\nnet: " if subsequent else "net: ") + f"invalid task or pid value: {text}\n")
            subsequent += 1
            continue
        for address in found:
            if ref is None:
                t = tasks.read_task(kernel, address)
                ctx.write(task_header(t.pid, t.address, t.cpu, t.comm, newline=subsequent > 0))
                subsequent += 1
            ctx.write(task_sockets_text(ctx, address, ref))


def task_sockets_text(ctx: CommandContext, task: int, ref: str | None) -> str:
    """crash's ``dump_sockets_workhorse()`` for ``struct task_struct *`` *task*, after its header: the
    -s lines or -S structures of its sockets (only the one *ref* names when given, with the task
    header printed before it), else "No open sockets."."""
    kernel = ctx.kernel
    args = ctx.args
    found = netdev.task_sockets(kernel, task)
    if not found:
        return "" if ref is not None else "No open sockets.\n"
    hexval = decval = None
    if (
        ref is not None
        and ref.isalnum()
        and all(c in "0123456789abcdefABCDEF" for c in ref.removeprefix("0x"))
    ):
        if ref.isdigit() and int(ref) <= netdev_max_fds(ctx, task):
            decval = int(ref)
        else:
            hexval = int(ref, 16)
    out: list[str] = []
    shown = 0
    for sock in found:
        if ref is not None:
            if not (
                (hexval is not None and hexval in (sock.sock, sock.socket, sock.fd))
                or (decval is not None and decval == sock.fd)
            ):
                continue
            if not out:
                t = tasks.read_task(kernel, task)
                out.append(task_header(t.pid, t.address, t.cpu, t.comm))
        if args.S:
            out.append(
                f"{chr(10) if shown else ''}FD  {mkstring('SOCKET', VADDR_PRLEN, 'cl')}  "
                f"{mkstring('SOCK', VADDR_PRLEN, 'cl')}\n"
            )
            out.append(
                f"{sock.fd:2d}  {mkstring(f'{sock.socket:x}', VADDR_PRLEN, 'r')}  "
                f"{mkstring(f'{sock.sock:x}', VADDR_PRLEN, 'r')}\n\n"
            )
            radix = ["-x"] if args.x else ["-d"] if args.d else []
            out.append(_run(ctx, "struct", [*radix, "socket", f"{sock.socket:x}"]))
            out.append(_run(ctx, "struct", [*radix, "inet_sock", f"{sock.sock:x}"]))
        else:
            if not shown:
                out.append("FD      SOCKET            SOCK       FAMILY:TYPE SOURCE-PORT DESTINATION-PORT\n")
            out.append(
                f"{sock.fd:2d} {mkstring(f'{sock.socket:x}', VADDR_PRLEN, 'r')} "
                f"{mkstring(f'{sock.sock:x}', VADDR_PRLEN, 'r')} {netdev.sock_info(kernel, sock.sock)}\n"
            )
        shown += 1
    if ref is None and not shown:
        return "No open sockets.\n"
    if ref is not None and out:
        out.append("\n")
    return "".join(out)


def netdev_max_fds(ctx: CommandContext, task: int) -> int:
    return fs.task_files(ctx.kernel, task).max_fds


def _run(ctx: CommandContext, name: str, argv: list[str]) -> str:
    out = io.StringIO()
    ctx.session.run_argv(name, argv, out)
    return out.getvalue()


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [net]
