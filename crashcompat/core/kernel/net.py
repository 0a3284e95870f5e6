"""Network devices as crash reads them (net.c ``show_net_devices_v3``, ``get_device_address``,
``get_device_ip6_address``).

Layouts: a namespace's devices are on ``struct net.dev_base_head`` by ``net_device.dev_list`` (2.6.24+);
``net_device.name`` is a ``char[IFNAMSIZ]``; IPv4 addresses hang off ``net_device.ip_ptr``
(``struct in_device``) as the ``ifa_list`` chain of ``struct in_ifaddr`` (``ifa_address``, ``ifa_next``),
IPv6 ones off ``ip6_ptr`` (``struct inet6_dev``) on ``addr_list`` by ``inet6_ifaddr.if_list`` (2.6.35,
commit 502a2ffd7376 "ipv6: convert idev_list to list macros").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import list_for_each

__all__ = ["NetDevice", "net_devices"]


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
