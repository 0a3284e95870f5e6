"""The ``crash`` command in a GDB with crashcompat loaded and nothing to examine: registration, help from
the command specs, completion, aliases that never replace GDB's commands, errors as plain lines, and no
drgn in GDB's process."""

from __future__ import annotations

import sys

import gdb
import pytest
from gdbhelp import execute

from crashcompat.core.plugins import PluginHost


def specs() -> dict[str, object]:
    host = PluginHost()
    host.load()
    return {spec.name: spec for _, spec in host.hooks.commands()}


def test_no_drgn_in_gdb() -> None:
    assert not [m for m in sys.modules if m == "drgn" or m.startswith(("drgn.", "_drgn"))]


def test_help_crash_lists_every_command() -> None:
    listing = execute("help crash")
    for name, spec in specs().items():
        if name.isalnum():
            assert f"crash {name} -- {spec.summary}" in listing  # type: ignore[attr-defined]


def test_help_page_is_the_commands_own() -> None:
    for name, spec in specs().items():
        if name.isalnum():
            page = execute(f"help crash {name}")
            assert page.strip() == f"{spec.summary}\n{spec.help_text()}".strip()  # type: ignore[attr-defined]


def test_completion() -> None:
    names = execute("complete crash p").split()
    assert "crash ps" in " ".join(execute("complete crash p").splitlines()) or "ps" in names
    spec = specs()["ps"]
    flags = spec.option_flags()  # type: ignore[attr-defined]
    completed = execute("complete crash ps -").splitlines()
    assert completed and all(line.startswith("crash ps -") for line in completed)
    assert {line.split()[-1] for line in completed} <= set(flags)
    assert len(completed) == len(set(flags))


def test_errors_are_lines_not_tracebacks() -> None:
    with pytest.raises(gdb.error) as info:
        gdb.execute("crash ps", to_string=True)
    assert str(info.value).startswith("crash: no kernel")
    assert "Traceback" not in str(info.value)


def test_aliases_never_replace_gdb_commands() -> None:
    before = {name: execute(f"help {name}") for name in ("bt", "p", "dis", "set", "list")}
    out = execute("set crash-aliases on")
    assert "crash aliases on" in out
    added = out.split(":", 1)[1].split() if ":" in out else []
    assert added and "ps" in added
    for name, text in before.items():
        assert execute(f"help {name}") == text
        assert name not in added
    assert execute("help ps").startswith(specs()["ps"].summary)  # type: ignore[attr-defined]
    gdb.execute("set crash-aliases off")
    with pytest.raises(gdb.error, match="aliases are off"):
        gdb.execute("ps", to_string=True)
