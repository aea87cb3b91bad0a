"""Top values of the fields of a query's newest matching events: the search page's field list.

The fields are those an analyst can filter on, named as the query language
names them: the tags, ``host``, ``source``, indexed fields (bare names) and the
keys of object events, flattened with dots (``user.name``); an event key that an
indexed field of the same name would shadow is named ``event.KEY``. An array
counts each of its plain values. Counting stops at the newest ``sample`` events
(a sidebar summarises what is on screen and around it, as LogScale's does), and
the reply says how many events were looked at.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.search.histogram import filter_plan
from lakehose.storage.base import LogReader

DEFAULT_SAMPLE = 10_000
MAX_SAMPLE = 100_000
DEFAULT_TOP = 5
MAX_FIELDS = 100  # fields reported, most common first
_MAX_DISTINCT = 10_000  # distinct values tracked per field; past it, new values are not counted
_MAX_DEPTH = 8
_META = ("#connector", "#index", "#sourcetype", "host", "source")
_PLAIN = (str, int, float, bool)


@dataclass
class FieldSummary:
    name: str
    events: int = 0  # events that have the field
    values: Counter[Any] = field(default_factory=Counter)
    capped: bool = False  # more distinct values than were tracked

    def add(self, value: Any) -> None:
        if value in self.values or len(self.values) < _MAX_DISTINCT:
            self.values[value] += 1
        else:
            self.capped = True

    def to_dict(self, top: int) -> dict[str, Any]:
        return {
            "field": self.name,
            "events": self.events,
            "distinct": len(self.values),
            "distinct_capped": self.capped,
            "top": [{"value": v, "count": c} for v, c in self.values.most_common(top)],
        }


def _flatten(prefix: str, value: Any, out: dict[str, list[Any]], depth: int) -> None:
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out, depth + 1)
    elif isinstance(value, list):
        plain = [v for v in value if isinstance(v, _PLAIN)]
        if plain:
            out.setdefault(prefix, []).extend(plain)
    elif isinstance(value, _PLAIN):
        out.setdefault(prefix, []).append(value)


def event_fields(event: dict[str, Any]) -> dict[str, list[Any]]:
    """The filterable fields of a whole event (as the search API returns it) and their values."""
    out: dict[str, list[Any]] = {}
    for name in _META:
        value = event.get(name)
        if isinstance(value, str):
            out[name] = [value]
    indexed = event.get("fields") or {}
    for name, value in indexed.items():
        _flatten(str(name), value, out, 0)
    body = event.get("event")
    if isinstance(body, dict):
        flat: dict[str, list[Any]] = {}
        _flatten("", body, flat, 0)
        for name, values in flat.items():
            shadowed = name in out or name.split(".")[0] in indexed
            out["event." + name if shadowed else name] = values
    return out


class FieldCounts:
    """Accumulates the fields of events, one at a time."""

    def __init__(self) -> None:
        self.fields: dict[str, FieldSummary] = {}
        self.events = 0

    def add(self, event: dict[str, Any]) -> None:
        self.events += 1
        fields = self.fields
        for name, values in event_fields(event).items():
            summary = fields.get(name)
            if summary is None:
                summary = fields[name] = FieldSummary(name)
            summary.events += 1
            for value in values:
                summary.add(value)

    def top(self, top: int = DEFAULT_TOP, limit: int = MAX_FIELDS) -> list[dict[str, Any]]:
        """Fields by how many events have them (tags first), each with its ``top`` values."""
        order = sorted(
            self.fields.values(),
            key=lambda f: (f.name not in _META, -f.events, f.name),
        )
        return [f.to_dict(top) for f in order[:limit]]


@dataclass
class FieldList:
    fields: list[dict[str, Any]]
    events: int  # events looked at
    complete: bool  # every matching event in the range was looked at
    took_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": self.fields,
            "events": self.events,
            "complete": self.complete,
            "took_ms": round(self.took_ms, 3),
        }


def top_values(
    plan: Plan,
    readers: Sequence[LogReader],
    span: TimeRange,
    *,
    sample: int = DEFAULT_SAMPLE,
    top: int = DEFAULT_TOP,
    time_limit: float | None = None,
) -> FieldList:
    """Top values of the fields of the newest ``sample`` events the leading filter matches."""
    started = time.perf_counter()
    search = Search(filter_plan(plan), readers, span, limit=sample, time_limit=time_limit)
    counts = count_fields(search.rows())
    return FieldList(
        counts.top(top),
        counts.events,
        search.next_cursor is None,
        (time.perf_counter() - started) * 1000,
    )


def count_fields(events: Iterable[dict[str, Any]]) -> FieldCounts:
    counts = FieldCounts()
    for event in events:
        counts.add(event)
    return counts
