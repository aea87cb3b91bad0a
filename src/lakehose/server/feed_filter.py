"""Server-side feed filters (a lakehose extension): tags, ``eventType`` and ``filter=<query>``.

Theory of operation
-------------------
The query is planned once per feed (``query/plan.py``); only a filter expression
is accepted, no ``|`` functions. Each step reads the *summaries* of the next
batches (``EventLog.feed_summaries``): a batch whose connector, index or
sourcetype cannot match, or for which the plan settles the filter to nothing
from those tags alone, is passed over without reading its blob. The blobs of the
others are fetched in one query (awaited on a cluster, so the worker's loop is not
held while they travel) and decompressed; the plan's byte needles pick
the candidate lines (``search/candidates.py``), and the generated scan loop of
the search engine decodes only those and tests the filter. The matching lines are
rendered at their own offsets, so a filtered consumer commits and resumes with
the lake's offsets like any other. A step reads a bounded number of events, so a
long stretch without a match still yields the loop (and lets keep-alives out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lakehose.errors import CorruptBatchError
from lakehose.models import BatchInfo
from lakehose.query.fields import TAGS
from lakehose.query.plan import Plan, plan_query
from lakehose.query.timerange import TimeRange
from lakehose.records import decompress_data
from lakehose.search.candidates import LineFilter
from lakehose.search.decoding import BatchContext, LineDecoder, ScanFn
from lakehose.server.feed_options import FeedOptions
from lakehose.server.replies.falcon import FeedFormat, render, render_lines
from lakehose.storage.base import LogReader

SUMMARIES_PER_STEP = 64
EVENTS_PER_STEP = 32_000  # events decompressed and scanned per step, at most (a few ms)
_EVERYTHING = TimeRange()


@dataclass(slots=True)
class _Scan:
    lines: LineFilter
    loop: ScanFn | None


@dataclass(slots=True)
class Step:
    """What one step of a filtered feed produced."""

    chunks: list[bytes] = field(default_factory=list)
    events: int = 0  # sent
    scanned: int = 0  # read from blobs
    skipped: int = 0  # passed over by their summaries
    position: int = 0  # where the next step starts


class FeedSource(Protocol):
    """Where a filtered feed reads (the runtime: ``EventLog.feed_summaries``/``feed_blobs``)."""

    def feed_summaries(self, reader: LogReader, offset: int, limit: int) -> list[BatchInfo]: ...

    async def feed_blobs(self, reader: LogReader, firsts: Sequence[int]) -> dict[int, bytes]: ...


class FeedFilter:
    """Which events of a partition a filtered feed sends; built once per feed."""

    def __init__(self, options: FeedOptions, event_types: frozenset[str] | None) -> None:
        self.connectors = options.connectors
        self.indexes = options.indexes
        sourcetypes = options.sourcetypes
        if event_types is not None:  # eventType is the sourcetype
            sourcetypes = event_types if sourcetypes is None else sourcetypes & event_types
        self.sourcetypes = sourcetypes
        self.plan: Plan | None = None
        self.decoder: LineDecoder | None = None
        if options.filter:
            plan = plan_query(options.filter)  # QueryError: a 400 with its column
            if plan.steps:
                raise ValueError(
                    "filter= takes a filter expression only (no '|' and no functions), "
                    "e.g. filter=#sourcetype=auth and user=admin"
                )
            self.plan = plan
            self.decoder = LineDecoder(plan.needed)
        self._scans: dict[tuple[str, str, str], _Scan] = {}

    def passes_over(self, info: BatchInfo) -> bool:
        """True when no event of the batch can match, judging by its summary alone."""
        if self.connectors is not None and info.connector not in self.connectors:
            return True
        if self.indexes is not None and info.index not in self.indexes:
            return True
        if self.sourcetypes is not None and info.sourcetype not in self.sourcetypes:
            return True
        if self.plan is not None:
            return self.plan.batch(info.connector, info.index, info.sourcetype).skip
        return False

    async def step(
        self, source: FeedSource, reader: LogReader, position: int, fmt: FeedFormat
    ) -> Step:
        """Read on from ``position``: the feed lines of the matches, and where to go on.
        ``source`` reads the summaries and the blobs (on a cluster, the blobs are awaited)."""
        out = Step(position=position)
        infos = source.feed_summaries(reader, position, SUMMARIES_PER_STEP)
        wanted: list[BatchInfo] = []
        budget = EVENTS_PER_STEP
        for info in infos:
            if self.passes_over(info):
                out.skipped += info.count
                out.position = info.end_offset
                continue
            if budget <= 0:
                break
            wanted.append(info)
            budget -= info.count
            out.position = info.end_offset
        if not wanted:
            return out
        blobs = await source.feed_blobs(reader, [info.first_offset for info in wanted])
        for info in wanted:
            blob = blobs.get(info.first_offset)
            if blob is None:  # removed by retention since the summary was read
                continue
            skip = max(0, position - info.first_offset)
            try:
                data = decompress_data(blob, info.partition, info.first_offset)
            except CorruptBatchError:
                continue  # the plain feed raises on it; a filtered one passes it over
            out.scanned += info.count - skip
            selected = self._select(info, data, skip)
            if selected is None:
                chunks = render(info, data, skip, fmt)
                out.events += info.count - skip
            elif selected:
                chunks = [render_lines(info, selected, fmt)]
                out.events += len(selected)
            else:
                continue
            out.chunks.extend(chunks)
        return out

    def _select(self, info: BatchInfo, data: bytes, skip: int) -> list[tuple[int, bytes]] | None:
        """``(position, line)`` of the matching lines at positions >= ``skip``; None for all."""
        plan, decoder = self.plan, self.decoder
        if plan is None or decoder is None:
            return None
        tags = (info.connector, info.index, info.sourcetype)
        decision = plan.batch(*tags)
        if decision.everything:
            return None
        scan = self._scans.get(tags)
        if scan is None:
            scan = self._scans[tags] = _Scan(LineFilter(decision.needles), None)
        candidates = scan.lines.lines(data, True)
        if skip:
            candidates = [c for c in candidates if c[0] >= skip]
        if not candidates:
            return []
        if scan.loop is None:
            scan.loop = decoder.scanner(decision.residual, with_time=False)
        matched: list[tuple[int, bytes]] = []

        def push(values: object, row: tuple[BatchContext, int, bytes] | None) -> bool:
            assert row is not None
            matched.append((row[1], row[2]))
            return True

        batch = BatchContext(
            info.partition, info.first_offset, info.ingest_time, dict(zip(TAGS, tags, strict=True))
        )
        scan.loop(candidates, batch, push, _EVERYTHING, True)
        return matched
