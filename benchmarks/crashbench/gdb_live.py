"""Run inside GDB by the live benchmark (:mod:`crashbench.live`), connected to a live kernel.

``CRASHBENCH_LIVE`` holds JSON ``{"commands": [...], "output": PATH, "remotelog": PATH, "budget": S}``.
For each command, first in a session whose caches were just dropped (as after the kernel ran), this measures:
the time, the ``read_memory`` calls and bytes GDB fetched (:attr:`GdbTarget.stats`), the remote protocol
packets that crossed the link (GDB's ``remotelogfile``), and the minimum the command needs — the
distinct bytes the kernel model asked the Target for.  A command still reading after S seconds is stopped
at its next read, or between the 64 KiB pieces of a large one.  Results go to PATH as JSON, rewritten after
each command.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from crashcompat.gdb import command


class OverBudget(Exception):
    """A command ran past its time budget (a slow link): stop it at its next read."""


#: Bytes GDB is asked for at a time while a budget runs: a larger read (``kmem -i`` reads a memory
#: section's ``mem_map``, 2 MiB, in one piece: minutes on KGDB's line) is fetched in pieces so the budget
#: can stop it between them.  GDB splits reads into packets far smaller than this, so the packets and
#: bytes on the link are the same.
PIECE = 64 << 10


class Requested:
    """The distinct bytes asked of a Target's ``read``/``read_physical`` (nested calls counted once), and
    the per-command time budget, enforced at each read and between the pieces of a large GDB read."""

    def __init__(self, budget: float) -> None:
        self.spans: dict[str, list[tuple[int, int]]] = {"virtual": [], "physical": []}
        self.calls = 0
        self._depth = 0
        self.budget = budget
        self.deadline = float("inf")
        self.tripped = False

    def wrap(self, space: str, read: Callable[[int, int], bytes]) -> Callable[[int, int], bytes]:
        def counted(address: int, size: int) -> bytes:
            if self._depth == 0:
                self.over_budget()
                self.calls += 1
                self.spans[space].append((address, address + size))
            self._depth += 1
            try:
                return read(address, size)
            finally:
                self._depth -= 1

        return counted

    def over_budget(self) -> None:
        """Raise :class:`OverBudget` once the command is past its deadline."""
        if time.perf_counter() > self.deadline:
            self.tripped = True
            raise OverBudget(f"over the {self.budget:.0f} s budget")

    def pieces(self, fetch: Callable[[int, int], bytes]) -> Callable[[int, int], bytes]:
        """*fetch* (GDB's own read) in :data:`PIECE`-byte pieces, checking the budget before each."""

        def pieced(address: int, size: int) -> bytes:
            out = []
            for offset in range(0, size, PIECE):
                if offset:
                    self.over_budget()
                out.append(fetch(address + offset, min(PIECE, size - offset)))
            return b"".join(out)

        return pieced

    def distinct_bytes(self) -> int:
        total = 0
        for spans in self.spans.values():
            end = -1
            for a, b in sorted(spans):
                a = max(a, end)
                if b > a:
                    total += b - a
                end = max(end, b)
        return total

    def reset(self) -> None:
        self.spans = {"virtual": [], "physical": []}
        self.calls = 0
        self.deadline = time.perf_counter() + self.budget
        self.tripped = False


def packets(log: str, offset: int) -> tuple[int, int, int]:
    """Packets GDB sent (``w`` lines of the remote log after *offset*), bytes received, and the new offset."""
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return 0, 0, offset
    sent = received = 0
    for line in data.splitlines():
        if line.startswith(b"w ") and b"$" in line:  # a packet, not a bare acknowledgement
            sent += 1
        elif line.startswith(b"r "):
            received += len(line) - 2
    return sent, received, offset + len(data)


def main() -> None:
    cfg: dict[str, Any] = json.loads(os.environ["CRASHBENCH_LIVE"])
    out: dict[str, Any] = {"commands": []}
    log = cfg.get("remotelog") or ""
    offset = packets(log, 0)[2] if log else 0
    t0 = time.perf_counter()
    session = command.session()
    target: Any = session.target
    out["attach_seconds"] = time.perf_counter() - t0
    if log:
        out["attach_packets"], out["attach_received"], offset = packets(log, offset)
    save(out, cfg["output"])
    requested = Requested(float(cfg.get("budget", 600)))
    target.read = requested.wrap("virtual", target.read)
    target.read_physical = requested.wrap("physical", target.read_physical)
    target._read_uncached = requested.pieces(target._read_uncached)
    for line in cfg["commands"]:
        cpu = target.stopped_cpu
        session.resumed()  # every command starts from cold caches, as after the kernel ran
        target.stopped_cpu = cpu
        target.stats.reset()
        requested.reset()
        t = time.perf_counter()
        text = session.run(line, echo=False)
        seconds = time.perf_counter() - t
        row = {
            "command": line,
            "seconds": seconds,
            "lines": len(text.splitlines()),
            "first_line": text.splitlines()[0] if text.strip() else "",
            "over_budget": requested.tripped,
            "read_calls": target.stats.reads,
            "bytes": target.stats.bytes,
            "cache_hits": target.stats.cache_hits,
            "requested_calls": requested.calls,
            "requested_bytes": requested.distinct_bytes(),
        }
        if cfg.get("keep_text"):  # for development: the command's output itself
            row["text"] = text
            row["spans"] = [[space, a, b - a] for space, spans in requested.spans.items() for a, b in spans]
        if log:
            row["packets"], row["received"], offset = packets(log, offset)
        out["commands"].append(row)
        save(out, cfg["output"])  # after each command: a slow link may outlive the guest


def save(out: dict[str, Any], path: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)


main()
