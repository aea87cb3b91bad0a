"""One query over both tiers: DuckDB on the columnar files below each partition's boundary,
the row engine on the record batches above it, so that every event is seen once.

Theory of operation
-------------------
Only a query whose first function aggregates (``count()``, ``groupBy(...)``,
``sum()``…) is split; event lists, ``head``, ``tail``, ``sort`` and ``table`` run on
the row engine alone (which still holds every batch: ``storage/columnar``), since
they read few events. For a split query:

Nor is a query on tags alone (``#connector=edr | count()``): the row engine counts
whole batches from their summaries without reading them, faster than any scan.

1. A snapshot of the manifest fixes each partition's *boundary*: the end offset of
   its last file. Files outside the time range, wholly dropped by retention, or
   without a token a free-text word needs (``sql.free_text_runs``) are left out;
   the boundary stays.
2. The scan filter and the aggregate become SQL (``sql.py``); if any part cannot be
   translated exactly, or a file is irregular, the whole query runs on the row
   engine instead.
3. The row engine runs with readers that only show batches at or above the
   boundary; after its scan, before the pipeline finishes, the SQL's results are
   pushed into the first stage: counts per group (``push_count``) for plain counts,
   else the matching rows themselves, oldest batches last, as the row engine
   would have pushed them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from lakehose.models import BatchInfo
from lakehose.query.fields import UnknownFieldError, field_ref
from lakehose.query.functions import GroupBy
from lakehose.query.plan import Plan
from lakehose.query.stages import SortKey, Stage
from lakehose.query.timerange import TimeRange
from lakehose.search.sql import (
    Scope,
    Untranslatable,
    condition,
    free_text_runs,
    literal,
    span_condition,
)
from lakehose.storage.base import (
    BucketCount,
    Buckets,
    LogReader,
    Summary,
    TagChoices,
    TagGroup,
    bucket_counts_of,
    tag_groups_of,
)
from lakehose.storage.columnar.manifest import IRREGULAR, ColumnarFile
from lakehose.storage.columnar.tier import ColumnarTier

Older = Callable[[Stage], None]


class AboveBoundary:
    """A reader that shows search only the batches at or above ``low`` (the columnar boundary)."""

    def __init__(self, reader: LogReader, low: int) -> None:
        self.reader = reader
        self.partition = reader.partition
        self.low = low

    def close(self) -> None:
        self.reader.close()

    def bounds(self) -> tuple[int, int]:
        return self.reader.bounds()

    def batches_from(self, offset: int, limit: int) -> list[tuple[BatchInfo, bytes]]:
        return self.reader.batches_from(max(offset, self.low), limit)

    def summaries(
        self,
        span: TimeRange,
        tag_choices: TagChoices,
        *,
        descending: bool,
        below: int | None = None,
        from_offset: int | None = None,
        straddling: Buckets | None = None,
    ) -> Iterator[Summary]:
        low = self.low if from_offset is None else max(from_offset, self.low)
        return self.reader.summaries(
            span,
            tag_choices,
            descending=descending,
            below=below,
            from_offset=low,
            straddling=straddling,
        )

    def tag_groups(self, span: TimeRange, tag_choices: TagChoices) -> list[TagGroup]:
        """Aggregated here from the batches above the boundary (the backend's own
        aggregate would count the compacted ones too)."""
        return tag_groups_of(self.summaries(span, tag_choices, descending=False))

    def bucket_counts(
        self, span: TimeRange, tag_choices: TagChoices, buckets: Buckets
    ) -> list[BucketCount]:
        """Aggregated here from the batches above the boundary, as :meth:`tag_groups`."""
        return bucket_counts_of(self.summaries(span, tag_choices, descending=False), buckets)

    def blob_range(self, low: int, high: int) -> Iterator[tuple[int, bytes]]:
        return self.reader.blob_range(low, high)

    def blobs(self, first_offsets: Sequence[int]) -> dict[int, bytes]:
        return self.reader.blobs(first_offsets)

    def connector_totals(self) -> dict[str, tuple[int, int, int]]:
        return self.reader.connector_totals()

    def ingest_counts(self, since_ns: int, width_ns: int) -> list[tuple[str, int, int]]:
        return self.reader.ingest_counts(since_ns, width_ns)

    def events_since(self, since_ns: int) -> int:
        return self.reader.events_since(since_ns)

    def stored_bytes(self) -> int:
        return self.reader.stored_bytes()

    def oldest_ingest_time(self) -> int | None:
        return self.reader.oldest_ingest_time()

    def ingest_time_at(self, offset: int) -> int | None:
        return self.reader.ingest_time_at(offset)

    def newest_ingest_time(self) -> int | None:
        return self.reader.newest_ingest_time()

    def offset_for_time(self, ns: int) -> int:
        return self.reader.offset_for_time(ns)

    def summaries_from(self, offset: int, limit: int) -> list[BatchInfo]:
        return self.reader.summaries_from(max(offset, self.low), limit)

    def blobs_of(self, firsts: Sequence[int]) -> dict[int, bytes]:
        return self.reader.blobs_of(firsts)


def _per_batch(name: str) -> bool:
    try:
        return field_ref(name).per_batch
    except UnknownFieldError:
        return False


def _may_hold(tier: ColumnarTier, f: ColumnarFile, runs: list[str]) -> bool:
    if not runs:
        return True
    text = tier.token_text(f)
    if text is None:
        return True
    return all(run.encode() in text for run in runs)


@dataclass
class Split:
    readers: list[LogReader]  # the row log above each boundary
    older: Older  # adds the columnar files' share to the first stage
    files: int  # columnar files the SQL reads
    scanned: int = 0  # events in those files (within the partitions' ranges)
    matched: int = 0  # of them, events the scan filter kept


def _rows_in(f: ColumnarFile, start: int) -> int:
    """Events of ``f`` at or above the partition's ``start`` (retention may cut a file)."""
    return max(0, min(f.rows, f.end_offset - max(f.first_offset, start)))


