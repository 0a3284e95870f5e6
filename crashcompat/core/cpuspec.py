"""crash's CPU list argument (``bt -c``, ``ps -C``, ``runq -c`` …): tools.c ``make_cpumask()`` with its
number parser ``dtoi()``, reproduced rule for rule.

- The text is split at commas; empty pieces are skipped (``strtok``).
- A piece ``a`` or ``all`` is every CPU.
- Any other piece is split at dashes, empty parts skipped again: the first part is the first CPU, the
  second (if any) the last, and further parts are ignored — so ``-3`` and ``3-`` are CPU 3, and
  ``1-2-3`` is CPUs 1 and 2.
- A part must be decimal digits after leading blanks; its value is what glibc's ``sscanf("%d")`` makes
  of it (a ``long``, saturated, stored in an ``int``).  Otherwise crash complains about the first
  offending character: ``1x: "x" is not a digit 0 - 9``.
- Each CPU must be below the kernel's CPU count, else ``invalid cpu specification: <the whole text>``.
- A range whose first CPU is above its last (``3-1``) selects nothing, silently: the command then has no
  CPU to show.

The first complaint ends the command (crash's ``FAULT_ON_ERROR``).
"""

from __future__ import annotations

from crashcompat.core.command import CommandError

__all__ = ["CpuSpecError", "parse_cpu_spec"]

_LONG_MAX = (1 << 63) - 1


class CpuSpecError(CommandError):
    """A CPU list crash refuses; the message is crash's."""


def parse_cpu_spec(text: str, ncpus: int) -> list[int]:
    """The CPUs *text* names, in increasing order, as crash's ``make_cpumask()`` reads it.

    :param text: the argument (``"3"``, ``"1,8,9"``, ``"1-23"``, ``"a"``, ``"all"``).
    :param ncpus: the kernel's CPU count (crash's ``kt->cpus``,
        :func:`crashcompat.core.kernel.tasks.cpu_count`).
    :raises CpuSpecError: with crash's message, for a bad number or a CPU out of range.
    """
    selected: set[int] = set()
    for piece in (p for p in text.split(",") if p):
        if piece in ("a", "all"):
            first, last = 0, ncpus - 1
        else:
            parts = [p for p in piece.split("-") if p]
            if not parts:
                raise CpuSpecError("received NULL string")
            first = _dtoi(parts[0])
            last = _dtoi(parts[1]) if len(parts) > 1 else -1
            if last == -1:
                last = first
        if not (0 <= first < ncpus and 0 <= last < ncpus):
            raise CpuSpecError(f"invalid cpu specification: {text}")
        selected.update(range(first, last + 1))
    return sorted(selected)


def _dtoi(text: str) -> int:
    """crash's ``dtoi()``: leading blanks skipped, then digits only; the ``int`` glibc's ``%d`` stores."""
    text = text.lstrip(" ")
    bad = next((c for c in text if not "0" <= c <= "9"), None)
    if bad is not None or not text:
        raise CpuSpecError(f'{text}: "{bad or ""}" is not a digit 0 - 9')
    value = min(int(text), _LONG_MAX) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
