"""How search rows print for people: one line per row, whole values, times in ISO 8601 UTC.

On a terminal, columns are padded under a header; the last column (an event's text)
is never cut, so a long event runs on and the terminal wraps it. Piped, the output is
tab-separated with a header line and nothing truncated or wrapped, so ``cut``, ``awk``
and ``sort`` see every value whole (kubectl's convention). Tabs and line breaks inside
a value are written as ``\\t`` and ``\\n``, so a row is always one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})
EVENT_COLUMNS = (
    ("time", "TIME"),
    ("#connector", "#CONNECTOR"),
    ("host", "HOST"),
    ("event", "EVENT"),
)


def iso_ns(ns: Any) -> str:
    """Epoch ns as ISO 8601 UTC with milliseconds: ``2023-11-14T22:13:23.000Z``."""
    if not isinstance(ns, int) or isinstance(ns, bool):
        return "-"
    stamp = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns // 1_000_000 % 1000:03d}Z"


def cell(value: Any) -> str:
    """A value as one line of text: strings as they are, anything else as compact JSON."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text.translate(_ESCAPES)


def event_cells(row: dict[str, Any]) -> list[str]:
    return [
        iso_ns(row.get("time")),
        cell(row.get("#connector")),
        cell(row.get("host")),
        cell(row.get("event")),
    ]


def print_rows(
    rows: Sequence[dict[str, Any]], kind: str, columns: Sequence[str], out: TextIO, tty: bool
) -> None:
    """Print an event list or an aggregate's rows (see the module docstring)."""
    if kind == "events":
        header = [h for _, h in EVENT_COLUMNS]
        lines = [event_cells(row) for row in rows]
    else:
        header = list(columns)
        lines = [[time_cell(c, row.get(c)) for c in columns] for row in rows]
    print_table(header, lines, out, tty)


# Fields that hold times, and their unit in ns: shown in ISO 8601 UTC, as event times are.
TIME_FIELDS = {"@timestamp": 1_000_000, "time": 1, "ingest_time": 1}


def time_cell(column: str, value: Any) -> str:
    """A table cell; a time field (``@timestamp``, ``time``, ``ingest_time``) as ISO 8601 UTC."""
    unit = TIME_FIELDS.get(column)
    if unit is not None and type(value) is int:
        return iso_ns(value * unit)
    return cell(value)


def print_table(header: list[str], lines: Sequence[list[str]], out: TextIO, tty: bool) -> None:
    """Padded columns under ``header`` on a terminal (the last one unpadded); else TSV."""
    if not tty:
        for line in (header, *lines):
            out.write("\t".join(line) + "\n")
        return
    widths = [max(len(line[i]) for line in (header, *lines)) for i in range(len(header) - 1)]
    for line in (header, *lines):
        padded = [value.ljust(width) for value, width in zip(line, widths, strict=False)]
        out.write("  ".join([*padded, line[-1]]).rstrip() + "\n")


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``, ``1,000 events``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")
