"""Query text written from values: a clause means exactly the value it was written from."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.query import plan_query
from lakehose.query.compose import add_filter, clause, literal
from lakehose.query.filters import compile_filter


def matches(query: str, row: dict[str, Any]) -> bool:
    return compile_filter(plan_query(query).scan_filter)(row)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),  # a bool is not written as the int it also is
        (False, "false"),
        (0, "0"),
        (5, "5"),
        (-3, "-3"),
        (10**30, "1000000000000000000000000000000"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (0.1, "0.1"),
        (1e20, None),  # repr has an exponent: the grammar has no such number
        (1e-7, None),
        (float("inf"), None),
        (float("nan"), None),
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\temp", '"C:\\\\temp"'),
        ("a*b", '"a\\*b"'),  # a star in a value is not a wildcard
        ("one\ntwo\tthree\rfour", '"one\\ntwo\\tthree\\rfour"'),
        (None, None),
        ([1, 2], None),
        ({"a": 1}, None),
    ],
)
def test_literals_by_type(value: Any, text: str | None) -> None:
    assert literal(value) == text


@pytest.mark.parametrize(
    ("name", "value", "negate", "text"),
    [
        ("user", "admin", False, 'user="admin"'),
        ("user", "admin", True, 'user!="admin"'),
        ("status", 404, False, "status=404"),
        ("flag", False, True, "flag!=false"),
        ("a.b", 1, False, "a.b=1"),
        ("@rawstring", "x", False, '@rawstring="x"'),
        ("#connector", "fw", False, '#connector="fw"'),
        ("a/b", 1, False, "a/b=1"),  # '/' only starts a regex, so it may follow
        ("é", 1, False, "é=1"),
        ("x", 1e20, False, None),  # a value no literal can hold
        ("x", None, False, None),
        ("and", 1, False, None),  # keywords, in any case, are not names
        ("OR", 1, False, None),
        ("Not", 1, False, None),
        ("android", 1, False, "android=1"),  # a keyword inside a name is fine
        ("", 1, False, None),
        ("a b", 1, False, None),
        ("/x", 1, False, None),
        ("*x", 1, False, None),
        ("x*", 1, False, None),
        ("a=b", 1, False, None),
        ('a"b', 1, False, None),
        ("a(b", 1, False, None),
        ("a|b", 1, False, None),
        ("a,b", 1, False, None),
        ("a[0]", 1, False, None),
        ("a\\b", 1, False, None),
        ("a<b", 1, False, None),
        ("a!b", 1, False, None),
    ],
)
def test_clauses(name: str, value: Any, negate: bool, text: str | None) -> None:
    assert clause(name, value, negate=negate) == text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "f=1"),
        ("   ", "f=1"),
        ("user=a", "f=1 user=a"),
        ("  user=a  ", "f=1 user=a"),
        ("user=a | count()", "f=1 user=a | count()"),
        ("user=a // a comment", "f=1 user=a // a comment"),
        ("count()", "f=1 | count()"),  # a leading function is a stage, not a filter
        ("groupBy(f) | count()", "f=1 | groupBy(f) | count()"),
        ("((", "f=1 (("),  # does not parse: kept as typed, filter in front
    ],
)
def test_a_filter_goes_in_front(query: str, expected: str) -> None:
    assert add_filter(query, "f=1") == expected


ROW: dict[str, Any] = {"user": "admin", "n": 7, "flag": True}


@pytest.mark.parametrize(
    ("query", "row_matches"),
    [
        ("user=admin", True),
        ("user=root", False),
        ("user=admin or user=root", True),
        ("count()", True),
    ],
)
def test_an_added_filter_narrows_the_query(query: str, row_matches: bool) -> None:
    narrowed = add_filter(query, clause("n", 8) or "")
    assert not matches(narrowed, ROW)
    narrowed = add_filter(query, clause("n", 7) or "")
    assert matches(narrowed, ROW) is row_matches


values = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(values)
@settings(max_examples=150, deadline=None)
def test_a_clause_matches_its_own_value(value: Any) -> None:
    text = clause("field", value)
    if text is None:
        assert isinstance(value, float)
        return
    assert matches(text, {"field": value})
    assert not matches(clause("field", value, negate=True) or "", {"field": value})
    if isinstance(value, str):
        assert not matches(text, {"field": value + "x"})
        assert not matches(text, {"field": "x" + value})
