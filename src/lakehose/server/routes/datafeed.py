"""The data feed, ``GET /sensors/entities/datafeed/v1/{partition}``: replay, then tail, as NDJSON.

Theory of operation
-------------------
*Opening.* The request carries ``Authorization: Token <session token>`` from
discovery. The session must be live (not past ``expires_at + session_grace``) and
issued for this partition (and appId, when the query names one). Then the feed
claims the catalog's connection slot for ``(API client, appId, partition)``; the slot
is shared by every worker process, so a second feed of the same client for the same
appId and partition gets 401 whichever worker it lands on, and the first one is left
alone. Another client's feeds never touch it.

*Three tasks per connection.* The **pump** moves events: it reads a few record
batches at a time from the partition (``batches_from``), renders them
(``falcon_envelope``) and awaits each ``send``, so uvicorn's flow control holds it
back when the client reads slowly and a connection never holds more than one
step's batches in memory. It yields to the event loop once it has worked ``TURN``
(10 ms) since it last had the loop, not after each batch: on a busy worker (HEC requests
between every two yields, a loop turn of 10-30 ms) a yield per batch, or per 128 kB,
held a live feed of 100-event batches below 50,000 events/s, and it fell behind a fast
sender for good (measured on a cluster node at 50,000 events/s, issue 17: the feed's
p50 after the 200 was 1.3 s yielding every 3 ms, 78 ms every 10 ms, 34 ms every 20 ms;
10 ms is what the other requests of the worker may wait for a feed). It reads through
``Runtime.feed_batches``, awaited, so a log whose blobs travel over the network (a
cluster) does not hold the event loop while they do. When it has
caught up it waits on ``Runtime.wait_for_end_past``, which wakes it when any
worker commits past its position; after ``heartbeat_interval`` of idleness it
writes a bare ``\\r\\n``. The **watcher** awaits ``receive()`` until uvicorn
reports ``http.disconnect``, which happens as soon as the socket is closed. A peer
that vanished without a FIN never closes it: every half interval the supervisor
asks the kernel whether the feed's writes were retransmitted without any
acknowledgement for a whole interval (``peer.py``), and if so ends the feed
("peer gone"). The **supervisor** (the
request's own coroutine) waits for either, and meanwhile heartbeats the slot and
re-reads the session every ``heartbeat_interval`` and at the session's deadline
(a refresh, handled by any worker, moves the deadline; revoking the client deletes
the session). When the session is over it cancels the pump and ends the chunked
body cleanly; when the client is gone it cancels the pump. Either way the slot is
released at once, so the appId is free again for a reconnect.

*A consumer that stops reading.* uvicorn's flow control bounds what a connection
holds: once the socket's buffers are full, ``send`` waits, so the pump (and the
memory it uses) stops with the consumer and ingest is not held back. A ``send``
that waits longer than ``feed_stall_timeout`` ends the feed: the reason ("consumer
too slow") is logged, the slot is released and the connection closed without the
body's last chunk, so the consumer sees the feed break after the events already
handed to its socket, and reconnects after the last one it read.

A worker that dies leaves its slots behind; their heartbeats stop, and a slot
whose heartbeat is older than a few intervals is taken over by the next claim.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from lakehose.auth.secrets import digest
from lakehose.errors import AuthError, LakehoseError, LimitError
from lakehose.server import feed_start
from lakehose.server.feed_filter import FeedFilter
from lakehose.server.feed_options import FeedOptions, feed_options
from lakehose.server.protocols.peer import SOCKET_KEY, peer_gone
from lakehose.server.replies.envelope import error
from lakehose.server.replies.errors import ApiError, status_for
from lakehose.server.replies.falcon import KEEPALIVE, FeedFormat, render_batch
from lakehose.server.routes import stream_params
from lakehose.server.routes.guards import credential
from lakehose.server.runtime import Runtime
from lakehose.storage.catalog.sessions import StreamSession
from lakehose.storage.consumer_groups import CommitRequest

log = logging.getLogger(__name__)
access_log = logging.getLogger("lakehose.access")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

READ_BATCHES = 16  # record batches read per step (a batch holds at most 2,000 events)
SEND_BYTES = 128 * 1024  # send as soon as this much is rendered
TURN = 0.010  # seconds of rendering and sending after which the pump lets others run
FINAL_SEND_TIMEOUT = 5.0
TOO_SLOW = "consumer too slow"
PEER_GONE = "peer gone"  # no acknowledgement of the keep-alive: vanished without a FIN
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_owner_ids = itertools.count(1)
# this machine, in a slot's owner (``<pid>-<n>-<machine>``): on a cluster, a slot held on
# another machine is never judged by a local pid; it is taken over once its heartbeat is stale
_MACHINE = uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname()).hex[:12]


@dataclass(slots=True)
class Feed:
    """One open data-feed connection."""

    session: StreamSession
    token_digest: bytes
    partition: int
    app_id: str
    slot: str  # the connection lock's name: (API client, appId), with the partition beside it
    owner: str
    position: int
    first: int
    event_types: frozenset[str] | None
    format: FeedFormat
    deadline: float
    sock: socket.socket | None = None  # to ask the kernel whether the peer is gone
    options: FeedOptions = field(default_factory=FeedOptions)
    filter: FeedFilter | None = None
    how: str = ""  # how the start was chosen (access log)
    hang_up: Callable[[], None] | None = None  # sandbox: close with no last chunk
    rate: float | None = None  # sandbox: events per second
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # taken over on this worker
    sent_upto: int = 0  # every offset below it was written to the connection
    tick_mark: int = 0  # sent_upto at the last supervisor tick (auto commit)
    committed_upto: int = 0
    events: int = 0
    reason: str = ""
    started: float = field(default_factory=time.perf_counter)


async def _until_disconnect(receive: Receive) -> None:
    """Return when the client is gone (any request body, such as ``{}``, is discarded)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FeedCut(Exception):
    """The sandbox cut the feed mid-event (``feed_cut``)."""


