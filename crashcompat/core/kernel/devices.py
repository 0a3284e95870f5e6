"""Character and block device majors as crash lists them (dev.c ``dump_chrdevs``,
``search_cdev_map_probes``, ``dump_blkdevs_v3``, ``search_blockdev_inodes``).

Layouts: ``chrdevs[CHRDEV_MAJOR_HASH_SIZE]`` of ``struct char_device_struct`` chains (``next``,
``major``, ``baseminor``, ``name[64]``, ``cdev``); ``cdev_map`` (``struct kobj_map``) with
``probes[255]`` chains of ``struct probe`` (``dev``, ``data``: a ``struct cdev *``);
``major_names[BLKDEV_MAJOR_HASH_SIZE]`` of ``struct blk_major_name`` (``major``, ``name[16]``); from 5.11
(commit a954ea81d1b5 "block: remove bdev_map" removed ``bdev_map``) a block major's gendisk is found
among the inodes of ``blockdev_superblock`` (``struct bdev_inode``: ``bdev``, ``vfs_inode``) by
``bd_disk->major``; before, among the probes of ``bdev_map`` (``data``: a ``struct gendisk *``).

I/O port and memory resources (dev.c ``do_io``, ``do_resource_list``): the trees of ``struct resource``
(``start``, ``end``, ``name``, ``child``, ``sibling``) under ``ioport_resource`` and ``iomem_resource``.
PCI (dev.c ``do_pci2``, ``walk_buses``, ``walk_devices``): ``pci_root_buses`` lists ``struct pci_bus``
by ``node``; a bus's ``devices`` lists ``struct pci_dev`` by ``bus_list``, its ``children`` its
subordinate buses; names are the kobject names of ``pci_dev.dev`` and ``pci_bus.dev``.
Device dumps (dev.c ``devdump_info``, ``devdump_extract``): ``NT_VMCOREDD`` notes of the dump file.
Disks (dev.c ``display_all_diskio``, ``next_disk_klist``, ``get_mq_diskio_from_hw_queues``): the devices
of the block class (``subsys_private.klist_devices``, found as ``block_class.p`` or, from 6.4, among
``class_kset``'s kobjects by name) whose ``device.type`` is ``disk_type``; a blk-mq queue's requests in
flight are those of its hardware contexts' tags (``blk_mq_tags.rqs[bit]`` for each bit set in the
``sbitmap`` words less ``cleared``) whose ``request.q`` is the queue and ``request.state`` is
``MQ_RQ_IN_FLIGHT``, reads and writes told apart by the low bit of ``cmd_flags``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import list_for_each, xarray_for_each
from crashcompat.core.target import FaultError, TargetError

__all__ = [
    "DeviceDump",
    "DeviceMajor",
    "DiskIo",
    "PciBus",
    "PciDevice",
    "Resource",
    "block_majors",
    "char_majors",
    "device_dumps",
    "disk_io",
    "pci_root_buses",
    "resource_tree",
]

#: crash's MAX_DEV: the entries of ``chrdevs[]`` and ``kobj_map.probes[]`` it reads.
MAX_DEV = 255
_MINORBITS = 20


@dataclass(frozen=True)
class DeviceMajor:
    """A registered major: :param holder: the ``struct cdev *`` / ``struct gendisk *`` found (0: none);
    :param ops: its ``file_operations`` / ``block_device_operations`` (0: none)."""

    major: int
    name: str
    holder: int
    ops: int


def _probe_ops(kernel: Kernel, major: int, minor: int) -> tuple[int, int]:
    """crash's ``search_cdev_map_probes()``: ``(cdev, ops)`` of the probe registered for the device."""
    if not kernel.has_symbol("cdev_map") or major >= MAX_DEV:
        return 0, 0
    try:
        cdev_map = kernel.read_pointer(kernel.symbol("cdev_map"))
        probe = kernel.read_pointer(cdev_map + kernel.offsetof("struct kobj_map", "probes") + 8 * major)
        for _ in range(4096):
            if not probe:
                break
            dev = kernel.target.read_u32(probe + kernel.offsetof("struct probe", "dev"))
            if dev >> _MINORBITS == major and dev & ((1 << _MINORBITS) - 1) == minor:
                data = kernel.read_pointer(probe + kernel.offsetof("struct probe", "data"))
                return data, kernel.read_pointer(data + kernel.offsetof("struct cdev", "ops"))
            probe = kernel.read_pointer(probe + kernel.offsetof("struct probe", "next"))
    except FaultError:
        pass
    return 0, 0


