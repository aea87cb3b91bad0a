"""Event times: HEC ``time`` values and FalconPy ``timestamp``/``timeunit`` pairs -> ns.

HEC ``time`` is epoch seconds with an optional fraction, as a number or a numeric
string. Strings are converted from their decimal text exactly, to the ns. A JSON
number arrives as a float, which at epoch scale resolves ~0.24 µs; ``int(t * 1e9)``
would truncate to a value off by up to a microsecond, so we round to the
microsecond, which gives back exactly what the client wrote with <= 6 decimals.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

MAX_SECONDS = 9_223_372_036  # int64 ns overflow, year 2262
_DECIMAL = re.compile(r"^\s*\+?(\d{1,19})(?:\.(\d*))?\s*$")
_DECIMAL_EXP = re.compile(r"^\s*\+?(\d*)(?:\.(\d*))?[eE]([+-]?\d{1,3})\s*$")

UNIT_NS = {
    "nanoseconds": 1,
    "ns": 1,
    "microseconds": 1_000,
    "us": 1_000,
    "milliseconds": 1_000_000,
    "ms": 1_000_000,
    "seconds": 1_000_000_000,
    "s": 1_000_000_000,
}


class BadTime(ValueError):
    """A ``time`` value that is not a non-negative number of epoch seconds."""


def _from_parts(whole: str, frac: str, exp: int = 0) -> int:
    digits = (whole or "0") + (frac or "")
    point = len(whole or "0") + exp + 9  # position of the ns boundary in digits
    if point <= 0:
        return 0
    if point >= len(digits):
        ns = int(digits) * int(10 ** (point - len(digits)))
    else:
        ns = int(digits[:point])
    if ns > MAX_SECONDS * 1_000_000_000:
        raise BadTime("time is beyond the year 2262")
    return ns


def _plain_ns(text: str) -> int | None:
    """``"123"`` or ``"123.456"`` -> ns without a regex; None for any other shape."""
    whole, dot, frac = text.partition(".")
    if not whole.isdigit() or not whole.isascii() or len(whole) > 10:
        return None
    if dot and frac and not (frac.isdigit() and frac.isascii()):
        return None
    ns = int(whole) * 1_000_000_000 + (int(frac[:9].ljust(9, "0")) if frac else 0)
    return ns if ns <= MAX_SECONDS * 1_000_000_000 else None


def seconds_to_ns(value: Any) -> int:
    """Epoch seconds (int, float or numeric string) -> integer ns; raises BadTime."""
    kind = type(value)
    if kind is float and 0.0 <= value < MAX_SECONDS:
        # A float of epoch seconds resolves ~0.24 µs (its ulp at 1.7e9), so rounding to the
        # microsecond returns exactly the decimal the client wrote whenever it had <= 6 places.
        return int(round(value * 1_000_000)) * 1000
    elif kind is int and 0 <= value <= MAX_SECONDS:
        return int(value) * 1_000_000_000
    elif kind is str:
        fast = _plain_ns(value)
        if fast is not None:
            return fast
    if isinstance(value, bool):
        raise BadTime("time must be a number, not a boolean")
    if isinstance(value, int):
        if value < 0 or value > MAX_SECONDS:
            raise BadTime("time must be between 0 and year 2262, in epoch seconds")
        return value * 1_000_000_000
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise BadTime("time must be a finite, non-negative number")
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        raise BadTime("time must be a number or a numeric string")
    m = _DECIMAL.match(text)
    if m:
        return _from_parts(m.group(1), m.group(2) or "")
    m = _DECIMAL_EXP.match(text)
    if m and (m.group(1) or m.group(2)):
        return _from_parts(m.group(1), m.group(2) or "", int(m.group(3)))
    raise BadTime(f"time {text[:40]!r} is not a number of epoch seconds")


# Where an epoch number of unknown unit stops being seconds, milliseconds, microseconds:
# each threshold is 1973-03-03 in the next unit, and 10**11 seconds (year 5138) is past
# any time the lake accepts, so no real time is ambiguous.
MS_FROM = 10**11
US_FROM = 10**14
NS_FROM = 10**17


def guess_unit_ns(value: int) -> int:
    """Multiplier to ns for an epoch number of unknown unit, by its magnitude."""
    if value >= NS_FROM:
        return 1
    if value >= US_FROM:
        return 1_000
    if value >= MS_FROM:
        return 1_000_000
    return 1_000_000_000


_UNIT_DIGITS = {1: 0, 1_000: 3, 1_000_000: 6, 1_000_000_000: 9}


def epoch_to_ns(value: Any) -> int:
    """HEC ``time``: epoch seconds, or ms, µs or ns told apart by magnitude -> ns; BadTime.

    Senders such as npm's ``splunk-events`` write milliseconds; a value of 10**11 or more
    is read as milliseconds, 10**14 or more as microseconds, 10**17 or more as ns.
    """
    kind = type(value)
    if kind is float and 0.0 <= value < MAX_SECONDS or kind is int and 0 <= value < MS_FROM:
        return seconds_to_ns(value)
    if kind is str:
        fast = _plain_ns(value)
        if fast is not None:
            return fast
    if isinstance(value, bool):
        raise BadTime("time must be a number, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise BadTime("time must not be negative")
        return _checked(value * guess_unit_ns(value))
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise BadTime("time must be a finite, non-negative number")
        unit = guess_unit_ns(int(value))
        if unit == 1:
            return _checked(int(value))
        # ms and µs as floats: rounded to the microsecond, like seconds
        return _checked(int(round(value * unit / 1000)) * 1000)
    if not isinstance(value, str):
        raise BadTime("time must be a number or a numeric string")
    m = _DECIMAL.match(value)
    if m:
        whole, frac, exp = m.group(1), m.group(2) or "", 0
    else:
        m = _DECIMAL_EXP.match(value)
        if not m or not (m.group(1) or m.group(2)):
            raise BadTime(f"time {value[:40]!r} is not a number of epoch seconds")
        whole, frac, exp = m.group(1), m.group(2) or "", int(m.group(3))
    digits = (whole or "0") + frac
    point = len(whole or "0") + exp
    if point <= 0:
        integer = 0
    elif point >= len(digits):
        integer = int(digits) * 10 ** (point - len(digits))
    else:
        integer = int(digits[:point])
    return _from_parts(whole, frac, exp - 9 + _UNIT_DIGITS[guess_unit_ns(integer)])


def _checked(ns: int) -> int:
    if ns > MAX_SECONDS * 1_000_000_000:
        raise BadTime("time is beyond the year 2262")
    return ns


def timestamp_to_ns(timestamp: Any, timeunit: Any) -> int | None:
    """A FalconPy-style ``timestamp`` with its ``timeunit`` -> ns, or None if unusable.

    FalconPy sends ``int(now * 1e9)`` with ``timeunit="nanoseconds"``; the value is
    above 2**53, so it must have been parsed as an integer (orjson does).
    """
    if isinstance(timestamp, bool):
        return None
    if isinstance(timestamp, str):
        try:
            timestamp = int(timestamp) if timestamp.isdigit() else float(timestamp)
        except ValueError:
            return None
    if not isinstance(timestamp, int | float) or timestamp < 0:
        return None
    if isinstance(timestamp, float) and not math.isfinite(timestamp):
        return None
    unit = UNIT_NS.get(timeunit) if isinstance(timeunit, str) else None
    if unit is None:
        if timeunit is not None:
            return None
        unit = guess_unit_ns(int(timestamp))
    # A float is taken as the decimal its sender wrote (repr), not its binary value:
    # 1767225600119.5 ms is ...119500000 ns, where ``int(t * 1e6)`` gives ...119500032.
    ns = timestamp * unit if isinstance(timestamp, int) else int(Decimal(repr(timestamp)) * unit)
    if ns > MAX_SECONDS * 1_000_000_000:
        return None
    return ns
