"""The event log's interface: what the server, search, streams and the CLI need from the lake.

Theory of operation
-------------------
A lake is a fixed number of partitions; each is a sequence of *record batches*
(``records.py`` lines, compressed) addressed by dense offsets. Two roles:

* :class:`LogReader` reads one partition: its bounds, batches from an offset,
  batch summaries for planning (no blobs), blobs by first offset, per-connector
  totals. Readers are cheap, synchronous, and used by one thread at a time:
  search opens its own in a worker thread, the data feed shares the process's.
* :class:`EventLog` is one process's handle on the whole lake for writing and
  tailing: :meth:`~EventLog.append` returns once the batch is durable (how commits
  are grouped is the backend's business), :meth:`~EventLog.wait_for_end_past`
  wakes tailing feeds, retention and HEC ack bookkeeping run between commits.

The contract every backend keeps (``tests/storage/test_log_contract.py``): offsets
are dense per partition and never reused, across restarts and kills; a reader
sees a prefix of what was appended (never a gap); an acknowledged append
survives a SIGKILL; summaries agree with the batches they describe; concurrent
appenders from several processes get disjoint offset ranges.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from lakehose.models import AppendResult, BatchInfo, Slice
from lakehose.query.timerange import TimeRange

# (partition, first_offset, count, min_time, max_time, ingest_time, connector, index, sourcetype)
Summary = tuple[int, int, int, int, int, int, str, str, str]
# tag name ("#connector", "#index", "#sourcetype") -> the values a batch may have; None = any
TagChoices = Mapping[str, frozenset[str] | None]
# (connector, index, sourcetype, batches, earliest min_time, latest max_time)
TagGroup = tuple[str, str, str, int, int, int]
# (connector, index, sourcetype, bucket, events, batches)
BucketCount = tuple[str, str, str, int, int, int]


@dataclass(frozen=True, slots=True)
class Buckets:
    """Time buckets for counting from summaries: bucket ``i`` covers
    ``[origin + i * width, origin + (i + 1) * width)``; only ``[low, high)`` is counted
    (``origin <= low``), so a batch counts whole only when its times lie inside both."""

    origin: int
    width: int
    low: int
    high: int

    def holds(self, min_time: int, max_time: int) -> bool:
        """True when a batch's event times lie inside ``[low, high)`` and inside one bucket."""
        return (
            self.low <= min_time
            and max_time < self.high
            and (min_time - self.origin) // self.width == (max_time - self.origin) // self.width
        )


def tag_groups_of(summaries: Iterable[Summary]) -> list[TagGroup]:
    """Batches, earliest and latest time per tag triple, aggregated from summaries (for
    backends and tiers whose summaries are in memory, not in a database)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for s in summaries:
        group = groups.get((s[6], s[7], s[8]))
        if group is None:
            groups[(s[6], s[7], s[8])] = [1, s[3], s[4]]
        else:
            group[0] += 1
            group[1] = min(group[1], s[3])
            group[2] = max(group[2], s[4])
    return [(c, i, t, n, lo, hi) for (c, i, t), (n, lo, hi) in groups.items()]


def bucket_counts_of(summaries: Iterable[Summary], buckets: Buckets) -> list[BucketCount]:
    """Events and batches per tag triple and time bucket, from the summaries of the batches
    that lie whole inside one bucket (as :func:`tag_groups_of`)."""
    counts: dict[tuple[str, str, str, int], list[int]] = {}
    for s in summaries:
        if buckets.holds(s[3], s[4]):
            key = (s[6], s[7], s[8], (s[3] - buckets.origin) // buckets.width)
            count = counts.setdefault(key, [0, 0])
            count[0] += s[2]
            count[1] += 1
    return [(c, i, t, b, n, k) for (c, i, t, b), (n, k) in counts.items()]


@dataclass(slots=True)
class PendingAppend:
    """One request's share of a commit: its slices, and the ack channel if it wants an id."""

    slices: Sequence[Slice]
    ack_channel: str | None = None

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.slices)


