"""The crash lab's kernel matrix without a network or a VM: apt sources, package layouts, private roots, and
the evidence rules of the oracle's known-wrong list."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "contrib" / "lab"))

from crashlab_pkg import apt, facts, kernel, reference, roots, scenarios, series
from crashlab_pkg.util import LabError

HOST_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://deb.nodesource.example/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/nodesource.gpg
"""


def _etc(tmp_path: Path) -> Path:
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(HOST_SOURCES)
    (etc / "sources.list.d" / "vendor.list.disabled-by-farm").write_text(
        "deb http://other.example/x y main\n"
    )
    (etc / "sources.list").write_text("# deb http://old.example/debian buster main\n")
    return etc


def test_host_sources_and_mirrors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRASHLAB_DEBIAN_MIRROR", raising=False)
    monkeypatch.delenv("CRASHLAB_DEBIAN_SECURITY_MIRROR", raising=False)
    sources = apt.host_sources(_etc(tmp_path))
    assert [s.uri for s in sources] == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
        "https://deb.nodesource.example/node_20.x",
    ]
    assert sources[0].suites == ("bookworm", "bookworm-updates")
    assert apt.debian_mirrors(sources) == (
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    )
    one_line = apt._one_line_sources(
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ trixie main\n"
    )
    assert one_line == [apt.Source("http://m.example/debian", ("trixie",), ("main",), "/k.gpg")]
    # Without a security source, Debian's layout: ARCHIVE-security.
    assert apt.debian_mirrors([apt.Source("http://m.example/debian", ("trixie",), (), "")]) == (
        "http://m.example/debian",
        "http://m.example/debian-security",
    )
    with pytest.raises(LabError, match="name no Debian mirror"):
        apt.debian_mirrors([sources[2]])


def test_suite_lines() -> None:
    sid = apt.suite_lines("sid", "http://m/debian", "http://m/debian-security")
    assert sid == [f"deb [signed-by={apt.KEYRING}] http://m/debian sid main"]
    bullseye = apt.suite_lines("bullseye", "http://m/debian", "http://m/debian-security")
    assert [ln.split()[-2] for ln in bullseye] == ["bullseye", "bullseye-updates", "bullseye-security"]
    assert bullseye[2].split()[2] == "http://m/debian-security"


def test_private_apt_config_overrides_only_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHLAB_DEBIAN_MIRROR", "http://m.example/debian")
    monkeypatch.setattr(apt, "KEYRING", tmp_path / "keyring.gpg")
    (tmp_path / "keyring.gpg").write_text("")
    p = apt.PrivateApt(tmp_path / "cache", "sid")
    argv = p.argv("apt-get")
    assert argv[:2] == ["apt-get", "-c"]
    conf = Path(argv[2]).read_text()
    for key in ("Dir::State ", "Dir::Cache ", "Dir::Etc::sourcelist ", "Dir::Etc::sourceparts ", "status"):
        assert key in conf
    assert str(tmp_path / "cache" / "apt" / "sid") in conf
    assert "Dir::Etc::main" not in conf and "Dir::Etc::parts" not in conf  # the host's settings still apply
    assert (tmp_path / "cache/apt/sid/sources.list").read_text().split()[-2:] == ["sid", "main"]
    assert (tmp_path / "cache/apt/sid/state/status").read_text() == ""


