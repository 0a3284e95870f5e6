"""The task and system commands (``files``, ``vm``, ``foreach``, ``runq``, ``mount``, ``sig`` …) on the lab's real dumps, byte for byte against crash 9.x.

The oracle is the lab's (crash's newest release, the manifest's ``oracle``).  Addresses the command
lines need (a dentry, a VMA) come from drgn's own helpers on the same dump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from crash_oracle import run_crash

from crashcompat.core.session import Session

pytestmark = [pytest.mark.lab, pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf")]


def command_lines(session: Session, facts: dict[str, Any]) -> list[str]:
    """The command lines compared with crash, pids from the dump's facts and addresses from drgn."""
    from drgn.helpers.linux.fs import fget
    from drgn.helpers.linux.pid import find_task

    prog = session.target.prog  # type: ignore[attr-defined]
    pid = facts["crash_pid"]
    task = find_task(prog, pid)
    dentry = fget(task, 0).f_path.dentry.value_()
    proc_dentry = fget(task, 3).f_path.dentry.value_() if pid else dentry
    from drgn.helpers.linux.fs import for_each_mount

    mount = [m.value_() for m in for_each_mount(prog)][1]
    init_mm = find_task(prog, 1).mm.value_()
    exe_inode = task.mm.exe_file.f_inode.value_() if pid else find_task(prog, 1).mm.exe_file.f_inode.value_()
    node = prog["node_data"][0].value_()
    sleeper = min(facts["sleepers"].values()) if isinstance(facts.get("sleepers"), dict) else 1
    # On the qemu dumps crash 9.x unwinds the idle CPU's NMI-stopped task differently from our bt (which
    # follows crash 8.0.x there): foreach is compared over the tasks both agree on.
    every = "foreach bt" if facts.get("capture") else "foreach IN bt"
    maple_lines = []
    if session.kernel.has_member("struct mm_struct", "mm_mt"):  # 6.1: VMAs in a maple tree
        root = find_task(prog, 1).mm.mm_mt.ma_root.value_()
        maple_lines += [f"tree -t maple -N -v {root:x}", f"tree -t maple -N -p {root:x}"]
    if session.kernel.has_symbol("sparse_irqs"):  # 6.5: irq descriptors in a maple tree, two levels here
        maple_lines += [
            "tree -t maple -v sparse_irqs",
            "tree -t maple -p -s irq_desc.irq_data.irq sparse_irqs",
        ]
    return [
        "files",
        f"files {pid}",
        "files 1 2",
        "files 0",
        "files -c",
        "files -R null",
        "files -R 3",
        "files -R /",
        f"files -R CHR 1 {pid}",
        f"files -R {dentry:x} {pid}",
        f"files -d {dentry:x}",
        f"files -d {proc_dentry:x}",
        "files -d xyz",
        "files 99999",
        f"files {task.value_():x}",
        f"files {sleeper}",
        "vm",
        "vm 1",
        "vm 2",
        f"vm -p {pid}",
        "vm -f 115",
        "vm -f 8100073",
        "vm -R 400000",
        "vm -R fixcrash",
        "vm 99999",
        every,
        "foreach files",
        "foreach user vm",
        "foreach 'fix.*' files",
        "foreach UN bt" if facts.get("capture") else "foreach ID bt",
        "foreach kernel ps",
        f"foreach {facts['crash_comm']} 1 bt -s",
        "foreach user files -R null",
        "foreach active ps",
        "foreach bogus bt",
        "foreach 'fix.*' sig",
        "foreach sig -g",
        "foreach 1 113 files vm",
        "foreach user vm -R 400000",
        "foreach kernel ps -s",
        "runq",
        "runq -t",
        "runq -T",
        "runq -m",
        "runq -g",
        "runq -d",
        "mount",
        "mount /proc",
        f"mount {mount:x}",
        "mount -f",
        "mount -i",
        "mount -n 1",
        "mount xyz",
        "mount / /sys",
        "sig",
        "sig -l",
        "sig 1",
        "sig -s 0",
        "sig -s 8000000000000001",
        f"sig -g {pid}",
        "sig 99999",
        "swap",
        "irq",
        "irq -s",
        "irq -a",
        "irq -b",
        "irq -u",
        "irq 1 4",
        "irq 99999",
        "irq -s -c 1",
        "timer",
        "timer -r",
        "timer -C 1",
        "timer -r -C 0",
        "tree vmap_area_root",
        "tree -t rbtree -l vmap_area_root",
        "tree -p -o vmap_area.rb_node vmap_area_root",
        "tree -t xarray irq_desc_tree",
        "tree -t xarray -p irq_desc_tree",
        "tree -t radix -p irq_desc_tree",
        f"tree -t maple -r mm_struct.mm_mt {init_mm:x}",
        f"tree -t maple -x -r mm_struct.mm_mt {init_mm:x}",
        "tree -t foo vmap_area_root",
        "tree -l -t xarray irq_desc_tree",
        "tree bogus_symbol",
        "tree -t xarray -o 8 irq_desc_tree",
        "net",
        "net -N 16777343",
        "net -N 0x0100007f",
        "net -n",
        "net -n 1",
        "net -n 99999",
        f"waitq pglist_data.kswapd_wait {node:x}",
        f"waitq pglist_data.kcompactd_wait {node:x}",
        "waitq log_wait",
        f"waitq pglist_data.bogus {node:x}",
        "waitq pglist_data.kswapd_wait",
        "waitq nosuchsymbol",
        "dev",
        f"files -p {exe_inode:x}",
        "files -p 1",
        "task",
        f"task {pid}",
        "foreach 1 task",
        "foreach user task -R pid,tgid",
        "foreach 1 2 task -x -R comm",
        "vm -m",
        "vm -m 1",
        "vm -v 1",
        "vm -v -x 1",
        "vm -m 2",
        "foreach user vm -m",
        "foreach 1 vm -v -d",
        "net -s",
        "net -s 1",
        "net -S 1",
        f"net -s 1 99999 {pid}",
        "net -s -R 3 1",
        "net -s -S 1",
        "net -S -x 1",
        "net -a",
        "net -a -n",
        "foreach net",
        "foreach user net -s",
        "foreach kernel net -S",
        "foreach 1 net -s -S",
        "foreach user ps -c",
        "foreach IN ps -c",
        "foreach -g 1 ps",
        "foreach 1 ps -g",
        "foreach RU ps",
        f"foreach {task.value_():x} 1 ps",
        "foreach 99999 ps",
        "foreach ffffffffffff0000 ps",
        "foreach ZZ ps",
        "foreach 'kworker.*' -k ps",
        "ipcs",
        "ipcs -s",
        "ipcs -m",
        "ipcs -M",
        "ipcs -q",
        "ipcs -M -q",
        "ipcs -n 1",
        "ipcs -n 99999",
        "ipcs 0",
        "ipcs -s 5 ffff",
        "dev -i",
        "dev -p",
        "dev -d",
        "dev -D",
        "dev -V",  # the lab's guests add no device dumps: crash's "no device dumps found"
        "dev -v 0",
        "dev extra",
        "tree -t rbtree -s vmap_area.va_start vmap_area_root",
        "tree -s vmap_area.va_start,va_end -o vmap_area.rb_node vmap_area_root",
        "tree -S vmap_area.va_start,va_end,vm -o vmap_area.rb_node vmap_area_root",
        "tree -S vmap_area.va_start -x -o vmap_area.rb_node vmap_area_root",
        "tree -t xarray -s irq_desc.irq irq_desc_tree",
        "tree -t xarray -s irq_desc.irq_data.irq irq_desc_tree",
        "tree -t xarray -S irq_desc.irq_count,name,handle_irq irq_desc_tree",
        "tree -t xarray -s irq_desc.irq_count,name -x irq_desc_tree",
        "tree -t xarray -s irq_desc irq_desc_tree",
        "tree -t xarray -v irq_desc_tree",
        "tree -v vmap_area_root",
        "tree -s vmap_area.va_start -S vmap_area.va_end vmap_area_root",
        f"tree -t maple -v -r mm_struct.mm_mt {init_mm:x}",
        f"tree -t maple -p -x -r mm_struct.mm_mt {init_mm:x}",
        *maple_lines,
        f"tree -t maple -r mm_struct.mm_mt -s vm_area_struct.vm_start,vm_flags {init_mm:x}",
        f"tree -t maple -S vm_area_struct.vm_start,vm_file -x -r mm_struct.mm_mt {init_mm:x}",
        "task -R pid,comm",
        "task -R pid,comm,tgid 1",
        f"task -R pid {task.value_():x}",
        # Last: in crash's batch mode the CPU mask of -c stays set for the commands after it.
        "runq -c 1",
    ]