def char_majors(kernel: Kernel) -> list[DeviceMajor]:
    """Every ``char_device_struct`` in ``chrdevs[]`` order, chains followed."""
    heads = kernel.target.read_pointers(kernel.symbol("chrdevs"), MAX_DEV)
    out = []
    for head in heads:
        node = head
        for _ in range(4096):
            if not node:
                break
            c = kernel.struct("struct char_device_struct", node)
            name = c.cstr("name")
            major, minor = c.s32("major"), c.s32("baseminor")
            cdev = c.ptr("cdev")
            ops = kernel.read_pointer(cdev + kernel.offsetof("struct cdev", "ops")) if cdev else 0
            if not ops:
                cdev, ops = _probe_ops(kernel, major, minor)
            out.append(DeviceMajor(major, name, cdev, ops))
            node = c.ptr("next")
    return out


def _gendisk_of_major(kernel: Kernel, major: int) -> tuple[int, int]:
    """crash's ``search_blockdev_inodes()``: ``(gendisk, fops)`` of the first block device inode whose
    disk has *major* and operations."""
    try:
        sb = kernel.read_pointer(kernel.symbol("blockdev_superblock"))
    except FaultError:
        return 0, 0
    head = sb + kernel.offsetof("struct super_block", "s_inodes")
    link = kernel.offsetof("struct inode", "i_sb_list")
    bdev = kernel.offsetof("struct bdev_inode", "bdev") - kernel.offsetof("struct bdev_inode", "vfs_inode")
    bd_disk = kernel.offsetof("struct block_device", "bd_disk")
    for node in list_for_each(kernel, head, on_error="stop"):
        inode = node - link
        try:
            disk = kernel.read_pointer(inode + bdev + bd_disk)
            if not disk:
                continue
            g = kernel.struct("struct gendisk", disk)
        except FaultError:
            continue
        if g.s32("major") != major:
            continue
        fops = g.ptr("fops")
        if fops:
            return disk, fops
    return 0, 0


def _bdev_map_gendisk(kernel: Kernel, major: int) -> tuple[int, int]:
    """crash's ``search_bdev_map_probes()`` (before 5.11): ``(gendisk, fops)`` of the first probe of
    ``bdev_map->probes[major]`` for that major whose gendisk has operations."""
    if major >= MAX_DEV:
        return 0, 0
    try:
        bdev_map = kernel.read_pointer(kernel.symbol("bdev_map"))
        probe = kernel.read_pointer(bdev_map + kernel.offsetof("struct kobj_map", "probes") + 8 * major)
        for _ in range(4096):
            if not probe:
                break
            data = kernel.read_pointer(probe + kernel.offsetof("struct probe", "data"))
            dev = kernel.read_u32(probe + kernel.offsetof("struct probe", "dev"))
            if data and dev >> _MINORBITS == major:
                fops = kernel.read_pointer(data + kernel.offsetof("struct gendisk", "fops"))
                if fops:
                    return data, fops
            probe = kernel.read_pointer(probe + kernel.offsetof("struct probe", "next"))
    except FaultError:
        pass
    return 0, 0