def test_headers_depends_to_root_packages() -> None:
    sid = (
        "gcc-16-for-host, linux-base (>= 4.12~), linux-base-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), "
        "linux-headers-7.2.13+deb14-common (= 7.2.13-1), linux-kbuild-7.2.13+deb14 (= 7.2.13-1)"
    )
    assert roots._deps_to_install(sid, "7.2.13+deb14-cloud-amd64") == [
        "gcc-16-for-host",
        "linux-base-7.2.13+deb14-cloud-amd64",
        "linux-headers-7.2.13+deb14-common",
        "linux-kbuild-7.2.13+deb14",
    ]
    bookworm = (
        "linux-base (>= 4.3~), linux-headers-6.12.118+deb12-common (= 6.12.118-1~deb12u1), "
        "linux-image-6.12.118+deb12-cloud-amd64 (= 6.12.118-1~deb12u1) | "
        "linux-image-6.12.118+deb12-cloud-amd64-unsigned (= 6.12.118-1~deb12u1), "
        "linux-kbuild-6.12.118+deb12 (= 6.12.118-1~deb12u1), gcc-12"
    )
    assert roots._deps_to_install(bookworm, "6.12.118+deb12-cloud-amd64") == [
        "linux-headers-6.12.118+deb12-common",
        "linux-kbuild-6.12.118+deb12",
        "gcc-12",
    ]


def test_find_files_in_old_and_new_package_layouts() -> None:
    rel = "7.2.13+deb14-cloud-amd64"
    new = {
        "linux-binary-x": [f"./usr/lib/modules/{rel}/vmlinuz", "./usr/share/doc/x"],
        "linux-base-x": [f"./usr/lib/modules/{rel}/config", f"./usr/lib/modules/{rel}/System.map"],
        "linux-modules-x": [
            f"./usr/lib/modules/{rel}/kernel/drivers/block/virtio_blk.ko.xz",
            f"./usr/lib/modules/{rel}/kernel/drivers/firmware/qemu_fw_cfg.ko.xz",
            f"./usr/lib/modules/{rel}/kernel/drivers/net/virtio_net.ko.xz",
        ],
    }
    found = kernel._find_files(rel, new)
    assert found["vmlinuz"] == ("linux-binary-x", f"./usr/lib/modules/{rel}/vmlinuz")
    assert found["config"][0] == "linux-base-x"
    assert "system_map" not in found  # the lib/modules one is a placeholder; -dbg has the real one
    assert found["module:virtio_blk"][1].endswith("virtio_blk.ko.xz")
    assert "module:virtio" not in found and "module:virtio_pci" not in found  # built in
    old_rel = "6.1.0-57-cloud-amd64"
    old = {
        "linux-image-y": [
            f"./boot/vmlinuz-{old_rel}",
            f"./boot/config-{old_rel}",
            f"./lib/modules/{old_rel}/kernel/drivers/virtio/virtio.ko",
            f"./lib/modules/{old_rel}/kernel/drivers/virtio/virtio_ring.ko",
        ]
    }
    found = kernel._find_files(old_rel, old)
    assert found["vmlinuz"][1] == f"./boot/vmlinuz-{old_rel}"
    assert found["module:virtio"][1].endswith("/virtio.ko")
    assert kernel.guest_modules({}) == kernel.GUEST_MODULES  # extractions made before the matrix: 6.1's


