"""A :class:`~lakehose.storage.base.LogReader` of one partition's stream.

Summaries come from the process's :class:`PartitionIndex` (made current first, one
stream-info round trip); blobs are fetched by stream sequence with direct gets, which
any replica answers, falling back to the leader when a follower has not caught up.

*Replay speed.* ``batches_from`` asks the stream for its state only when the index holds
fewer batches past the offset than asked for (the answer could then be short); when it
holds them, the answer is the same either way, a prefix. Messages fetched are kept in the
index's payload cache (a few MB, shared by the process's readers), and a read fetches the
next ``READ_AHEAD`` messages with it, all in flight at once, so a data feed that reads a
few batches a step pays a round trip per ``READ_AHEAD`` messages, not per step.

*The data feed* reads with :meth:`JetStreamReader.read` instead, awaited on the server's
event loop: a synchronous read would hold that loop (every other request and feed of the
worker) for each round trip to the cluster. It also skips the stream-state round trip (a
feed is woken by this same index when the tail delivers, so what the index holds is what
it waits for), and it starts fetching the next ``READ_AHEAD`` messages in the background
once the feed has used half of those fetched before, so a replay renders while the next
messages are on their way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import Future

import nats.js.errors

from lakehose.models import BatchInfo
from lakehose.query.timerange import TimeRange
from lakehose.storage.base import (
    BucketCount,
    Buckets,
    Summary,
    TagChoices,
    TagGroup,
    bucket_counts_of,
    tag_groups_of,
)
from lakehose.storage.jetstream.index import PartitionIndex
from lakehose.storage.jetstream.layout import StoredBatch
from lakehose.storage.jetstream.link import through_elections

READ_AHEAD = 32  # messages fetched past what a batches_from asked for
_TAGS = (("#connector", 6), ("#index", 7), ("#sourcetype", 8))


class JetStreamReader:
    """Reads one partition of a JetStream lake. Use from one thread at a time."""

    def __init__(self, index: PartitionIndex) -> None:
        self.index = index
        self.partition = index.partition
        self._fetches: list[tuple[set[int], Future[dict[int, bytes]]]] = []  # read(): in flight
        self._horizon = 0  # read(): the highest sequence fetched or being fetched

    def close(self) -> None:
        pass  # the index and the connection belong to the process

    def bounds(self) -> tuple[int, int]:
        self.index.sync()
        return self.index.bounds()

    # blobs --------------------------------------------------------------------------------

    async def _payloads(self, seqs: list[int]) -> dict[int, bytes]:
        js = self.index.link.js
        stream = self.index.stream
        cache = self.index.payloads

        async def one(seq: int) -> tuple[int, bytes | None]:
            for direct in (True, False):
                try:  # asked again while the stream elects a leader (a server came back)
                    msg = await through_elections(
                        functools.partial(js.get_msg, stream, seq=seq, direct=direct)
                    )
                    cache.put(seq, msg.data or b"")
                    return seq, msg.data or b""
                except nats.js.errors.NotFoundError:
                    continue  # a follower behind, or purged: ask the leader
            return seq, None

        found = await asyncio.gather(*(one(s) for s in seqs))
        return {s: d for s, d in found if d is not None}

    def _blobs(self, batches: list[StoredBatch], ahead: int = 0) -> dict[int, bytes]:
        """``first offset -> blob`` of ``batches`` still kept; with ``ahead``, the messages of
        the next batches are fetched into the cache too."""
        if not batches:
            return {}
        seqs = {b.seq for b in batches}
        payloads = self.index.payloads.get_many(seqs)
        missing = seqs - payloads.keys()
        if missing:
            fetch = missing | self._ahead(batches[-1].info.end_offset, ahead) if ahead else missing
            fetch -= payloads.keys()
            payloads.update(self.index.link.call(self._payloads(sorted(fetch))))
        return _cut(batches, payloads)

    def _ahead(self, offset: int, messages: int) -> set[int]:
        """Sequences of up to ``messages`` messages holding the batches from ``offset`` on,
        not cached, within a quarter of the cache."""
        window = self._window(offset, messages)
        return window - self.index.payloads.get_many(window).keys()

    def _window(self, offset: int, messages: int) -> set[int]:
        """Sequences of up to ``messages`` messages holding the batches from ``offset`` on,
        within a quarter of the cache."""
        room = self.index.payloads.limit // 4
        sizes: dict[int, int] = {}
        total = 0
        for b in self.index.from_offset(offset, messages * 8):
            if b.seq not in sizes and (len(sizes) >= messages or total > room):
                break
            sizes[b.seq] = sizes.get(b.seq, 0) + b.info.stored_bytes
            total += b.info.stored_bytes
        return set(sizes)

    # the data feed's read, on the server's event loop ------------------------------------------

    async def read(self, offset: int, limit: int) -> list[tuple[BatchInfo, bytes]]:
        """:meth:`batches_from` for a caller on another event loop (the data feed): the batches
        the index holds (no stream-state round trip), blobs awaited without blocking the
        caller's loop, the next messages fetched meanwhile. A message purged under the read
        ends the answer there, after the index has caught up with the purge."""
        wanted = self.index.from_offset(offset, limit)
        if not wanted:
            return []
        seqs = {b.seq for b in wanted}
        payloads = await self._cached_or_fetched(seqs)
        if max(seqs) + READ_AHEAD // 2 > self._horizon:  # half the read-ahead used: more
            window = self._window(wanted[-1].info.end_offset, READ_AHEAD)
            if window:
                self._horizon = max(self._horizon, max(window))
                self._fetch(window - self.index.payloads.get_many(window).keys())
        out = []
        for b in wanted:
            payload = payloads.get(b.seq)
            if payload is None:  # purged meanwhile: the prefix ends here
                await self.index.sync_async()  # and the index forgets what was purged
                break
            out.append((b.info, payload[b.start : b.start + b.info.stored_bytes]))
        return out

    async def blobs_awaited(self, firsts: Sequence[int]) -> dict[int, bytes]:
        """:meth:`blobs_of` for a caller on another event loop (a filtered data feed): the
        blobs of the batches the index holds, awaited; those purged meanwhile are left out."""
        wanted = self.index.by_first(sorted(set(firsts)))
        return _cut(wanted, await self._cached_or_fetched({b.seq for b in wanted}))

    def _fetch(self, seqs: set[int]) -> Future[dict[int, bytes]] | None:
        """Start fetching ``seqs`` (less those in flight) into the cache, on the link's loop."""
        self._fetches = [f for f in self._fetches if not f[1].done()]
        for flying, _ in self._fetches:
            seqs = seqs - flying
        if not seqs:
            return None
        future = self.index.link.submit(self._payloads(sorted(seqs)))
        self._fetches.append((seqs, future))
        self._horizon = max(self._horizon, max(seqs))
        return future

    async def _cached_or_fetched(self, seqs: set[int]) -> dict[int, bytes]:
        """The payloads of ``seqs`` from the cache, the missing ones awaited."""
        payloads = self.index.payloads.get_many(seqs)
        if len(payloads) < len(seqs):
            payloads.update(await self._await_fetch(seqs - payloads.keys()))
        return payloads

    async def _await_fetch(self, seqs: set[int]) -> dict[int, bytes]:
        """The payloads of ``seqs`` (those still kept): awaited from the fetches in flight
        that hold them, and one new fetch for the rest. A read-ahead that failed (a
        leader change, a reconnect) is asked again once, now, and may raise."""
        waits = [f for flying, f in self._fetches if flying & seqs]
        started = self._fetch(seqs)
        if started is not None:
            waits.append(started)
        out: dict[int, bytes] = {}
        failed = False
        for fetched in await asyncio.gather(
            *(asyncio.wrap_future(f) for f in waits), return_exceptions=True
        ):
            if isinstance(fetched, BaseException):
                failed = True
            else:
                out.update((s, d) for s, d in fetched.items() if s in seqs)
        if failed:
            out.update(await self.index.link.run(self._payloads(sorted(seqs - out.keys()))))
        return out

    # ---------------------------------------------------------------------------------------

    def batches_from(self, offset: int, limit: int) -> list[tuple[BatchInfo, bytes]]:
        wanted = self.index.from_offset(offset, limit)
        if len(wanted) < limit:  # the stream may hold more than the index knows yet
            self.index.sync()
            wanted = self.index.from_offset(offset, limit)
        blobs = self._blobs(wanted, READ_AHEAD)
        out = []
        for b in wanted:
            blob = blobs.get(b.info.first_offset)
            if blob is None:
                break  # purged meanwhile: the prefix ends here
            out.append((b.info, blob))
        return out

    def blob_range(self, low: int, high: int) -> Iterator[tuple[int, bytes]]:
        wanted = [b for b in self.index.snapshot() if low <= b.info.first_offset < high]
        yield from sorted(self._blobs(wanted).items())

    def blobs(self, first_offsets: Sequence[int]) -> dict[int, bytes]:
        return self._blobs(self.index.by_first(sorted(set(first_offsets))))

    def blobs_of(self, firsts: Sequence[int]) -> dict[int, bytes]:
        return self.blobs(firsts)

    # summaries ----------------------------------------------------------------------------

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
        self.index.sync()
        out: list[Summary] = []
        for i in self.index.infos():
            if span.start is not None and i.max_time < span.start:
                continue
            if span.end is not None and i.min_time >= span.end:
                continue
            if below is not None and i.first_offset >= below:
                continue
            if from_offset is not None and i.end_offset <= from_offset:
                continue
            if straddling is not None and straddling.holds(i.min_time, i.max_time):
                continue
            row: Summary = (
                self.partition,
                i.first_offset,
                i.count,
                i.min_time,
                i.max_time,
                i.ingest_time,
                i.connector,
                i.index,
                i.sourcetype,
            )
            if any(
                (choices := tag_choices.get(tag)) is not None and row[col] not in choices
                for tag, col in _TAGS
            ):
                continue
            out.append(row)
        if descending:
            out.reverse()
        return iter(out)

    def tag_groups(self, span: TimeRange, tag_choices: TagChoices) -> list[TagGroup]:
        """Aggregated here from the index's summaries (they are in memory already)."""
        return tag_groups_of(self.summaries(span, tag_choices, descending=False))

    def bucket_counts(
        self, span: TimeRange, tag_choices: TagChoices, buckets: Buckets
    ) -> list[BucketCount]:
        """Aggregated here from the index's summaries, as :meth:`tag_groups`."""
        return bucket_counts_of(self.summaries(span, tag_choices, descending=False), buckets)

    def summaries_from(self, offset: int, limit: int) -> list[BatchInfo]:
        self.index.sync()
        return [b.info for b in self.index.from_offset(offset, limit)]

    def connector_totals(self) -> dict[str, tuple[int, int, int]]:
        """Per connector: events, bytes and last ingest time of the batches still kept."""
        self.index.sync()
        out: dict[str, tuple[int, int, int]] = {}
        for i in self.index.infos():
            e, b, t = out.get(i.connector, (0, 0, 0))
            out[i.connector] = (e + i.count, b + i.raw_bytes, max(t, i.ingest_time))
        return out

    def ingest_counts(self, since_ns: int, width_ns: int) -> list[tuple[str, int, int]]:
        acc: dict[tuple[str, int], int] = {}
        for i in self.index.infos():
            if i.ingest_time >= since_ns:
                key = (i.connector, (i.ingest_time - since_ns) // width_ns)
                acc[key] = acc.get(key, 0) + i.count
        return [(c, b, n) for (c, b), n in acc.items()]

    def events_since(self, since_ns: int) -> int:
        return sum(i.count for i in self.index.infos() if i.ingest_time >= since_ns)

    def stored_bytes(self) -> int:
        return sum(i.stored_bytes for i in self.index.infos())

    def oldest_ingest_time(self) -> int | None:
        infos = self.index.infos()
        return infos[0].ingest_time if infos else None

    def newest_ingest_time(self) -> int | None:
        infos = self.index.infos()
        return infos[-1].ingest_time if infos else None

    def ingest_time_at(self, offset: int) -> int | None:
        found = self.index.from_offset(offset, 1)
        if not found or found[0].info.first_offset > offset:
            return None
        return found[0].info.ingest_time

    def offset_for_time(self, ns: int) -> int:
        self.index.sync()
        for i in self.index.infos():  # ingest times never go back within a partition
            if i.ingest_time >= ns:
                return i.first_offset
        return self.index.bounds()[1]


def _cut(batches: Sequence[StoredBatch], payloads: dict[int, bytes]) -> dict[int, bytes]:
    """``first offset -> blob`` of ``batches`` whose message is in ``payloads`` (a message
    holds several batches: each is a slice of it)."""
    out = {}
    for b in batches:
        payload = payloads.get(b.seq)
        if payload is not None:
            out[b.info.first_offset] = payload[b.start : b.start + b.info.stored_bytes]
    return out
