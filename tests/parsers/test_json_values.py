"""A body's top-level JSON values, and the checks that keep every stored event readable."""

from __future__ import annotations

from typing import Any

import pytest

from lakehose.parsers.json_values import MAX_DEPTH, may_overflow, parse_values, too_deep


@pytest.mark.parametrize(
    ("body", "values", "error"),
    [
        (b'{"a":1}\n{"b":2}', [{"a": 1}, {"b": 2}], None),
        (b'{"a":1}{"b":2}', [{"a": 1}, {"b": 2}], None),
        (b'  {"a" : 1}  {"b":2}  ', [{"a": 1}, {"b": 2}], None),
        (b"1 2 3", [1, 2, 3], None),
        (b"1\n\n2", [1, 2], None),
        (b"[1,\n2]\n3", [[1, 2], 3], None),  # a value across lines
        (b'{"a":"}{"}\n{"b":1}{"c":2}', [{"a": "}{"}, {"b": 1}, {"c": 2}], None),
        (b"", [], None),
        (b"\n\n", [], None),
        (b'{"a":1}\n{"b":', [{"a": 1}], "Expecting value: line 1 column 6 (char 5)"),
        (b'{"x":1}{"y":', [{"x": 1}], "Expecting value: line 1 column 13 (char 12)"),
        (b'{"a":1}}{"b":2}', [{"a": 1}], "Expecting value: line 1 column 8 (char 7)"),
        (b'{"a":1} x', [{"a": 1}], "Expecting value: line 1 column 9 (char 8)"),
        (b"NaN", [], "NaN is not valid JSON"),
        (b'{"a":Infinity}', [], "Infinity is not valid JSON"),
        (b"[-Infinity]", [], "-Infinity is not valid JSON"),
        (b"1e400", [], "number 1e400 is beyond the range of a double"),
        (b"1" * 400, [], f"number {'1' * 40} is beyond the range of a double"),
        (b"18446744073709551615", [2**64 - 1], None),  # what orjson reads as an int
        (b"-9223372036854775808", [-(2**63)], None),
        (b"18446744073709551616", [float(2**64)], None),  # beyond: a float, as orjson
        (b"-9223372036854775809", [float(-(2**63) - 1)], None),
        (b"1.5 2", [1.5, 2], None),
        (b'"\xff"', [], "invalid UTF-8 at byte 1"),
        (b'1 2 "\xff"', [1, 2], "invalid UTF-8 at byte 5"),
        (b'1 2 {"\xff', [1, 2], "invalid UTF-8 at byte 6"),
        (b'1 2 {"a" \xff', [1, 2], "invalid UTF-8 at byte 9"),  # bad JSON before the byte
        (b"1 2 \xff", [1, 2], "invalid UTF-8 at byte 4"),  # after the values, outside strings
        (b"1 \xff 2", [1], "invalid UTF-8 at byte 2"),  # between values
    ],
)
def test_values_up_to_the_first_bad_one(body: bytes, values: list[Any], error: str | None) -> None:
    found, exc = parse_values(body)
    assert found == values and (str(exc) if exc else None) == error
    assert [type(v) for v in found] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (b"[]", False),
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), True),
        (b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * MAX_DEPTH, True),  # does not parse: refused
        (b'["' + b"[" * 300 + b'"]', False),  # brackets in a string are no levels
        (b"[" + b"[]," * 300 + b"[]]", False),  # many brackets side by side, two levels
        (b"{" * 300, False),  # too short to nest that deep (a level costs two bytes)
    ],
)
def test_nesting_limit(text: bytes, deep: bool) -> None:
    assert too_deep(text) is deep


@pytest.mark.parametrize(
    ("body", "overflow"),
    [
        (b"[1e400]", True),
        (b'{"a":1e+400}', True),
        (b"[1E400]", True),
        (b"[1.5e400]", True),
        (b"[1e0400]", True),
        (b"[" + b"1" * 200 + b"]", True),
        (b"[" + b"1" * 199 + b"]", False),
        (b"[1e99]", False),
        (b"[1e-400]", False),  # tiny, not huge: orjson reads it as 0.0
        (b'["1e400"]', False),  # a lookalike at its end the quote
        (b"[1e40 0]", False),
    ],
)
def test_numbers_that_may_overflow_a_double(body: bytes, overflow: bool) -> None:
    assert may_overflow(body) is overflow


@pytest.mark.parametrize(
    ("body", "first"),
    [
        (b"18446744073709551615 0", 2**64 - 1),  # side by side: the stdlib scanner's path
        (b"18446744073709551616 0", float(2**64)),
        (b"-9223372036854775808 0", -(2**63)),
        (b"-9223372036854775809 0", float(-(2**63) - 1)),
        (b"9223372036854775808 0", 2**63),
        (b"4611686018427387904 0", 2**62),
        (b"-4611686018427387905 0", -(2**62) - 1),
    ],
)
def test_integers_on_the_scanner_path_read_as_orjson_reads_them(body: bytes, first: Any) -> None:
    (value, zero), error = parse_values(body)
    assert error is None and zero == 0
    assert value == first and type(value) is type(first)
    assert parse_values(body.split()[0])[0] == [first]  # the same as orjson alone


def nested(levels: int) -> bytes:
    """``levels`` levels of arrays, with sibling arrays enough to pass the cheap checks."""
    return b"[" + b"[]," * 10 + b"[" * (levels - 1) + b"]" * (levels - 1) + b"]"


@pytest.mark.parametrize(("levels", "deep"), [(199, False), (200, False), (201, True), (202, True)])
def test_the_limit_is_two_hundred_levels(levels: int, deep: bool) -> None:
    """200, written out: orjson writes 254 levels, and replies wrap an event in a few more."""
    assert MAX_DEPTH == 200
    assert too_deep(nested(levels)) is deep
