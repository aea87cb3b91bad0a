"""A full disk under the disk queue (a 1 MiB tmpfs): a clear error, receipts held back (so
sources do not move on), nothing half-written left behind, and writing resumes once there
is room."""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.queue.disk import DiskQueue
from lakehose.collector.sink import open_delivery, sink_directory
from lakehose.errors import DeliveryClosedError


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "small", "size=1m")


@pytest.fixture
def few_inodes(tmp_path: Path) -> Iterator[Path]:
    yield from tmpfs(tmp_path / "few", "size=1m,nr_inodes=16")


def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_holds_the_sources_back_and_corrupts_nothing(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 600_000)
    sink = SinkConfig(
        name="full",
        url="http://127.0.0.1:9",  # the sink is down: the queue only grows
        token="t",
        queue=QueueConfig(type="disk", max_limit_mb=100, flush_timeout_ms=50),
    )
    run = uuid.uuid4().hex[:8]

    async def main() -> tuple[int, dict[str, int]]:
        delivery = await open_delivery(sink, small_disk)
        safe = 0
        held: asyncio.Future[None] | None = None
        while held is None:
            events = [CollectedEvent(f"{run} {n} " + "f" * 500) for n in range(safe, safe + 20)]
            receipt = await delivery.put(events)
            while not receipt.done() and delivery.stats().get("queue_write_errors", 0) == 0:
                await asyncio.sleep(0.01)
            if receipt.done():
                assert receipt.exception() is None  # fsynced: safe
                safe += 20
            else:
                held = receipt  # the disk is full: not safe, so the source does not move on
        stats = dict(delivery.stats())
        ballast.unlink()  # room again: the held events are written
        await asyncio.wait_for(held, 10)
        safe += 20
        await delivery.aclose()
        return safe, stats

    with caplog.at_level(logging.ERROR):
        safe, stats = asyncio.run(main())
    assert stats["queue_write_errors"] > 0 and safe > 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("No space left on device" in e and "unconfirmed" in e for e in errors), errors

    async def read_back() -> tuple[list[int], dict[str, int]]:
        queue = DiskQueue(sink_directory(small_disk, "full") / "queue", 100 << 20, "pause", "r")
        queue.hurry()
        got: list[int] = []
        while queue.stats()["queue_events"]:
            batch = await asyncio.wait_for(queue.get(1 << 20, 0), 5)
            assert batch is not None
            got += [int(line.split(b'"')[3].split()[1]) for line in batch.lines]
            queue.commit(batch.through)
        stats = queue.stats()
        await queue.aclose()
        return got, stats

    got, stats = asyncio.run(read_back())
    assert got == list(range(safe)) and stats["corrupt"] == 0


def lines(start: int, stop: int) -> list[bytes]:
    return [f"event {n} ".encode() + b"f" * 500 + b"\n" for n in range(start, stop)]


def test_closing_while_a_write_fails_refuses_its_receipts_and_keeps_what_was_written(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (small_disk / "ballast").write_bytes(b"\0" * 600_000)
    folder = small_disk / "queue"

    async def main() -> int:
        queue = DiskQueue(folder, 100 << 20, "pause", "t", segment_bytes=1)  # a file a put
        safe = 0
        while True:
            _, receipt = await queue.append(lines(safe, safe + 20))
            assert receipt is not None
            while not receipt.done() and queue.stats()["queue_write_errors"] == 0:
                await asyncio.sleep(0.01)
            if not receipt.done():
                break
            safe += 20
        assert queue.stats()["queue_events"] == safe  # the new, empty file holds none
        big = [b"x" * (1 << 20)] * 16  # 16 MiB more waiting to be written: a put must wait
        _, queued = await queue.append(big)
        waiting = asyncio.create_task(queue.append(lines(safe + 20, safe + 21)))
        await asyncio.sleep(0)
        assert not waiting.done()
        await asyncio.wait_for(queue.aclose(), 10)  # the retry fails again: given up
        for held in (receipt, queued):
            assert held is not None and held.done()
            assert isinstance(held.exception(), DeliveryClosedError)
        for _ in range(20):  # woken by the close, not by its one-second retry
            await asyncio.sleep(0)
        assert waiting.done() and isinstance(waiting.exception(), DeliveryClosedError)
        return safe

    with caplog.at_level(logging.ERROR):
        safe = asyncio.run(main())
    cannot = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(cannot) == 1  # two failed tries a moment apart: logged once
    assert not list(folder.glob("*.open"))  # the empty file of the failed put is gone
    queue = DiskQueue(folder, 100 << 20, "pause", "t")
    assert queue.stats()["queue_events"] == safe and queue.stats()["corrupt"] == 0
    queue._cursor.close()


def test_delete_oldest_out_of_inodes_drops_a_segment_and_starts_the_next(
    few_inodes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Starting a segment fails (no inode left): ``deleteOldest`` drops the oldest segment
    nothing was handed out from, which frees one, and the write goes on at once."""
    folder = few_inodes / "queue"

    async def main() -> tuple[list[int], dict[str, int]]:
        queue = DiskQueue(folder, 100 << 20, "deleteOldest", "t", segment_bytes=1)
        await queue.put(lines(0, 2))
        await queue.put(lines(2, 4))  # the first segment is sealed
        queue.hurry()
        batch = await queue.get(1, 0)  # handed out: never dropped
        assert batch is not None and batch.seqs == [1]
        for n in range(64):  # take every inode left
            try:
                (few_inodes / f"ballast{n}").touch()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        await asyncio.wait_for(queue.put(lines(4, 6)), 10)  # seals 2-3, cannot start 4-5
        got: list[int] = []
        queue.commit(batch.through)
        while len(got) < 3:
            more = await asyncio.wait_for(queue.get(1 << 20, 0), 5)
            assert more is not None
            got += [int(line.split()[1]) for line in more.lines]
            queue.commit(more.through)
        stats = queue.stats()
        for ballast in few_inodes.glob("ballast*"):
            ballast.unlink()
        await queue.aclose()
        return got, stats

    with caplog.at_level(logging.WARNING):
        got, stats = asyncio.run(main())
    assert "written after 1 failed tries" in caplog.text
    assert got == [1, 4, 5]  # event 1's segment was in delivery; events 2 and 3 went
    assert stats["dropped"] == 2 and stats["queue_write_errors"] == 1
