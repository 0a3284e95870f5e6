"""Character and block device majors as crash lists them (dev.c ``dump_chrdevs``,
``search_cdev_map_probes``, ``dump_blkdevs_v3``, ``search_blockdev_inodes``).

Layouts: ``chrdevs[CHRDEV_MAJOR_HASH_SIZE]`` of ``struct char_device_struct`` chains (``next``,
``major``, ``baseminor``, ``name[64]``, ``cdev``); ``cdev_map`` (``struct kobj_map``) with
``probes[255]`` chains of ``struct probe`` (``dev``, ``data``: a ``struct cdev *``);
``major_names[BLKDEV_MAJOR_HASH_SIZE]`` of ``struct blk_major_name`` (``major``, ``name[16]``); from 5.11
(commit a954ea81d1b5 "block: remove bdev_map" removed ``bdev_map``) a block major's gendisk is found
among the inodes of ``blockdev_superblock`` (``struct bdev_inode``: ``bdev``, ``vfs_inode``) by
``bd_disk->major``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashcompat.core.kernel import Kernel
from crashcompat.core.kernel.lists import list_for_each
from crashcompat.core.target import FaultError

__all__ = ["DeviceMajor", "block_majors", "char_majors"]

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


def block_majors(kernel: Kernel) -> list[DeviceMajor]:
    """The first ``blk_major_name`` of each ``major_names[]`` bucket, in bucket order, with the gendisk
    crash finds for it."""
    sym = kernel.target.lookup_symbol("major_names")
    count = sym.size // 8 or MAX_DEV
    out = []
    for entry in kernel.target.read_pointers(sym.address, count):
        if not entry:
            continue
        b = kernel.struct("struct blk_major_name", entry)
        major = b.uint("major")
        disk, fops = _gendisk_of_major(kernel, major)
        out.append(DeviceMajor(major, b.cstr("name")[:16], disk, fops))
    return out
