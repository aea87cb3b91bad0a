"""``StreamConsumer``: every partition of a Falcon event stream, in order, resumable, on threads.

Theory of operation. ``start()`` (or the first ``poll``) starts a discovery thread
that runs :func:`~lakehose.client.streams.reconnect.discovery_flow` and then one reader
thread per partition, each driving :func:`~lakehose.client.streams.reconnect.partition_flow`
with the stream it was handed; plus one keeper thread that refreshes every open
session when :class:`~lakehose.client.streams.sessions.RefreshSchedule` says so. A reader
only moves bytes: it cuts each network chunk at its last line end
(:class:`~lakehose.client.streams.feed.FeedCutter`, which decodes just the block's last
event, to know where to reconnect) and puts the block on a bounded queue
(``max_pending`` blocks), so a slow caller holds the readers back instead of filling
memory. The caller's thread takes blocks off the queue and decodes and hands out
their events one by one (:class:`~lakehose.client.streams.feed.FeedEvents`), which keeps
each partition's order and decodes every event once, in the thread that uses it;
:class:`~lakehose.client.streams.offsets.Offsets` records what was handed out and decides
commits, and only the caller's thread saves the checkpoint.

``close()`` sets the stop event, shuts the open feed sockets down (which wakes the
readers blocked on them), and joins the threads; a reader stuck connecting gives up
within ``timeout``.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Generator, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from lakehose.client._errors import response_error, transport_error
from lakehose.client.hec.flow import Wait
from lakehose.client.streams._base import CLOSED, NO_EVENT, BaseStreamConsumer, Failure
from lakehose.client.streams.event_streams import EventStreams
from lakehose.client.streams.feed import FeedLineError
from lakehose.client.streams.reconnect import (
    Connect,
    Discover,
    Discovered,
    FeedEnd,
    Reply,
    Step,
    discovery_flow,
)
from lakehose.errors import LakehoseError, TransportError

T = TypeVar("T")
_PUT_POLL = 0.25  # a reader blocked on a full queue looks at the stop event this often
_JOIN_TIMEOUT = 10.0


def hang_up(response: httpx.Response) -> None:
    """Shut an open response's socket down from another thread, waking its reader."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not SSLSocket's: no TLS state touched
        except OSError:
            pass


