"""HEC time values to ns, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.timestamps import BadTime, seconds_to_ns, timestamp_to_ns


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (0, 0),
        (1767225600, 1767225600_000000000),
        (1767225600.123, 1767225600_123000000),
        (1767225600.123456, 1767225600_123456000),
        ("1767225600", 1767225600_000000000),
        ("1767225600.1", 1767225600_100000000),
        ("1767225600.123456789", 1767225600_123456789),
        ("1767225600.1234567891234", 1767225600_123456789),
        (" 12 ", 12_000000000),
        ("1.7e9", 1700000000_000000000),
        (0.5, 500000000),
    ],
)
def test_seconds_convert_to_ns(value: object, ns: int) -> None:
    assert seconds_to_ns(value) == ns


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -0.5,
        "-1",
        "abc",
        "",
        "12abc",
        True,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
        "1e400",
        10**12,
    ],
)
def test_bad_times_are_refused(value: object) -> None:
    with pytest.raises(BadTime):
        seconds_to_ns(value)


@given(st.integers(0, 9_000_000_000), st.integers(0, 999_999_999))
def test_decimal_strings_are_exact_to_the_nanosecond(seconds: int, nanos: int) -> None:
    assert seconds_to_ns(f"{seconds}.{nanos:09d}") == seconds * 10**9 + nanos


@given(st.integers(0, 4_000_000_000), st.integers(0, 999_999))
def test_floats_with_six_decimals_are_exact_to_the_microsecond(seconds: int, micros: int) -> None:
    value = float(Decimal(f"{seconds}.{micros:06d}"))
    assert seconds_to_ns(value) == seconds * 10**9 + micros * 1000


@pytest.mark.parametrize(
    ("timestamp", "unit", "ns"),
    [
        (1767225600119000123, "nanoseconds", 1767225600119000123),
        (1767225600119, "milliseconds", 1767225600119000000),
        (1767225600, "seconds", 1767225600000000000),
        ("1767225600119", "milliseconds", 1767225600119000000),
        (1767225600119, None, 1767225600119000000),
        (1767225600, None, 1767225600000000000),
    ],
)
def test_falconpy_timestamps_convert_by_their_unit(
    timestamp: object, unit: object, ns: int
) -> None:
    assert timestamp_to_ns(timestamp, unit) == ns


@pytest.mark.parametrize(
    ("timestamp", "unit"), [("2026-01-01", None), (True, None), (1, "fortnights"), (-5, "seconds")]
)
def test_unusable_timestamps_give_none(timestamp: object, unit: object) -> None:
    assert timestamp_to_ns(timestamp, unit) is None
