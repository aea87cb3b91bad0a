"""One field value against one query value: the rows that say what must *not* match too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.query.fields import MISSING
from lakehose.query.nodes import Regex, Text
from lakehose.query.values import (
    as_number,
    as_text,
    canonical_number,
    equals,
    free_text,
    ordered,
    wildcard,
)


def text(query: str) -> Text:
    return Text(tuple(query.split("*")))


@pytest.mark.parametrize(
    ("query", "value", "expected"),
    [
        ("min*", "admin", False),  # field wildcards are anchored at the start
        ("*adm", "admin", False),  # ... and at the end
        ("adm*", "admin", True),
        ("ADM*", "admin", False),  # ... and case-sensitive
        ("adm*", "ADMIN", False),
        ("a*x*n", "admin", False),  # every inner part must be there
        ("a*m*n", "admin", True),
        ("a*d*m*i*n", "admin", True),
        ("a*n*m", "admin", False),  # inner parts in order
        ("ab*b*bc", "abxbc", False),  # the inner part may not overlap the head or the tail
        ("ab*b*bc", "abbbc", True),
        ("ab*bc", "abc", False),  # head and tail may not share a letter
        ("ab*bc", "abbc", True),
        ("a*", "", False),
        ("*", "", True),
        ("tr*", True, True),  # booleans match as their JSON spelling
        ("fa*", True, False),
        ("fa*", False, True),
        ("4*", 404, True),  # numbers match as their text
        ("5*", 404, False),
        ("0.*", 0.5, True),
        ("re*", ["blue", "red"], True),  # any element of an array
        ("gr*", ["blue", "red"], False),
        ("a*", None, False),
        ("a*", {"a": 1}, False),
        ("*", MISSING, False),  # a missing field has no value
        ("*", None, True),  # null is a value: the field exists
    ],
)
def test_field_wildcards(query: str, value: Any, expected: bool) -> None:
    assert equals(text(query))(value) is expected


@pytest.mark.parametrize(
    ("literal", "value", "expected"),
    [
        ("false", False, True),
        ("false", True, False),
        ("true", True, True),
        ("true", False, False),
        ("True", True, False),  # only the JSON spellings
        ("1", True, False),  # a boolean is not the number 1
        ("1", 1, True),
        ("1.0", 1, True),
        ("1", "1.0", True),
        ("-1.5", -1.5, True),
        ("-1.5", "-1.50", True),
        ("2", 1, False),
        ("2", "1", False),
        ("x", 1, False),
        ("1", "x", False),
        ("red", ["blue", "red"], True),
        ("green", ["blue", "red"], False),  # a negative literal match on an array
        ("2", [1, "3"], False),
        ("3", [1, "3"], True),
        ("3", [1, 3.0], True),
        ("null", None, False),
        ("a", {"a": 1}, False),
        ("a", MISSING, False),
    ],
)
def test_field_literals(literal: str, value: Any, expected: bool) -> None:
    assert equals(Text((literal,)))(value) is expected


@pytest.mark.parametrize(
    ("pattern", "flags", "value", "expected"),
    [
        ("^tr", "", True, True),
        ("^tr", "", False, False),
        ("^fa", "", False, True),
        ("^40", "", 404, True),
        ("^50", "", 404, False),
        ("^R", "", ["blue", "red"], False),
        ("^R", "i", ["blue", "red"], True),
        ("x", "", None, False),
        ("x", "", MISSING, False),
    ],
)
def test_regexes_against_every_kind_of_value(
    pattern: str, flags: str, value: Any, expected: bool
) -> None:
    assert equals(Regex(pattern, flags))(value) is expected


@pytest.mark.parametrize(
    ("query", "value", "expected"),
    [
        ("fail*", "Failed login", True),  # free text ignores case and is unanchored
        ("*LOGIN", "Failed login", True),
        ("x*y", "Failed login", False),
        ("led*LOG", "Failed login now", True),  # inside the text: neither end is anchored
        ("ailed lo*", "Failed login", True),
        ("fail*", 404, False),  # free text looks only at text
        ("fail*", None, False),
        ("fail*", MISSING, False),
        ("log", "Failed LOGIN", True),
        ("log", "Failed", False),
        ("log", 404, False),
        ("*", "anything", True),
        ("*", MISSING, False),
    ],
)
def test_free_text(query: str, value: Any, expected: bool) -> None:
    assert free_text(text(query))(value) is expected


@pytest.mark.parametrize(
    ("op", "bound", "value", "expected"),
    [
        ("<", 5, 4, True),
        ("<", 5, 5, False),
        ("<=", 5, 5, True),
        ("<=", 5, 6, False),
        (">", 5, 6, True),
        (">", 5, 5, False),
        (">=", 5, 5, True),
        (">=", 5, 4, False),
        (">", 5, "6", True),  # numeric strings compare as numbers
        (">", 5, "six", False),  # text never matches an order
        (">", 5, True, False),
        (">", 5, [1, 9], True),
        (">", 5, [1, 2], False),
        (">", 5, MISSING, False),
    ],
)
def test_ordered(op: str, bound: int, value: Any, expected: bool) -> None:
    assert ordered(op, bound)(value) is expected


@pytest.mark.parametrize(
    ("value", "number"),
    [(1, 1), (1.5, 1.5), ("12", 12), ("-12", -12), ("1.25", 1.25), ("1.", None), (".5", None)]
    + [("1e3", None), ("x", None), (True, None), (None, None), ([1], None), ("", None)],
)
def test_as_number(value: Any, number: Any) -> None:
    got = as_number(value)
    assert got == number and type(got) is type(number)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", "a"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        (None, None),
        ([], None),
    ],
)
def test_as_text(value: Any, expected: str | None) -> None:
    assert as_text(value) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (200, "200"),
        (200.0, "200"),
        (4.5, "4.5"),
        (-3.0, "-3"),
        (-0.0, "0"),
        (4.078834576914385e16, "40788345769143850"),
        (1e16, "10000000000000000"),  # no trailing "." that plain "10000000000000000" lacks
        (1e20, "100000000000000000000"),
        (9e15, "9000000000000000"),
        (1e-05, "0.00001"),  # an exponent becomes plain decimals, so "0.00001" contains it
        (1.5e-07, "0.00000015"),
        (0.1, "0.1"),
    ],
)
def test_canonical_number(number: float, expected: str) -> None:
    assert canonical_number(number) == expected


@given(st.floats(min_value=-1e22, max_value=1e22, allow_nan=False) | st.integers(-(10**20), 10**20))
def test_every_plain_spelling_of_a_number_contains_its_canonical_text(number: float) -> None:
    """The search prefilter looks for this text in raw lines: it must be in each spelling."""
    plain = format(Decimal(repr(number)), "f")
    needle = canonical_number(number)
    assert needle in plain
    assert needle in (plain + "0" if "." in plain else plain + ".0")


def test_wildcards_keep_their_case_when_asked() -> None:
    assert not wildcard(("AB", "CD"), anchored=False, ignore_case=False)("ab-cd")
    assert wildcard(("AB", "CD"), anchored=False, ignore_case=True)("ab-cd")
    assert wildcard(("ab", "cd"), anchored=False, ignore_case=True)("AB-CD")


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (Regex("adm.n", "i"), "Failed login for Admin", True),
        (Regex("adm.n"), "Failed login for Admin", False),
        (Regex("^fail"), "Failed", False),
        (Regex("^fail", "i"), "Failed", True),
        (Regex("x"), MISSING, False),
        (Text(("", "")), "any text", True),  # `*`: present, whatever it holds
        (Text(("", "")), "", True),
        (Text(("", "")), 12, True),
        (Text(("", "")), None, True),
        (Text(("", "")), MISSING, False),
    ],
)
def test_free_text_regexes_and_star(value: Text | Regex, field: Any, expected: bool) -> None:
    assert free_text(value)(field) is expected
