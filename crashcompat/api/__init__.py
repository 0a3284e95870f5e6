"""The crashcompat plugin API: everything a command family needs, and the only module a plugin imports.

A plugin (a built-in family under ``crashcompat/plugins/`` or a third-party package found through the
``crashcompat.plugins`` entry-point group) imports this module, :mod:`crashcompat.api.kernel` for the
kernel model, the standard library and its own modules — never ``crashcompat.core`` or a backend.
These names are the stable surface: they keep their meaning across releases, and what is not listed
in ``__all__`` here may change without notice.  import-linter checks that the built-in plugins keep
to it (``make lint``).

::

    from crashcompat.api import Command, CommandContext, command, hookimpl
    from crashcompat.api.kernel import tasks

    @command("hello", summary="greet every task", synopsis="hello")
    def hello(ctx: CommandContext) -> None:
        for task in tasks.for_each_task(ctx.kernel):
            ctx.write(f"hello {task.comm}\\n")

    @hookimpl
    def crashcompat_commands() -> list[Command]:
        return [hello]

What is here:

- plugin machinery: :data:`hookimpl` (pluggy's marker for ``crashcompat_*`` hooks), the hook argument
  type :class:`Session` and :class:`SessionExit`;
- commands: the :func:`command` decorator, :class:`Command`, :class:`CommandContext`, the option and
  positional declarations :class:`Option` and :class:`Argument`, the argument parser type
  :class:`CrashArgumentParser` and the errors :class:`CommandError`,
  :class:`CommandArgumentError`, :class:`GetoptError`; number parsing (:func:`parse_int`,
  :func:`parse_address`);
- the kernel: the :class:`Kernel` facade and struct access (:class:`Struct`); the model's modules are
  in :mod:`crashcompat.api.kernel`;
- the target: :class:`Target` (for type hints: ``ctx.target``), :class:`Symbol` and its kinds, and the
  errors every read may raise — :class:`TargetError` and its :class:`FaultError`,
  :class:`SymbolNotFound`, :class:`TypeNotFound`;
- crash's text primitives: :func:`mkstring`, :func:`hexadecimal`, :func:`pages_to_size`,
  :data:`VADDR_PRLEN`, the task header of ``bt`` and ``set`` (:func:`task_header`), and crash's CPU lists
  (:func:`parse_cpu_spec`, :class:`CpuSpecError`, ``bt -c 0,2-3``);
- ELF files on disk (a module's ``.ko``): :class:`ElfFile`, :class:`ElfError`;
- C types and values, printed the way crash shows them (``struct``, ``p``, ``whatis``): the type model
  (:class:`CType`, :class:`CMember`, :class:`TypeKind`, :func:`type_name`; ``ctx.kernel.type_info(name)``
  and ``ctx.kernel.variable_type(name)``), C expressions (:func:`evaluate`, :class:`CValue`,
  :class:`ExpressionError`), GDB's value printer (:class:`ValuePrinter`, :class:`PrintOptions`) and crash's
  displays built on them (:class:`DataPrinter`, :class:`MemberReferenceError`).
"""

from __future__ import annotations

from crashcompat import __version__, hookimpl
from crashcompat.api import kernel
from crashcompat.core.cexpr import CValue, ExpressionError, evaluate
from crashcompat.core.command import (
    Argument,
    Command,
    CommandArgumentError,
    CommandContext,
    CommandError,
    CrashArgumentParser,
    GetoptError,
    Handler,
    Option,
    command,
    parse_address,
    parse_int,
)
from crashcompat.core.cpuspec import CpuSpecError, parse_cpu_spec
from crashcompat.core.dataprint import DataPrinter, MemberReferenceError
from crashcompat.core.elf import ElfError, ElfFile
from crashcompat.core.format import (
    NR_CPUS,
    VADDR_PRLEN,
    hexadecimal,
    mkstring,
    pages_to_size,
    task_header,
    translate_nanoseconds,
)
from crashcompat.core.kernel import Kernel, Struct
from crashcompat.core.session import Session, SessionExit
from crashcompat.core.target import (
    FaultError,
    Symbol,
    SymbolBinding,
    SymbolKind,
    SymbolNotFound,
    Target,
    TargetError,
    TypeNotFound,
)
from crashcompat.core.typeinfo import CMember, CType, TypeKind, declaration, type_name
from crashcompat.core.values import PrintOptions, ValuePrinter

__all__ = [
    "NR_CPUS",
    "VADDR_PRLEN",
    "Argument",
    "CMember",
    "CType",
    "CValue",
    "Command",
    "CommandArgumentError",
    "CommandContext",
    "CommandError",
    "CpuSpecError",
    "CrashArgumentParser",
    "DataPrinter",
    "ElfError",
    "ElfFile",
    "ExpressionError",
    "FaultError",
    "GetoptError",
    "Handler",
    "Kernel",
    "MemberReferenceError",
    "Option",
    "PrintOptions",
    "Session",
    "SessionExit",
    "Struct",
    "Symbol",
    "SymbolBinding",
    "SymbolKind",
    "SymbolNotFound",
    "Target",
    "TargetError",
    "TypeKind",
    "TypeNotFound",
    "ValuePrinter",
    "__version__",
    "command",
    "declaration",
    "evaluate",
    "hexadecimal",
    "hookimpl",
    "kernel",
    "mkstring",
    "pages_to_size",
    "parse_address",
    "parse_cpu_spec",
    "parse_int",
    "task_header",
    "translate_nanoseconds",
    "type_name",
]
