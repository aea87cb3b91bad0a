"""One partition's batch summaries, as this process knows them: a headers-only tail of its stream.

Theory of operation
-------------------
Search plans over batch summaries and the data feed seeks batches by offset, so each
process keeps every kept batch's summary in memory (about 200 bytes a batch, that is a
few bytes an event), fed by a headers-only tail of the stream (``tail.py``): JetStream
sends the headers of every message of the partition's stream, from the first kept one,
then every new one as it is stored, whichever node wrote it. Blobs stay in the stream
and are fetched by sequence (direct get, any replica) when a reader needs them.

:meth:`PartitionIndex.sync` makes a read current: it asks the stream for its state and
waits until the tail has delivered up to the last sequence (and forgets what retention
purged). Listeners hear every advance of the end offset, which is how a data feed on any
node wakes for an event appended on another.

*Live feeds.* While a data feed of this process is at the end of the partition
(:meth:`PartitionIndex.want_payloads`, renewed each time it catches up), the tail brings
each message's payload with its headers and the index caches it before it wakes the
feed, so the feed renders new events without a round trip to the cluster (it paid
one per wake-up before, on a link thread busy with ingest). Ten seconds after the last
feed caught up, the tail goes back to headers only.

*Split requests.* The parts of a request split over several messages (``Lh-Part: k/n``)
wait in :attr:`PartitionIndex.parts` until all ``n`` are in the stream; then their
batches take the next offsets together, in part order, so the request's events are
contiguous and it is all or nothing (a writer that dies mid-request leaves parts that
never complete, and no offsets). Every process follows the same stream in the same order,
so every process assigns the same offsets. A part group still incomplete when a later
message's ingest time is ``ABANDON_AFTER`` past the group's is dropped (its writer gave up
after ``APPEND_DEADLINE``, half that): the rule reads only the stream, so every process
drops it at the same place. Retention cuts only where every purged message's offsets come
before every kept one's (and no waiting part is purged).
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nats.aio.msg import Msg

from lakehose.errors import StorageError
from lakehose.models import BatchInfo
from lakehose.storage.jetstream.base import read_base
from lakehose.storage.jetstream.layout import (
    APPEND_DEADLINE,
    H_BATCHES,
    H_INGEST,
    H_MSG_ID,
    H_PART,
    Layout,
    StoredBatch,
    decode_head,
)
from lakehose.storage.jetstream.link import NatsLink, through_elections
from lakehose.storage.jetstream.tail import StreamTail

SYNC_WAIT = 120.0  # seconds a read waits for the tail to deliver what the stream holds (a
# hang guard: under heavy load the tail can take seconds; past it the read answers as of now)
PAYLOAD_CACHE = 32 * 1024 * 1024  # bytes of fetched message payloads a partition keeps
LIVE_PAYLOADS = 10.0  # seconds the tail brings payloads after a feed was last at the end
ABANDON_AFTER = int(2 * APPEND_DEADLINE * 1e9)  # ns of ingest time an incomplete request waits


class AbandonedError(StorageError):
    """A split request's parts did not all reach the stream in time; it has no offsets."""


@dataclass(slots=True)
class PartGroup:
    """The parts of one split request seen so far: ``k -> (seq, headers)``."""

    n: int
    ingest: int
    parts: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)


class PayloadCache:
    """The latest message payloads fetched, by stream sequence, up to ``limit`` bytes (any
    thread). A message never changes, so a cached payload is never stale."""

    def __init__(self, limit: int = PAYLOAD_CACHE) -> None:
        self.limit = limit
        self.size = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[int, bytes] = OrderedDict()

    def put(self, seq: int, payload: bytes) -> None:
        with self._lock:
            if seq in self._items:
                return
            self._items[seq] = payload
            self.size += len(payload)
            while self.size > self.limit and self._items:
                _, old = self._items.popitem(last=False)
                self.size -= len(old)

    def get_many(self, seqs: Iterable[int]) -> dict[int, bytes]:
        with self._lock:
            return {s: p for s in seqs if (p := self._items.get(s)) is not None}


