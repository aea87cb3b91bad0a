"""Appending to one partition's stream: pipelined publishes that a retry never duplicates.

Theory of operation
-------------------
*Offsets are derived, not assigned.* A message holds a request's record batches and
says how many events each has (``Lh-Batches``); its offsets follow from its place in the
stream: the first message holds offsets ``[0, count)``, the next starts where it ended,
and so on (``index.py`` computes them as it follows the stream). JetStream orders every
message of a stream the same way for every reader, so offsets are dense and mean the same
on every node, with no coordination between writers: any number of processes on any
number of nodes publish to a partition at once, none waits for another.

(Chaining each message to the last with ``Nats-Expected-Last-Sequence`` and
``Nats-Expected-Last-Msg-Id`` was tried first and dropped: two pipelined writers made
NATS 2.15 apply a message whose expected id no longer held, a "critical write error"
that stops the stream for good.)

*Pipelining and coalescing.* ``publish`` sends and awaits one message's ack; many
messages are in flight at once on the one connection. Requests reach a partition's
writer a whole event-loop turn at a time (``log.py``) and wait while ``MAX_INFLIGHT``
messages of this writer await their acks; then everything waiting goes out as one
message (:func:`merge_requests`: adjacent slices with the same tags become one record
batch, compressed once, up to ``MAX_GROUP_RAW`` bytes of lines), so under load a
partition stores fewer, bigger messages: fewer acks, fsyncs, follower deliveries and
index entries per event, and on the node one compression and one answer hop per message
instead of per request. Each request's events stay contiguous in the message; its
offsets are the message's first plus the events of the requests before it. A lone
request is sent at once. (Each request was first its own message, compressed on the
HTTP loop and handed to the link's loop with a task and a thread wake-up each way: a
cluster node spent ~5x the CPU per event of an embedded one.)

*Retries.* A publish that times out, or meets a leader election, is sent again with the
same ``Nats-Msg-Id``: if the first one was stored after all, JetStream answers
``duplicate`` with the first copy's sequence. Retries stop after ``APPEND_DEADLINE``,
well inside the stream's ``duplicate_window``; the request then fails (503), and nothing
unstored is acknowledged.

*A 200.* ``publish`` returns the message's stream sequence once JetStream acked it, that
is once the stream's leader and a quorum of replicas hold it (fsynced with
``sync_interval: always``, see the README).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js.api import PubAck

from lakehose.errors import StorageError
from lakehose.models import AppendResult, Slice
from lakehose.records import compress_lines
from lakehose.storage.jetstream.layout import (
    APPEND_DEADLINE,
    H_BATCHES,
    H_INGEST,
    H_MSG_ID,
    H_PART,
    Layout,
    encode_batches,
)
from lakehose.storage.jetstream.link import NatsLink

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 2000  # events in one record batch (as the SQLite backend)
PUBLISH_TIMEOUT = 4.0  # seconds before a publish is sent again (same id)
HEADER_ROOM = 16 * 1024  # bytes of a message kept for its headers
MAX_INFLIGHT = 4  # messages of one writer awaiting their acks before requests coalesce
MAX_GROUP_RAW = 1024 * 1024  # bytes of lines merged into one message (before compression)
MAX_ROWS = 64  # slices merged into one message (its Lh-Batches header stays small)


@dataclass(slots=True)
class Message:
    """One message to store: its payload, batch summaries and (after assigning) its headers."""

    payload: bytes
    rows: list[tuple[int, int, int, str, str, str, int, int]]
    count: int
    msg_id: str
    part: str = ""  # "k/n" when the request is split over n > 1 messages
    batches: str = ""  # the rows as the Lh-Batches header (made when first needed)

    def summary(self) -> str:
        if not self.batches:
            self.batches = encode_batches(self.rows)
        return self.batches


def _chunks(lines: list[bytes], max_raw: int) -> list[list[bytes]]:
    """``lines`` in record batches of at most MAX_BATCH_EVENTS events and ``max_raw`` bytes
    (an event larger than that alone)."""
    out: list[list[bytes]] = []
    current: list[bytes] = []
    raw = 0
    for line in lines:
        if current and (len(current) >= MAX_BATCH_EVENTS or raw + len(line) + 1 > max_raw):
            out.append(current)
            current, raw = [], 0
        current.append(line)
        raw += len(line) + 1
    if current:
        out.append(current)
    return out


def build_messages(
    slices: Sequence[Slice], zstd_level: int, max_payload: int, id_prefix: str
) -> list[Message]:
    """A request's slices as record batches, packed into as few messages as fit."""
    room = max(4096, max_payload - HEADER_ROOM)
    out: list[Message] = []
    blobs: list[bytes] = []
    rows: list[tuple[int, int, int, str, str, str, int, int]] = []
    size = 0

    def flush() -> None:
        nonlocal blobs, rows, size
        if rows:
            out.append(
                Message(b"".join(blobs), rows, sum(r[0] for r in rows), f"{id_prefix}.{len(out)}")
            )
        blobs, rows, size = [], [], 0

    for sl in slices:
        for lines in _chunks(sl.lines, room * 9 // 10):
            blob = compress_lines(lines, zstd_level)
            if len(blob) > room:
                raise StorageError(
                    f"an event of {max(map(len, lines))} bytes does not fit in NATS's "
                    f"max_payload ({max_payload} bytes); raise max_payload"
                )
            if size + len(blob) > room:
                flush()
            raw = sum(len(x) + 1 for x in lines)
            rows.append(
                (len(lines), sl.min_time, sl.max_time, sl.connector, sl.index, sl.sourcetype)
                + (raw, len(blob))
            )
            blobs.append(blob)
            size += len(blob)
    flush()
    if len(out) > 1:
        for k, m in enumerate(out):
            m.part = f"{k}/{len(out)}"
    return out


@dataclass(slots=True)
class Request:
    """One HEC request on its way to a message: its slices and the future its answer waits
    on (a future of the caller's loop, resolved from the link's loop by :class:`Settle`)."""

    slices: Sequence[Slice]
    ack_channel: str | None
    count: int
    raw: int  # bytes of its lines, newlines included
    future: asyncio.Future[AppendResult]


def merge_requests(requests: Sequence[Request], zstd_level: int, msg_id: str) -> Message:
    """Requests as one message: adjacent slices with the same tags merged into one record
    batch (at most MAX_BATCH_EVENTS events, MAX_GROUP_RAW bytes), each compressed once. Every
    request's events stay contiguous and in order, so its offsets follow from the message's."""
    blobs: list[bytes] = []
    rows: list[tuple[int, int, int, str, str, str, int, int]] = []
    lines: list[bytes] = []
    key: tuple[str, str, str] | None = None
    tmin = tmax = raw = 0

    def flush() -> None:
        if lines and key is not None:
            blob = compress_lines(lines, zstd_level)
            blobs.append(blob)
            rows.append((len(lines), tmin, tmax, *key, raw, len(blob)))

    for req in requests:
        for sl in req.slices:
            if not sl.lines:
                continue
            if (
                sl.key != key
                or len(lines) + len(sl.lines) > MAX_BATCH_EVENTS
                or raw + sl.nbytes > MAX_GROUP_RAW
            ):
                flush()
                key, lines = sl.key, []
                tmin, tmax, raw = sl.min_time, sl.max_time, 0
            else:
                tmin, tmax = min(tmin, sl.min_time), max(tmax, sl.max_time)
            lines.extend(sl.lines)
            raw += sl.nbytes
    flush()
    return Message(b"".join(blobs), rows, sum(r[0] for r in rows), msg_id)


Settle = Callable[[int, list[Request]], Awaitable[None]]  # (stream sequence, its requests)
Fail = Callable[[list[Request], Exception], None]


class PartitionWriter:
    """Publishes one partition's messages (runs on the link's loop).

    Requests come in through :meth:`take` (a whole loop turn's at once); up to
    ``MAX_INFLIGHT`` messages await their acks; requests that arrive meanwhile wait and go
    out together, merged into one message (:func:`merge_requests`). Once a message is acked,
    ``settle`` gives its requests their offsets and answers them.
    """

    def __init__(
        self,
        link: NatsLink,
        layout: Layout,
        partition: int,
        clock: Callable[[], int] = time.time_ns,
        deadline: float = APPEND_DEADLINE,
        zstd_level: int = 1,
    ) -> None:
        self.link = link
        self.deadline = deadline
        self.layout = layout
        self.partition = partition
        self.stream = layout.stream(partition)
        self.subject = layout.subject(partition)
        self.clock = clock
        self.zstd_level = zstd_level
        self.max_message: int | None = None  # bytes of a message (None: the server's max_payload)
        self.settle: Settle | None = None  # set by the log: answers a stored message's requests
        self.fail: Fail | None = None  # and those of a message that could not be stored
        self.writer_id = os.urandom(8).hex()
        self._counter = itertools.count(1)  # next() is atomic: ids are made on any thread
        self._queue: deque[Request] = deque()
        self._inflight = 0
        self._sending: set[asyncio.Task[None]] = set()

    def next_id(self) -> str:
        return f"{self.writer_id}-{next(self._counter)}"

    def room(self) -> int:
        """Bytes of lines one merged message takes (its compressed blobs always fit)."""
        room = max(4096, (self.max_message or self.link.nc.max_payload) - HEADER_ROOM)
        return min(room * 9 // 10, MAX_GROUP_RAW)

    # coalescing requests into messages (on the link's loop) ---------------------------

    def take(self, requests: Sequence[Request]) -> None:
        """Queue requests (each fits one message) and send what the in-flight limit allows."""
        self._queue.extend(requests)
        self._flush()

    def _flush(self) -> None:
        room = self.room()
        while self._queue and self._inflight < MAX_INFLIGHT:
            group: list[Request] = []
            size = slices = 0
            while self._queue:
                req = self._queue[0]
                if req.future.done():  # its request gave up before it was sent
                    self._queue.popleft()
                    continue
                if group and (size + req.raw > room or slices + len(req.slices) > MAX_ROWS):
                    break
                group.append(self._queue.popleft())
                size += req.raw
                slices += len(req.slices)
            if not group:
                break
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._send(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[Request]) -> None:
        assert self.settle is not None and self.fail is not None
        try:
            try:
                msg = merge_requests(group, self.zstd_level, self.next_id())
                seq = await self.publish(msg)
            finally:
                self._inflight -= 1
                if self._queue:
                    self._flush()
            await self.settle(seq, group)
        except BaseException as exc:
            self.fail(group, exc if isinstance(exc, Exception) else StorageError("writer stopped"))
            if not isinstance(exc, Exception):
                raise

    async def publish(self, msg: Message) -> int:
        """Store ``msg``; return its stream sequence once the quorum acked it."""
        headers = {
            H_MSG_ID: msg.msg_id,
            H_INGEST: str(self.clock()),
            H_BATCHES: msg.summary(),
        }
        if msg.part:
            headers[H_PART] = msg.part
        deadline = time.monotonic() + self.deadline
        while True:
            if time.monotonic() > deadline:
                raise StorageError(f"partition {self.partition}: no quorum ack in time")
            try:
                ack: PubAck = await self.link.js.publish(
                    self.subject, msg.payload, timeout=PUBLISH_TIMEOUT, headers=dict(headers)
                )
            except nats.js.errors.APIError as exc:
                log.warning("publish to %s refused (%s); retrying", self.stream, exc)
                await asyncio.sleep(0.25)
                continue
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                # no ack: stored or not, the same id is sent again and deduplicated
                log.warning("publish to %s: %s; retrying", self.stream, type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            return int(ack.seq)
