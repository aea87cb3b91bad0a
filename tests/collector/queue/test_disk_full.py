"""A full disk under the disk queue (a 1 MiB tmpfs): a clear error, receipts held back (so
sources do not move on), nothing half-written left behind, and writing resumes once there
is room."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehose.collector.delivery import CollectedEvent, QueueConfig, SinkConfig
from lakehose.collector.queue.disk import DiskQueue
from lakehose.collector.sink import open_delivery, sink_directory


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
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