class ConsumerTooSlow(Exception):
    """A ``send`` waited longer than ``feed_stall_timeout``: the consumer reads nothing."""


class DataFeed:
    """ASGI endpoint of the data feed (raw ASGI: it streams for as long as the session lives)."""

    def __init__(self, runtime: Runtime, customer_id: Callable[[], str]) -> None:
        self.rt = runtime
        self.customer_id = customer_id
        self.requests = 0
        self.open_feeds: dict[tuple[str, int], Feed] = {}  # this worker's, for takeover

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests += 1
        number = self.requests  # this feed's, for its access-log line
        try:
            if scope["method"] != "GET":
                raise ApiError(405, "the data feed answers GET only")
            feed = self._open(scope)
        except (ApiError, LakehoseError, ValueError) as exc:
            await self._refuse(exc, scope, receive, send, number)
            return
        metrics = self.rt.metrics
        metrics.stream_connections.inc()
        key = (feed.slot, feed.partition)
        self.open_feeds[key] = feed
        try:
            await self._serve(feed, receive, send)
        finally:
            if self.open_feeds.get(key) is feed:
                del self.open_feeds[key]
            self.rt.catalog.release_connection(feed.slot, feed.partition, feed.owner)
            metrics.stream_connections.dec()
            if feed.options.commit == "auto":
                await self._auto_commit(feed, feed.tick_mark)
            self._log(scope, number, 200, feed)

    # opening ------------------------------------------------------------------------------

    def _open(self, scope: Scope) -> Feed:
        s = self.rt.settings
        token = credential(Request(scope), "token")
        if token is None:
            raise AuthError("access denied, a session token is required (Authorization: Token …)")
        partition = stream_params.partition(scope["path_params"]["partition"], s.partitions)
        if (
            partition is None
        ):  # the path's text is not echoed: a confused client may put a token there
            raise ApiError(
                404, f"no such partition: this server has partitions 0-{s.partitions - 1}"
            )
        token_digest = digest(token)
        session = self.rt.catalog.session_by_digest(token_digest)
        now = time.time()
        if session is None or now >= session.expires_at + s.session_grace:
            raise AuthError("access denied, invalid or expired session token; discover again")
        if session.partition != partition:
            raise AuthError(
                f"access denied, the session token is for partition {session.partition}"
            )
        qs = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(qs, keep_blank_values=True))
        query = stream_params.feed_query(params)
        if query.app_id is not None and query.app_id != session.app_id:
            raise AuthError("access denied, the session token is for another appId")
        options = feed_options(params)
        selection = FeedFilter(options, query.event_types) if options.filtered else None
        explicit = params.get("offset", "").strip() != ""
        try:
            start = feed_start.resolve(
                self.rt.reader(partition),
                explicit_offset=query.offset if explicit else None,
                tail=query.whence == stream_params.WHENCE_END,
                options=options,
                committed=self.rt.groups.committed(session.app_id, partition),
            )
        except feed_start.OutOfRange as exc:
            raise ApiError(416, str(exc), oldest_offset=exc.oldest, next_offset=exc.end) from None
        position = start.offset
        owner = f"{os.getpid()}-{next(_owner_ids)}-{_MACHINE}"
        slot = slot_name(session.client_id, session.app_id)
        feeds = self.rt.catalog.open_feeds(slot_name(session.client_id, ""))
        if feeds >= s.max_feeds_per_client:
            raise LimitError(
                f"this client has {feeds} open data feeds, its limit (max_feeds_per_client)", 5.0
            )
        if not self._claim(slot, partition, owner, position, options.takeover):
            raise AuthError(
                f"appId {session.app_id} already has an active connection on partition {partition}"
            )
        sandbox = self.rt.sandbox
        slow = sandbox.take("feed_slow") if sandbox.enabled else None
        return Feed(
            session=session,
            token_digest=token_digest,
            partition=partition,
            app_id=session.app_id,
            slot=slot,
            owner=owner,
            position=position,
            first=position,
            event_types=query.event_types,
            format=FeedFormat(self.customer_id(), flat=query.format == "flatjson"),
            deadline=session.expires_at + s.session_grace,
            sock=scope.get(SOCKET_KEY),
            options=options,
            filter=selection,
            how=start.how,
            hang_up=scope.get("lakehose.hang_up"),
            rate=float(slow.params.get("rate", 10)) if slow is not None else None,
            sent_upto=position,
            tick_mark=position,
            committed_upto=position,
        )

    def _claim(
        self, slot: str, partition: int, owner: str, position: int, takeover: bool = False
    ) -> bool:
        """Take the slot; a slot whose worker process has died is taken over at once, and a
        live one only with ``takeover`` (the same API client and appId: its feed ends at once
        on this worker, else at its next heartbeat, when it finds the slot gone)."""
        catalog = self.rt.catalog
        stale_after = 3 * self.rt.settings.heartbeat_interval + 1.0
        if catalog.claim_connection(slot, partition, owner, stale_after, position):
            return True
        holder = catalog.connection_owner(slot, partition)
        if holder is None:
            return False
        if takeover:
            previous = self.open_feeds.get((slot, partition))
            if previous is not None and previous.owner == holder:
                previous.reason = "taken over"
                previous.ended.set()
            log.warning("data feed on partition %d: slot %s taken over", partition, slot)
        elif not holder.endswith("-" + _MACHINE) or _process_alive(holder.partition("-")[0]):
            return False
        catalog.release_connection(slot, partition, holder)
        return catalog.claim_connection(slot, partition, owner, stale_after, position)

    async def _refuse(
        self, exc: Exception, scope: Scope, receive: Receive, send: Send, number: int
    ) -> None:
        status, _, fields = status_for(exc)
        if status == 500:
            log.error("data feed could not open: %s", exc)
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        reply = error(status, message if status != 500 else "internal server error", **fields)
        await reply(scope, receive, send)
        self._log(scope, number, reply.status_code, None)

    # serving ------------------------------------------------------------------------------

    async def _serve(self, feed: Feed, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        watcher = asyncio.create_task(_until_disconnect(receive))
        pump = asyncio.create_task(self._pump(feed, send))
        stopper = asyncio.create_task(self.rt.stopping.wait())
        ended = asyncio.create_task(feed.ended.wait())
        try:
            feed.reason = await self._supervise(feed, watcher, pump, stopper, ended)
        finally:
            for task in (pump, watcher, stopper, ended):
                task.cancel()
            await asyncio.gather(pump, watcher, stopper, ended, return_exceptions=True)
        if feed.reason not in (
            "disconnected",
            TOO_SLOW,
            PEER_GONE,
            "cut (sandbox)",
        ):  # a stalled, gone or cut consumer takes no last chunk
            try:
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}),
                    FINAL_SEND_TIMEOUT,
                )
            except TimeoutError:
                feed.reason += ", client not reading"

    async def _supervise(
        self,
        feed: Feed,
        watcher: asyncio.Task[None],
        pump: asyncio.Task[None],
        stopper: asyncio.Task[bool],
        ended: asyncio.Task[bool],
    ) -> str:
        """Wait for the client to leave or the pump to stop; keep the slot and session checked."""
        s = self.rt.settings
        catalog = self.rt.catalog
        interval = s.heartbeat_interval
        next_beat = time.time() + interval
        next_probe = time.time() + interval / 2
        while True:
            timeout = max(0.0, min(next_beat, feed.deadline, next_probe) - time.time())
            # a revocation (here, or seen in the catalog by the reload task) ends it at once
            moved = asyncio.ensure_future(self.rt.catalog_change.wait())
            done, _ = await asyncio.wait(
                {watcher, pump, stopper, moved, ended},
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            moved.cancel()
            if ended in done:
                return feed.reason
            if watcher in done:
                return feed.reason or "disconnected"
            if stopper in done:
                return "server shutting down"
            if pump in done:
                exc = pump.exception()
                if isinstance(exc, FeedCut):
                    return "cut (sandbox)"
                if isinstance(exc, ConsumerTooSlow):
                    log.warning(
                        "data feed on partition %d: appId %s read nothing for %g s; disconnected "
                        "(it can reconnect after the last event it read)",
                        feed.partition,
                        feed.app_id,
                        s.feed_stall_timeout,
                    )
                    return TOO_SLOW
                if exc is not None:
                    log.error(
                        "data feed on partition %d stopped at offset %d: %s",
                        feed.partition,
                        feed.position,
                        exc,
                    )
                    return "error"
                return "stopped"
            now = time.time()
            if now >= next_probe:
                next_probe = now + interval / 2
                if peer_gone(feed.sock, interval):  # unacknowledged for a keep-alive interval
                    return PEER_GONE
            if now >= next_beat:
                if not catalog.heartbeat_connection(
                    feed.slot, feed.partition, feed.owner, feed.position
                ):
                    return "connection slot lost (taken over)"
                next_beat = now + interval
                if feed.options.commit == "auto":
                    await self._auto_commit(feed, feed.tick_mark)
                    feed.tick_mark = feed.sent_upto
            session = catalog.session_by_digest(feed.token_digest, fresh=False)
            if session is None:
                return "session revoked"
            feed.deadline = session.expires_at + s.session_grace
            if now >= feed.deadline:
                return "session expired"

    async def _pump(self, feed: Feed, send: Send) -> None:
        """Send events from ``feed.position`` on, for ever; keep-alives when idle."""
        rt = self.rt
        p = feed.partition
        reader = rt.reader(p)
        counter = rt.metrics.stream_events.labels(str(p))
        interval = rt.settings.heartbeat_interval
        stall = rt.settings.feed_stall_timeout
        types = feed.event_types
        fmt = feed.format
        last_write = time.monotonic()
        chunks: list[bytes] = []
        size = events = 0

        async def send_body(body: bytes) -> None:
            try:
                async with asyncio.timeout(stall):
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            except TimeoutError:
                raise ConsumerTooSlow from None

        async def flush() -> None:
            nonlocal size, events, last_write
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            if rt.sandbox.enabled:
                await self._sandbox_send(feed, body, send_body)
            else:
                await send_body(body)
            feed.events += events
            feed.sent_upto = feed.position
            counter.inc(events)
            size = events = 0
            last_write = time.monotonic()

        selection = feed.filter
        turn = time.perf_counter()  # when the pump last had the loop back
        while True:
            if selection is not None:
                step = await selection.step(rt, reader, feed.position, fmt)
                if step.position > feed.position:
                    feed.position = step.position
                    if step.chunks:
                        chunks.extend(step.chunks)
                        events += step.events
                        await flush()
                    elif time.monotonic() - last_write >= interval:
                        await send_body(KEEPALIVE)  # a long stretch without a match
                        last_write = time.monotonic()
                    feed.sent_upto = feed.position
                    await asyncio.sleep(0)
                    continue
                batches = []
            else:
                batches = await rt.feed_batches(reader, feed.position, READ_BATCHES)
            if batches:
                for info, blob in batches:
                    if types is None or info.sourcetype in types:
                        events += info.end_offset - max(feed.position, info.first_offset)
                        for chunk in render_batch(info, blob, feed.position, fmt):
                            chunks.append(chunk)
                            size += len(chunk)
                            if size >= SEND_BYTES:  # big chunks go out one by one, small together
                                await flush()
                                if time.perf_counter() - turn >= TURN:
                                    await asyncio.sleep(0)  # others get the loop
                                    turn = time.perf_counter()
                    feed.position = info.end_offset
                if chunks:
                    await flush()
                if time.perf_counter() - turn >= TURN:
                    await asyncio.sleep(0)
                    turn = time.perf_counter()
                continue
            start = rt.feed_start(reader)
            if start > feed.position:  # retention passed us: go on from the oldest kept
                feed.position = start
                continue
            idle = time.monotonic() - last_write
            if idle >= interval:
                await send_body(KEEPALIVE)
                last_write = time.monotonic()
                idle = 0.0
            await rt.wait_for_end_past(p, feed.position, interval - idle)
            turn = time.perf_counter()

    async def _auto_commit(self, feed: Feed, upto: int) -> None:
        """``commit=auto``: commit what was written to the connection one tick ago."""
        if upto <= feed.committed_upto:
            return
        groups = self.rt.groups
        owner = groups.owner(feed.app_id)
        if owner is not None and owner != feed.session.client_id:
            return  # another client's group: never moved by this one's feed
        try:
            await self.rt.position_commits.commit(
                [CommitRequest(feed.app_id, feed.partition, upto - 1, feed.session.client_id)]
            )
        except Exception as exc:  # the feed goes on; the next tick tries again
            log.error("auto commit of appId %s failed: %s", feed.app_id, exc)
            return
        feed.committed_upto = upto

    async def _sandbox_send(
        self, feed: Feed, body: bytes, send_body: Callable[[bytes], Awaitable[None]]
    ) -> None:
        """Send a body under the sandbox's feed faults: cut mid-event, or slowed down."""
        if feed.hang_up is not None and self.rt.sandbox.take("feed_cut"):
            first = body.find(b"\n") + 1 or len(body)
            await send_body(body[: max(1, first // 2)])
            feed.reason = "cut (sandbox)"
            await asyncio.sleep(0.05)  # let the half line leave before the socket closes
            feed.hang_up()
            raise FeedCut
        if feed.rate is None:
            await send_body(body)
            return
        for line in body.splitlines(keepends=True):
            await send_body(line)
            if line.strip():
                await asyncio.sleep(1.0 / feed.rate)

    # logging ------------------------------------------------------------------------------

    def _log(self, scope: Scope, number: int, status: int, feed: Feed | None) -> None:
        if not self.rt.settings.access_log:
            return
        client = scope.get("client") or ("-", 0)
        if feed is None:
            path = scope["path"]
            partition = scope.get("path_params", {}).get("partition", "")
            if stream_params.partition(partition, self.rt.settings.partitions) is None:
                path = "/sensors/entities/datafeed/v1/(no such partition)"  # the client's text
            access_log.info("%x-s%x %s GET %s %d", self.rt.pid, number, client[0], path, status)
            return
        access_log.info(
            "%x-s%x %s GET %s %d appId=%s start=%s offsets=%d-%d events=%d end=%s %.1fms",
            self.rt.pid,
            number,
            client[0],
            scope["path"],
            status,
            feed.app_id,
            feed.how.replace(" ", "_") or "-",
            feed.first,
            feed.position,
            feed.events,
            feed.reason or "-",
            (time.perf_counter() - feed.started) * 1000,
        )


def slot_name(client_id: str, app_id: str) -> str:
    """The one-connection lock is per API client: another client using the same appId
    (the CLI's default, say) neither locks this one out nor learns that the appId is in use."""
    return f"{client_id}/{app_id}"


def _process_alive(pid_text: str) -> bool:
    """Whether the worker that wrote a slot's owner (``<pid>-<n>``) still runs on this machine."""
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True
