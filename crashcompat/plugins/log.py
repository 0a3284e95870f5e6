"""``log``: the kernel message buffer (kernel.c ``cmd_log``, printk.c ``dump_lockless_record_log``)."""

from __future__ import annotations

from crashcompat.api import (
    Command,
    CommandContext,
    FaultError,
    Option,
    SymbolNotFound,
    TypeNotFound,
    command,
    hookimpl,
)
from crashcompat.api.kernel import printk, system


@command(
    "log",
    summary="print the kernel's message log",
    synopsis="log [-Ttdmasc]",
    description="""
    Prints every record of the kernel's printk log, oldest first, each preceded by its time since boot
    in seconds.  Both record layouts are read: the lockless printk_ringbuffer of Linux 5.10 onwards and
    the variable-length log_buf records that Linux 3.5 to 5.9 used.  A message of several lines has its
    continuation lines indented under its text.
    """,
    arguments=[
        Option(
            "-T",
            help="print each record's time as a calendar date and time instead of seconds since boot.  The "
            "date is estimated: the dump's date minus the uptime gives the boot time, and each record's "
            "seconds are added to it, shown in the local time zone.",
        ),
        Option("-t", help="leave the time prefix out and print the message text alone."),
        Option(
            "-d",
            help="after each message, print the key=value lines attached to it (the SUBSYSTEM= and DEVICE= "
            "fields that dev_printk() adds, for instance), indented under the text.",
        ),
        Option("-m", help="print each message's log level (0 to 7) between angle brackets before its text."),
        Option(
            "-a",
            help="instead of the log, print the audit records still queued in the kernel and not yet read "
            'by auditd, one "type=N text" line each.',
        ),
        Option(
            "-s",
            help="the per-CPU printk_safe buffers of kernels 4.11 to 5.14 are not read: with such a kernel "
            "-s stops with an error saying so, with any other kernel it prints nothing.",
        ),
        Option(
            "-c",
            help="print the origin of each message in brackets: T and the id of the thread that logged it, "
            "or C and the CPU number when it was logged outside task context (in an interrupt, say).  Kernels that record no caller "
            "(older than 5.10 and built without CONFIG_PRINTK_CALLER) show T0.",
        ),
    ],
    examples="""
    The whole log:

      crash> log
      [    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) ...
      [    0.000000] Command line: console=ttyS0,115200 ...

    The same records with their log levels:

      crash> log -m
      [    0.000000] <5>Linux version 6.1.0-56-cloud-amd64 ...
    """,
)
def log(ctx: CommandContext) -> None:
    args = ctx.args
    kernel = ctx.kernel
    if args.a:
        _audit(ctx)
        return
    if args.s:
        # crash 8.0.2 dump_printk_safe_seq_buf(): nothing to show unless the kernel has the printk_safe
        # per-CPU buffers (4.11 to 5.14); those are not modelled.
        if kernel.has_member("struct printk_safe_seq_buf", "buffer"):
            ctx.error("-s not supported with this kernel version")
        return
    boot_time = 0
    if args.T:
        boot_time = system.date(kernel) - system.uptime_jiffies(kernel) // system.hz(kernel)
    try:
        text = printk.render(
            kernel,
            show_time=not args.t,
            human_time=args.T,
            boot_time=boot_time,
            show_level=args.m,
            show_dict=args.d,
            show_caller=args.c,
        )
    except printk.LogError as e:
        ctx.write("\n")
        ctx.warning(str(e))
        return
    ctx.write(text)


def _audit(ctx: CommandContext) -> None:
    """crash's ``dump_audit()``: ``type=%u %s`` per queued audit message."""
    try:
        queued = printk.audit_records(ctx.kernel)
    except (SymbolNotFound, TypeNotFound):
        ctx.error("-a option not supported or applicable on this architecture or kernel")
    except FaultError as e:
        ctx.error(f'invalid kernel virtual address: {e.address:x}  type: "sk_buff"')
    for kind, message in queued:
        ctx.write(f"type={kind} {message}\n")
    if not queued:
        ctx.error("kernel audit log is empty")


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [log]
