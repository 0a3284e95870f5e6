"""Each kernel fact and crash rule is written once: this reads the package's source and fails when a second
copy appears (a layout constant, a THREAD_SIZE fallback, a helper re-deriving a fact, crash's header or
error text) outside its home.

Homes: :mod:`crashcompat.core.kernel.layout` (the x86_64 layout, THREAD_SIZE, pt_regs),
:mod:`crashcompat.core.opening` (opening rules, KASLR offset, register notes), :mod:`crashcompat.core.cpuspec`
(crash's CPU lists), :mod:`crashcompat.core.format` (crash's task header) and the Kernel facade
(``__per_cpu_offset``).  ``contrib/lab`` is not scanned: the lab is a separate, standard-library-only
program that must not import crashcompat (it checks crashcompat against crash).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import crashcompat

PACKAGE = Path(crashcompat.__file__).parent
LAYOUT = "core/kernel/layout.py"
OPENING = "core/opening.py"
CPUSPEC = "core/cpuspec.py"
FORMAT = "core/format.py"
KERNEL = "core/kernel/__init__.py"

#: Layout values that must be spelt only in layout.py (the literals other modules used to carry).
LAYOUT_VALUES = {
    0xFFFFFFFF80000000: "__START_KERNEL_map",
    0xFFFFFFFFFF000000: "MODULES_END",
    0xFFFFFFFFC0000000: "MODULES_VADDR with KASLR",
    0xFFFFFFFFA0000000: "MODULES_VADDR without KASLR",
    0xFFFF888000000000: "PAGE_OFFSET (4-level)",
    0xFF11000000000000: "PAGE_OFFSET (5-level)",
    0xFFFFC90000000000: "VMALLOC_START (4-level)",
    0xFFA0000000000000: "VMALLOC_START (5-level)",
    0xFFFFEA0000000000: "VMEMMAP_START (4-level)",
    0xFFD4000000000000: "VMEMMAP_START (5-level)",
    0xFFFFFFFFFF600000: "VSYSCALL_ADDR",
    0xFFFFFE0000000000: "CPU_ENTRY_AREA_BASE",
    0x0000800000000000: "USERSPACE_TOP (4-level)",
    0x0100000000000000: "USERSPACE_TOP (5-level)",
    16384: "THREAD_SIZE / IRQ_STACK_SIZE fallback",
}
#: Names a module may define only in the fact's home.
LAYOUT_NAMES = re.compile(
    r"^_?(START_KERNEL_MAP|MODULES_(VADDR|END)\w*|KERNEL_IMAGE_SIZE\w*|KASLR_WINDOW|THREAD_SIZE\w*"
    r"|IRQ_STACK_SIZE\w*|PAGE_OFFSET_\w+|VMALLOC_\w+|VMEMMAP_\w+|USERSPACE_TOP\w*|PT_REGS_(ORDER|MEMBERS)"
    r"|VSYSCALL_\w+|CPU_ENTRY_AREA_\w+)$"
)
#: Helpers that once existed in several places (with different fallbacks) → their one home.
FUNCTIONS = {
    "thread_size": LAYOUT,
    "modules_range": LAYOUT,
    "kernel_image_size": LAYOUT,
    "pt_regs_offsets": LAYOUT,
    "parse_cpu_spec": CPUSPEC,
    "task_header": FORMAT,
    "kaslr_offset": OPENING,
    "verify_version": OPENING,
    "find_vmlinux": OPENING,
    "vmlinux_candidates": OPENING,
    "check_readable": OPENING,
    "crash_note": OPENING,
    "per_cpu_offset": KERNEL,
}
#: The names the copies had → what replaced them; none may come back.
RETIRED = {
    "_thread_size": "layout.thread_size",
    "_is_vmalloc": "Layout.is_vmalloc_addr",
    "is_vmalloc": "Layout.is_vmalloc_addr",
    "_is_kvaddr": "Layout.is_kvaddr",
    "_userspace_top": "Layout.userspace_top",
    "_parse_cpus": "cpuspec.parse_cpu_spec",
    "_kaslr_offset": "opening.kaslr_offset",
    "offset_from_vmcoreinfo": "opening.kaslr_offset",
    "_check_readable": "opening.check_readable",
    "_crash_note": "opening.crash_note",
    "_banner_release": "opening.banner_release",
    "_dump_vmcoreinfo": "opening.dump_vmcoreinfo",
}
#: String constants only a fact's home reads.
STRINGS = {
    "KERNELOFFSET": OPENING,
    "SYMBOL(_stext)": OPENING,
    "CRASHTIME": OPENING,
    "crash_notes": OPENING,
    "note_buf_t": OPENING,
    "__per_cpu_offset": KERNEL,
    "NUMBER(KERNEL_IMAGE_SIZE)": LAYOUT,
    "NUMBER(pgtable_l5_enabled)": LAYOUT,
    "__pgtable_l5_enabled": LAYOUT,
    "page_offset_base": LAYOUT,
    "vmalloc_base": LAYOUT,
    "vmemmap_base": LAYOUT,
    "union thread_union": LAYOUT,
}
#: crash's texts, by the pattern of their f-string's fixed parts → home.
TEXTS = {
    re.compile(r"PID: .*TASK: .*CPU: .*COMMAND: "): FORMAT,
    re.compile(r"invalid cpu specification"): CPUSPEC,
    re.compile(r"is not a digit 0 - 9"): CPUSPEC,
    re.compile(r" do not match!"): OPENING,
    re.compile(r"cannot find a vmlinux for kernel"): OPENING,
}


def sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _prose(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are prose, not code: docstrings, and the help texts of ``command(...)``
    declarations (their examples show crash's output); they may name a fact without being a copy of it."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "command"
        ):
            out.update(id(inner) for keyword in node.keywords for inner in ast.walk(keyword.value))
    return out


def _text(node: ast.JoinedStr | ast.Constant) -> str:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    return "\x00".join(
        v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
    )


def test_every_fact_has_one_home() -> None:
    found: list[str] = []
    seen_functions: dict[str, list[str]] = {}
    for name, tree in sources():
        docs = _prose(tree)
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Constant) and id(node) not in docs:
                value = node.value
                if type(value) is int and value in LAYOUT_VALUES and name != LAYOUT:
                    found.append(f"{where}: {LAYOUT_VALUES[value]} ({value:#x}) belongs in {LAYOUT}")
                if isinstance(value, str) and value in STRINGS and name != STRINGS[value]:
                    found.append(f"{where}: {value!r} is read in {STRINGS[value]}")
            if isinstance(node, (ast.Constant, ast.JoinedStr)) and id(node) not in docs:
                text = _text(node).replace("\x00", " ")
                for pattern, home in TEXTS.items():
                    if pattern.search(text) and name != home:
                        found.append(f"{where}: crash's text {pattern.pattern!r} belongs in {home}")
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = [e for t in node.targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and LAYOUT_NAMES.match(target.id) and name != LAYOUT:
                    found.append(f"{where}: {target.id} is defined in {LAYOUT}")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name in FUNCTIONS:
                    seen_functions.setdefault(node.name, []).append(where)
                    if name != FUNCTIONS[node.name]:
                        found.append(f"{where}: {node.name}() belongs in {FUNCTIONS[node.name]}")
                if node.name in RETIRED:
                    found.append(f"{where}: {node.name}() is a second copy of {RETIRED[node.name]}")
    for function, places in seen_functions.items():
        if len(places) > 1:
            found.append(f"{function}() is defined {len(places)} times: {', '.join(places)}")
    assert not found, "\n".join(found)


def test_the_homes_define_their_facts() -> None:
    """The scan above looks for the right names: each home holds what it claims."""
    from crashcompat.core import cpuspec, format, opening
    from crashcompat.core.kernel import layout

    assert layout.START_KERNEL_MAP == 0xFFFFFFFF80000000 and layout.MODULES_END == 0xFFFFFFFFFF000000
    assert layout.THREAD_SIZE_DEFAULT == 16384
    for function, home in FUNCTIONS.items():
        if home != KERNEL:
            module = {LAYOUT: layout, OPENING: opening, CPUSPEC: cpuspec, FORMAT: format}[home]
            assert callable(getattr(module, function)), function
