"""The drgn plugin's ``crash`` object on a synthetic target: prints once, returns the text, the prompt does
not echo it again, ``builtins.crash`` is bound only for kernel programs and can be turned off."""

from __future__ import annotations

import builtins
import sys
from typing import Any

import drgn
import pytest

from crashcompat import hookimpl
from crashcompat.core.command import Argument, Command, CommandContext, command
from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session, SessionExit
from crashcompat.drgn import plugin
from crashcompat.testing.synthetic import SyntheticTarget

WORDS = [Argument("words", nargs="*", help="")]


@command("echo", summary="print words", synopsis="echo words", description="Prints words.", arguments=WORDS)
def echo(ctx: CommandContext) -> None:
    ctx.print(*ctx.args.words)


@command("q", summary="quit", synopsis="q", description="Quits.")
def quit_(ctx: CommandContext) -> None:
    raise SessionExit()


class Fixture:
    @hookimpl
    def crashcompat_commands(self) -> list[Command]:
        return [echo, quit_]


class FakeProgram:
    """What the plugin uses of a ``drgn.Program``: ``flags`` and ``cache``."""

    def __init__(self, flags: drgn.ProgramFlags = drgn.ProgramFlags.IS_LINUX_KERNEL) -> None:
        self.flags = flags
        self.cache: dict[Any, Any] = {}


@pytest.fixture
def prog(monkeypatch: pytest.MonkeyPatch) -> FakeProgram:
    def session(target: Any) -> Session:
        host = PluginHost()
        host.load(extra=[("fixture", Fixture())])
        return Session(target, host=host)

    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    monkeypatch.setattr(plugin.DrgnTarget, "from_program", lambda prog: SyntheticTarget())
    monkeypatch.setattr(plugin, "Session", session)
    monkeypatch.setattr(sys, "displayhook", sys.__displayhook__)
    return FakeProgram()


def test_command_prints_once_and_returns_text(prog: Any, capsys: pytest.CaptureFixture[str]) -> None:
    crash = plugin.Crash(prog)
    out = crash.echo("a", 1)
    assert isinstance(out, plugin.CrashOutput) and out == "a 1\n"
    assert capsys.readouterr().out == "a 1\n"
    assert crash("echo x y | tr xy XY") == "X Y\n"
    assert capsys.readouterr().out == "X Y\n"
    assert crash("q") == ""
    assert plugin.session_for(prog) is crash.session  # one session per program


def test_prompt_does_not_echo_the_result_again(prog: Any, capsys: pytest.CaptureFixture[str]) -> None:
    shown: list[object] = []
    sys.displayhook = shown.append
    out = plugin.Crash(prog).echo("hi")
    sys.displayhook(out)  # what the REPL does with the value of the expression
    sys.displayhook(42)
    assert shown == [42]
    assert builtins._ == "hi\n"  # type: ignore[attr-defined]
    assert capsys.readouterr().out == "hi\n"


def test_commands_are_attributes(prog: Any) -> None:
    crash = plugin.Crash(prog)
    assert {"echo", "q"} <= set(dir(crash))
    assert "Prints words." in (crash.echo.__doc__ or "")
    with pytest.raises(AttributeError, match="crash has no command 'nosuch'"):
        crash.nosuch  # noqa: B018


def test_drgn_prog_set_binds_builtin_for_kernels(prog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(builtins, "crash", raising=False)
    plugin.drgn_prog_set(FakeProgram(drgn.ProgramFlags(0)))  # type: ignore[arg-type]
    assert not hasattr(builtins, "crash")
    monkeypatch.setenv("CRASHCOMPAT_DRGN_BUILTIN", "0")
    plugin.drgn_prog_set(prog)
    assert not hasattr(builtins, "crash")
    monkeypatch.delenv("CRASHCOMPAT_DRGN_BUILTIN")
    plugin.drgn_prog_set(prog)
    assert isinstance(builtins.crash, plugin.Crash)  # type: ignore[attr-defined]
    monkeypatch.delattr(builtins, "crash")


def test_default_program_facade(prog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from crashcompat.drgn import crash`` follows drgn's default program at call time."""
    import crashcompat.drgn

    monkeypatch.setattr(drgn, "get_default_prog", lambda: prog)
    facade = crashcompat.drgn.crash
    assert isinstance(facade, plugin.Crash)
    assert facade.prog is prog
    monkeypatch.delattr(crashcompat.drgn, "crash")
