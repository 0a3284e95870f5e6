"""``panicinfo``: how the dumped kernel was set to react to oopses, lockups and panics.

Everything is read from kernel globals (kernel/panic.c, kernel/watchdog.c, kernel/hung_task.c,
kernel/kexec_core.c), so it works on any crashcompat backend.
"""

from __future__ import annotations

from crashcompat.api import Command, CommandContext, Kernel, command, hookimpl
from crashcompat.api.kernel.system import PanicPolicy, panic_policy


def read_policy(kernel: Kernel) -> PanicPolicy:
    """Read the panic policy globals (the kernel model's :func:`~crashcompat.api.kernel.system.panic_policy`)."""
    return panic_policy(kernel)


def _fmt(value: int | None, meaning: str = "") -> str:
    if value is None:
        return "(not configured)"
    return f"{value}{f'  ({meaning})' if meaning else ''}"


def _timeout_meaning(value: int | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "wait forever"
    if value < 0:
        return "reboot immediately"
    return f"reboot after {value} seconds"


def render(policy: PanicPolicy) -> str:
    def yes_no(v: int | None) -> str:
        return "" if v is None else ("yes" if v else "no")

    rows = [
        ("PANIC TIMEOUT", _fmt(policy.panic_timeout, _timeout_meaning(policy.panic_timeout))),
        ("PANIC ON OOPS", _fmt(policy.panic_on_oops, yes_no(policy.panic_on_oops))),
        ("PANIC ON WARN", _fmt(policy.panic_on_warn, yes_no(policy.panic_on_warn))),
        ("SOFTLOCKUP PANIC", _fmt(policy.softlockup_panic, yes_no(policy.softlockup_panic))),
        ("HUNG TASK TIMEOUT", _fmt(policy.hung_task_timeout_secs, "seconds")),
        ("HUNG TASK PANIC", _fmt(policy.hung_task_panic, yes_no(policy.hung_task_panic))),
    ]
    if policy.crash_kernel_loaded is None:
        loaded = "(not configured)"
    else:
        loaded = "yes" if policy.crash_kernel_loaded else "no"
    rows.append(("CRASH KERNEL", loaded))
    if policy.crashkernel is None:
        rows.append(("CRASHKERNEL", "(none reserved)"))
    else:
        start, end = policy.crashkernel
        size = end - start + 1
        rows.append(("CRASHKERNEL", f"{start:x}-{end:x}  ({size >> 20} MB)"))
    width = max(len(name) for name, _ in rows)
    return "".join(f"{name.rjust(width)}: {value}\n" for name, value in rows)


@command(
    "panicinfo",
    summary="panic policy of the dumped kernel",
    synopsis="panicinfo",
    description="""
    Displays how the kernel was configured to react to failures: kernel.panic (panic_timeout),
    kernel.panic_on_oops, kernel.panic_on_warn, kernel.softlockup_panic,
    kernel.hung_task_timeout_secs and kernel.hung_task_panic, whether a crash (kdump) kernel was
    loaded with kexec -p, and the crashkernel= memory reservation.
    """,
)
def panicinfo(ctx: CommandContext) -> None:
    ctx.write(render(read_policy(ctx.kernel)))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [panicinfo]
