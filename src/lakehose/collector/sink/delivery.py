"""``QueuedDelivery``: the :class:`~lakehose.collector.delivery.Delivery` of one HEC sink.

``put`` encodes events into HEC envelope lines, sets aside (dead-letters) any larger
than ``maxEventSize``, and appends the rest to the sink's queue; a :class:`Shipper`
task empties the queue into the HEC. Receipts resolve when the queue is durable
(disk: at once, after the fsync) or when the events are settled (memory: stored by
the sink, set aside, or dropped by ``deleteOldest``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence

from lakehose.collector.delivery import CollectedEvent, SinkConfig
from lakehose.collector.queue import Queue
from lakehose.collector.sink.acks import AckPoller
from lakehose.collector.sink.deadletter import DeadLetters
from lakehose.collector.sink.envelope import envelope_lines
from lakehose.collector.sink.hec import SinkHEC
from lakehose.collector.sink.ledger import Ledger
from lakehose.collector.sink.shipper import Counters, Shipper
from lakehose.errors import DeliveryClosedError

log = logging.getLogger(__name__)


class QueuedDelivery:
    """A sink's queue, its shipper task and (with ``useAck``) its ack poller."""

    def __init__(self, config: SinkConfig, queue: Queue, hec: SinkHEC, dead: DeadLetters) -> None:
        self.config = config
        self.queue = queue
        self.hec = hec
        self.dead = dead
        self.counters = Counters()
        self.ledger = Ledger(queue, self._committed)
        self.shipper = Shipper(config, queue, hec, dead, self.ledger, self.counters)
        self.acks = (
            AckPoller(config, hec, self.ledger, self.counters, config.ack_timeout_ms / 1000)
            if config.use_ack
            else None
        )
        self.shipper.acks = self.acks
        self._receipts: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.shipper.run(), name=f"sink {self.config.name}"))
        if self.acks is not None:
            self._tasks.append(
                asyncio.create_task(self.acks.run(), name=f"sink {self.config.name} acks")
            )
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "sink %s: %s stopped: %r; nothing more will be sent",
                self.config.name,
                task.get_name(),
                task.exception(),
                exc_info=task.exception(),
            )

    async def put(self, events: Sequence[CollectedEvent]) -> asyncio.Future[None]:
        receipt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            receipt.set_exception(DeliveryClosedError(self.config.name))
            return receipt
        limit = self.config.max_event_size
        lines = envelope_lines(events)
        if max(map(len, lines), default=0) > limit:
            lines = await self._set_aside_large(lines, limit)
        try:
            last, durable = await self.queue.append(lines)
        except DeliveryClosedError as exc:
            receipt.set_exception(exc)
            return receipt
        if durable is not None:
            durable.add_done_callback(lambda done: _pass_on(done, receipt))
        elif self.queue.durable:
            receipt.set_result(None)
        else:
            self._receipts.append((last, receipt))
            self._settle()
        return receipt

    async def _set_aside_large(self, lines: list[bytes], limit: int) -> list[bytes]:
        """The lines within ``maxEventSize``; the others go to the dead-letter file."""
        kept: list[bytes] = []
        for line in lines:
            if len(line) > limit:
                reason = f"event of {len(line)} bytes is over maxEventSize ({limit} bytes)"
                await asyncio.to_thread(self.dead.add, [line], reason)
                self.counters.dead_lettered += 1
            else:
                kept.append(line)
        return kept

    def _committed(self, through: int, events: int) -> None:
        self.counters.sent += events
        self._settle()

    def _settle(self) -> None:
        settled = self.queue.settled()
        while self._receipts and self._receipts[0][0] <= settled:
            _, receipt = self._receipts.popleft()
            if not receipt.done():
                receipt.set_result(None)

    def stats(self) -> Mapping[str, int]:
        self._settle()  # deleteOldest drops settle receipts too
        c = self.counters
        out = {
            "sent": c.sent,
            "refused": c.refused,
            "retries": c.retries,
            "dead_lettered": c.dead_lettered,
        }
        out.update(self.queue.stats())
        return out

    async def aclose(self) -> None:
        """Send what the queue holds for up to ``flushTimeOutInMillisecond``, then stop;
        receipts not resolved by then fail (their events will be read again)."""
        if self._closed:
            return
        self._closed = True
        self.queue.hurry()
        deadline = time.monotonic() + self.config.queue.flush_timeout_ms / 1000
        while time.monotonic() < deadline and not self._drained():
            await asyncio.sleep(0.01)
        await self.queue.aclose()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hec.aclose()
        self._settle()
        while self._receipts:
            _, receipt = self._receipts.popleft()
            if not receipt.done():
                receipt.set_exception(DeliveryClosedError(self.config.name))
        log.info("sink %s: closed; %s", self.config.name, dict(self.stats()))

    def _drained(self) -> bool:
        stats = self.queue.stats()
        return stats["queue_events"] == 0 and len(self.ledger) == 0


def _pass_on(done: asyncio.Future[None], receipt: asyncio.Future[None]) -> None:
    """Resolve ``receipt`` as the disk write ``done`` ended."""
    if receipt.done():
        return
    if done.cancelled():
        receipt.cancel()
    elif (exc := done.exception()) is not None:
        receipt.set_exception(exc)
    else:
        receipt.set_result(None)