def block_majors(kernel: Kernel) -> list[DeviceMajor]:
    """The first ``blk_major_name`` of each ``major_names[]`` bucket, in bucket order, with the gendisk
    crash finds for it."""
    sym = kernel.target.lookup_symbol("major_names")
    count = sym.size // 8 or MAX_DEV
    out = []
    # Before 5.11 (commit a954ea81d1b5 "block: remove bdev_map") crash looks the gendisk up in bdev_map.
    use_bdev_map = kernel.has_symbol("bdev_map")
    for i, entry in enumerate(kernel.target.read_pointers(sym.address, count)):
        if not entry:
            continue
        b = kernel.struct("struct blk_major_name", entry)
        major = b.uint("major")
        disk, fops = _bdev_map_gendisk(kernel, i) if use_bdev_map else _gendisk_of_major(kernel, major)
        out.append(DeviceMajor(major, b.cstr("name")[:16], disk, fops))
    return out


@dataclass(frozen=True)
class Resource:
    """A ``struct resource *`` with its range and name (``None``: unreadable) and its depth in the tree."""

    address: int
    start: int
    end: int
    name: str | None
    depth: int


def resource_tree(kernel: Kernel, root: int, limit: int = 100_000) -> list[Resource]:
    """The resources under ``struct resource *`` *root* (itself first), depth first as crash lists them:
    an entry, its children, then its next sibling.  Raises FaultError for an unreadable entry."""
    out: list[Resource] = []
    r = "struct resource"
    offsets = {m: kernel.offsetof(r, m) for m in ("start", "end", "name", "child", "sibling")}

    def walk(entry: int, depth: int) -> None:
        while entry and len(out) < limit:
            start = kernel.read_u64(entry + offsets["start"])
            end = kernel.read_u64(entry + offsets["end"])
            name_ptr = kernel.read_pointer(entry + offsets["name"])
            try:
                name: str | None = kernel.read_cstring(name_ptr, 1499) if name_ptr else None
            except FaultError:
                name = None
            out.append(Resource(entry, start, end, name, depth))
            child = kernel.read_pointer(entry + offsets["child"])
            if child and child != entry:
                walk(child, depth + 1)
            entry = kernel.read_pointer(entry + offsets["sibling"])

    walk(root, 0)
    return out


#: PCI Express capability port types (``PCI_EXP_TYPE_*``) by crash's names.
_PCIE_TYPES = {
    0: "ENDPOINT", 1: "LEG_END", 4: "ROOT_PORT", 5: "UPSTREAM", 6: "DOWNSTREAM", 7: "PCI_BRIDGE",
    8: "PCIE_BRIDGE", 9: "RC_END", 10: "RC_EC",
}  # fmt: skip


@dataclass(frozen=True)
class PciDevice:
    """A PCI device (crash prints the address of its ``bus_list`` link, the start of ``struct pci_dev``):
    name (``0000:00:01.0``), class code (``class >> 8``), vendor and device ids, crash's type text."""

    address: int
    name: str
    pci_class: int
    vendor: int
    device: int
    kind: str


@dataclass(frozen=True)
class PciBus:
    """A ``struct pci_bus`` (by its ``node`` link): name, parent bus, its bridge (``self``), devices and
    child buses."""

    address: int
    name: str
    parent: int
    bridge: PciDevice | None
    devices: list[PciDevice]
    children: list[PciBus]


def _kobject_name(kernel: Kernel, device: int) -> str:
    """The kobject name of a ``struct device *``."""
    kobj = device + kernel.offsetof("struct device", "kobj")
    name = kernel.read_pointer(kobj + kernel.offsetof("struct kobject", "name"))
    try:
        return kernel.read_cstring(name, 1499) if name else ""
    except FaultError:
        return ""


