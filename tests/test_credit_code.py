"""The unified social credit code check."""

from __future__ import annotations

import pytest
from stdnum.cn import uscc

from schemas.credit_code import credit_code_problem, normalise_credit_code

# The first is python-stdnum's documented example; the others are made up, completed with
# uscc.calc_check_digit: an enterprise, a public institution, a social organisation, a farmers'
# cooperative, a village collective (authority N) and an "other" body (authority Y).
VALID = [
    "91110000600037341L",
    "91370200MA3C5D6A2T",
    "123701000049948605",
    "51370000MJD60077X5",
    "93370112MA3MXK5B1G",
    "N2370212MF12345670",
    "Y1370100MA00000007",
]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code: str) -> None:
    assert credit_code_problem(code) is None


@pytest.mark.parametrize("code", [c for c in VALID if c[:2].isdigit()])
def test_agrees_with_stdnum_where_stdnum_applies(code: str) -> None:
    assert uscc.is_valid(code)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert not uscc.is_valid(wrong) and credit_code_problem(wrong) is not None


@pytest.mark.parametrize("code", ["", "9111000060003734", "91110000600037341L0"])
def test_wrong_length(code: str) -> None:
    assert credit_code_problem(code) == (
        f"统一社会信用代码应为 18 位，实为 {len(code)} 位 "
        f"(a unified social credit code has 18 characters, not {len(code)})"
    )


@pytest.mark.parametrize(
    ("code", "position", "char"),
    [
        ("91110000600O37341L", 12, "O"),  # letter O, not zero
        ("9111000060003734IL", 17, "I"),
        ("91A100006000373410", 3, "A"),  # the region code is digits only
        ("91110000600037341l", 18, "l"),  # lower case: normalise first
        ("91110000 600037341", 9, " "),
        ("91110000\t600037341", 9, "U+0009"),
    ],
)
def test_invalid_character(code: str, position: int, char: str) -> None:
    problem = credit_code_problem(code)
    assert problem is not None
    assert problem.startswith(f"第 {position} 位字符 “{char}” 无效 (character {position} '{char}' must be ")


def test_wrong_check_digit_names_the_expected_one() -> None:
    assert credit_code_problem("91110000600037341M") == (
        "校验码错误：第 18 位应为 L，实为 M (wrong check digit: expected L, found M)"
    )


def test_problems_are_one_line() -> None:
    for code in ["", "91A100006000373410", "91110000\n600037341", "91110000600037341M"]:
        problem = credit_code_problem(code)
        assert problem is not None and "\n" not in problem


def test_normalise() -> None:
    assert normalise_credit_code("  91110000600037341l\n") == "91110000600037341L"
    assert credit_code_problem(normalise_credit_code(" 91110000600037341l ")) is None
