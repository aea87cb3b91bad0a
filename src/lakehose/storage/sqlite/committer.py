"""Group commit: requests on the event loop queue their batches; one thread commits them together.

Theory of operation
-------------------
Each worker process owns one :class:`GroupCommitter` per partition it writes.
A request calls :meth:`append` and awaits a future. The commit thread takes
*everything* queued (up to ``max_bytes``), writes it in one transaction, fsyncs
once, and resolves every waiter with one hop back to the loop. While it commits,
new requests queue up for the next round, so the batch size adapts to load with
no timer: one request alone commits at once; under load, hundreds share a fsync.
When the previous group held several requests, the thread first waits up to ``gather``
(half a millisecond by default) for the rest of the crowd, and no longer than it takes
as many requests as the previous group held to queue (those senders were just answered
and are sending again): on a busy core this cuts the number of commits and the GIL
hand-offs between the loop and this thread several-fold, a lone sender never waits, and
a crowd that is already back does not wait either. While it gathers, the thread blocks on
the queue itself and wakes only when a hand-over arrives: it used to poll the queue every
0.1 ms, and each poll had to take the GIL from a busy event loop (up to the 5 ms switch
interval): 32 single-event connections got 10-30 % more requests through without the polls.
``delay`` adds a fixed wait to every group, for disks where fsync is slow.

Other work that must not interleave with a commit (ack queries, retention) runs
on the same thread through :meth:`call`.

``pending_bytes`` is what the HTTP layer checks to refuse work with 503 before it
reads a body, so memory stays bounded however fast clients send. It is counted on
the event loop thread only: up when a request queues, down when its commit is
reported back, so it needs no lock. The queue itself is a C ``SimpleQueue``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lakehose.errors import StorageFullError
from lakehose.models import AppendResult
from lakehose.storage.base import PendingAppend
from lakehose.storage.sqlite.partition import PartitionWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class _AppendJob:
    item: PendingAppend
    future: asyncio.Future[AppendResult]
    nbytes: int


@dataclass(slots=True)
class _CallJob:
    fn: Callable[[PartitionWriter], Any]
    future: asyncio.Future[Any]


def _resolve(futures: list[asyncio.Future[Any]], results: list[Any]) -> None:
    for fut, result in zip(futures, results, strict=True):
        if not fut.done():
            fut.set_result(result)


def _fail(futures: list[asyncio.Future[Any]], exc: BaseException) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(exc)


class GroupCommitter:
    """Serialises one process's writes to one partition and commits them in groups."""

    def __init__(
        self,
        writer: PartitionWriter,
        loop: asyncio.AbstractEventLoop,
        *,
        max_bytes: int,
        delay: float = 0.0,
        gather: float = 0.0,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.writer = writer
        self.partition = writer.partition
        self._loop = loop
        self._max_bytes = max_bytes
        self._delay = delay
        self._gather = gather
        self._last_group = 0
        self._on_commit = on_commit
        self._jobs: queue.SimpleQueue[list[_AppendJob] | _CallJob | None] = queue.SimpleQueue()
        self._batch: list[_AppendJob] = []  # appends of this loop turn, handed over at its end
        self._handing = False
        # Touched only on the event loop thread (the commit thread reports back through it).
        self.pending_bytes = 0
        self.queue_depth = 0
        self.full_since: float | None = None
        self.commits = 0
        self.commit_times: list[float] = []
        self._thread = threading.Thread(
            target=self._run, name=f"lakehose-commit-p{self.partition}", daemon=True
        )
        self._thread.start()

    async def append(self, item: PendingAppend, nbytes: int) -> AppendResult:
        """Queue ``item``; return once it is durable. Raises StorageError on failure."""
        return await self.submit(item, nbytes)

    def submit(self, item: PendingAppend, nbytes: int) -> asyncio.Future[AppendResult]:
        """Queue ``item``; the future resolves once it is durable (on the loop thread)."""
        fut: asyncio.Future[AppendResult] = self._loop.create_future()
        self.pending_bytes += nbytes
        self.queue_depth += 1
        self._batch.append(_AppendJob(item, fut, nbytes))
        if not self._handing:
            self._handing = True
            self._loop.call_soon(self.hand_over)
        return fut

    def hand_over(self) -> None:
        """Give the commit thread this loop turn's appends at once (on the loop thread)."""
        self._handing = False
        if self._batch:
            batch, self._batch = self._batch, []
            self._jobs.put(batch)

    async def call(self, fn: Callable[[PartitionWriter], T]) -> T:
        """Run ``fn(writer)`` on the commit thread, between commits."""
        fut: asyncio.Future[T] = self._loop.create_future()
        self.hand_over()  # after the appends queued before it
        self._jobs.put(_CallJob(fn, fut))
        return await fut

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the thread and close the writer."""
        self._jobs.put(None)
        self._thread.join(timeout)
        self.writer.close()

    def _run(self) -> None:
        get, get_nowait = self._jobs.get, self._jobs.get_nowait
        while True:
            first = get()
            taken = [first]
            if self._delay and first is not None:
                time.sleep(self._delay)  # let more requests join this group
            elif self._gather and self._last_group > 1 and first is not None:
                self._gather_crowd(self._last_group, taken)  # others committed: more are coming
            while taken[-1] is not None:
                try:
                    taken.append(get_nowait())
                except queue.Empty:
                    break
            self._last_group = len(taken)
            jobs: list[_AppendJob | _CallJob | None] = []
            for one in taken:
                if isinstance(one, list):
                    jobs.extend(one)
                else:
                    jobs.append(one)
            group: list[_AppendJob] = []
            size = 0
            for job in jobs:
                if isinstance(job, _AppendJob):
                    if group and size + job.nbytes > self._max_bytes:
                        self._run_appends(group)
                        group, size = [], 0
                    group.append(job)
                    size += job.nbytes
                    continue
                if group:
                    self._run_appends(group)
                    group, size = [], 0
                if job is None:
                    return
                self._run_call(job)
            if group:
                self._run_appends(group)

    def _gather_crowd(self, expected: int, taken: list[Any]) -> None:
        """Wait at most ``gather`` for about ``expected`` jobs (the last group's senders,
        answered a moment ago, send again): no longer once that many are here. Blocks on
        the queue itself, so this thread wakes only when a job arrives (or at the deadline),
        never to poll: each wake-up must take the GIL from the event loop."""
        deadline = time.monotonic() + self._gather
        get = self._jobs.get
        while len(taken) < expected and taken[-1] is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                taken.append(get(timeout=left))
            except queue.Empty:
                return

    def _run_call(self, job: _CallJob) -> None:
        try:
            result = job.fn(self.writer)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            self._loop.call_soon_threadsafe(_fail, [job.future], exc)
        else:
            self._loop.call_soon_threadsafe(_resolve, [job.future], [result])

    def _settle(
        self, jobs: list[_AppendJob], results: list[AppendResult] | None, exc: BaseException | None
    ) -> None:
        """On the loop thread: account for the jobs, then wake their requests."""
        self.pending_bytes -= sum(j.nbytes for j in jobs)
        self.queue_depth -= len(jobs)
        futures: list[asyncio.Future[Any]] = [j.future for j in jobs]
        if exc is not None:
            _fail(futures, exc)
        else:
            assert results is not None
            _resolve(futures, results)

    def _run_appends(self, jobs: list[_AppendJob]) -> None:
        started = time.perf_counter()
        try:
            results = self.writer.append([j.item for j in jobs])
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting tasks
            if isinstance(exc, StorageFullError):
                if self.full_since is None:
                    self.full_since = time.monotonic()
                    log.error("disk full: refusing ingest until space returns (%s)", exc)
            else:
                log.exception("commit to partition %d failed", self.partition)
            self._loop.call_soon_threadsafe(self._settle, jobs, None, exc)
            return
        if self.full_since is not None:
            log.warning("disk space is back: ingest resumed on partition %d", self.partition)
            self.full_since = None
        self.commits += 1
        self.commit_times.append(time.perf_counter() - started)
        try:
            if self._on_commit is not None and results:
                # before the waiters wake, so a request that sees its commit sees the new end too
                last = results[-1]
                self._on_commit(last.first_offset + last.count)
        finally:
            self._loop.call_soon_threadsafe(self._settle, jobs, results, None)
