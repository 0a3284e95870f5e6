"""``mod`` on the lab's real dumps: the list, ``-t``, ``-s``/``-S``/``-d``/``-D`` and what loading changes.

Oracles: Debian crash 8.0.2's output for the same command lines on the same dump (the lab's reference
files; a line ``A; B`` is B's output after A in one session), the module facts the guest recorded, drgn's
own view of the loaded debug info, and crash's error lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from line_match import assert_like_crash

from crashcompat.core.kernel import modules
from crashcompat.core.session import Session

pytestmark = pytest.mark.lab

#: Reference command lines whose last command is ours.
OURS = ("mod", "sym")


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Iterator[Session]:
    session = crash_session(lab_dump)
    yield session
    session.run("mod -D", echo=False)  # the session is shared: leave no module object loaded


def reference_lines(lab_dump: Any, first: str) -> list[str]:
    """The dump's reference command lines that start with *first* and end with one of our commands."""
    return [
        line
        for line in lab_dump.get("reference", {})
        if line.split()[0] == first
        and line.split(";")[-1].split()[0] in OURS
        and not lab_dump.known_wrong(line)
    ]


def run_line(session: Session, line: str) -> str:
    """Run ``A; B; C`` in order and return the last command's output."""
    out = ""
    for part in line.split(";"):
        out = session.run(part.strip(), echo=False)
    return out


@pytest.mark.lab_dumps(where=lambda d: bool(reference_lines(d, "mod")))
def test_mod_matches_crash(lab_dump: Any, session: Session) -> None:
    for line in reference_lines(lab_dump, "mod"):
        reference = lab_dump.reference(line)
        assert_like_crash(run_line(session, line), reference, line)
        session.run("mod -D", echo=False)


def test_modules_match_facts(lab_dump: Any, session: Session) -> None:
    found = {m.name: m for m in modules.for_each_module(session.kernel)}
    facts = lab_dump.facts["modules"]
    assert set(found) == {m["name"] for m in facts}
    for fact in facts:
        mod = found[fact["name"]]
        assert (mod.base, mod.size) == (int(fact["address"], 16), fact["size"])
    bases = [m.base for m in modules.for_each_module(session.kernel)]
    assert bases == sorted(bases)  # crash's order


def test_mod_s_loads_debug_info(lab_dump: Any, session: Session, lab_manifest: Any) -> None:
    """After ``mod -s`` the backend sees the module's variables; ``mod -d`` hides them again; ``mod`` shows
    the object file with crash's trailing space."""
    prog = session.target.prog  # type: ignore[attr-defined]
    ko = lab_manifest.crashme_ko
    session.run(f"mod -s crashme {ko}", echo=False)
    magic = int(lab_dump.facts["test_module"]["magic"], 16)
    assert session.target.read_u64(session.target.lookup_symbol("crashme_magic").address) == magic
    assert prog["crashme_magic"].value_() == magic
    row = next(line for line in session.run("mod", echo=False).splitlines() if "  crashme  " in line)
    assert row.endswith(f"  {ko} ")
    session.run("mod -d crashme", echo=False)
    row = next(line for line in session.run("mod", echo=False).splitlines() if "  crashme  " in line)
    assert row.endswith("(not loaded)  [CONFIG_KALLSYMS]")


def test_mod_errors_like_crash(session: Session, lab_manifest: Any) -> None:
    usage = (
        "Usage:\n  mod -s module [objfile] | -d module | -S [directory] [-D|-t|-r|-R|-o|-g]\n"
        'Enter "help mod" for details.\n'
    )
    assert session.run("mod -s nosuch", echo=False) == usage
    assert session.run("mod -d nosuch", echo=False) == usage
    assert session.run("mod -s crashme /nonexistent.ko", echo=False) == (
        "mod: crashme: cannot find or load object file: /nonexistent.ko\n"
    )
    not_elf = lab_manifest.path  # the manifest: a readable file that is not ELF
    assert (
        session.run(f"mod -s crashme {not_elf}", echo=False)
        == f"mod: {not_elf}: not an ELF format object file\n" + usage
    )


@pytest.mark.parametrize("backend", ["drgn", pytest.param("gdb", marks=pytest.mark.gdb)])
def test_mod_s_refuses_another_modules_object_file(lab_manifest: Any, backend: str) -> None:
    """A ``.ko`` whose build ID is not the loaded module's is refused with the same line on both backends
    (one check, in the command), and ``sym`` then still knows nothing of the module's debug symbols."""
    from crashcompat.testing.sessions import run_cli

    wrong = next(f for f in lab_manifest.module_debug_files if f.endswith("/virtio_ring.ko"))
    dump = next(d for d in lab_manifest["dumps"] if d["format"] == "elf")
    text = run_cli(
        dump, [f"mod -s crashme {wrong}", "mod"], backend, vmlinux=lab_manifest["kernel"]["vmlinux"]
    )
    assert f"mod: cannot load symbols from: {wrong}\n" in text
    assert wrong not in text.replace(f"mod: cannot load symbols from: {wrong}\n", "")