def _pci_device(kernel: Kernel, dev: int, shown: int) -> PciDevice:
    p = "struct pci_dev"
    name = _kobject_name(kernel, dev + kernel.offsetof(p, "dev"))
    pci_class = kernel.read_u32(dev + kernel.offsetof(p, "class")) >> 8
    vendor = int.from_bytes(kernel.read(dev + kernel.offsetof(p, "vendor"), 2), "little")
    device = int.from_bytes(kernel.read(dev + kernel.offsetof(p, "device"), 2), "little")
    hdr_type = kernel.read(dev + kernel.offsetof(p, "hdr_type"), 1)[0]
    kind = ""
    if kernel.has_member(p, "pcie_flags_reg"):
        flags = int.from_bytes(kernel.read(dev + kernel.offsetof(p, "pcie_flags_reg"), 2), "little")
        kind = _PCIE_TYPES.get((flags & 0xF0) >> 4, "")
    if hdr_type in (1, 2):  # PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS
        kind += " [BRIDGE]"
    return PciDevice(shown, name, pci_class, vendor, device, kind)


def _pci_bus(kernel: Kernel, node: int, depth: int = 0) -> PciBus:
    bus = node - kernel.offsetof("struct pci_bus", "node")
    b = "struct pci_bus"
    name = _kobject_name(kernel, bus + kernel.offsetof(b, "dev"))
    parent = kernel.read_pointer(bus + kernel.offsetof(b, "parent"))
    bridge_dev = kernel.read_pointer(bus + kernel.offsetof(b, "self"))
    bridge = _pci_device(kernel, bridge_dev, bridge_dev) if bridge_dev else None
    link = kernel.offsetof("struct pci_dev", "bus_list")
    devices = [
        _pci_device(kernel, n - link, n)
        for n in list_for_each(kernel, bus + kernel.offsetof(b, "devices"), on_error="stop")
    ]
    children = (
        [
            _pci_bus(kernel, n, depth + 1)
            for n in list_for_each(kernel, bus + kernel.offsetof(b, "children"), on_error="stop")
        ]
        if depth < 64
        else []
    )
    return PciBus(node, name, parent, bridge, devices, children)


def pci_root_buses(kernel: Kernel) -> list[PciBus]:
    """The PCI root buses (``pci_root_buses``) with their devices and buses below them."""
    head = kernel.symbol("pci_root_buses")
    return [_pci_bus(kernel, n) for n in list_for_each(kernel, head, on_error="stop")]


@dataclass(frozen=True)
class DiskIo:
    """A disk of ``dev -d``: ``struct gendisk *``, major, name, ``struct request_queue *`` and its
    requests in flight (reads, writes)."""

    gendisk: int
    major: int
    name: str
    queue: int
    reads: int
    writes: int


def _block_subsys_private(kernel: Kernel) -> int:
    """crash's ``class.p`` of ``block_class`` or (6.4, commit 2df418cf4b72 "driver core: class: remove
    subsystem private pointer from struct class") ``get_subsys_private("class_kset", "block")``."""
    if kernel.has_member("struct class", "p"):
        return kernel.read_pointer(kernel.symbol("block_class") + kernel.offsetof("struct class", "p"))
    kset = kernel.read_pointer(kernel.symbol("class_kset"))
    entry = kernel.offsetof("struct kobject", "entry")
    for node in list_for_each(kernel, kset + kernel.offsetof("struct kset", "list"), on_error="stop"):
        kobj = node - entry
        name = kernel.read_pointer(kobj + kernel.offsetof("struct kobject", "name"))
        if name and kernel.read_cstring(name, 31) == "block":
            return (
                kobj
                - kernel.offsetof("struct kset", "kobj")
                - kernel.offsetof("struct subsys_private", "subsys")
            )
    return 0


