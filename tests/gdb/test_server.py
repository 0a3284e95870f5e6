"""The GDB remote-protocol bridge (``crashcompat-gdbserver``) on a synthetic dump: framing, acks, every
packet GDB 13 sends, errors as ``E`` replies, and writes refused.  (GDB itself talks to it in
``test_in_gdb.py``; the drgn-backed view on real dumps in ``test_lab_gdb.py``.)"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from crashcompat.bridge.lane import MemoryLane, lane_read
from crashcompat.bridge.server import (
    G_PACKET_LAYOUT,
    IDLE_TID_BASE,
    KEEPALIVE,
    DumpView,
    LazyView,
    OpenFailed,
    RemoteServer,
    ThreadEntry,
    checksum,
    escape_binary,
    hex_registers,
    unescape_binary,
)
from crashcompat.core.opening import OpenError
from crashcompat.core.target import FaultError, Registers

MEMORY_BASE = 0xFFFF888000000000
MEMORY = bytes(range(256)) * 32  # 8 KiB mapped, then a hole


class FakeView(DumpView):
    def __init__(self) -> None:
        self.entries = [
            ThreadEntry(IDLE_TID_BASE, 0, "swapper/0", 0x1000, 0),
            ThreadEntry(1, 1, "init", 0x2000, None),
            ThreadEntry(116, 116, "fix$#*}crash", 0x3000, 1),
        ]

    def threads(self) -> list[ThreadEntry]:
        return self.entries

    def registers(self, tid: int) -> Registers:
        return {"rip": 0xFFFFFFFF81000000 + tid, "rsp": 0xFFFFC90000004000, "eflags": 0x246}

    def read(self, address: int, size: int) -> bytes:
        start = address - MEMORY_BASE
        if start < 0 or start + size > len(MEMORY):
            raise FaultError(max(address, MEMORY_BASE + len(MEMORY)))
        return MEMORY[start : start + size]

    def stop_thread(self) -> int:
        return 116

    def facts(self) -> dict[str, Any]:
        return {"format": "elf", "crashed_cpu": 1}


class Client:
    """A minimal GDB: frames packets, checks acks and checksums."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self.buffer = b""
        self.ack = True

    def _byte(self) -> bytes:
        if not self.buffer:
            self.buffer = os.read(self.read_fd, 65536)
            assert self.buffer, "server closed the pipe"
        byte, self.buffer = self.buffer[:1], self.buffer[1:]
        return byte

    def send(self, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        os.write(self.write_fd, b"$" + data + b"#" + f"{checksum(data):02x}".encode())
        if self.ack:
            assert self._byte() == b"+"

    def receive(self) -> bytes:
        while (byte := self._byte()) != b"$":
            assert byte in b"+", byte
        data = b""
        while (byte := self._byte()) != b"#":
            data += byte
        received = self._byte() + self._byte()
        assert int(received, 16) == checksum(data)
        if self.ack:
            os.write(self.write_fd, b"+")
        return data

    def ask(self, payload: str | bytes) -> bytes:
        self.send(payload)
        return self.receive()


@pytest.fixture
def client() -> Iterator[Client]:
    to_server_r, to_server_w = os.pipe()
    to_client_r, to_client_w = os.pipe()
    server = RemoteServer(FakeView(), to_server_r, to_client_w, exec_file="/boot/vmlinux-x")
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    c = Client(to_client_r, to_server_w)
    yield c
    os.close(to_server_w)  # end of input: the server returns
    thread.join(5)
    assert not thread.is_alive()
    for fd in (to_server_r, to_client_r, to_client_w):
        os.close(fd)


def test_handshake_and_no_ack_mode(client: Client) -> None:
    supported = client.ask("qSupported:multiprocess+;swbreak+;xmlRegisters=i386").decode()
    assert "qXfer:threads:read+" in supported and "QStartNoAckMode+" in supported
    assert "qXfer:exec-file:read+" in supported
    assert client.ask("qXfer:exec-file:read::0,1000") == b"l/boot/vmlinux-x"  # a GDB without a file loads it
    assert client.ask("vMustReplyEmpty") == b""
    assert client.ask("QStartNoAckMode") == b"OK"
    client.ack = False
    assert client.ask("?") == b"T05thread:74;"  # the crashed task, pid 116
    assert client.ask("qC") == b"QC74"
    assert client.ask("qAttached") == b"1"


def test_threads(client: Client) -> None:
    assert client.ask("qfThreadInfo") == f"m{IDLE_TID_BASE:x},1,74".encode()
    assert client.ask("qsThreadInfo") == b"l"
    assert bytes.fromhex(client.ask("qThreadExtraInfo,74").decode()) == b"pid 116, CPU 1"
    assert client.ask("qThreadExtraInfo,999") == b"E01"
    assert client.ask("T1") == b"OK" and client.ask("T999") == b"E01"
    # qXfer in small windows, as GDB reads it; names with protocol characters come back escaped.
    document = b""
    offset = 0
    while True:
        reply = client.ask(f"qXfer:threads:read::{offset:x},40")
        document += unescape_binary(reply[1:])
        offset += 0x40
        if reply[:1] == b"l":
            break
        assert reply[:1] == b"m"
    assert b'<thread id="74" core="1" name="fix$#*}crash">pid 116, CPU 1</thread>' in document


def test_registers_follow_hg(client: Client) -> None:
    regs = client.ask("g").decode()
    assert len(regs) == 2 * sum(size for _, size in G_PACKET_LAYOUT)
    rip_at = 2 * sum(size for name, size in G_PACKET_LAYOUT[:16])
    assert int.from_bytes(bytes.fromhex(regs[rip_at : rip_at + 16]), "little") == 0xFFFFFFFF81000074
    assert regs.startswith("xx" * 8)  # rax unknown: unavailable
    assert client.ask("Hg1") == b"OK"
    regs = client.ask("g").decode()
    assert int.from_bytes(bytes.fromhex(regs[rip_at : rip_at + 16]), "little") == 0xFFFFFFFF81000001
    assert client.ask("Hg999") == b"E01"
    assert client.ask("p10") == b""  # single registers: GDB falls back on g


def test_memory(client: Client) -> None:
    assert client.ask(f"m{MEMORY_BASE + 16:x},8") == bytes(range(16, 24)).hex().encode()
    # A read running into the hole returns the readable prefix; one starting in it is an error.
    end = MEMORY_BASE + len(MEMORY)
    assert client.ask(f"m{end - 4:x},8") == MEMORY[-4:].hex().encode()
    assert client.ask(f"m{end:x},8") == b"E0e"


def test_refuses_writes_and_running(client: Client) -> None:
    assert client.ask(f"M{MEMORY_BASE:x},1:00") == b"E01"
    assert client.ask(b"X%x,1:\x00" % MEMORY_BASE) == b"E01"
    assert client.ask("G" + "00" * 164) == b"E01"
    assert client.ask("Z0,ffffffff81000000,1") == b""
    client.send("c")
    console = client.receive()
    assert console.startswith(b"O") and b"cannot run" in bytes.fromhex(console[1:].decode())
    assert client.receive() == b"T05thread:74;"


def test_monitor(client: Client) -> None:
    def monitor(command: str) -> str:
        client.send("qRcmd," + command.encode().hex())
        text = ""
        while (reply := client.receive()) != b"OK":
            assert reply.startswith(b"O")
            text += bytes.fromhex(reply[1:].decode()).decode()
        return text

    assert json.loads(monitor("crashcompat info")) == {"format": "elf", "crashed_cpu": 1}
    assert "fix$#*}crash" in monitor("threads")
    assert "monitor crashcompat info" in monitor("nonsense")


def test_bad_checksum_is_nacked_and_bad_packet_is_an_error() -> None:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    server = RemoteServer(FakeView(), r1, w2)
    os.write(w1, b"$g#00")  # wrong checksum
    os.write(w1, b"$m" + b"zz,1" + b"#" + f"{checksum(b'mzz,1'):02x}".encode())
    os.close(w1)
    server.serve()
    out = os.read(r2, 4096)
    assert out.startswith(b"-+$E01#")
    for fd in (r1, r2, w2):
        os.close(fd)


def test_kill_ends_serving(client: Client) -> None:
    assert client.ask("k") == b"OK"


def test_helpers() -> None:
    assert escape_binary(b"a#b$c}d*") == b"a}\x03b}\x04c}]d}\x0a"
    assert unescape_binary(escape_binary(bytes(range(256)))) == bytes(range(256))
    assert hex_registers({"eflags": 0x246, "gs": 0x10})[-16:] == "xxxxxxxx10000000"


def test_memory_lane_serves_binary_reads_between_packets() -> None:
    """GdbTarget's reads on the lane: the view's bytes, a fault as FaultError with its address; the server
    answers them while it waits for GDB's next packet, and ``monitor crashcompat info`` names the lane."""
    view = FakeView()
    lane = MemoryLane(view)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    server = RemoteServer(view, r1, w2, lane=lane)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(lane.path)
        assert lane_read(conn, MEMORY_BASE + 16, 4096) == MEMORY[16:4112]
        with pytest.raises(FaultError) as fault:
            lane_read(conn, MEMORY_BASE + len(MEMORY) - 4, 8)
        assert fault.value.address == MEMORY_BASE + len(MEMORY)
        client = Client(r2, w1)
        client.send("qRcmd," + b"crashcompat info".hex())
        info = bytes.fromhex(client.receive()[1:].decode())
        assert json.loads(info)["memory_lane"] == lane.path
        assert client.receive() == b"OK"
        assert lane_read(conn, MEMORY_BASE, 2) == MEMORY[:2]  # still served after a packet
    finally:
        conn.close()
        os.close(w1)
        thread.join(10)
        lane.close()
        for fd in (r1, r2, w2):
            os.close(fd)
    assert not thread.is_alive()
    assert not os.path.exists(lane.path)


def _reply_after_keepalives(fd: int) -> tuple[int, bytes]:
    """(how many keepalive bytes came first, the payload of the packet that followed)."""
    spaces, data = 0, b""
    while True:
        byte = os.read(fd, 1)
        assert byte, "server closed the pipe"
        if not data and byte in (KEEPALIVE, b"+"):
            spaces += byte == KEEPALIVE
            continue
        data += byte
        if len(data) >= 3 and data[-3:-2] == b"#":
            return spaces, data[1:-3]


def test_lazy_view_answers_at_once_and_keeps_gdb_waiting() -> None:
    """The bridge answers GDB's set-up packets while the dump is still opening, and keeps GDB's
    remotetimeout from expiring with keepalive bytes until a reply that needs the dump is ready."""
    gate = threading.Event()

    def opener() -> DumpView:
        gate.wait(10)
        return FakeView()

    view = LazyView(opener)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    thread = threading.Thread(target=RemoteServer(view, r1, w2).serve, daemon=True)
    thread.start()
    try:
        client = Client(r2, w1)
        client.send("qSupported:xmlRegisters=i386")
        assert b"PacketSize" in client.receive()
        assert not view.ready
        client.send("?")
        threading.Timer(1.2, gate.set).start()
        spaces, reply = _reply_after_keepalives(r2)
        assert spaces >= 1
        assert reply.startswith(b"T05thread:")
    finally:
        gate.set()
        os.close(w1)
        thread.join(10)
        for fd in (r1, r2, w2):
            os.close(fd)


def test_lazy_view_failure_is_one_line_and_ends_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    def opener() -> DumpView:
        raise OpenError("vmcore: invalid kdump header:\n block_size 0")

    view = LazyView(opener)
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    server = RemoteServer(view, r1, w2)
    try:
        os.write(w1, b"$?#" + f"{checksum(b'?'):02x}".encode())
        with pytest.raises(OpenFailed):
            server.serve()
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)
    assert capsys.readouterr().err == "crashcompat-gdbserver: vmcore: invalid kdump header: block_size 0\n"


def test_memory_lane_has_no_file() -> None:
    """The lane's socket is abstract: nothing on disk can be left behind, even if the bridge is killed."""
    lane = MemoryLane(FakeView())
    try:
        assert lane.path.startswith("\0")
    finally:
        lane.close()
