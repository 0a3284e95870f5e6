"""The vmlinux ELF reader on the lab's real debug vmlinux (590 MB, 119,000 symbols)."""

from __future__ import annotations

from typing import Any

import pytest

from crashcompat.core.elf import ElfFile

pytestmark = pytest.mark.lab


def test_symbol_columns_match_the_elf_reader(lab_manifest: Any) -> None:
    """The column reader and the one-name search agree with :meth:`ElfFile.symbols` (the kernel model's
    reader, which decodes entry by entry)."""
    elf = ElfFile(lab_manifest.vmlinux)
    expected = elf.symbols()
    raw = elf.symbol_columns()
    got = list(zip(raw.names, raw.values, raw.sizes, raw.infos, raw.shndx, strict=True))
    assert got == [(s.name, s.value, s.size, s.info, s.shndx) for s in expected]
    for name in ("linux_banner", "init_task", "_text", "no_such_symbol_here"):
        first = next(((s.value, s.size, s.shndx) for s in expected if s.name == name), None)
        assert elf.find_symbol(name) == first, name
