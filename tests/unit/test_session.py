"""The session: crash's line syntax, dispatch, errors that never become tracebacks, builtin commands."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from crashcompat import hookimpl
from crashcompat.core.command import Argument, Command, CommandContext, Option, command
from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session, SessionExit, split_line, write_text
from crashcompat.core.target import FaultError
from crashcompat.testing.synthetic import SyntheticTarget


@command(
    "echo",
    summary="print words",
    synopsis="echo [-n N] words",
    description="Prints words.",
    arguments=[
        Option("-n", "N", type=int, default=1, help="print the words N times."),
        Argument("words", nargs="*", help="what to print."),
    ],
)
def echo(ctx: CommandContext) -> None:
    for _ in range(ctx.args.n):
        ctx.print(*ctx.args.words)


@command("boom", summary="fail", synopsis="boom", description="Fails.")
def boom(ctx: CommandContext) -> None:
    raise ValueError("kaboom")


@command("fault", summary="fault", synopsis="fault", description="Reads a bad address.")
def fault(ctx: CommandContext) -> None:
    ctx.target.read(0xFFFF8880DEADBEEF, 8)


@command("interrupted", summary="ctrl-c", synopsis="interrupted", description="Gets Ctrl-C.")
def interrupted(ctx: CommandContext) -> None:
    ctx.write("partial\n")
    raise KeyboardInterrupt


@command("printer", summary="print()", synopsis="printer", description="Uses print().")
def printer(ctx: CommandContext) -> None:
    print("printed")
    ctx.write("written\n")


@command("leaver", summary="sys.exit()", synopsis="leaver", description="Calls sys.exit().")
def leaver(ctx: CommandContext) -> None:
    sys.exit(3)


class Fixture:
    @hookimpl
    def crashcompat_commands(self) -> list[Command]:
        return [echo, boom, fault, interrupted, printer, leaver]


@pytest.fixture
def session() -> Session:
    host = PluginHost()
    host.load(extra=[("fixture", Fixture())])
    return Session(SyntheticTarget(), host=host, out=io.StringIO())


def output(session: Session) -> str:
    out = session.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bt -a", ("bt -a", None, None, "w")),
        ("log | tail -3", ("log", "tail -3", None, "w")),
        ("log > /tmp/x", ("log", None, "/tmp/x", "w")),
        ("log >> /tmp/x", ("log", None, "/tmp/x", "a")),
        ("sym -q 'a|b'", ("sym -q 'a|b'", None, None, "w")),
        ("log | grep x > f", ("log", "grep x > f", None, "w")),
    ],
)
def test_split_line(line: str, expected: tuple[str, str | None, str | None, str]) -> None:
    assert split_line(line) == expected


def test_run_writes_and_returns(session: Session) -> None:
    assert session.run("echo -n 2 hi there") == "hi there\nhi there\n"
    assert output(session) == "hi there\nhi there\n"


def test_pipe_goes_through_the_shell(session: Session) -> None:
    assert session.run("echo -n 3 x | wc -l").strip() == "3"


def test_redirects(session: Session, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    session.run(f"echo one > {target}")
    session.run(f"echo two >> {target}")
    assert target.read_text() == "one\ntwo\n"
    assert output(session) == ""


def test_shell_escape(session: Session) -> None:
    assert session.run("!echo from-shell") == "from-shell\n"


def test_bad_option_is_reported_like_getopt(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    text = session.run("echo -z")
    assert text == 'Usage:\n  echo [-n N] words\nEnter "help echo" for details.\n'
    assert capsys.readouterr().err == "echo: invalid option -- 'z'\n"
    session.run("echo -n")
    assert capsys.readouterr().err == "echo: option requires an argument -- 'n'\n"


def test_unknown_command(session: Session) -> None:
    assert session.run("nosuch") == "crash: command not found: nosuch\n"


def test_internal_error_has_no_traceback(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRASHCOMPAT_DEBUG", raising=False)
    text = session.run("boom")
    assert text.startswith("boom: internal error: ValueError: kaboom\n")
    assert "Traceback" not in text
    monkeypatch.setenv("CRASHCOMPAT_DEBUG", "1")
    assert "Traceback" in session.run("boom")


def test_fault_is_a_crash_line(session: Session) -> None:
    assert (
        session.run("fault")
        == 'fault: invalid kernel virtual address: ffff8880deadbeef  type: "memory read"\n'
    )
    assert isinstance(FaultError(1), Exception)


def test_ctrl_c_stops_the_command_not_the_session(session: Session) -> None:
    assert session.run("interrupted") == "partial\n\n"
    assert session.run("echo still here") == "still here\n"


def test_quit_raises_session_exit(session: Session) -> None:
    for line in ("q", "exit", "quit"):
        with pytest.raises(SessionExit):
            session.run(line)


def test_help_lists_commands_and_pages(session: Session) -> None:
    listing = session.run("help")
    for name in ("echo", "help", "plugins", "set", "q"):
        assert name in listing.split()
    page = session.run("help echo")
    assert page.splitlines()[1:3] == ["NAME", "  echo - print words"]
    assert "SYNOPSIS\n  echo [-n N] words\n" in page
    assert session.run("help nosuch") == "No manual entry for nosuch\n"


def test_radix_settings(session: Session) -> None:
    assert session.run("hex") == "output radix: 16 (hex)\n"
    assert session.radix == 16
    assert session.run("set radix 10") == "output radix: 10 (decimal)\n"
    assert session.run("set radix 8") == "set: invalid radix: 8\n"
    assert session.run("dec") == "output radix: 10 (decimal)\n"


def test_argument_quoting_follows_crash() -> None:
    from crashcompat.core.session import split_arguments

    assert split_arguments("ps 'fix.*' -k") == ["ps", "'fix.*'", "-k"]
    assert split_arguments('echo "two words" x') == ["echo", "two words", "x"]


def test_print_in_a_command_follows_redirects_and_pipes(session: Session, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    session.run(f"printer > {target}")
    assert target.read_text() == "printed\nwritten\n"
    assert session.run("printer | tr a-z A-Z") == "PRINTED\nWRITTEN\n"
    assert session.run("printer", echo=False) == "printed\nwritten\n"


def test_sys_exit_in_a_command_ends_the_command_only(session: Session) -> None:
    assert session.run("leaver") == "leaver: internal error: SystemExit: 3\n"
    assert session.run("echo still here") == "still here\n"


def test_shell_bytes_pass_through(session: Session) -> None:
    text = session.run("!printf '\\377\\000\\200x'")
    assert text.encode("utf-8", "surrogateescape") == b"\xff\x00\x80x"
    piped = session.run("!printf '\\377\\200' | od -An -tx1")
    assert piped.split() == ["ff", "80"]
    assert session.run("echo \udcff | od -An -tx1").split() == ["ff", "0a"]


def test_undecodable_bytes_in_a_redirect(session: Session, tmp_path: Path) -> None:
    target = tmp_path / "out\udcff.txt"
    session.run(f"echo \udcfe > {target}")
    assert (tmp_path / os.fsdecode(b"out\xff.txt")).read_bytes() == b"\xfe\n"


def test_nul_in_a_file_name_or_shell_line_is_one_error(session: Session, tmp_path: Path) -> None:
    out = session.out
    assert isinstance(out, io.StringIO)
    session.run(f"echo x > {tmp_path}/a\0b")
    session.run("!echo a\0b")
    session.run("echo x | cat \0")
    assert out.getvalue() == (
        "crash: NUL character in file name\n"
        "crash: NUL character in shell command\n"
        "crash: NUL character in shell command\n"
    )
    assert session.run("echo on") == "on\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_redirect_to_a_full_device_is_one_error(session: Session) -> None:
    out = session.out
    assert isinstance(out, io.StringIO)
    session.run("echo x > /dev/full")
    assert out.getvalue() == "crash: write error: /dev/full: No space left on device\n"


def test_output_to_a_closed_pipe_is_quiet() -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    write_text(Closed(), "lost\n")  # no exception


# ---- progress of long reads on slow links ----------------------------------------------------------------------


def _progress_session(sparse: bool) -> tuple[Session, io.StringIO]:
    target = SyntheticTarget(live=True)
    target.sparse_reads = sparse
    err = io.StringIO()

    @command("slowread", summary="read", synopsis="slowread", description="Reads in four pieces.")
    def slowread(ctx: CommandContext) -> None:
        for done in range(1, 5):
            ctx.kernel.report_progress("page structs", done << 20, 4 << 20)

    class Plugin:
        @hookimpl
        def crashcompat_commands(self) -> list[Command]:
            return [slowread]

    host = PluginHost()
    host.load(extra=[("slowread", Plugin())])
    return Session(target, host=host, out=io.StringIO(), err=err), err


def test_progress_on_a_slow_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crashcompat.core.session.PROGRESS_INTERVAL", 0.0)
    session, err = _progress_session(sparse=True)
    session.run("slowread", echo=False)
    lines = err.getvalue().splitlines()
    # the first report starts the clock; then every report is due (interval 0)
    assert lines == [
        "slowread: read 2048 of 4096 KiB of page structs (50%; Ctrl-C stops)",
        "slowread: read 3072 of 4096 KiB of page structs (75%; Ctrl-C stops)",
        "slowread: read 4096 of 4096 KiB of page structs (100%; Ctrl-C stops)",
    ]


def test_no_progress_on_a_dump_or_a_quick_read(monkeypatch: pytest.MonkeyPatch) -> None:
    session, err = _progress_session(sparse=False)
    session.run("slowread", echo=False)
    assert err.getvalue() == ""
    session, err = _progress_session(sparse=True)  # all four reports within the interval: nothing shown
    session.run("slowread", echo=False)
    assert err.getvalue() == ""
