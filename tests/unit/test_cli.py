"""The ``crashcompat`` program without a kernel: file arguments in either order, crash's error lines, the
command loop (prompt, ``-s``, ``-i``, ``q``, end of input, line syntax) on a synthetic target."""

from __future__ import annotations

import argparse
import io
import struct
from pathlib import Path

import pytest

from crashcompat import cli, hookimpl, prompt
from crashcompat.core.command import Argument, Command, CommandContext, command
from crashcompat.core.plugins import PluginHost
from crashcompat.core.session import Session, SessionExit
from crashcompat.testing.synthetic import SyntheticTarget

WORDS = [Argument("words", nargs="*", help="")]


@command("echo", summary="print words", synopsis="echo words", description="Prints words.", arguments=WORDS)
def echo(ctx: CommandContext) -> None:
    ctx.print(*ctx.args.words)


@command("sys", summary="system data", synopsis="sys", description="Fake sys.")
def sys_(ctx: CommandContext) -> None:
    ctx.write("      KERNEL: vmlinux\n    DUMPFILE: vmcore\n")


@command("set", summary="context", synopsis="set", description="Fake set.", arguments=WORDS)
def set_(ctx: CommandContext) -> None:
    ctx.write('    PID: 113\nCOMMAND: "fixcrash"\n')


@command("q", summary="quit", synopsis="q", description="Quits.", aliases=("exit", "quit"))
def quit_(ctx: CommandContext) -> None:
    raise SessionExit()


@command("interrupted", summary="ctrl-c", synopsis="interrupted", description="Gets Ctrl-C.")
def interrupted(ctx: CommandContext) -> None:
    raise KeyboardInterrupt


class Fixture:
    @hookimpl
    def crashcompat_commands(self) -> list[Command]:
        return [echo, sys_, set_, quit_, interrupted]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("CRASHCOMPAT_DISABLE_PLUGINS", "*")
    host = PluginHost()
    host.load(extra=[("fixture", Fixture())])
    return Session(SyntheticTarget(), host=host)


def _args(*argv: str) -> argparse.Namespace:
    return prompt.build_parser().parse_args(list(argv))


def _elf(path: Path, e_type: int) -> Path:
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<H", e_type) + bytes(46))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "vmlinux": _elf(tmp_path / "vmlinux", 2),
        "ko": _elf(tmp_path / "mod.ko", 1),
        "elfcore": _elf(tmp_path / "vmcore.elf", 4),
        "kdump": _write(tmp_path / "vmcore.kdump", b"KDUMP   " + bytes(64)),
        "flat": _write(tmp_path / "vmcore.flat", b"makedumpfile\0\0\0\0" + bytes(64)),
        "junk": _write(tmp_path / "junk", b"hello world, not a dump"),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---- file arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dump", ["elfcore", "kdump", "flat"])
def test_files_in_either_order(files: dict[str, Path], dump: str) -> None:
    expected = (str(files["vmlinux"]), str(files[dump]))
    assert prompt.classify_files([str(files["vmlinux"]), str(files[dump])]) == expected
    assert prompt.classify_files([str(files[dump]), str(files["vmlinux"])]) == expected


def test_only_a_kernel_or_only_a_dump(files: dict[str, Path]) -> None:
    assert prompt.classify_files([str(files["ko"])]) == (str(files["ko"]), None)
    assert prompt.classify_files([str(files["kdump"])]) == (None, str(files["kdump"]))


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["missing"], "{missing}: No such file or directory"),
        (["junk"], "{junk}: not a supported file format"),
        (["dir"], "{dir}: not a supported file format"),
        (["vmlinux", "ko"], "too many namelist arguments"),
        (["kdump", "flat"], "too many dumpfile arguments"),
    ],
)
def test_bad_file_arguments(files: dict[str, Path], tmp_path: Path, names: list[str], message: str) -> None:
    paths = {**{k: str(v) for k, v in files.items()}, "missing": str(tmp_path / "nope"), "dir": str(tmp_path)}
    with pytest.raises(prompt.UsageError) as error:
        prompt.classify_files([paths[n] for n in names])
    assert str(error.value) == message.format(**paths)


