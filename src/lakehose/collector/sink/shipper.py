"""The loop that empties a sink's queue into its HEC, batch by batch, in order.

Per batch (about ``maxBatchSize`` bytes, or less after ``flushTimeOutInMillisecond``):
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

from lakehose.client._batching import compress
from lakehose.client._flow import Reply
from lakehose.client._retry import backoff_delay
from lakehose.collector.delivery import SinkConfig
from lakehose.collector.queue import Queue, QueuedBatch
from lakehose.collector.sink.deadletter import DeadLetters
from lakehose.collector.sink.hec import SinkHEC
from lakehose.collector.sink.ledger import Ledger
from lakehose.collector.sink.verdict import RETRY_POLICY, judge

if TYPE_CHECKING:
    from lakehose.collector.sink.acks import AckPoller

log = logging.getLogger(__name__)

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
        while True:
            if self.acks is not None:
                await self.acks.room.wait()
            batch = await self.queue.get(self.config.max_batch_size, self.linger)
            if batch is None:
                return
            await self.deliver(batch)

    async def deliver(self, batch: QueuedBatch) -> None:
        """Send ``batch`` until every event in it is stored or set aside."""
        lines, seqs = batch.lines, batch.seqs
        pending = [(0, len(lines))]
        while pending:
            lo, hi = pending.pop()
            attempt = 0
            while lo < hi:
                reply = await self._post(lines[lo:hi])
                verdict = judge(reply, hi - lo, attempt + 1)
                if verdict.kind == "stored":
                    self._stored(lines, seqs, lo, hi, verdict.ack_id)
                    lo = hi
                elif verdict.kind == "prefix":
                    bad = lo + verdict.index
                    if bad > lo:
                        self._stored(lines, seqs, lo, bad, verdict.ack_id)
                    await self._set_aside(lines[bad : bad + 1], seqs[bad], verdict.reason)
                    lo, attempt = bad + 1, 0
                elif verdict.kind == "split":
                    mid = (lo + hi) // 2
                    pending += [(mid, hi), (lo, mid)]
                    break
                elif verdict.kind == "refuse":
                    await self._set_aside(lines[lo : lo + 1], seqs[lo], verdict.reason)
                    lo, attempt = lo + 1, 0
                elif verdict.kind == "switch_auth":
                    scheme = self.hec.switch_auth_scheme()
                    log.warning(
                        "sink %s: %s; trying the Authorization scheme %s",
                        self.config.name,
                        verdict.reason,
                        scheme,
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
        if batch.through > (seqs[-1] if seqs else 0):
            self.ledger.settled(batch.through)

    async def _post(self, lines: list[bytes]) -> Reply:
        plain = b"".join(lines)
        compression = self.hec.compression
        if compression is not None and len(plain) >= THREAD_COMPRESS_BYTES:
            body = await asyncio.to_thread(compress, plain, compression)
        else:
            body = compress(plain, compression)
        return await self.hec.post(body, len(lines), len(plain))

    def _stored(
        self, lines: list[bytes], seqs: list[int], lo: int, hi: int, ack_id: int | None
    ) -> None:
        if self.config.use_ack and ack_id is not None:
            self.ledger.stored(seqs[hi - 1], hi - lo, ack_id, lines[lo:hi])
            if self.acks is not None:
                self.acks.note_sent()
        else:
            self.ledger.stored(seqs[hi - 1], hi - lo)

    async def _set_aside(self, lines: list[bytes], through: int, reason: str) -> None:
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
        self.ledger.settled(through)
