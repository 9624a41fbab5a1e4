"""The unified social credit code (统一社会信用代码, GB 32100-2015) that identifies an organisation.

Pure and deterministic: workflow Update validators call it.
"""

from __future__ import annotations

from stdnum.cn import uscc

LENGTH = 18
# The code's characters: digits and capital letters except I, O, S, V, Z (GB 32100-2015).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def normalise_credit_code(code: str) -> str:
    return code.strip().upper()


def credit_code_problem(code: str) -> str | None:
    """None for a valid code, else a one-line reason in Chinese and English. Checks `code` as given:
    normalise it first."""
    if len(code) != LENGTH:
        return (
            f"统一社会信用代码应为 {LENGTH} 位，实为 {len(code)} 位 "
            f"(a unified social credit code has {LENGTH} characters, not {len(code)})"
        )
    for position, char in enumerate(code, start=1):
        # Positions 3–8 are the region code. Positions 1–2 may be letters (authority A, N for agriculture
        # collectives, Y for others), which stdnum's validate() refuses, so only its check digit is used.
        region = 3 <= position <= 8
        if char not in ("0123456789" if region else ALPHABET):
            kind = "a digit" if region else "a digit or a capital letter other than I, O, S, V, Z"
            # Name an unprintable character by its code point so the reason stays on one line.
            shown = char if char.isprintable() else f"U+{ord(char):04X}"
            return f"第 {position} 位字符 “{shown}” 无效 (character {position} '{shown}' must be {kind})"
    expected = uscc.calc_check_digit(code[:-1])
    if code[-1] != expected:
        return (
            f"校验码错误：第 {LENGTH} 位应为 {expected}，实为 {code[-1]} "
            f"(wrong check digit: expected {expected}, found {code[-1]})"
        )
    return None