Settled = Callable[[AppendResult | BaseException], None]
"""Hears how an append ended, on the loop thread: where it landed, or why it failed."""


def outcome_to(done: Settled, fut: asyncio.Future[AppendResult]) -> None:
    """A future's done-callback that tells ``done`` (``add_done_callback(partial(...))``)."""
    if fut.cancelled():
        done(asyncio.CancelledError())
        return
    exc = fut.exception()
    done(exc if exc is not None else fut.result())


class LogReader(Protocol):
    """Reads one partition. Cheap to create; use from one thread at a time."""

    partition: int

    def close(self) -> None: ...

    def bounds(self) -> tuple[int, int]:
        """``(start_offset, end_offset)``: the oldest kept offset and the next one to be written."""
        ...

    def batches_from(self, offset: int, limit: int) -> list[tuple[BatchInfo, bytes]]:
        """Up to ``limit`` batches holding offsets >= ``offset``, in order, with their blobs."""
        ...

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
        """Summaries of the batches that meet ``span`` and ``tag_choices``, in offset order.

        ``below``: only batches starting before it; ``from_offset``: only batches ending after
        it; ``straddling``: only batches that it does not :meth:`~Buckets.holds`.
        """
        ...

    # aggregated summaries: what a histogram plans with, without a row per batch -----------

    def tag_groups(self, span: TimeRange, tag_choices: TagChoices) -> list[TagGroup]:
        """Per tag combination of the batches that meet ``span`` and ``tag_choices``: how many
        batches, their earliest and latest event time."""
        ...

    def bucket_counts(
        self, span: TimeRange, tag_choices: TagChoices, buckets: Buckets
    ) -> list[BucketCount]:
        """Per tag combination and bucket: events and batches of the batches that meet
        ``span`` and ``tag_choices`` and that ``buckets`` :meth:`~Buckets.holds`."""
        ...

    def blob_range(self, low: int, high: int) -> Iterator[tuple[int, bytes]]:
        """``(first offset, blob)`` of the batches whose first offset is in ``[low, high)``."""
        ...

    def blobs(self, first_offsets: Sequence[int]) -> dict[int, bytes]:
        """``first offset -> blob`` of the named batches (those still kept)."""
        ...

    def connector_totals(self) -> dict[str, tuple[int, int, int]]:
        """Per connector: ``(events, bytes, last_event_time_ns)`` ever accepted."""
        ...

    def ingest_counts(self, since_ns: int, width_ns: int) -> list[tuple[str, int, int]]:
        """``(connector, bucket, events)`` accepted since ``since_ns``, in ``width_ns`` buckets."""
        ...

    def events_since(self, since_ns: int) -> int:
        """Events accepted at or after ``since_ns``."""
        ...

    def stored_bytes(self) -> int:
        """Compressed bytes of the batches kept."""
        ...

    def oldest_ingest_time(self) -> int | None: ...

    def ingest_time_at(self, offset: int) -> int | None:
        """When the event at ``offset`` was accepted (ns; its batch's time), None if not kept."""
        ...

    def newest_ingest_time(self) -> int | None: ...

    def offset_for_time(self, ns: int) -> int:
        """The first offset whose ingest time is >= ``ns`` (the end offset if there is none)."""
        ...

    def summaries_from(self, offset: int, limit: int) -> list[BatchInfo]:
        """Up to ``limit`` batch summaries holding offsets >= ``offset``, in order (no blobs)."""
        ...

    def blobs_of(self, firsts: Sequence[int]) -> dict[int, bytes]:
        """The stored blobs of the batches starting at ``firsts`` (those still kept)."""
        ...


