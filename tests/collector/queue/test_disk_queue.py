"""The disk queue on real files: order, restart, damaged bytes, torn tails, full queue."""

from __future__ import annotations

import asyncio
import logging
import os
import tracemalloc
from pathlib import Path

import pytest

from lakehose.collector.queue import QueuedBatch
from lakehose.collector.queue.disk import DiskQueue
from lakehose.collector.queue.segment import HEADER_SIZE, sealed_name

MiB = 1024 * 1024


def lines(start: int, stop: int, pad: int = 0) -> list[bytes]:
    return [f"event {n} ".encode() + b"x" * pad + b"\n" for n in range(start, stop)]


def numbers(batch: QueuedBatch | None) -> list[int]:
    assert batch is not None
    return [int(line.split()[1]) for line in batch.lines]


async def drain(queue: DiskQueue, commit: bool = True) -> list[int]:
    """Every record the queue hands out now (committing each batch if ``commit``)."""
    queue.hurry()
    out: list[int] = []
    while queue.stats()["queue_events"] or queue._durable_last > queue._handed:
        batch = await asyncio.wait_for(queue.get(64 * 1024, 0), 5)
        assert batch is not None
        out += numbers(batch) if batch.lines else []
        if commit:
            queue.commit(batch.through)
        if queue._durable_last <= queue._handed:
            break
    return out


def filled(folder: Path, records: list[bytes], close: bool = True) -> None:
    """Put ``records`` into a new queue in ``folder`` (one segment); closed, or left ``.open``
    as after a crash."""

    async def fill() -> None:
        queue = DiskQueue(folder, 16 * MiB, "pause", "t", segment_bytes=1 << 20)
        await queue.put(records)
        if close:
            await queue.aclose()

    asyncio.run(fill())


def reopened(folder: Path) -> tuple[list[int], dict[str, int]]:
    """What a queue opened again on ``folder`` hands out, committing it; and its stats then."""

    async def read() -> tuple[list[int], dict[str, int]]:
        queue = DiskQueue(folder, 16 * MiB, "pause", "t")
        got = await drain(queue)
        stats = queue.stats()
        await queue.aclose()
        return got, stats

    return asyncio.run(read())


def test_records_come_back_in_order_and_committed_segments_are_deleted(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=4096)
        for i in range(0, 1000, 50):
            await queue.put(lines(i, i + 50))
        assert len(list(tmp_path.glob("*.seg"))) > 3
        assert await drain(queue) == list(range(1000))
        assert queue.stats()["queue_events"] == 0
        assert list(tmp_path.glob("*.seg")) == []
        await queue.aclose()

    asyncio.run(main())


def test_a_restart_hands_out_again_what_was_not_committed(tmp_path: Path) -> None:
    async def first() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=4096)
        await queue.put(lines(0, 300))
        batch = await queue.get(1500, 0)
        assert batch is not None
        queue.commit(batch.through)  # delivered
        await queue.get(1500, 0)  # handed out, never committed
        await queue.aclose()
        assert queue.stats()["queue_events"] == 300 - len(batch.lines)

    async def second() -> list[int]:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=4096)
        got = await drain(queue)
        await queue.put(lines(300, 310))
        got += await drain(queue)
        await queue.aclose()
        return got

    asyncio.run(first())
    delivered = int((tmp_path / "cursor").read_text().split()[0])
    assert asyncio.run(second()) == list(range(delivered, 310))


def test_a_damaged_cursor_sends_everything_again_rather_than_lose_any(tmp_path: Path) -> None:
    async def first() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=4096)
        await queue.put(lines(0, 100))
        batch = await queue.get(1000, 0)
        assert batch is not None
        queue.commit(batch.through)
        await queue.aclose()

    asyncio.run(first())
    cursor = tmp_path / "cursor"
    cursor.write_bytes(cursor.read_bytes().replace(b"0", b"9", 1))  # checksum no longer holds
    got, _ = reopened(tmp_path)
    assert set(range(100)) <= set(got)  # the segments not yet deleted come again, whole