def _disks(kernel: Kernel) -> list[int]:
    """The ``struct gendisk *`` of the block class's disk devices, in klist order (dead nodes skipped)."""
    private = _block_subsys_private(kernel)
    if not private:
        raise FaultError(0, False, "cannot determine subsys_private for block.")
    head = (
        private
        + kernel.offsetof("struct subsys_private", "klist_devices")
        + kernel.offsetof("struct klist", "k_list")
    )
    n_node = kernel.offsetof("struct klist_node", "n_node")
    n_klist = kernel.offsetof("struct klist_node", "n_klist")
    knode = kernel.offsetof("struct device_private", "knode_class")
    disk_type = kernel.symbol("disk_type")
    out = []
    for node in list_for_each(kernel, head, on_error="stop"):
        klist_node = node - n_node
        if kernel.read_pointer(klist_node + n_klist) & 1:
            continue
        device = kernel.read_pointer(klist_node - knode + kernel.offsetof("struct device_private", "device"))
        if kernel.read_pointer(device + kernel.offsetof("struct device", "type")) != disk_type:
            continue
        if kernel.has_member("struct hd_struct", "__dev"):
            out.append(
                device
                - kernel.offsetof("struct hd_struct", "__dev")
                - kernel.offsetof("struct gendisk", "part0")
            )
        else:
            bdev = device - kernel.offsetof("struct block_device", "bd_device")
            out.append(kernel.read_pointer(bdev + kernel.offsetof("struct block_device", "bd_disk")))
    return out


def _sbitmap_bits(kernel: Kernel, sb: int) -> list[int]:
    """The set bits of a ``struct sbitmap`` (each word's ``word & ~cleared``), as crash's
    ``sbitmap_for_each_set()`` visits them."""
    depth = kernel.read_u32(sb + kernel.offsetof("struct sbitmap", "depth"))
    shift = kernel.read_u32(sb + kernel.offsetof("struct sbitmap", "shift"))
    words = kernel.read_pointer(sb + kernel.offsetof("struct sbitmap", "map"))
    size = kernel.sizeof("struct sbitmap_word")
    w_off = kernel.offsetof("struct sbitmap_word", "word")
    has_cleared = kernel.has_member("struct sbitmap_word", "cleared")
    out = []
    scanned = index = 0
    while scanned < depth and shift < 64:
        base = words + index * size
        word = kernel.read_u64(base + w_off)
        if has_cleared:
            word &= ~kernel.read_u64(base + kernel.offsetof("struct sbitmap_word", "cleared"))
        span = min(1 << shift, depth - scanned)
        out += [(index << shift) + bit for bit in range(span) if word >> bit & 1]
        scanned += span
        index += 1
    return out


def _mq_in_flight(kernel: Kernel, queue: int) -> tuple[int, int]:
    """Reads and writes in flight on a blk-mq ``struct request_queue *`` (crash's
    ``get_mq_diskio_from_hw_queues``)."""
    q = "struct request_queue"
    if kernel.has_member(q, "hctx_table"):
        hctxs = [
            e for _, e in xarray_for_each(kernel, queue + kernel.offsetof(q, "hctx_table"), on_error="stop")
        ]
    else:
        count = kernel.read_u32(queue + kernel.offsetof(q, "nr_hw_queues"))
        array = kernel.read_pointer(queue + kernel.offsetof(q, "queue_hw_ctx"))
        hctxs = list(kernel.target.read_pointers(array, count)) if count else []
    tag_set = kernel.read_pointer(queue + kernel.offsetof(q, "tag_set"))
    flags = kernel.read_u32(tag_set + kernel.offsetof("struct blk_mq_tag_set", "flags"))
    try:
        shared_flag = kernel.target.enumerator("BLK_MQ_F_TAG_HCTX_SHARED")
    except TargetError:
        shared_flag = 0
    tag_pointers = (
        [tag_set + kernel.offsetof("struct blk_mq_tag_set", "shared_tags")]
        if flags & shared_flag and kernel.has_member("struct blk_mq_tag_set", "shared_tags")
        else [h + kernel.offsetof("struct blk_mq_hw_ctx", "tags") for h in hctxs]
    )
    t = "struct blk_mq_tags"
    bitmap_is_ptr = kernel.type_info(t).member("bitmap_tags") is not None and (
        kernel.member(t, "bitmap_tags").size == 8
    )
    reads = writes = 0
    for pointer in tag_pointers:
        tags = kernel.read_pointer(pointer)
        reserved = kernel.read_u32(tags + kernel.offsetof(t, "nr_reserved_tags"))
        rqs = kernel.read_pointer(tags + kernel.offsetof(t, "rqs"))
        sets = []
        if reserved:
            sets.append((kernel.offsetof(t, "breserved_tags"), 0))
        sets.append((kernel.offsetof(t, "bitmap_tags"), reserved))
        for offset, first in sets:
            sbq = kernel.read_pointer(tags + offset) if bitmap_is_ptr else tags + offset
            sb = sbq + kernel.offsetof("struct sbitmap_queue", "sb")
            for bit in _sbitmap_bits(kernel, sb):
                rq = kernel.read_pointer(rqs + 8 * (bit + first))
                if not rq:
                    continue
                r = "struct request"
                if kernel.read_pointer(rq + kernel.offsetof(r, "q")) != queue:
                    continue
                if kernel.read_u32(rq + kernel.offsetof(r, "state")) != 1:  # MQ_RQ_IN_FLIGHT
                    continue
                if kernel.read_u32(rq + kernel.offsetof(r, "cmd_flags")) & 1:
                    writes += 1
                else:
                    reads += 1
    return reads, writes


