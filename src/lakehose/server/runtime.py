"""Everything one worker process holds: catalog cache, the event log, limits, parsers, metrics.

Theory of operation
-------------------
*Keys.* The ingest path authenticates against an in-memory map of key digest ->
connector. A background task re-reads it whenever the catalog's
``data_version`` moves (another process or the CLI committed), at most every
``RELOAD_INTERVAL`` seconds, so a disabled connector or rotated key takes effect
within a second. A key missing from the map is looked up in the catalog once
before it is refused, so a connector created a moment ago works at once.

*Partitions.* A request is written to one partition: the one its ack channel
hashes to (so a channel's ack ids stay in one database and stay dense), else the
worker's next partition in turn among those it owns.

*The lake.* Handlers reach the event log through the methods here (:meth:`append`,
:meth:`query_acks`, :meth:`bounds`, :meth:`wait_for_end_past`), never a backend's
members: the log (``storage/base.py``) is chosen by ``storage/lake.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import time
import tomllib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.process import BaseProcess
from typing import Any

from lakehose.auth.lockout import Lockout, address_group
from lakehose.config import Settings
from lakehose.errors import StorageError, StorageUnavailableError
from lakehose.logs import AccessLog, access_log_for
from lakehose.models import AppendResult, BatchInfo
from lakehose.parsers.formats import ParserRegistry
from lakehose.server.metrics import Metrics
from lakehose.server.position_commits import PositionCommits
from lakehose.server.protocols.body import BodyDeadlines
from lakehose.server.sandbox import Sandbox
from lakehose.server.search_pool import CONCURRENT_SEARCHES, SearchPool
from lakehose.storage.base import EventLog, LogReader, PendingAppend, Settled, outcome_to
from lakehose.storage.catalog.base import Catalog
from lakehose.storage.catalog.clients import LoginLimit
from lakehose.storage.catalog.connectors import Connector, KeyIndex
from lakehose.storage.lake import (
    lake_address,
    load_parser_file,
    open_consumer_groups,
    open_log,
    open_server_catalog,
)
from lakehose.storage.refusals import RefusalBuffer

log = logging.getLogger(__name__)

RELOAD_INTERVAL = 0.5
HEC_LOCKOUT = "hec:"  # login_failures rows of failed HEC keys, per address group
METRICS_INTERVAL = 1.0


def owned_partitions(worker: int, workers: int, partitions: int) -> list[int]:
    """The partitions a worker writes to: its own when there are enough, else a shared one."""
    if partitions >= workers:
        return [p for p in range(partitions) if p % workers == worker % workers] or [0]
    return [worker % partitions]


@dataclass(slots=True)
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    @classmethod
    def per_second(cls, rate: float) -> TokenBucket:
        capacity = max(rate, 1.0)
        return cls(rate, capacity, capacity, time.monotonic())

    def take(self, amount: float = 1.0) -> float:
        """0 if ``amount`` was taken, else seconds until it could be. More than the bucket
        holds is taken from a full bucket, which goes into debt that later requests wait
        off: a body larger than one second's bytes is charged in full, not let through free."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= min(amount, self.capacity):
            self.tokens -= amount
            return 0.0
        return (min(amount, self.capacity) - self.tokens) / self.rate


