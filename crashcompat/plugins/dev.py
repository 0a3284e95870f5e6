"""``dev``: the character and block device majors, I/O port and memory resources, PCI devices (crash's
dev.c ``cmd_dev``, ``dump_chrdevs``, ``dump_blkdevs_v3``, ``do_io``, ``do_pci2``)."""

from __future__ import annotations

from crashcompat.api import (
    VADDR_PRLEN,
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    CommandError,
    Kernel,
    Option,
    TargetError,
    command,
    hookimpl,
    mkstring,
)
from crashcompat.api.kernel import devices, memory, symbols
from crashcompat.plugins.memory import Display, display_memory


def _symstr(kernel: Kernel, address: int) -> str:
    sym = symbols.lookup(kernel, address)
    return symbols.format_offset(sym, address) if sym is not None else ""


def major_line(kernel: Kernel, device: devices.DeviceMajor) -> str:
    """One major as crash prints it: number, name, then the cdev/gendisk and its operations' symbol."""
    head = f" {device.major:3d}      {device.name or '(unknown)':<13} "
    if not device.ops:
        return head + " " + mkstring("(none)", VADDR_PRLEN, "c") + "\n"
    return head + f" {device.holder:{VADDR_PRLEN}x}  {_symstr(kernel, device.ops) or f'{device.ops:x}'}\n"


@command(
    "dev",
    summary="list the character and block device majors",
    synopsis="dev [-i | -p | -d | -D ] [-V | -v index [file]]",
    description="""
    Lists each registered character device major with its name, its struct cdev and that cdev's file
    operations, then each block device major with its name, a gendisk of that major and the disk's
    block device operations.
    """,
    arguments=[
        Option("-i", help="the I/O port and then the I/O memory resources, as a tree."),
        Option("-p", help="the PCI buses and devices: address, slot, class, vendor:device ids and type."),
        Option("-d", help="the disks with their request queues and the reads and writes in flight."),
        Option("-D", help="as -d, only the disks with requests in flight."),
        Option(
            "-V", help="list the device dumps that drivers added to the dump: index, file offset, size, name."
        ),
        Option(
            "-v",
            "index",
            help="show device dump *index* in 64-bit words with their ASCII, or copy it to *file* when one "
            "is named.",
        ),
        Argument("file", "file", nargs="?", help="where -v copies the device dump."),
    ],
)
def dev(ctx: CommandContext) -> None:
    kernel = ctx.kernel
    if ctx.args.V or ctx.args.v is not None:
        _device_dumps(ctx)
        return
    if ctx.args.file is not None:  # a file is named only with -v: crash shows the usage
        found = ctx.session.lookup("dev")
        assert found is not None
        ctx.write(found.usage_text())
        return
    if ctx.args.i:
        ctx.write(io_text(kernel))
        return
    if ctx.args.d or ctx.args.D:
        if kernel.has_member("struct request_queue", "in_flight") or not kernel.has_member(
            "struct request", "state"
        ):
            raise CommandError("-d option is not supported for request queues before blk-mq only")
        ctx.write(diskio_text(kernel, nonzero=bool(ctx.args.D)))
        return
    if ctx.args.p:
        if not kernel.has_symbol("pci_root_buses"):
            raise CommandArgumentError("-p option not supported")
        buses = devices.pci_root_buses(kernel)
        if not buses:
            ctx.error("no PCI devices found on this system.")
        pcie = kernel.has_member("struct pci_dev", "pcie_flags_reg")
        ctx.write("".join(_root_bus_text(pcie, b) for b in buses))
        return
    if not kernel.has_symbol("chrdevs"):
        ctx.error("chrdevs: symbol does not exist")
    out = [
        f"CHRDEV    NAME           {mkstring('CDEV', VADDR_PRLEN, 'c')}  {mkstring('OPERATIONS', VADDR_PRLEN)}\n"
    ]
    out += [major_line(kernel, d) for d in devices.char_majors(kernel)]
    out.append("\n")
    out.append(
        f"BLKDEV    NAME           {mkstring('GENDISK', VADDR_PRLEN, 'cr')}  {mkstring('OPERATIONS', VADDR_PRLEN)}\n"
    )
    out += [major_line(kernel, d) for d in devices.block_majors(kernel)]
    ctx.write("".join(out))


