"""``crashcompat-gdbserver VMLINUX VMCORE``: a GDB remote-protocol server for any dump drgn reads.

Run it from GDB as ``target remote | crashcompat-gdbserver VMLINUX VMCORE``.  It speaks GDB's remote
serial protocol on stdin/stdout, in its own process (so drgn never shares GDB's address space), and
presents **every task as a thread**: the thread id is the pid (the idle task of CPU *n*, pid 0, gets
:data:`IDLE_TID_BASE` + *n*), the thread name is ``comm``, and a thread's registers are the task's — the
CPU's registers from the dump's notes for a task that was running, else the registers saved at its last
context switch, as drgn's unwinder starts from them.  Stock GDB's ``info threads``, ``thread N``, ``bt``,
``frame`` and ``info locals`` then work on any task, and crashcompat's ``crash`` command reads memory
through it.  Memory and register writes are refused; an unreadable address is an ``E`` reply.

``monitor crashcompat info`` answers a JSON object (dump format and path, KASLR offset, crashed CPU and
the CPUs' registers) that :class:`crashcompat.gdb.target.GdbTarget` reads to behave like the drgn backend.

The same facts name a :class:`~crashcompat.bridge.lane.MemoryLane` (:mod:`crashcompat.bridge.lane`): a
private Unix socket on which ``GdbTarget`` reads memory in binary.  GDB 13 has no binary memory read (``m`` replies are hex) and takes about a microsecond per
character it receives, so reading through ``m`` packets costs ~2 µs per byte: ``kmem -i`` reads the whole
``mem_map`` (8 MiB on a 512 MiB guest) and took 9 s that way, 0.1 s on the lane.  GDB's own commands
(``bt``, ``x``, ``print``) still read through the protocol.

The protocol layer (:class:`RemoteServer`) serves any :class:`DumpView`; :class:`DrgnDumpView` is the
drgn-backed one.  This module imports drgn only inside :func:`open_view`, never at import time; it is
the only module on the bridge's side that uses drgn, and nothing on GDB's side imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from crashcompat.bridge.lane import MemoryLane
from crashcompat.core.target import FaultError, Registers, Target, TargetError

if TYPE_CHECKING:
    import drgn

#: Thread id of CPU *n*'s idle task (pid 0) is ``IDLE_TID_BASE + n``: above any pid (``PID_MAX_LIMIT``
#: is 4194304 on 64-bit, include/linux/threads.h).
IDLE_TID_BASE = 0x40000000

#: GDB's default x86_64 register layout of the ``g`` packet (gdb/amd64-tdep.c, the amd64 core feature):
#: the general registers, ``rip``, ``eflags`` and the segment registers, with their sizes.  The FPU and
#: SSE registers that follow are left out; GDB treats registers missing from a short ``g`` reply as
#: unavailable.
G_PACKET_LAYOUT: tuple[tuple[str, int], ...] = (
    ("rax", 8), ("rbx", 8), ("rcx", 8), ("rdx", 8), ("rsi", 8), ("rdi", 8), ("rbp", 8), ("rsp", 8),
    ("r8", 8), ("r9", 8), ("r10", 8), ("r11", 8), ("r12", 8), ("r13", 8), ("r14", 8), ("r15", 8),
    ("rip", 8), ("eflags", 4), ("cs", 4), ("ss", 4), ("ds", 4), ("es", 4), ("fs", 4), ("gs", 4),
)  # fmt: skip

#: Largest packet we accept and send (hex): GDB splits memory reads to fit.
PACKET_SIZE = 0x20000

MONITOR_HELP = """\
crashcompat-gdbserver monitor commands:
  monitor crashcompat info    dump facts for crashcompat's GdbTarget (JSON)
  monitor threads             every task: thread id, pid, CPU, command
  monitor help                this text
