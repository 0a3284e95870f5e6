"""Live guests: ``crashlab live --gdbstub | --kgdb``, ``crashlab stop``, ``crashlab status``.

One live VM at a time. Its state is ``CACHE/run/live/live.json``; QEMU runs detached under
``timeout --signal=KILL <lifetime>``, so it ends at the latest after ``--lifetime`` seconds even if nobody
calls ``crashlab stop``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import facts as factmod
from .util import LabError, file_lock, free_port, log, read_json, write_json
from .vm import QMP, VM, pid_alive, read_pid

BOOT_TIMEOUT = 240.0


def run_dir(cache_root: Path) -> Path:
    return cache_root / "run" / "live"


def running(cache_root: Path) -> dict[str, Any] | None:
    """The live VM's live.json if its QEMU is alive (a stale file is removed)."""
    p = run_dir(cache_root) / "live.json"
    if not p.exists():
        return None
    try:
        info: dict[str, Any] = read_json(p)
    except (OSError, ValueError):
        p.unlink(missing_ok=True)
        return None
    pid = info.get("pid")
    if isinstance(pid, int) and pid_alive(pid):
        return info
    p.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def _vm_slot(cache_root: Path, wait: float) -> Iterator[None]:
    """The VM slot (the same flock the builds take), once no live VM runs; waits at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    announced = False
    while True:
        other = running(cache_root)
        if other is None:
            with file_lock(
                cache_root / "run" / "vm.lock", "the VM slot", wait=max(1.0, deadline - time.monotonic())
            ):
                if running(cache_root) is None:
                    yield
                    return
        if time.monotonic() >= deadline:
            who = running(cache_root) or {}
            raise LabError(
                f"a live {who.get('mode', '')} VM is running (QEMU pid {who.get('pid')}); "
                "one VM at a time: `crashlab stop` it or pass --wait SECONDS"
            )
        if not announced:
            log(f"waiting up to {wait:.0f}s for the running live VM to stop")
            announced = True
        time.sleep(2.0)


def start(cache_root: Path, mode: str, as_json: bool = False, lifetime: int = 3600, wait: float = 0.0) -> int:
    from .build import build

    manifest_path = build(cache_root, ["kgdb"] if mode == "kgdb" else [])
    manifest: dict[str, Any] = read_json(manifest_path)
    rdir = run_dir(cache_root)
    with _vm_slot(cache_root, wait):
        shutil.rmtree(rdir, ignore_errors=True)
        rdir.mkdir(parents=True)
        port = free_port()
        if mode == "gdbstub":
            k = manifest["kernel"]
            vm = VM(
                rdir,
                kernel=Path(k["vmlinuz"]),
                initrd=Path(manifest["guest"]["main_initrd"]),
                append="console=ttyS0,115200 fixture.mode=live fixture.crash=none fixture.scenario=live",
                gdb_port=port,
                extra_qmp=[rdir / "qmp-drgn.sock"],
                name="crashlab-live",
            )
        else:
            kg = manifest.get("kgdb")
            if not kg:
                raise LabError("the lab has no KGDB kernel (crashlab build --scenario kgdb)")
            vm = VM(
                rdir,
                kernel=Path(kg["bzimage"]),
                initrd=Path(kg["initrd"]),
                mem="256M",
                append=kg["kernel_args"] + " fixture.crash=none fixture.scenario=kgdb",
                kgdb_port=port,
                name="crashlab-kgdb",
            )
        t0 = time.monotonic()
        log(f"starting the live {mode} guest (boot takes ~10 s under TCG)")
        vm.start(detached=True, lifetime=lifetime)
        try:
            vm.wait_for(vm.facts, r"^FIXTURE-FACT ready", BOOT_TIMEOUT, "the FIXTURE-READY marker")
            if mode == "kgdb":
                vm.wait_for(vm.console, r"Entering kdb", 60, "the kdb prompt (sysrq-g from fixkgdb)")
        except BaseException:
            vm.kill()
            raise
        finally:
            if vm.qmp is not None:
                vm.qmp.close()
                vm.qmp = None
        qpid = read_pid(vm.pidfile)
        entries = factmod.parse_file(vm.facts)
        facts = factmod.build_facts(entries, f"live-{mode}", "none")
        info: dict[str, Any] = {
            "mode": mode,
            "pid": qpid,
            "wrapper_pid": vm.proc.pid if vm.proc else None,
            "started_at": time.time(),
            "boot_seconds": round(time.monotonic() - t0, 1),
            "lifetime": lifetime,
            "expires_at": time.time() + lifetime,
            "host": "127.0.0.1",
            "qmp": str(vm.qmp_path),
            "console": str(vm.console),
            "facts_log": str(vm.facts),
            "manifest": str(manifest_path),
            "facts": facts,
        }
        if mode == "gdbstub":
            k = manifest["kernel"]
            off = facts.get("kaslr_offset") or 0
            info.update(
                {
                    "gdb_port": port,
                    "qmp_drgn": str(rdir / "qmp-drgn.sock"),
                    "vmlinux": k["vmlinux"],
                    "kaslr_offset": off,
                    "kaslr_offset_hex": hex(off),
                    "crashme_ko": manifest["test_module"]["ko"],
                    "gdb_command": (
                        f"gdb -nx -ex 'symbol-file -o {hex(off)} {k['vmlinux']}' "
                        f"-ex 'target remote 127.0.0.1:{port}'"
                    ),
                    "drgn_command": f"drgn --qemu {rdir / 'qmp-drgn.sock'} -s {k['vmlinux']}",
                }
            )
        else:
            kg = manifest["kgdb"]
            info.update(
                {
                    "kgdb_port": port,
                    "vmlinux": kg["vmlinux"],
                    "kaslr_offset": 0,
                    "kaslr_offset_hex": "0x0",
                    "crashme_ko": kg["crashme_ko"],
                    "gdb_scripts": kg.get("gdb_scripts"),
                    "gdb_command": (
                        f"gdb -nx {kg['vmlinux']} -ex 'set serial baud 115200' "
                        f"-ex 'target remote 127.0.0.1:{port}'"
                    ),
                }
            )
        write_json(rdir / "live.json", info)
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    return 0


def _print_info(info: dict[str, Any]) -> None:
    print(
        f"live {info['mode']} guest running: QEMU pid {info['pid']}, killed after {info['lifetime']}s at the latest"
    )
    if info["mode"] == "gdbstub":
        print(f"  gdbstub      127.0.0.1:{info['gdb_port']}")
        print(f"  vmlinux      {info['vmlinux']}")
        print(f"  KASLR offset {info['kaslr_offset_hex']}")
        print(f"  QMP (drgn)   {info['qmp_drgn']}")
        print(f"  gdb:  {info['gdb_command']}")
        print(f"  drgn: {info['drgn_command']}")
    else:
        print(f"  KGDB serial  127.0.0.1:{info['kgdb_port']} (kgdboc=ttyS1,115200; the guest waits in kdb)")
        print(f"  vmlinux      {info['vmlinux']} (no KASLR)")
        print(f"  gdb:  {info['gdb_command']}")
    print(f"  console log  {info['console']}")
    print("stop it with: crashlab stop")


def stop(cache_root: Path, only_pid: int | None = None) -> int:
    """Stop the live VM (with ``only_pid``: only if it is that QEMU, so as not to stop someone else's)."""
    rdir = run_dir(cache_root)
    p = rdir / "live.json"
    if not p.exists():
        print("no live VM")
        return 0
    info = read_json(p)
    pid = info.get("pid")
    if only_pid is not None and pid != only_pid:
        print(f"the live VM is QEMU pid {pid}, not {only_pid}: left running")
        return 0
    if isinstance(pid, int) and pid_alive(pid):
        try:
            q = QMP(Path(info["qmp"]), timeout=5)
            q.command("quit", timeout=5)
            q.close()
        except (LabError, OSError):
            pass
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    wpid = info.get("wrapper_pid")
    if isinstance(wpid, int) and pid_alive(wpid):
        try:
            cmd = Path(f"/proc/{wpid}/cmdline").read_bytes()
        except OSError:
            cmd = b""
        if b"timeout" in cmd:  # only our own `timeout` wrapper
            os.kill(wpid, signal.SIGKILL)
    p.unlink(missing_ok=True)
    print(f"stopped the live {info.get('mode')} guest (pid {pid})")
    return 0


def status(cache_root: Path, as_json: bool = False) -> int:
    live = running(cache_root)
    entries = []
    for m in sorted((cache_root / "labs").glob("*/manifest.json")) if (cache_root / "labs").exists() else []:
        try:
            data = read_json(m)
        except (OSError, ValueError):
            continue
        entries.append(
            {
                "manifest": str(m),
                "series": data.get("series") or data.get("kernel", {}).get("series") or "6.1",
                "release": data.get("kernel", {}).get("release"),
                "oracle": data.get("oracle", {}).get("version") or "8.0.2",
                "built_at": data.get("built_at"),
                "scenarios": sorted(data.get("scenarios", {})),
                "dumps": len(data.get("dumps", [])),
            }
        )
    if as_json:
        print(json.dumps({"cache": str(cache_root), "live": live, "entries": entries}, indent=2))
        return 0
    print(f"cache: {cache_root}")
    for e in entries:
        print(
            f"  [{e['series']}] {e['manifest']}  built {e['built_at']}  scenarios: {' '.join(e['scenarios'])}  "
            f"dumps: {e['dumps']}  oracle: crash {e['oracle']}"
        )
    if not entries:
        print("  (no lab built yet: crashlab build)")
    if live:
        _print_info(live)
    else:
        print("no live VM")
    return 0


def gdb_batch(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``gdb -batch -nx`` (used by the tests and the README examples)."""
    return subprocess.run(
        ["gdb", "-batch", "-nx", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
