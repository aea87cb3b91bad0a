"""The memory queue's bounds: pause holds put, deleteOldest drops the oldest waiting."""

from __future__ import annotations

import asyncio
import logging
import selectors
from typing import Any

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


def ten(start: int, stop: int) -> list[bytes]:
    """Records of exactly ten bytes each, numbered so a batch shows which it holds."""
    return [b"%09d\n" % n for n in range(start, stop)]


def test_a_batch_takes_whole_records_up_to_max_bytes_across_puts() -> None:
    async def main() -> None:
        queue = MemoryQueue(10 * KB, "pause", "m")
        assert await queue.put([]) == 0  # nothing put: the last number stays
        assert await queue.put(ten(1, 4)) == 3
        assert await queue.put(ten(4, 6)) == 5
        assert await queue.put([]) == 5
        assert queue.settled() == 0  # waiting records are not settled
        assert queue.stats() == {"queue_events": 5, "queue_bytes": 50, "dropped": 0}
        first = await asyncio.wait_for(queue.get(40, 60), 5)  # 50 bytes wait: no linger
        assert first is not None
        assert (first.seqs, first.lines, first.nbytes, first.through) == (
            [1, 2, 3, 4],
            ten(1, 5),
            40,
            4,
        )
        assert queue.stats() == {"queue_events": 5, "queue_bytes": 50, "dropped": 0}
        second = await asyncio.wait_for(queue.get(10, 60), 5)  # exactly max_bytes waiting
        assert second is not None and (second.seqs, second.nbytes) == ([5], 10)
        assert queue.stats()["queue_events"] == 5
        queue.commit(3)  # not through the whole first batch: nothing settles
        assert queue.settled() == 0 and queue.stats()["queue_bytes"] == 50
        queue.commit(4)
        assert queue.settled() == 4 and queue.stats() == {
            "queue_events": 1, "queue_bytes": 10, "dropped": 0
        }  # fmt: skip
        queue.commit(5)
        assert queue.settled() == 5 and queue.stats()["queue_events"] == 0
        await queue.put(ten(6, 9))
        third = await asyncio.wait_for(queue.get(25, 60), 5)  # splits the put: 2 of 3
        assert third is not None and (third.seqs, third.nbytes) == ([6, 7], 20)
        assert queue.settled() == 5
        queue.commit(7)
        assert queue.settled() == 7  # the rest of the run still waits
        await queue.aclose()

    asyncio.run(main())


def test_a_record_larger_than_a_batch_goes_alone() -> None:
    async def main() -> None:
        queue = MemoryQueue(10 * KB, "pause", "m")
        await queue.put([b"x" * 30, b"y" * 5])
        big = await asyncio.wait_for(queue.get(20, 0), 5)
        assert big is not None and (big.lines, big.seqs, big.nbytes) == ([b"x" * 30], [1], 30)
        small = await asyncio.wait_for(queue.get(20, 0), 5)
        assert small is not None and (small.lines, small.seqs) == ([b"y" * 5], [2])
        await queue.aclose()

    asyncio.run(main())


def test_hurry_hands_out_what_waits_without_lingering() -> None:
    async def main() -> None:
        queue = MemoryQueue(10 * KB, "pause", "m")
        await queue.put(ten(1, 3))
        waiting = asyncio.create_task(queue.get(KB, 3600))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # 20 bytes of 1 KB, an hour's linger: it waits
        queue.hurry()
        batch = await asyncio.wait_for(waiting, 5)
        assert batch is not None and batch.seqs == [1, 2]
        await queue.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("runs", "put", "dropped", "left"),
    [
        # a 100-byte queue, full; the next put needs exactly its own size freed, no more
        ([10], 1, 1, list(range(2, 12))),
        ([10], 2, 2, list(range(3, 13))),
        ([1] * 10, 1, 1, list(range(2, 12))),  # whole runs of one record
        ([2] * 5, 1, 1, list(range(2, 12))),  # half a run
        ([2] * 5, 3, 3, list(range(4, 14))),  # a run and a half
        ([5], 1, 0, list(range(1, 7))),  # room enough: nothing dropped
    ],
)
def test_delete_oldest_drops_no_more_than_the_put_needs(
    runs: list[int], put: int, dropped: int, left: list[int]
) -> None:
    async def main() -> None:
        queue = MemoryQueue(100, "deleteOldest", "m")
        n = 1
        for size in runs:
            await queue.put(ten(n, n + size))
            n += size
        await queue.put(ten(n, n + put))
        assert queue.stats()["dropped"] == dropped
        assert queue.stats()["queue_events"] == len(left)
        assert queue.stats()["queue_bytes"] == 10 * len(left) <= 100
        assert queue.settled() == left[0] - 1
        batch = await asyncio.wait_for(queue.get(KB, 0), 5)
        assert (
            batch is not None and batch.seqs == left and batch.lines == ten(left[0], left[-1] + 1)
        )
        await queue.aclose()

    asyncio.run(main())