def test_damaged_bytes_skip_exactly_the_damaged_record_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    filled(tmp_path, lines(0, 100))
    [segment] = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    record = HEADER_SIZE + len(lines(0, 1)[0])  # events 0..9 have the same length
    data[5 * record + HEADER_SIZE + 2] ^= 0xFF  # payload of event 5: checksum fails
    data[7 * record + 4] ^= 0xFF  # length field of event 7: header implausible
    segment.write_bytes(bytes(data))

    with caplog.at_level(logging.ERROR):
        got, stats = reopened(tmp_path)
    assert got == [n for n in range(100) if n not in (5, 7)]
    assert stats["corrupt"] == 2
    assert sum("skipped damaged bytes" in r.getMessage() for r in caplog.records) == 2
    assert list(tmp_path.glob("*.seg")) == []  # the segment was still delivered and deleted


def test_garbage_in_place_of_a_whole_segment_tail_loses_only_those_records(tmp_path: Path) -> None:
    filled(tmp_path, lines(0, 50))
    [segment] = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    half = len(data) // 2
    data[half:] = os.urandom(len(data) - half)
    segment.write_bytes(bytes(data))

    got, stats = reopened(tmp_path)
    assert got == list(range(len(got))) and 20 <= len(got) < 26
    assert stats["corrupt"] == 50 - len(got)


def test_a_torn_last_record_of_an_open_segment_is_cut_at_startup(tmp_path: Path) -> None:
    """A crash mid-write leaves a partial record that no receipt covered: cut, not counted."""

    filled(tmp_path, lines(0, 10), close=False)  # the segment stays ``.open``, as after a crash
    [segment] = tmp_path.glob("*.open")
    with open(segment, "ab") as f:
        f.write(b"LHQ\x01\x40\x00\x00\x00partial")

    got, stats = reopened(tmp_path)
    assert got == list(range(10)) and stats["corrupt"] == 0


def test_delete_oldest_drops_whole_segments_counted_and_logged_each_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[list[int], dict[str, int]]:
        queue = DiskQueue(tmp_path, 1 * MiB, "deleteOldest", "t")
        for i in range(0, 4000, 100):
            await queue.put(lines(i, i + 100, pad=900))  # ~4 MB into a 1 MB queue
            assert queue.stats()["queue_bytes"] <= 1 * MiB + 100 * 1000
        got = await drain(queue)
        stats = queue.stats()
        await queue.aclose()
        return got, stats

    with caplog.at_level(logging.WARNING):
        got, stats = asyncio.run(main())
    assert stats["dropped"] > 2000 and stats["dropped"] + len(got) == 4000
    assert got == list(range(4000 - len(got), 4000))  # the newest survive, in order
    drops = [r for r in caplog.records if "dropped the" in r.getMessage()]
    assert len(drops) > 1
    assert (
        sum(int(r.getMessage().split("dropped the ")[1].split()[0]) for r in drops)
        == (stats["dropped"])
    )


def test_pause_makes_put_wait_until_the_sink_commits(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 1 * MiB, "pause", "t")
        for i in range(0, 900, 100):
            await queue.put(lines(i, i + 100, pad=1100))  # ~1.0 MB
        blocked = asyncio.create_task(queue.put(lines(900, 1000, pad=1100)))
        for _ in range(20):  # let the loop run: a put not held back would be done by now
            await asyncio.sleep(0)
        assert not blocked.done()  # back-pressure: the source waits
        batch = await queue.get(512 * 1024, 0)
        assert batch is not None
        queue.commit(batch.through)
        await asyncio.wait_for(blocked, 10)
        got = await drain(queue)
        assert got == list(range(len(batch.lines), 1000))
        assert queue.stats()["dropped"] == 0
        await queue.aclose()

    asyncio.run(main())


def test_startup_memory_stays_bounded_however_much_is_queued(tmp_path: Path) -> None:
    """24 MB queued in one segment left open by a crash: opening the queue (which walks that
    segment) and reading a batch allocate a small fraction of it; nothing loads it whole."""

    async def fill() -> None:
        queue = DiskQueue(tmp_path, 256 * MiB, "pause", "t", segment_bytes=128 * MiB)
        chunk = lines(0, 1000, pad=1000)
        for _ in range(24):
            await queue.put(chunk)
        await queue.put(lines(0, 1))
        # left open, as after a crash: startup must walk this segment

    asyncio.run(fill())

    async def reopen() -> int:
        tracemalloc.start()
        queue = DiskQueue(tmp_path, 256 * MiB, "pause", "t")
        batch = await queue.get(1 * MiB, 0)
        assert batch is not None and len(batch.lines) > 900
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        await queue.aclose()
        return peak

    assert asyncio.run(reopen()) < 4 * MiB


