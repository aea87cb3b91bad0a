"""Run a planned query over an event log's batches: plan from summaries, read only what can match.

The engine does no I/O of its own: it asks :class:`~lakehose.storage.base.LogReader` s for
summaries and blobs, so it runs over any log backend. ``run.py`` is how callers start it.

Theory of operation
-------------------
1. *Summaries.* Each partition's ``batches`` table says, per record batch, its
   offsets, event-time range and tags. One SQL query per partition returns the
   batches that meet the time range (``max_time`` is indexed) and whose tags
   can match (``#connector=x`` narrows to ``connector IN (...)``), newest first
   (or oldest first for ``head()``), across partitions in ingest order.
2. *Per batch, before reading its blob*: the plan settles the tag comparisons
   (:meth:`Plan.batch`). A batch that cannot match is skipped. A batch where
   every event matches, wholly inside the time range, is counted from its
   summary when the first stage only counts (``count()``, ``groupBy(#tag)``).
3. *Reading*: blobs are fetched a chunk at a time, decompressed, and the byte
   needles pick the candidate lines (``candidates.py``); only those are decoded,
   only for the fields the query uses (``decoding.py``), and checked against the
   time range and the filter. When the first stage aggregates (``count()``,
   ``groupBy``), a batch's candidate lines are decoded together in one call and
   checked in one loop that counts in place (``decoding.Aggregator``).
4. *Pipeline*: matching rows are pushed through the stages; the scan stops as
   soon as the output or a ``head``/``tail`` has what it needs. Rows leave after
   each batch, so a large result streams instead of filling memory.

Paging: an event list (filters and ``table()`` only) can stop after ``limit``
rows and continue later from a :class:`Cursor`, which records each partition's
position and the absolute time range, so later pages neither repeat nor skip.
"""

from __future__ import annotations

import heapq
import logging
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lakehose.errors import CorruptBatchError, QueryError, SearchTimeoutError
from lakehose.query.fields import TAGS
from lakehose.query.functions import GroupBy
from lakehose.query.plan import BatchPlan, Plan
from lakehose.query.prefilter import NeedleTree
from lakehose.query.stages import Aggregation, CountBy, Output, Stage
from lakehose.query.timerange import TimeRange
from lakehose.records import ZstdError, decompress_data, decompressor
from lakehose.search.candidates import LineFilter
from lakehose.search.cursor import Cursor, query_hash
from lakehose.search.decoding import Aggregator, BatchContext, LineDecoder, ScanFn, full_event
from lakehose.storage.base import LogReader, Summary

log = logging.getLogger(__name__)

_CHUNK_MIN, _CHUNK_MAX = 4, 64
_FIRST = operator.itemgetter(1)
_COUNT = operator.itemgetter(2)


# -- execution ----------------------------------------------------------------------------


@dataclass
class SearchStats:
    events_scanned: int = 0  # lines of the batches decompressed
    events_matched: int = 0  # rows that passed the filters before the first function
    events_from_summaries: int = 0  # counted from batch summaries without reading them
    batches_read: int = 0
    batches_skipped: int = 0  # ruled out by their summary (tags) without reading
    batches_from_summaries: int = 0
    columnar_files: int = 0  # columnar files the query read through DuckDB (search/tiers.py)
    rows: int = 0
    took_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events_scanned": self.events_scanned,
            "events_matched": self.events_matched,
            "events_from_summaries": self.events_from_summaries,
            "batches_read": self.batches_read,
            "batches_skipped": self.batches_skipped,
            "batches_from_summaries": self.batches_from_summaries,
            "columnar_files": self.columnar_files,
            "rows": self.rows,
            "took_ms": round(self.took_ms, 3),
            "warnings": list(self.warnings),
        }


class _BatchScan:
    """How batches with one combination of tags are scanned: their line filter and loops."""

    __slots__ = ("lines", "loops", "aggregators", "tags")

    def __init__(self, needles: NeedleTree | None, tags: tuple[str, str, str]) -> None:
        self.lines = LineFilter(needles)
        self.loops: list[ScanFn | None] = [None, None]  # [without, with] a time check
        self.aggregators: list[Aggregator | None] = [None, None]
        self.tags = dict(zip(TAGS, tags, strict=True))


