"""The loop that empties a sink's queue into its HEC, batch by batch, in order.

Up to ``IN_FLIGHT`` batches travel at once (the queue is still committed in order, see
:mod:`ledger`). Per batch (about ``maxBatchSize`` bytes, or less after ``flushTimeOutInMillisecond``):
send it, and follow the verdict (:mod:`verdict`). Stored events are entered in the
:class:`Ledger`, which commits the queue; on a HEC refusal naming
``invalid-event-number`` N, events before N were stored and are never sent again,
event N goes to the dead-letter file with the reason, and sending resumes at N+1.
A refusal without an event number (or a 413) splits the batch in halves until the
refused event is alone. Anything else is retried, with exponential backoff and
jitter, or after ``Retry-After`` on 429/503, for as long as it takes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehose.client._retry import backoff_delay
from lakehose.client.hec.batching import compress
from lakehose.client.hec.flow import Reply
from lakehose.collector.delivery import SinkConfig
from lakehose.collector.queue import Queue, QueuedBatch
from lakehose.collector.sink.deadletter import DeadLetters
from lakehose.collector.sink.hec import SinkHEC
from lakehose.collector.sink.ledger import Ledger, Slot
from lakehose.collector.sink.verdict import RETRY_POLICY, judge

if TYPE_CHECKING:
    from lakehose.collector.sink.acks import AckPoller

log = logging.getLogger(__name__)

IN_FLIGHT = 2
"""Batches sent at once: one compresses or waits for its answer while the other travels."""

THREAD_COMPRESS_BYTES = 128 * 1024
"""Bodies at least this large are compressed on a worker thread, off the event loop."""


@dataclass(slots=True)
class Counters:
    """The sink's side of ``Delivery.stats()``."""

    sent: int = 0
    refused: int = 0
    retries: int = 0
    dead_lettered: int = 0


class Shipper:
    """Delivers one queue to one HEC; ``run`` until the queue is closed."""

    def __init__(
        self,
        config: SinkConfig,
        queue: Queue,
        hec: SinkHEC,
        dead: DeadLetters,
        ledger: Ledger,
        counters: Counters,
    ) -> None:
        self.config = config
        self.queue = queue
        self.hec = hec
        self.dead = dead
        self.ledger = ledger
        self.counters = counters
        self.linger = max(0.0, config.queue.flush_timeout_ms / 1000)
        self.acks: AckPoller | None = None

    async def run(self) -> None:
        """Take batches in queue order and deliver up to ``IN_FLIGHT`` of them at once."""
        room = asyncio.Semaphore(IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                if self.acks is not None:
                    await self.acks.room.wait()
                await room.acquire()
                batch = await self.queue.get(self.config.max_batch_size, self.linger)
                if batch is None:
                    return
                slot = self.ledger.reserve(batch.through)
                task = asyncio.create_task(self.deliver(batch, slot))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: room.release())
                task.add_done_callback(self._failed)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)

    def _failed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "sink %s: a batch failed unexpectedly (%r); the queue holds it and what "
                "follows until the collector restarts",
                self.config.name,
                exc,
                exc_info=exc,
            )

    async def deliver(self, batch: QueuedBatch, slot: Slot) -> None:
        """Send ``batch`` until every event in it is stored or set aside."""
        lines = batch.lines
        pending = [(0, len(lines))]
        while pending:
            lo, hi = pending.pop()
            attempt = 0
            while lo < hi:
                scheme = self.hec.auth_scheme
                reply = await self._post(lines[lo:hi])
                verdict = judge(reply, hi - lo, attempt + 1)
                if verdict.kind == "stored":
                    self._stored(slot, lines, lo, hi, verdict.ack_id)
                    lo = hi
                elif verdict.kind == "prefix":
                    bad = lo + verdict.index
                    if bad > lo:
                        self._stored(slot, lines, lo, bad, verdict.ack_id)
                    await self._set_aside(slot, lines[bad : bad + 1], verdict.reason)
                    lo, attempt = bad + 1, 0
                elif verdict.kind == "split":
                    mid = (lo + hi) // 2
                    pending += [(mid, hi), (lo, mid)]
                    break
                elif verdict.kind == "refuse":
                    await self._set_aside(slot, lines[lo : lo + 1], verdict.reason)
                    lo, attempt = lo + 1, 0
                elif verdict.kind == "switch_auth":
                    if self.hec.auth_scheme == scheme:  # not switched by the other batch yet
                        log.warning(
                            "sink %s: %s; trying the Authorization scheme %s",
                            self.config.name,
                            verdict.reason,
                            self.hec.switch_auth_scheme(),
                        )
                    attempt += 1
                    self.counters.retries += 1
                else:
                    attempt += 1
                    self.counters.retries += 1
                    log.warning(
                        "sink %s: %d events not delivered (%s); retry %d in %.1f s",
                        self.config.name,
                        hi - lo,
                        verdict.reason,
                        attempt,
                        verdict.delay,
                    )
                    await asyncio.sleep(verdict.delay)
        self.ledger.finish(slot)

    async def _post(self, lines: list[bytes]) -> Reply:
        plain = b"".join(lines)
        compression = self.hec.compression
        if compression is not None and len(plain) >= THREAD_COMPRESS_BYTES:
            body = await asyncio.to_thread(compress, plain, compression)
        else:
            body = compress(plain, compression)
        return await self.hec.post(body, len(lines), len(plain))

    def _stored(self, slot: Slot, lines: list[bytes], lo: int, hi: int, ack_id: int | None) -> None:
        if self.config.use_ack and ack_id is not None:
            self.ledger.stored(slot, hi - lo, ack_id, lines[lo:hi])
            if self.acks is not None:
                self.acks.note_sent()
        else:
            self.ledger.stored(slot, hi - lo)

    async def _set_aside(self, slot: Slot, lines: list[bytes], reason: str) -> None:
        """Write refused events to the dead-letter file (retrying while the disk fails)."""
        attempt = 0
        while True:
            try:
                await asyncio.to_thread(self.dead.add, lines, reason)
                break
            except OSError as exc:
                attempt += 1
                delay = backoff_delay(attempt, None, RETRY_POLICY)
                log.error(
                    "sink %s: cannot write the dead-letter file %s (%s); retry in %.1f s",
                    self.config.name,
                    self.dead.path,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
        self.counters.refused += len(lines)
        self.counters.dead_lettered += len(lines)
        self.ledger.set_aside(slot)
