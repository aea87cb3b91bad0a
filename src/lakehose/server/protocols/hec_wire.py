"""HEC requests served straight from the HTTP parser's callbacks, without the ASGI layer.

Theory of operation
-------------------
:class:`HecWireProtocol` is the worker's HTTP protocol (``protocols/http.py``'s,
with every header limit, deadline and connection bound) plus a path for the
HEC routes. When a request's headers are complete and its path is a HEC route,
no ASGI scope, task or message is made: the request becomes a
:class:`HecExchange`, the handler's synchronous steps (``routes/hec.py``:
route and method, lockout, key, channel, shutdown and busy, declared length)
run at once, the body is gathered from the parser's callbacks, decoded and
staged, and its events go to the group commit as a future. The answer is
written from that future's callback, so a request costs no task at all. Every
other request (and HEC requests that need the full handler: ``/ack``, the fault
sandbox, two ``Authorization`` headers, an upgrade) goes to the
Starlette app through uvicorn's cycle, unchanged.

*Pipelining.* Requests on one connection are staged and committed as they
arrive (several may share one group commit) and answered in order: an answer
waits until those before it are written. At most :data:`MAX_IN_FLIGHT` are open
per connection; beyond that the connection is not read until answers go out.

*Bodies.* ``Content-Length`` over the limit is refused (413) before any body
byte is read; a chunked body is counted as it arrives. ``Expect: 100-continue``
gets its ``100 Continue`` only once the request has passed every check that
needs no body (a refused one is answered at once and its connection closed, as
the client may never send the body). No body byte for ``body_timeout``: 408.

*Answers* are built as bytes (status line, ``date``, Splunk's headers) and
leave in one ``write``; the success answer is cached per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from functools import partial
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from lakehose.config import Settings
from lakehose.models import AppendResult
from lakehose.server.metrics import Metrics
from lakehose.server.protocols.http import GuardedHttpProtocol, Limits
from lakehose.server.protocols.peer import SOCKET_KEY
from lakehose.server.replies.hec import Reply, append_failed, plain, reject
from lakehose.server.routes.hec import HecHandler, Staged, request_parts, route_of

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64  # open requests per connection before it is no longer read
_JSON = b"content-type: application/json; charset=UTF-8\r\nx-content-type-options: nosniff\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _NoEvent:
    """Stands in for a cycle's ``message_event``: nobody waits on an exchange."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class HecExchange:
    """One HEC request on the wire path; shaped like uvicorn's cycle where the protocol looks."""

    __slots__ = (
        "route",
        "method",
        "path",
        "client",
        "number",
        "started",
        "keep_alive",
        "headers",
        "query",
        "connector",
        "channel",
        "chunks",
        "size",
        "stamp",
        "more_body",
        "answer",
        "close",
        "continue_due",
        "response_started",
        "response_complete",
        "disconnected",
        "message_event",
    )

    def __init__(
        self,
        route: str,
        method: str,
        path: str,
        client: str,
        number: int,
        keep_alive: bool,
        now: float,
    ) -> None:
        self.route = route
        self.method = method
        self.path = path
        self.client = client
        self.number = number
        self.started = time.perf_counter()
        self.keep_alive = keep_alive
        self.headers: dict[bytes, bytes] = {}
        self.query: dict[str, str] = {}
        self.connector: Any = None
        self.channel: str | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.stamp = now  # when the last body byte (or the headers) arrived
        self.more_body = True  # the parser has not seen the end of this request yet
        self.answer: bytes | None = None  # the response, once known
        self.close = False  # close the connection after the answer
        self.continue_due = False  # a 100 Continue to send when this request is first in line
        self.response_started = False
        self.response_complete = False  # the answer was written
        self.disconnected = False
        self.message_event = _NO_EVENT


class _Prefix:
    """The ``date`` header line(s) uvicorn keeps current, as bytes, rebuilt once a second."""

    source: object = None
    head: bytes = b""
    success: bytes = b""


