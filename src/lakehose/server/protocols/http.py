"""uvicorn's httptools protocol with the limits it lacks: header deadline, header size, connections.

Theory of operation
-------------------
uvicorn (0.54, httptools) arms no timer until a first response is sent, has no
limit on the size or number of request headers, and holds every connection it
accepts. So a client sending headers a byte a second, one sending a header line
of gigabytes, or thousands of connections that never send anything, would each
hold the server's memory or sockets for ever. This subclass adds:

*Header deadline* (``header_timeout``): a connection must send a complete request
line and headers within the deadline after it is accepted, and on a keep-alive
connection within the deadline after the next request's first byte. The idle
time between requests stays uvicorn's ``keep_alive_timeout``.

*Body deadline for non-HEC routes* (``body_timeout``): no body byte for that long
and the request is cut off. HEC routes have their own (``server/protocols/body.py``), which
answers in HEC's shape.

*Header size* (``max_header_bytes``, request line plus headers) and count
(:data:`MAX_HEADERS`): over either, ``431`` (``414`` for the request line alone)
and the connection is closed. While a request's headers are incomplete, the
chunks that arrived after the one it began in are counted (they lie wholly
within the headers, and a header line still being received is buffered inside
httptools, where no callback sees it): past the limit, the request is refused,
so it has cost at most the limit plus one socket read. When the headers are
complete their exact size is checked, but only if the chunks they came in could
hold more than the limit, so an ordinary request pays two comparisons.

*One write per response*: the transport is a :class:`~lakehose.server.protocols.transport.CoalescingTransport`,
so a response's head and body leave in one ``send`` (see ``server/protocols/transport.py``).

*Connection bound* (``max_connections`` per worker): a connection beyond it gets
``503`` with ``Retry-After`` and is closed at once, before anything is read. One
address (IPv6: its /64) may hold at most ``max_connections_per_address`` of them
(and never more than half), so slow connections from one place cannot take the
server from every other sender.

*The socket in the scope*: each request's scope carries its connection's socket
(:data:`SOCKET_KEY`), so the data feed can ask the kernel whether the peer is
still there (``server/protocols/peer.py``).

Deadlines are checked by one sweep per worker (every half second at most) over
the open connections, not by a timer per request: the ingest path only stamps
an attribute.

Refusals answer in HEC's shape (``{"text", "code"}``) on HEC paths or when the
path is not known yet, in the Falcon envelope elsewhere; they are not logged
one by one (a flood of bad requests must not become a flood of log lines), and
count in ``lakehose_connections_refused_total`` by reason.
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lakehose.auth.lockout import address_group
from lakehose.config import Settings
from lakehose.server.metrics import Metrics
from lakehose.server.protocols.lean import LazyPipeline, LeanFlowControl
from lakehose.server.protocols.peer import SOCKET_KEY
from lakehose.server.protocols.transport import CoalescingTransport
from lakehose.server.replies.envelope import error
from lakehose.server.routes.hec import route_of

MAX_HEADERS = 256
SWEEP_INTERVAL = 0.5
SWEEP_SLICE = 250  # connections checked in one loop turn (about a millisecond)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


class Limits:
    """One worker's connection limits and the sweep that enforces its deadlines."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self.max_header_bytes = settings.max_header_bytes
        self.max_connections = settings.max_connections
        self.sandbox = settings.sandbox  # requests may be hung up on (server/sandbox.py)
        # 0: no cap; at most half of max_connections, so one address never takes them all
        cap = settings.max_connections_per_address
        self.per_address = min(cap, max(1, settings.max_connections // 2)) if cap else 0
        self.by_address: dict[str, int] = {}
        self.metrics = metrics
        self.interval = min(SWEEP_INTERVAL, settings.header_timeout / 2, settings.body_timeout / 2)
        self.connections: set[Any] | None = None
        self._sweeping = False

    def start(self, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        if not self._sweeping:
            self._sweeping = True
            self.connections = connections
            loop.call_later(self.interval, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep_slice(loop, list(self.connections or ()), 0)

    def _sweep_slice(self, loop: asyncio.AbstractEventLoop, conns: list[Any], start: int) -> None:
        """Check ``SWEEP_SLICE`` connections, then let the loop serve before the next ones:
        ten thousand checks at once held every request up by tens of milliseconds."""
        end = start + SWEEP_SLICE
        try:
            now = loop.time()
            for conn in conns[start:end]:
                if isinstance(conn, GuardedHttpProtocol):
                    conn.check_deadlines(now)
        finally:
            if end < len(conns):
                loop.call_soon(self._sweep_slice, loop, conns, end)
            else:
                loop.call_later(self.interval, self._sweep, loop)

    def refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.connection_refused(reason)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HttpToolsProtocol plus deadlines and size limits (see the module docstring)."""

    # Ours in slots: uvicorn's attributes alone (28) stay under CPython's 30-key limit for
    # an instance dictionary that shares its keys, 1.3 kB less per connection than a dict
    # of its own (10,000 idle connections: 13 MB).
    __slots__ = (
        "_refused",
        "_head_since",
        "_head_begun",
        "_head_first",
        "_head_raw",
        "_chunk",
        "_body_since",
        "_address",
        "_socket",
    )
    limits: Limits  # set on the subclass made by protocol_for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._refused = False
        self._head_since: float | None = self.loop.time()  # waiting for a request's headers
        self._head_begun = False  # a request's first byte has arrived, its headers have not
        self._head_first = 0  # the chunk in which the request began (it may hold more)
        self._head_raw = 0  # every chunk so far in which the headers were under way
        self._chunk = 0  # the chunk being parsed
        self._body_since: float | None = None  # a non-HEC body is under way: last byte at
        self._address: str | None = None
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
        self.flow = LeanFlowControl(transport)  # an idle connection costs little (lean.py)
        self.pipeline = LazyPipeline()  # type: ignore[assignment]
        limits = self.limits
        limits.start(self.loop, self.connections)
        self._socket = transport.get_extra_info("socket")
        if len(self.connections) > limits.max_connections:
            self._refuse(503, "Server is busy", "connections", retry_after=1, hec_code=9)
            return
        peer = transport.get_extra_info("peername")
        if limits.per_address and isinstance(peer, tuple):
            self._address = address_group(str(peer[0]))
            held = limits.by_address.get(self._address, 0) + 1
            limits.by_address[self._address] = held
            if held > limits.per_address:
                self._refuse(
                    503, "Server is busy", "address_connections", retry_after=1, hec_code=9
                )

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_since = self._body_since = None
        if self._address is not None:
            by_address = self.limits.by_address
            left = by_address.pop(self._address, 1) - 1
            if left > 0:
                by_address[self._address] = left
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        began = self._head_begun
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:
                self._refuse(400, "Invalid HTTP request", "malformed")
            return
        if self._head_begun:  # the headers are still incomplete after this chunk
            if not began:
                self._head_first = len(data)
            self._head_raw += len(data)
            # chunks after the first lie wholly within the headers: a count that cannot exceed
            # the headers' size, and bounds what httptools buffers to the limit plus one chunk
            if self._head_raw - self._head_first > self.limits.max_header_bytes:
                self._refuse(431, "Request header fields too large", "header_size")
        elif self._body_since is not None:
            self._body_since = self.loop.time()

    # parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[SOCKET_KEY] = self._socket  # type: ignore[literal-required]  # for peer.py
        if self._head_since is None:
            self._head_since = self.loop.time()
        self._head_begun = True
        self._head_first = self._head_raw = 0

    def on_headers_complete(self) -> None:
        self._check_head()
        self._start_asgi_request()

    def _start_asgi_request(self) -> None:
        """Hand the request whose headers are complete to uvicorn's cycle and the ASGI app."""
        super().on_headers_complete()
        if self.limits.sandbox:
            self.scope["lakehose.hang_up"] = self._hang_up  # type: ignore[typeddict-unknown-key]

    def _check_head(self) -> None:
        """The header count and size limits, once the headers are complete."""
        self._head_since = None
        self._head_begun = False
        if len(self.headers) > MAX_HEADERS:
            self._refuse(431, f"More than {MAX_HEADERS} request header fields", "header_count")
            raise _Refused
        limit = self.limits.max_header_bytes
        if self._head_raw + self._chunk > limit:  # else every byte of it is within the limit
            if len(self.url) > limit:
                self._refuse(414, "URI too long", "header_size")
                raise _Refused
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > limit:
                self._refuse(431, "Request header fields too large", "header_size")
                raise _Refused

    def _hang_up(self) -> None:
        """Close the connection with no answer (the sandbox's closed-connection faults)."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.response_complete = True  # the app's own answer, if any, is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()
        self._body_since = None if route_of(self.scope["path"]) else self.loop.time()

    # deadlines ----------------------------------------------------------------------------

    def check_deadlines(self, now: float) -> None:
        """Called by the sweep: cut off a connection past its header or body deadline."""
        if self._refused or self.transport is None or self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            return  # we are not reading (back-pressure, a pipelined request): not its fault
        limits = self.limits
        if self._head_since is not None and now - self._head_since > limits.header_timeout:
            if self._head_begun:
                self._refuse(408, "Request timeout", "header_timeout")
            else:  # nothing sent at all: just close, as the keep-alive timeout does
                self._refused = True
                limits.refused("idle")
                self.transport.close()
        elif self._body_since is not None and now - self._body_since > limits.body_timeout:
            cycle = self.cycle
            if cycle is None or not cycle.more_body:
                self._body_since = None  # the body is complete
            elif cycle.response_complete:  # answered without reading it all: just hang up
                self._refused = True
                limits.refused("body_timeout")
                self.transport.close()
            else:
                self._refuse(408, "Request timeout", "body_timeout")

    # refusals -----------------------------------------------------------------------------

    def _refuse(
        self,
        status: int,
        text: str,
        reason: str,
        retry_after: int | None = None,
        hec_code: int | None = None,
    ) -> None:
        """Answer ``status`` (unless a response is under way) and close the connection."""
        self._refused = True
        self._head_since = self._body_since = None
        self.limits.refused(reason)
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.response_complete = True  # the app's own answer, if any, is dropped
                cycle.disconnected = True
                cycle.message_event.set()
            transport.write(self._response(status, text, retry_after, hec_code))
        transport.close()

    def _response(
        self, status: int, text: str, retry_after: int | None, hec_code: int | None
    ) -> bytes:
        path = self.scope.get("path") if self.scope else None
        if path is None:  # the headers are incomplete: the request target so far, if any
            raw = bytes(getattr(self, "url", b"") or b"").partition(b"?")[0]
            path = raw.decode("latin-1") or None
        if path is None or route_of(path) is not None:
            body = orjson.dumps({"text": text, "code": hec_code or status})
        else:
            body = bytes(error(status, text[:1].lower() + text[1:]).body)
        phrase = http.HTTPStatus(status).phrase
        head = [
            f"HTTP/1.1 {status} {phrase}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
        ]
        if retry_after is not None:
            head.append(f"retry-after: {retry_after}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def protocol_for(settings: Settings, metrics: Metrics | None = None) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn should use for a worker with these settings."""

    class LakehoseHttpProtocol(GuardedHttpProtocol):
        limits = Limits(settings, metrics)

    return LakehoseHttpProtocol