def disk_io(kernel: Kernel) -> list[DiskIo]:
    """crash's ``dev -d`` rows (blk-mq queues; ``ram`` and ``loop`` disks left out).  Raises FaultError."""
    g = "struct gendisk"
    name_len = kernel.member(g, "disk_name").size
    out = []
    for disk in _disks(kernel):
        name = (
            kernel.read(disk + kernel.offsetof(g, "disk_name"), name_len).split(b"\0", 1)[0].decode("latin-1")
        )
        if name.startswith(("ram", "loop")):
            continue
        queue = kernel.read_pointer(disk + kernel.offsetof(g, "queue"))
        major = int.from_bytes(kernel.read(disk + kernel.offsetof(g, "major"), 4), "little", signed=True)
        reads, writes = _mq_in_flight(kernel, queue)
        out.append(DiskIo(disk, major, name, queue, reads, writes))
    return out


# ---- device dumps ---------------------------------------------------------------------------------------

#: The note type of a device dump (include/uapi/linux/elf.h), which a driver adds to /proc/vmcore with
#: ``vmcore_add_device_dump()`` (fs/proc/vmcore.c, CONFIG_PROC_VMCORE_DEVICE_DUMP, Linux 4.18).
NT_VMCOREDD = 0x700
#: ``VMCOREDD_MAX_NAME_BYTES``: the device's name at the start of the note's payload.
VMCOREDD_NAME_BYTES = 44
#: ``struct vmcoredd_header``: the note header, its owner name ("LINUX" padded to 8) and the device's name.
VMCOREDD_HEADER_BYTES = 12 + 8 + VMCOREDD_NAME_BYTES


@dataclass(frozen=True)
class DeviceDump:
    """A device's dump in the dump file: its *name*, and *size* bytes of data at file *offset* (of the
    unflattened file, as crash counts)."""

    name: str
    offset: int
    size: int


def device_dumps(kernel: Kernel) -> list[DeviceDump]:
    """The device dumps in the dump file's notes, in order (crash's ``dev -V``); none on a live kernel."""
    from crashcompat.core.dumpfile import read_header

    path = kernel.target.info.path
    if kernel.target.live or not path:
        return []
    found = []
    for note in read_header(path).notes:
        if note.type == NT_VMCOREDD and note.offset >= 0 and len(note.desc) >= VMCOREDD_NAME_BYTES:
            name = note.desc[:VMCOREDD_NAME_BYTES].split(b"\0")[0].decode("utf-8", "replace")
            found.append(
                DeviceDump(name, note.offset + VMCOREDD_HEADER_BYTES, len(note.desc) - VMCOREDD_NAME_BYTES)
            )
    return found