"""


@dataclass(frozen=True)
class ThreadEntry:
    """One task as a GDB thread.

    :param task: ``struct task_struct *``.
    :param cpu: the CPU it was running on when the dump was taken, or ``None``.
    """

    tid: int
    pid: int
    comm: str
    task: int
    cpu: int | None


class DumpView(ABC):
    """What the server serves: threads, their registers, memory, and the facts for ``monitor``."""

    @abstractmethod
    def threads(self) -> list[ThreadEntry]:
        """Every thread, in the order ``info threads`` lists them."""

    @abstractmethod
    def registers(self, tid: int) -> Registers:
        """Registers of thread *tid* by lower-case name (``rip``, ``rsp``, ``eflags`` …); missing ones
        are unavailable."""

    @abstractmethod
    def read(self, address: int, size: int) -> bytes:
        """Kernel virtual memory.  Raises :class:`~crashcompat.core.target.FaultError`."""

    @abstractmethod
    def stop_thread(self) -> int:
        """The thread GDB selects first (the crashed task)."""

    @abstractmethod
    def facts(self) -> dict[str, Any]:
        """``monitor crashcompat info``: JSON-able facts (see :class:`crashcompat.gdb.target.GdbTarget`)."""


class LazyView(DumpView):
    """A :class:`DumpView` opened in a background thread, so that the server answers GDB's first packets
    at once.  Whatever needs the dump waits for the opening (:meth:`wait`).

    :param opener: opens the dump; its exception, if any, is kept in :attr:`error`.
    """

    def __init__(self, opener: Callable[[], DumpView]) -> None:
        self._opener = opener
        self._view: DumpView | None = None
        #: Why the dump could not be opened (one line), once the opening failed.
        self.error: str | None = None
        self._thread = threading.Thread(target=self._open, name="crashcompat-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            self._view = self._opener()
        except Exception as e:  # reported by the server, as one line, to GDB's user
            self.error = " ".join(str(e).split()) or type(e).__name__

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, tick: Callable[[], None] | None = None, interval: float = 0.5) -> DumpView:
        """The opened view, after waiting for it; *tick* is called every *interval* seconds meanwhile.

        :raises OpenFailed: the dump could not be opened.
        """
        while self._thread.is_alive():
            self._thread.join(interval)
            if self._thread.is_alive() and tick is not None:
                tick()
        if self._view is None:
            raise OpenFailed(self.error or "cannot open the dump")
        return self._view

    def threads(self) -> list[ThreadEntry]:
        return self.wait().threads()

    def registers(self, tid: int) -> Registers:
        return self.wait().registers(tid)

    def read(self, address: int, size: int) -> bytes:
        return self.wait().read(address, size)

    def stop_thread(self) -> int:
        return self.wait().stop_thread()

    def facts(self) -> dict[str, Any]:
        return self.wait().facts()


class OpenFailed(Exception):
    """The bridge's dump could not be opened (the message says why)."""


#: Packets answered without the dump (GDB's connection set-up): their replies do not wait for it.
_WITHOUT_DUMP = ("qSupported", "QStartNoAckMode", "vMustReplyEmpty", "qTStatus", "qTfV", "qTfP", "!")

#: What the server sends while GDB waits for a reply that needs the dump being opened: GDB's packet reader
#: skips any byte before a packet's ``$`` and restarts its ``remotetimeout`` clock with each one
#: (gdb/remote.c ``getpkt``), so its default 2 s timeout holds however long drgn takes.
KEEPALIVE = b" "


# ---- packet framing ----------------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    return sum(data) % 256


def escape_binary(data: bytes) -> bytes:
    """Escape ``#$}*`` in a binary reply (``}`` then the byte XOR 0x20)."""
    out = bytearray()
    for byte in data:
        if byte in b"#$}*":
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for byte in it:
        out.append(next(it, 0) ^ 0x20 if byte == 0x7D else byte)
    return bytes(out)


def hex_registers(values: Registers) -> str:
    """The ``g`` reply for *values*: little-endian hex per :data:`G_PACKET_LAYOUT`, ``xx`` for missing."""
    parts = []
    for name, size in G_PACKET_LAYOUT:
        value = values.get(name)
        if value is None:
            parts.append("xx" * size)
        else:
            parts.append((value & ((1 << 8 * size) - 1)).to_bytes(size, "little").hex())
    return "".join(parts)


