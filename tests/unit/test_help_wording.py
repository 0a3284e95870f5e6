"""Our help pages are in our own words: no sentence of 50 characters or more is one of crash's.

crash's help text is not kept in this repository.  It is read at test time from the crash binary on the
host (Debian's ``crash`` package, installed by ``make deps``), where help.c's pages are string constants,
one per line of a page, stored one after another.  Both sides are compared case-insensitively with
whitespace collapsed, split into sentences (and clauses: ``;`` and ``:`` end one too):

* no sentence of ours occurs in crash's text, and
* no sentence of crash's occurs in our text (which catches a copied sentence inside a longer one of ours).

``CRASHCOMPAT_CRASH=/path/to/crash`` chooses another binary.  Without one the test skips, or fails under
``CRASHCOMPAT_REQUIRE_LAB=1``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from crashcompat.core.command import Command
from crashcompat.core.plugins import PluginHost

#: Sentences shorter than this may match by chance ("display the task's state.").
MIN_LENGTH = 50

_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_STOPS = ".!?;:"
_OPTION_LABEL = re.compile(r"^(-\w+ )+")


def crash_binary() -> Path | None:
    """``$CRASHCOMPAT_CRASH``, else the ``crash`` on ``PATH``, else Debian's ``/usr/bin/crash``."""
    found = os.environ.get("CRASHCOMPAT_CRASH") or shutil.which("crash") or "/usr/bin/crash"
    return Path(found) if Path(found).is_file() else None


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def sentences(text: str) -> list[str]:
    """The sentences and clauses of *text* (normalised) that are at least :data:`MIN_LENGTH` long, without
    the option letters of a help line that run into the first one (``-t display ...``)."""
    split = (_OPTION_LABEL.sub("", s) for s in _SENTENCE_END.split(normalise(text)))
    return [s for s in split if len(s) >= MIN_LENGTH]


@functools.cache
def crash_text(path: Path) -> str:
    """Every printable string constant of the binary, in file order, joined by spaces and normalised;
    consecutive lines of a help page join into its running text."""
    runs = _PRINTABLE_RUN.findall(path.read_bytes())
    return normalise(" ".join(run.decode("ascii") for run in runs))


def copied(ours: Iterable[str], theirs: str) -> list[str]:
    """The sentences shared by our texts and crash's: ours found in crash's text, and crash's (without
    their final stop) found in ours."""
    our_text = " | ".join(normalise(text) for text in ours)
    found = {s for text in ours for s in sentences(text) if s in theirs}
    found |= {s for s in set(sentences(theirs)) if s.rstrip(_STOPS) in our_text}
    return sorted({s.rstrip(_STOPS) for s in found})


def help_texts(cmd: Command) -> list[str]:
    """Every piece of prose a command's help page is made of, and the page itself."""
    pieces = [cmd.summary, cmd.description, cmd.examples, cmd.help_text()]
    return pieces + [declared.help for declared in cmd.arguments]


def all_commands() -> list[Command]:
    """The commands of every plugin installed with crashcompat (the built-in families and panicinfo)."""
    host = PluginHost()
    host.load()
    return [cmd for _, cmd in host.hooks.commands()]


@pytest.fixture(scope="module")
def crash() -> str:
    path = crash_binary()
    if path is None:
        reason = "no crash binary on this host (make deps installs it)"
        if os.environ.get("CRASHCOMPAT_REQUIRE_LAB") == "1":
            pytest.fail(f"crash required (CRASHCOMPAT_REQUIRE_LAB=1): {reason}", pytrace=False)
        pytest.skip(reason)
    text = crash_text(path)
    # The binary must really hold crash's help pages, or the comparison proves nothing: their examples'
    # command lines start with the prompt as a format, "%s> ".
    assert text.count("%s> ") > 100, f"{path}: no help pages found"
    assert len(sentences(text)) > 1000, f"{path}: too little text to be crash"
    return text


def test_no_help_sentence_is_crashs(crash: str) -> None:
    texts = [text for cmd in all_commands() for text in help_texts(cmd)]
    found = copied(texts, crash)
    assert not found, "help sentences copied from crash (rewrite them):\n" + "\n".join(found)


def test_a_copied_sentence_is_caught(crash: str) -> None:
    """The check finds a sentence of crash's help put into a page of ours, alone or inside a sentence."""
    theirs = [s for s in sentences(crash) if "log_buf" in s and s.endswith(".")]
    assert theirs, "crash's log page not found in the binary"
    sentence = theirs[0].rstrip(".")
    assert copied([f"Our own words.  {sentence}.  More of ours."], crash) == [sentence]
    assert copied([f"Our own words, then {sentence} and more."], crash) == [sentence]
    assert (
        copied(["Prints every record of the kernel's printk log, oldest first, with its time."], crash) == []
    )
