"""DrgnTarget's symbol caches on a drgn program whose symbols come from a ``drgn.SymbolIndex`` (no dump): a
lookup is remembered, a miss too, and a live kernel's resume or a module's debug info forgets what may
have changed."""

from __future__ import annotations

import drgn
import pytest

from crashcompat.core.kernel import layout
from crashcompat.core.target import DumpFormat, SymbolNotFound, TargetInfo
from crashcompat.drgn.target import DrgnTarget
from crashcompat.testing.lab import LabManifest

KERNEL = 0xFFFFFFFF81000000
MODULE = 0xFFFFFFFFC0001000


class CountingIndex:
    """A symbol finder that counts how often drgn asks it."""

    def __init__(self, symbols: list[drgn.Symbol]) -> None:
        self.index = drgn.SymbolIndex(symbols)
        self.calls = 0

    def __call__(self, prog: drgn.Program, name: str | None, address: int | None, one: bool) -> list:  # type: ignore[type-arg]
        self.calls += 1
        return self.index(prog, name, address, one)  # type: ignore[no-any-return]


def _symbol(name: str, address: int) -> drgn.Symbol:
    return drgn.Symbol(name, address, 8, drgn.SymbolBinding.GLOBAL, drgn.SymbolKind.OBJECT)


@pytest.fixture
def target() -> tuple[DrgnTarget, CountingIndex]:
    prog = drgn.Program()
    finder = CountingIndex([_symbol("jiffies", KERNEL), _symbol("mod_var", MODULE)])
    prog.register_symbol_finder("test", finder, enable_index=0)
    info = TargetInfo(path=None, vmlinux=None, format=DumpFormat.LIVE, live=True)
    target = DrgnTarget(prog, info)
    layout.modules_range(target)  # found once per target (by looking symbols up): not what is counted here
    finder.calls = 0
    return target, finder


def test_lookups_are_remembered(target: tuple[DrgnTarget, CountingIndex]) -> None:
    t, finder = target
    assert t.lookup_symbol("jiffies").address == KERNEL
    assert t.symbol_address("jiffies") == KERNEL
    assert t.symbol_at(KERNEL + 4) is not None and t.symbol_at(KERNEL + 4) == t.lookup_symbol("jiffies")
    with pytest.raises(SymbolNotFound):
        t.lookup_symbol("nothing")
    with pytest.raises(SymbolNotFound):
        t.lookup_symbol("nothing")
    assert finder.calls == 3  # jiffies by name, by address, and the miss: once each


def test_resume_forgets_module_symbols_and_misses(target: tuple[DrgnTarget, CountingIndex]) -> None:
    t, finder = target
    t.lookup_symbol("jiffies")
    t.lookup_symbol("mod_var")
    with pytest.raises(SymbolNotFound):
        t.lookup_symbol("nothing")
    t.symbol_at(MODULE)
    before = finder.calls
    t.invalidate()
    t.lookup_symbol("jiffies")  # vmlinux: still known
    assert finder.calls == before
    t.lookup_symbol("mod_var")
    t.symbol_at(MODULE)
    with pytest.raises(SymbolNotFound):
        t.lookup_symbol("nothing")
    assert finder.calls == before + 3


def test_hiding_a_module_forgets_everything(target: tuple[DrgnTarget, CountingIndex]) -> None:
    t, finder = target
    t.lookup_symbol("jiffies")
    before = finder.calls
    t.unload_module_debuginfo("some_module")
    t.lookup_symbol("jiffies")
    assert finder.calls == before + 1


@pytest.mark.lab
def test_dwarf_shortcut_agrees_with_the_elf_lookup(lab_manifest: LabManifest) -> None:
    """Every symbol the kernel model looks up by name while running the hot commands on a real dump gets
    the same address through the DWARF shortcut as through drgn's exact ELF lookup."""
    from crashcompat.drgn import open_dump

    dump = lab_manifest.dump(lab_manifest["default_dump"])
    session = open_dump(dump.path, lab_manifest.vmlinux)
    target = session.kernel.target
    assert isinstance(target, DrgnTarget)
    asked: list[str] = []
    shortcut = target.symbol_address

    def recording(name: str) -> int:
        asked.append(name)
        return shortcut(name)

    target.symbol_address = recording  # type: ignore[method-assign]
    for line in ("sys", "bt -a", "ps", "log", "mod", "kmem -s", "vtop ffffffffc0341050"):
        session.run(line, echo=False)
    assert len(asked) > 30
    for name in dict.fromkeys(asked):
        try:
            exact: int | None = target.prog.symbol(name).address
        except LookupError:
            exact = None
        try:
            got: int | None = shortcut(name)
        except SymbolNotFound:
            got = None
        assert got == exact, name
