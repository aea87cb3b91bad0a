"""Event counts over time in buckets, for a query's filter: the search page's histogram.

Theory of operation
-------------------
The histogram counts the events that the *leading filter* of a query matches
(what comes before the first ``|``), over the whole time range, whatever the
rest of the pipeline keeps. Buckets have a round width (1 s, 5 m, 1 h, 1 d...)
chosen so that the range holds at most the number asked for, and start at
multiples of it since the epoch (UTC), so that zooming keeps edges stable.

1. *Summaries*: each partition's batch summaries that meet the range and whose
   tags can match are read (no blobs), as a search plans.
2. *Counted from summaries*: when the filter matches every event of a batch
   once its tags are known (no filter, or tags only: ``#connector=edr``), and the
   batch's event times lie inside the range and inside one bucket, its count is
   added to that bucket without reading it. Batches hold one request's events,
   whose times are usually close together, so almost every batch qualifies.
3. *Scanned*: any other batch is decompressed; its candidate lines (byte needles,
   ``candidates.py``) are decoded many at a time for the time and the fields the
   filter reads (``decoding.Aggregator``), and each match is counted in the
   bucket of its own time.

The counts are exact either way; ``stats`` tells how many events were counted
from summaries and how many lines were read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehose.errors import CorruptBatchError, SearchTimeoutError, StorageError
from lakehose.query.fields import TAGS
from lakehose.query.nodes import Call, Filter, Query
from lakehose.query.plan import Plan, plan_query
from lakehose.query.timerange import TimeRange
from lakehose.records import ZstdError, decompressor
from lakehose.search.candidates import LineFilter
from lakehose.search.decoding import Aggregator, BatchContext, LineDecoder, ScanFn
from lakehose.search.engine import SearchStats
from lakehose.search.tiers import bucket_split
from lakehose.storage.base import Buckets, LogReader, Summary
from lakehose.storage.columnar.tier import ColumnarTier

DEFAULT_BUCKETS = 100
MAX_BUCKETS = 1000
_CHUNK = 64  # batches whose blobs are fetched in one query
_S = 1_000_000_000
# Round bucket widths in ns, smallest first.
WIDTHS: tuple[int, ...] = tuple(
    int(w)
    for w in (
        *(x * _S // 1000 for x in (1, 2, 5, 10, 20, 50, 100, 200, 500)),
        *(x * _S for x in (1, 2, 5, 10, 15, 30)),
        *(x * 60 * _S for x in (1, 2, 5, 10, 15, 30)),
        *(x * 3600 * _S for x in (1, 2, 3, 6, 12)),
        *(x * 86400 * _S for x in (1, 2, 7, 14, 30, 60, 90, 180, 365)),
    )
)


def bucket_width(span_ns: int, buckets: int) -> int:
    """The smallest round width that cuts ``span_ns`` into at most ``buckets`` buckets."""
    for width in WIDTHS:
        if -(-span_ns // width) <= buckets:
            return width
    years = -(-span_ns // (buckets * WIDTHS[-1]))
    return years * WIDTHS[-1]


def filter_plan(plan: Plan) -> Plan:
    """The plan of a query's leading filter alone (what the histogram and field list count)."""
    leading: list[Filter] = []
    for stage in plan.query.stages:
        if isinstance(stage, Call):
            break
        leading.append(stage)
    if len(leading) == len(plan.query.stages):
        return plan
    return plan_query(Query(tuple(leading), text="\x00filter\x00" + plan.query.text))


@dataclass
class Histogram:
    """Counts per bucket: bucket ``i`` covers ``[start + i * width, start + (i + 1) * width)``."""

    start: int | None  # ns; None when nothing in the lake can match
    width: int
    counts: list[int]
    span: TimeRange  # the range asked for, resolved to ns
    stats: SearchStats = field(default_factory=SearchStats)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats.to_dict()
        del stats["rows"]
        return {
            "start": self.start,
            "end": None if self.start is None else self.start + self.width * len(self.counts),
            "bucket_ns": self.width,
            "counts": self.counts,
            "total": self.total,
            "range": {"start": self.span.start, "end": self.span.end},
            "stats": stats,
        }


