"""The memory queue: records in a deque, bounded by ``maxLimitInMB``; lost on exit."""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

from lakehose.collector.queue import Queue, QueuedBatch
from lakehose.collector.queue.signal import Signal
from lakehose.errors import DeliveryClosedError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Run:
    """Consecutive records put together: ``lines[i]`` has number ``first + i``."""

    first: int
    lines: list[bytes]
    nbytes: int
    since: float


def _split(run: _Run, room: int) -> tuple[int, int]:
    """How many of ``run``'s first lines fit in ``room`` bytes, and their size."""
    ends = list(accumulate(map(len, run.lines)))
    k = bisect_right(ends, room)
    return k, (ends[k - 1] if k else 0)


class MemoryQueue(Queue):
    """Waiting records (not handed out) and in-flight ones (handed out, not committed)
    both count against the limit; only waiting ones can be dropped by ``deleteOldest``.
    Records are kept in runs, as they were put, so the cost per record stays in C."""

    def __init__(
        self, limit: int, full_action: Literal["pause", "deleteOldest"], name: str
    ) -> None:
        self.limit = limit
        self.full_action = full_action
        self.name = name
        self._waiting: deque[_Run] = deque()
        self._inflight: deque[tuple[int, int, int]] = deque()  # first, last, bytes of a batch
        self._waiting_bytes = 0
        self._waiting_events = 0
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
        size = sum(map(len, lines))
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
        self._waiting.append(_Run(self._last + 1, list(lines), size, self._now()))
        self._last += len(lines)
        self._waiting_bytes += size
        self._waiting_events += len(lines)
        self._arrived.fire()
        return self._last, None

    def _total(self) -> int:
        return self._waiting_bytes + self._inflight_bytes

    def _drop_oldest(self, needed: int) -> bool:
        events = freed = 0
        while self._waiting and freed < needed:
            run = self._waiting[0]
            if freed + run.nbytes <= needed:
                self._waiting.popleft()
                events += len(run.lines)
                freed += run.nbytes
                continue
            k, nbytes = _split(run, needed - freed - 1)
            k += 1  # the line that reaches ``needed``
            nbytes += len(run.lines[k - 1])
            del run.lines[:k]
            run.first += k
            run.nbytes -= nbytes
            events += k
            freed += nbytes
            if not run.lines:
                self._waiting.popleft()
        if not events:
            return False
        self._waiting_bytes -= freed
        self._waiting_events -= events
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
                age = self._now() - self._waiting[0].since
                if self._hurry or self._waiting_bytes >= max_bytes or age >= linger:
                    return self._take(max_bytes)
                await self._arrived.wait(linger - age)
            else:
                await self._arrived.wait()
        return None

    @staticmethod
    def _now() -> float:
        """The running loop's clock (monotonic), so a record's age and a wait's timeout agree."""
        return asyncio.get_running_loop().time()

    def _take(self, max_bytes: int) -> QueuedBatch:
        lines: list[bytes] = []
        size = 0
        first = self._waiting[0].first
        while self._waiting:
            run = self._waiting[0]
            if size + run.nbytes <= max_bytes:
                self._waiting.popleft()
                lines += run.lines
                size += run.nbytes
                continue
            k, nbytes = _split(run, max_bytes - size)
            if k == 0 and not lines:  # one record larger than a batch goes alone
                k, nbytes = 1, len(run.lines[0])
            if k:
                lines += run.lines[:k]
                del run.lines[:k]
                run.first += k
                run.nbytes -= nbytes
                size += nbytes
            break
        last = first + len(lines) - 1
        self._waiting_bytes -= size
        self._waiting_events -= len(lines)
        self._inflight_bytes += size
        self._inflight.append((first, last, size))
        return QueuedBatch(lines, list(range(first, last + 1)), size, last)

    def commit(self, through: int) -> None:
        freed = 0
        while self._inflight and self._inflight[0][1] <= through:
            freed += self._inflight.popleft()[2]
        if freed:
            self._inflight_bytes -= freed
            self._room.fire()

    def settled(self) -> int:
        if self._inflight:
            return self._inflight[0][0] - 1
        if self._waiting:
            return self._waiting[0].first - 1
        return self._last

    def hurry(self) -> None:
        self._hurry = True
        self._arrived.fire()

    def stats(self) -> dict[str, int]:
        return {
            "queue_events": self._waiting_events + sum(b - a + 1 for a, b, _ in self._inflight),
            "queue_bytes": self._total(),
            "dropped": self._dropped,
        }

    async def aclose(self) -> None:
        self._closed = True
        self._arrived.fire()
        self._room.fire()
        await asyncio.sleep(0)
