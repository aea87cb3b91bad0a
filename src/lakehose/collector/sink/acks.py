"""Indexer acknowledgement (``useAck``): poll ``/services/collector/ack`` on the sink's
channel until each stored request's ``ackId`` is durable; send again what never is.

The poll runs while acks are awaited: soon after a request (lakehose answers 200 only
once a batch is committed, so its acks are true at the first poll), then less often
while nothing comes (Splunk indexes in seconds), at most every ``MAX_INTERVAL``. An
ack still false after ``ACK_TIMEOUT`` (the indexer lost it, or restarted and forgot
the channel) makes the events go out again: at-least-once, never at-most-once.

A resent entry keeps polling its earlier ack ids too: when the first send's ack turns
up late, the entry is settled by it and not sent a third time, even if the resend's ack
never comes. The bound: a batch is sent once more per ``ackTimeoutInMillisecond`` that
passes without an ack, so when the indexer stored it after all (only late), it holds
one copy more per timeout; a HEC that answers its acks within the timeout never sees a
duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time

from lakehose.collector.delivery import SinkConfig
from lakehose.collector.sink.hec import SinkHEC
from lakehose.collector.sink.ledger import Entry, Ledger
from lakehose.collector.sink.shipper import Counters
from lakehose.collector.sink.verdict import judge

log = logging.getLogger(__name__)

FIRST_INTERVAL = 0.05
MAX_INTERVAL = 2.0
ACK_TIMEOUT = 120.0
WINDOW = 16
"""Requests awaiting their ack at once; the shipper waits for room beyond that."""


class AckPoller:
    """Marks ledger entries done as their acks come; resends the ones that time out."""

    def __init__(
        self,
        config: SinkConfig,
        hec: SinkHEC,
        ledger: Ledger,
        counters: Counters,
        timeout: float = ACK_TIMEOUT,
    ) -> None:
        self.config = config
        self.hec = hec
        self.ledger = ledger
        self.counters = counters
        self.timeout = timeout
        self.wake = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def note_sent(self) -> None:
        """A stored request awaits its ack: poll soon; close the window when it is full."""
        if len(self.ledger.awaiting()) >= WINDOW:
            self.room.clear()
        self.wake.set()

    async def run(self) -> None:
        interval = FIRST_INTERVAL
        while True:
            waiting = self.ledger.awaiting()
            if not waiting:
                self.room.set()
                self.wake.clear()
                await self.wake.wait()
                interval = FIRST_INTERVAL
                continue
            await asyncio.sleep(interval)
            progressed = await self._poll(waiting)
            interval = FIRST_INTERVAL if progressed else min(MAX_INTERVAL, interval * 2)
            if len(self.ledger.awaiting()) < WINDOW:
                self.room.set()

    async def _poll(self, waiting: list[Entry]) -> bool:
        by_id = {i: e for e in waiting for i in e.earlier}
        by_id.update({e.ack_id: e for e in waiting if e.ack_id is not None})
        answer = await self.hec.query_acks(sorted(by_id))
        if not isinstance(answer, dict):
            code, text, _ = answer.verdict()
            log.warning(
                "sink %s: ack poll failed (%s %s); will poll again",
                self.config.name,
                answer.status,
                text,
            )
            return False
        progressed = False
        for ack_id, durable in answer.items():
            entry = by_id.get(ack_id)
            if durable and entry is not None and not entry.done:
                self.ledger.acked(entry)
                progressed = True
        now = time.monotonic()
        for entry in waiting:
            if not entry.done and now - entry.sent_at > self.timeout:
                await self._resend(entry)
        return progressed

    async def _resend(self, entry: Entry) -> None:
        """Send an entry's events again as one request; its new ackId replaces the old."""
        log.warning(
            "sink %s: no ack for %d events after %g s; sending them again",
            self.config.name,
            len(entry.lines),
            self.timeout,
        )
        from lakehose.client.hec.batching import compress

        plain = b"".join(entry.lines)
        body = compress(plain, self.hec.compression)
        reply = await self.hec.post(body, len(entry.lines), len(plain))
        self.counters.retries += 1
        verdict = judge(reply, len(entry.lines), 1)
        if verdict.kind == "stored" and verdict.ack_id is not None:
            if entry.ack_id is not None:
                entry.earlier.append(entry.ack_id)
            entry.ack_id = verdict.ack_id
            entry.sent_at = time.monotonic()
        elif verdict.kind == "stored":
            self.ledger.acked(entry)
        else:
            entry.sent_at = time.monotonic() - self.timeout + min(self.timeout, verdict.delay or 1)
