"""``search``'s word matching (plugins/memory.py) against a plain word-by-word comparison, as crash does it."""

from __future__ import annotations

import random

import pytest

from crashcompat.plugins.memory import _fixed_run, _Needle, _word_matches


def _brute(base: int, data: bytes, value: int, mask: int, size: int) -> list[int]:
    want = (value | mask) & ((1 << (8 * size)) - 1)
    return [
        base + p
        for p in range(0, len(data) - size + 1)
        if (base + p) % size == 0 and int.from_bytes(data[p : p + size], "little") | mask == want
    ]


@pytest.mark.parametrize(
    ("mask", "size"),
    [(0, 8), (0xFFFF, 8), (0xFFF, 8), (0xFF00FF00FF00FF00, 8), (0xFF00, 4), (0xFFFFFFFF, 8), (0xF0F0, 2)],
)
def test_masked_and_plain_words_match_a_word_by_word_search(mask: int, size: int) -> None:
    rng = random.Random(mask ^ size)
    value = rng.getrandbits(8 * size)
    words = [value ^ (rng.getrandbits(8 * size) & mask) if rng.random() < 0.2 else rng.getrandbits(8 * size)
             for _ in range(4000)]  # fmt: skip
    data = b"".join(w.to_bytes(size, "little") for w in words)
    data = data[:3] + data  # and once unaligned: only aligned words count
    for base in (0x1000, 0x1003):
        found = [a for a, _ in _word_matches(base, data, 0, [_Needle(value, "")], mask, size)]
        assert found == _brute(base, data, value, mask, size)


def test_fixed_run() -> None:
    assert _fixed_run(0xFFFF, 8) == (2, 8)
    assert _fixed_run(0xFF00FF00FF00FF00, 8) is None  # no two whole bytes in a row
    assert _fixed_run(0x00FFFF00, 4) is None
    assert _fixed_run(0xFF000000, 4) == (0, 3)
