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
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import threading
from collections.abc import Callable

from nats.aio.msg import Msg

from lakehose.models import BatchInfo
from lakehose.storage.jetstream.base import read_base
from lakehose.storage.jetstream.layout import Layout, StoredBatch, decode_head
from lakehose.storage.jetstream.link import NatsLink
from lakehose.storage.jetstream.tail import StreamTail

SYNC_WAIT = 10.0  # seconds a read waits for the tail to deliver what the stream holds


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
        self.msg_seqs: list[int] = []  # every kept message, in order
        self.msg_firsts: list[int] = []
        self.applied_seq = 0
        self.end = 0
        self.last_ingest = 0
        self.listeners: list[Callable[[int], None]] = []
        self._seq_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
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

    async def _on_message(self, seq: int, msg: Msg) -> None:
        with self._lock:
            if seq <= self.applied_seq:
                return  # delivered already
            head = decode_head(self.partition, seq, msg.headers, self.end, self.last_ingest)
            self.applied_seq = seq
            if head is not None:
                self.msg_seqs.append(seq)
                self.msg_firsts.append(head.first)
                for b in head.batches:
                    self.batches.append(b)
                    self.firsts.append(b.info.first_offset)
                self.end = max(self.end, head.first + head.count)
                self.last_ingest = max(self.last_ingest, head.ingest)
            self._lock.notify_all()
            end = self.end
        self._wake_seq_waiters()
        for listener in list(self.listeners):
            listener(end)

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
            i = bisect.bisect_left(self.msg_seqs, seq)
            if i < len(self.msg_seqs) and self.msg_seqs[i] == seq:
                return self.msg_firsts[i]
            return self.end  # purged already: it does not matter where

    def _wake_seq_waiters(self) -> None:
        """Resolve the appends waiting for a message this index has now applied (link loop)."""
        applied = self.applied_seq
        while self._seq_waiters and self._seq_waiters[0][0] <= applied:
            _, _, fut = heapq.heappop(self._seq_waiters)
            if not fut.done():
                fut.set_result(None)

    # making a read current ---------------------------------------------------------------

    async def stream_state(self) -> tuple[int, int]:
        info = await self.link.js.stream_info(self.stream)
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
            cut = bisect.bisect_left(self.msg_seqs, first_seq)
            if cut:
                del self.msg_seqs[:cut]
                del self.msg_firsts[:cut]
            keep = 0
            while keep < len(self.batches) and self.batches[keep].seq < first_seq:
                keep += 1
            if keep:
                del self.batches[:keep]
                del self.firsts[:keep]

    # reading (any thread) ------------------------------------------------------------------

    def bounds(self) -> tuple[int, int]:
        with self._lock:
            start = self.msg_firsts[0] if self.msg_firsts else self.end
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
