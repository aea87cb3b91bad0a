"""The queues' small parts: the disk queue's cursor file, the re-arming wake-up signal, and
the choice of queue from a sink's ``queue:`` block."""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from pathlib import Path

import pytest

from lakehose.collector.delivery import QueueConfig
from lakehose.collector.queue import MiB, open_queue
from lakehose.collector.queue.cursor import Cursor, format_cursor, parse_cursor
from lakehose.collector.queue.disk import DiskQueue
from lakehose.collector.queue.memory import MemoryQueue
from lakehose.collector.queue.signal import Signal
from lakehose.errors import ConfigError


def signed(text: bytes) -> bytes:
    return text + b" %08x\n" % zlib.crc32(text)


@pytest.mark.parametrize("seq", [0, 1, 12345, 10**20 - 1])
def test_a_cursor_is_twenty_digits_and_their_crc32(seq: int) -> None:
    data = format_cursor(seq)
    assert data == signed(b"%020d" % seq) and len(data) == 30
    assert parse_cursor(data) == seq


@pytest.mark.parametrize(
    "data",
    [
        signed(b"0" * 19 + b"7").replace(b"7 ", b"8 ", 1),  # the digits do not match the crc
        signed(b"7" * 19),  # a checksum that holds, but 19 digits
        signed(b"7" * 21),
        b"0" * 20,  # no checksum
        signed(b"0" * 20) + b" extra",
        b"0" * 20 + b" zzzzzzzz\n",
        "0000000000000000000٧ 00000000\n".encode(),  # not ASCII
        b"",
    ],
)
def test_a_cursor_that_does_not_check_out_reads_as_none(data: bytes) -> None:
    assert parse_cursor(data) is None


def test_the_cursor_file_round_trips_and_is_overwritten_in_place(tmp_path: Path) -> None:
    cursor = Cursor(tmp_path, "q")
    assert cursor.read() == 0  # no file yet: send everything
    cursor.write(123456)
    assert cursor.read() == 123456 and (tmp_path / "cursor").read_bytes() == format_cursor(123456)
    cursor.write(7)
    assert cursor.read() == 7 and len((tmp_path / "cursor").read_bytes()) == 30
    assert (tmp_path / "cursor").stat().st_mode & 0o777 == 0o600
    cursor.close()
    cursor.close()  # twice is harmless
    cursor.write(8)  # reopens
    assert Cursor(tmp_path, "q").read() == 8
    cursor.close()


def test_closing_the_cursor_releases_its_descriptor(tmp_path: Path) -> None:
    """A sink's cursor is opened once per run of the collector; a leak per close adds up."""
    before = len(os.listdir("/proc/self/fd"))
    cursor = Cursor(tmp_path, "q")
    cursor.write(1)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    cursor.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_an_unreadable_cursor_reads_as_zero_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cursor").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert Cursor(tmp_path, "q").read() == 0
    assert "disk queue q: cursor" in caplog.text and "unreadable" in caplog.text
    caplog.clear()
    (tmp_path / "cursor").unlink()
    (tmp_path / "cursor").mkdir()  # reading it fails with an OSError other than "missing"
    with caplog.at_level(logging.WARNING):
        assert Cursor(tmp_path, "q").read() == 0
    assert "unreadable" in caplog.text


def test_a_cursor_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cursor = Cursor(tmp_path / "gone", "q")
    with caplog.at_level(logging.WARNING):
        cursor.write(5)
    assert "disk queue q: cannot save the cursor" in caplog.text
    cursor.close()


def test_a_signal_wakes_the_waiters_of_the_moment_and_re_arms() -> None:
    async def main() -> None:
        signal = Signal()
        first = asyncio.create_task(signal.wait())
        second = asyncio.create_task(signal.wait(3600))
        await asyncio.sleep(0.01)
        assert not first.done() and not second.done()
        signal.fire()
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        later = asyncio.create_task(signal.wait())  # waits for the next fire, not the last
        await asyncio.sleep(0.01)
        assert not later.done()
        signal.fire()
        await asyncio.wait_for(later, 5)
        await asyncio.wait_for(signal.wait(0.01), 5)  # a timeout ends the wait without a fire
        await asyncio.wait_for(signal.wait(-5), 5)  # a past deadline returns at once

    asyncio.run(main())


def test_open_queue_follows_the_queue_block(tmp_path: Path) -> None:
    async def main() -> None:
        memory = open_queue(QueueConfig("memory", 2, "deleteOldest"), tmp_path / "m", "a")
        assert isinstance(memory, MemoryQueue) and not memory.durable
        assert (memory.limit, memory.full_action, memory.name) == (2 * MiB, "deleteOldest", "a")
        assert not (tmp_path / "m").exists()  # a memory queue touches no disk
        disk = open_queue(QueueConfig("disk", 1, "pause"), tmp_path / "d", "b")
        assert isinstance(disk, DiskQueue) and disk.durable
        assert (disk.limit, disk.full_action, disk.name) == (MiB, "pause", "b")
        assert await disk.put([b"x\n"]) == 1
        await disk.aclose()
        await memory.aclose()

    asyncio.run(main())
    with pytest.raises(ConfigError, match="sink 'c': queue maxLimitInMB must be at least 1"):
        open_queue(QueueConfig("memory", 0), tmp_path, "c")
    assert MiB == 1024 * 1024