def test_delete_oldest_goes_over_the_limit_when_only_in_flight_records_are_left() -> None:
    async def main() -> None:
        queue = MemoryQueue(100, "deleteOldest", "m")
        await queue.put(ten(1, 11))
        batch = await queue.get(KB, 0)
        assert batch is not None and batch.seqs == list(range(1, 11))
        assert await asyncio.wait_for(queue.put(ten(11, 13)), 5) == 12
        assert queue.stats() == {"queue_events": 12, "queue_bytes": 120, "dropped": 0}
        await queue.aclose()

    asyncio.run(main())


def test_a_waiting_get_wakes_when_records_arrive_and_never_hands_out_an_empty_batch() -> None:
    async def main() -> None:
        queue = MemoryQueue(10 * KB, "pause", "m")
        waiting = asyncio.create_task(queue.get(KB, 0))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing to hand out
        await queue.put([b"a" * 30])
        batch = await asyncio.wait_for(waiting, 5)
        assert batch is not None and batch.lines == [b"a" * 30]
        await queue.put([b"b" * 30])
        await queue.put([b"c" * 10])  # this run fills the next batch exactly
        batch = await asyncio.wait_for(queue.get(40, 0), 5)
        assert batch is not None and batch.lines == [b"b" * 30, b"c" * 10]
        later = asyncio.create_task(queue.get(40, 0))
        await asyncio.sleep(0.01)
        assert not later.done()  # all handed out: it waits, no empty batch
        await queue.put([b"d" * 5])
        batch = await asyncio.wait_for(later, 5)
        assert batch is not None and (batch.lines, batch.seqs) == ([b"d" * 5], [4])
        await queue.aclose()

    asyncio.run(main())


def test_a_closed_queue_refuses_a_put_even_with_room() -> None:
    from lakehose.errors import DeliveryClosedError

    async def main() -> None:
        queue = MemoryQueue(10 * KB, "pause", "m")
        await queue.aclose()
        with pytest.raises(DeliveryClosedError):
            await queue.put([b"x\n"])
        assert queue.stats() == {"queue_events": 0, "queue_bytes": 0, "dropped": 0}

    asyncio.run(main())


def test_delete_oldest_counts_the_bytes_of_the_records_it_drops() -> None:
    async def main() -> None:
        queue = MemoryQueue(100, "deleteOldest", "m")
        await queue.put([b"a" * 50, b"b" * 30, b"c" * 20])
        await queue.put([b"d" * 10])  # frees the 50-byte record, the first
        assert queue.stats() == {"queue_events": 3, "queue_bytes": 60, "dropped": 1}
        small = MemoryQueue(10, "deleteOldest", "s")
        await small.put([b"x"])  # one byte queued is enough to make room for
        await small.put([b"y" * 10])
        assert small.stats() == {"queue_events": 1, "queue_bytes": 10, "dropped": 1}
        batch = await small.get(KB, 0)
        assert batch is not None and batch.lines == [b"y" * 10]
        await queue.aclose()
        await small.aclose()

    asyncio.run(main())


class _JumpingSelector:
    """A selector that, with nothing ready, moves its loop's clock to the next timer instead
    of sleeping: how long a coroutine waits becomes a value the test can read exactly."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = self._real.select(0)
        if ready or timeout is None:
            return ready or self._real.select(timeout)
        self._loop.now += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock that jumps from timer to timer."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))  # type: ignore[arg-type]

    def time(self) -> float:
        return self.now


def test_a_get_lingers_until_the_oldest_waiting_record_is_linger_old() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue = MemoryQueue(1024 * KB, "pause", "m")
        await queue.put(lines(0, 1))  # at 0 on the loop's virtual clock
        await asyncio.sleep(30)
        batch = await queue.get(1024 * KB, 100)
        assert batch is not None and batch.seqs == [1]
        assert loop.time() == 100  # 70 s more, the rest of the linger: not 130, not 0
        await queue.put(lines(1, 2))  # at 100
        batch = await queue.get(1024 * KB, 5)
        assert batch is not None and batch.seqs == [2] and loop.time() == 105
        await queue.aclose()

    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


def test_pause_lets_a_put_fill_the_queue_to_exactly_its_limit() -> None:
    async def main() -> None:
        queue = MemoryQueue(4 * KB, "pause", "m")
        await queue.put(lines(0, 2))
        assert await asyncio.wait_for(queue.put(lines(2, 4)), 5) == 4  # 4 KB of 4 KB
        assert queue.stats()["queue_bytes"] == 4 * KB
        await queue.aclose()

    asyncio.run(main())