def _device_dumps(ctx: CommandContext) -> None:
    """``dev -V`` and ``dev -v index [file]`` (crash's ``diskdump_device_dump_info``/``_extract``)."""
    kernel = ctx.kernel
    option = "-V" if ctx.args.V else "-v"
    if kernel.target.live:
        raise CommandError(f"{option} option not supported on a live system")
    dumps = devices.device_dumps(kernel)
    if not dumps:
        raise CommandError("no device dumps found in this dumpfile")
    if ctx.args.V:
        out = [f"INDEX  {'OFFSET':<16}   {'SIZE':<16} NAME\n"]
        out += [f"{i:^5}  0x{d.offset:<16x} {d.size:<16} {d.name}\n" for i, d in enumerate(dumps)]
        ctx.write("".join(out))
        return
    index = int(ctx.args.v) if ctx.args.v.lstrip("-").isdigit() else 0  # crash: atoi()
    if not 0 <= index < len(dumps):
        raise CommandError(f"no device dump found at index: {index}")
    dump = dumps[index]
    # crash's devdump_extract(): the output file opened first, then display_memory_from_file_offset(), the
    # dump file's bytes as rd -f reads and shows them
    if ctx.args.file is not None:
        try:
            output = open(ctx.args.file, "wb")  # noqa: SIM115 - closed below, after the read
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
            raise CommandError(f"cannot open output file: {ctx.args.file}") from None
        with output:
            ctx.write(f"DEVICE: {dump.name}\n")
            data, fault = memory.read_prefix(kernel, dump.offset, dump.size, "file")
            if fault is not None:
                raise CommandError(fault.message("raw dump to file") or "")  # crash's readmem() type string
            output.write(data)
        ctx.write(f"{dump.size} bytes copied from 0x{dump.offset:x} to {ctx.args.file}\n")
        return
    ctx.write(f"DEVICE: {dump.name}\n")
    text, error = display_memory(kernel, dump.offset, (dump.size + 7) // 8, Display(), "file", command="dev")
    ctx.write(text)
    if error is not None:
        raise CommandError(error)


def diskio_text(kernel: Kernel, nonzero: bool) -> str:
    """crash's ``display_all_diskio()``: a header, then one line per disk (with -D only those with
    requests in flight)."""
    # Kernels with the BLK_RW_SYNC enumerator count sync and async requests (crash's header says so).
    try:
        kernel.target.enumerator("BLK_RW_SYNC")
        sync = True
    except TargetError:
        sync = False
    out = [
        f"MAJOR {'GENDISK':<{VADDR_PRLEN + 2}} NAME       {'REQUEST_QUEUE':<{max(13, VADDR_PRLEN + 2)}} "
        + ("TOTAL ASYNC  SYNC \n" if sync else "TOTAL  READ WRITE \n")
    ]
    for d in devices.disk_io(kernel):
        if nonzero and not d.reads + d.writes:
            continue
        out.append(
            f"{d.major:5d} {d.gendisk:<{VADDR_PRLEN}x}   {d.name:<10} {d.queue:<{max(11, VADDR_PRLEN)}x}   "
            f"{d.reads + d.writes:5d} {d.reads:5d} {d.writes:5d} \n"
        )
    return "".join(out)


def _resources_text(kernel: Kernel, root: str) -> str:
    """crash's ``do_resource_list()`` under one root, after its header."""
    top = kernel.symbol(root)
    width = 8 if kernel.read_u64(top + kernel.offsetof("struct resource", "end")) > 0xFFFF else 4
    out = [f"{mkstring('RESOURCE', VADDR_PRLEN, 'cl')}  {mkstring('RANGE', width * 2 + 1, 'cl')}  NAME\n"]
    wrap = VADDR_PRLEN + 2 + width * 2 + 1 + 2
    for r in devices.resource_tree(kernel, top):
        name = r.name if r.name is not None else "(unknown)"
        head = f"{r.address:8x}  {r.start:0{width}x}-{r.end:0{width}x}"
        if wrap + len(name) <= 80:
            out.append(f"{head}  {name}\n")
            continue
        # crash cuts a long name at the last space that leaves it short enough, the rest indented below.
        excess = wrap + len(name) - 80
        cut = None
        for c, i in enumerate(range(len(name) - 1, 0, -1)):
            if name[i] == " " and c >= excess:
                cut = i
                break
        if cut is None:
            out.append(f"{head}  {name}\n")
        else:
            out.append(f"{head}  {name[:cut]}\n{' ' * wrap}{name[cut + 1 :]}\n")
    return "".join(out)


def io_text(kernel: Kernel) -> str:
    """crash's ``dev -i``: the ``ioport_resource`` tree, a blank line, the ``iomem_resource`` tree."""
    if not (kernel.has_symbol("ioport_resource") and kernel.has_symbol("iomem_resource")):
        return ""
    return _resources_text(kernel, "ioport_resource") + "\n" + _resources_text(kernel, "iomem_resource")


def _pci_dev_line(d: devices.PciDevice) -> str:
    return (
        f"  {d.address:<{VADDR_PRLEN}x} {mkstring(d.name, 12, 'c')} {mkstring(f'{d.pci_class:04x}', 6, 'c')} "
        f"{mkstring(f'{d.vendor:x}:{d.device:x}', 9, 'c')} {mkstring(d.kind, 10, 'c')}\n"
    )


def _devices_text(pcie: bool, bus: devices.PciBus) -> str:
    """crash's ``walk_devices()``."""
    header = f"  {mkstring('PCI DEV', VADDR_PRLEN, 'c')} {mkstring('DO:BU:SL.FN', 12, 'c')} {mkstring('CLASS', 6, 'c')} "
    header += f"{mkstring('PCI_ID', 9, 'c')}"
    header += f" {mkstring('TYPE', 10, 'c')}\n" if pcie else "\n"
    out = [header]
    if bus.bridge is not None:
        out.append(_pci_dev_line(bus.bridge))
    out += [_pci_dev_line(d) for d in bus.devices]
    return "".join(out)


def _buses_text(pcie: bool, bus: devices.PciBus) -> str:
    """crash's ``walk_buses()``: each child bus, its devices, then its own children."""
    out = []
    for child in bus.children:
        out.append(f"  {mkstring('PCI BUS', VADDR_PRLEN, 'c')} {mkstring('PARENT BUS', VADDR_PRLEN, 'c')}\n")
        out.append(f"  {child.address:<{VADDR_PRLEN}x} {child.parent:<{VADDR_PRLEN}x}\n")
        out.append(_devices_text(pcie, child))
        out.append("\n")
        out.append(_buses_text(pcie, child))
    return "".join(out)


def _root_bus_text(pcie: bool, bus: devices.PciBus) -> str:
    """crash's ``do_pci2()`` for one root bus."""
    return (
        f"{mkstring('ROOT BUS', VADDR_PRLEN, 'c')} {mkstring('BUSNAME', 7, 'c')}\n"
        f"{bus.address:<{VADDR_PRLEN}x} {mkstring(bus.name, 7, 'c')}\n"
        + _devices_text(pcie, bus)
        + _buses_text(pcie, bus)
        + "\n"
    )


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [dev]
