"""The distributed :class:`EventLog`: one JetStream stream per partition, replicated by Raft.

Theory of operation
-------------------
Every process (every worker of every node) appends straight to the streams: offsets
follow from each message's place in the stream (``writer.py``, ``index.py``), so any
number of writers share a partition and its offsets stay dense. ``submit`` queues a
request on the caller's loop; each loop turn's requests go to the link's loop in one
hand-over, where the partition's writer pipelines messages and, under load, merges the
requests that wait into one message (compressed there); once JetStream acked it (the
stream's leader and a quorum of replicas hold it) and this process's index has seen it,
its requests learn their offsets and are answered in one hop back.

Tailing: each process follows every partition's headers (``index.py``), so a data feed
on one node wakes when any node appends. HEC indexer acknowledgements live in a KV
bucket, so an ack id issued by one node can be polled on any. Retention purges whole
messages from the head of each stream.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import orjson
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import (
    BadRequestError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from lakehose.models import AppendResult, BatchInfo
from lakehose.storage.base import EventLog, LogReader, PendingAppend
from lakehose.storage.jetstream.base import log_bucket, write_base
from lakehose.storage.jetstream.index import PartitionIndex
from lakehose.storage.jetstream.layout import APPEND_DEADLINE, DUPLICATE_WINDOW, Layout
from lakehose.storage.jetstream.link import Mailbox, NatsLink, link_for, through_elections
from lakehose.storage.jetstream.reader import JetStreamReader
from lakehose.storage.jetstream.writer import PartitionWriter, Request, build_messages

T = TypeVar("T")
Answers = tuple[int, list[Request], list[AppendResult] | Exception]  # a message's, to resolve
ACK_TTL = 7 * 86400.0  # seconds an unreported ack id is kept


async def ensure_streams(link: NatsLink, layout: Layout, partitions: int, replicas: int) -> None:
    """Create the partitions' streams (and the log bucket) that do not exist yet (on the
    link's loop)."""
    await log_bucket(link, layout, replicas)
    for p in range(partitions):
        config = StreamConfig(
            name=layout.stream(p),
            subjects=[layout.subject(p)],
            num_replicas=replicas,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW,
            allow_direct=True,
            max_msg_size=-1,
        )
        await through_elections(functools.partial(_ensure_stream, link, config))


async def _ensure_stream(link: NatsLink, config: StreamConfig) -> None:
    try:
        await link.js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await link.js.add_stream(config)
        except BadRequestError as exc:
            if exc.err_code != 10058:  # created meanwhile by another node
                raise


async def ack_bucket(link: NatsLink, layout: Layout, replicas: int) -> KeyValue:
    return await link.bucket(
        KeyValueConfig(bucket=layout.bucket("ACKS"), history=1, replicas=replicas, ttl=ACK_TTL)
    )


@dataclass(slots=True)
class AckState:
    """One HEC channel's ack ids: the next to issue, and those issued and not yet reported."""

    next: int
    pending: list[int]


def _ack_key(partition: int, channel: str) -> str:
    return f"p{partition}.{hashlib.sha256(channel.encode()).hexdigest()[:40]}"


