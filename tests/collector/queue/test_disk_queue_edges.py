"""The disk queue at its edges, on real files: closing with puts and writes in flight, the
16 MiB of unwritten puts, ``deleteOldest`` choosing what to drop, and the reader's
bookkeeping at segment ends (a delivered segment deleted under it, the open segment)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lakehose.collector.queue.disk import MAX_PENDING, DiskQueue
from lakehose.collector.queue.segment import HEADER_SIZE
from lakehose.errors import DeliveryClosedError

from .test_disk_queue import drain, lines, numbers, reopened

MiB = 1024 * 1024
ROUND = 1  # segment_bytes=1: every write round starts a new segment


def on_disk(records: list[bytes]) -> int:
    return sum(map(len, records)) + HEADER_SIZE * len(records)


async def turns(n: int = 20) -> None:
    """Let the event loop run ``n`` times (no timer is waited for)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_closing_refuses_a_put_held_by_a_full_queue_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, on_disk(lines(0, 5)), "pause", "t")
        await queue.put(lines(0, 5))
        held = asyncio.create_task(queue.append(lines(5, 6)))
        await turns()
        assert not held.done()  # full: the source waits
        await queue.aclose()
        await turns()  # woken by the close, not by its one-second retry
        assert held.done() and isinstance(held.exception(), DeliveryClosedError)

    asyncio.run(main())


def test_closing_waits_for_the_round_being_written(tmp_path: Path) -> None:
    async def main() -> asyncio.Future[None] | None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        _, receipt = await queue.append(lines(0, 5))  # returns before the write
        await queue.aclose()
        return receipt

    receipt = asyncio.run(main())
    assert receipt is not None and receipt.done() and receipt.exception() is None
    assert reopened(tmp_path)[0] == [0, 1, 2, 3, 4]


def test_a_put_waits_while_16_mib_wait_to_be_written_and_closing_refuses_it(
    tmp_path: Path,
) -> None:
    assert MAX_PENDING == 16 * MiB
    record = [b"x" * (64 * 1024 - HEADER_SIZE - 1) + b"\n"]  # 64 KiB on disk
    almost = record * 255 + [record[0][1:]]  # 16 MiB less one byte

    async def main() -> None:
        queue = DiskQueue(tmp_path, 64 * MiB, "pause", "t", segment_bytes=64 * MiB)
        _, first = await queue.append(almost)  # returns at once: the write is still to come
        _, second = await queue.append(lines(0, 1))  # under 16 MiB waited: no wait either
        assert first is not None and not first.done() and second is not None
        waits = asyncio.create_task(queue.append(lines(1, 2)))  # 16 MiB or more waited
        await turns(1)
        assert not waits.done()
        await first
        await turns()  # woken by the round that was written, not by its one-second retry
        assert waits.done()
        _, third = waits.result()
        assert third is not None
        await third
        _, fourth = await queue.append(record * 256)  # exactly 16 MiB
        held = asyncio.create_task(queue.append(lines(2, 3)))
        await turns(1)
        assert not held.done()
        await queue.aclose()
        with pytest.raises(DeliveryClosedError):
            await held  # closed while it waited: nothing is written after aclose
        assert fourth is not None and fourth.done() and fourth.exception() is None

    asyncio.run(main())
    queue = DiskQueue(tmp_path, 64 * MiB, "pause", "t")
    assert queue.stats()["queue_events"] == 256 + 2 + 256
    queue._cursor.close()


def test_puts_not_yet_written_count_toward_the_limit(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, on_disk(lines(0, 1)), "pause", "t")
        _, receipt = await queue.append(lines(0, 1))  # not written yet
        held = asyncio.create_task(queue.append(lines(1, 2)))
        await turns(1)
        assert not held.done()  # the one waiting to be written fills the queue
        assert receipt is not None
        await receipt
        await queue.aclose()
        with pytest.raises(DeliveryClosedError):
            await held

    asyncio.run(main())


def test_a_commit_wakes_a_put_held_by_a_full_queue_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, on_disk(lines(0, 5)), "pause", "t", ROUND)
        await queue.put(lines(0, 5))
        held = asyncio.create_task(queue.append(lines(5, 6)))
        await turns()
        assert not held.done()
        queue.hurry()
        batch = await queue.get(MiB, 0)
        assert batch is not None
        queue.commit(batch.through)
        await turns()  # woken by the commit, not by its one-second retry
        assert held.done()
        last, receipt = held.result()
        assert last == 6 and receipt is not None
        await receipt
        await queue.aclose()

    asyncio.run(main())


