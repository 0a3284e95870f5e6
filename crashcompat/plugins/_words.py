"""What the command families that take crash's getopt-style words share: crash's option loop, its number
test and its reply to an unknown symbol."""

from __future__ import annotations

import operator
from collections.abc import Callable

from crashcompat.api import CommandContext, CommandError, GetoptError, Kernel, Symbol
from crashcompat.api.kernel import symbols


class Options:
    """Options read the way crash's ``getopt`` loop reads them: anywhere among the words (GNU getopt
    permutes), clustered (``-ox``), with a value attached or in the next word (``-c3``, ``-c 3``); a lone
    ``-`` is a word; ``--`` ends the options.

    :param spec: getopt's option string (``"xdhc:l:o"``: a letter with ``:`` takes a value).
    :param unsupported: letters crash accepts that these commands do not implement (an error).
    """

    def __init__(self, argv: list[str], spec: str, unsupported: str = "") -> None:
        self.values: dict[str, list[str]] = {}
        self.words: list[str] = []
        i = 0
        while i < len(argv):
            word = argv[i]
            if word == "--":
                self.words += argv[i + 1 :]
                break
            if not word.startswith("-") or word == "-":
                self.words.append(word)
                i += 1
                continue
            j = 1
            while j < len(word):
                letter = word[j]
                at = spec.find(letter)
                if letter in unsupported:
                    raise CommandError(f"option -{letter} is not supported")
                if letter == ":" or at < 0:
                    raise GetoptError(f"invalid option -- '{letter}'")
                if spec[at + 1 : at + 2] == ":":
                    value = word[j + 1 :]
                    if not value:
                        if i + 1 >= len(argv):
                            raise GetoptError(f"option requires an argument -- '{letter}'")
                        i += 1
                        value = argv[i]
                    self.values.setdefault(letter, []).append(value)
                    break
                self.values.setdefault(letter, []).append("")
                j += 1
            i += 1

    def __contains__(self, letter: str) -> bool:
        return letter in self.values

    def value(self, letter: str) -> str | None:
        found = self.values.get(letter)
        return found[-1] if found else None

    def radix(self, session_radix: int) -> int:
        """The output radix of ``-x``/``-h`` (16) or ``-d`` (10), else the session's."""
        hexadecimal = "x" in self or "h" in self
        if hexadecimal and "d" in self:
            raise CommandError("-d and -x are mutually exclusive")
        return 16 if hexadecimal else 10 if "d" in self else session_radix


def symbol_search(kernel: Kernel, name: str) -> Symbol | None:
    """crash's ``symbol_search``: the kernel's or a module's symbol *name*."""
    found = symbols.lookup_all(kernel, name)
    return found[0] if found else None


def is_number(text: str) -> bool:
    """crash's ``IS_A_NUMBER``: decimal digits, or hexadecimal (``0x`` allowed)."""
    t = text.lower()
    if t.startswith("0x"):
        t = t[2:]
    return bool(t) and all(c in "0123456789abcdef" for c in t)


def parse_number(text: str) -> int:
    """crash's ``stol()``: decimal digits are decimal, else hexadecimal (``0x`` allowed)."""
    if text.isdigit():
        return int(text, 10)
    if is_number(text):
        return int(text, 16)
    raise CommandError(f"not a valid number: {text}")


def parse_hex(text: str) -> int:
    """crash's ``htoll()``: hexadecimal, ``0x`` allowed."""
    if is_number(text):
        return int(text, 16)
    body = text[2:] if text.lower().startswith("0x") else text
    raise CommandError(f'invalid input: "{body}"')


#: crash's expression operators (tools.c ``eval_common``): one of them between two operands.
_EVAL_OPERATORS = "#><+-&|*/%^"
_MASK = (1 << 64) - 1
#: What each operator computes (``<`` and ``>`` stand for ``<<`` and ``>>``; ``#`` is crash's power).
_OPERATIONS: dict[str, Callable[[int, int], int]] = {
    "+": operator.add,
    "-": operator.sub,
    "&": operator.and_,
    "|": operator.or_,
    "*": operator.mul,
    "/": operator.floordiv,
    "%": operator.mod,
    "<": lambda a, b: a << (b & 63),
    ">": operator.rshift,
    "^": operator.xor,
    "#": lambda a, b: pow(a, b, 1 << 64),
}


def can_eval(text: str) -> bool:
    """crash's ``can_eval()``: ``(anything)``, or an operator with something on both sides."""
    if (
        text.startswith("(")
        and text.endswith(")")
        and len(text) > 2
        and text.count("(") == text.count(")") == 1
    ):
        return True
    at = _operator_at(text)
    return at is not None and 0 < at < len(text) - 1


def _operator_at(text: str) -> int | None:
    """Where crash's ``strpbrk(text, "><+-&|*/%^")`` finds the first operator (``#`` is not one here)."""
    return next((i for i, c in enumerate(text) if c in _EVAL_OPERATORS[1:]), None)


def leading_operand(text: str) -> str | None:
    """The operand before an expression's first operator, its parentheses left out (``schedule`` of
    ``(schedule+20)``), or ``None`` without an operator."""
    body = text.removeprefix("(").removesuffix(")").strip()
    at = _operator_at(body)
    return body[:at].strip() if at is not None else None


def crash_eval(kernel: Kernel, text: str) -> int:
    """crash's ``eval()``: *text*, or ``(text)``, as ``operand [op operand]``, each operand a symbol or a
    number (decimal digits decimal, else hexadecimal; ``~`` and a ``k``/``m``/``g`` multiplier allowed);
    64-bit unsigned arithmetic.  Raises crash's ``invalid expression`` error."""
    work = text
    if "(" in text or ")" in text:
        if not (text.startswith("(") and text.endswith(")")) or text.index(")") != len(text) - 1:
            raise CommandError(f"invalid expression: {text}")
        work = text[1:-1]
        if "(" in work or ")" in work:
            raise CommandError(f"invalid expression: {text}")
    if work.startswith("-"):
        work = "0" + work
    at = next((i for i, c in enumerate(work) if c in _EVAL_OPERATORS), None)
    try:
        if at is None:
            return _operand(kernel, work)
        op = work[at]
        if op in "<>" and work[at + 1 : at + 2] != op:
            raise ValueError(op)
        left, right = work[:at].strip(), work[at + (2 if op in "<>" else 1) :].strip()
        a, b = _operand(kernel, left), _operand(kernel, right)
        result = _OPERATIONS[op](a, b)
    except (ValueError, ZeroDivisionError):
        raise CommandError(f"invalid expression: {text}") from None
    return result & _MASK


def _operand(kernel: Kernel, text: str) -> int:
    """crash's ``calculate()``: a symbol's value or a number; raises ValueError."""
    found = symbol_search(kernel, text) if text else None
    if found is not None:
        return found.address
    complement = text.startswith("~")
    body = text[1:] if complement else text
    factor = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(body[-1:].lower(), 1)
    if factor > 1:
        body = body[:-1]
    if not is_number(body):
        raise ValueError(text)
    value = (parse_number(body) * factor) & _MASK
    return ~value & _MASK if complement else value


def symbol_not_found(ctx: CommandContext, name: str) -> None:
    """crash's reply to an unknown symbol: the symbols whose names contain it."""
    ctx.write(f"symbol not found: {name}\npossible alternatives:\n")
    found = symbols.search(ctx.kernel, name)
    for s in found:
        suffix = f" [{s.module}]" if s.module is not None else ""
        ctx.write(f"  {s.address:x} ({s.type_char or '?'}) {s.name}{suffix}\n")
    if not found:
        ctx.write("  (none found)\n")
