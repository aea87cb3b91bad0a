"""Search time ranges: relative, ISO 8601, epoch in any unit, and their errors."""

from __future__ import annotations

import pytest

from lakehose.errors import QueryError
from lakehose.query import parse_time, time_range

NOW = 1_700_000_000 * 10**9
S = 10**9


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15m", NOW - 15 * 60 * S),
        ("24h", NOW - 24 * 3600 * S),
        ("7d", NOW - 7 * 86400 * S),
        ("1w", NOW - 7 * 86400 * S),
        ("30s", NOW - 30 * S),
        ("500ms", NOW - S // 2),
        ("2 hours", NOW - 2 * 3600 * S),
        ("1.5h", NOW - 5400 * S),
        ("now", NOW),
        ("1700000000", 1_700_000_000 * S),
        ("1700000000.25", 1_700_000_000 * S + S // 4),
        ("1700000000123", 1_700_000_000_123 * 10**6),
        ("1700000000123456", 1_700_000_000_123_456 * 1000),
        ("1700000000123456789", 1_700_000_000_123_456_789),
        ("2023-11-14T22:13:20Z", 1_700_000_000 * S),
        ("2023-11-14T22:13:20.5+00:00", 1_700_000_000 * S + S // 2),
        ("2023-11-14T23:13:20+01:00", 1_700_000_000 * S),
        ("2023-11-14 22:13:20", 1_700_000_000 * S),
        ("2023-11-14", 1_699_920_000 * S),
    ],
)
def test_times_in_every_accepted_form(text: str, ns: int) -> None:
    assert parse_time(text, now_ns=NOW) == ns


def test_numbers_are_epoch_by_magnitude() -> None:
    assert parse_time(1_700_000_000, now_ns=NOW) == 1_700_000_000 * S
    assert parse_time(1_700_000_000_000, now_ns=NOW) == 1_700_000_000 * S
    assert parse_time(1_700_000_000.5, now_ns=NOW) == 1_700_000_000 * S + S // 2


def test_an_open_range_has_no_ends() -> None:
    span = time_range(None, None)
    assert (span.start, span.end) == (None, None)
    assert span.contains(0) and span.covers(0, 2**62)


def test_a_range_includes_its_start_and_excludes_its_end() -> None:
    span = time_range("1h", "now", now_ns=NOW)
    assert span.contains(NOW - 3600 * S) and not span.contains(NOW)
    assert span.covers(NOW - 3600 * S, NOW - 1) and not span.covers(NOW - 3600 * S, NOW)
    assert span.meets(NOW - 7200 * S, NOW - 3600 * S) and not span.meets(0, NOW - 3600 * S - 1)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("yesterday", None, "start 'yesterday' is not a time"),
        (None, "15 parsecs", "end '15 parsecs' is not a time"),
        ("1h", "2h", "start must be before end"),
        (True, None, "not a boolean"),
        (-5, None, "must not be negative"),
    ],
)
def test_bad_times_are_query_errors(start: object, end: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        time_range(start, end, now_ns=NOW)  # type: ignore[arg-type]


INT64 = 2**63 - 1


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1e300, INT64),
        (18446744073709551615, INT64),
        ("99999999999999999999", INT64),
        ("9999-12-31T23:59:59Z", INT64),
        ("99999999999y", 0),
        ("0001-01-01T00:00:00Z", 0),
    ],
)
def test_times_beyond_int64_are_taken_as_the_ends_of_the_lake(value: str | float, ns: int) -> None:
    """Found by tests/fuzz: such a time reached SQLite as an integer it cannot hold (a 500)."""
    assert parse_time(value, now_ns=NOW) == ns


@pytest.mark.parametrize("value", ["9" * 5000, "9" * 400 + "d"])
def test_numbers_too_long_to_convert_are_a_query_error(value: str) -> None:
    with pytest.raises(QueryError, match="out of range"):
        parse_time(value, now_ns=NOW, name="start")
