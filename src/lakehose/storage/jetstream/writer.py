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
messages are in flight at once on the one connection. ``enqueue`` is how requests are
sent: requests that arrive while ``MAX_INFLIGHT`` messages of this writer await their acks
wait, and go out together as one message (their batches back to back, as big as a message
may be), so under load a partition stores fewer, bigger messages: fewer acks, fsyncs and
follower deliveries per event. Each request learns the message's sequence and how many
events come before its own in it; its offsets follow (``log.py``). A lone request is sent
at once.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js.api import PubAck

from lakehose.errors import StorageError
from lakehose.models import Slice
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
SUMMARY_ROOM = HEADER_ROOM - 2048  # bytes of a coalesced message's Lh-Batches header


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


class PartitionWriter:
    """Publishes one partition's messages (runs on the link's loop)."""

    def __init__(
        self,
        link: NatsLink,
        layout: Layout,
        partition: int,
        clock: Callable[[], int] = time.time_ns,
        deadline: float = APPEND_DEADLINE,
    ) -> None:
        self.link = link
        self.deadline = deadline
        self.layout = layout
        self.partition = partition
        self.stream = layout.stream(partition)
        self.subject = layout.subject(partition)
        self.clock = clock
        self.max_message: int | None = None  # bytes of a message (None: the server's max_payload)
        self.writer_id = os.urandom(8).hex()
        self._counter = itertools.count(1)  # next() is atomic: ids are made on any thread
        self._queue: deque[tuple[Message, asyncio.Future[tuple[int, int]]]] = deque()
        self._inflight = 0
        self._flushing = False
        self._sending: set[asyncio.Task[None]] = set()

    def next_id(self) -> str:
        return f"{self.writer_id}-{next(self._counter)}"

    # coalescing requests into messages (on the link's loop) ---------------------------

    def enqueue(self, msg: Message) -> asyncio.Future[tuple[int, int]]:
        """Send one request's (whole) message, alone or with others queued with it; the
        future gives ``(stream sequence, events before this request in that message)``."""
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self._queue.append((msg, fut))
        if not self._flushing:
            self._flushing = True  # after this turn of the loop: what else arrives joins
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flushing = False
        room = max(4096, (self.max_message or self.link.nc.max_payload) - HEADER_ROOM)
        while self._queue and self._inflight < MAX_INFLIGHT:
            group: list[tuple[Message, asyncio.Future[tuple[int, int]]]] = []
            size = summary = 0
            while self._queue:
                msg, fut = self._queue[0]
                if fut.done():  # its request gave up before it was sent
                    self._queue.popleft()
                    continue
                more = len(msg.summary())
                if group and (size + len(msg.payload) > room or summary + more > SUMMARY_ROOM):
                    break
                group.append(self._queue.popleft())
                size += len(msg.payload)
                summary += more
            if not group:
                break
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._send(group))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, group: list[tuple[Message, asyncio.Future[tuple[int, int]]]]) -> None:
        if len(group) == 1:
            msg = group[0][0]
        else:
            msg = Message(
                b"".join(m.payload for m, _ in group),
                [r for m, _ in group for r in m.rows],
                sum(m.count for m, _ in group),
                self.next_id(),
                batches="[" + ",".join(m.summary()[1:-1] for m, _ in group) + "]",
            )
        try:
            seq = await self.publish(msg)
        except BaseException as exc:
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(
                        exc if isinstance(exc, Exception) else StorageError("writer stopped")
                    )
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._inflight -= 1
            if self._queue and not self._flushing:
                self._flushing = True
                asyncio.get_running_loop().call_soon(self._flush)
        before = 0
        for m, fut in group:
            if not fut.done():
                fut.set_result((seq, before))
            before += m.count

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
