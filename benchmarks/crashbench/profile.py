"""Profiles of crashcompat (drgn backend, in-process) with pyinstrument: where a missed target's time goes.

``python -m crashbench.profile VMCORE VMLINUX [COMMAND]...`` prints JSON: for the start-up
(:func:`crashcompat.drgn.open_dump`) and for each command run first in a fresh session, the total time
and the functions that take it, as ``{"function": "file:function", "self": s, "total": s}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

TOP = 12


def _name(frame: Any) -> str:
    path = frame.file_path or "?"
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{frame.function}"


def hot_functions(root: Any, top: int = TOP) -> list[dict[str, Any]]:
    """The functions of a pyinstrument frame tree with the most time: self time (in the function itself)
    and total time (with what it called; a recursive function is counted once per stack)."""
    own: dict[str, float] = {}
    total: dict[str, float] = {}

    def walk(frame: Any, on_stack: frozenset[str]) -> None:
        name = _name(frame)
        children = [c for c in frame.children if not c.is_synthetic]  # "[self]" leaves hold self time
        own[name] = own.get(name, 0.0) + frame.time - sum(c.time for c in children)
        if name not in on_stack:
            total[name] = total.get(name, 0.0) + frame.time
        for child in children:
            walk(child, on_stack | {name})

    walk(root, frozenset())
    names = sorted(own, key=lambda n: own[n], reverse=True)[:top]
    names += [n for n in sorted(total, key=lambda n: total[n], reverse=True) if "crashcompat/" in n][:top]
    return [{"function": n, "self": own[n], "total": total[n]} for n in dict.fromkeys(names)]


def profiled(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run *fn* under pyinstrument; return its result and ``{"seconds", "functions"}``."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    t0 = time.perf_counter()
    profiler.start()
    try:
        value = fn()
    finally:
        profiler.stop()
    seconds = time.perf_counter() - t0
    session = profiler.last_session
    root = session.root_frame() if session else None
    return value, {"seconds": seconds, "functions": hot_functions(root) if root else []}


def profile(vmcore: str, vmlinux: str, commands: Iterable[str]) -> dict[str, Any]:
    from crashcompat.drgn import open_dump

    session, start = profiled(lambda: open_dump(vmcore, vmlinux))
    out: dict[str, Any] = {"start": start, "commands": {}}
    for command in commands:
        fresh = open_dump(vmcore, vmlinux, host=session.host)  # each command first in its session
        out["commands"][command] = profiled(partial(fresh.run, command, echo=False))[1]
    return out


def main(argv: list[str]) -> int:
    vmcore, vmlinux, *commands = argv
    json.dump(profile(vmcore, vmlinux, commands), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