def test_a_commit_below_the_settled_point_changes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=4096)
        await queue.put(lines(0, 10))
        assert await drain(queue, commit=False) == list(range(10))
        queue.commit(10)
        queue.commit(3)  # a late, lower commit: the cursor never goes back
        assert queue.settled() == 10
        await queue.aclose()

    asyncio.run(main())
    assert reopened(tmp_path) == ([], reopened(tmp_path)[1])  # nothing is handed out again


def test_closing_seals_the_open_segment_and_leaves_no_file_open(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))

    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t", segment_bytes=1 << 20)
        await queue.put(lines(0, 5))
        batch = await asyncio.wait_for(queue.get(1, 0), 5)  # a reader is left open
        assert numbers(batch) == [0] and batch is not None and batch.seqs == [1]
        await queue.aclose()

    asyncio.run(main())
    assert len(os.listdir("/proc/self/fd")) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cursor") == [sealed_name(1, 5)]


@pytest.mark.parametrize(
    ("limit", "segment_bytes"),
    [
        (1 << 40, 64 << 20),
        (512 * MiB, 64 << 20),
        (16 * MiB, 2 * MiB),
        (MiB, 128 << 10),
        (MiB // 4, 64 << 10),
    ],
)
def test_the_default_segment_size_is_an_eighth_of_the_limit_within_64_kib_and_64_mib(
    tmp_path: Path, limit: int, segment_bytes: int
) -> None:
    queue = DiskQueue(tmp_path, limit, "pause", "t")
    assert queue.segment_bytes == segment_bytes
    queue._cursor.close()


def test_hurry_wakes_a_get_that_lingers(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        await queue.put(lines(0, 3))
        lingering = asyncio.create_task(queue.get(MiB, 3600))
        await asyncio.sleep(0.05)
        assert not lingering.done()
        queue.hurry()
        assert numbers(await asyncio.wait_for(lingering, 5)) == [0, 1, 2]
        await queue.aclose()

    asyncio.run(main())


def test_pause_lets_a_put_fill_the_queue_to_exactly_its_limit(tmp_path: Path) -> None:
    first, second = lines(0, 5), lines(5, 10)
    limit = sum(map(len, first + second)) + HEADER_SIZE * 10

    async def main() -> None:
        queue = DiskQueue(tmp_path, limit, "pause", "t", segment_bytes=1 << 20)
        await queue.put(first)
        assert await asyncio.wait_for(queue.put(second), 5) == 10
        assert queue.stats()["queue_bytes"] == limit
        await queue.aclose()

    asyncio.run(main())


def test_delete_oldest_removes_the_dropped_segment_files(tmp_path: Path) -> None:
    def on_disk() -> int:
        return sum(p.stat().st_size for p in tmp_path.iterdir() if p.name != "cursor")

    async def main() -> None:
        queue = DiskQueue(tmp_path, 256 * 1024, "deleteOldest", "t", segment_bytes=64 * 1024)
        for i in range(0, 1000, 50):
            await queue.put(lines(i, i + 50, pad=900))
            assert on_disk() == queue.stats()["queue_bytes"]
        assert queue.stats()["dropped"] > 0
        await queue.aclose()

    asyncio.run(main())


def test_a_get_takes_what_waits_at_once_when_it_reaches_max_bytes(tmp_path: Path) -> None:
    records = lines(0, 4)
    on_disk = sum(map(len, records)) + HEADER_SIZE * len(records)

    async def main() -> None:
        queue = DiskQueue(tmp_path, 16 * MiB, "pause", "t")
        await queue.put(records)
        batch = await asyncio.wait_for(queue.get(on_disk, 3600), 5)  # no lingering
        assert numbers(batch) == [0, 1, 2, 3]
        await queue.aclose()

    asyncio.run(main())
