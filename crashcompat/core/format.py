"""crash's text primitives (tools.c), shared by every command that prints crash's columns.

These are formatting rules, not kernel facts: the kernel model never prints, commands call these.
"""

from __future__ import annotations

#: crash's VADDR_PRLEN on 64-bit kernels: the width of an address column.
VADDR_PRLEN = 16


def mkstring(text: str, width: int, how: str = "l") -> str:
    """crash's ``mkstring()``: ``"l"`` (LJUST) / ``"r"`` (RJUST) justify; ``"c"`` / ``"cl"`` (CENTER,
    CENTER|LJUST) and ``"cr"`` (CENTER|RJUST) center, an odd extra space going right (``c``, ``cl``) or
    left (``cr``).  Text at least *width* long is returned as is."""
    extra = width - len(text)
    if extra <= 0:
        return text
    if how.startswith("c"):
        left = extra // 2 + (1 if extra % 2 and how == "cr" else 0)
        return " " * left + text + " " * (extra - left)
    return text + " " * extra if how == "l" else " " * extra + text


def hexadecimal(text: str) -> int | None:
    """crash's ``hexadecimal()`` test and ``htoll()``: all hex digits, optionally ``0x``-prefixed."""
    t = text.lower()
    digits = t[2:] if t.startswith("0x") else t
    if digits and all(c in "0123456789abcdef" for c in digits):
        return int(digits, 16)
    return None


def pages_to_size(pages: int, page_size: int = 4096) -> str:
    """crash's ``pages_to_size()``: ``"0"``, ``"%.1f GB"``, ``"%.1f MB"`` or ``"%ld KB"``, with ``".0 "``
    squeezed out (``"2.0 GB"`` → ``"2 GB"``)."""
    if pages == 0:
        return "0"
    total = pages * page_size
    if total >= 1 << 30:
        text = f"{total / (1 << 30):.1f} GB"
    elif total >= 1 << 20:
        text = f"{total / (1 << 20):.1f} MB"
    else:
        text = f"{total // 1024} KB"
    return text.replace(".0 ", " ", 1)


#: crash's ``NR_CPUS`` on x86_64: a CPU number at or above it is shown as ``?`` (task.c ``task_cpu()``).
NR_CPUS = 8192


def task_header(pid: int, task: int, cpu: int, comm: str, *, newline: bool = False) -> str:
    """crash's ``print_task_header()`` line, ``PID: %-7ld  TASK: %-16lx  CPU: %-3s  COMMAND: "%s"``,
    ended by a newline; *newline* puts a blank line before it (``bt``'s second and later tasks).

    :param task: the ``struct task_struct *``; :param cpu: ``task_cpu()``; :param comm: ``task->comm``.
    """
    where = str(cpu) if cpu < NR_CPUS else "?"
    return f'{chr(10) if newline else ""}PID: {pid:<7}  TASK: {task:<{VADDR_PRLEN}x}  CPU: {where:<3}  COMMAND: "{comm}"\n'


def translate_nanoseconds(value: int) -> str:
    """crash's ``translate_nanoseconds()``: nanoseconds as ``"D HH:MM:SS.mmm"`` (``ps -m``, ``runq -m``)."""
    value //= 1_000_000
    ms = value % 1000
    value //= 1000
    days, value = divmod(value, 86400)
    hours, value = divmod(value, 3600)
    minutes, seconds = divmod(value, 60)
    return f"{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}"