class _Scan:
    """How the batches of one tag combination are read: their line filter and loops."""

    __slots__ = ("lines", "loops", "scanners", "tags", "residual")

    def __init__(self, plan: Plan, tags: tuple[str, str, str]) -> None:
        decided = plan.batch(*tags)
        self.lines = LineFilter(decided.needles)
        self.residual = decided.residual
        self.loops: list[Aggregator | None] = [None, None]  # [without, with] a time check
        self.scanners: list[ScanFn | None] = [None, None]
        self.tags = dict(zip(TAGS, tags, strict=True))


def histogram(
    plan: Plan,
    readers: Sequence[LogReader],
    span: TimeRange,
    *,
    buckets: int = DEFAULT_BUCKETS,
    time_limit: float | None = None,
    columnar: Callable[[], ColumnarTier | None] | None = None,
) -> Histogram:
    """Count the events the leading filter of ``plan`` matches in ``span``, in buckets; with
    ``columnar`` (the data directory's tier), compacted events are counted there."""
    started = time.perf_counter()
    deadline = None if time_limit is None else time.monotonic() + time_limit
    plan = filter_plan(plan)
    stats = SearchStats()
    tags = plan.tag_choices
    # Per tag combination: batches, earliest and latest event time.
    combos: dict[Combo, list[int]] = {}
    for reader in readers:
        for connector, index, sourcetype, batches, low, high in reader.tag_groups(span, tags):
            seen = combos.setdefault((connector, index, sourcetype), [0, low, high])
            seen[0] += batches
            seen[1], seen[2] = min(seen[1], low), max(seen[2], high)
    everything: set[Combo] = set()
    scanned: set[Combo] = set()
    for key, (batches, _, _) in combos.items():
        decided = plan.batch(*key)
        if decided.skip:
            stats.batches_skipped += batches
        else:
            (everything if decided.everything else scanned).add(key)
    kept = [combos[k] for k in everything | scanned]
    if not kept:
        stats.took_ms = (time.perf_counter() - started) * 1000
        return Histogram(None, bucket_width(_length(span), buckets), [], span, stats)
    low = span.start if span.start is not None else min(k[1] for k in kept)
    high = span.end if span.end is not None else max(k[2] for k in kept) + 1
    width = bucket_width(max(high - low, 1), buckets)
    origin = low - low % width
    counts = [0] * (-(-(high - origin) // width))
    last = len(counts) - 1
    # Batches inside the range and inside one bucket: counted from their summaries.
    cut = Buckets(origin, width, low, high)
    if columnar is not None:
        readers = _columnar_share(
            plan, span, readers, columnar, origin, width, counts, stats, deadline, time_limit
        )
    if everything:
        for reader in readers:
            for c, i, s, bucket, events, batches in reader.bucket_counts(span, tags, cut):
                if (c, i, s) in everything and 0 <= bucket <= last:
                    counts[bucket] += events
                    stats.batches_from_summaries += batches
                    stats.events_from_summaries += events
    # The rest is read: every batch of a combination the filter must check, and the
    # batches of the others that straddle a bucket's edge or the range's.
    to_read: list[Summary] = []
    for reader in readers:
        straddling = None if scanned else cut
        rows = reader.summaries(span, tags, descending=False, straddling=straddling)
        for row in rows:
            combo = (row[6], row[7], row[8])
            if combo in scanned or (combo in everything and not cut.holds(row[3], row[4])):
                to_read.append(row)

    def push(values: dict[str, Any], _: Any) -> bool:
        i = (values["time"] - origin) // width
        counts[i if 0 <= i <= last else (0 if i < 0 else last)] += 1
        return True

    _scan_batches(plan, readers, span, to_read, push, stats, deadline, time_limit)
    stats.events_matched = sum(counts)
    stats.took_ms = (time.perf_counter() - started) * 1000
    return Histogram(origin, width, counts, span, stats)


Combo = tuple[str, str, str]


def _columnar_share(
    plan: Plan,
    span: TimeRange,
    readers: Sequence[LogReader],
    columnar: Callable[[], ColumnarTier | None],
    origin: int,
    width: int,
    counts: list[int],
    stats: SearchStats,
    deadline: float | None,
    time_limit: float | None,
) -> Sequence[LogReader]:
    """Count the compacted events in DuckDB (``search/tiers.py``); the readers that show the
    batches above the columnar boundaries, or all of them when the row engine counts alone."""
    tier = columnar()
    if tier is None:
        return readers
    try:
        try:
            share = bucket_split(
                plan,
                span,
                readers,
                tier,
                origin,
                width,
                deadline=deadline,
                time_limit=time_limit or 0.0,
            )
        except StorageError:
            return readers  # a file went away (retention): the row log has it all
    finally:
        tier.close()
    if share is None:
        return readers
    last = len(counts) - 1
    for bucket, n in share.counts.items():
        counts[min(bucket, last)] += n
    stats.columnar_files = share.files
    stats.events_scanned += share.scanned
    return share.readers


def _length(span: TimeRange) -> int:
    if span.start is not None and span.end is not None:
        return max(span.end - span.start, 1)
    return 3600 * _S


def _scan_batches(
    plan: Plan,
    readers: Sequence[LogReader],
    span: TimeRange,
    to_read: list[Summary],
    push: Any,
    stats: SearchStats,
    deadline: float | None,
    time_limit: float | None,
) -> None:
    """Read the batches of ``to_read`` and push each matching event's time."""
    by_partition = {r.partition: r for r in readers}
    decoder = LineDecoder(plan.needed | {"time"})
    # A filter on ``offset`` needs each line's number: the per-line loop keeps it.
    numbered = "offset" in plan.needed
    scans: dict[tuple[str, str, str], _Scan] = {}
    decompress = decompressor()
    for at in range(0, len(to_read), _CHUNK):
        if deadline is not None and time.monotonic() > deadline:
            raise SearchTimeoutError(time_limit or 0.0)
        chunk = to_read[at : at + _CHUNK]
        blobs: dict[tuple[int, int], bytes] = {}
        for p in {s[0] for s in chunk}:
            firsts = [s[1] for s in chunk if s[0] == p]
            blobs.update({(p, k): v for k, v in by_partition[p].blobs(firsts).items()})
        for s in chunk:
            blob = blobs.get((s[0], s[1]))
            if blob is None:  # removed by retention since the summary was read
                continue
            try:
                data = decompress(blob)
            except ZstdError as exc:
                stats.warnings.append(str(CorruptBatchError(s[0], s[1], str(exc))))
                continue
            stats.batches_read += 1
            stats.events_scanned += s[2]
            key = (s[6], s[7], s[8])
            scan = scans.get(key)
            if scan is None:
                scan = scans[key] = _Scan(plan, key)
            with_time = not span.covers(s[3], s[4])
            batch = BatchContext(s[0], s[1], s[5], scan.tags)
            if numbered:
                scanner = scan.scanners[with_time]
                if scanner is None:
                    scanner = decoder.scanner(scan.residual, with_time=with_time)
                    scan.scanners[with_time] = scanner
                scanner(scan.lines.lines(data, True), batch, push, span, False)
                continue
            loop = scan.loops[with_time]
            if loop is None:
                loop = scan.loops[with_time] = decoder.aggregator(
                    scan.residual, with_time=with_time
                )
            if scan.lines.test is None:
                loop.whole(data, s[2], batch, push, span, {})
                continue
            found = scan.lines.candidates(data)
            if found is None:
                found = [line for _, line in scan.lines.lines(data, False)]
            loop.lines(found, batch, push, span, {})
