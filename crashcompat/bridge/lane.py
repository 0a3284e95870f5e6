"""The bridge's memory lane: binary memory reads on a private Unix socket, beside GDB's remote protocol.

GDB 13 has no binary memory read (``m`` replies are hex) and takes about a microsecond per character it
receives, so memory read through ``m`` packets costs ~2 µs per byte.  ``crashcompat-gdbserver``
(:mod:`crashcompat.bridge.server`) therefore also listens on a Unix socket (:class:`MemoryLane`), names
it in ``monitor crashcompat info``, and answers it between GDB's packets;
:class:`crashcompat.gdb.target.GdbTarget` reads there with :func:`lane_read`.

The socket is in Linux's abstract namespace (unix(7)): it has no file, so nothing is left behind however
the bridge ends (even killed with SIGKILL), and the kernel drops the name with the last descriptor.  Its
name is random, and the bridge serves only connections from its own user (``SO_PEERCRED``), as a
private ``0700`` directory would.

The protocol, both ends of it, is here and only here.  This module imports the standard library and
core's :class:`~crashcompat.core.target.FaultError`, nothing else: GDB's side of crashcompat imports it,
and GDB's process must never load drgn.
"""

from __future__ import annotations

import os
import secrets
import selectors
import socket
import struct
from typing import Protocol

from crashcompat.core.target import FaultError

__all__ = ["LANE_REPLY", "LANE_REQUEST", "MemoryLane", "MemoryReader", "lane_read"]

#: A lane request: address, size (little-endian ``u64``, ``u32``).
LANE_REQUEST = struct.Struct("<QI")
#: A lane reply's header: the byte count that follows (``-1``: a fault), the faulting address.
LANE_REPLY = struct.Struct("<qQ")


class MemoryReader(Protocol):
    """What a lane serves: kernel virtual memory (the bridge's ``DumpView``)."""

    def read(self, address: int, size: int) -> bytes:
        """*size* bytes at *address*; raises :class:`~crashcompat.core.target.FaultError`."""
        ...


class MemoryLane:
    """Binary memory reads on a Unix socket in a private directory, served between GDB's packets.

    A request is :data:`LANE_REQUEST` (address, size); the reply :data:`LANE_REPLY` (byte count, or -1
    for a fault; the faulting address) and the bytes.  :param view: the dump (anything with ``read``).
    """

    def __init__(self, view: MemoryReader) -> None:
        self.view = view
        #: The socket's address: ``"\0"`` then a random name (the abstract namespace, no file).
        self.path = f"\0crashcompat-gdbserver-{os.getpid()}-{secrets.token_hex(8)}"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)

    def serve_until_readable(self, fd: int) -> None:
        """Answer lane requests until *fd* (GDB's packets) has input."""
        key = self._selector.register(fd, selectors.EVENT_READ)
        try:
            while True:
                ready = [k.fileobj for k, _ in self._selector.select()]
                for fileobj in ready:
                    if fileobj is self._listener:
                        self._accept()
                    elif isinstance(fileobj, socket.socket):
                        self._answer(fileobj)
                if key.fileobj in ready:
                    return
        finally:
            self._selector.unregister(fd)

    def _accept(self) -> None:
        """Take a connection, from this user only (the credentials of the peer process, unix(7))."""
        conn = self._listener.accept()[0]
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.geteuid():
            conn.close()
            return
        self._selector.register(conn, selectors.EVENT_READ)

    def _answer(self, conn: socket.socket) -> None:
        try:
            request = conn.recv(LANE_REQUEST.size, socket.MSG_WAITALL)
            if len(request) < LANE_REQUEST.size:
                raise ConnectionResetError
            address, size = LANE_REQUEST.unpack(request)
            try:
                data = self.view.read(address, size)
                reply = LANE_REPLY.pack(len(data), 0) + data
            except FaultError as e:
                reply = LANE_REPLY.pack(-1, e.address)
            except Exception:  # a bad dump page must not end the session, as in RemoteServer.handle
                reply = LANE_REPLY.pack(-1, address)
            conn.sendall(reply)
        except OSError:  # the reader went away
            self._selector.unregister(conn)
            conn.close()

    def close(self) -> None:
        for key in list(self._selector.get_map().values()):
            if isinstance(key.fileobj, socket.socket):
                key.fileobj.close()
        self._selector.close()


def lane_read(conn: socket.socket, address: int, size: int) -> bytes:
    """Read *size* bytes at *address* on a :class:`MemoryLane` connection.

    :raises FaultError: unreadable memory; :raises OSError: the lane is gone.
    """
    conn.sendall(LANE_REQUEST.pack(address, size))
    header = conn.recv(LANE_REPLY.size, socket.MSG_WAITALL)
    if len(header) < LANE_REPLY.size:
        raise ConnectionResetError("crashcompat-gdbserver closed the memory lane")
    count, fault = LANE_REPLY.unpack(header)
    if count < 0:
        raise FaultError(fault)
    data = conn.recv(count, socket.MSG_WAITALL) if count else b""
    if len(data) < count:
        raise ConnectionResetError("crashcompat-gdbserver closed the memory lane")
    return data
