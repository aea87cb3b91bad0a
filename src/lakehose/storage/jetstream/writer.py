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

*Pipelining.* ``publish`` sends and awaits one message's ack; many requests' publishes
are in flight at once on the one connection.

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
import logging
import os
import time
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


@dataclass(slots=True)
class Message:
    """One message to store: its payload, batch summaries and (after assigning) its headers."""

    payload: bytes
    rows: list[tuple[int, int, int, str, str, str, int, int]]
    count: int
    msg_id: str
    part: str = ""  # "k/n" when the request is split over n > 1 messages


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
        self.writer_id = os.urandom(8).hex()
        self._counter = 0

    def next_id(self) -> str:
        self._counter += 1
        return f"{self.writer_id}-{self._counter}"

    async def publish(self, msg: Message) -> int:
        """Store ``msg``; return its stream sequence once the quorum acked it."""
        headers = {
            H_MSG_ID: msg.msg_id,
            H_INGEST: str(self.clock()),
            H_BATCHES: encode_batches(msg.rows),
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
