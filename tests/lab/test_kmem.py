"""``kmem`` on the lab's real dumps.

Oracles: the real crash (Debian's 8.0.2) run on the same dump — the lab's recorded reference outputs and,
when crash is installed, a run of our own (:mod:`crash_oracle`) for the command lines the lab did not
record; drgn's own helpers (slab caches, vm counters) and the facts the guest recorded before crashing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from crash_oracle import run_crash
from line_match import identical_share

from crashcompat.core.session import Session

pytestmark = pytest.mark.lab


def memory_commands(facts: dict[str, Any]) -> list[str]:
    """The kmem/vtop/pte command lines compared with crash, addresses taken from the dump's facts."""
    sym = facts["symbols"]
    obj = facts["test_module"]["list_objects"][0]["address"]
    return [
        "kmem -i",
        "kmem -s",
        "kmem -s crashme_obj",
        "kmem -S crashme_obj",
        "kmem -S task_struct",
        "kmem -z",
        "kmem -V",
        "kmem -o",
        "kmem -v",
        "kmem -n",
        f"kmem -s {obj}",
        f"kmem -S {obj}",
        f"kmem {obj}",
        f"kmem -p {obj}",
        f"kmem {sym['crashme_magic']}",
        f"kmem {sym['jiffies']}",
        f"kmem {sym['init_task']}",
        f"kmem -v {sym['crashme_magic']}",
        f"vtop {sym['crashme_magic']}",
        f"vtop {obj}",
        f"vtop {sym['jiffies']}",
        f"vtop {sym['crashme_magic']} {obj}",
        "pte 0",
        "pte 1e0",
        "pte 8000000000000001",
        "pte 7ffffffffffff000",
        "vtop -k 1234",
        "kmem -s nosuchcache",
        "kmem -i -s",
        "kmem -z 5",
        "kmem dead0000",
        "kmem -s list",
    ]


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


@pytest.fixture
def oracle(lab_dump: Any, lab_manifest: Any) -> dict[str, str]:
    found = run_crash(lab_manifest.vmlinux, lab_dump.path, memory_commands(lab_dump.facts))
    assert found, f"{lab_manifest.oracle.get('version')} printed nothing on {lab_dump.name}"
    return found


def _compare(session: Session, command: str, expected: str) -> tuple[str, str]:
    """(ours, crash's) for *command*, each without the usage block an error line is followed by (its words
    are the session's own help text, not crash's)."""
    ours = session.run(command, echo=False)
    if "\nUsage:" in expected:
        expected, ours = expected.split("\nUsage:")[0] + "\n", ours.split("\nUsage:")[0] + "\n"
    return ours, expected


@pytest.mark.lab_dumps(where=lambda d: not d.reference_error)
def test_matches_crash(session: Session, lab_dump: Any, oracle: dict[str, str]) -> None:
    """Every line of crash's output, per command line, on every dump crash opens (the share of identical
    lines is shown; any difference fails)."""
    failures = []
    for command in memory_commands(lab_dump.facts):
        expected = oracle.get(command)
        assert expected is not None, f"crash printed nothing for {command}"
        ours, expected = _compare(session, command, expected)
        if ours != expected:
            same, total = identical_share(ours, expected)
            failures.append(f"{command}: {same}/{total} lines\n--- crash\n{expected}--- ours\n{ours}")
    assert not failures, "\n".join(failures)


def test_kmem_i_slab_is_the_node_counters(session: Session) -> None:
    """SLAB = NR_SLAB_RECLAIMABLE_B + NR_SLAB_UNRECLAIMABLE_B from drgn's view of vm_node_stat."""
    prog = session.target.prog  # type: ignore[attr-defined]
    stat = prog["vm_node_stat"]
    want = sum(
        stat[prog[n].value_()].counter.value_() for n in ("NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B")
    )
    line = next(
        ln for ln in session.run("kmem -i", echo=False).splitlines() if ln.startswith("         SLAB ")
    )
    assert int(line.split()[1]) == want


def test_crashme_cache_matches_facts(session: Session, lab_dump: Any) -> None:
    """The test module's cache as the guest saw it before crashing (facts: its object size, the objects the
    module allocated, /proc/slabinfo's object count), every listed object shown allocated by ``kmem -s``."""
    module = lab_dump.facts["test_module"]
    rows = session.run("kmem -s crashme_obj", echo=False).splitlines()
    cols = rows[1].split()
    assert cols[-1] == module["cache"] and int(cols[1]) == module["objsize"]
    assert int(cols[2]) == module["objects"] and int(cols[3]) == module["slabinfo_num_objs"]
    for obj in module["list_objects"]:
        text = session.run(f"kmem -s {obj['address']}", echo=False)
        assert f"  [{int(obj['address'], 16):x}]" in text


def test_slab_caches_match_drgn(session: Session) -> None:
    """The cache list and object sizes agree with drgn's slab helpers."""
    from drgn.helpers.linux.slab import for_each_slab_cache

    prog = session.target.prog  # type: ignore[attr-defined]
    theirs = [
        (c.value_(), c.name.string_().decode(), c.object_size.value_()) for c in for_each_slab_cache(prog)
    ]
    ours = []
    for line in session.run("kmem -s", echo=False).splitlines()[1:]:
        cols = line.split()
        ours.append((int(cols[0], 16), cols[-1], int(cols[1])))
    assert ours == theirs


def test_error_lines(session: Session) -> None:
    assert session.run("kmem -i -s", echo=False).startswith("kmem: only one flag allowed!\n")
    assert session.run("kmem -z 5", echo=False).startswith(
        "kmem: no address arguments allowed with this option"
    )
    # like crash, a physical address is looked up at its direct-map address
    miss = f"kmem: address is not allocated in slab subsystem: {session.kernel.page_offset() + 0x1234:x}\n"
    assert session.run("kmem -s 1234", echo=False) == miss
    assert session.run("kmem -x", echo=False).startswith("Usage:\n  kmem [-f|-F|")
    assert session.run("kmem zzz", echo=False).startswith("Usage:\n")
    assert "Traceback" not in session.run("kmem zzz", echo=False)


@pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf", where=lambda d: not d.reference_error)
def test_whole_slab_and_page_tables(session: Session, lab_dump: Any, lab_manifest: Any) -> None:
    """``kmem -S`` (every object of every cache) and ``kmem -p`` (every page struct): line for line."""
    commands = ["kmem -S", "kmem -p"]
    found = run_crash(lab_manifest.vmlinux, lab_dump.path, commands)
    assert found, f"crash printed nothing on {lab_dump.name}"
    for command in commands:
        theirs, ours = found[command].splitlines(), session.run(command, echo=False).splitlines()
        assert len(ours) == len(theirs)
        wrong = [(i, t, o) for i, (t, o) in enumerate(zip(theirs, ours, strict=True)) if t != o]
        assert not wrong, f"{command}: {len(wrong)} lines differ, first {wrong[:3]}"
