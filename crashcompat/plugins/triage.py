"""``triage``: the first answer from a dump — its crash class, the task and the culprit function, the kernel,
the panic sysctls, the trace, what was blocked, every task's stack folded into groups, the log's reports
and a signature for grouping dumps of the same bug.

The model is :mod:`crashcompat.api.kernel.triage`; this module parses the options and prints its report
or its JSON (docs/triage.md).
"""

from __future__ import annotations

import json

from crashcompat.api import Command, CommandContext, Option, command, hookimpl
from crashcompat.api.kernel import triage as _triage


@command(
    "triage",
    summary="summarise a dump as a short bug report",
    synopsis="triage [-j] [-m directory]...",
    description="""
    Answers the first questions about a crash in one go: what kind of crash it was (oops, BUG, panic,
    sysrq, soft or hard lockup, hung task, RCU stall, out of memory, warning with panic_on_warn, KASAN,
    KFENCE, machine check), which task crashed and in which function, module and source line (the
    culprit: the first frame of the crashed task that is not the kernel's own crash, report, trap or
    watchdog code), the kernel release, uptime, taints with their meanings and the panic sysctls.  Then
    the crashed task's trace, the tasks blocked in D state, every task grouped by identical stack
    (function names only, the largest group first) and the reports found in the kernel log.

    The signature is a short hash of the class, the culprit's module and its function, with no address
    in it: dumps of the same bug share it across boots and builds.  The culprit module's debug
    information is loaded, as "mod -s" would load it, when its object file is found.
    """,
    arguments=[
        Option(
            "-j",
            dest="json",
            aliases=("--json",),
            help="print the result as one JSON object instead of the report (the keys are described in "
            "docs/triage.md).",
        ),
        Option(
            "-m",
            "directory",
            dest="module_dirs",
            action="append",
            default=[],
            help="also look for module object files under this directory (may be repeated).",
        ),
    ],
    examples="""
    The report of a dump:

      crash> triage

    The same as JSON, into a file:

      crash> triage -j > triage.json
    """,
    targets=("dump",),
)
def triage(ctx: CommandContext) -> None:
    result = _triage.triage(ctx.kernel, module_search=ctx.args.module_dirs)
    if ctx.args.json:
        ctx.write(json.dumps(result, indent=1) + "\n")
    else:
        ctx.write(_triage.render(result))


@hookimpl
def crashcompat_commands() -> list[Command]:
    return [triage]