@dataclass
class _Choice:
    """The files a query reads below the boundaries, and the readers above them."""

    readers: list[LogReader]
    files: list[ColumnarFile]
    scope: Scope
    starts: dict[int, int]  # partition -> its first kept offset
    where: str  # the scan filter in SQL ("false" when no file is chosen)
    cut: dict[int, int]  # partitions with a chosen file that starts before the first kept offset

    def scanned(self) -> int:
        return sum(_rows_in(f, self.starts[f.partition]) for f in self.files)

    def source(self, span: TimeRange) -> tuple[str, str]:
        """``(FROM, WHERE)`` of a statement over the chosen files."""
        conditions = [
            f'("partition" != {p} OR "offset" >= {s})' for p, s in sorted(self.cut.items())
        ]
        if span.start is not None or span.end is not None:
            conditions.append(span_condition(span))
        conditions.append(self.where)
        return "read_parquet(?, union_by_name = true)", " AND ".join(conditions)


def _choose(
    plan: Plan, span: TimeRange, readers: Sequence[LogReader], tier: ColumnarTier
) -> _Choice | None:
    """Files, SQL filter and readers above the boundaries; None when the row engine alone
    should run the query (tags alone, no files, an irregular file, no exact translation)."""
    if all(_per_batch(name) for name in plan.needed):
        return None  # tags alone: the row engine counts whole batches from their summaries
    files = tier.files()
    if not files:
        return None
    starts = {r.partition: r.bounds()[0] for r in readers}
    boundary: dict[int, int] = {}
    for f in files:
        boundary[f.partition] = max(boundary.get(f.partition, 0), f.end_offset)
    runs = free_text_runs(plan.scan_filter)
    chosen = [
        f
        for f in files
        if f.partition in starts
        and f.end_offset > starts[f.partition]
        and span.meets(f.min_time, f.max_time)
    ]
    if any(f.flags & IRREGULAR for f in chosen):
        return None
    chosen = [f for f in chosen if _may_hold(tier, f, runs)]
    scope = Scope(chosen, tier.column_tokens)
    try:
        where = condition(plan.scan_filter, scope, exact=False) if chosen else "false"
    except Untranslatable:
        return None
    # a partition whose files retention has cut into needs its offsets checked; others not
    cut = {f.partition: starts[f.partition] for f in chosen if f.first_offset < starts[f.partition]}
    wrapped: list[LogReader] = [
        AboveBoundary(r, boundary[r.partition]) if r.partition in boundary else r for r in readers
    ]
    return _Choice(wrapped, chosen, scope, starts, where, cut)


