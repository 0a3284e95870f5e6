"""Plugin discovery: entry points, env selection, and broken plugins reported and skipped."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashcompat import hookimpl
from crashcompat.core.command import Command, command
from crashcompat.core.hookspecs import hookspec
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
from crashcompat.api import command, hookimpl

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


# ---- pluggy's own hook calling behind the guards ---------------------------------------------------------


class _Cmds:
    """A plugin object (not a module): hook implementations as methods."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def crashcompat_commands(self) -> list[Command]:
        return [command(n, summary=n, synopsis=n, description=n)(lambda ctx: None) for n in self.names]


def _host(*plugins: tuple[str, object]) -> PluginHost:
    host = PluginHost()
    host.load(extra=plugins)
    return host


@pytest.fixture
def no_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    monkeypatch.delenv("CRASHCOMPAT_PLUGINS", raising=False)


@pytest.mark.usefixtures("no_installed_plugins")
def test_hookwrappers_see_the_call_and_its_results() -> None:
    seen: list[object] = []

    class OldStyle:
        @hookimpl(hookwrapper=True)
        def crashcompat_commands(self) -> Iterator[None]:
            outcome = yield
            seen.append(("old", [c.name for r in outcome.get_result() for c in r]))

    class NewStyle:
        @hookimpl(wrapper=True)
        def crashcompat_session_opened(self, session: Session) -> Iterator[None]:
            seen.append(("before", session.radix))
            result = yield
            seen.append(("after", result))
            return result

    host = _host(("a", _Cmds("one")), ("b", _Cmds("two")), ("old", OldStyle()), ("new", NewStyle()))
    session = _session(host)
    assert ("old", ["two", "one"]) in seen  # pluggy calls the last registered first
    assert ("before", 10) in seen and ("after", []) in seen
    assert {n: c.plugin for n, c in session.commands.items()} == {"one": "a", "two": "b"}
    assert not host.warnings


@pytest.mark.usefixtures("no_installed_plugins")
def test_a_raising_plugin_is_reported_once_and_the_others_answer() -> None:
    opened: list[str] = []

    class Raises:
        @hookimpl
        def crashcompat_commands(self) -> list[Command]:
            raise KeyboardInterrupt

        @hookimpl
        def crashcompat_session_opened(self) -> None:
            raise SystemExit(3)

    class Good(_Cmds):
        @hookimpl
        def crashcompat_session_opened(self, session: Session) -> None:
            opened.append("good")

    host = _host(("raises", Raises()), ("good", Good("hi")))
    session = _session(host)
    assert set(session.commands) == {"hi"}
    assert opened == ["good"]
    assert host.warnings == [
        "WARNING: plugin raises: crashcompat_commands failed: KeyboardInterrupt (skipped)"
    ]
    assert host.records["raises"].error.startswith("crashcompat_commands failed")


@pytest.mark.usefixtures("no_installed_plugins")
def test_a_raising_wrapper_is_isolated() -> None:
    class BadOld:
        @hookimpl(hookwrapper=True)
        def crashcompat_commands(self) -> Iterator[None]:
            yield
            raise RuntimeError("after")

    class BadNew:
        @hookimpl(wrapper=True)
        def crashcompat_commands(self) -> Iterator[None]:
            raise ValueError("before")
            yield  # pragma: no cover

    host = _host(("cmds", _Cmds("x")), ("old", BadOld()), ("new", BadNew()))
    assert [(p, c.name) for p, c in host.hooks.commands()] == [("cmds", "x")]
    assert sorted(host.records[n].error for n in ("old", "new")) == [
        "crashcompat_commands failed: RuntimeError: after",
        "crashcompat_commands failed: ValueError: before",
    ]


def test_plugin_exiting_at_import_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit('no thanks')\n")
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    monkeypatch.setenv("CRASHCOMPAT_PLUGINS", f"exits={tmp_path / 'exits.py'}")
    host = _host(("cmds", _Cmds("x")))
    assert host.records["exits"].error == "SystemExit: no thanks"
    assert [c.name for _, c in host.hooks.commands()] == ["x"]


class _Specs:
    @hookspec(firstresult=True)
    def crashcompat_test_first(self, value: int) -> int | None:  # type: ignore[empty-body]
        """A firstresult spec for the test."""


@pytest.mark.usefixtures("no_installed_plugins")
def test_firstresult_specs_stop_at_the_first_answer() -> None:
    calls: list[str] = []

    class Answers:
        def __init__(self, name: str, answer: int | None, fail: bool = False) -> None:
            self.name, self.answer, self.fail = name, answer, fail

        @hookimpl
        def crashcompat_test_first(self, value: int) -> int | None:
            calls.append(self.name)
            if self.fail:
                raise LookupError(value)
            return None if self.answer is None else self.answer + value

    host = PluginHost()
    host.manager.add_hookspecs(_Specs)
    host.load(
        extra=[
            ("late", Answers("late", 100)),
            ("none", Answers("none", None)),
            ("bad", Answers("bad", 0, True)),
        ]
    )
    assert host.manager.hook.crashcompat_test_first(value=1) == 101
    assert calls == ["bad", "none", "late"]
    assert host.records["bad"].error == "crashcompat_test_first failed: LookupError: 1"


@pytest.mark.usefixtures("no_installed_plugins")
def test_the_guard_keeps_the_signature_and_the_loaded_object() -> None:
    plugin = _Cmds("x")
    host = _host(("cmds", plugin))
    (impl,) = host.manager.hook.crashcompat_commands.get_hookimpls()
    assert impl.argnames == ()
    assert host.plugin("cmds") is plugin and host.plugin_name(plugin) == "cmds"
    host.load(extra=[("again", plugin)])
    assert host.records["again"].error == "ValueError: already registered as cmds"


@pytest.mark.usefixtures("no_installed_plugins")
def test_a_name_two_plugins_provide_stays_with_the_first_loaded() -> None:
    """docs/plugin-guide.md: the plugin loaded first keeps a command name, the later one is skipped."""
    host = _host(("first", _Cmds("same", "one")), ("second", _Cmds("same", "two")))
    session = Session(SyntheticTarget(), host=host, out=io.StringIO())
    same = session.lookup("same")
    assert same is not None and same.plugin == "first"
    assert session.lookup("two") is not None
    assert "WARNING: plugin second: command same already provided by first (skipped)" in session.warnings
