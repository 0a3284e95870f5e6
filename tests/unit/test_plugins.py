"""Plugin discovery: entry points, env selection, and broken plugins reported and skipped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session
from crashcompat.testing.synthetic import SyntheticTarget

BROKEN_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"
BROKEN_HOOK = """
from crashcompat import hookimpl

@hookimpl
def crashcompat_commands(no_such_argument):
    return []
"""
GOOD = """
from crashcompat import hookimpl
from crashcompat.core.command import command

@command("hello", summary="say hello", synopsis="hello", description="Says hello.")
def hello(ctx):
    ctx.write("hello from a file plugin\\n")

@hookimpl
def crashcompat_commands():
    return [hello]
"""


def _session(host: PluginHost) -> Session:
    return Session(SyntheticTarget(), host=host, out=io.StringIO())


def test_builtins_are_entry_points() -> None:
    host = PluginHost()
    host.load()
    assert host.records["builtin"].distribution == "crashcompat"
    session = _session(host)
    assert {"help", "plugins", "set", "q"} <= set(session.commands)
    assert session.commands["help"].plugin == "builtin"


def test_broken_plugins_are_reported_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_IMPORT)
    (tmp_path / "badhook.py").write_text(BROKEN_HOOK)
    (tmp_path / "good.py").write_text(GOOD)
    monkeypatch.setenv(
        "CRASHCOMPAT_PLUGINS",
        f"broken={tmp_path / 'broken.py'},badhook={tmp_path / 'badhook.py'},good={tmp_path / 'good.py'}",
    )
    host = PluginHost()
    host.load()
    session = _session(host)
    assert "broken on purpose" in host.records["broken"].error
    assert "no_such_argument" in host.records["badhook"].error
    assert any("plugin broken" in w for w in session.warnings)
    assert session.run("hello") == "hello from a file plugin\n"
    listing = session.run("plugins")
    assert "FAILED: broken: RuntimeError: this plugin is broken on purpose" in listing
    assert any(line.split()[:1] == ["good"] and line.split()[-1] == "hello" for line in listing.splitlines())


def test_disable_globs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "panic*")
    host = PluginHost()
    host.load()
    assert "panicinfo" not in host.records
    assert "builtin" in host.records


def test_failing_hook_is_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "raising.py").write_text(
        "from crashcompat import hookimpl\n\n@hookimpl\ndef crashcompat_session_opened(session):\n"
        "    raise OSError('cannot open my state file')\n"
    )
    monkeypatch.setenv("CRASHCOMPAT_PLUGINS", f"raising={tmp_path / 'raising.py'}")
    host = PluginHost()
    host.load()
    session = _session(host)
    assert "cannot open my state file" in host.records["raising"].error
    assert session.run("help help").startswith("\nNAME\n  help - list the commands")