def split(
    plan: Plan,
    span: TimeRange,
    readers: Sequence[LogReader],
    tier: ColumnarTier,
    *,
    deadline: float | None = None,
    time_limit: float = 0.0,
) -> Split | None:
    """Readers above the boundaries and the step that adds the columnar results; None when
    the query runs on the row engine alone. The SQL stops at ``deadline`` (monotonic) with
    SearchTimeoutError(``time_limit``)."""
    if not plan.steps or not isinstance(plan.steps[0], GroupBy) or plan.kind != "table":
        return None
    group: GroupBy = plan.steps[0]
    choice = _choose(plan, span, readers, tier)
    if choice is None:
        return None
    if not choice.files:
        return Split(choice.readers, lambda first: None, 0)
    try:
        sql = _statement(plan, group, choice, span)
    except Untranslatable:
        return None
    paths = [[tier.path(f) for f in choice.files]]
    found = tier.execute(sql.statement, paths, deadline=deadline, limit=time_limit)
    matched = sql.matched(found)
    if sql.ordered is not None and sql.ties is not None and sql.ties(found):
        found = tier.execute(sql.ordered, paths, deadline=deadline, limit=time_limit)
    push = sql.push

    def older(first: Stage) -> None:
        push(first, found)

    return Split(choice.readers, older, len(choice.files), choice.scanned(), matched)


@dataclass
class BucketSplit:
    """A histogram's share of the columnar files: counts per bucket, and the readers above."""

    readers: list[LogReader]
    counts: dict[int, int]  # bucket (0 for events before origin; not clamped above) -> events
    files: int
    scanned: int


def bucket_split(
    plan: Plan,
    span: TimeRange,
    readers: Sequence[LogReader],
    tier: ColumnarTier,
    origin: int,
    width: int,
    *,
    deadline: float | None = None,
    time_limit: float = 0.0,
) -> BucketSplit | None:
    """The matching events of the files counted per bucket ``(time - origin) // width`` (the
    histogram clamps, as it does its own); None when the row engine alone should count."""
    choice = _choose(plan, span, readers, tier)
    if choice is None:
        return None
    if not choice.files:
        return BucketSplit(choice.readers, {}, 0, 0)
    source, filters = choice.source(span)
    # on HUGEINT, no overflow; an event before origin counts in bucket 0, as the histogram
    # clamps its own (DuckDB's // truncates, so negatives are clamped first)
    bucket = f'greatest(CAST("time" AS HUGEINT) - {int(origin)}, 0) // {int(width)}'
    statement = f"SELECT {bucket} AS b, count(*) FROM {source} WHERE {filters} GROUP BY b"
    paths = [[tier.path(f) for f in choice.files]]
    found = tier.execute(statement, paths, deadline=deadline, limit=time_limit)
    counts = {int(b): int(n) for b, n in found}
    return BucketSplit(choice.readers, counts, len(choice.files), choice.scanned())


Push = Callable[[Stage, list[tuple[Any, ...]]], None]


@dataclass
class _Sql:
    """The statement for the files, how its rows enter the pipeline, and when to ask again
    in the row engine's order (``ordered``, if ``ties`` of the rows says so)."""

    statement: str
    push: Push
    ordered: str | None = None
    ties: Callable[[list[tuple[Any, ...]]], bool] | None = None
    matched: Callable[[list[tuple[Any, ...]]], int] = len  # events the statement's rows stand for


