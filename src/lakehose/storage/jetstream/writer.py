"""Appending to one partition's stream: dense offsets from any number of writers, pipelined.

Theory of operation
-------------------
*Offsets.* Each message says which offset its first event has (``Lh-First``), so a
message's offsets are ``[first, first + count)`` and a reader needs no other state.
Offsets are dense because JetStream itself refuses a message whose predecessor is not
the one its writer assumed: a writer keeps the *tip* it believes in (the last message's
sequence, its ``Nats-Msg-Id`` and the end offset) and publishes each message with
``Nats-Expected-Last-Sequence`` = the tip's sequence and ``Nats-Expected-Last-Msg-Id`` =
the tip's id, then moves the tip past it at once, without waiting for the ack. So many
messages are in flight (pipelined: the ack of one is not awaited before the next is
sent), each chained to the one before. Stream sequences therefore map to offsets by the
headers: sequence ``s`` holds offsets ``[first(s), first(s) + count(s))`` and
``first(s + 1) = first(s) + count(s)`` for every stored pair, whichever node wrote them.

*Contention.* Several writers on one partition refuse each other's pipelines, so a
writer that lost a race sends one message at a time (after a short random pause) and
doubles its window with every ack, up to ``MAX_IN_FLIGHT``, as TCP does after a loss.

*Conflicts.* When another writer (a node, a process) got in first, JetStream answers
"wrong last sequence"/"wrong last msg id" for that message and, since each later one
expects its predecessor, for every later one of the pipeline too: none is stored. The
writer then *resyncs* (reads the stream's last message: its sequence, id and end offset)
and publishes the refused messages again, the first of them checked by sequence alone
(a restarted server may not remember the last id).

*Retries.* A publish that times out, or meets a leader election, is sent again with the
same headers, so the same ``Nats-Msg-Id``: if the first one was stored after all,
JetStream answers ``duplicate`` with its sequence (deduplication happens before the
expectation checks), and the writer reads back where it landed. Retries stop after
``APPEND_DEADLINE``, well inside the stream's ``duplicate_window``; the request then fails
(503), and nothing is acknowledged that is not stored.

*A 200.* ``append`` returns when JetStream has acked the message: the stream's leader and
a quorum of its replicas hold it (see the README for the fsync policy).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.js.api import PubAck

from lakehose.errors import StorageError
from lakehose.models import Slice
from lakehose.records import compress_lines
from lakehose.storage.jetstream.layout import (
    APPEND_DEADLINE,
    H_BATCHES,
    H_EXPECT_ID,
    H_EXPECT_SEQ,
    H_FIRST,
    H_INGEST,
    H_MSG_ID,
    Layout,
    decode_head,
    encode_batches,
)
from lakehose.storage.jetstream.link import NatsLink

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 2000  # events in one record batch (as the SQLite backend)
PUBLISH_TIMEOUT = 4.0  # seconds before a publish is sent again (same id)
CONFLICT_CODES = {10070, 10071}  # wrong last msg id, wrong last sequence
MAX_IN_FLIGHT = 256  # pipelined messages per partition and process
CONFLICT_BACKOFF = 0.02  # seconds, at most, a writer waits after losing a race
HEADER_ROOM = 16 * 1024  # bytes of a message kept for its headers


@dataclass(slots=True)
class Message:
    """One message to store: its payload, batch summaries and (after assigning) its headers."""

    payload: bytes
    rows: list[tuple[int, int, int, str, str, str, int, int]]
    count: int
    msg_id: str
    headers: dict[str, str] = field(default_factory=dict)
    first: int = -1
    generation: int = -1


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
    room = max(64 * 1024, max_payload - HEADER_ROOM)
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
    return out


class PartitionWriter:
    """Publishes one partition's messages, pipelined and chained (runs on the link's loop)."""

    def __init__(
        self,
        link: NatsLink,
        layout: Layout,
        partition: int,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.link = link
        self.layout = layout
        self.partition = partition
        self.stream = layout.stream(partition)
        self.subject = layout.subject(partition)
        self.clock = clock
        self.writer_id = os.urandom(8).hex()
        self._counter = 0
        # the tip this writer believes in
        self.tip_seq = 0
        self.tip_id: str | None = None
        self.end = 0
        self.last_ingest = 0
        self.generation = 0
        self._resync: asyncio.Task[None] | None = None
        self.synced = False
        self.conflicts = 0
        # messages in flight at once: MAX_IN_FLIGHT alone, down to 1 after a lost race
        self.window = MAX_IN_FLIGHT
        self.inflight = 0
        self._room = asyncio.Condition()

    def next_id(self) -> str:
        self._counter += 1
        return f"{self.writer_id}-{self._counter}"

    # the tip ----------------------------------------------------------------------------

    async def resync(self) -> None:
        """Read the stream's last message: the tip every writer must build on.

        A direct get (any replica answers, outside the JetStream API's queue, which many
        writers resyncing at once would overflow); a replica a little behind only costs
        another conflict and resync.
        """
        try:
            last = await self.link.js.get_msg(self.stream, subject=self.subject, direct=True)
        except nats.js.errors.NotFoundError:
            self.tip_seq, self.tip_id, self.end = 0, None, 0  # nothing written yet
        else:
            head = decode_head(self.partition, last.seq or 0, last.headers)
            if head is None:
                raise StorageError(f"stream {self.stream} holds a message lakehose did not write")
            self.tip_seq, self.end = head.seq, head.first + head.count
            self.last_ingest = max(self.last_ingest, head.ingest)
            self.tip_id = None  # check the head of the next pipeline by sequence only
        self.generation += 1
        self.synced = True

    async def _ensure_synced(self) -> None:
        while not self.synced:
            if self._resync is None or self._resync.done():
                self._resync = asyncio.ensure_future(self.resync())
            try:
                await asyncio.shield(self._resync)
            except StorageError:
                raise
            except Exception as exc:  # the cluster is unreachable or electing: try again
                log.warning("resync of %s failed: %s", self.stream, exc)
                await asyncio.sleep(0.25)

    def _assign(self, msg: Message) -> None:
        """Give ``msg`` the next offsets and chain it to the tip; move the tip past it."""
        now = max(self.clock(), self.last_ingest)
        self.last_ingest = now
        msg.first = self.end
        msg.generation = self.generation
        msg.headers = {
            H_MSG_ID: msg.msg_id,
            H_FIRST: str(self.end),
            H_INGEST: str(now),
            H_BATCHES: encode_batches(msg.rows),
            H_EXPECT_SEQ: str(self.tip_seq),
        }
        if self.tip_id is not None:
            msg.headers[H_EXPECT_ID] = self.tip_id
        self.tip_seq += 1
        self.tip_id = msg.msg_id
        self.end += msg.count

    async def _conflict(self, msg: Message) -> None:
        if msg.generation == self.generation and self.synced:
            self.synced = False  # the first refusal of this pipeline: resync once
            self.conflicts += 1
            # another writer is on this partition: let it finish its run before we retry,
            # or two pipelines keep refusing each other's heads
            await asyncio.sleep(random.uniform(0.0, CONFLICT_BACKOFF))

    # publishing -------------------------------------------------------------------------

    async def publish(self, msg: Message) -> tuple[int, int]:
        """Store ``msg``; return ``(first offset, stream sequence)`` once the quorum acked it."""
        deadline = time.monotonic() + APPEND_DEADLINE
        assigned = False
        while True:
            if time.monotonic() > deadline:
                raise StorageError(f"partition {self.partition}: no quorum ack in time")
            if not assigned:
                await self._ensure_synced()
                async with self._room:
                    await self._room.wait_for(lambda: self.inflight < self.window)
                if not self.synced:
                    continue  # a conflict while we waited: build on the new tip
                self._assign(msg)
                assigned = True
            self.inflight += 1
            try:
                ack: PubAck = await self.link.js.publish(
                    self.subject, msg.payload, timeout=PUBLISH_TIMEOUT, headers=dict(msg.headers)
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code in CONFLICT_CODES:
                    self.window = 1  # contended: one at a time until we win again
                    await self._conflict(msg)
                    assigned = False
                    continue
                log.warning("publish to %s refused (%s); retrying", self.stream, exc)
                await asyncio.sleep(0.25)
                continue
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                # no ack: stored or not, the same id is sent again and deduplicated
                log.warning("publish to %s: %s; retrying", self.stream, type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            finally:
                self.inflight -= 1
                async with self._room:
                    self._room.notify_all()
            self.window = min(MAX_IN_FLIGHT, self.window * 2)  # uncontended: open up again
            if ack.duplicate:
                return await self._landed(ack.seq), ack.seq
            return msg.first, ack.seq

    async def _landed(self, seq: int) -> int:
        """Where a message answered ``duplicate`` was stored the first time."""
        self.synced = False  # the tip assumed it landed now: rebuild it
        raw = await self.link.js.get_msg(self.stream, seq=seq)
        head = decode_head(self.partition, seq, raw.headers)
        if head is None:
            raise StorageError(f"stream {self.stream}: message {seq} is not lakehose's")
        return head.first

    async def marker(self) -> int:
        """Store an empty message at the tip (before retention purges all); its sequence."""
        msg = Message(b"", [], 0, f"{self.writer_id}-m{self._counter}")
        self._counter += 1
        _, seq = await self.publish(msg)
        return seq