class JetStreamEventLog(EventLog):
    """The lake in a NATS cluster's streams, as one process sees it."""

    def __init__(
        self,
        urls: str,
        partitions: int,
        *,
        namespace: str = "lakehose",
        replicas: int = 3,
        zstd_level: int = 1,
        clock: Callable[[], int] = time.time_ns,
        max_message: int | None = None,
        append_deadline: float = APPEND_DEADLINE,
    ) -> None:
        """``max_message``: bytes of one message (default: the server's max_payload);
        ``append_deadline``: seconds an append retries before it fails (at most
        APPEND_DEADLINE, which the duplicate window covers)."""
        self.append_deadline = min(append_deadline, APPEND_DEADLINE)
        self.urls = urls
        self.max_message = max_message
        self.partitions = partitions
        self.layout = Layout(namespace)
        self.replicas = replicas
        self.zstd_level = zstd_level
        self.clock = clock
        self.indexes: list[PartitionIndex] = []
        self.writers: list[PartitionWriter] = []
        self.loop: asyncio.AbstractEventLoop
        self._wake: list[asyncio.Event] = []
        self._pending_bytes = 0
        self._depth = 0
        self._times: list[float] = []
        self._acks: KeyValue | None = None
        self._listeners: list[Callable[[int], None]] = []
        self._waking: set[int] = set()  # partitions whose wake-up is scheduled on our loop
        self._outbox: list[tuple[int, Request]] = []  # this loop turn's requests
        self._handing = False
        self._splitting: set[asyncio.Task[None]] = set()

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.link = await asyncio.to_thread(link_for, self.urls)
        self._to_link = Mailbox(self.link.loop, self._take)
        self._to_loop = Mailbox(loop, self._resolve)
        await self.link.run(ensure_streams(self.link, self.layout, self.partitions, self.replicas))
        for p in range(self.partitions):
            index = await asyncio.to_thread(shared_index, self.link, self.layout, p)
            self._wake.append(asyncio.Event())
            self._listeners.append(self._listener(p))
            index.listeners.append(self._listeners[-1])
            await index.sync_async()
            self.indexes.append(index)
            writer = PartitionWriter(
                self.link, self.layout, p, self.clock, self.append_deadline, self.zstd_level
            )
            writer.max_message = self.max_message
            writer.settle = functools.partial(self._settle, p)
            writer.fail = functools.partial(self._fail, p)
            self.writers.append(writer)

    async def close(self) -> None:
        for index, listener in zip(self.indexes, self._listeners, strict=True):
            index.listeners.remove(listener)

    # writing ------------------------------------------------------------------------------

    def submit(
        self, partition: int, item: PendingAppend, nbytes: int
    ) -> asyncio.Future[AppendResult]:
        """Queue one request (on our loop); its future resolves once JetStream acked it.

        A loop turn's requests go to the link's loop in one hand-over, and each acked
        message answers all of its requests in one hop back: no task, thread hop or
        wake-up per request."""
        loop = self.loop
        fut: asyncio.Future[AppendResult] = loop.create_future()
        slices = item.slices
        count = raw = 0
        for sl in slices:
            count += len(sl.lines)
            raw += sl.nbytes
        req = Request(slices, item.ack_channel, count, raw, fut)
        self._pending_bytes += nbytes
        self._depth += 1
        fut.add_done_callback(functools.partial(self._finished, nbytes, time.perf_counter()))
        self._outbox.append((partition, req))
        if not self._handing:
            self._handing = True
            loop.call_soon(self._hand_over)
        return fut

    async def append(self, partition: int, item: PendingAppend, nbytes: int) -> AppendResult:
        return await self.submit(partition, item, nbytes)

    def _finished(self, nbytes: int, started: float, fut: asyncio.Future[AppendResult]) -> None:
        self._pending_bytes -= nbytes
        self._depth -= 1
        if not fut.cancelled() and fut.exception() is None:
            self._times.append(time.perf_counter() - started)

    def _hand_over(self) -> None:
        """This loop turn's requests to the link's loop, at once (on our loop)."""
        self._handing = False
        if self._outbox:
            batch, self._outbox = self._outbox, []
            self._to_link.post(batch)

    def _take(self, batches: list[list[tuple[int, Request]]]) -> None:
        """Give each partition's writer its requests (on the link's loop); a request larger
        than a message is split over several (``_append_split``)."""
        by_partition: dict[int, list[Request]] = {}
        for partition, req in itertools.chain.from_iterable(batches):
            writer = self.writers[partition]
            if req.raw > writer.room():
                task = self.link.loop.create_task(self._append_split(partition, req))
                self._splitting.add(task)
                task.add_done_callback(self._splitting.discard)
            else:
                by_partition.setdefault(partition, []).append(req)
        for partition, reqs in by_partition.items():
            self.writers[partition].take(reqs)

    async def _append_split(self, partition: int, req: Request) -> None:
        """One request in messages of its own (on the link's loop): offsets once every part
        is in the stream."""
        writer = self.writers[partition]
        try:
            messages = build_messages(
                req.slices,
                self.zstd_level,
                self.max_message or self.link.nc.max_payload,
                writer.next_id(),
            )
            seqs = await asyncio.gather(*(writer.publish(m) for m in messages))
            await self.indexes[partition].first_of(max(seqs, default=0))
            first = await self.indexes[partition].first_of(seqs[0]) if seqs else 0
            await self._answer(partition, [req], first)
        except Exception as exc:
            self._fail(partition, [req], exc)

    async def _settle(self, partition: int, seq: int, group: list[Request]) -> None:
        """Answer the requests of the stored message ``seq`` (on the link's loop)."""
        first = await self.indexes[partition].first_of(seq)
        await self._answer(partition, group, first)

    async def _answer(self, partition: int, group: list[Request], first: int) -> None:
        acks: dict[str, list[int]] = {}
        for req in group:
            if req.ack_channel is not None:
                acks.setdefault(req.ack_channel, []).append(0)
        for channel, ids in acks.items():  # one ledger change per channel and message
            ids[:] = await self._issue_acks(partition, channel, len(ids))
            ids.reverse()
        results = []
        for req in group:
            ack = acks[req.ack_channel].pop() if req.ack_channel is not None else None
            results.append(AppendResult(partition, first, req.count, ack))
            first += req.count
        self._to_loop.post((partition, group, results))

    def _fail(self, partition: int, group: list[Request], exc: Exception) -> None:
        self._to_loop.post((partition, group, exc))

    def _resolve(self, answers: list[Answers]) -> None:
        """Answer messages' requests (on our loop)."""
        advanced = set()
        for partition, group, results in answers:
            if isinstance(results, Exception):
                for req in group:
                    if not req.future.done():
                        req.future.set_exception(results)
                continue
            for req, result in zip(group, results, strict=True):
                if not req.future.done():
                    req.future.set_result(result)
            advanced.add(partition)
        for partition in advanced:
            self._advance(partition, self.indexes[partition].end)

    # HEC indexer acknowledgement ids, in a KV bucket every node reads ----------------------

    async def _bucket(self) -> KeyValue:
        if self._acks is None:
            self._acks = await ack_bucket(self.link, self.layout, self.replicas)
        return self._acks

    async def _update_acks(self, key: str, change: Callable[[AckState], T]) -> T:
        """Read-modify-write one channel's record, retried until no one raced us."""
        kv = await self._bucket()
        while True:
            try:
                entry = await kv.get(key)
                raw = orjson.loads(entry.value or b"{}")
                state = AckState(int(raw["next"]), [int(i) for i in raw["pending"]])
                revision: int | None = entry.revision
            except KeyNotFoundError:
                state, revision = AckState(0, []), None
            result = change(state)
            value = orjson.dumps({"next": state.next, "pending": state.pending})
            try:
                if revision is None:
                    await kv.create(key, value)
                else:
                    await kv.update(key, value, last=revision)
                return result
            except (KeyWrongLastSequenceError, BadRequestError):
                continue

    async def _issue_acks(self, partition: int, channel: str, n: int) -> list[int]:
        """``n`` new ack ids on ``channel``, in order, in one change of its record."""

        def issue(state: AckState) -> list[int]:
            ids = list(range(state.next, state.next + n))
            state.next += n
            state.pending.extend(ids)
            return ids

        return await self._update_acks(_ack_key(partition, channel), issue)

    async def query_acks(self, partition: int, channel: str, ack_ids: Sequence[int]) -> set[int]:
        wanted = set(ack_ids)

        def report(state: AckState) -> set[int]:
            found = wanted & set(state.pending)
            state.pending = [i for i in state.pending if i not in found]
            return found

        if not wanted:
            return set()
        return await self.link.run(self._update_acks(_ack_key(partition, channel), report))

    # retention ----------------------------------------------------------------------------

    async def apply_retention(self, max_age: float | None, max_bytes: int | None) -> int:
        dropped = 0
        for p in range(self.partitions):
            dropped += await self.link.run(self._retain(p, max_age, max_bytes))
        return dropped

    async def _retain(self, p: int, max_age: float | None, max_bytes: int | None) -> int:
        index = self.indexes[p]
        first_seq, last_seq = await index.stream_state()
        await asyncio.to_thread(index.apply_state, first_seq, last_seq)
        batches = index.snapshot()
        if not batches:
            return 0
        cutoff = self.clock() - int(max_age * 1e9) if max_age is not None else None
        total = sum(b.info.stored_bytes for b in batches)
        # a cut after batch i is valid when every purged message's offsets come before every
        # kept one's: the purged sequences all below the kept ones (and any waiting part)
        later = [0] * len(batches)
        low = index.waiting_seq() or 1 << 62
        for i in range(len(batches) - 1, -1, -1):
            later[i] = low
            low = min(low, batches[i].seq)
        cut_seq = 0  # purge every message with a sequence <= cut_seq
        highest = events = counted = 0
        kept_from = 0  # the offset the first kept message starts at
        for i, b in enumerate(batches):
            old = cutoff is not None and b.info.ingest_time < cutoff
            big = max_bytes is not None and total > max_bytes
            if not (old or big):
                break
            highest = max(highest, b.seq)
            counted += b.info.count
            total -= b.info.stored_bytes
            if highest < later[i]:
                cut_seq, events, kept_from = highest, counted, b.info.end_offset
        if not cut_seq:
            return 0
        await write_base(self.link, self.layout, p, cut_seq + 1, kept_from)  # first: a fact
        await self.link.js.purge_stream(index.stream, seq=cut_seq + 1)
        index.forget_below(cut_seq + 1)
        return events

    # reading and tailing ------------------------------------------------------------------

    def reader(self, partition: int) -> LogReader:
        return JetStreamReader(self.indexes[partition])

    def open_readers(self) -> list[LogReader]:
        return [JetStreamReader(i) for i in self.indexes]

    async def feed_batches(
        self, reader: LogReader, offset: int, limit: int
    ) -> list[tuple[BatchInfo, bytes]]:
        """Awaited on the caller's loop, with read-ahead (``JetStreamReader.read``)."""
        if isinstance(reader, JetStreamReader):
            return await reader.read(offset, limit)
        return reader.batches_from(offset, limit)

    def feed_start(self, reader: LogReader) -> int:
        """As the index holds it, without a round trip: a purge under a feed shows as a
        missing blob, and :meth:`JetStreamReader.read` then makes the index forget it."""
        if isinstance(reader, JetStreamReader):
            reader.index.want_payloads()  # it is at the end: the next messages come whole
            return reader.index.bounds()[0]
        return reader.bounds()[0]

    def feed_summaries(self, reader: LogReader, offset: int, limit: int) -> list[BatchInfo]:
        """What the index holds (a new message wakes the feed when the index sees it)."""
        if isinstance(reader, JetStreamReader):
            return [b.info for b in reader.index.from_offset(offset, limit)]
        return reader.summaries_from(offset, limit)

    async def feed_blobs(self, reader: LogReader, firsts: Sequence[int]) -> dict[int, bytes]:
        """Awaited on the caller's loop (``JetStreamReader.blobs_awaited``)."""
        if isinstance(reader, JetStreamReader):
            return await reader.blobs_awaited(firsts)
        return reader.blobs_of(firsts)

    def _listener(self, partition: int) -> Callable[[int], None]:
        def heard(end: int) -> None:  # on the link's thread: one wake-up of our loop at a time
            if partition not in self._waking:
                self._waking.add(partition)
                self.loop.call_soon_threadsafe(self._advance, partition, end)

        return heard

    def _advance(self, partition: int, end: int) -> None:
        self._waking.discard(partition)
        event = self._wake[partition]
        self._wake[partition] = asyncio.Event()
        event.set()

    def end_offset(self, partition: int) -> int:
        return self.indexes[partition].end

    async def wait_for_end_past(self, partition: int, offset: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.indexes[partition].end <= offset:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._wake[partition].wait(), left)
            except TimeoutError:
                break
        return self.indexes[partition].end

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def queue_depth(self) -> int:
        return self._depth

    @property
    def disk_full(self) -> bool:
        return False  # a full JetStream store refuses publishes: append raises StorageError

    @property
    def reachable(self) -> bool:
        link = getattr(self, "link", None)  # set once open
        return link is None or bool(link.nc.is_connected)

    def take_commit_times(self) -> list[float]:
        times, self._times = self._times, []
        return times


def open_readers(urls: str, namespace: str, partitions: int) -> list[LogReader]:
    """Readers of the first ``partitions`` partitions of a cluster's lake (for this thread)."""
    link = link_for(urls)
    layout = Layout(namespace)
    readers: list[LogReader] = []
    for p in range(partitions):
        readers.append(JetStreamReader(shared_index(link, layout, p)))
    return readers


_indexes: dict[tuple[str, str, int], PartitionIndex] = {}
_indexes_lock = threading.Lock()


def shared_index(link: NatsLink, layout: Layout, partition: int) -> PartitionIndex:
    """The process's index of one partition, for readers opened outside an EventLog."""
    key = (",".join(link.urls), layout.namespace, partition)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = PartitionIndex(link, layout, partition)
            link.call(index.start())
            _indexes[key] = index
        return index