@pytest.fixture
def session(lab_dump: Any, crash_session: Callable[[Any], Session]) -> Session:
    return crash_session(lab_dump)


@pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf", where=lambda d: not d.reference_error)
def test_matches_newest_crash(session: Session, lab_dump: Any, lab_manifest: Any) -> None:
    lines = command_lines(session, lab_dump.facts)
    # A last reset line ends the last command's output before crash's closing prompt.
    expected = run_crash(lab_manifest.vmlinux, lab_dump.path, [*lines, "kmem -o"])
    assert expected, f"{lab_manifest.oracle} gave no output"
    failures = []
    for line in lines:
        got = session.run(line, echo=False)
        want = expected.get(line)
        if want is None:
            continue
        if "Usage:" in want:
            continue
        if got != want:
            failures.append(f"--- {line}\n{want}+++ ours\n{got}")
    assert not failures, "\n".join(failures)


@pytest.mark.lab_dumps("kdump-null-zlib-d31", "qemu-sysrq-elf", where=lambda d: bool(d.reference_error))
def test_every_line_runs_where_crash_cannot(session: Session, lab_dump: Any) -> None:
    """Beyond crash (Linux 7.2, which crash 9.0.2 cannot open): no command line fails for a piece of the
    kernel the model does not know (a member, type or symbol it names), nor with an internal error; the
    messages about bad input that the other series' crash prints too are expected."""
    import re

    missing = re.compile(r"(struct|union|enum) \S+\.\S+$|internal error|invalid structure|no symbol")
    failures = []
    for line in command_lines(session, lab_dump.facts):
        got = session.run(line, echo=False)
        failures += [f"{line}: {text}" for text in got.splitlines() if missing.search(text)]
    assert not failures, "\n".join(failures)
