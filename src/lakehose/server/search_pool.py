"""Searches run in child processes, so a scan can neither stall ingest nor outlive its limit.

Theory of operation
-------------------
A search scanning in a thread of the worker competes with ingest for the
interpreter lock, and a C-level match holds it for as long as it runs. So each
worker keeps a small pool (``CONCURRENT_SEARCHES``) of child processes, started
on first use and reused. A search is sent to an idle child over a pipe; the
child plans and runs it on its own read connections and sends back the rows.

The child stops itself cooperatively at ``search_timeout`` (between chunks of
batches). If it has not answered ``GRACE`` seconds later, the worker kills it
and answers 422 all the same, so the limit always holds; a new child is started
for the next search. Children die with their worker (``PR_SET_PDEATHSIG`` and
the pipe's end-of-file).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from lakehose.errors import LakehoseError, QueryError, SearchTimeoutError, StorageError
from lakehose.query import TimeRange
from lakehose.storage.lake import Where

log = logging.getLogger(__name__)

CONCURRENT_SEARCHES = 4  # per worker process
GRACE = 0.5  # seconds after search_timeout before a child that has not answered is killed
START_TIMEOUT = 60.0  # a child that cannot import in this long is broken


@dataclass(frozen=True)
class SearchJob:
    query: str
    span: TimeRange
    limit: int
    cursor: str | None
    time_limit: float | None


@dataclass(frozen=True)
class SearchOutcome:
    rows: list[dict[str, Any]]
    span: TimeRange
    truncated: bool
    stats: dict[str, Any]
    next_cursor: str | None


def _run(job: SearchJob, data_dir: Where, partitions: int, key: bytes) -> SearchOutcome:
    from lakehose.query import plan_query
    from lakehose.search.run import run_search
    from lakehose.storage.lake import open_columnar, open_readers

    rows, search = run_search(
        lambda: open_readers(data_dir, partitions),
        plan_query(job.query),
        job.span,
        limit=job.limit,
        cursor=job.cursor,
        time_limit=job.time_limit,
        cursor_key=key,
        columnar=lambda: open_columnar(data_dir),
    )
    return SearchOutcome(
        rows, search.span, search.truncated, search.stats.to_dict(), search.next_cursor
    )


PROCESS_NAME = b"lakehose-search"  # in /proc/PID/comm, so operators (and tests) can tell


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(15, PROCESS_NAME)  # PR_SET_NAME


def _child(conn: Connection, data_dir: Where, partitions: int, key: bytes) -> None:
    """A child's life: answer jobs until the pipe closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when children stop
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", _run(job, data_dir, partitions, key)))
        except QueryError as exc:
            conn.send(("query", (exc.message, exc.line, exc.column)))
        except RecursionError:
            conn.send(("query", ("the query is nested too deeply to run", 1, 0)))
        except SearchTimeoutError as exc:
            conn.send(("timeout", exc.seconds))
        except LakehoseError as exc:
            conn.send(("storage", str(exc)))
        except Exception as exc:  # a bug: the worker logs it and answers 500
            conn.send(("bug", f"{type(exc).__name__}: {exc}"))


class _Child:
    def __init__(self, data_dir: Where, partitions: int, key: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(
            target=_child,
            args=(theirs, data_dir, partitions, key),
            name="lakehose-search",
            daemon=False,
        )
        self.proc.start()
        theirs.close()

    def wait_ready(self) -> None:
        if not self.conn.poll(START_TIMEOUT):
            raise StorageError("a search process did not start")
        self.conn.recv()

    def kill(self, reading: asyncio.Future[Any] | None = None) -> None:
        """Kill the process; close the pipe once no thread is reading it (it sees EOF)."""
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
        with contextlib.suppress(OSError, ValueError, AssertionError):
            self.proc.join(1)
        if reading is None:
            self.conn.close()
        else:
            reading.add_done_callback(self._closed)

    def _closed(self, reading: asyncio.Future[Any]) -> None:
        if not reading.cancelled():
            reading.exception()  # EOFError, expected: retrieved so nobody logs it
        self.conn.close()


class SearchPool:
    """At most ``size`` searches at once per worker, each in a child process."""

    def __init__(self, data_dir: Where, partitions: int, key: bytes, size: int) -> None:
        self._args = (data_dir, partitions, key)
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        # one thread per running search waits on its pipe; never the loop's shared executor.
        # Children are started from these threads too, which live as long as the pool: the
        # kernel's parent-death signal follows the thread that started a child.
        self._threads = ThreadPoolExecutor(size, thread_name_prefix="lakehose-search")
        self.kills = 0  # children killed at their deadline

    def _start(self) -> _Child:
        child = _Child(*self._args)
        try:
            child.wait_ready()
        except BaseException:
            child.kill()
            raise
        return child

    async def run(self, job: SearchJob) -> SearchOutcome:
        loop = asyncio.get_running_loop()
        async with self._slots:
            child = self._idle.pop() if self._idle else None
            if child is None or not child.proc.is_alive():
                if child is not None:
                    child.kill()
                child = await loop.run_in_executor(self._threads, self._start)
            self._busy.add(child)
            answer: asyncio.Future[Any] | None = None
            healthy = False
            try:
                child.conn.send(job)
                wait = None if job.time_limit is None else job.time_limit + GRACE
                answer = loop.run_in_executor(self._threads, child.conn.recv)
                kind, value = await asyncio.wait_for(asyncio.shield(answer), wait)
                healthy = True
            except TimeoutError:
                self.kills += 1
                log.warning("search stopped at its deadline: %.1f s", wait or 0)
                assert job.time_limit is not None
                raise SearchTimeoutError(job.time_limit) from None
            except (EOFError, OSError) as exc:
                raise StorageError(f"the search process failed: {exc}") from None
            finally:
                self._busy.discard(child)
                if healthy:
                    self._idle.append(child)
                else:  # killed mid-search (deadline, or the caller left)
                    child.kill(answer)
        if kind == "ok":
            assert isinstance(value, SearchOutcome)
            return value
        if kind == "query":
            message, line, column = value
            raise QueryError(message, line, column)
        if kind == "timeout":
            raise SearchTimeoutError(value)
        if kind == "storage":
            raise StorageError(value)
        raise RuntimeError(f"search failed: {value}")

    def close(self) -> None:
        for child in self._idle:
            child.kill()
        for child in self._busy:  # their requests' finally blocks close the pipes
            with contextlib.suppress(OSError, ValueError):
                child.proc.kill()
        self._idle.clear()
        self._busy.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