def test_missing_dump_is_crash_error_and_usage(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "vmcore"
    assert cli.main(["-s", str(files["vmlinux"]), str(missing)]) == 1
    out, err = capsys.readouterr()
    assert err == f"crashcompat: {missing}: No such file or directory\n"
    assert out == cli.USAGE


def test_bad_option_and_missing_input_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["-Z"]) == 1
    assert capsys.readouterr().err == "crashcompat: unrecognized arguments: -Z\n"
    assert cli.main(["-i", "/nonexistent/cmds", str(files["kdump"])]) == 1
    assert capsys.readouterr().err == "crashcompat: /nonexistent/cmds: No such file or directory\n"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-v"]) == 0
    assert capsys.readouterr().out == f"crashcompat {cli.__version__}\n"


# ---- the command loop ----------------------------------------------------------------------------------


def test_batch_stdin_silent(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    """``crashcompat -s vmlinux vmcore < cmds``: no prompts, and the end of stdin ends with status 1."""
    rc = prompt.run(session, _args("-s"), io.StringIO("echo a b\n\n# comment\necho c\n"))
    assert rc == 1
    assert capsys.readouterr().out == "a b\nc\n"


def test_batch_stdin_prompts_without_s(session: Session, capsys: pytest.CaptureFixture[str]) -> None:
    """Like crash on a non-terminal stdin: the prompt before each read, no echo of the command."""
    assert prompt.run(session, _args(), io.StringIO("echo a\nq\necho never\n")) == 0
    assert capsys.readouterr().out == "crash> a\ncrash> "


def test_input_file_then_stdin(session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-i FILE``: its commands first (echoed after the prompt unless -s), then stdin."""
    cmds = tmp_path / "cmds"
    cmds.write_text("echo one\n# skipped\n\necho two\n")
    assert prompt.run(session, _args("-i", str(cmds)), io.StringIO("echo three\nq\n")) == 0
    assert capsys.readouterr().out == "crash> echo one\none\ncrash> echo two\ntwo\ncrash> three\ncrash> "
    assert prompt.run(session, _args("-s", "-i", str(cmds)), io.StringIO("exit\n")) == 0
    assert capsys.readouterr().out == "one\ntwo\n"


def test_quit_in_input_file_stops_everything(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cmds = tmp_path / "cmds"
    cmds.write_text("echo one\nquit\necho two\n")
    assert prompt.run(session, _args("-s", "-i", str(cmds)), io.StringIO("echo three\n")) == 0
    assert capsys.readouterr().out == "one\n"


def test_line_syntax_through_the_loop(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.txt"
    lines = f"echo hello | tr a-z A-Z\necho one > {out}\necho two >> {out}\n!echo shell\nnosuch\n"
    assert prompt.run(session, _args("-s"), io.StringIO(lines)) == 1
    assert capsys.readouterr().out == "HELLO\nshell\ncrash: command not found: nosuch\n"
    assert out.read_text() == "one\ntwo\n"


def _interrupting(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a line starting with ``slow`` be interrupted by Ctrl-C."""
    real_run = session.run

    def run(line: str, echo: bool = True) -> str:
        if line.startswith("slow"):
            raise KeyboardInterrupt
        return real_run(line, echo)

    monkeypatch.setattr(session, "run", run)


def test_ctrl_c_at_the_terminal_ends_the_command_not_the_session(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _interrupting(session, monkeypatch)
    typed = iter(["slow", "echo after", "q"])
    monkeypatch.setattr(prompt, "_setup_readline", lambda: None)
    monkeypatch.setattr(prompt, "_real_stdout", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt="": next(typed))
    terminal = io.StringIO()
    monkeypatch.setattr(terminal, "isatty", lambda: True)
    assert prompt.run(session, _args("-s"), terminal) == 0
    assert capsys.readouterr().out == "\nafter\n"


def test_ctrl_c_with_commands_from_a_pipe_ends_quietly(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """crash, its commands on a pipe, exits with status 1 and says nothing on SIGINT."""
    _interrupting(session, monkeypatch)
    assert prompt.run(session, _args("-s"), io.StringIO("echo before\nslow\necho after\nq\n")) == 1
    assert capsys.readouterr().out == "before\n"


def test_ctrl_c_inside_a_command_from_a_pipe_ends_quietly(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prompt.run(session, _args("-s"), io.StringIO("interrupted\necho after\n")) == 1
    assert "after" not in capsys.readouterr().out


def test_banner_is_crash_startup(session: Session) -> None:
    """Version and licence lines, the sys block, the context indented by 5, a blank line."""
    text = cli.banner(session)
    assert text.startswith(f"\ncrashcompat {cli.__version__}  (crash commands on drgn ")
    assert text.endswith(
        ' \n\n      KERNEL: vmlinux\n    DUMPFILE: vmcore\n         PID: 113\n     COMMAND: "fixcrash"\n\n'
    )


def test_main_prints_plugin_warnings_once_then_banner(
    session: Session,
    files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    session.warnings = ["WARNING: plugin broken: ImportError: nope (skipped)"]
    monkeypatch.setattr(cli, "open_session", lambda args: session)
    monkeypatch.setattr("sys.stdin", io.StringIO("echo hi\nq\n"))
    assert cli.main([str(files["vmlinux"]), str(files["kdump"])]) == 0
    out, err = capsys.readouterr()
    assert err == "WARNING: plugin broken: ImportError: nope (skipped)\n"
    assert out == cli.banner(session) + "crash> hi\ncrash> "


# ---- other backends and subcommands -------------------------------------------------------------------


def test_backend_option_is_removed_for_the_gdb_launcher() -> None:
    assert cli._without_backend(["--backend", "gdb", "-s", "gdb", "vmcore"]) == ["-s", "gdb", "vmcore"]
    assert cli._without_backend(["--backend=gdb", "vmlinux"]) == ["vmlinux"]


def test_gdb_backend_missing_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    assert cli.main(["--backend", "gdb", "vmlinux", "vmcore"]) == 1
    assert capsys.readouterr().err.startswith(
        "crashcompat: the gdb backend is not available (No module named"
    )


def test_gdb_backend_gets_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    class Launcher:
        @staticmethod
        def main(argv: list[str]) -> int:
            seen.append(argv)
            return 3

    monkeypatch.setattr(cli.importlib, "import_module", lambda name: Launcher)
    assert cli.main(["-s", "--backend", "gdb", "vmlinux", "vmcore"]) == 3
    assert seen == [["-s", "vmlinux", "vmcore"]]


def test_gdb_script(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "_provided", lambda module, name: lambda: "/x/crashcompat.gdb")
    assert cli.main(["gdb-script"]) == 0
    assert capsys.readouterr().out == "/x/crashcompat.gdb\n"
    monkeypatch.setattr(cli, "_provided", lambda module, name: None)
    assert cli.main(["gdb-script"]) == 1
    assert capsys.readouterr().err == "crashcompat: the gdb frontend is not available\n"


def test_dmesg_needs_a_dump(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dmesg"]) == 1
    assert capsys.readouterr().err == "usage: crashcompat dmesg VMCORE [VMLINUX]\n"
    assert cli.main(["dmesg", str(files["vmlinux"])]) == 1
    assert capsys.readouterr().err == "crashcompat: dmesg: no dump file given\n"


def test_bytes_on_stdin_pass_through(session: Session, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    """A line with bytes that are not UTF-8 reaches the shell unchanged, and its output comes back unchanged."""
    raw = b"!printf '\\377\\376'; echo \xff\xfe\n"
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    assert prompt.run(session, _args("-s"), stdin) == 1
    assert capfdbinary.readouterr().out == b"\xff\xfe\xff\xfe\n"


def test_bytes_in_an_input_file_pass_through(
    session: Session, tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    commands = tmp_path / "cmds"
    commands.write_bytes(b"!echo \xc3\x80\xff\nq\n")
    assert prompt.run(session, _args("-s", "-i", str(commands)), io.StringIO("")) == 0
    assert capfdbinary.readouterr().out == b"\xc3\x80\xff\n"


def test_an_unexpected_error_is_one_line_and_the_session_goes_on(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_run = session.run

    def run(line: str, echo: bool = True) -> str:
        if line.startswith("bad"):
            raise RuntimeError("frontend bug")
        return real_run(line, echo)

    monkeypatch.setattr(session, "run", run)
    assert prompt.run(session, _args("-s"), io.StringIO("bad\necho after\n")) == 1
    assert capsys.readouterr().out == "crash: internal error: RuntimeError: frontend bug\nafter\n"
