"""``log``: the kernel message buffer (kernel.c ``cmd_log``, printk.c ``dump_lockless_record_log``)."""

from __future__ import annotations

from crashcompat.api import (
    Command,
    CommandContext,
    CrashArgumentParser,
    FaultError,
    SymbolNotFound,
    TypeNotFound,
    command,
    hookimpl,
)
from crashcompat.api.kernel import printk, system


def _arguments(parser: CrashArgumentParser) -> None:
    for flag in ("-T", "-t", "-d", "-m", "-a", "-s", "-c"):
        parser.add_argument(flag, action="store_true", dest=flag[1])


@command(
    "log",
    summary="dump system message buffer",
    synopsis="log [-Ttdmasc]",
    description="""
    This command dumps the kernel log_buf contents in chronological order.  The command supports the
    older log_buf formats, which may or may not contain a timestamp inserted prior to each message, as
    well as the newer variable-length record format, where the timestamp is contained in each log
    entry's header, and the lockless ring buffer of Linux 5.10 and later.
    """,
    options=[
        (
            "-T",
            "Display the message text with human readable timestamp.  (Be aware that the timestamp could "
            "be inaccurate: it is computed from the kernel's uptime and the date of the dump.)",
        ),
        (
            "-t",
            "Display the message text without the timestamp; only applicable to the variable-length "
            "record format.",
        ),
        (
            "-d",
            "Display the dictionary of key/value pair properties that are optionally appended to a "
            "message by the kernel's dev_printk() function; only applicable to the variable-length "
            "record format.",
        ),
        (
            "-m",
            "Display the message log level in brackets preceding each message.  For the "
            "variable-length record format, the level will be displayed in hexadecimal.",
        ),
        (
            "-a",
            "Dump the audit logs remaining in kernel audit buffers that have not been copied out to "
            "the user-space audit daemon.",
        ),
        (
            "-s",
            "Dump the printk logs remaining in kernel safe per-CPU buffers that have not been flushed "
            "out to log_buf.",
        ),
        (
            "-c",
            "Display the caller id field that identifies either the thread id or the CPU id (if in "
            "CPU context) that called printk(), if available.  Generally available on Linux 5.1 to "
            "5.9 kernels configured with CONFIG_PRINTK_CALLER or Linux 5.10 and later kernels.",
        ),
    ],
    examples="""
    Dump the kernel message buffer:

      crash> log
      [    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) ...
      [    0.000000] Command line: console=ttyS0,115200 ...

    Display the message log level in brackets preceding each message:

      crash> log -m
      [    0.000000] <5>Linux version 6.1.0-56-cloud-amd64 ...
    """,
    arguments=_arguments,
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
