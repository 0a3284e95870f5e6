"""``vtop`` and ``pte`` on the lab's real dumps, and the page-table walk and VMAs under them.

Oracles: the facts the guest recorded (each sleeper's marker address and the text it wrote there), drgn's
own helpers (``follow_phys``, ``for_each_vma``, ``vma_find``) on the same program, and crash 8.0.2's output
for kernel addresses (the lab's references and :mod:`crash_oracle`, compared in test_kmem.py).  crash
8.0.2 cannot translate user addresses on 6.1 (no maple-tree VMAs); the user layout is crash 8.0.6's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from crashcompat.core.kernel import mm, pagetable, tasks
from crashcompat.core.session import Session

pytestmark = pytest.mark.lab

WALK = re.compile(r"^   (PGD|P4D|PUD|PMD|PTE): ([0-9a-f]+) => ([0-9a-f]+)$")


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


def prog_of(session: Session) -> Any:
    return session.target.prog  # type: ignore[attr-defined]


def drgn_task(session: Session, pid: int) -> Any:
    from drgn.helpers.linux.pid import find_task

    return find_task(prog_of(session), pid)


def test_user_marker_pages(session: Session, lab_dump: Any) -> None:
    """``vtop -c PID marker`` finds the page holding the marker text each sleeper wrote (facts), at the
    physical address drgn's follow_phys() gives, through the VMA drgn's vma_find() gives."""
    from drgn import FaultError
    from drgn.helpers.linux.mm import follow_phys, vma_find

    prog = prog_of(session)
    for sleeper in lab_dump.facts["sleepers"]:
        address = int(sleeper["marker_address"], 16)
        text = session.run(f"vtop -c {sleeper['pid']} {address:x}", echo=False)
        lines = text.splitlines()
        assert lines[0] == "VIRTUAL     PHYSICAL        "
        physical = int(lines[1].split()[1], 16)
        task = drgn_task(session, sleeper["pid"])
        assert physical == follow_phys(task.mm, address).value_()
        marker = sleeper["marker_text"].encode()
        try:
            data = prog.read(physical, len(marker), True)
        except FaultError:  # makedumpfile -d 8 may have excluded the user page (kdump format)
            assert lab_dump.get("dump_level", 0) & 8
        else:  # ... or an ELF dump may hold it as zeros
            assert data == marker or (lab_dump.get("dump_level", 0) & 8 and not any(data))
        vma = vma_find(task.mm, address)
        row = lines[lines.index("      VMA           START       END     FLAGS FILE") + 1].split()
        assert (int(row[0], 16), int(row[1], 16), int(row[2], 16)) == (
            vma.value_(),
            vma.vm_start.value_(),
            vma.vm_end.value_(),
        )
        for line in lines:  # every entry printed is the value in physical memory at that address
            m = WALK.match(line)
            if m:
                assert prog.read_u64(int(m.group(2), 16), True) == int(m.group(3), 16)
        assert "  PAGE: " in text and "uptodate" in text


def test_user_context_default_and_u(session: Session, lab_dump: Any) -> None:
    """``vtop -u`` uses the current context: after ``set PID`` it equals ``vtop -c PID``."""
    sleeper = lab_dump.facts["sleepers"][0]
    address = sleeper["marker_address"]
    before = session.context_task
    try:
        session.context_task = tasks.find_task(session.kernel, sleeper["pid"])
        assert session.run(f"vtop -u {address}", echo=False) == session.run(
            f"vtop -c {sleeper['pid']} {address}", echo=False
        )
    finally:
        session.context_task = before


def test_vmas_match_drgn(session: Session) -> None:
    """Every task's VMAs, from the 6.1 maple tree, are drgn's for_each_vma()."""
    from drgn.helpers.linux.mm import for_each_vma
    from drgn.helpers.linux.pid import for_each_task

    checked = 0
    for task in for_each_task(prog_of(session)):
        if not task.mm:
            continue
        theirs = [(v.value_(), v.vm_start.value_(), v.vm_end.value_()) for v in for_each_vma(task.mm)]
        ours = [(v.address, v.start, v.end) for v in mm.for_each_vma(session.kernel, task.mm.value_())]
        assert ours == theirs
        checked += 1
    assert checked


def test_kernel_walks_match_drgn(session: Session) -> None:
    """Kernel translations of vmalloc'd, module and direct-map addresses equal drgn's follow_phys()."""
    from drgn.helpers.linux.mm import follow_phys, for_each_vmap_area

    prog = prog_of(session)
    init_mm = prog["init_mm"].address_of_()
    addresses = [prog["crashme_magic"].address_ if "crashme_magic" in prog else prog["jiffies"].address_]
    addresses += [va.va_start.value_() for va in list(for_each_vmap_area(prog))[:20] if va.vm]
    addresses.append(prog["init_task"].address_)
    for address in addresses:
        walk = pagetable.translate(session.kernel, address)
        assert walk.physical == follow_phys(init_mm, address).value_(), hex(address)


def test_translate_from_a_bare_target(session: Session) -> None:
    """translate() needs only the Target (the GDB backend's read() fallback has no Kernel yet)."""
    prog = prog_of(session)
    address = prog["jiffies"].address_
    assert (
        pagetable.translate(session.target, address).physical
        == pagetable.translate(session.kernel, address).physical
    )


def test_errors(session: Session) -> None:
    assert session.run("vtop", echo=False).startswith("Usage:\n  vtop ")
    assert session.run("vtop zz", echo=False) == 'vtop: invalid input: "zz"\n'
    assert session.run("vtop -c 999999 1000", echo=False) == "vtop: invalid task or pid value: 999999\n"
    assert session.run("vtop -u -k 1000", echo=False) == "vtop: -u and -k options are mutually exclusive\n"
    ambiguous = session.run("vtop ffff000000000000", echo=False)
    assert ambiguous == "vtop: ambiguous address: ffff000000000000  (requires -u or -k)\n"
    assert session.run("pte zz", echo=False) == 'pte: invalid input: "zz"\n'
    assert session.run("pte", echo=False) == ""
    assert session.run("vtop -k 1234", echo=False).endswith("1234      (not a kernel virtual address)\n\n")
