"""Group commit: requests on the event loop queue their batches; one thread commits them together.

Theory of operation
-------------------
Each worker process owns one :class:`GroupCommitter` per partition it writes.
A request calls :meth:`submit_then` with a callback (or :meth:`append` and awaits a
future). The appends of one loop turn are handed over together; the commit thread takes
*everything* handed over (up to ``max_bytes``), writes it in one transaction, fsyncs once,
and reports the whole group back with **one** wake-up of the loop
(``call_soon_threadsafe``), which calls every request's callback in a row: no future per
request, no extra loop turn for a future's callbacks. While it commits, new requests queue
up for the next round, so the batch size adapts to load with no timer: one request alone
commits at once; under load, hundreds share a fsync, and the thread takes the next group
the moment its ``COMMIT`` returns.

*Hand-over.* Hand-overs go into a deque; the thread sleeps on a "bell" that the loop rings
only when the thread is asleep *and* what it waits for has arrived. While the thread
commits (most of the time under load, the fsync), a hand-over is a deque append: no
futex wake, no context switch to a thread that would only find the GIL taken. At 32
single-event connections that is 0.7 wake-ups of this thread per commit instead of 1.2
(a wake-up costs the loop a context switch: 7-12 % of its samples went to ``put``).
When the previous group held several hand-overs, the thread first waits up to ``gather``
(half a millisecond by default) for as many hand-overs as that group held (those senders
were just answered and are sending again), and the loop rings it once, when they are all
there: on a busy core this cuts the number of commits and the GIL hand-offs between the
loop and this thread several-fold, a lone sender never waits, and a crowd that is already
back does not wait either. (Polling the queue every 0.1 ms, as it once did, took the GIL
from a busy loop at each poll.) ``delay`` adds a fixed wait to every group, for disks
where fsync is slow.

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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from lakehose.errors import StorageError, StorageFullError
from lakehose.models import AppendResult
from lakehose.storage.base import PendingAppend, Settled
from lakehose.storage.sqlite.partition import PartitionWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class _AppendJob:
    item: PendingAppend
    done: Settled
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


def _settle_future(
    fut: asyncio.Future[AppendResult], outcome: AppendResult | BaseException
) -> None:
    if fut.done():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


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
        # Hand-overs wait in a deque (append and popleft are atomic); the thread sleeps on
        # the bell, which the loop rings only when the thread waits for what just came.
        self._inbox: deque[list[_AppendJob] | _CallJob | None] = deque()
        self._bell: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._want = 0  # hand-overs the sleeping commit thread waits for (0: it does not sleep)
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
        self.submit_then(item, nbytes, partial(_settle_future, fut))
        return fut

    def submit_then(self, item: PendingAppend, nbytes: int, done: Settled) -> None:
        """Queue ``item``; once it is durable (or failed) call ``done`` on the loop thread.

        No future: the commit's one wake-up of the loop calls every ``done`` of its
        group in a row, in the same loop turn (a future's callbacks would wait for the next).
        """
        self.pending_bytes += nbytes
        self.queue_depth += 1
        self._batch.append(_AppendJob(item, done, nbytes))
        if not self._handing:
            self._handing = True
            self._loop.call_soon(self.hand_over)

    def hand_over(self) -> None:
        """Give the commit thread this loop turn's appends at once (on the loop thread)."""
        self._handing = False
        if self._batch:
            batch, self._batch = self._batch, []
            self._post(batch)

    async def call(self, fn: Callable[[PartitionWriter], T]) -> T:
        """Run ``fn(writer)`` on the commit thread, between commits."""
        fut: asyncio.Future[T] = self._loop.create_future()
        self.hand_over()  # after the appends queued before it
        self._post(_CallJob(fn, fut))
        return await fut

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the thread and close the writer."""
        self._inbox.append(None)
        self._bell.put(None)
        self._thread.join(timeout)
        self.writer.close()

    def _post(self, job: list[_AppendJob] | _CallJob) -> None:
        """Queue ``job``; ring the thread only if it sleeps and what it waits for is here."""
        inbox = self._inbox
        inbox.append(job)
        want = self._want
        if want and len(inbox) >= want:
            self._want = 0
            self._bell.put(None)

    def _await(self, count: int, timeout: float | None) -> None:
        """Sleep until the inbox holds ``count`` hand-overs (or ``timeout`` passes).

        ``_want`` tells :meth:`_post` what to ring for; it is set before the inbox is
        looked at, so a hand-over either is seen here or rings. A ring that comes late
        (after a timeout) leaves a token in the bell: the next wait returns early, looks
        again and sleeps again.
        """
        inbox = self._inbox
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while len(inbox) < count and not (inbox and inbox[-1] is None):
                self._want = count
                if len(inbox) >= count:
                    return
                if deadline is None:
                    self._bell.get()
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    self._bell.get(timeout=left)
                except queue.Empty:
                    return
        finally:
            self._want = 0

    def _gather_crowd(self, expected: int) -> None:
        """Wait at most ``gather`` for ``expected`` hand-overs (the last group's senders,
        answered a moment ago, send again); the loop rings once when they are all here."""
        self._await(expected, self._gather)

    def _run(self) -> None:
        inbox = self._inbox
        while True:
            self._await(1, None)
            if self._delay and inbox[0] is not None:
                time.sleep(self._delay)  # let more requests join this group
            elif self._gather and self._last_group > 1 and inbox[0] is not None:
                self._gather_crowd(self._last_group)  # others committed: more are coming
            taken: list[list[_AppendJob] | _CallJob | None] = []
            while inbox:
                one = inbox.popleft()
                taken.append(one)
                if one is None:
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
        """On the loop thread: account for the jobs, then tell their requests, in a row."""
        self.pending_bytes -= sum(j.nbytes for j in jobs)
        self.queue_depth -= len(jobs)
        if results and self._on_commit is not None:
            # before the requests hear, so a request that sees its commit sees the new end too
            last = results[-1]
            self._on_commit(last.first_offset + last.count)
        outcomes: Sequence[AppendResult | BaseException]
        outcomes = (
            results if results is not None else [exc or StorageError("no result")] * len(jobs)
        )
        for job, outcome in zip(jobs, outcomes, strict=True):
            try:
                job.done(outcome)
            except Exception:
                log.exception("a committed request's answer failed")

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
        self._loop.call_soon_threadsafe(self._settle, jobs, results, None)
