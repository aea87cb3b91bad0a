"""What ``StreamConsumer`` and ``AsyncStreamConsumer`` share: settings, offsets, feed URLs, counts.

No I/O happens here; the two consumers only add threads or tasks and httpx clients.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Generator, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

import lakehose
from lakehose.client._auth import OAuth2, oauth_for
from lakehose.client._retry import RetryPolicy, backoff_delay
from lakehose.client.hec.flow import Wait
from lakehose.client.streams.checkpoint import Checkpoint, as_checkpoint
from lakehose.client.streams.discovery import Stream, check_format, feed_url
from lakehose.client.streams.feed import FeedCutter, FeedEvents
from lakehose.client.streams.offsets import Offsets
from lakehose.client.streams.positions import BothCheckpoints, ServerPositions, StreamGroups
from lakehose.client.streams.reconnect import Discovered, Reply, Step, partition_flow
from lakehose.client.streams.sessions import RefreshSchedule
from lakehose.errors import ConfigError, LakehoseError, ResponseError

log = logging.getLogger("lakehose.client.streams")
NO_EVENT = object()
CLOSED = object()  # put on the queue to wake a waiting poll when the consumer closes
COMMIT_MODES = ("checkpoint", "server", "both")


@dataclass(slots=True)
class ConsumerStats:
    """Counts since the consumer started."""

    events: int = 0  # delivered to the caller
    discoveries: int = 0  # successful discoveries
    connections: int = 0  # feeds opened (status 200)
    reconnects: int = 0  # waits before a partition discovers and connects again
    refreshes: int = 0  # successful session refreshes
    refresh_failures: int = 0
    commits: int = 0  # checkpoint saves

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Failure:
    """What stopped a reader, discovery or keeper, queued for the caller to raise."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BaseStreamConsumer:
    """The settings and the I/O-free half of a stream consumer (see ``StreamConsumer``)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        app_id: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        auth_object: OAuth2 | None = None,
        member_cid: str | None = None,
        format: str = "json",
        offset: int | None = None,
        tail: bool = False,
        event_types: Iterable[str] | None = None,
        checkpoint: Checkpoint | str | os.PathLike[str] | None = None,
        auto_commit: bool = True,
        commit_every: int | None = 1000,
        commit_interval: float | None = 5.0,
        raw: bool = False,
        refresh_interval: float | None = None,
        max_pending: int = 64,
        read_timeout: float = 120.0,
        timeout: float = 30.0,
        reconnect_backoff: float = 0.5,
        max_backoff: float = 30.0,
        verify: bool | str = True,
        commit: str = "checkpoint",
        start: str | None = None,
        filter: str | None = None,
        on_out_of_range: str | None = None,
    ) -> None:
        if not app_id:
            raise ConfigError("app_id is required (the name of this consumer)")
        auth_object = oauth_for(
            auth_object,
            client_id=client_id,
            client_secret=client_secret,
            base_url=base_url,
            member_cid=member_cid,
        )
        if offset is not None and (offset < 0 or tail):
            raise ConfigError("offset must be >= 0, and cannot be combined with tail")
        if refresh_interval is not None and refresh_interval <= 0:
            raise ConfigError("refresh_interval must be positive")
        if max_pending < 1 or read_timeout <= 0 or timeout <= 0:
            raise ConfigError("max_pending, read_timeout and timeout must be positive")
        if commit_every is not None and commit_every < 1:
            raise ConfigError("commit_every must be at least 1")
        if commit not in COMMIT_MODES:
            raise ConfigError(f"commit must be one of {', '.join(COMMIT_MODES)}, not {commit!r}")
        if start is not None and (offset is not None or tail):
            raise ConfigError("start cannot be combined with offset or tail")
        self.auth = auth_object
        self.base_url = auth_object.base_url
        self.app_id = app_id
        self.format = check_format(format)
        self.start_offset = offset
        self.tail = tail
        self.start_spec = start  # lakehose extension: where partitions without a position start
        self.filter = filter  # lakehose extension: server-side filter (query language)
        self.on_out_of_range = on_out_of_range  # lakehose extension: error, earliest, latest
        self.event_types = [t for t in event_types or () if t]
        self.commit_mode = commit
        self.checkpoint = as_checkpoint(checkpoint)
        self._deferred_load = commit != "checkpoint"
        if commit != "checkpoint":  # the server's positions: loaded when the consumer starts
            self.groups: StreamGroups | None = StreamGroups(
                auth_object, timeout=timeout, verify=verify
            )
            server = ServerPositions(self.groups, app_id)
            self.checkpoint = (
                server if commit == "server" else BothCheckpoints(self.checkpoint, server)
            )
        else:
            self.groups = None
        self.auto_commit = auto_commit
        self.raw = raw
        self.max_pending = max_pending
        self.read_timeout = read_timeout
        self.timeout = timeout
        self.verify = verify
        self.policy = RetryPolicy(retries=0, base=reconnect_backoff, cap=max_backoff)
        self.stats = ConsumerStats()
        self.headers = {"User-Agent": f"lakehose/{lakehose.__version__}"}
        self._offsets = Offsets(
            {} if self._deferred_load else self.checkpoint.load(),
            every=commit_every,
            interval=commit_interval,
        )
        self._schedule = RefreshSchedule(refresh_interval)
        self._schedule_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._cutters: dict[int, FeedCutter] = {}
        self._events = FeedEvents(dict(self._offsets.committed), raw)
        self._partitions: list[int] = []
        self._closed = False
        self._setup()

    def _setup(self) -> None:
        """Prepare what the consumer needs (queues, events); subclasses override."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, app_id={self.app_id!r}, "
            f"checkpoint={self.checkpoint!r})"
        )

    # offsets -----------------------------------------------------------------------------

    @property
    def partitions(self) -> list[int]:
        """The partitions being read (known once the first discovery answered)."""
        return list(self._partitions)

    def committed(self) -> dict[int, int]:
        """``{partition: offset of the last committed event}``."""
        return dict(self._offsets.committed)

    def delivered(self) -> dict[int, int]:
        """``{partition: offset of the last event handed out}``."""
        return self._offsets.delivered()

    def _load_positions(self) -> None:
        """With ``commit="server"``/``"both"``: read the positions before any feed opens
        (called once, by the discovery thread or task; retried by the caller on failure)."""
        if not self._deferred_load:
            return
        loaded = self.checkpoint.load()
        self._offsets.committed_as(loaded)
        self._events.handed_out.update(loaded)
        self._deferred_load = False
        log.info("consumer group %s: resuming after %s", self.app_id, loaded or "nothing")

    def _next_event(self) -> Any:
        """The next event of the block being handed out, or ``NO_EVENT`` at its end."""
        got = self._events.next()
        if got is None:
            return NO_EVENT
        partition, offset, event = got
        self._offsets.deliver(partition, offset)
        self.stats.events += 1
        return event

    def _take_block(self, partition: int, block: bytes) -> None:
        self._events.add(partition, block)

    def _commit_if_due(self) -> None:
        """With auto-commit: save what the caller has finished with, when it is time."""
        if self.auto_commit and self._offsets.due():
            pending = self._offsets.pending(include_in_flight=False)
            if pending is not None:
                self._save(pending)

    def _commit_all(self) -> dict[int, int]:
        """``commit()``: save the offsets of every event handed out; what is committed."""
        pending = self._offsets.pending(include_in_flight=True)
        if pending is not None:
            self._save(pending)
        return self.committed()

    def _wait_for(self, deadline: float | None) -> float | None:
        """How long a poll may wait for a block: until ``deadline`` or the next auto-commit."""
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        until_commit = self._offsets.seconds_until_due() if self.auto_commit else None
        if until_commit is not None:
            wait = until_commit if wait is None else min(wait, until_commit)
        return wait

    def _closing(self, clean: bool) -> None:
        """The end of a shutdown, once the feeds are closed: the last auto-commit (of the
        events in the caller's hands too when ``clean``), then the server's positions."""
        if self.auto_commit:
            pending = self._offsets.pending(include_in_flight=clean)
            if pending is not None:
                self._save(pending)
        if self.groups is not None:
            self.groups.close()

    def _positions_failed(self, exc: LakehoseError, attempt: int) -> float:
        """Loading the server's positions failed: raise, or the seconds to wait before the
        next try when the failure may pass."""
        if not exc.retriable:
            raise exc
        wait = backoff_delay(attempt, None, self.policy)
        log.warning("consumer group %s: %s (again in %.1f s)", self.app_id, exc, wait)
        return wait

    def _partition_flows(
        self, streams: list[Stream]
    ) -> list[tuple[int, Generator[Step, Reply, None]]]:
        """The streams discovery found: a reconnecting flow per partition."""
        self._partitions = [s.partition for s in streams]
        return [
            (s.partition, partition_flow(s.partition, self._feed_url, self.policy, s))
            for s in streams
        ]

    def _save(self, offsets: dict[int, int]) -> None:
        try:
            self.checkpoint.save(offsets)
        except LakehoseError as exc:
            if self.commit_mode == "checkpoint" or not exc.retriable:
                raise
            # the server is away: the positions stay pending and go with the next commit
            log.warning("consumer group %s: commit failed, kept for later: %s", self.app_id, exc)
            return
        self._offsets.committed_as(offsets)
        self.stats.commits += 1
        log.debug("committed offsets %s", offsets)

    # feeds -------------------------------------------------------------------------------

    def _feed_client_options(self) -> dict[str, Any]:
        """The httpx client settings of the data feeds (``read_timeout`` between bytes)."""
        return {
            "timeout": httpx.Timeout(self.timeout, read=self.read_timeout),
            "verify": self.verify,
            "headers": {**self.headers, "Accept": "application/json"},
        }

    def _discovered(self, found: list[Stream] | LakehoseError) -> Discovered:
        """A discovery's streams, or the error that stopped it, for the discovery flow."""
        if isinstance(found, LakehoseError):
            return Discovered([], found)
        self._count("discoveries")
        return Discovered(found)

    def _cutter_for(self, partition: int) -> FeedCutter:
        """The partition's cutter (used by its reader only)."""
        cutter = self._cutters.get(partition)
        if cutter is None:
            last = self._offsets.committed.get(partition)
            cutter = self._cutters[partition] = FeedCutter(partition, last)
        return cutter

    def _feed_url(self, stream: Stream) -> str:
        """Where to (re)open a partition: after the last event read, else the chosen start."""
        last = self._cutter_for(stream.partition).last
        extra = {"filter": self.filter} if self.filter else {}
        if self.on_out_of_range:
            extra["on_out_of_range"] = self.on_out_of_range
        if last is not None:
            return feed_url(stream, offset=last + 1, event_types=self.event_types, extra=extra)
        if self.tail:
            return feed_url(stream, tail=True, event_types=self.event_types, extra=extra)
        if self.start_spec is not None:
            return feed_url(
                stream, event_types=self.event_types, extra={"start": self.start_spec, **extra}
            )
        return feed_url(
            stream, offset=self.start_offset or 0, event_types=self.event_types, extra=extra
        )

    def _count(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _opened(self, stream: Stream) -> None:
        """A feed answered 200: keep its session alive from now on."""
        self._count("connections")
        with self._schedule_lock:
            self._schedule.track(stream.partition, stream.refresh_interval, stream.received_at)
        self._schedule_changed()
        log.info("partition %d: reading %s", stream.partition, _without_query(stream))

    def _schedule_changed(self) -> None:
        """A session was added to the refresh schedule (the keeper may need to wake sooner)."""

    def _closed_feed(self, partition: int) -> None:
        with self._schedule_lock:
            self._schedule.forget(partition)

    def _refresh_wait(self) -> float | None:
        """Seconds until the next session refresh is due (None: no session open)."""
        with self._schedule_lock:
            wake = self._schedule.next_due()
        return None if wake is None else max(0.0, wake - time.monotonic())

    def _due_refreshes(self) -> list[int]:
        """The partitions whose session is due for a refresh now."""
        with self._schedule_lock:
            return self._schedule.due(time.monotonic())

    def _refreshed(self, partition: int, error: LakehoseError | None) -> None:
        """A refresh of ``partition``'s session ended, with ``error`` or not."""
        if isinstance(error, ResponseError) and error.status == 404:
            # the session is gone: its feed ends, and the reader discovers again
            log.warning("partition %d: session refresh: %s", partition, error)
            self._closed_feed(partition)
            return
        if error is not None:
            self._count("refresh_failures")
            log.warning("partition %d: session refresh failed: %s", partition, error)
        else:
            self._count("refreshes")
            log.debug("partition %d: session refreshed", partition)
        with self._schedule_lock:
            self._schedule.refreshed(partition, time.monotonic(), ok=error is None)

    def _waiting(self, wait: Wait, reconnect: bool) -> None:
        if reconnect:
            self._count("reconnects")
        log.warning("%s (in %.1f s)", wait.reason, wait.seconds)


def _without_query(stream: Stream) -> str:
    return stream.data_feed_url.split("?", 1)[0]
