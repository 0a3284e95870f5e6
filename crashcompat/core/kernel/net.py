"""Network devices and a task's sockets as crash reads them (net.c ``show_net_devices_v3``, ``get_device_address``,
``get_device_ip6_address``).

Layouts: a namespace's devices are on ``struct net.dev_base_head`` by ``net_device.dev_list`` (2.6.24+);
``net_device.name`` is a ``char[IFNAMSIZ]``; IPv4 addresses hang off ``net_device.ip_ptr``
(``struct in_device``) as the ``ifa_list`` chain of ``struct in_ifaddr`` (``ifa_address``, ``ifa_next``),
IPv6 ones off ``ip6_ptr`` (``struct inet6_dev``) on ``addr_list`` by ``inet6_ifaddr.if_list`` (2.6.35,
commit 502a2ffd7376 "ipv6: convert idev_list to list macros").

Sockets (net.c ``dump_sockets_workhorse``, ``sym_socket_dump``, ``get_sock_info``): an open file whose
inode is a socket (``S_ISSOCK(i_mode)``) sits in a ``struct socket_alloc`` after its ``struct socket``
(``socket_alloc.vfs_inode``), whose ``sk`` is the ``struct sock``.  Since 2.6.36 (commit c720c7e8383a
"inet: rename some inet_sock fields") the inet addresses and ports are read through
``struct sock_common`` (``skc_daddr``, ``skc_rcv_saddr``, ``skc_dport``) and ``inet_sock.inet_sport``,
the family from ``skc_family`` and the type from ``sock.sk_type``.

The ARP cache (net.c ``dump_arp``, ``print_neighbour_q``): ``arp_tbl.nht`` (``struct
neigh_hash_table``, 2.6.37) has ``1 << hash_shift`` buckets, ``hash_buckets`` chains of ``struct
neighbour`` by ``next`` (from 6.13, ``hash_heads`` of hlists by ``neighbour.hash``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.fs import task_files
from crashcompat.core.kernel.lists import list_for_each

__all__ = ["ArpEntry", "NetDevice", "TaskSocket", "arp_entries", "net_devices", "sock_info", "task_sockets"]


@dataclass(frozen=True)
class NetDevice:
    """A ``struct net_device *`` with its name and addresses (IPv4 first, as text)."""

    address: int
    name: str
    addresses: list[str]


def _ipv4(kernel: Kernel, device: int) -> list[str]:
    in_device = kernel.read_pointer(device + kernel.offsetof("struct net_device", "ip_ptr"))
    if not in_device:
        return []
    out: list[str] = []
    ifa = kernel.read_pointer(in_device + kernel.offsetof("struct in_device", "ifa_list"))
    while ifa and len(out) < 4096:
        raw = kernel.read(ifa + kernel.offsetof("struct in_ifaddr", "ifa_address"), 4)
        out.append(str(ipaddress.IPv4Address(raw)))
        ifa = kernel.read_pointer(ifa + kernel.offsetof("struct in_ifaddr", "ifa_next"))
    return out


def _ipv6(kernel: Kernel, device: int) -> list[str]:
    inet6 = kernel.read_pointer(device + kernel.offsetof("struct net_device", "ip6_ptr"))
    if not inet6:
        return []
    link = kernel.offsetof("struct inet6_ifaddr", "if_list")
    addr = kernel.offsetof("struct inet6_ifaddr", "addr")
    head = inet6 + kernel.offsetof("struct inet6_dev", "addr_list")
    return [
        str(ipaddress.IPv6Address(kernel.read(node - link + addr, 16)))
        for node in list_for_each(kernel, head, on_error="stop")
    ]


def net_devices(kernel: Kernel, task: int) -> list[NetDevice]:
    """The devices of *task*'s network namespace (``task->nsproxy->net_ns``; ``init_net`` without
    namespaces), in list order.

    :param task: ``struct task_struct *``.
    """
    if kernel.has_member("struct nsproxy", "net_ns"):
        nsproxy = kernel.read_pointer(task + kernel.offsetof("struct task_struct", "nsproxy"))
        net = kernel.read_pointer(nsproxy + kernel.offsetof("struct nsproxy", "net_ns"))
    else:
        net = kernel.symbol("init_net")
    link = kernel.offsetof("struct net_device", "dev_list")
    out = []
    for node in list_for_each(kernel, net + kernel.offsetof("struct net", "dev_base_head"), on_error="stop"):
        device = node - link
        name = kernel.struct("struct net_device", device).cstr("name")
        out.append(NetDevice(device, name, _ipv4(kernel, device) + _ipv6(kernel, device)))
    return out


_S_IFMT = 0o170000
_S_IFSOCK = 0o140000
#: crash's names of the address families (``AF_*``) and socket types (``SOCK_*``) it knows.
_FAMILIES = {
    0: "UNSPEC", 1: "UNIX", 2: "INET", 3: "AX25", 4: "IPX", 5: "APPLETALK", 6: "NETROM", 7: "BRIDGE",
    8: "ATMPVC", 9: "X25", 10: "INET6", 11: "ROSE", 12: "DECnet", 13: "NETBEUI", 14: "SECURITY/KEY",
    16: "NETLINK/ROUTE", 17: "PACKET", 18: "ASH", 19: "ECONET", 20: "ATMSVC", 22: "SNA", 23: "IRDA",
    24: "PPPOX",
}  # fmt: skip
_TYPES = {1: "STREAM", 2: "DGRAM ", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 10: "PACKET"}


@dataclass(frozen=True)
class TaskSocket:
    """One open socket of a task: its descriptor, ``struct socket *`` and ``struct sock *``."""

    fd: int
    socket: int
    sock: int


def task_sockets(kernel: Kernel, task: int) -> list[TaskSocket] | None:
    """The sockets among the open files of ``struct task_struct *`` *task*, in descriptor order; ``None``
    when it has no descriptor table (crash then says "No open sockets." too).  Raises FaultError."""
    files = task_files(kernel, task).files
    if files is None:
        return None
    mode_offset = kernel.offsetof("struct inode", "i_mode")
    vfs_inode = kernel.offsetof("struct socket_alloc", "vfs_inode")
    sk = kernel.offsetof("struct socket", "sk")
    out = []
    for f in files:
        if not f.inode:
            continue
        mode = int.from_bytes(kernel.read(f.inode + mode_offset, 2), "little")
        if mode & _S_IFMT != _S_IFSOCK:
            continue
        socket = f.inode - vfs_inode
        out.append(TaskSocket(f.fd, socket, kernel.read_pointer(socket + sk)))
    return out


def _u16(kernel: Kernel, address: int) -> int:
    return int.from_bytes(kernel.read(address, 2), "little")


def sock_info(kernel: Kernel, sock: int) -> str:
    """crash's ``get_sock_info()`` text for ``struct sock *`` *sock*: ``FAMILY:TYPE`` and, for IPv4 and
    IPv6, the local and remote address-port pairs.  Raises FaultError."""
    common = kernel.offsetof("struct sock", "__sk_common")
    family = _u16(kernel, sock + common + kernel.offsetof("struct sock_common", "skc_family"))
    kind = _u16(kernel, sock + kernel.offsetof("struct sock", "sk_type"))
    text = f"{_FAMILIES.get(family, str(family))}:{_TYPES.get(kind, str(kind))} "
    if family not in (2, 10):
        return text
    sport = int.from_bytes(kernel.read(sock + kernel.offsetof("struct inet_sock", "inet_sport"), 2), "big")
    dport = int.from_bytes(
        kernel.read(sock + common + kernel.offsetof("struct sock_common", "skc_dport"), 2), "big"
    )
    if family == 2:
        saddr = kernel.read(sock + common + kernel.offsetof("struct sock_common", "skc_rcv_saddr"), 4)
        daddr = kernel.read(sock + common + kernel.offsetof("struct sock_common", "skc_daddr"), 4)
        return text + f" {ipaddress.IPv4Address(saddr)}-{sport} {ipaddress.IPv4Address(daddr)}-{dport}"
    if not kernel.has_member("struct sock_common", "skc_v6_daddr"):
        return text + "(cannot get IPv6 addresses)"
    src = kernel.read(sock + common + kernel.offsetof("struct sock_common", "skc_v6_rcv_saddr"), 16)
    dst = kernel.read(sock + common + kernel.offsetof("struct sock_common", "skc_v6_daddr"), 16)
    local = _in6_port(src, sport)
    remote = _in6_port(dst, dport)
    # crash centres the remote pair in a field as wide as the local one.
    pad = len(local) - len(remote)
    if pad > 0:
        remote = " " * (pad // 2) + remote + " " * (pad - pad // 2)
    return text + f"{local:>12} " + remote


def _in6_port(raw: bytes, port: int) -> str:
    """crash's ``dump_in6_addr_port()``: eight hex groups without zero compression, then ``-port``."""
    groups = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 16, 2)]
    return ":".join(f"{g:x}" for g in groups) + f"-{port}"


