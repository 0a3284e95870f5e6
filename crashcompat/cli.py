"""The ``crashcompat`` program: crash's command line and prompt, on the drgn or GDB backend.

::

    crashcompat [OPTION]... [VMLINUX] [VMCORE]      # a dump (the files in either order, as crash takes them)
    crashcompat [OPTION]... [VMLINUX]               # the running kernel through /proc/kcore
    crashcompat --qemu QMP-SOCKET [VMLINUX]         # a running QEMU guest
    crashcompat dmesg VMCORE [VMLINUX]              # the kernel log, as makedumpfile --dump-dmesg writes it
    crashcompat triage [VMLINUX] VMCORE [--json]    # a dump as a short bug report (crashcompat.batch)
    crashcompat triage --batch DUMP... --out DIR    # many dumps at once, on Dask distributed
    crashcompat gdb-script                          # path of the GDB loader script

As with crash: ``-s`` drops the banner; ``-i FILE`` runs FILE's commands first; commands may come on stdin
(``crashcompat -s vmlinux vmcore < cmds``), and the end of a non-terminal stdin ends the session (with
status 1, as crash's does; ``q`` exits with 0).

The command line's rules and the prompt loop live in :mod:`crashcompat.prompt`, shared with the GDB
launcher; this module adds the drgn backend and hands ``--backend gdb`` to :mod:`crashcompat.gdb.launcher`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from crashcompat import __version__, prompt
from crashcompat.core.session import Session
from crashcompat.prompt import PROG, USAGE, UsageError, build_parser, classify_files, run


def open_session(args: argparse.Namespace) -> Session:
    """Open what the arguments name on the drgn backend.  A named dump is never replaced by the live
    kernel; the live kernel is used only when no dump is named (crash's live system form) or with -k."""
    from crashcompat.drgn import open_dump, open_live, open_qemu

    vmlinux, vmcore = classify_files(args.files)
    if vmcore == "/proc/kcore":
        vmcore, args.live = None, True
    if sum((vmcore is not None, bool(args.live), args.qemu is not None)) > 1:
        raise UsageError("too many dumpfile arguments")
    if args.qemu is not None:
        return open_qemu(args.qemu, vmlinux)
    if vmcore is None:
        return open_live(vmlinux)
    return open_dump(vmcore, vmlinux)


def banner(session: Session, engine: str | None = None) -> str:
    """crash's start-up text (:func:`crashcompat.prompt.banner`); *engine* defaults to drgn and its
    version."""
    if engine is None:
        import drgn

        engine = f"drgn {drgn.__version__}"
    return prompt.banner(session, engine)


def _usage_error(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stdout.write(USAGE)
    return 1


def main(argv: list[str] | None = None) -> int:
    """The ``crashcompat`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["dmesg"]:
        return dmesg_main(argv[1:])
    if argv[:1] == ["triage"]:
        from crashcompat import batch

        return batch.main(argv[1:])
    if argv[:1] == ["gdb-script"]:
        return gdb_script_main()
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        return _usage_error(str(e))
    if args.version:
        sys.stdout.write(f"{PROG} {__version__}\n")
        return 0
    if args.backend == "gdb":
        return gdb_main(_without_backend(argv))
    if args.input_file and not os.path.isfile(args.input_file):
        return _usage_error(f"{args.input_file}: No such file or directory")
    from crashcompat.drgn import OpenError

    try:
        session = open_session(args)
    except (UsageError, OpenError) as e:
        return _usage_error(str(e))
    for warning in session.warnings:
        sys.stderr.write(f"{warning}\n")
    if not args.silent:
        sys.stdout.write(banner(session))
    return run(session, args)


def _provided(module: str, name: str) -> Any:
    """*module*'s attribute *name* (another engineer's optional API), or ``None`` if not there."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _without_backend(argv: list[str]) -> list[str]:
    """*argv* less its ``--backend X`` / ``--backend=X`` option."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--backend":
            skip = True
        elif not arg.startswith("--backend="):
            out.append(arg)
    return out


def gdb_main(argv: list[str]) -> int:
    """``--backend gdb``: hand the command line to the GDB frontend's launcher."""
    try:
        launcher = importlib.import_module("crashcompat.gdb.launcher")
    except ImportError as e:
        sys.stderr.write(f"{PROG}: the gdb backend is not available ({e})\n")
        return 1
    return int(launcher.main(argv) or 0)


def gdb_script_main() -> int:
    """``crashcompat gdb-script``: print the path of the GDB script that loads crashcompat."""
    script_path = _provided("crashcompat.gdb", "script_path")
    if script_path is None:
        sys.stderr.write(f"{PROG}: the gdb frontend is not available\n")
        return 1
    sys.stdout.write(f"{script_path()}\n")
    return 0


DMESG_USAGE = f"""\
usage: {PROG} dmesg VMCORE [VMLINUX]

Print the kernel log held in a dump, as "makedumpfile --dump-dmesg" writes it.
Without VMLINUX the log is found from the dump's VMCOREINFO alone (kernels 5.10
and later: the printk ring's layout is in VMCOREINFO); with it, from the
kernel's debug info.  The files may come in either order.

  -h, --help  print this help and exit
"""


def dmesg_main(argv: list[str]) -> int:
    """``crashcompat dmesg VMCORE [VMLINUX]``: the kernel log as ``makedumpfile --dump-dmesg`` writes it —
    from VMCOREINFO alone without a vmlinux (as makedumpfile does), else through the vmlinux's types."""
    if any(arg in ("-h", "--help") for arg in argv):
        sys.stdout.write(DMESG_USAGE)
        return 0
    if not 1 <= len(argv) <= 2 or any(arg.startswith("-") for arg in argv):
        sys.stderr.write(DMESG_USAGE.split("\n\n", 1)[0] + "\n")
        return 1
    from crashcompat.core.kernel import Kernel, printk
    from crashcompat.core.target import TargetError
    from crashcompat.drgn import OpenError, dump_memory, open_dump_target

    try:
        vmlinux, vmcore = classify_files(argv)
        if vmcore is None:
            raise UsageError("dmesg: no dump file given")
        if vmlinux is None:
            info, read = dump_memory(vmcore)
            if "SYMBOL(prb)" in info:
                text = printk.dmesg_from_vmcoreinfo(info, read)
                sys.stdout.write(text)
                return 0
        target = open_dump_target(vmcore, vmlinux)  # an older kernel: its log layout is in the vmlinux
        text = printk.render_dmesg(Kernel(target))
    except (UsageError, OpenError) as e:
        return _usage_error(str(e))
    except (printk.LogError, TargetError) as e:
        sys.stderr.write(f"{PROG}: dmesg: {e}\n")
        return 1
    sys.stdout.write(text)
    return 0
