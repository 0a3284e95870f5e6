"""Does a dump hold the pages the facts point at? (stdlib only; no crash, no drgn)

makedumpfile decides from the kernel's page descriptors which pages to leave out (``-d 31``: zero, cache, user
and free pages). When it misreads a kernel it does not support yet, it can drop pages in use: seen with
makedumpfile 1.7.8 on Linux 7.2, whose kdump-compressed dumps miss the slab pages of live objects. crashme
reports the physical address of each of its objects and of kernel slab objects (every process's task_struct, the
reader's struct pid, the pid IDR's top node), and this module checks that the dump file has those
pages: the kdump-compressed bitmap of dumpable pages, or the ELF PT_LOAD file extents. The result lands in the
manifest as ``fact_pages_missing``, so that a test can tell a lossy dump from a wrong command.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

PAGE_SHIFT = 12
# struct disk_dump_header: signature[8], header_version, new_utsname (6 x 65), timeval (8-aligned), status,
# block_size, sub_hdr_size, bitmap_blocks, max_mapnr, ...
_DISKDUMP_STATUS = 424


def kdump_pages_present(path: Path, pfns: list[int]) -> dict[int, bool]:
    """For a kdump-compressed file (makedumpfile's, not the flattened stream): is each pfn's page in it
    (the second bitmap, of the pages written)?"""
    with open(path, "rb") as f:
        head = f.read(4096)
        if not head.startswith(b"KDUMP   "):
            raise ValueError(f"{path} is no kdump-compressed file")
        _status, block_size, sub_hdr_size, bitmap_blocks, max_mapnr = struct.unpack_from(
            "<IiiII", head, _DISKDUMP_STATUS
        )
        bitmap = block_size * (1 + sub_hdr_size)
        second = bitmap + bitmap_blocks * block_size // 2
        out: dict[int, bool] = {}
        for pfn in pfns:
            if pfn >= max_mapnr:
                out[pfn] = False
                continue
            f.seek(second + pfn // 8)
            byte = f.read(1)
            out[pfn] = bool(byte and byte[0] >> (pfn % 8) & 1)
        return out


def elf_pages_present(path: Path, phys: list[int]) -> dict[int, bool]:
    """For an ELF64 dump: is each physical address inside the file extent of a PT_LOAD (not zero-filled)?"""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2:
            raise ValueError(f"{path} is no ELF64 file")
        (phoff,) = struct.unpack_from("<Q", ident, 32)
        phentsize, phnum = struct.unpack_from("<HH", ident, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    loads = []
    for i in range(phnum):
        p_type, _flags, _off, _vaddr, p_paddr, p_filesz, _memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", table, i * phentsize
        )
        if p_type == 1:
            loads.append((p_paddr, p_filesz))
    return {a: any(start <= a < start + size for start, size in loads) for a in phys}


def fact_pages_missing(dump: dict[str, Any]) -> list[dict[str, str]] | None:
    """The facts' objects whose page the dump file lacks ([] if it has them all; None if it cannot tell:
    a flattened stream, or no physical addresses among the facts)."""
    tm = dump["facts"].get("test_module", {})
    objs = [{**o, "what": f"crashme_obj {o['tag']}"} for o in tm.get("list_objects", []) if o.get("phys")]
    objs += [
        {**o, "what": o["name"] + (f" of pid {o['pid']}" if o.get("pid") else "")}
        for o in tm.get("kernel_objects", [])
        if o.get("phys")
    ]
    if not objs:
        return None
    phys = [int(o["phys"], 16) for o in objs]
    path = Path(dump["path"])
    try:
        if dump["format"] == "kdump-compressed":
            have = kdump_pages_present(path, [a >> PAGE_SHIFT for a in phys])
            present = [have[a >> PAGE_SHIFT] for a in phys]
        elif dump["format"] == "elf":
            got = elf_pages_present(path, phys)
            present = [got[a] for a in phys]
        else:
            return None
    except (OSError, ValueError, struct.error):
        return None
    return [
        {"what": o["what"], "address": o["address"], "phys": o["phys"]}
        for o, ok in zip(objs, present, strict=True)
        if not ok
    ]