class RemoteServer:
    """GDB's remote serial protocol over a pair of byte streams, serving one :class:`DumpView`.

    :param view: the dump.
    :param read_fd: file descriptor GDB's packets arrive on; :param write_fd: where replies go.
    :param exec_file: the vmlinux, offered to a GDB that has no executable yet (so it knows the
        architecture before it asks for registers).
    """

    def __init__(
        self,
        view: DumpView,
        read_fd: int,
        write_fd: int,
        log: IO[str] | None = None,
        exec_file: str = "",
        lane: MemoryLane | None = None,
    ) -> None:
        self.view = view
        self.lane = lane
        self.exec_file = exec_file
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.log = log
        self.ack = True
        self._stop_acking = False
        self.running = True
        self._inbuf = b""
        self._last = b""
        self._threads: dict[int, ThreadEntry] | None = None
        self._thread_order: list[int] = []
        self._selected = 0
        self._handlers: dict[str, Callable[[str], bytes | str]] = {
            "?": self._stop_reason,
            "g": lambda _: self._g(),
            "G": lambda _: "E01",
            "P": lambda _: "E01",
            "M": lambda _: "E01",
            "X": lambda _: "E01",
            "m": self._m,
            "H": self._h,
            "T": self._t,
            "c": self._resume,
            "C": self._resume,
            "s": self._resume,
            "S": self._resume,
            "k": self._kill,
            "D": self._detach,
        }

    # ---- I/O --------------------------------------------------------------------------------------------

    def _trace(self, direction: str, data: bytes) -> None:
        if self.log is not None:
            self.log.write(f"{direction} {data[:200]!r}\n")
            self.log.flush()

    def _fill(self) -> bool:
        if self.lane is not None:
            self.lane.serve_until_readable(self.read_fd)
        chunk = os.read(self.read_fd, 65536)
        if not chunk:
            return False
        self._inbuf += chunk
        return True

    def read_packet(self) -> bytes | None:
        """The next packet's payload (acked), or ``None`` at end of input.  Stray acks and Ctrl-C bytes
        between packets are skipped (a dump never runs, so there is nothing to interrupt)."""
        while True:
            start = self._inbuf.find(b"$")
            if start < 0:
                if b"-" in self._inbuf and self._last:
                    self._send_raw(self._last)
                self._inbuf = b""
                if not self._fill():
                    return None
                continue
            if b"-" in self._inbuf[:start] and self._last:
                self._send_raw(self._last)
            end = self._inbuf.find(b"#", start)
            if end < 0 or len(self._inbuf) < end + 3:
                if not self._fill():
                    return None
                continue
            payload = self._inbuf[start + 1 : end]
            received = self._inbuf[end + 1 : end + 3]
            self._inbuf = self._inbuf[end + 3 :]
            self._trace("<-", payload)
            if self.ack:
                ok = received.lower() == f"{checksum(payload):02x}".encode()
                os.write(self.write_fd, b"+" if ok else b"-")
                if not ok:
                    continue
            return payload

    def _send_raw(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def send(self, payload: bytes | str) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        self._trace("->", data)
        frame = b"$" + data + b"#" + f"{checksum(data):02x}".encode()
        self._last = frame if self.ack else b""
        self._send_raw(frame)

    def serve(self) -> None:
        """Answer packets until GDB detaches, kills, or closes the pipe."""
        while self.running:
            packet = self.read_packet()
            if packet is None:
                return
            self.send(self.handle(packet))
            if self._stop_acking:
                self.ack = self._stop_acking = False

    # ---- dispatch ---------------------------------------------------------------------------------------

    def handle(self, packet: bytes) -> bytes | str:
        """The reply to one packet (``""`` for an unsupported one, as the protocol asks)."""
        text = packet.decode("latin-1")
        if isinstance(self.view, LazyView) and not self.view.ready and not text.startswith(_WITHOUT_DUMP):
            with contextlib.suppress(OpenFailed):  # each use of the view raises it again: see below
                self.view.wait(lambda: self._send_raw(KEEPALIVE))
        try:
            if text.startswith(("q", "Q", "v")):
                return self._query(text)
            handler = self._handlers.get(text[:1])
            return handler(text[1:]) if handler is not None else ""
        except FaultError:
            return "E0e"
        except OpenFailed as e:
            # Said once on the bridge's stderr (the launcher shows it); GDB then sees the connection close.
            print(f"crashcompat-gdbserver: {e}", file=sys.stderr, flush=True)
            self.running = False
            raise
        except Exception as e:  # a bad dump page must not hang or kill the session
            self._trace("!!", repr(e).encode())
            return "E01"

    def _query(self, text: str) -> bytes | str:
        name, _, rest = text.partition(":")
        if text.startswith("qSupported"):
            features = f"PacketSize={PACKET_SIZE:x};QStartNoAckMode+;qXfer:threads:read+"
            return features + (";qXfer:exec-file:read+" if self.exec_file else "")
        if text == "QStartNoAckMode":
            self._stop_acking = True  # after this reply, which GDB still acks
            return "OK"
        if text == "qfThreadInfo":
            return "m" + ",".join(f"{tid:x}" for tid in self._order())
        if text == "qsThreadInfo":
            return "l"
        if text == "qC":
            return f"QC{self._current():x}"
        if text.startswith("qThreadExtraInfo,"):
            entry = self._thread_table().get(int(text.split(",", 1)[1], 16))
            return _hex(self._extra(entry)) if entry else "E01"
        if name == "qXfer" and rest.startswith("threads:read::"):
            return self._xfer(self._threads_xml(), rest[len("threads:read::") :])
        if name == "qXfer" and rest.startswith("exec-file:read:") and self.exec_file:
            return self._xfer(self.exec_file.encode(), rest.split(":", 3)[3])
        if text.startswith("qAttached"):
            return "1"
        if text.startswith("qSymbol"):
            return "OK"
        if text.startswith("qRcmd,"):
            return self._monitor(bytes.fromhex(text[len("qRcmd,") :]).decode("utf-8", "replace"))
        if text.startswith("vKill"):
            self.running = False
            return "OK"
        if text.startswith("vCont;"):
            return self._resume("")
        return ""

    # ---- threads ----------------------------------------------------------------------------------------

    def _thread_table(self) -> dict[int, ThreadEntry]:
        if self._threads is None:
            entries = self.view.threads()
            self._threads = {entry.tid: entry for entry in entries}
            self._thread_order = [entry.tid for entry in entries]
        return self._threads

    def _order(self) -> list[int]:
        self._thread_table()
        return self._thread_order

    def _current(self) -> int:
        if not self._selected:
            self._selected = self.view.stop_thread()
        return self._selected

    @staticmethod
    def _extra(entry: ThreadEntry) -> str:
        text = f"pid {entry.pid}"
        return text + (f", CPU {entry.cpu}" if entry.cpu is not None else "")

    def _threads_xml(self) -> bytes:
        lines = ['<?xml version="1.0"?>', "<threads>"]
        for tid in self._order():
            entry = self._thread_table()[tid]
            core = f' core="{entry.cpu}"' if entry.cpu is not None else ""
            lines.append(
                f'<thread id="{tid:x}"{core} name="{_xml_escape(entry.comm)}">{self._extra(entry)}</thread>'
            )
        lines.append("</threads>")
        return "\n".join(lines).encode("utf-8")

    @staticmethod
    def _xfer(document: bytes, window: str) -> bytes:
        offset_text, _, length_text = window.partition(",")
        offset, length = int(offset_text, 16), int(length_text, 16)
        chunk = document[offset : offset + length]
        return (b"l" if offset + length >= len(document) else b"m") + escape_binary(chunk)

    def _h(self, arg: str) -> str:
        op, tid_text = arg[:1], arg[1:]
        tid = int(tid_text, 16) if tid_text not in ("", "-1") else 0
        if tid == 0:
            return "OK"
        if tid not in self._thread_table():
            return "E01"
        if op == "g":
            self._selected = tid
        return "OK"

    def _t(self, arg: str) -> str:
        return "OK" if int(arg, 16) in self._thread_table() else "E01"

    # ---- registers, memory, stop ------------------------------------------------------------------------

    def _g(self) -> str:
        return hex_registers(self.view.registers(self._current()))

    def _m(self, arg: str) -> str:
        address_text, _, size_text = arg.partition(",")
        address, size = int(address_text, 16), int(size_text, 16)
        try:
            return self.view.read(address, size).hex()
        except FaultError:
            pass
        # Return the readable prefix (GDB retries the rest and reports the exact failing address).
        end = address + size
        data = bytearray()
        while address < end:
            chunk = min(end, (address | 0xFFF) + 1) - address
            try:
                data += self.view.read(address, chunk)
            except FaultError:
                break
            address += chunk
        return data.hex() if data else "E0e"

    def _stop_reason(self, _: str) -> str:
        return f"T05thread:{self._current():x};"

    def _resume(self, _: str) -> str:
        self.send("O" + _hex("crashcompat-gdbserver: a dump cannot run; stopped again\n"))
        return self._stop_reason("")

    def _kill(self, _: str) -> str:
        self.running = False
        return "OK"

    def _detach(self, _: str) -> str:
        self.running = False
        return "OK"

    # ---- monitor ----------------------------------------------------------------------------------------

    def _monitor(self, command: str) -> str:
        words = command.split()
        if words == ["crashcompat", "info"]:
            facts = self.view.facts()
            if self.lane is not None:
                facts = {**facts, "memory_lane": self.lane.path}
            text = json.dumps(facts, sort_keys=True) + "\n"
        elif words == ["threads"]:
            text = "".join(
                f"{e.tid:>10x}  {e.pid:>7}  {'-' if e.cpu is None else e.cpu:>3}  {e.comm}\n"
                for e in (self._thread_table()[tid] for tid in self._order())
            )
        elif words in ([], ["help"]):
            text = MONITOR_HELP
        else:
            text = f"crashcompat-gdbserver: unknown monitor command: {command}\n" + MONITOR_HELP
        for start in range(0, len(text), 4096):
            self.send("O" + _hex(text[start : start + 4096]))
        return "OK"


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ---- the drgn-backed view ------------------------------------------------------------------------------------


class DrgnDumpView(DumpView):
    """A dump opened with drgn: tasks from the kernel's task list plus each CPU's idle task.

    :param prog: a ``drgn.Program`` with the dump and vmlinux debug info loaded.
    :param facts: what ``monitor crashcompat info`` reports (see :func:`dump_facts`).
    """

    def __init__(self, prog: drgn.Program, facts: dict[str, Any]) -> None:
        self.prog = prog
        self._facts = facts
        self._entries: list[ThreadEntry] | None = None
        self._by_tid: dict[int, ThreadEntry] = {}
        self._registers: dict[int, Registers] = {}

    def threads(self) -> list[ThreadEntry]:
        if self._entries is None:
            self._entries = self._collect()
            self._by_tid = {entry.tid: entry for entry in self._entries}
        return self._entries

    def _collect(self) -> list[ThreadEntry]:
        import drgn
        from drgn.helpers.linux.cpumask import for_each_possible_cpu
        from drgn.helpers.linux.pid import for_each_task
        from drgn.helpers.linux.sched import cpu_curr, idle_task

        running: dict[int, int] = {}  # struct task_struct * → CPU, from each runqueue's curr
        idle: list[ThreadEntry] = []
        for cpu in for_each_possible_cpu(self.prog):
            try:
                running[cpu_curr(self.prog, cpu).value_()] = cpu
                task = idle_task(self.prog, cpu)
                idle.append(ThreadEntry(IDLE_TID_BASE + cpu, 0, _comm(task), task.value_(), None))
            except (drgn.FaultError, LookupError, ValueError):
                continue
        tasks: list[ThreadEntry] = []
        # A task list that cannot be read to its end (a truncated dump) gives the tasks read so far: GDB
        # needs threads to connect, and crashcompat's own commands report what they cannot read.
        with contextlib.suppress(drgn.FaultError):
            for task in for_each_task(self.prog):
                try:
                    pid = task.pid.value_()
                    if pid:
                        tasks.append(ThreadEntry(pid, pid, _comm(task), task.value_(), None))
                except drgn.FaultError:
                    continue
        tasks.sort(key=lambda e: e.pid)
        return [replace(e, cpu=running.get(e.task)) for e in idle + tasks if e.task]

    def registers(self, tid: int) -> Registers:
        if tid not in self._registers:
            self.threads()
            entry = self._by_tid.get(tid)
            self._registers[tid] = self._task_registers(entry.task) if entry else {}
        return self._registers[tid]

    def _task_registers(self, task_address: int) -> Registers:
        import drgn

        task = drgn.Object(self.prog, "struct task_struct *", task_address)
        try:
            raw = self.prog.stack_trace(task)[0].registers()
        except (drgn.FaultError, ValueError, LookupError, IndexError):
            return {}
        return {("eflags" if name == "rflags" else name): value for name, value in raw.items()}

    def read(self, address: int, size: int) -> bytes:
        import drgn

        try:
            return bytes(self.prog.read(address, size))
        except drgn.FaultError as e:
            raise FaultError(e.address) from None

    def stop_thread(self) -> int:
        try:
            crashed = self.prog.crashed_thread().object.value_()
        except Exception:
            crashed = 0
        entries = self.threads()
        for entry in entries:
            if entry.task == crashed:
                return entry.tid
        return entries[0].tid if entries else 1

    def facts(self) -> dict[str, Any]:
        return self._facts


def _comm(task: drgn.Object) -> str:
    """``task->comm`` of a drgn ``struct task_struct *`` object."""
    return str(task.comm.string_().decode("utf-8", "replace"))


def open_view(vmlinux: str, vmcore: str) -> DrgnDumpView:
    """Open *vmcore* with the drgn backend (which knows every dump format's quirks) and describe it for
    ``monitor crashcompat info``."""
    from crashcompat.drgn import open_dump_target

    target = open_dump_target(vmcore, vmlinux)
    return DrgnDumpView(target.prog, dump_facts(target))


def dump_facts(target: Target) -> dict[str, Any]:
    """The facts a :class:`~crashcompat.gdb.target.GdbTarget` on the bridge reports as its own, taken
    from the drgn backend's Target so both backends agree: ``info`` fields, ``vmcoreinfo``,
    ``crashed_cpu`` and ``cpu_registers`` per possible CPU."""
    info = target.info
    cpus: dict[str, Mapping[str, int]] = {}
    try:
        nr_cpus = target.read_u32(target.symbol_address("nr_cpu_ids"))
    except TargetError:
        nr_cpus = 0
    for cpu in range(nr_cpus):
        regs = target.cpu_registers(cpu)
        if regs:
            cpus[str(cpu)] = dict(regs)
    return {
        "path": info.path,
        "vmlinux": info.vmlinux,
        "format": info.format.value,
        "partial": info.partial,
        "extra": dict(info.extra),
        "vmcoreinfo": dict(target.vmcoreinfo),
        "crashed_cpu": target.crashed_cpu(),
        "cpu_registers": cpus,
        "warnings": list(info.warnings),
    }


def main(argv: list[str] | None = None) -> int:
    """``crashcompat-gdbserver VMLINUX VMCORE``: serve the dump on stdin/stdout."""
    parser = argparse.ArgumentParser(
        prog="crashcompat-gdbserver",
        description="GDB remote-protocol server for a kernel dump (every task a thread). "
        "Use from GDB: target remote | crashcompat-gdbserver VMLINUX VMCORE",
    )
    parser.add_argument("vmlinux")
    parser.add_argument("vmcore")
    parser.add_argument("--log", help="write a packet trace to this file")
    parser.add_argument(
        "--no-exec-file",
        action="store_true",
        help="do not offer the vmlinux as GDB's executable (GDB has its symbols already, at the KASLR offset: "
        "a second copy at the link address makes GDB 13 fail an internal check on Linux 7.x)",
    )
    args = parser.parse_args(argv)
    if sys.stdin.isatty() or sys.stdout.isatty():
        print(
            "crashcompat-gdbserver speaks GDB's remote protocol on stdin/stdout; run it from GDB:\n"
            f"  (gdb) target remote | crashcompat-gdbserver {args.vmlinux} {args.vmcore}",
            file=sys.stderr,
        )
        return 2
    logging.getLogger("drgn").setLevel(logging.ERROR)
    # GDB's first packets are answered while drgn opens the dump (LazyView, KEEPALIVE).
    view = LazyView(lambda: open_view(args.vmlinux, args.vmcore))
    log = open(args.log, "w", encoding="utf-8") if args.log else None  # noqa: SIM115 - lives as long as serving
    lane = None
    with contextlib.suppress(OSError):  # no lane: GdbTarget reads through GDB
        lane = MemoryLane(view)
    status = 0
    try:
        vmlinux = "" if args.no_exec_file else os.path.abspath(args.vmlinux)
        RemoteServer(view, sys.stdin.fileno(), sys.stdout.fileno(), log, vmlinux, lane).serve()
    except OpenFailed:
        status = 1
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass
    finally:
        if log is not None:
            log.close()
        if lane is not None:
            lane.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