def _bounded(stored: asyncio.Future[AppendResult], timeout: float) -> asyncio.Future[AppendResult]:
    """``stored`` with a deadline, a storage failure as StorageUnavailableError (503 code 9).
    A timer and a callback, not a task: this runs for every request of a cluster node."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[AppendResult] = loop.create_future()

    def expire() -> None:
        if not answer.done():
            answer.set_exception(
                StorageUnavailableError("the NATS cluster did not acknowledge the write in time")
            )
        stored.cancel()  # not sent yet: it never will be

    def settle(done: asyncio.Future[AppendResult]) -> None:
        timer.cancel()
        if answer.done():
            return
        if done.cancelled():
            answer.cancel()
            return
        exc = done.exception()
        if exc is None:
            answer.set_result(done.result())
        elif isinstance(exc, StorageError) and not isinstance(exc, StorageUnavailableError):
            answer.set_exception(StorageUnavailableError(str(exc)))
        else:
            answer.set_exception(exc)

    timer = loop.call_later(timeout, expire)
    stored.add_done_callback(settle)
    return answer


class Runtime:
    """One worker process's state. Create in the process, then ``await start()``."""

    def __init__(self, settings: Settings, worker: int = 0, workers: int = 1) -> None:
        self.settings = settings
        self.worker = worker
        self.workers = workers
        self.pid = os.getpid()
        self.catalog: Catalog
        self.metrics = Metrics(settings.run_dir / "metrics", worker)
        self.parsers = ParserRegistry.build()
        self._parsers_mtime: float | None = None
        self._keys = KeyIndex()
        self.generation = 0  # bumped whenever connectors or parsers are reloaded
        self.log: EventLog  # opened in start(), on the sandbox's clock
        self._own = owned_partitions(worker, workers, settings.partitions)
        self._turn = 0
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_writing = False  # a snapshot file write is under way (a thread)
        self._extractors: dict[str | None, Callable[[str, str], Any]] = {}
        self.body_deadlines = BodyDeadlines(settings.body_timeout)
        self.lockout = Lockout(settings.hec_auth_fail_limit, settings.hec_auth_fail_window)
        self.access_log: AccessLog | None = (
            access_log_for(settings.log_format) if settings.access_log else None
        )
        self.refusals = RefusalBuffer()  # written to the catalog's ring every second
        self.shutting_down = False
        self.catalog_change = asyncio.Event()
        self.started_at = time.time()
        self.loop: asyncio.AbstractEventLoop

    # life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.catalog = open_server_catalog(s)
        self.groups = open_consumer_groups(s.catalog_path, catalog=self.catalog)
        self.position_commits = PositionCommits(self.groups)
        self.sandbox = Sandbox(s, self.catalog, self.metrics)
        self.sandbox.refresh(force=True)
        # signs search cursors: one per data directory, so any worker can continue a page
        self.server_key = bytes.fromhex(
            self.catalog.set_setting_once("server_key", secrets.token_hex(32))
        )
        self.searches = SearchPool(
            lake_address(s), s.partitions, self.server_key, CONCURRENT_SEARCHES
        )
        self.reload_keys()
        self.reload_parsers()
        self.log = open_log(s, clock=self.sandbox.clock)
        await self.log.start(self.loop)
        self._tasks = [
            asyncio.create_task(self._every(RELOAD_INTERVAL, self._reload_if_changed)),
            asyncio.create_task(self._every(METRICS_INTERVAL, self._flush_metrics_soon)),
            asyncio.create_task(
                self._every(
                    min(1.0, s.body_timeout / 2),
                    lambda: self.body_deadlines.sweep(self.loop.time()),
                )
            ),
        ]
        self.compactor: BaseProcess | None = None
        if self.worker == 0 and s.columnar_after is not None and not s.cluster:
            # started at the first interval's end (and again if it dies): a server that lives
            # less than columnar_interval has nothing to compact
            self._tasks.append(
                asyncio.create_task(self._every(s.columnar_interval, self._keep_compactor))
            )
        if self.worker == 0 and (s.retention_age is not None or s.retention_bytes is not None):
            self._tasks.append(
                asyncio.create_task(self._every(s.retention_interval, self._retention))
            )

    def begin_shutdown(self) -> None:
        """A stop signal arrived: refuse new ingest (code 23) and end open data feeds.

        Called from a signal handler, so it only schedules the wake-up on the loop.
        """
        self.shutting_down = True
        if hasattr(self, "stopping"):
            self.loop.call_soon_threadsafe(self.stopping.set)

    async def stop(self) -> None:
        self.shutting_down = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if getattr(self, "compactor", None) is not None:
            from lakehose.server.compaction import stop_compactor

            stop_compactor(self.compactor)
            self.compactor = None
        if hasattr(self, "searches"):
            self.searches.close()
        await self.log.close()
        self.flush_metrics_now()
        self.groups.close()
        self.catalog.close()

    async def _every(self, seconds: float, fn: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = fn()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("background task %s failed", getattr(fn, "__name__", fn))

    # keys and connectors ------------------------------------------------------------------

    def reload_keys(self) -> None:
        self._keys = self.catalog.key_index()
        self.generation += 1

    async def _reload_if_changed(self) -> None:
        if self.settings.cluster:
            await self._reload_from_cluster()
            return
        if self.catalog.data_version() != self._keys.version:
            self.reload_keys()
            self.catalog_moved()
            self._sync_lockouts()
        self.reload_parsers()
        self.sandbox.refresh()

    async def _reload_from_cluster(self) -> None:
        """As above, with the cluster's round trips off the event loop: a node cut off from
        the quorum keeps answering (503 code 9) instead of stalling on the catalog."""
        version = await asyncio.to_thread(self.catalog.data_version)
        if version != self._keys.version:
            self._keys = await asyncio.to_thread(self.catalog.key_index)
            self.generation += 1
            self.catalog_moved()
            if self.settings.hec_auth_fail_limit > 0:
                locked = await asyncio.to_thread(
                    self.catalog.locked_out, HEC_LOCKOUT, self._hec_limit().per_second
                )
                now = time.monotonic()
                for group, wait in locked.items():
                    self.lockout.lock(group, now + wait)
        self.reload_parsers()

    # failed HEC keys: one allowance per address, whatever the number of workers

    def _hec_limit(self) -> LoginLimit:
        s = self.settings
        return LoginLimit(
            "", float(s.hec_auth_fail_limit), s.hec_auth_fail_limit / s.hec_auth_fail_window
        )

    def hec_key_failed(self, address: str) -> bool:
        """Count a failed HEC key check here and in the catalog; True when it locks the
        address out (this worker at once, the others within ``RELOAD_INTERVAL``)."""
        now = time.monotonic()
        locked = self.lockout.failed(address, now)
        if self.settings.hec_auth_fail_limit <= 0:
            return locked
        group = address_group(address)
        limit = self._hec_limit()
        shared = [LoginLimit(HEC_LOCKOUT + group, limit.burst, limit.per_second)]
        self.catalog.login_failed(shared)
        wait = self.catalog.login_wait(shared)
        if wait > 0:
            locked = locked or self.lockout.wait(address, now) == 0
            self.lockout.lock(group, now + wait)
        return locked

    def _sync_lockouts(self) -> None:
        if self.settings.hec_auth_fail_limit <= 0:
            return
        now = time.monotonic()
        for group, wait in self.catalog.locked_out(
            HEC_LOCKOUT, self._hec_limit().per_second
        ).items():
            self.lockout.lock(group, now + wait)

    def catalog_moved(self) -> None:
        """Wake whoever waits on :attr:`catalog_change` (open feeds re-check their session):
        called when another process committed to the catalog, or a route here revoked."""
        event, self.catalog_change = self.catalog_change, asyncio.Event()
        event.set()

    def connector_for_key(self, key: str, digest: bytes) -> Connector | None:
        keys = self._keys
        found = keys.by_digest.get(digest)
        if found is not None and keys.expires and digest in keys.expires:
            return keys.connector(digest, time.time())  # rotated: valid until its grace ends
        if found is None:
            found = self.catalog.connector_for_key(key)
            if found is not None:
                self.reload_keys()
        return found

    def reload_parsers(self) -> None:
        path = self.settings.data_dir / "parsers.toml"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime == self._parsers_mtime:
            return
        self._parsers_mtime = mtime
        try:
            definitions = load_parser_file(path) if mtime is not None else {}
            self.parsers = ParserRegistry.build(definitions)
            self._extractors.clear()
            self.generation += 1
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            log.error("parsers.toml ignored: %s", exc)

    def extractor(self, parser: str | None) -> Callable[[str, str], Any]:
        fn = self._extractors.get(parser)
        if fn is None:
            fn = self._extractors[parser] = self.parsers.extractor(parser)
        return fn

    def rate_wait(self, connector: Connector, nbytes: int) -> float:
        """0 when the connector's request (and byte) budget allows this request, else a wait."""
        wait = 0.0
        for kind, rate, amount in (
            ("rps", connector.rate_rps, 1.0),
            ("bps", connector.rate_bps, float(nbytes)),
        ):
            if rate is None:
                continue
            key = (connector.id, kind)
            bucket = self._buckets.get(key)
            per_worker = rate / self.workers
            if bucket is None or bucket.rate != per_worker:
                bucket = self._buckets[key] = TokenBucket.per_second(per_worker)
            wait = max(wait, bucket.take(amount))
        return wait

    # writing ------------------------------------------------------------------------------

    def partition_for(self, channel: str | None) -> int:
        if channel is not None:
            return zlib.crc32(channel.encode()) % self.settings.partitions
        self._turn = (self._turn + 1) % len(self._own)
        return self._own[self._turn]

    async def append(self, item: PendingAppend, nbytes: int) -> AppendResult:
        """Store one request's events durably, in the partition its ack channel picks."""
        return await self.submit(item, nbytes)

    def submit(self, item: PendingAppend, nbytes: int) -> asyncio.Future[AppendResult]:
        """:meth:`append` as a future (the HEC wire protocol answers from its callback).

        On a cluster, a request the quorum has not acknowledged within
        ``cluster_ack_timeout`` fails with StorageUnavailableError (503 code 9): a node cut
        off from the quorum answers at once instead of holding every sender, and never
        acknowledges what it could not commit (the sender's retry may store it twice, as
        HEC's at-least-once delivery allows).
        """
        stored = self.log.submit(self.partition_for(item.ack_channel), item, nbytes)
        if not self.settings.cluster:
            return stored
        return _bounded(stored, self.settings.cluster_ack_timeout)

    def submit_then(self, item: PendingAppend, nbytes: int, done: Settled) -> None:
        """:meth:`submit` with a callback (the HEC wire protocol answers from it, no task)."""
        if self.settings.cluster:  # with the cluster's acknowledgement deadline
            self.submit(item, nbytes).add_done_callback(partial(outcome_to, done))
            return
        self.log.submit_then(self.partition_for(item.ack_channel), item, nbytes, done)

    async def query_acks(self, channel: str, ack_ids: Sequence[int]) -> set[int]:
        """HEC acks: which of ``ack_ids`` on ``channel`` are committed (and now reported)."""
        return await self.log.query_acks(self.partition_for(channel), channel, ack_ids)

    @property
    def pending_bytes(self) -> int:
        return self.log.pending_bytes

    def busy(self) -> bool:
        """True when ingest must answer "server is busy" (queue over its limit, or disk full)."""
        if self.pending_bytes > self.settings.max_queue_bytes:
            return True
        return self.log.disk_full and not self._has_space()

    def _has_space(self) -> bool:
        """After a disk-full error: is there room for a couple of full-size requests again?"""
        reserve = max(1024 * 1024, 2 * self.settings.max_body_bytes)
        try:
            return shutil.disk_usage(self.settings.data_dir).free > reserve
        except OSError:
            return False

    def health_code(self) -> int:
        """HEC health code: 17 healthy, 18 queues full, disk full or (a cluster node) no NATS
        server reachable, 23 shutting down."""
        if self.shutting_down:
            return 23
        return 18 if self.busy() or not self.log.reachable else 17

    # tailing ------------------------------------------------------------------------------

    def bounds(self, partition: int) -> tuple[int, int]:
        """``(start_offset, end_offset)`` of a partition, read now."""
        return self.log.reader(partition).bounds()

    @property
    def readers(self) -> dict[int, LogReader]:
        """The event loop thread's reader of every partition."""
        return {p: self.log.reader(p) for p in range(self.settings.partitions)}

    def reader(self, partition: int) -> LogReader:
        """The event loop thread's reader of ``partition`` (for the data feed)."""
        return self.log.reader(partition)

    def end_offset(self, partition: int) -> int:
        return self.log.end_offset(partition)

    async def feed_batches(
        self, reader: LogReader, offset: int, limit: int
    ) -> list[tuple[BatchInfo, bytes]]:
        """Up to ``limit`` batches from ``offset`` on, for a data feed (``EventLog.feed_batches``)."""
        return await self.log.feed_batches(reader, offset, limit)

    def feed_start(self, reader: LogReader) -> int:
        return self.log.feed_start(reader)

    def feed_summaries(self, reader: LogReader, offset: int, limit: int) -> list[BatchInfo]:
        """Summaries from ``offset`` on, for a filtered data feed (``EventLog.feed_summaries``)."""
        return self.log.feed_summaries(reader, offset, limit)

    async def feed_blobs(self, reader: LogReader, firsts: Sequence[int]) -> dict[int, bytes]:
        """Blobs by first offset, for a filtered data feed (``EventLog.feed_blobs``)."""
        return await self.log.feed_blobs(reader, firsts)

    async def wait_for_end_past(self, partition: int, offset: int, timeout: float) -> int:
        """Wait until ``end_offset(partition) > offset`` or ``timeout``; return the end offset."""
        return await self.log.wait_for_end_past(partition, offset, timeout)

    # maintenance --------------------------------------------------------------------------

    def flush_metrics(self) -> None:
        """The access lines, refused requests and commit times of the last second."""
        if self.access_log is not None:
            self.access_log.flush()  # the access lines of the last second
        if self.refusals.pending:
            try:
                self.refusals.flush(self.catalog)
            except StorageError as exc:  # the ring is best effort; the counters still count
                log.warning("%s", exc)
        for seconds in self.log.take_commit_times():
            self.metrics.commit(seconds)

    def flush_metrics_now(self) -> None:
        """:meth:`flush_metrics` and the snapshot file written at once (when stopping)."""
        self.flush_metrics()
        self.metrics.flush(self.pending_bytes, self.log.queue_depth)

    async def _flush_metrics_soon(self) -> None:
        """Every second: :meth:`flush_metrics` here, the snapshot file from a thread."""
        self.flush_metrics()
        data = self.metrics.encoded(self.pending_bytes, self.log.queue_depth)
        if not self._metrics_writing:
            self._metrics_writing = True
            try:
                await asyncio.to_thread(self.metrics.write, data)
            finally:
                self._metrics_writing = False

    async def _keep_compactor(self) -> None:
        """Start the compactor, or start it again if it died (killed, out of memory): it
        resumes where the manifest says."""
        from lakehose.server.compaction import start_compactor

        if self.shutting_down:
            return
        if self.compactor is None:
            self.compactor = start_compactor(self.settings)
        elif not self.compactor.is_alive():
            self.compactor.join(0)
            log.warning(
                "the columnar compactor exited (%s); starting it again", self.compactor.exitcode
            )
            self.compactor = start_compactor(self.settings)

    async def _retention(self) -> None:
        s = self.settings
        await self.log.apply_retention(s.retention_age, s.retention_bytes)