class StreamConsumer(BaseStreamConsumer):
    """Read every partition of a Falcon event stream — lakehose's or CrowdStrike's — and resume.

    ::

        with StreamConsumer("http://127.0.0.1:8088", client_id=ID, client_secret=SECRET,
                            app_id="siem01", checkpoint="siem01.offsets.json") as consumer:
            for event in consumer:
                handle(event)          # {"metadata": {"offset": …, …}, "event": {…}}
                consumer.commit()      # optional: auto-commit is on by default

    Discovers all partitions, opens every data feed, yields events in order per
    partition (partitions interleave), refreshes each session before it expires
    (``refresh_interval``; default ``interval - min(60 s, interval / 4)``: 29 minutes for
    Falcon's 1800 s), and reconnects with exponential backoff and jitter after a drop,
    a 401, the end of a session, or a server restart, from the offset after the last
    event read. Keep-alive lines are skipped.

    Offsets: ``checkpoint`` is a file path (a JSON file written atomically), any object
    with ``load()``/``save(offsets)``, or None (memory only). Partitions the checkpoint
    knows resume at its offset + 1; others start at ``offset`` (default 0, the oldest
    event kept) or, with ``tail=True``, at the end. ``commit()`` saves the offsets of
    every event handed out so far; with ``auto_commit`` (the default) the events the
    caller has finished with (it asked for the next one) are saved every
    ``commit_every`` events or ``commit_interval`` seconds, and at ``close()``. See
    ``lakehose.client.streams.offsets`` for exactly which duplicates a crash can cause.

    Other keywords: ``format`` (``json`` or ``flatjson``), ``event_types`` (send only
    these ``eventType`` values), ``raw`` (events as the feed's JSON text instead of
    dicts), ``max_pending`` (network chunks buffered; bounds memory), ``read_timeout``
    (seconds without a byte, keep-alives included, before the connection counts as
    dead), ``timeout`` (API calls), ``reconnect_backoff``/``max_backoff`` (seconds),
    ``verify`` (TLS), and ``client_id``/``client_secret``/``member_cid`` or an
    ``auth_object`` (:class:`~lakehose.client.OAuth2`). ``stats`` counts connections,
    refreshes, reconnects and commits.
    """

    _api: EventStreams | None
    _feeds: httpx.Client | None

    def _setup(self) -> None:
        self._started = False
        self._stop = threading.Event()
        self._keeper_wake = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue(self.max_pending)
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._open: dict[int, httpx.Response] = {}
        self._open_lock = threading.Lock()
        self._api = None
        self._feeds = None

    # life cycle --------------------------------------------------------------------------

    def start(self) -> StreamConsumer:
        """Start discovering and reading (``poll`` and iteration start it too)."""
        if self._started or self._closed:
            return self
        self._started = True
        self._api = EventStreams(self.auth, timeout=self.timeout, verify=self.verify)
        self._feeds = httpx.Client(**self._feed_client_options())
        self._spawn("discovery", self._bootstrap)
        self._spawn("keeper", self._keep_sessions)
        return self

    def __enter__(self) -> StreamConsumer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown(clean=exc_type is None)

    def close(self) -> None:
        """Stop reading, close the connections, and (with auto-commit) save the offsets of
        every event handed out. Safe to call twice, and from another thread."""
        self._shutdown(clean=True)

    def _shutdown(self, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._keeper_wake.set()
        with self._open_lock:
            for response in self._open.values():
                hang_up(response)
        try:
            self._queue.put_nowait(CLOSED)  # wakes a poll() waiting in another thread
        except queue.Full:
            pass
        deadline = time.monotonic() + _JOIN_TIMEOUT
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._feeds is not None:
            self._feeds.close()
        if self._api is not None:
            self._api.close()
        self._closing(clean)

    # the caller's side -------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> Any:
        """The next event, waiting up to ``timeout`` seconds (None: for ever); None when
        none came in time or the consumer is closed. Raises what stopped the consumer
        (bad credentials, a missing scope, an invalid offset)."""
        if self._closed:
            return None
        self.start()
        self._offsets.came_back()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            self._commit_if_due()
            event = self._next_event()
            if event is not NO_EVENT:
                return event
            try:
                got = self._queue.get(timeout=self._wait_for(deadline))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            if got is CLOSED:
                return None
            if isinstance(got, Failure):
                self._shutdown(clean=False)
                raise got.error
            self._take_block(*got)
        return None

    def __iter__(self) -> Iterator[Any]:
        while True:
            event = self.poll()
            if event is None:
                return
            yield event

    def commit(self) -> dict[int, int]:
        """Save the offsets of every event handed out so far; return what is committed."""
        return self._commit_all()

    # threads -----------------------------------------------------------------------------

    def _schedule_changed(self) -> None:
        self._keeper_wake.set()

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(
            target=self._guard, args=(target, *args), name=f"lakehose-stream-{name}", daemon=True
        )
        with self._threads_lock:  # close() joins only threads that have started
            if self._stop.is_set():
                return
            self._threads.append(thread)
            thread.start()

    def _guard(self, target: Any, *args: Any) -> None:
        """Run a thread's work; hand whatever stops it to the caller."""
        try:
            target(*args)
        except BaseException as exc:
            if not self._stop.is_set():
                self._put(Failure(exc))

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _bootstrap(self) -> None:
        attempt = 0
        while True:  # the server's positions first (commit="server"/"both"), if it is up
            try:
                self._load_positions()
                break
            except LakehoseError as exc:
                attempt += 1
                if self._stop.wait(self._positions_failed(exc, attempt)):
                    return
        streams = self._drive(discovery_flow(self.policy), None)
        if streams is None:
            return
        for partition, flow in self._partition_flows(streams):
            self._spawn(f"p{partition}", self._drive, flow, partition)

    def _drive(self, flow: Generator[Step, Reply, T], partition: int | None) -> T | None:
        """Step a flow: discover, read feeds and sleep for it; None when stopped."""
        reply: Reply = None
        try:
            step = next(flow)
            while True:
                if self._stop.is_set():
                    flow.close()
                    return None
                if isinstance(step, Wait):
                    self._waiting(step, reconnect=partition is not None)
                    if self._stop.wait(step.seconds):
                        flow.close()
                        return None
                    reply = None
                elif isinstance(step, Discover):
                    reply = self._discover()
                else:
                    reply = self._read(step)
                step = flow.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result

    def _discover(self) -> Discovered:
        assert self._api is not None
        try:
            return self._discovered(self._api.discover(self.app_id, self.format))
        except LakehoseError as exc:
            return self._discovered(exc)

    def _read(self, connect: Connect) -> FeedEnd:
        """Open one feed and put its events on the queue until it ends."""
        assert self._feeds is not None
        stream = connect.stream
        p = stream.partition
        what = f"data feed of partition {p}"
        cutter = self._cutter_for(p)
        cutter.reset()
        headers = {"Authorization": f"Token {stream.session_token}"}
        try:
            response = self._feeds.send(
                self._feeds.build_request("GET", connect.url, headers=headers), stream=True
            )
        except httpx.HTTPError as exc:
            return FeedEnd(None, 0, transport_error(exc, what), stopped=self._stop.is_set())
        events = 0
        try:
            with self._open_lock:
                self._open[p] = response
            if self._stop.is_set():
                return FeedEnd(response.status_code, stopped=True)
            if response.status_code != 200:
                response.read()
                return FeedEnd(response.status_code, 0, response_error(response, what))
            self._opened(stream)
            for chunk in response.iter_bytes():
                block = cutter.feed(chunk)
                if block:
                    events += block.count(b"\n")
                    if not self._put((p, block)):
                        return FeedEnd(200, events, stopped=True)
            block = cutter.finish()
            if block:
                events += block.count(b"\n")
                if not self._put((p, block)):
                    return FeedEnd(200, events, stopped=True)
            return FeedEnd(200, events, stopped=self._stop.is_set())
        except (httpx.HTTPError, FeedLineError, OSError) as exc:
            if self._stop.is_set():
                return FeedEnd(200, events, stopped=True)
            error = (
                transport_error(exc, what)
                if isinstance(exc, httpx.HTTPError)
                else TransportError(f"{what}: {exc}")
            )
            return FeedEnd(200, events, error)
        finally:
            with self._open_lock:
                self._open.pop(p, None)
            self._closed_feed(p)
            response.close()

    def _keep_sessions(self) -> None:
        """Refresh each open session when it is due, until the consumer stops."""
        while not self._stop.is_set():
            if self._keeper_wake.wait(self._refresh_wait()):
                self._keeper_wake.clear()
            if self._stop.is_set():
                return
            for partition in self._due_refreshes():
                self._refresh(partition)

    def _refresh(self, partition: int) -> None:
        assert self._api is not None
        try:
            self._api.refresh_active_stream(partition=partition, app_id=self.app_id)
        except LakehoseError as exc:
            self._refreshed(partition, exc)
        else:
            self._refreshed(partition, None)