class HecWireProtocol(GuardedHttpProtocol):
    """The worker's HTTP protocol with the HEC routes served from the parser's callbacks."""

    __slots__ = ("_exchanges", "_drain_close", "_idle_since", "_via_proxy")  # see http.py's

    hec: HecHandler  # set on the subclass made by wire_protocol_for
    trusted: Any = None  # uvicorn's trusted proxies (X-Forwarded-For names the client), or None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._exchanges: list[HecExchange] = []
        self._drain_close = False
        self._idle_since: float | None = None  # answered everything at; the keep-alive clock
        super().connection_made(transport)
        peer = self.client[0] if self.client else None
        self._via_proxy = self.trusted is not None and peer in self.trusted

    def connection_lost(self, exc: Exception | None) -> None:
        for ex in self._exchanges:
            ex.disconnected = True
        self._exchanges.clear()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if isinstance(self.cycle, HecExchange) and self._exchanges:
            self._drain_close = True  # answer what is open, then close
        else:
            super().shutdown()

    # parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        # no ASGI scope yet: it is made only if the request turns out not to be HEC's
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        if self._head_since is None:
            self._head_since = self.loop.time()
        self._head_begun = True
        self._head_first = self._head_raw = 0

    def on_headers_complete(self) -> None:
        self._check_head()
        parsed = httptools.parse_url(self.url)
        path = parsed.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        route = route_of(path)
        cycle = self.cycle
        if (
            route is None
            or route == "ack"
            or self.limits.sandbox
            or (
                cycle is not None
                and not isinstance(cycle, HecExchange)
                and not cycle.response_complete
            )
            or self.parser.should_upgrade()
            or sum(1 for name, _ in self.headers if name == b"authorization") > 1
        ):
            self._to_asgi()
            return
        parser = self.parser
        method = parser.get_method().decode("ascii")
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        client = self._client_address()
        number = self.hec.next_number()
        ex = HecExchange(route, method, path, client, number, keep_alive, self.loop.time())
        self.cycle = ex  # type: ignore[assignment]
        self._exchanges.append(ex)
        if len(self._exchanges) >= MAX_IN_FLIGHT:
            self.flow.pause_reading()
        hec = self.hec
        try:
            ex.headers, ex.query = request_parts(self.headers, parsed.query or b"")
            ex.connector, ex.channel = hec.authorize(route, method, ex.headers, ex.query, client)
            hec.gate()
            hec.body_length(ex.headers)
        except Reply as reply:
            if self.expect_100_continue:
                ex.close = True  # the client may wait for a 100 that will not come
            self._answer(ex, reply)
            return
        except Exception:
            log.exception("HEC request failed")
            self._answer(ex, reject(8))
            return
        if self.expect_100_continue:
            ex.continue_due = True
            if self._exchanges[0] is ex:
                self._send_continue(ex)

    def on_body(self, body: bytes) -> None:
        ex = self.cycle
        if not isinstance(ex, HecExchange):
            super().on_body(body)
            return
        ex.stamp = self.loop.time()
        if ex.answer is not None:
            return  # answered already: the rest of its body is read and dropped
        ex.size += len(body)
        if ex.size > self.hec.settings.max_body_bytes:
            self._answer(ex, plain(413, "Content too large", Connection="close"))
            return
        ex.chunks.append(body)

    def on_message_complete(self) -> None:
        ex = self.cycle
        if not isinstance(ex, HecExchange):
            super().on_message_complete()
            return
        ex.more_body = False
        if ex.answer is not None:
            return
        chunks = ex.chunks
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        ex.chunks = []
        hec = self.hec
        try:
            body = hec.decode_body(ex.headers, raw)
            staged = hec.stage(ex.connector, ex.channel, ex.headers, ex.query, ex.route, body)
            if not staged.out.count:
                self._answer(ex, hec.settle(staged, None))
                return
        except Reply as reply:
            self._answer(ex, reply)
            return
        except Exception:
            log.exception("HEC request failed")
            self._answer(ex, reject(8))
            return
        hec.rt.submit_then(staged.item(), staged.out.nbytes, partial(self._committed, ex, staged))

    def _client_address(self) -> str:
        """The client's address, as uvicorn's proxy-headers middleware would make it."""
        client = self.client[0] if self.client else "-"
        if self._via_proxy:
            forwarded = [value for name, value in self.headers if name == b"x-forwarded-for"]
            if forwarded:
                host, _ = self.trusted.get_trusted_client_address(
                    b", ".join(forwarded).decode("latin1")
                )
                if host:
                    return str(host)
        return client

    def _committed(
        self, ex: HecExchange, staged: Staged, outcome: AppendResult | BaseException
    ) -> None:
        try:
            if isinstance(outcome, Exception):
                reply = append_failed(outcome)
            elif isinstance(outcome, BaseException):  # cancelled: nothing is known to be stored
                reply = reject(8)
            else:
                reply = self.hec.settle(staged, outcome.ack_id)
        except Reply as raised:
            reply = raised
        except Exception:
            log.exception("HEC request failed")
            reply = reject(8)
        self._answer(ex, reply)

    # answers ------------------------------------------------------------------------------

    def _answer(self, ex: HecExchange, reply: Reply) -> None:
        """Record ``reply`` as ``ex``'s answer and write every answer now due, in order."""
        ex.answer = self._encode(ex, reply)
        if reply.connector is None:
            reply.connector = ex.connector
        self.hec.record(ex.route, ex.method, ex.path, ex.client, reply, ex.started, ex.number)
        if ex.disconnected:
            return
        exchanges = self._exchanges
        transport = self.transport
        while exchanges and exchanges[0].answer is not None:
            head = exchanges.pop(0)
            if not transport.is_closing():
                transport.write_now(head.answer)  # type: ignore[attr-defined]
            head.response_started = head.response_complete = True
            if head.close or (self._drain_close and not exchanges):
                for rest in exchanges:
                    rest.disconnected = True
                exchanges.clear()
                transport.close()
                return
        if not exchanges:
            cycle: Any = self.cycle
            if isinstance(cycle, HecExchange) and not cycle.more_body:
                self.cycle = None  # type: ignore[assignment]  # an idle connection holds no request
                self.headers = []
                self.url = b""
            self.on_response_complete()  # resumes reading; the keep-alive clock or what waits
        else:
            first = exchanges[0]
            if first.continue_due:
                self._send_continue(first)
            if self.flow.read_paused and len(exchanges) < MAX_IN_FLIGHT and not self.pipeline:
                self.flow.resume_reading()

    def on_response_complete(self) -> None:
        """uvicorn's, with the keep-alive deadline kept by the sweep rather than a timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_since = self.loop.time()

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None
        super()._unset_keepalive_if_required()

    def _send_continue(self, ex: HecExchange) -> None:
        ex.continue_due = False
        if ex.more_body and ex.size == 0 and not self.transport.is_closing():
            self.transport.write(_CONTINUE)

    def _encode(self, ex: HecExchange, reply: Reply) -> bytes:
        prefix = _Prefix
        defaults = self.server_state.default_headers
        if prefix.source is not defaults:
            prefix.head = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
            prefix.success = b"%s%s%scontent-length: 27\r\n\r\n" % (
                STATUS_LINE[200],
                prefix.head,
                _JSON,
            )
            prefix.source = defaults
        body = reply.body
        close = ex.close or not ex.keep_alive
        if reply.status == 200 and body == b'{"text":"Success","code":0}' and not close:
            if ex.method == "HEAD":
                return prefix.success
            return prefix.success + body
        parts = [STATUS_LINE[reply.status], prefix.head]
        if body:
            parts.append(_JSON)
        parts.append(b"content-length: %d\r\n" % len(body))
        for name, value in reply.headers:
            if name == b"connection" and b"close" in value.lower():
                close = True
                continue
            parts.append(name + b": " + value + b"\r\n")
        if close:
            parts.append(b"connection: close\r\n")
            ex.close = True
        parts.append(b"\r\n")
        if ex.method != "HEAD":
            parts.append(body)
        return b"".join(parts)

    # the ASGI path ------------------------------------------------------------------------

    def _to_asgi(self) -> None:
        """Make the ASGI scope the request skipped, and hand it to uvicorn's cycle."""
        headers, url, expect = self.headers, self.url, self.expect_100_continue
        HttpToolsProtocol.on_message_begin(self)
        self.headers = self.scope["headers"] = headers
        self.url = url
        self.expect_100_continue = expect
        self.scope[SOCKET_KEY] = self._socket  # type: ignore[literal-required]
        self._start_asgi_request()

    # deadlines ----------------------------------------------------------------------------

    def check_deadlines(self, now: float) -> None:
        idle = self._idle_since
        if idle is not None and now - idle > self.timeout_keep_alive:
            self._idle_since = None
            if not self.transport.is_closing():
                self.transport.close()
            return
        ex = self.cycle
        if (
            isinstance(ex, HecExchange)
            and ex.more_body
            and now - ex.stamp > self.limits.body_timeout
            and not self.flow.read_paused
            and not self.transport.is_closing()
        ):
            if ex.answer is None:
                self._answer(ex, plain(408, "Request timeout", Connection="close"))
            else:  # answered without reading it all: just hang up
                self.limits.refused("body_timeout")
                self.transport.close()
            return
        super().check_deadlines(now)


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    """The app of the middleware whose trusted-hosts check the wire path borrows."""


def wire_protocol_for(
    settings: Settings, metrics: Metrics | None, hec: HecHandler
) -> type[HecWireProtocol]:
    """The protocol class uvicorn should use: HEC on the wire path, the rest through ASGI."""

    class LakehoseWireProtocol(HecWireProtocol):
        limits = Limits(settings, metrics)

    LakehoseWireProtocol.hec = hec
    if settings.proxy_list:
        LakehoseWireProtocol.trusted = ProxyHeadersMiddleware(
            _no_app, settings.proxy_list
        ).trusted_hosts
    return LakehoseWireProtocol