class PartitionIndex:
    """Summaries of one partition's kept batches; updated on the link's loop, read anywhere."""

    def __init__(self, link: NatsLink, layout: Layout, partition: int) -> None:
        self.link = link
        self.layout = layout
        self.partition = partition
        self.stream = layout.stream(partition)
        self._lock = threading.Condition()
        self.batches: list[StoredBatch] = []
        self.firsts: list[int] = []  # batches[i].info.first_offset, for bisect
        self.msg_first: dict[int, int] = {}  # seq -> first offset of every kept message
        self.parts: dict[str, PartGroup] = {}  # split requests still incomplete, by id
        self.abandoned: set[int] = set()  # seqs of parts of requests given up
        self.applied_seq = 0
        self.end = 0
        self.last_ingest = 0
        self.listeners: list[Callable[[int], None]] = []
        self._seq_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self.payloads = PayloadCache()
        self._live = False  # the tail brings payloads (want_payloads)
        self._payloads_until = 0.0
        self._tail = StreamTail(
            link, self.stream, layout.subject(partition), self._on_message, headers_only=True
        )

    async def start(self) -> None:
        """Start the headers-only tail from the recorded base (on the link's loop)."""
        base_seq, base_offset = await read_base(self.link, self.layout, self.partition)
        with self._lock:
            self.applied_seq = base_seq - 1
            self.end = base_offset
        self._tail.delivered = base_seq - 1
        self._tail.start()

    async def stop(self) -> None:
        await self._tail.stop()

    def want_payloads(self) -> None:
        """A data feed here is at the live end: let the tail bring payloads too for the next
        ``LIVE_PAYLOADS`` seconds (any thread), so the feed finds each new message's blob
        in the cache when it wakes instead of asking the cluster for it."""
        self._payloads_until = time.monotonic() + LIVE_PAYLOADS
        if not self._live:
            self._live = True
            self.link.loop.call_soon_threadsafe(self._tail.set_headers_only, False)

    async def _on_message(self, seq: int, msg: Msg) -> None:
        if msg.data:  # a live feed asked for payloads: cached before the feed wakes
            self.payloads.put(seq, msg.data)
        if self._live and time.monotonic() > self._payloads_until:
            self._live = False
            self._tail.set_headers_only(True)
        with self._lock:
            if seq <= self.applied_seq:
                return  # delivered already
            self.applied_seq = seq
            headers = msg.headers
            if headers and H_BATCHES in headers:
                if H_PART in headers:
                    self._add_part(seq, headers)
                else:
                    self._add_message(seq, headers)
                self._abandon_stale()
            self._lock.notify_all()
            end = self.end
        self._wake_seq_waiters()
        for listener in list(self.listeners):
            listener(end)

    def _add_message(self, seq: int, headers: dict[str, str]) -> None:
        """Give a (whole) message's batches the next offsets (lock held)."""
        head = decode_head(self.partition, seq, headers, self.end, self.last_ingest)
        if head is None:
            return
        self.msg_first[seq] = head.first
        for b in head.batches:
            self.batches.append(b)
            self.firsts.append(b.info.first_offset)
        self.end = head.first + head.count
        self.last_ingest = max(self.last_ingest, head.ingest)

    def _add_part(self, seq: int, headers: dict[str, str]) -> None:
        k, n = (int(x) for x in headers[H_PART].split("/"))
        request = headers.get(H_MSG_ID, "").rpartition(".")[0]
        ingest = int(headers[H_INGEST])
        group = self.parts.setdefault(request, PartGroup(n, ingest))
        group.parts[k] = (seq, headers)
        group.ingest = min(group.ingest, ingest)
        self.last_ingest = max(self.last_ingest, ingest)
        if len(group.parts) == group.n:
            del self.parts[request]
            for k in sorted(group.parts):
                self._add_message(*group.parts[k])

    def _abandon_stale(self) -> None:
        for request, group in list(self.parts.items()):
            if self.last_ingest - group.ingest > ABANDON_AFTER:
                del self.parts[request]
                self.abandoned.update(seq for seq, _ in group.parts.values())

    def waiting_seq(self) -> int | None:
        """The lowest sequence of a part still waiting for its request's others."""
        with self._lock:
            return min(
                (seq for g in self.parts.values() for seq, _ in g.parts.values()), default=None
            )

    async def first_of(self, seq: int) -> int:
        """The first offset of message ``seq`` (on the link's loop: waits for the tail)."""
        with self._lock:
            waiting = self.applied_seq < seq
        if waiting:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._seq_waiters, (seq, id(fut), fut))
            self._wake_seq_waiters()  # it may have arrived meanwhile
            await fut
        with self._lock:
            if seq in self.abandoned:
                raise AbandonedError(
                    f"partition {self.partition}: a split request's parts did not all arrive"
                )
            return self.msg_first.get(seq, self.end)  # not there: purged, it does not matter

    def _wake_seq_waiters(self) -> None:
        """Resolve the appends waiting for a message this index has now applied (link loop)."""
        applied = self.applied_seq
        while self._seq_waiters and self._seq_waiters[0][0] <= applied:
            _, _, fut = heapq.heappop(self._seq_waiters)
            if not fut.done():
                fut.set_result(None)

    # making a read current ---------------------------------------------------------------

    async def stream_state(self) -> tuple[int, int]:
        """The stream's first and last sequence; asked again through an election (a stream
        without a leader answers nothing for a few seconds)."""
        info = await through_elections(lambda: self.link.js.stream_info(self.stream))
        return int(info.state.first_seq), int(info.state.last_seq)

    def sync(self) -> None:
        """Wait until this index holds what the stream holds now (from a thread)."""
        first_seq, last_seq = self.link.call(self.stream_state())
        self.apply_state(first_seq, last_seq)

    async def sync_async(self) -> None:
        """:meth:`sync` for a caller on another event loop."""
        first_seq, last_seq = await self.link.run(self.stream_state())
        await asyncio.to_thread(self.apply_state, first_seq, last_seq)

    def apply_state(self, first_seq: int, last_seq: int) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self.applied_seq >= last_seq, SYNC_WAIT)
            self.forget_below(first_seq)

    def forget_below(self, first_seq: int) -> None:
        """Drop what retention purged (messages below ``first_seq``)."""
        with self._lock:
            for seq in [s for s in self.msg_first if s < first_seq]:
                del self.msg_first[seq]
            self.abandoned = {s for s in self.abandoned if s >= first_seq}
            for request, group in list(self.parts.items()):
                if min(seq for seq, _ in group.parts.values()) < first_seq:
                    del self.parts[request]  # purged under it: it can never complete
            keep = 0
            while keep < len(self.batches) and self.batches[keep].seq < first_seq:
                keep += 1
            if keep:
                del self.batches[:keep]
                del self.firsts[:keep]

    # reading (any thread) ------------------------------------------------------------------

    def bounds(self) -> tuple[int, int]:
        with self._lock:
            start = self.firsts[0] if self.firsts else self.end
            return start, self.end

    def snapshot(self) -> list[StoredBatch]:
        with self._lock:
            return list(self.batches)

    def from_offset(self, offset: int, limit: int) -> list[StoredBatch]:
        """Up to ``limit`` batches holding offsets >= ``offset``, in order."""
        with self._lock:
            i = max(0, bisect.bisect_right(self.firsts, offset) - 1)
            out: list[StoredBatch] = []
            while i < len(self.batches) and len(out) < limit:
                b = self.batches[i]
                if b.info.end_offset > offset:
                    out.append(b)
                i += 1
            return out

    def by_first(self, firsts: list[int]) -> list[StoredBatch]:
        with self._lock:
            out: list[StoredBatch] = []
            for f in firsts:
                i = bisect.bisect_left(self.firsts, f)
                if i < len(self.firsts) and self.firsts[i] == f:
                    out.append(self.batches[i])
            return out

    def infos(self) -> list[BatchInfo]:
        return [b.info for b in self.snapshot()]
