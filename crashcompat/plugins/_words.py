"""What the command families that take crash's getopt-style words share: crash's option loop, its number
test and its reply to an unknown symbol."""

from __future__ import annotations

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


def symbol_not_found(ctx: CommandContext, name: str) -> None:
    """crash's reply to an unknown symbol: the symbols whose names contain it."""
    ctx.write(f"symbol not found: {name}\npossible alternatives:\n")
    found = symbols.search(ctx.kernel, name)
    for s in found:
        suffix = f" [{s.module}]" if s.module is not None else ""
        ctx.write(f"  {s.address:x} ({s.type_char or '?'}) {s.name}{suffix}\n")
    if not found:
        ctx.write("  (none found)\n")