@dataclass(frozen=True)
class ArpEntry:
    """A ``struct neighbour *`` of the ARP table: IPv4 address, hardware address (the device's
    ``addr_len`` bytes), the device's name and type (``ARPHRD_*``), and ``nud_state``."""

    address: int
    ip: str
    hw: bytes
    device: str
    device_type: int
    state: int


def arp_entries(kernel: Kernel, limit: int = 100_000) -> list[ArpEntry]:
    """The ARP cache (``arp_tbl``) bucket by bucket, each chain in order.  Raises FaultError."""
    tbl = kernel.symbol("arp_tbl")
    nht = kernel.read_pointer(tbl + kernel.offsetof("struct neigh_table", "nht"))
    shift = kernel.read_u32(nht + kernel.offsetof("struct neigh_hash_table", "hash_shift"))
    hlist = kernel.has_member("struct neigh_hash_table", "hash_heads")
    buckets = kernel.read_pointer(
        nht + kernel.offsetof("struct neigh_hash_table", "hash_heads" if hlist else "hash_buckets")
    )
    link = kernel.offsetof("struct neighbour", "hash" if hlist else "next")
    n = "struct neighbour"
    d = "struct net_device"
    out: list[ArpEntry] = []
    for head in kernel.target.read_pointers(buckets, 1 << shift):
        entry = head - link if hlist and head else head
        while entry and len(out) < limit:
            dev = kernel.read_pointer(entry + kernel.offsetof(n, "dev"))
            addr_len = kernel.read(dev + kernel.offsetof(d, "addr_len"), 1)[0]
            out.append(
                ArpEntry(
                    entry,
                    str(ipaddress.IPv4Address(kernel.read(entry + kernel.offsetof(n, "primary_key"), 4))),
                    kernel.read(entry + kernel.offsetof(n, "ha"), addr_len),
                    kernel.struct(d, dev).cstr("name"),
                    int.from_bytes(kernel.read(dev + kernel.offsetof(d, "type"), 2), "little"),
                    kernel.read(entry + kernel.offsetof(n, "nud_state"), 1)[0],
                )
            )
            nxt = kernel.read_pointer(entry + link)
            entry = nxt - link if hlist and nxt else nxt
    return out
