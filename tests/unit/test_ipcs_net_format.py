"""The row formats of ``ipcs`` and ``net -s`` (crash's printf formats), on made-up objects: the lab's
dumps hold no IPC object and no socket yet."""

from __future__ import annotations

from crashcompat.api.kernel import ipc
from crashcompat.core.kernel.net import _in6_port
from crashcompat.plugins import ipcs


def test_shm_row_and_verbose_lines() -> None:
    seg = ipc.IpcObject(
        0xFFFF888004A1B000,
        0x1234,
        32768,
        0,
        0o1600,
        False,
        size=65536,
        count=2,
        inode=0xFFFF888003C0D4E8,
        rss=3,
        swap=1,
    )
    assert (
        ipcs._line("shm", seg) == "ffff888004a1b000 00001234 32768      0     600   65536      2      dest \n"
    )
    assert ipcs._verbose(seg, 4096) == "PAGES ALLOCATED/RESIDENT/SWAPPED: 16/3/1\nINODE: ffff888003c0d4e8\n"


def test_sem_and_msg_rows() -> None:
    sem = ipc.IpcObject(0xFFFF888004A1C000, 0, 1, 1000, 0o666, False, count=4)
    assert ipcs._line("sem", sem) == "ffff888004a1c000 00000000 1          1000  666   4         \n"
    msg = ipc.IpcObject(0xFFFF888004A1D000, 0xFFFFFFFF, 2, 0, 0o644, False, size=12, count=1)
    assert (
        ipcs._line("msg", msg)
        == "ffff888004a1d000 ffffffff 2          0     644   12           1           \n"
    )


def test_headers() -> None:
    assert (
        ipcs._header("shm") == "SHMID_KERNEL     KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS\n"
    )
    assert ipcs._header("sem") == "SEM_ARRAY        KEY      SEMID      UID   PERMS NSEMS     \n"


def test_ipv6_address_port_is_not_compressed() -> None:
    loopback = bytes(15) + b"\x01"
    assert _in6_port(loopback, 8080) == "0:0:0:0:0:0:0:1-8080"
