"""The memory queue: records in a deque, bounded by ``maxLimitInMB``; lost on exit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Literal

from lakehose.collector.queue import Queue, QueuedBatch
from lakehose.collector.queue.signal import Signal
from lakehose.errors import DeliveryClosedError

log = logging.getLogger(__name__)


class MemoryQueue(Queue):
    """Waiting records (not handed out) and in-flight ones (handed out, not committed)
    both count against the limit; only waiting ones can be dropped by ``deleteOldest``."""

    def __init__(
        self, limit: int, full_action: Literal["pause", "deleteOldest"], name: str
    ) -> None:
        self.limit = limit
        self.full_action = full_action
        self.name = name
        self._waiting: deque[tuple[int, bytes, float]] = deque()  # seq, line, arrival
        self._inflight: deque[tuple[int, int]] = deque()  # seq, size
        self._waiting_bytes = 0
        self._inflight_bytes = 0
        self._last = 0
        self._dropped = 0
        self._closed = False
        self._hurry = False
        self._arrived = Signal()
        self._room = Signal()

    async def append(self, lines: Sequence[bytes]) -> tuple[int, asyncio.Future[None] | None]:
        if not lines:
            return self._last, None
        size = sum(len(line) for line in lines)
        while self._total() + size > self.limit and self._total() > 0:
            if self._closed:
                raise DeliveryClosedError(self.name)
            if self.full_action == "deleteOldest":
                if not self._drop_oldest(self._total() + size - self.limit):
                    break  # only in-flight records left: go over the limit by this put
            else:
                await self._room.wait()
        if self._closed:
            raise DeliveryClosedError(self.name)
        now = time.monotonic()
        for line in lines:
            self._last += 1
            self._waiting.append((self._last, line, now))
        self._waiting_bytes += size
        self._arrived.fire()
        return self._last, None

    def _total(self) -> int:
        return self._waiting_bytes + self._inflight_bytes

    def _drop_oldest(self, needed: int) -> bool:
        events = freed = 0
        while self._waiting and freed < needed:
            _, line, _ = self._waiting.popleft()
            freed += len(line)
            events += 1
        if not events:
            return False
        self._waiting_bytes -= freed
        self._dropped += events
        log.warning(
            "sink %s: memory queue full (%d bytes): dropped the %d oldest events (%d bytes); "
            "%d dropped so far",
            self.name,
            self.limit,
            events,
            freed,
            self._dropped,
        )
        return True

    async def get(self, max_bytes: int, linger: float) -> QueuedBatch | None:
        while not self._closed:
            if self._waiting:
                age = time.monotonic() - self._waiting[0][2]
                if self._hurry or self._waiting_bytes >= max_bytes or age >= linger:
                    return self._take(max_bytes)
                await self._arrived.wait(linger - age)
            else:
                await self._arrived.wait()
        return None

    def _take(self, max_bytes: int) -> QueuedBatch:
        lines: list[bytes] = []
        seqs: list[int] = []
        size = 0
        while self._waiting:
            seq, line, _ = self._waiting[0]
            if lines and size + len(line) > max_bytes:
                break
            self._waiting.popleft()
            lines.append(line)
            seqs.append(seq)
            self._inflight.append((seq, len(line)))
            size += len(line)
        self._waiting_bytes -= size
        self._inflight_bytes += size
        return QueuedBatch(lines, seqs, size, seqs[-1])

    def commit(self, through: int) -> None:
        freed = 0
        while self._inflight and self._inflight[0][0] <= through:
            freed += self._inflight.popleft()[1]
        if freed:
            self._inflight_bytes -= freed
            self._room.fire()

    def settled(self) -> int:
        if self._inflight:
            return self._inflight[0][0] - 1
        if self._waiting:
            return self._waiting[0][0] - 1
        return self._last

    def hurry(self) -> None:
        self._hurry = True
        self._arrived.fire()

    def stats(self) -> dict[str, int]:
        return {
            "queue_events": len(self._waiting) + len(self._inflight),
            "queue_bytes": self._total(),
            "dropped": self._dropped,
        }

    async def aclose(self) -> None:
        self._closed = True
        self._arrived.fire()
        self._room.fire()
        await asyncio.sleep(0)
