"""The embedded :class:`EventLog`: one SQLite database per partition, group-committed.

Theory of operation
-------------------
Each process opens a :class:`PartitionWriter` per partition behind a
:class:`GroupCommitter` (its commit thread), and one :class:`PartitionReader` per
partition for the event loop thread. Offsets come from the partition's sequencer
lock, shared by every process (``partition.py``).

*Tailing.* Feeds wait for ``end_offset(p)`` to pass their position. A commit in
this process wakes them at once; commits of other processes are seen by polling
``state.next_offset`` every ``poll_interval`` while anyone waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lakehose.errors import DataDirError
from lakehose.models import AppendResult
from lakehose.storage.base import EventLog, LogReader, PendingAppend, Settled
from lakehose.storage.sqlite.committer import GroupCommitter
from lakehose.storage.sqlite.partition import PartitionReader, PartitionWriter, partition_path

log = logging.getLogger(__name__)


def open_readers(
    data_dir: Path, partitions: int | None = None, *, readonly: bool = False
) -> list[LogReader]:
    """Readers for every partition of a data directory (or the first ``partitions``).

    ``readonly`` readers never write, so they work on a read-only data directory.
    """
    if not data_dir.is_dir():
        raise DataDirError(str(data_dir), "no such directory")
    readers: list[LogReader] = []
    p = 0
    while (partitions is None or p < partitions) and partition_path(data_dir, p).exists():
        readers.append(PartitionReader(data_dir, p, readonly=readonly))
        p += 1
    if not readers:
        raise DataDirError(str(data_dir), "it holds no event lake (no partition-0.db)")
    return readers


class SqliteEventLog(EventLog):
    """The lake in ``data_dir``'s ``partition-<p>.db`` files, as one process sees it."""

    def __init__(
        self,
        data_dir: Path,
        partitions: int,
        *,
        durability: str = "fsync",
        zstd_level: int = 1,
        commit_max_bytes: int = 8 * 1024 * 1024,
        commit_delay: float = 0.0,
        commit_gather: float = 0.0,
        poll_interval: float = 0.1,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.data_dir = data_dir
        self.partitions = partitions
        self._durability = durability
        self._zstd_level = zstd_level
        self._max_bytes = commit_max_bytes
        self._delay = commit_delay
        self._gather = commit_gather
        self._poll_interval = poll_interval
        self._clock = clock
        self.committers: dict[int, GroupCommitter] = {}
        self.readers: dict[int, PartitionReader] = {}
        self._ends: list[int] = [0] * partitions
        self._wake: list[asyncio.Event] = []
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        for p in range(self.partitions):
            writer = PartitionWriter(
                self.data_dir,
                p,
                durability=self._durability,
                zstd_level=self._zstd_level,
                clock=self._clock,
            )
            self.committers[p] = GroupCommitter(
                writer,
                loop,
                max_bytes=self._max_bytes,
                delay=self._delay,
                gather=self._gather,
                on_commit=self._commit_hook(p),
            )
            self.readers[p] = PartitionReader(self.data_dir, p)
            self._ends[p] = self.readers[p].bounds()[1]
            self._wake.append(asyncio.Event())
        self._poller = asyncio.create_task(self._poll_forever())

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        for committer in self.committers.values():
            committer.hand_over()  # what this loop turn queued, before the thread stops
            await asyncio.to_thread(committer.close)
        for reader in self.readers.values():
            reader.close()

    # writing ------------------------------------------------------------------------------

    async def append(self, partition: int, item: PendingAppend, nbytes: int) -> AppendResult:
        return await self.committers[partition].append(item, nbytes)

    def submit(
        self, partition: int, item: PendingAppend, nbytes: int
    ) -> asyncio.Future[AppendResult]:
        return self.committers[partition].submit(item, nbytes)

    def submit_then(self, partition: int, item: PendingAppend, nbytes: int, done: Settled) -> None:
        self.committers[partition].submit_then(item, nbytes, done)

    async def query_acks(self, partition: int, channel: str, ack_ids: Sequence[int]) -> set[int]:
        return await self.committers[partition].call(lambda w: w.query_acks(channel, ack_ids))

    async def apply_retention(self, max_age: float | None, max_bytes: int | None) -> int:
        dropped = 0
        for committer in self.committers.values():
            dropped += await committer.call(lambda w: w.apply_retention(max_age, max_bytes))
        return dropped

    @property
    def pending_bytes(self) -> int:
        return sum(c.pending_bytes for c in self.committers.values())

    @property
    def queue_depth(self) -> int:
        return sum(c.queue_depth for c in self.committers.values())

    @property
    def disk_full(self) -> bool:
        return any(c.full_since is not None for c in self.committers.values())

    def take_commit_times(self) -> list[float]:
        out: list[float] = []
        for committer in self.committers.values():
            times, committer.commit_times = committer.commit_times, []
            out.extend(times)
        return out

    # reading ------------------------------------------------------------------------------

    def reader(self, partition: int) -> LogReader:
        return self.readers[partition]

    def open_readers(self) -> list[LogReader]:
        return open_readers(self.data_dir, self.partitions)

    # tailing ------------------------------------------------------------------------------

    def _commit_hook(self, partition: int) -> Callable[[int], None]:
        def hook(end: int) -> None:  # runs on the loop thread, with the commit's answers
            self._advance(partition, end)

        return hook

    def _advance(self, partition: int, end: int) -> None:
        if end > self._ends[partition]:
            self._ends[partition] = end
            event = self._wake[partition]
            self._wake[partition] = asyncio.Event()
            event.set()

    def end_offset(self, partition: int) -> int:
        return self._ends[partition]

    async def wait_for_end_past(self, partition: int, offset: int, timeout: float) -> int:
        if self._ends[partition] > offset:
            return self._ends[partition]
        self._waiters += 1
        try:
            await asyncio.wait_for(self._wake[partition].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters -= 1
        return self._ends[partition]

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                self.poll_ends()
            except Exception:
                log.exception("polling partition ends failed")

    def poll_ends(self) -> None:
        """See commits of other processes (only while a feed waits)."""
        if not self._waiters:
            return
        for p, reader in self.readers.items():
            self._advance(p, reader.bounds()[1])
