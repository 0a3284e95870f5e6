"""A small x86-64 instruction decoder: instruction lengths, plus the few instruction kinds crash's
``bt`` looks at when it sizes a stack frame by disassembling a function.

crash (x86_64.c ``x86_64_get_framesize``) falls back to disassembling a function from its start to a
return address when ORC cannot size the frame, and adds up what gdb prints: every ``push*`` adds 8,
every ``pop*``/``leaveq`` takes 8 away, ``add $N,%rsp``/``sub $N,%rsp`` move it by N, and a ``retq``
restores the largest size seen.  To compute the same numbers we only need to walk instructions
exactly (their lengths) and to recognise those kinds, *as gdb would print them*: a prefix gdb shows
as a separate word (``lock``, ``repz``, ``cs``, ``rex.W`` …) makes the first word something else, and
``popcnt`` starts with ``pop``.

:func:`decode` handles the one-byte, ``0F``, ``0F 38`` and ``0F 3A`` maps, VEX, EVEX and XOP, all
ModRM/SIB/displacement forms and immediates, in 64-bit mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """What crash's framesize code sees in gdb's first word (and operands) of an instruction."""

    OTHER = "other"
    PUSH = "push"  # push, pushq, pushfq, push %fs …
    POP = "pop"  # pop, popq, popfq, and popcnt (crash matches the "pop" prefix)
    LEAVE = "leave"
    RET = "ret"  # retq / retq $N (not lret, not "repz retq")
    CALL = "call"  # callq rel32 or callq *r/m
    ADD_RSP = "add_rsp"  # add $imm,%rsp
    SUB_RSP = "sub_rsp"  # sub $imm,%rsp
    AND_RSP = "and_rsp"  # and $imm,%rsp
    BAD = "bad"  # gdb's "(bad)": an undefined or truncated encoding (one byte consumed)


@dataclass(frozen=True)
class Insn:
    """One decoded instruction.

    :param length: its length in bytes.
    :param kind: see :class:`Kind`.
    :param imm: for ``ADD_RSP``/``SUB_RSP``/``AND_RSP`` the immediate as gdb prints it (sign-extended
        to 64 bits, unsigned); for ``CALL`` with a rel32 operand, the displacement (signed); else 0.
    """

    length: int
    kind: Kind
    imm: int = 0


_BAD = Insn(1, Kind.BAD)

_LEGACY_PREFIXES = frozenset((0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x66, 0x67))
_SEGMENT_PREFIXES = frozenset((0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65))


def _bits(spec: str) -> frozenset[int]:
    """Opcodes from ``"00-03 08-0b 62"``."""
    out: set[int] = set()
    for part in spec.split():
        lo, _, hi = part.partition("-")
        out.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(out)


# ---- one-byte map (64-bit mode) ---------------------------------------------------------------------------

_ONE_MODRM = _bits(
    "00-03 08-0b 10-13 18-1b 20-23 28-2b 30-33 38-3b 63 69 6b 80-81 83-8f c0-c1 c4-c7 d0-d3 d8-df f6-f7 fe-ff"
)
_ONE_IMM8 = _bits("04 0c 14 1c 24 2c 34 3c 6a 6b 70-7f 80 83 a8 b0-b7 c0 c1 c6 cd e0-e7 eb")
_ONE_IMMZ = _bits("05 0d 15 1d 25 2d 35 3d 68 69 81 a9 c7")
_ONE_INVALID = _bits("06 07 0e 16 17 1e 1f 27 2f 37 3f 60 61 82 9a ce d4 d5 d6 ea")

# ---- 0F map ---------------------------------------------------------------------------------------------

_TWO_NO_MODRM = _bits("05-0b 0e 30-37 77 80-8f a0-a2 a8-aa c8-cf")
_TWO_IMM8 = _bits("70-73 a4 ac ba c2 c4-c6")
_TWO_INVALID = _bits("04 0a 0c 24-27 36 39 3b-3f a6 a7")
#: ``mov`` to/from control and debug registers: the ModRM always names registers (mod is ignored).
_TWO_REG_ONLY = _bits("20-23")


def decode(code: bytes, pos: int = 0) -> Insn:
    """Decode the instruction at ``code[pos:]``.

    Encodings that are undefined in 64-bit mode, or cut short by the end of *code*, decode as
    ``Kind.BAD`` with length 1, as gdb's ``(bad)``.
    """
    try:
        return _decode(code, pos)
    except IndexError:
        return _BAD


def _decode(code: bytes, pos: int) -> Insn:
    start = pos
    prefixes: list[int] = []
    while code[pos] in _LEGACY_PREFIXES:
        prefixes.append(code[pos])
        pos += 1
        if pos - start > 14:
            return _BAD
    rex = 0
    if 0x40 <= code[pos] <= 0x4F:
        rex = code[pos]
        pos += 1
    opsize16 = 0x66 in prefixes and not rex & 8
    addr32 = 0x67 in prefixes
    op = code[pos]
    pos += 1

    if op == 0x0F:
        return _decode_0f(code, start, pos, prefixes, rex)
    if op in (0xC4, 0xC5, 0x62) or (op == 0x8F and code[pos] & 0x1F >= 8):
        if rex or any(p in (0x66, 0xF2, 0xF3, 0xF0) for p in prefixes):
            return _BAD
        return _decode_vex(code, start, pos, op)
    if op in _ONE_INVALID:
        return _BAD

    imm = 0
    if op in _ONE_IMM8:
        imm = 1
    elif op in _ONE_IMMZ:
        imm = 2 if opsize16 else 4
    elif op in (0xE8, 0xE9):
        imm = 4
    elif 0xB8 <= op <= 0xBF:
        imm = 8 if rex & 8 else 2 if opsize16 else 4
    elif op in (0xC2, 0xCA):
        imm = 2
    elif op == 0xC8:
        imm = 3
    elif 0xA0 <= op <= 0xA3:
        imm = 4 if addr32 else 8

    modrm_at = pos
    has_memory = 0xA0 <= op <= 0xA3
    if op in _ONE_MODRM:
        modrm = code[pos]
        if op in (0xF6, 0xF7) and (modrm >> 3) & 7 in (0, 1):
            imm = 1 if op == 0xF6 else 2 if opsize16 else 4
        pos, has_memory = _skip_modrm(code, pos)
    end = pos + imm
    if end > len(code):
        return _BAD

    kind, value = _classify_one(code, op, modrm_at, pos, end, prefixes, rex, has_memory)
    return Insn(end - start, kind, value)


def _decode_0f(code: bytes, start: int, pos: int, prefixes: list[int], rex: int) -> Insn:
    op = code[pos]
    pos += 1
    if op == 0x38:
        code[pos]  # the third opcode byte must exist (IndexError → BAD)
        pos, _ = _skip_modrm(code, pos + 1)
        return Insn(pos - start, Kind.OTHER) if pos <= len(code) else _BAD
    if op == 0x3A:
        pos, _ = _skip_modrm(code, pos + 1)
        return Insn(pos + 1 - start, Kind.OTHER) if pos + 1 <= len(code) else _BAD
    if op == 0x0F:  # 3DNow!: ModRM, then the real opcode as an 8-bit suffix
        pos, _ = _skip_modrm(code, pos)
        return Insn(pos + 1 - start, Kind.OTHER) if pos + 1 <= len(code) else _BAD
    if op in _TWO_INVALID:
        return _BAD
    if op in _TWO_NO_MODRM:
        end = pos + (4 if 0x80 <= op <= 0x8F else 0)
        if end > len(code):
            return _BAD
        kind = Kind.OTHER
        if op in (0xA0, 0xA8) and _plain(prefixes, rex, False):
            kind = Kind.PUSH
        elif op in (0xA1, 0xA9) and _plain(prefixes, rex, False):
            kind = Kind.POP
        return Insn(end - start, kind)
    if op in _TWO_REG_ONLY:
        pos += 1
    else:
        pos, _ = _skip_modrm(code, pos)
    end = pos + (1 if op in _TWO_IMM8 else 0)
    if end > len(code):
        return _BAD
    # popcnt: F3 0F B8 /r, printed "popcnt" — crash's "pop" prefix match counts it as a pop.
    if op == 0xB8 and 0xF3 in prefixes and not {0xF0, 0xF2} & set(prefixes):
        return Insn(end - start, Kind.POP)
    return Insn(end - start, Kind.OTHER)


def _decode_vex(code: bytes, start: int, pos: int, op: int) -> Insn:
    if op == 0xC5:  # 2-byte VEX: map 0F
        pos += 1
        mmap = 1
    elif op == 0x62:  # EVEX: P0 P1 P2
        mmap = code[pos] & 0x07
        pos += 3
    else:  # 3-byte VEX (C4) or XOP (8F)
        mmap = code[pos] & 0x1F
        pos += 2
    opcode = code[pos]
    pos += 1
    if op == 0x8F:  # XOP maps 8 (imm8), 9 (none), 10 (imm32)
        pos, _ = _skip_modrm(code, pos)
        imm = {8: 1, 9: 0, 10: 4}.get(mmap)
        if imm is None:
            return _BAD
    else:
        if mmap not in (1, 2, 3, 5, 6):
            return _BAD
        if mmap == 1 and opcode == 0x77 and op != 0x62:  # vzeroupper / vzeroall
            return Insn(pos - start, Kind.OTHER)
        pos, _ = _skip_modrm(code, pos)
        imm = 1 if mmap == 3 or (mmap == 1 and opcode in _TWO_IMM8) else 0
    end = pos + imm
    return Insn(end - start, Kind.OTHER) if end <= len(code) else _BAD


def _skip_modrm(code: bytes, pos: int) -> tuple[int, bool]:
    """Step over a ModRM byte and its SIB and displacement; returns (new position, memory operand?)."""
    modrm = code[pos]
    pos += 1
    mod, rm = modrm >> 6, modrm & 7
    if mod == 3:
        return pos, False
    if rm == 4:
        sib = code[pos]
        pos += 1
        if mod == 0 and sib & 7 == 5:
            pos += 4
    elif mod == 0 and rm == 5:
        pos += 4  # RIP-relative
    if mod == 1:
        pos += 1
    elif mod == 2:
        pos += 4
    return pos, True


def _plain(prefixes: list[int], rex: int, has_memory: bool, rex_ok: int = 0x01) -> bool:
    """Whether gdb prints the mnemonic as the first word: no ``lock``/``rep*``/``bnd`` prefix, no segment
    override it would print as a word (one without a memory operand), no ``addr32``/``data16`` word,
    and no REX bits the instruction leaves unused (``rex.W`` …) beyond *rex_ok*."""
    for p in prefixes:
        if p in (0xF0, 0xF2, 0xF3, 0x67):
            return False
        if p in _SEGMENT_PREFIXES and not has_memory:
            return False
    if prefixes.count(0x66) > 1:
        return False
    return not rex & 0x0F & ~rex_ok


def _classify_one(
    code: bytes,
    op: int,
    modrm_at: int,
    imm_at: int,
    end: int,
    prefixes: list[int],
    rex: int,
    has_memory: bool,
) -> tuple[Kind, int]:
    """Kind of a one-byte-map instruction as crash's string matching on gdb's output sees it."""
    if 0x50 <= op <= 0x57 or op in (0x68, 0x6A, 0x9C):
        return (Kind.PUSH if _plain(prefixes, rex, False) else Kind.OTHER), 0
    if 0x58 <= op <= 0x5F or op == 0x9D:
        return (Kind.POP if _plain(prefixes, rex, False) else Kind.OTHER), 0
    if op in (0xC3, 0xC2):
        return (Kind.RET if _plain(prefixes, rex, False, 0) and 0x66 not in prefixes else Kind.OTHER), 0
    if op == 0xC9:
        return (Kind.LEAVE if _plain(prefixes, rex, False, 0) and 0x66 not in prefixes else Kind.OTHER), 0
    if op == 0xE8:
        if _plain(prefixes, rex, False, 0) and 0x66 not in prefixes:
            return Kind.CALL, int.from_bytes(code[imm_at:end], "little", signed=True)
        return Kind.OTHER, 0
    modrm = code[modrm_at] if op in _ONE_MODRM else 0
    reg = (modrm >> 3) & 7
    if op == 0xFF and reg == 6:
        return (Kind.PUSH if _plain(prefixes, rex, has_memory, 0x0B) else Kind.OTHER), 0
    if op == 0xFF and reg == 2:
        return (Kind.CALL if _plain(prefixes, rex, has_memory, 0x0B) else Kind.OTHER), 0
    if op == 0x8F and reg == 0:
        return (Kind.POP if _plain(prefixes, rex, has_memory, 0x0B) else Kind.OTHER), 0
    # add/sub/and $imm,%rsp: REX.W, ModRM register form naming rsp (not r12).
    if (
        op in (0x81, 0x83)
        and modrm & 0xC7 == 0xC4
        and rex & 0x09 == 0x08
        and _plain(prefixes, rex, False, 0x08)
    ):
        raw = int.from_bytes(code[imm_at:end], "little", signed=True) & (1 << 64) - 1
        kind = {0: Kind.ADD_RSP, 5: Kind.SUB_RSP, 4: Kind.AND_RSP}.get(reg)
        if kind is not None:
            return kind, raw
    return Kind.OTHER, 0
