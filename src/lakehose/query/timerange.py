"""Search time ranges: relative (``15m``, ``24h``, ``7d``), absolute (ISO 8601, epoch), or ``now``.

A range is ``[start, end)`` in event time, ns since the epoch; either end may be
open. Relative times count back from now: ``start="1h"`` is one hour ago.
Epoch numbers are read by magnitude: seconds, milliseconds, microseconds or
nanoseconds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lakehose.errors import QueryError
from lakehose.parsers.timestamps import guess_unit_ns

_RELATIVE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?|y|years?)\s*$",
    re.IGNORECASE,
)
_UNIT_NS = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
    "y": 365 * 86_400_000_000_000,
}
_EPOCH = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*$")
MAX_NS = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start, end)`` in ns; None is open."""

    start: int | None = None
    end: int | None = None

    def contains(self, t: int) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def covers(self, lo: int, hi: int) -> bool:
        """True when every time in ``[lo, hi]`` is inside the range."""
        return (self.start is None or lo >= self.start) and (self.end is None or hi < self.end)

    def meets(self, lo: int, hi: int) -> bool:
        """True when some time in ``[lo, hi]`` is inside the range."""
        return (self.start is None or hi >= self.start) and (self.end is None or lo < self.end)


def _unit(word: str) -> int:
    word = word.lower()
    if word in ("ms", "millisecond", "milliseconds"):
        return _UNIT_NS["ms"]
    return _UNIT_NS[word[0]]


def parse_time(
    value: str | int | float | None, *, now_ns: int | None = None, name: str = "time"
) -> int | None:
    """One end of a range -> ns since the epoch (None stays None); raise QueryError.

    A time before 1970 or after 2262 is taken as the nearest of those: no event time lies
    beyond them, and the storage compares times as int64.
    """
    if value is None or value == "":
        return None
    now = time.time_ns() if now_ns is None else now_ns
    try:
        ns = _parse_time(value, now, name)
    except (ValueError, OverflowError):  # too many digits, or a float that is not finite
        raise QueryError(f"{name} {str(value)[:40]!r} is out of range") from None
    return min(max(ns, 0), MAX_NS)


def _parse_time(value: str | int | float, now: int, name: str) -> int:
    if isinstance(value, bool):
        raise QueryError(f"{name} must be a time, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise QueryError(f"{name} must not be negative")
        return int(value * guess_unit_ns(int(value)))
    text = value.strip()
    if text.lower() == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        return now - int(float(m.group(1)) * _unit(m.group(2)))
    m = _EPOCH.match(text)
    if m:
        whole = int(m.group(1))
        unit = guess_unit_ns(whole)
        frac = m.group(2) or ""
        return whole * unit + (int(frac[:18].ljust(18, "0")) * unit // 10**18 if frac else 0)
    try:
        parsed = datetime.fromisoformat(text)  # 3.11 takes " " for "T", and " +01:00"
    except ValueError:
        raise QueryError(
            f"{name} {text[:40]!r} is not a time; use 15m, 24h, 7d, an ISO 8601 time "
            "such as 2024-05-01T12:00:00Z, or epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def time_range(
    start: str | int | float | None = None,
    end: str | int | float | None = None,
    *,
    now_ns: int | None = None,
) -> TimeRange:
    """The range ``[start, end)``; raise QueryError for a bad time or an empty range."""
    now = time.time_ns() if now_ns is None else now_ns
    lo = parse_time(start, now_ns=now, name="start")
    hi = parse_time(end, now_ns=now, name="end")
    if lo is not None and hi is not None and lo >= hi:
        raise QueryError("start must be before end")
    return TimeRange(lo, hi)
