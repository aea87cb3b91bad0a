"""SQL over one partition's batch summaries (the ``batches`` table, no blobs).

One filter (time range, tag choices, offsets, buckets) serves the three shapes a
search plans with: a row per batch (``LogReader.summaries``), a row per tag
combination (``tag_groups``) and a row per tag combination and time bucket
(``bucket_counts``), so the conditions are written once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from lakehose.query.timerange import TimeRange
from lakehose.storage.base import BucketCount, Buckets, Summary, TagChoices, TagGroup

_TAG_COLUMNS = {"#connector": "connector", "#index": "idx", "#sourcetype": "sourcetype"}
# A batch's times inside [low, high) and inside one bucket (see ``Buckets.holds``); the
# difference is never negative there, so SQLite's truncating division is Python's floor.
_HELD = "(min_time >= ? AND max_time < ? AND (min_time - ?) / ? = (max_time - ?) / ?)"


def _held_args(b: Buckets) -> list[int | str]:
    return [b.low, b.high, b.origin, b.width, b.origin, b.width]


_NARROW = 0.25  # a time range this share of the partition's or less reads the max_time index
# database path -> (greatest first offset seen, its ingest time, widest max_time - min_time)
_WIDEST: dict[str, tuple[int, int, int]] = {}


def widest(conn: sqlite3.Connection, key: str) -> int | None:
    """An upper bound of ``max_time - min_time`` over the partition's batches (None: none).

    Kept per process and brought up to date from the batches added since (a range of
    the primary key); batches retention removed may still count, which only widens it.
    A database that is not the one seen (its last seen batch gone or another) is read
    whole again.
    """
    known = _WIDEST.get(key)
    seen, width = -1, None
    if known is not None:
        row = conn.execute(
            "SELECT ingest_time FROM batches WHERE first_offset = ?", (known[0],)
        ).fetchone()
        if row is not None and row[0] == known[1]:
            seen, width = known[0], known[2]
    last, more, stamp = conn.execute(
        "SELECT max(first_offset), max(max_time - min_time),"
        " (SELECT ingest_time FROM batches ORDER BY first_offset DESC LIMIT 1)"
        " FROM batches WHERE first_offset > ?",
        (seen,),
    ).fetchone()
    if last is None:
        return width
    width = int(more) if width is None else max(width, int(more))
    _WIDEST[key] = (int(last), int(stamp), width)
    return width


def narrow_end(conn: sqlite3.Connection, key: str, span: TimeRange) -> int | None:
    """For a time range much narrower than the partition's: the end of the ``max_time`` a
    batch in it can have (its events' times end before ``span.end``, each batch spans at
    most :func:`widest`), so the query reads that range of the max_time index instead of
    every summary. None: read them all."""
    if span.start is None or span.end is None:
        return None
    # two queries: SQLite reads one end of the index for a lone min() or max()
    (low,) = conn.execute("SELECT min(max_time) FROM batches").fetchone()
    (high,) = conn.execute("SELECT max(max_time) FROM batches").fetchone()
    if low is None:
        return None
    width = widest(conn, key)
    if width is None or span.end + width - span.start > (high - low) * _NARROW:
        return None
    return span.end + width


class _Where:
    """The conditions of one query, and their arguments in order."""

    def __init__(self, span: TimeRange, tag_choices: TagChoices, narrow: int | None = None) -> None:
        self.terms: list[str] = []
        self.args: list[int | str] = []
        if span.start is not None:
            self.add("max_time >= ?", span.start)
        if span.end is not None:
            self.add("min_time < ?", span.end)
        if narrow is not None:
            self.add("max_time <= ?", narrow)
        for tag, column in _TAG_COLUMNS.items():
            choices = tag_choices.get(tag)
            if choices is not None:
                marks = ",".join("?" * len(choices))
                self.add(f"{column} IN ({marks})" if choices else "0", *sorted(choices))

    def add(self, term: str, *args: int | str) -> None:
        self.terms.append(term)
        self.args.extend(args)

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.terms) if self.terms else ""


def summaries(
    conn: sqlite3.Connection,
    partition: int,
    span: TimeRange,
    tag_choices: TagChoices,
    *,
    descending: bool,
    below: int | None,
    from_offset: int | None,
    straddling: Buckets | None,
    narrow: int | None = None,
) -> Iterator[Summary]:
    """A row per batch, as ``LogReader.summaries`` gives them (``narrow``: see
    :func:`narrow_end`)."""
    where = _Where(span, tag_choices, narrow)
    # with a narrow range, the unary + keeps SQLite from scanning by the primary key instead
    first = "first_offset" if narrow is None else "+first_offset"
    if below is not None:
        where.add(f"{first} < ?", below)
    if from_offset is not None:
        # batches tile the offsets: the one holding from_offset starts at the greatest
        # first_offset not above it, a range on the primary key (not a scan of the table)
        where.add(
            f"{first} >= coalesce((SELECT max(first_offset) FROM batches"
            " WHERE first_offset <= ?), ?) AND first_offset + count > ?",
            from_offset,
            from_offset,
            from_offset,
        )
    if straddling is not None:
        where.add(f"NOT {_HELD}", *_held_args(straddling))
    # The partition is the first column, so that rows come out as Summary.
    sql = (
        "SELECT ?, first_offset, count, min_time, max_time, ingest_time, connector, idx, "
        f"sourcetype FROM batches{where.sql} ORDER BY first_offset"
        + (" DESC" if descending else "")
    )
    rows: Iterator[Summary] = conn.execute(sql, [partition, *where.args])
    return rows


def tag_groups(
    conn: sqlite3.Connection, span: TimeRange, tag_choices: TagChoices
) -> list[TagGroup]:
    """A row per tag combination: batches, earliest and latest event time."""
    where = _Where(span, tag_choices)
    return [
        (str(c), str(i), str(s), int(n), int(lo), int(hi))
        for c, i, s, n, lo, hi in conn.execute(
            "SELECT connector, idx, sourcetype, count(*), min(min_time), max(max_time) "
            f"FROM batches{where.sql} GROUP BY 1, 2, 3",
            where.args,
        )
    ]


def bucket_counts(
    conn: sqlite3.Connection, span: TimeRange, tag_choices: TagChoices, buckets: Buckets
) -> list[BucketCount]:
    """A row per tag combination and bucket of the batches ``buckets`` holds."""
    where = _Where(span, tag_choices)
    where.add(_HELD, *_held_args(buckets))
    return [
        (str(c), str(i), str(s), int(b), int(n), int(k))
        for c, i, s, b, n, k in conn.execute(
            "SELECT connector, idx, sourcetype, (min_time - ?) / ?, sum(count), count(*) "
            f"FROM batches{where.sql} GROUP BY 1, 2, 3, 4",
            [buckets.origin, buckets.width, *where.args],
        )
    ]
