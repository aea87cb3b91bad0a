"""HEC time values to ns, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.parsers.timestamps import (
    BadTime,
    epoch_to_ns,
    guess_unit_ns,
    seconds_to_ns,
    timestamp_to_ns,
)


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


MAX_NS = 9223372036 * 10**9  # the last whole second before int64 ns overflow (year 2262)


@pytest.mark.parametrize(
    ("timestamp", "unit", "ns"),
    [
        (1767225600119000123, "ns", 1767225600119000123),
        (1767225600119000, "microseconds", 1767225600119000000),
        (1767225600119000, "us", 1767225600119000000),
        (1767225600119, "ms", 1767225600119000000),
        (1767225600, "s", 1767225600000000000),
        (1767225600.5, "seconds", 1767225600500000000),  # fractional floats keep their fraction
        (1767225600119.5, "milliseconds", 1767225600119500000),
        (0.25, "s", 250000000),
        ("1767225600.25", "seconds", 1767225600250000000),
        (0, "nanoseconds", 0),
        (MAX_NS, "ns", MAX_NS),  # the last representable instant is kept
        (9223372036, "seconds", MAX_NS),
        # without a unit, the magnitude decides (seconds, ms, us, ns)
        (9 * 10**9, None, 9 * 10**18),
        (10**11, None, 10**11 * 10**6),
        (10**12, None, 10**12 * 10**6),
        (10**14, None, 10**14 * 10**3),
        (10**15, None, 10**15 * 10**3),
        (10**17, None, 10**17),
        (10**17 + 1, None, 10**17 + 1),
        (1767225600.5, None, 1767225600500000000),
    ],
)
def test_timestamp_units_and_magnitudes(timestamp: object, unit: object, ns: int) -> None:
    assert timestamp_to_ns(timestamp, unit) == ns


@pytest.mark.parametrize(
    ("timestamp", "unit"),
    [
        (MAX_NS + 1, "ns"),  # past int64 ns
        (10**11 - 1, None),  # seconds by its magnitude, and past 2262
        (10**14 - 1, None),  # milliseconds by its magnitude, and past 2262
        (10**17 - 1, None),  # microseconds by its magnitude, and past 2262
        (9223372037, "seconds"),
        (9223372036.5, "seconds"),
        (float("nan"), "seconds"),
        (float("inf"), "seconds"),
        (-0.5, "seconds"),
        ("-5", "seconds"),
        ("soon", "seconds"),
        (1767225600, 9),  # a unit that is not a string
        (1767225600, "Seconds"),  # units are exact words
        (None, "seconds"),
        ([1], "seconds"),
        (False, "seconds"),
    ],
)
def test_timestamps_out_of_range_or_unreadable_give_none(timestamp: object, unit: object) -> None:
    assert timestamp_to_ns(timestamp, unit) is None


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (".5e1", 5_000000000),
        ("17e8", 1_700_000_000_000000000),
        ("1.5E9", 1_500_000_000_000000000),
        ("1e-9", 1),
        ("1e-10", 0),  # under one nanosecond rounds down to zero
        ("5e-10", 0),
        ("2.5e-9", 2),
        ("+12", 12_000000000),
        ("12.", 12_000000000),
        ("9223372036", MAX_NS),
        ("9223372036.000000000", MAX_NS),
        (9223372036, MAX_NS),
        (9223372036.0, MAX_NS),
        (9223372035.5, MAX_NS - 500000000),
        ("0.000000001", 1),
        ("0.0000000019", 1),
    ],
)
def test_seconds_in_exponent_and_boundary_forms(value: object, ns: int) -> None:
    assert seconds_to_ns(value) == ns


@pytest.mark.parametrize(
    "value",
    ["e5", ".e5", "1e", "1e1000", "9223372036.1", "9223372037", 9223372037, 9223372036.5, "1..2"],
)
def test_seconds_beyond_int64_or_malformed_are_refused(value: object) -> None:
    with pytest.raises(BadTime):
        seconds_to_ns(value)


@given(st.integers(0, 9223372035), st.integers(0, 999_999_999))
def test_the_string_fast_path_agrees_with_the_regex_path(seconds: int, nanos: int) -> None:
    """``"123.456"`` takes a shortcut; the same value with spaces takes the regex: same ns."""
    text = f"{seconds}.{nanos:09d}"
    assert seconds_to_ns(text) == seconds_to_ns(f" {text} ")


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (-0.0, 0),  # negative zero is zero, not a negative time
        (1700000000.1234567, 1_700_000_000_123_457_000),  # a float rounds to the microsecond
        (1e-7, 0),  # even below one microsecond, where repr has an exponent
        (0.0000004, 0),
        (0.0000006, 1000),
    ],
)
def test_float_seconds_round_to_the_microsecond(value: float, ns: int) -> None:
    assert seconds_to_ns(value) == ns


class Seconds(int):
    """An int subclass (an IntEnum, say) is still a number of seconds."""


@pytest.mark.parametrize(
    ("value", "ns"), [(Seconds(0), 0), (Seconds(7), 7 * 10**9), (Seconds(9223372036), MAX_NS)]
)
def test_int_subclasses_convert_like_ints(value: int, ns: int) -> None:
    assert seconds_to_ns(value) == ns


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Seconds(-1), "time must be between 0 and year 2262, in epoch seconds"),
        (Seconds(9223372037), "time must be between 0 and year 2262, in epoch seconds"),
        (-1, "time must be between 0 and year 2262, in epoch seconds"),
        (True, "time must be a number, not a boolean"),
        (-1.5, "time must be a finite, non-negative number"),
        (float("nan"), "time must be a finite, non-negative number"),
        (float("inf"), "time must be a finite, non-negative number"),
        (float("-inf"), "time must be a finite, non-negative number"),
        (None, "time must be a number or a numeric string"),
        ([1], "time must be a number or a numeric string"),
        ("soon", "time 'soon' is not a number of epoch seconds"),
        ("1" * 39 + "x" * 5, f"time {'1' * 39 + 'x'!r} is not a number of epoch seconds"),
        ("9223372037", "time is beyond the year 2262"),
    ],
)
def test_refusals_say_why(value: object, message: str) -> None:
    """The text goes back to the HEC client with code 6, so it is part of the interface."""
    with pytest.raises(BadTime) as caught:
        seconds_to_ns(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        # HEC ``time`` of unknown unit: seconds below 10**11, ms from it, µs from 10**14, ns
        # from 10**17 (each threshold is 1973 in the next unit)
        (0, 0),
        (1767225600, 1767225600_000000000),
        (10**11, 10**17),  # the first millisecond value
        (1767225600119, 1767225600119_000000),
        (10**14, 10**17),  # the first microsecond value
        (1767225600119123, 1767225600119123_000),
        (10**17, 10**17),  # the first nanosecond value
        (1767225600119123456, 1767225600119123456),
        (9223372036_000000000, 9223372036_000000000),  # the last ns before 2262
        (1767225600.5, 1767225600_500000000),
        (1767225600119.5, 1767225600119_500000),  # float ms, to the microsecond
        (1767225600119123.8, 1767225600119124_000),  # float µs, rounded to the microsecond
        (1.7672256001191235e18, 1767225600119123456),  # float ns
        ("1767225600119", 1767225600119_000000),  # strings by magnitude too
        ("100000000000", 10**17),
        ("1767225600.25", 1767225600_250000000),
        ("1.767225600119e12", 1767225600119_000000),
        ("17672256001191234e2", 1767225600119123400),
        ("1767225600119123456", 1767225600119123456),
        (".5e1", 5_000000000),
        ("1767225600119123", 1767225600119123_000),  # a µs string
        ("1767225600119.5", 1767225600119_500000),  # a ms string with a fraction
        ("1.7672256001195e12", 1767225600119_500000),
        ("1e11", 10**17),  # the exponent decides the unit: 10**11 is ms
        (".5e-1", 50_000000),  # no whole part: seconds
        (9223372036.0, 9223372036_000000000),  # the last second before 2262, as a float
    ],
)
def test_epoch_numbers_are_read_by_magnitude(value: object, ns: int) -> None:
    assert epoch_to_ns(value) == ns
    assert type(epoch_to_ns(value)) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "time must be a number, not a boolean"),
        (False, "time must be a number, not a boolean"),
        (-1, "time must not be negative"),
        (-0.5, "time must be a finite, non-negative number"),
        (float("nan"), "time must be a finite, non-negative number"),
        (float("inf"), "time must be a finite, non-negative number"),
        (99999999999, "time must be between 0 and year 2262, in epoch seconds"),
        (99999999999999, "time is beyond the year 2262"),  # ms
        (9223372036_000000001, "time is beyond the year 2262"),  # ns, one past the limit
        (2**63, "time is beyond the year 2262"),
        ("99999999999", "time is beyond the year 2262"),
        ("abc", "time 'abc' is not a number of epoch seconds"),
        ("", "time '' is not a number of epoch seconds"),
        ("e5", "time 'e5' is not a number of epoch seconds"),
        ("x" * 50, f"time {'x' * 40!r} is not a number of epoch seconds"),  # cut at 40
        ([1], "time must be a number or a numeric string"),
        (None, "time must be a number or a numeric string"),
    ],
)
def test_bad_epoch_numbers_say_why(value: object, message: str) -> None:
    with pytest.raises(BadTime) as caught:
        epoch_to_ns(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (0, 1_000_000_000),
        (10**11 - 1, 1_000_000_000),
        (10**11, 1_000_000),
        (10**14 - 1, 1_000_000),
        (10**14, 1_000),
        (10**17 - 1, 1_000),
        (10**17, 1),
    ],
)
def test_the_unit_of_an_epoch_number_changes_exactly_at_each_threshold(
    value: int, unit: int
) -> None:
    assert guess_unit_ns(value) == unit
