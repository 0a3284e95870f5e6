"""Samples, ratios and the formatting of the benchmark's numbers (pure functions, unit-tested)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Samples:
    """Repeated measurements of one quantity (seconds, or KiB for memory)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def min(self) -> float | None:
        return min(self.values) if self.values else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def fmt_seconds(value: float | None) -> str:
    """A duration for the tables: ``12.3 s``, ``1.23 s``, ``45 ms``, ``0.8 ms``; ``-`` when missing."""
    if value is None:
        return "-"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    ms = value * 1000
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def fmt_min_median(samples: Samples) -> str:
    """``min / median`` of durations (only the value when there is a single sample)."""
    if not samples.values:
        return "-"
    if len(samples) == 1:
        return fmt_seconds(samples.min)
    return f"{fmt_seconds(samples.min)} / {fmt_seconds(samples.median)}"


def fmt_ratio(value: float | None) -> str:
    """A ratio: ``0.08x``, ``1.3x``, ``12x``; ``-`` when missing."""
    if value is None:
        return "-"
    if value < 0.1:
        return f"{value:.3f}x"
    if value < 10:
        return f"{value:.2f}x"
    return f"{value:.0f}x"


def fmt_mib(kib: float | None) -> str:
    """Peak RSS in MiB from ``ru_maxrss`` (KiB)."""
    return "-" if kib is None else f"{kib / 1024:.0f} MiB"


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least-squares ``y = a + b·x`` over *points*: ``(a, b, r²)``; None with fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    b = sxy / sxx
    a = my - b * mx
    syy = sum((y - my) ** 2 for _, y in points)
    r2 = 1.0 if syy == 0 else (sxy * sxy) / (sxx * syy)
    return a, b, r2