# The row engine's order: newest batch first (partitions by number), lines in order.
_ORDER = '(-"ingest_time", "partition", -"batch", "offset")'


def _statement(plan: Plan, group: GroupBy, choice: _Choice, span: TimeRange) -> _Sql:
    scope = choice.scope
    source, filters = choice.source(span)
    counts = all(a.kind == "count" and a.field is None for a in group.aggregates)
    if counts:
        keys = [scope.typed(name) for name in group.fields]
        exprs = [c for cols in keys for c, _ in cols]
        if not group.fields:
            return _Sql(
                f"SELECT count(*) FROM {source} WHERE {filters}", _push_total, matched=_last_sum
            )
        if any(not cols for cols in keys):
            return _Sql(f"SELECT 1 FROM {source} WHERE false", lambda first, rows: None)
        select = ", ".join(exprs)
        statement = f"SELECT {select}, count(*) FROM {source} WHERE {filters} GROUP BY {select}"
        # Groups whose output order could tie (equal counts and equal sort keys, as "1" and
        # "01" do) come out in the order the row engine met them first; finding that order
        # costs, so it is asked for only when two keys sort equal.
        ordered = (
            f"SELECT {select}, count(*), min({_ORDER}) AS first_seen FROM {source}"
            f" WHERE {filters} GROUP BY {select} ORDER BY first_seen"
        )
        widths = [len(cols) for cols in keys]
        return _Sql(
            statement,
            _counts_pusher(group.fields, widths),
            ordered,
            _ties(group.fields, widths),
            _last_sum,
        )
    names = sorted(set(group.fields) | {a.field for a in group.aggregates if a.field is not None})
    keys = [scope.typed(name) for name in names]
    exprs = [c for cols in keys for c, _ in cols] or ["NULL"]
    statement = f"SELECT {', '.join(exprs)} FROM {source} WHERE {filters} ORDER BY {_ORDER}"
    return _Sql(statement, _rows_pusher(names, [len(cols) for cols in keys]))


def _last_sum(rows: list[tuple[Any, ...]]) -> int:
    """The events counted by rows ending in their count (groups without a key included)."""
    return sum(int(row[-1]) for row in rows)


def _push_total(first: Stage, rows: list[tuple[Any, ...]]) -> None:
    if rows and rows[0][0]:
        first.push_count({}, int(rows[0][0]))


def _pick(row: tuple[Any, ...], widths: list[int]) -> Iterator[Any]:
    """Each field's value from its typed columns (at most one is not NULL); None if none."""
    i = 0
    for w in widths:
        value = None
        for v in row[i : i + w]:
            if v is not None:
                value = v
                break
        i += w
        yield value


def _counts_pusher(fields: tuple[str, ...], widths: list[int]) -> Push:

    def push(first: Stage, rows: list[tuple[Any, ...]]) -> None:
        for values, count in _groups(fields, widths, rows):
            first.push_count(values, count)

    return push


def _groups(
    fields: tuple[str, ...], widths: list[int], rows: list[tuple[Any, ...]]
) -> Iterator[tuple[dict[str, Any], int]]:
    at = sum(widths)
    for row in rows:
        values = dict(zip(fields, _pick(row, widths), strict=True))
        if any(v is None for v in values.values()):
            continue  # an event without every group field is left out
        yield values, int(row[at])


def _ties(fields: tuple[str, ...], widths: list[int]) -> Callable[[list[tuple[Any, ...]]], bool]:
    def ties(rows: list[tuple[Any, ...]]) -> bool:
        keys = [SortKey.of(values, fields).parts for values, _ in _groups(fields, widths, rows)]
        return len(set(keys)) < len(keys)

    return ties


def _rows_pusher(names: list[str], widths: list[int]) -> Push:
    def push(first: Stage, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            values = {n: v for n, v in zip(names, _pick(row, widths), strict=True) if v is not None}
            first.push(values)

    return push


__all__ = ["AboveBoundary", "split", "literal"]