class EventLog(ABC):
    """One process's handle on the lake: durable appends, tailing, retention, readers.

    Create, then ``await start()`` on the event loop that will call it; ``await close()``.
    """

    partitions: int

    @abstractmethod
    async def start(self, loop: asyncio.AbstractEventLoop) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Finish queued appends, then release everything."""

    @abstractmethod
    async def append(self, partition: int, item: PendingAppend, nbytes: int) -> AppendResult:
        """Store ``item`` in ``partition``; return once it is durable.

        Raises :class:`~lakehose.errors.StorageFullError` (nothing stored) or
        :class:`~lakehose.errors.StorageError`.
        """

    def submit(
        self, partition: int, item: PendingAppend, nbytes: int
    ) -> asyncio.Future[AppendResult]:
        """:meth:`append` as a future, for callers that answer from a callback, not a task
        (the HEC wire protocol): a backend with its own futures overrides this."""
        return asyncio.ensure_future(self.append(partition, item, nbytes))

    def submit_then(self, partition: int, item: PendingAppend, nbytes: int, done: Settled) -> None:
        """:meth:`submit` with a callback instead of a future: ``done`` hears the result or
        the exception on the loop thread (the group commit calls it without a future)."""
        self.submit(partition, item, nbytes).add_done_callback(partial(outcome_to, done))

    @abstractmethod
    async def query_acks(self, partition: int, channel: str, ack_ids: Sequence[int]) -> set[int]:
        """The ids among ``ack_ids`` issued on ``channel`` and not yet reported; forget them."""

    @abstractmethod
    async def apply_retention(self, max_age: float | None, max_bytes: int | None) -> int:
        """Drop the oldest batches beyond the age or size limit in every partition; events dropped."""

    @abstractmethod
    def reader(self, partition: int) -> LogReader:
        """This process's reader of ``partition``, for use on the event loop thread."""

    @abstractmethod
    def open_readers(self) -> list[LogReader]:
        """Fresh readers of every partition, for one worker thread; the caller closes them."""

    async def feed_batches(
        self, reader: LogReader, offset: int, limit: int
    ) -> list[tuple[BatchInfo, bytes]]:
        """``reader.batches_from`` for a data feed on the event loop: a local log reads in
        place; a remote one overrides this so the loop is not held while blobs travel."""
        return reader.batches_from(offset, limit)

    def feed_start(self, reader: LogReader) -> int:
        """The oldest kept offset, as a caught-up data feed checks it before it waits."""
        return reader.bounds()[0]

    def feed_summaries(self, reader: LogReader, offset: int, limit: int) -> list[BatchInfo]:
        """``reader.summaries_from`` for a filtered data feed on the event loop (a remote log
        answers from what its index holds, without a round trip)."""
        return reader.summaries_from(offset, limit)

    async def feed_blobs(self, reader: LogReader, firsts: Sequence[int]) -> dict[int, bytes]:
        """``reader.blobs_of`` for a filtered data feed on the event loop: a local log reads in
        place; a remote one overrides this so the loop is not held while blobs travel."""
        return reader.blobs_of(firsts)

    @abstractmethod
    def end_offset(self, partition: int) -> int:
        """The next offset to be written in ``partition``, as this process last saw it."""

    @abstractmethod
    async def wait_for_end_past(self, partition: int, offset: int, timeout: float) -> int:
        """Wait until ``end_offset(partition) > offset`` or ``timeout``; return the end offset."""

    # load, for back-pressure and metrics -------------------------------------------------

    @property
    @abstractmethod
    def pending_bytes(self) -> int:
        """Bytes of appends queued and not yet durable (the event loop thread's count)."""

    @property
    @abstractmethod
    def queue_depth(self) -> int:
        """Appends queued and not yet durable."""

    @property
    @abstractmethod
    def disk_full(self) -> bool:
        """True since an append failed for lack of space, until one succeeds again."""

    @property
    def reachable(self) -> bool:
        """False while the store cannot be reached at all (a cluster node disconnected from
        every NATS server): HEC health says unhealthy, so a load balancer stops sending."""
        return True

    @abstractmethod
    def take_commit_times(self) -> list[float]:
        """Seconds each commit took since the last call."""
