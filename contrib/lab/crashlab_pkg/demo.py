"""``crashlab demo`` (what ``make demo`` runs): the default dump opened with crashcompat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .util import LAB_DIR, LabError, log, read_json

DEMO_COMMANDS = "sys\nbt\nlog | tail -20\nq\n"


def _python() -> str:
    repo = LAB_DIR.parent.parent
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _crashcompat_available(py: str, repo: Path) -> bool:
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [py, "-c", "import crashcompat.cli"],
        capture_output=True,
        env=env,
        timeout=120,
        cwd=repo,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode == 0


def demo(cache_root: Path) -> int:
    from .build import build

    manifest_path = build(cache_root, ["kdump-null"])
    m: dict[str, Any] = read_json(manifest_path)
    name = m.get("default_dump")
    dump = next((d for d in m["dumps"] if d["name"] == name), None)
    if dump is None:
        raise LabError("the lab manifest has no default dump")
    vmlinux = m["kernel"]["vmlinux"]
    repo = LAB_DIR.parent.parent
    py = _python()
    print(f"# manifest: {manifest_path}")
    print(f"# dump:     {dump['path']} ({dump['format']}, {dump['capture']}, scenario {dump['scenario']})")
    print(f"# vmlinux:  {vmlinux}", flush=True)
    if _crashcompat_available(py, repo):
        # crashcompat.cli's main(), whether or not the module has a __main__ guard.
        cmd = [
            py,
            "-c",
            "import sys; from crashcompat.cli import main; sys.exit(main(sys.argv[1:]))",
            "-s",
            vmlinux,
            dump["path"],
        ]
        print(f"# crashcompat -s {vmlinux} {dump['path']}  <<< sys; bt; log | tail -20", flush=True)
        env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run(cmd, input=DEMO_COMMANDS, text=True, env=env, cwd=repo, timeout=600)
        return proc.returncode
    log("crashcompat.cli is not importable yet: showing what the dump holds instead")
    f = dump["facts"]
    print(f"release      {f['release']}   hostname {f['hostname']}   KASLR offset {f['kaslr_offset_hex']}")
    print(f"crashed by   pid {f['crash_pid']} ({f['crash_comm']}) via {f['crash']}")
    print(f"tasks        {len(f['tasks'])}; modules: {' '.join(mo['name'] for mo in f['modules'])}")
    tm = f["test_module"]
    print(
        f"crashme      magic {tm['magic']}, banner {tm['banner']!r}, {tm['list_len']} objects in "
        f"cache {tm['cache']}"
    )
    for s in f["sleepers"]:
        print(f"sleeper      pid {s['pid']} {s['comm']}: {s['marker_text']!r} at {s['marker_address']}")
    ref = dump.get("reference", {})
    for key in ("sys", "bt"):
        if key in ref and Path(ref[key]).exists():
            print(f"\n# {dump.get('reference_tool', 'crash')} reference: {key}")
            print(Path(ref[key]).read_text(errors="replace").rstrip())
    if dump.get("dmesg"):
        print(f"\n# the last 20 lines of {dump['dmesg']}")
        lines = Path(dump["dmesg"]).read_text(errors="replace").rstrip().splitlines()
        print("\n".join(lines[-20:]))
    return 0
