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


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("15MS", NOW - 15 * 10**6),  # units in any case
        ("2H", NOW - 2 * 3600 * S),
        ("1 Minute", NOW - 60 * S),
        ("1d", NOW - 86400 * S),
        ("1y", NOW - 365 * 86400 * S),
        ("2024-05-01 12:00:00", 1714564800 * S),
        ("2024-05-01T12:00:00 +01:00", 1714561200 * S),
        ("2024-05-01 12:00:00 +01:00", 1714561200 * S),
        ("1700000000.1234567891234567891", 1_700_000_000_123_456_789),  # beyond ns: cut
        ("0", 0),
        (0, 0),
        (0.5, S // 2),
    ],
)
def test_more_time_spellings(text: str | float, ns: int) -> None:
    assert parse_time(text, now_ns=NOW) == ns


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(QueryError, match="start must be before end"):
        time_range("1700000000", "1700000000", now_ns=NOW)
    assert time_range("1700000000", "1700000001", now_ns=NOW).end == 1_700_000_001 * S


def test_a_bad_time_is_quoted_to_forty_characters() -> None:
    value = "x" * 39 + "yz" + "w" * 60
    with pytest.raises(QueryError) as info:
        parse_time(value, now_ns=NOW)
    assert repr("x" * 39 + "y") in str(info.value)
    with pytest.raises(QueryError) as info:
        parse_time(value + "9" * 400, now_ns=NOW, name="end")
    assert str(info.value).startswith("end ")


@pytest.mark.parametrize(
    ("start", "end", "lo", "hi", "contains", "covers", "meets"),
    [
        (10, 20, 10, 19, True, True, True),
        (10, 20, 10, 20, True, False, True),  # the end is open
        (10, 20, 20, 30, False, False, False),
        (10, 20, 0, 10, False, False, True),  # the start is closed
        (10, 20, 0, 9, False, False, False),
        (None, 20, 0, 19, True, True, True),
        (10, None, 10, 10**18, True, True, True),
        (None, None, 0, 1, True, True, True),
        (10, 20, 5, 25, False, False, True),
    ],
)
def test_range_edges(
    start: int | None,
    end: int | None,
    lo: int,
    hi: int,
    contains: bool,
    covers: bool,
    meets: bool,
) -> None:
    from lakehose.query.timerange import TimeRange

    r = TimeRange(start, end)
    assert r.contains(lo) is contains
    assert r.covers(lo, hi) is covers
    assert r.meets(lo, hi) is meets


def test_an_out_of_range_time_is_quoted_to_forty_characters() -> None:
    with pytest.raises(QueryError) as info:
        parse_time("9" * 5000, now_ns=NOW, name="start")
    assert str(info.value) == f"start {'9' * 40!r} is out of range"


def test_a_range_is_an_immutable_hashable_value() -> None:
    """Ranges key caches and sets of plans: two equal ranges are one key, and none changes."""
    from dataclasses import FrozenInstanceError

    from lakehose.query.timerange import TimeRange

    r = TimeRange(10, 20)
    assert {r, TimeRange(10, 20)} == {r}
    with pytest.raises(FrozenInstanceError):
        r.start = 0  # type: ignore[misc]
    assert not hasattr(r, "__dict__")  # slotted: a plan holds one per batch it reads
