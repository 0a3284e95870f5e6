"""Line-by-line comparison of our output with crash's, linear enough for ``sym -l``'s 117 000 lines."""

from __future__ import annotations

import difflib


def identical_share(ours: str, theirs: str) -> tuple[int, int]:
    """(crash's lines that ours reproduces in order, crash's line count), by difflib's matching blocks."""
    a, b = ours.splitlines(), theirs.splitlines()
    if a == b:
        return len(b), len(b)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()), len(b)


def assert_like_crash(ours: str, theirs: str, what: str, share: float = 0.98) -> None:
    """At least *share* of crash's lines identical, and then every byte (the failure shows a diff)."""
    same, total = identical_share(ours, theirs)
    diff = "\n".join(
        difflib.unified_diff(theirs.splitlines(), ours.splitlines(), "crash", "ours", lineterm="", n=1)
    )
    assert same >= share * total, f"{what}: {same}/{total} lines identical\n{diff[:3000]}"
    assert ours == theirs, f"{what}: {same}/{total} lines identical\n{diff[:3000]}"
