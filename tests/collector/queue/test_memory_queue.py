"""The memory queue's bounds: pause holds put, deleteOldest drops the oldest waiting."""

from __future__ import annotations

import asyncio
import logging

import pytest

from lakehose.collector.queue.memory import MemoryQueue

KB = 1024


def lines(start: int, stop: int) -> list[bytes]:
    return [f"{n:09d}".encode() + b"m" * (KB - 10) + b"\n" for n in range(start, stop)]


def test_pause_holds_put_until_the_sink_commits() -> None:
    async def main() -> None:
        queue = MemoryQueue(1024 * KB, "pause", "m")
        await queue.put(lines(0, 1000))
        held = asyncio.create_task(queue.put(lines(1000, 1100)))
        await asyncio.sleep(0.1)
        assert not held.done()
        batch = await queue.get(200 * KB, 0)
        assert batch is not None and queue.settled() == 0
        queue.commit(batch.through)
        assert await asyncio.wait_for(held, 5) == 1100
        assert queue.settled() == batch.through and queue.stats()["dropped"] == 0
        await queue.aclose()

    asyncio.run(main())


def test_delete_oldest_drops_waiting_events_never_in_flight_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        queue = MemoryQueue(1024 * KB, "deleteOldest", "m")
        await queue.put(lines(0, 1000))
        in_flight = await queue.get(100 * KB, 0)
        assert in_flight is not None and in_flight.seqs[0] == 1
        for start in range(1000, 1500, 100):
            await queue.put(lines(start, start + 100))
        stats = queue.stats()
        assert stats["dropped"] == 476 and stats["queue_bytes"] <= 1024 * KB  # 24 KB were free
        assert queue.settled() == 0  # the in-flight batch still holds the front
        queue.commit(in_flight.through)
        assert queue.settled() == 576  # 1..100 delivered, 101..576 dropped
        rest = await queue.get(10_000 * KB, 0)
        assert rest is not None and rest.seqs == list(range(577, 1501))
        await queue.aclose()

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    drops = [r.getMessage() for r in caplog.records if "dropped the" in r.getMessage()]
    assert len(drops) == 5 and drops[-1].endswith("476 dropped so far")


def test_a_put_larger_than_the_whole_queue_goes_through_when_it_is_empty() -> None:
    async def main() -> int:
        queue = MemoryQueue(100 * KB, "pause", "m")
        last = await asyncio.wait_for(queue.put(lines(0, 300)), 5)
        await queue.aclose()
        return last

    assert asyncio.run(main()) == 300


def test_closing_releases_a_held_put_with_an_error() -> None:
    from lakehose.errors import DeliveryClosedError

    async def main() -> None:
        queue = MemoryQueue(1024 * KB, "pause", "m")
        await queue.put(lines(0, 1000))
        held = asyncio.create_task(queue.put(lines(1000, 1100)))
        await asyncio.sleep(0.05)
        await queue.aclose()
        with pytest.raises(DeliveryClosedError):
            await held
        assert await queue.get(KB, 0) is None

    asyncio.run(main())