def test_resolve_in_root_keeps_absolute_links_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").write_text("loader")
    (root / "lib64").mkdir()
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (root / "lib").symlink_to("usr/lib")
    assert roots.resolve_in_root(root, "/lib64/ld-linux-x86-64.so.2").read_text() == "loader"
    assert roots.resolve_in_root(root, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").read_text() == "loader"


def test_series_table() -> None:
    assert series.DEFAULT_SERIES == "6.1" and series.SERIES["6.1"].host
    assert {s.suite for s in series.SERIES.values()} == {"bullseye", "bookworm", "sid"}
    assert "kgdb" in series.SERIES["6.1"].scenarios and all(
        "kgdb" not in s.scenarios for s in series.SERIES.values() if not s.host
    )
    with pytest.raises(LabError, match="unknown kernel series"):
        series.get("4.19")


def test_oracle_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRASHLAB_ORACLE", raising=False)
    assert reference.oracle_choice("host") == "host"
    monkeypatch.setenv("CRASHLAB_ORACLE", "newest")
    assert reference.oracle_choice("host") == "newest"
    monkeypatch.setenv("CRASHLAB_ORACLE", "crash7")
    with pytest.raises(LabError):
        reference.oracle_choice("newest")


def _dump(tmp_path: Path, outputs: dict[str, str]) -> tuple[dict[str, Any], dict[str, Path]]:
    tasks = [
        {"pid": p, "comm": c}
        for p, c in [(1, "init"), (2, "kthreadd"), (115, "fixcrash"), (113, "a"), (114, "b")]
    ]
    d = {
        "capture": "kdump",
        "facts": {
            "tasks": tasks,
            "crash_pid": 115,
            "release": "6.1.0-57-cloud-amd64",
            "hostname": "crashfixture",
            "modules": [{"name": "crashme", "address": "0xffffffffc03bb000"}],
            "markers": ["FIXTURE: known line one"],
            "meminfo": {"Slab": 15872, "MemTotal": 430000},
        },
    }
    paths = {}
    for i, (cmd, text) in enumerate(outputs.items()):
        p = tmp_path / f"{i}.txt"
        p.write_text(text)
        paths[cmd] = p
    return d, paths


def test_known_wrong_needs_evidence(tmp_path: Path) -> None:
    ps_all = "".join(
        f"   {p:>5}      0   0  ffff8e8f811ec800  IN   0.0  0  0  x\n" for p in (1, 2, 113, 114, 115)
    )
    good = {
        "ps": "   PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n" + ps_all,
        "sys": "     RELEASE: 6.1.0-57-cloud-amd64\n    NODENAME: crashfixture\n       TASKS: 7\n",
        "mod": "ffffffffc03bd040  crashme  ffffffffc03bb000  16384  (not loaded)\n",
        "log": "[ 1.0] FIXTURE: known line one\n",
        "kmem -i": "         SLAB     3968      15.5 MB    3% of TOTAL MEM\n",
        "vm": "PID: 1 ...\n",
    }
    d, paths = _dump(tmp_path, good)
    assert reference._known_wrong(d, paths, "") == []
    bad = dict(good)
    bad["ps"] = (
        "   PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM\n>   115  -1  1  ffff8e8f9feb6000  RU  0.0  9  9  fixcrash\n"
    )
    bad["kmem -i"] = "         SLAB     2290       8.9 MB    3% of TOTAL MEM\n"
    bad["vm"] = "vm: invalid structure member offset: mm_struct_mmap\n"
    bad["mod"] = "     MODULE       NAME   BASE  SIZE  OBJECT FILE\n"
    d, paths = _dump(tmp_path, bad)
    wrong = {w["command"]: w for w in reference._known_wrong(d, paths, "")}
    assert "crash's ps lists 1 of the guest's 5 tasks" in wrong["ps"]["evidence"]
    assert {"sys", "set PID (any non-active task)", "kmem -i", "vm", "mod"} <= set(wrong)
    assert "/proc/meminfo Slab: 15872 kB" in wrong["kmem -i"]["evidence"]
    assert wrong["vm"]["evidence"] == "invalid structure member offset: mm_struct_mmap"
    assert all(w["evidence"] for w in wrong.values())


def test_meminfo_facts() -> None:
    entries = [
        facts.parse_line(ln)
        for ln in ("FIXTURE-FACT meminfo name=Slab kb=15872", "FIXTURE-FACT meminfo name=MemFree kb=9")
    ]
    built = facts.build_facts([e for e in entries if e], "kdump-null", "null")
    assert built["meminfo"] == {"Slab": 15872, "MemFree": 9}


# A hung-task guest's fact lines as fixture_helper and /init write them (abridged).
TRIAGE_LINES = """\
FIXTURE-FACT trigger pid=131 target=/proc/crashme payload=hung cpu=0 comm=fixcrash
FIXTURE-FACT holder pid=129 target=/proc/crashme payload=hold cpu=1 comm=fixhold
FIXTURE-FACT mutex name=crashme_mutex holder=129
FIXTURE-FACT busy pid=128 cpu=1 policy=SCHED_FIFO priority=10 comm=fixbusy
FIXTURE-FACT actor pid=120 thread=122 zombie=123 stopped=124 comm=fixactor
FIXTURE-FACT actor_thread pid=120 tid=122 comm=fixactor_thr
FIXTURE-FACT actor_child pid=123 ppid=120 kind=zombie state=Z comm=fixzombie
FIXTURE-FACT actor_child pid=124 ppid=120 kind=stopped state=T comm=fixstopped
FIXTURE-FACT actor_signal pid=120 num=10 name=SIGUSR1 disposition=handler handler=0x401ee0
FIXTURE-FACT actor_signal pid=120 num=12 name=SIGUSR2 disposition=ignore
FIXTURE-FACT actor_signal pid=120 num=35 name=SIGRTMIN+1 disposition=default blocked=1 pending=shared
FIXTURE-FACT actor_mapping pid=120 what=shared_file start=0x7f6844549000 size=8192 path=/tmp/fixactor.data
FIXTURE-FACT actor_mapping pid=120 what=private_anon start=0x7f6844546000 size=12288
FIXTURE-FACT ipc kind=shm key=0x46580001 id=0 size=65536 nattch=1 cpid=120
FIXTURE-FACT ipc kind=msg key=0x46580003 id=1 messages=1 bytes=16 cpid=120
FIXTURE-FACT actor_net pid=120 tcp_port=7701 udp_port=7702 unix_path=/tmp/fixactor.sock
FIXTURE-FACT fd pid=120 fd=3 kind=pipe-read link=pipe:[345588]
FIXTURE-FACT fd pid=120 fd=13 kind=eventfd link=anon_inode:[eventfd]
FIXTURE-FACT map pid=120 start=0x00400000 end=0x00401000 perms=r--p offset=0x00000000 dev=fe:00 inode=22 path=/bin/fixactor
FIXTURE-FACT map pid=120 start=0x7f6844536000 end=0x7f6844546000 perms=rw-s offset=0x00000000 dev=00:01 inode=0 path=/SYSV46580001 (deleted)
FIXTURE-FACT map pid=120 start=0x7f6844546000 end=0x7f6844549000 perms=rw-p offset=0x00000000 dev=00:00 inode=0 path=
FIXTURE-FACT sigstatus pid=120 Threads=2 SigPnd=0000000000000000 ShdPnd=0000000400000000 SigBlk=0000000400004000
"""


def _built(crash: str, lines: str = TRIAGE_LINES) -> dict[str, Any]:
    entries = [facts.parse_line(ln) for ln in lines.splitlines()]
    return facts.build_facts([e for e in entries if e], f"qemu-{crash}", crash)


def test_triage_facts() -> None:
    f = _built("hung")
    assert f["crash_cpu"] == 0
    t = f["triage"]
    assert t["class"] == "hung-task" and t["class"] in facts.TRIAGE_CLASSES
    assert t["task"] == {"pid": 131, "comm": "fixcrash", "cpu": 0}
    assert t["culprit"] == {"function": "crashme_do_hung", "module": "crashme"}
    assert t["mutex"] == {
        "name": "crashme_mutex",
        "owner": {"pid": 129, "comm": "fixhold"},
        "owner_seen": 129,
    }
    assert f["busy"] == {"pid": 128, "comm": "fixbusy", "cpu": 1, "policy": "SCHED_FIFO", "priority": 10}
    # The class and culprit follow the trigger, never the payload's own word (sysrq writes "c").
    sysrq = _built(
        "sysrq", "FIXTURE-FACT trigger pid=7 target=/proc/sysrq-trigger payload=c cpu=0 comm=fixcrash"
    )
    assert sysrq["triage"]["class"] == "sysrq"
    assert sysrq["triage"]["culprit"] == {"function": "sysrq_handle_crash", "module": None}
    assert "mutex" not in sysrq["triage"]
    for cls, function, module in facts.TRIAGE.values():
        assert cls in facts.TRIAGE_CLASSES
        assert module is None or function.startswith("crashme_")
    # Every scenario that crashes the kernel has a triage entry; kgdb does not crash.
    for sc in scenarios.SCENARIOS.values():
        assert sc.crash in facts.TRIAGE or sc.capture == "kgdb", sc.name


def test_actor_facts() -> None:
    a = _built("null")["actor"]
    assert a["pid"] == 120 and a["comm"] == "fixactor"
    assert a["threads"] == [{"tid": 120, "comm": "fixactor"}, {"tid": 122, "comm": "fixactor_thr"}]
    assert [(c["kind"], c["state"], c["comm"]) for c in a["children"]] == [
        ("zombie", "Z", "fixzombie"),
        ("stopped", "T", "fixstopped"),
    ]
    sigs = {s["name"]: s for s in a["signals"]}
    assert sigs["SIGUSR1"]["handler"] == "0x401ee0" and not sigs["SIGUSR1"]["blocked"]
    assert sigs["SIGRTMIN+1"]["blocked"] and sigs["SIGRTMIN+1"]["pending"] == "shared"
    assert a["mappings"]["shared_file"] == {
        "start": "0x7f6844549000",
        "end": "0x7f684454b000",
        "size": 8192,
        "path": "/tmp/fixactor.data",
    }
    assert a["fds"] == [
        {"fd": 3, "kind": "pipe-read", "link": "pipe:[345588]"},
        {"fd": 13, "kind": "eventfd", "link": "anon_inode:[eventfd]"},
    ]
    assert a["maps"][0]["start"] == "0x400000" and a["maps"][0]["path"] == "/bin/fixactor"
    assert a["maps"][1]["path"] == "/SYSV46580001 (deleted)" and a["maps"][1]["perms"] == "rw-s"
    assert a["maps"][2]["path"] == ""
    assert a["sigstatus"]["ShdPnd"] == "0000000400000000" and a["sigstatus"]["Threads"] == "2"
    assert a["net"] == {"tcp_port": 7701, "udp_port": 7702, "unix_path": "/tmp/fixactor.sock"}
    ipc = _built("null")["ipc"]
    assert ipc["shm"] == {"key": "0x46580001", "id": 0, "size": 65536, "nattch": 1, "cpid": 120}
    assert ipc["msg"]["messages"] == 1


def test_series_scenario_table(tmp_path: Path) -> None:
    """Every series builds every triage scenario by default, or lists why not; a scenario's kernel options are
    checked against the kernel's config."""
    for s in series.SERIES.values():
        for name in scenarios.TRIAGE_SCENARIOS:
            assert name in s.scenarios, (s.name, name)
        for name, why in s.skips:
            assert name in scenarios.SCENARIOS and why, (s.name, name)
    assert series.SERIES["5.10"].skip_reason("qemu-kfence")
    assert series.SERIES["6.1"].skip_reason("qemu-kfence")
    assert series.SERIES["6.12"].skip_reason("qemu-kfence") is None
    assert series.SERIES["newest"].skip_reason("qemu-kfence") is None
    kfence = scenarios.SCENARIOS["qemu-kfence"]
    config = tmp_path / "config"
    config.write_text("CONFIG_SLUB=y\n# CONFIG_KFENCE is not set\n")
    assert scenarios.missing_config(kfence, config) == ["CONFIG_KFENCE"]
    config.write_text("CONFIG_KFENCE=y\nCONFIG_KFENCE_SAMPLE_INTERVAL=0\n")
    assert scenarios.missing_config(kfence, config) == []
    assert scenarios.missing_config(scenarios.SCENARIOS["qemu-warn"], tmp_path / "absent") == []