def test_closing_ends_a_get_waiting_for_records(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        waiting = asyncio.create_task(queue.get(MiB, 0))
        await turns()
        assert not waiting.done()
        await queue.aclose()
        await turns()
        assert waiting.done() and waiting.result() is None

    asyncio.run(main())


def test_an_empty_put_has_no_receipt_and_a_closed_queue_refuses_even_that(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        assert await queue.append([]) == (0, None)
        await queue.put(lines(0, 3))
        assert await queue.append([]) == (3, None)
        await queue.aclose()
        with pytest.raises(DeliveryClosedError):
            await queue.append([])

    asyncio.run(main())


def test_delete_oldest_goes_past_the_limit_when_nothing_can_be_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, on_disk(lines(0, 5)), "deleteOldest", "t", 1 << 20)
        await queue.put(lines(0, 5))
        await asyncio.wait_for(queue.put(lines(5, 10)), 5)  # one open segment: nothing to drop
        assert queue.stats()["dropped"] == 0
        assert queue.stats()["queue_bytes"] == on_disk(lines(0, 10))
        assert await drain(queue) == list(range(10))
        await queue.aclose()

    asyncio.run(main())


def test_delete_oldest_drops_as_many_segments_as_a_put_needs(tmp_path: Path) -> None:
    three = on_disk(lines(10, 13))  # events 10..99 encode to the same length
    twice = b"y" * (2 * len(lines(10, 11)[0]) + HEADER_SIZE - 1) + b"\n"  # two records' room

    async def main() -> None:
        queue = DiskQueue(tmp_path, 4 * three, "deleteOldest", "t", ROUND)
        for i in range(10, 22, 3):
            await queue.put(lines(i, i + 3))  # four segments of three events, the last open
        await queue.put([twice] * 3)  # needs the room of two segments
        stats = queue.stats()
        assert stats["dropped"] == 6 and stats["queue_bytes"] == 4 * three
        await queue.aclose()

    asyncio.run(main())


def test_delete_oldest_keeps_a_segment_whose_first_event_was_delivered(tmp_path: Path) -> None:
    record = len(lines(0, 1)[0])

    async def first() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", ROUND)
        for i in range(0, 9, 3):
            await queue.put(lines(i, i + 3))  # segments of events 0-2, 3-5, 6-8
        queue.hurry()
        batch = await queue.get(4 * record, 0)
        assert numbers(batch) == [0, 1, 2, 3] and batch is not None
        queue.commit(batch.through)  # event 3 delivered, 4 and 5 not
        await queue.aclose()

    async def second() -> tuple[list[int], dict[str, int]]:
        limit = sum(p.stat().st_size for p in tmp_path.glob("*.seg"))
        queue = DiskQueue(tmp_path, limit, "deleteOldest", "t", ROUND)
        await queue.put(lines(9, 12))
        got = await drain(queue)
        stats = queue.stats()
        await queue.aclose()
        return got, stats

    asyncio.run(first())
    got, stats = asyncio.run(second())
    assert got == [4, 5, 9, 10, 11]  # the segment of 6-8 went, not the one delivery began
    assert stats["dropped"] == 3


def test_a_batch_that_ends_a_segment_deleted_on_commit_is_followed_by_the_next(
    tmp_path: Path,
) -> None:
    """The sink commits a batch that ended exactly at a sealed segment's last event, which
    deletes that segment: the next batch starts at the next segment's first event."""
    record = len(lines(0, 1)[0])

    async def main() -> list[int]:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", ROUND)
        for i in range(0, 9, 3):
            await queue.put(lines(i, i + 3))
        queue.hurry()
        got: list[int] = []
        while len(got) < 9:
            batch = await asyncio.wait_for(queue.get(3 * record, 0), 5)
            got += numbers(batch)
            assert batch is not None and len(batch.lines) == 3  # exactly one segment
            assert batch.nbytes == 3 * record
            queue.commit(batch.through)
        await queue.aclose()
        return got

    assert asyncio.run(main()) == list(range(9))


def test_a_get_lingers_until_max_bytes_wait_after_a_first_batch(tmp_path: Path) -> None:
    records = lines(0, 4)

    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        await queue.put(records)
        first = await asyncio.wait_for(queue.get(2 * len(records[0]), 3600), 5)
        assert numbers(first) == [0, 1]
        lingering = asyncio.create_task(queue.get(on_disk(records[2:]) + 1, 3600))
        await turns()
        assert not lingering.done()  # two records wait, a byte less than it asked for
        await queue.put(lines(4, 5))
        assert numbers(await asyncio.wait_for(lingering, 5)) == [2, 3, 4]
        await queue.aclose()

    asyncio.run(main())


def test_gets_at_max_bytes_go_at_once_round_after_round_in_the_open_segment(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=1 << 20)
        for i in range(0, 20, 5):
            await queue.put(lines(i, i + 5))
            batch = await asyncio.wait_for(queue.get(on_disk(lines(i, i + 5)), 3600), 5)
            assert numbers(batch) == list(range(i, i + 5))  # read to the open segment's end
        await queue.aclose()

    asyncio.run(main())


def test_a_damaged_last_record_of_the_open_segment_counts_one_lost(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=1 << 20)
        await queue.put(lines(0, 5))
        [segment] = tmp_path.glob("*.open")
        data = bytearray(segment.read_bytes())
        data[-2] ^= 0xFF  # the last record's payload: its checksum fails
        segment.write_bytes(bytes(data))
        queue.hurry()
        assert numbers(await asyncio.wait_for(queue.get(MiB, 0), 5)) == [0, 1, 2, 3]
        assert queue.stats()["corrupt"] == 1
        await queue.aclose()

    asyncio.run(main())


def test_a_dropped_segment_no_longer_counts_as_waiting_for_a_get(tmp_path: Path) -> None:
    three = on_disk(lines(10, 13))

    async def main() -> None:
        queue = DiskQueue(tmp_path, 2 * three, "deleteOldest", "t", ROUND)
        for i in range(10, 19, 3):
            await queue.put(lines(i, i + 3))  # the third drops the first
        assert queue.stats()["dropped"] == 3
        lingering = asyncio.create_task(queue.get(2 * three + 1, 3600))
        await turns()
        assert not lingering.done()  # two segments wait, a byte less than it asked for
        queue.hurry()
        assert numbers(await asyncio.wait_for(lingering, 5)) == list(range(13, 19))
        await queue.aclose()

    asyncio.run(main())


def test_segment_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        await queue.put(lines(0, 1))
        [segment] = tmp_path.glob("*.open")
        assert segment.stat().st_mode & 0o777 == 0o600
        await queue.aclose()

    asyncio.run(main())