class Search:
    """One execution of a plan. Iterate :meth:`rows`; then read ``stats`` and ``next_cursor``."""

    def __init__(
        self,
        plan: Plan,
        readers: Sequence[LogReader],
        span: TimeRange,
        *,
        limit: int | None = 200,
        cursor: str | None = None,
        time_limit: float | None = None,
        cursor_key: bytes = b"",
        older: Callable[[Stage], None] | None = None,
    ) -> None:
        self.plan = plan
        self.older = older  # pushes rows the readers do not show (search/tiers.py)
        self._key = cursor_key
        self.time_limit = time_limit  # seconds of scanning before SearchTimeoutError
        self.started: float | None = None  # monotonic start of the limit (default: rows())
        self.readers = {r.partition: r for r in readers}
        self.limit = limit
        self.stats = SearchStats()
        self.next_cursor: str | None = None
        self.truncated = False
        self._hash = query_hash(f"{plan.query.text}\x00{plan.kind}")
        if cursor and not plan.pageable:
            raise QueryError(
                "only event lists and table() can be paged; this query has no next page"
            )
        resumed = Cursor.decode(cursor, self._hash, cursor_key) if cursor else None
        self.span = resumed.span if resumed is not None else span
        self.descending = plan.descending
        if resumed is not None:
            self.positions = dict(resumed.positions)
        elif self.descending:
            self.positions = {p: r.bounds()[1] for p, r in self.readers.items()}
        else:
            self.positions = {}
        self.decoder = LineDecoder(plan.needed)
        self._numbered = plan.pageable or "offset" in plan.needed
        self._scans: dict[tuple[str, str, str], _BatchScan] = {}
        self._events = plan.kind == "events"
        # Aggregates take rows in any order and never stop the scan: lines go in bulk.
        self._sweep = bool(plan.steps) and isinstance(plan.steps[0], GroupBy) and not self._numbered
        self._counter: tuple[str, dict[Any, int]] | None = None  # set per run, see rows()

    # -- summaries, merged across partitions in ingest order ------------------------------

    def _summaries(self) -> Iterator[Summary]:
        streams = []
        for p, reader in self.readers.items():
            position = self.positions.get(p)
            streams.append(
                reader.summaries(
                    self.span,
                    self.plan.tag_choices,
                    descending=self.descending,
                    below=position if self.descending else None,
                    from_offset=position if not self.descending else None,
                )
            )
        if len(streams) == 1:
            return streams[0]
        if self.descending:
            return heapq.merge(*streams, key=lambda s: (-s[5], s[0]))
        return heapq.merge(*streams, key=lambda s: (s[5], s[0]))

    def _chunks(self, first: Stage) -> Iterator[list[Summary]]:
        """Summaries grouped into chunks that need reading, with the rest handled in passing."""
        chunk: list[Summary] = []
        size = _CHUNK_MIN
        per_batch = frozenset(TAGS)
        bulk = first.takes_counts(per_batch)
        span = self.span
        stats = self.stats
        decided: dict[tuple[str, str, str], BatchPlan] = {}  # Plan.batch, without a call
        for s in self._summaries():
            plan = decided.get(key := (s[6], s[7], s[8])) or decided.setdefault(
                key, self.plan.batch(*key)
            )
            if plan.skip:
                stats.batches_skipped += 1
                continue
            if plan.everything and bulk and span.covers(s[3], s[4]):
                first.push_count(dict(zip(TAGS, s[6:9], strict=True)), s[2])
                stats.batches_from_summaries += 1
                stats.events_from_summaries += s[2]
                stats.events_matched += s[2]
                continue
            chunk.append(s)
            if len(chunk) >= size:
                yield chunk
                chunk = []
                size = min(size * 2, _CHUNK_MAX)
        if chunk:
            yield chunk

    def _fetch(self, chunk: list[Summary]) -> dict[tuple[int, int], bytes]:
        wanted: dict[int, list[Summary]] = {}
        for s in chunk:
            wanted.setdefault(s[0], []).append(s)
        out: dict[tuple[int, int], bytes] = {}
        for p, group in wanted.items():
            reader = self.readers[p]
            firsts = list(map(_FIRST, group))
            low = min(firsts)
            high = max(map(operator.add, firsts, map(_COUNT, group)))
            # Batches tile a partition's offsets: when the group's events fill [low, high),
            # the group is every batch there, read by one range scan of the primary key.
            if sum(map(_COUNT, group)) == high - low:
                out.update({(p, first): blob for first, blob in reader.blob_range(low, high)})
            else:
                out.update({(p, first): blob for first, blob in reader.blobs(firsts).items()})
        return out

    # -- the scan -------------------------------------------------------------------------

    def rows(self) -> Iterator[dict[str, Any]]:
        """Output rows as they are found: whole events for an event list, else table rows."""
        started = time.perf_counter()
        pipeline = self.plan.pipeline(self.limit)
        first, output = pipeline[0], pipeline[-1]
        self._counter = first.counter() if isinstance(first, CountBy) else None
        assert isinstance(output, Output)
        stopped = False
        limit = self.time_limit
        begun = self.started if self.started is not None else time.monotonic()
        deadline = begun + limit if limit is not None else None
        try:
            for chunk in self._chunks(first):
                if deadline is not None and time.monotonic() > deadline:
                    assert limit is not None
                    raise SearchTimeoutError(limit)
                blobs = self._fetch(chunk)
                if self._sweep:  # an aggregate: no order, no positions, no early stop
                    self._aggregate(chunk, blobs, first)
                    continue
                for s in chunk:
                    blob = blobs.get((s[0], s[1]))
                    if blob is None:  # removed by retention since the summary was read
                        continue
                    stopped = not self._scan_batch(s, blob, first)
                    yield from self._drain(output)
                    if stopped:
                        break
                if stopped:
                    break
            if self.older is not None and not stopped:
                self.older(first)  # the columnar tier's share, oldest, after the row log's
            first.finish()  # stopped or not: held rows (tail, sort, groups) come out now
            yield from self._drain(output)
            self.truncated = output.dropped > 0  # rows were refused past the limit
            matched = self.stats.events_matched + self.stats.events_from_summaries
            if isinstance(first, Aggregation) and first.fields and matched and not first.rows_made:
                names = ", ".join(first.fields)
                self.stats.warnings.append(
                    f"groupBy({names}): no matching event has "
                    f"{'the field' if len(first.fields) == 1 else 'every one of the fields'} "
                    f"{names} ({matched} events matched the filters)"
                )
            for stage in pipeline:
                if isinstance(stage, Aggregation) and stage.dropped_groups:
                    self.stats.warnings.append(
                        f"groupBy() kept its first {stage.spec.limit} groups; "
                        f"{stage.dropped_groups} events of other groups were left out "
                        "(raise its limit= to keep more)"
                    )
            if stopped and self.plan.pageable:
                self.next_cursor = Cursor(
                    self._hash, self.descending, self.positions, self.span
                ).encode(self._key)
        finally:
            self.stats.took_ms = (time.perf_counter() - started) * 1000

    def _skip_damaged(self, exc: CorruptBatchError) -> None:
        log.warning("search skipped a batch: %s", exc)
        self.stats.warnings.append(str(exc))

    def _scan_for(self, tags: tuple[str, str, str]) -> _BatchScan:
        scan = self._scans.get(tags)
        if scan is None:
            scan = self._scans[tags] = _BatchScan(self.plan.batch(*tags).needles, tags)
        return scan

    def _aggregate(
        self, chunk: list[Summary], blobs: dict[tuple[int, int], bytes], first: Stage
    ) -> None:
        """Push the matching rows of a chunk's batches into a first stage that aggregates.

        Rows go in any order and the scan never stops early, so the loop keeps no
        positions; it runs per batch, so what it can it looks up once per chunk.
        """
        span, scans = self.span, self._scans
        start, end = span.start, span.end
        push = first.push
        counter = self._counter
        counts = counter[1] if counter is not None else {}
        decompress = decompressor()
        uses_batch = self.decoder.uses_batch
        batch = None
        matched = read = scanned = 0
        for p, first_offset, count, low, high, ingest_time, connector, index, sourcetype in chunk:
            blob = blobs.get((p, first_offset))
            if blob is None:  # removed by retention since the summary was read
                continue
            try:
                data = decompress(blob)
            except ZstdError as exc:
                self._skip_damaged(CorruptBatchError(p, first_offset, str(exc)))
                continue
            read += 1
            scanned += count
            scan = scans.get(key := (connector, index, sourcetype)) or self._scan_for(key)
            # Only a batch that straddles an end of the range needs each event's time checked.
            with_time = (start is not None and low < start) or (end is not None and high >= end)
            aggregate = scan.aggregators[with_time]
            if aggregate is None:
                aggregate = scan.aggregators[with_time] = self.decoder.aggregator(
                    self.plan.batch(*key).residual,
                    with_time=with_time,
                    count_by=counter[0] if counter is not None else None,
                )
            if uses_batch:
                batch = BatchContext(p, first_offset, ingest_time, scan.tags)
            lines = scan.lines
            if lines.test is None:  # every line is a candidate
                matched += aggregate.whole(data, count, batch, push, span, counts)
                continue
            found = lines.candidates(data)
            if found is None:
                found = [line for _, line in lines.lines(data, False)]
            matched += aggregate.lines(found, batch, push, span, counts)
        if counter is not None and counter[0] == "":
            first.push_count({}, matched)  # count() alone: the rows were not pushed
        stats = self.stats
        stats.batches_read += read
        stats.events_scanned += scanned
        stats.events_matched += matched

    def _scan_batch(self, s: Summary, blob: bytes, first: Stage) -> bool:
        """Push a batch's matching rows; False when the pipeline wants no more."""
        p, first_offset, count = s[0], s[1], s[2]
        try:
            data = decompress_data(blob, p, first_offset)
        except CorruptBatchError as exc:
            self._skip_damaged(exc)
            return True
        stats = self.stats
        stats.batches_read += 1
        stats.events_scanned += count
        tags = (s[6], s[7], s[8])
        scan = self._scan_for(tags)
        with_time = not self.span.covers(s[3], s[4])
        batch = BatchContext(p, first_offset, s[5], scan.tags)
        candidates = scan.lines.lines(data, self._numbered)
        position = self.positions.get(p)
        if self.descending:
            self.positions[p] = first_offset
            candidates.reverse()
            # Lines already returned on an earlier page (the cursor cuts inside this batch).
            if position is not None and first_offset + count > position:
                candidates = [c for c in candidates if first_offset + c[0] < position]
        else:
            self.positions[p] = first_offset + count
            if position is not None and first_offset < position:
                candidates = [c for c in candidates if first_offset + c[0] >= position]
        if not candidates:
            return True
        loop = scan.loops[with_time]
        if loop is None:
            residual = self.plan.batch(*tags).residual
            loop = scan.loops[with_time] = self.decoder.scanner(residual, with_time=with_time)
        matched, stopped_at = loop(candidates, batch, first.push, self.span, self._events)
        stats.events_matched += matched
        if stopped_at >= 0:
            # The output refused this line's row: the next page starts with it.
            offset = first_offset + stopped_at
            self.positions[p] = offset + 1 if self.descending else offset
            return False
        return True

    def _drain(self, output: Output) -> Iterator[dict[str, Any]]:
        rows = output.drain()
        if not rows:
            return
        self.stats.rows += len(rows)
        if self.plan.kind == "events":
            for _, (batch, index, line) in rows:
                yield full_event(line, batch, index)
        else:
            for values, _ in rows:
                yield values
