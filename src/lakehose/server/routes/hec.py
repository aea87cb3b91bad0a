"""The HEC endpoints, as a plain ASGI handler (the ingest hot path skips framework routing).

Order of checks, per ``specs/hec-protocol.md`` §3.2 and §12: route and method;
the client address's failed-key lockout (before any key is compared, see
``auth/lockout.py``); authentication (before the channel and before the body); channel and ack rules;
back-pressure and rate limits (503 code 9, nothing stored); the body within its
size and time limits; decoding; then the valid prefix is committed and only then
answered. Replies are Splunk's JSON, keys in Splunk's order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from lakehose.auth.secrets import digest
from lakehose.parsers.hec import (
    IngestContext,
    Normalised,
    Reject,
    decode_events,
    decode_raw,
)
from lakehose.parsers.timestamps import BadTime, epoch_to_ns
from lakehose.server.protocols.body import BodyError, decode_content, read_body
from lakehose.server.replies.hec import (
    SUCCESS,
    Reply,
    append_failed,
    body_failed,
    hec_reply,
    plain,
    reject,
)
from lakehose.server.runtime import Runtime
from lakehose.server.sandbox import HEC_FAULTS
from lakehose.storage.base import PendingAppend
from lakehose.storage.catalog.connectors import Connector, check_index
from lakehose.storage.refusals import Refusal, excerpt_of, offending_event

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ROUTES: dict[str, str] = {
    "/services/collector": "event",
    "/services/collector/event": "event",
    "/services/collector/event/1.0": "event",
    "/services/collector/raw": "raw",
    "/services/collector/raw/1.0": "raw",
    "/services/collector/health": "health",
    "/services/collector/health/1.0": "health",
    "/services/collector/ack": "ack",
    "/services/collector/ack/1.0": "ack",
    "/api/v1/ingest/hec": "event",
    "/api/v1/ingest/hec/raw": "raw",
}
_COLLECTOR = "/services/collector"
_ALLOW = {"health": b"GET,HEAD,OPTIONS"}
_ALLOW_POST = b"POST,OPTIONS"
_NOT_FOUND = b'{"text":"The requested URL was not found on this server.","code":404}'
_NOT_ALLOWED = b'{"text":"Method not allowed; see the Allow header","code":405}'
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RAW_META = frozenset(
    {"host", "source", "sourcetype", "index", "time", "channel", "token", "auto_extract_timestamp"}
)
_JSON_HEADERS = [
    (b"content-type", b"application/json; charset=UTF-8"),
    (b"x-content-type-options", b"nosniff"),
]


def route_of(path: str) -> str | None:
    """The HEC endpoint a path names: event, raw, health, ack, ``unknown`` (a 404), or None.

    A prefix before ``/services/collector`` is ignored, so FalconPy's HEC helper can
    reach lakehose with ``api_url_key="host:port/prefix"``.
    """
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    found = ROUTES.get(path)
    if found is not None:
        return found
    i = path.find(_COLLECTOR)
    if i < 0:
        return None
    return ROUTES.get(path[i:], "unknown")


@dataclass(slots=True)
class Staged:
    """A request's decoded events, waiting for their commit."""

    connector: Connector
    channel: str | None
    out: Normalised
    rejection: Reject | None
    body: bytes  # decompressed: its size for the access log, the refused event for the ring
    raw: bool  # a /raw request

    def item(self) -> PendingAppend:
        return PendingAppend(self.out.slices, self.channel if self.connector.use_ack else None)


_WANTED = (
    b"authorization",
    b"content-length",
    b"content-encoding",
    b"x-splunk-request-channel",
    b"host",
)


def request_parts(
    raw_headers: Iterable[tuple[bytes, bytes]], query_string: bytes
) -> tuple[dict[bytes, bytes], dict[str, str]]:
    """The headers HEC reads (lower-case names; the last of each wins) and the query."""
    headers = {name: value for name, value in raw_headers if name in _WANTED}
    qs = query_string
    query = dict(parse_qsl(qs.decode("latin-1"), keep_blank_values=True)) if qs else {}
    return headers, query


class HecHandler:
    """ASGI callable for every HEC path."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.settings = runtime.settings
        self._requests = 0
        self.access = runtime.access_log
        self._contexts: dict[int, tuple[Connector, int, IngestContext]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        route = route_of(scope["path"]) or "unknown"
        number = self.next_number()  # this request's: others may come in while it waits
        try:
            reply = await self._handle(route, scope, receive)
        except Reply as done:
            reply = done
        except Exception:
            log.exception("HEC request failed")
            reply = reject(8)
        body = b"" if scope["method"] == "HEAD" else reply.body
        headers = [*_JSON_HEADERS] if reply.body else []
        headers.append((b"content-length", str(len(reply.body)).encode()))
        headers.extend(reply.headers)
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        client = (scope.get("client") or ("-", 0))[0]
        self.record(route, scope["method"], scope["path"], client, reply, started, number)

    def next_number(self) -> int:
        """A new request's number (its access-log id within this worker)."""
        self._requests += 1
        return self._requests

    def record(
        self,
        route: str,
        method: str,
        path: str,
        client: str,
        reply: Reply,
        started: float,
        number: int,
    ) -> None:
        """Count an answered request in the metrics, its refusal in the connector's ring,
        and add its access-log line."""
        self.rt.metrics.request(route, reply.code)
        # The path only for known routes: an unknown one is the client's text, and a
        # client may have put a key in it (access lines are not redacted, see logs.py).
        path = path[:200] if route != "unknown" else "(unknown path)"
        if reply.status >= 400 and reply.connector is not None and reply.body:
            answer = orjson.loads(reply.body)
            self.rt.refusals.add(
                reply.connector.id,
                Refusal(
                    time=time.time(),
                    client=client,
                    status=reply.status,
                    code=reply.code,
                    text=answer.get("text", ""),
                    event_number=answer.get("invalid-event-number"),
                    excerpt=excerpt_of(reply.offending),
                    path=path,
                ),
            )
        if self.access is not None:
            ms = (time.perf_counter() - started) * 1000
            connector = reply.connector.name if reply.connector is not None else None
            request_id = f"{self.rt.pid:x}-{number:x}"
            self.access.add(
                f"{request_id} {client} {method} {path} "
                f"{reply.status} code={reply.code} events={reply.events} {ms:.1f}ms",
                {
                    "request_id": request_id,
                    "client": client,
                    "method": method,
                    "path": path,
                    "status": reply.status,
                    "hec_code": reply.code,
                    "connector": connector,
                    "events": reply.events,
                    "bytes": reply.nbytes,
                    "duration_ms": round(ms, 3),
                },
            )

    async def _handle(self, route: str, scope: Scope, receive: Receive) -> Reply:
        """The answer to a HEC request: returned on success, raised as a Reply otherwise."""
        headers, query = request_parts(scope["headers"], scope.get("query_string", b""))
        address = (scope.get("client") or ("-", 0))[0]
        connector, channel = self.authorize(route, scope["method"], headers, query, address)
        try:
            done = await self._ingest(connector, channel, route, scope, headers, query, receive)
        except Reply as refused:
            refused.connector = connector
            raise
        done.connector = connector
        return done

    async def _ingest(
        self,
        connector: Connector,
        channel: str | None,
        route: str,
        scope: Scope,
        headers: dict[bytes, bytes],
        query: dict[str, str],
        receive: Receive,
    ) -> Reply:
        """The answer to an authenticated request (a Reply raised for a refusal)."""
        if route == "ack":
            await self._ack(connector, channel, headers, receive)
        if self.rt.sandbox.enabled:
            await self._sandbox_fault(scope)
        self.gate()
        body = await self._read(headers, receive)
        staged = self.stage(connector, channel, headers, query, route, body)
        ack_id = None
        if staged.out.count:
            try:
                result = await self.rt.append(staged.item(), staged.out.nbytes)
            except Exception as exc:
                raise append_failed(exc) from None
            ack_id = result.ack_id
            if self.rt.sandbox.enabled and self.rt.sandbox.take("hec_close_after_commit"):
                self.rt.metrics.accepted(connector.name, staged.out.count, staged.out.nbytes)
                _hang_up(scope)
        return self.settle(staged, ack_id)

    # the steps, shared with the HEC wire protocol (server/protocols/hec_wire.py) -----------

    def authorize(
        self,
        route: str,
        method: str,
        headers: dict[bytes, bytes],
        query: dict[str, str],
        address: str,
    ) -> tuple[Connector, str | None]:
        """Route, method, key and channel: the connector and channel, or a Reply raised."""
        if route == "unknown":
            raise Reply(404, _NOT_FOUND, 404)
        if method == "OPTIONS":
            raise Reply(200, b"", 0, [(b"allow", _ALLOW.get(route, _ALLOW_POST))])
        if route == "health":
            if method not in ("GET", "HEAD"):
                raise Reply(405, _NOT_ALLOWED, 405, [(b"allow", _ALLOW["health"])])
            raise reject(self.rt.health_code())
        if method != "POST":
            raise Reply(405, _NOT_ALLOWED, 405, [(b"allow", _ALLOW_POST)])
        connector = self._authenticate(headers, query, address)
        try:
            return connector, self._channel(connector, headers, query, route)
        except Reply as refused:
            refused.connector = connector
            raise

    def gate(self) -> None:
        """Shutting down or busy: 503 before the body is read."""
        if self.rt.shutting_down:
            raise reject(23, Retry_After="5")
        if self.rt.busy():
            raise reject(9, Retry_After="1")

    def body_length(self, headers: dict[bytes, bytes]) -> int | None:
        """The declared body length (400 when unreadable, 413 over the limit)."""
        try:
            length_text = headers.get(b"content-length")
            length = int(length_text) if length_text else None
        except ValueError:
            raise plain(400, "Invalid Content-Length", Connection="close") from None
        if length is not None and length > self.settings.max_body_bytes:
            raise plain(413, "Content too large", Connection="close")
        return length

    def decode_body(self, headers: dict[bytes, bytes], raw: bytes) -> bytes:
        """The body after its ``Content-Encoding``, within the size limit."""
        s = self.settings
        try:
            encoding = headers.get(b"content-encoding", b"").decode("latin-1")
            return decode_content(raw, encoding, s.max_body_bytes, allow_zstd=s.enable_zstd)
        except BodyError as exc:
            raise body_failed(exc) from None

    def stage(
        self,
        connector: Connector,
        channel: str | None,
        headers: dict[bytes, bytes],
        query: dict[str, str],
        route: str,
        body: bytes,
    ) -> Staged:
        """Rate limits, then the body decoded into events (nothing stored yet)."""
        rt = self.rt
        wait = rt.rate_wait(connector, len(body))
        if wait:
            raise reject(9, Retry_After=str(max(1, round(wait + 0.5))))
        ctx = self._context(connector, query, route) if query else self._cached_context(connector)
        ctx.now_ns = time.time_ns()
        addressed = headers.get(b"host")
        ctx.addressed_host = addressed.decode("latin-1")[:255] if addressed else None
        if route == "raw":
            out, rejection = decode_raw(body, ctx)
        else:
            out, rejection = decode_events(body, ctx)
        return Staged(connector, channel, out, rejection, body, route == "raw")

    def settle(self, staged: Staged, ack_id: int | None) -> Reply:
        """The answer once the staged events (if any) are committed."""
        out = staged.out
        if out.count:
            self.rt.metrics.accepted(staged.connector.name, out.count, out.nbytes)
        if staged.rejection is not None:
            rejection = staged.rejection
            rej = reject(rejection.code, rejection.index, ack_id if out.count else None)
            rej.events, rej.nbytes = out.count, len(staged.body)
            rej.offending = offending_event(staged.body, rejection.index, staged.raw)
            raise rej
        done = Reply(200, SUCCESS if ack_id is None else hec_reply(0, None, ack_id), 0)
        done.events, done.nbytes = out.count, len(staged.body)
        return done

    # steps --------------------------------------------------------------------------------

    async def _sandbox_fault(self, scope: Scope) -> None:
        """An armed fault of the sandbox (``server/sandbox.py``), before the body is read."""
        fault = self.rt.sandbox.take(*HEC_FAULTS)
        if fault is None:
            return
        name = fault.fault
        if name == "hec_busy":
            raise reject(9, Retry_After="1")
        if name == "hec_throttle":
            retry = str(max(1, math.ceil(fault.params.get("retry_after", 1))))
            raise plain(429, "Too many requests", Retry_After=retry)
        if name == "hec_error":
            raise reject(8)
        if name == "hec_delay":
            await asyncio.sleep(float(fault.params.get("seconds", 2)))
            return
        _hang_up(scope)  # hec_close_before_commit

    def _authenticate(
        self, headers: dict[bytes, bytes], query: dict[str, str], address: str
    ) -> Connector:
        """The connector of the request's key; codes 1-4 and 16 otherwise, 429 when locked out.

        Keys are found by their SHA-256 digest (a dictionary, then an indexed catalog
        lookup), never by comparing key text: any timing difference depends on the digest,
        which a caller cannot steer without a preimage of SHA-256, so it tells nothing
        about a key. A locked-out address is refused before its key is even hashed.
        """
        lockout = self.rt.lockout
        wait = lockout.wait(address, time.monotonic())
        if wait:
            raise plain(
                429,
                "Too many failed authentication attempts",
                Retry_After=str(max(1, math.ceil(wait))),
            )
        try:
            return self._connector(headers, query)
        except Reply as refused:
            if refused.code in (3, 4) and self.rt.hec_key_failed(address):
                log.warning(
                    "HEC: %d failed key checks from %s within %gs; refusing its requests (429)",
                    int(lockout.limit),
                    address,
                    self.settings.hec_auth_fail_window,
                )
            raise

    def _connector(self, headers: dict[bytes, bytes], query: dict[str, str]) -> Connector:
        if "token" in query:
            key = query["token"].strip()
            found = self.rt.connector_for_key(key, digest(key)) if key else None
            if found is None:
                raise reject(4)
            if not found.allow_query_token:
                raise reject(16)
        else:
            raw = headers.get(b"authorization", b"").decode("latin-1").strip()
            if not raw:
                raise reject(2)
            scheme, _, credential = raw.partition(" ")
            scheme = scheme.lower()
            credential = credential.strip()
            if scheme in ("splunk", "bearer"):
                key = credential
            elif scheme == "basic":
                if not credential:
                    raise reject(2)
                try:
                    decoded = base64.b64decode(credential, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    raise reject(3) from None
                if ":" not in decoded:
                    raise reject(3)
                key = decoded.partition(":")[2].strip()
            else:
                raise reject(3)
            if not key:
                raise reject(2)
            found = self.rt.connector_for_key(key, digest(key))
            if found is None:
                raise reject(4)
        if not found.enabled:
            raise reject(1)
        return found

    @staticmethod
    def _channel(
        connector: Connector, headers: dict[bytes, bytes], query: dict[str, str], route: str
    ) -> str | None:
        if not connector.use_ack:
            if route == "ack":
                raise reject(14)
            return None
        channel = headers.get(b"x-splunk-request-channel", b"").decode("latin-1").strip()
        channel = channel or query.get("channel", "").strip()
        if not channel:
            raise reject(10)
        if not _GUID.match(channel):
            raise reject(11)
        return channel.lower()

    async def _read(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        length = self.body_length(headers)
        try:
            raw = await read_body(
                receive, length, self.settings.max_body_bytes, self.rt.body_deadlines
            )
        except BodyError as exc:
            raise body_failed(exc) from None
        return self.decode_body(headers, raw)

    def _cached_context(self, connector: Connector) -> IngestContext:
        """The context of a request without query parameters: built once per connector.

        Safe to share: decoding is synchronous, and the caller sets ``now_ns`` just before.
        """
        key = id(connector)
        cached = self._contexts.get(key)
        if cached is not None and cached[0] is connector and cached[1] == self.rt.generation:
            return cached[2]
        if len(self._contexts) > 1024:
            self._contexts.clear()
        ctx = self._context(connector, {}, "event")
        self._contexts[key] = (connector, self.rt.generation, ctx)
        return ctx

    def _context(self, connector: Connector, query: dict[str, str], route: str) -> IngestContext:
        index = query.get("index") or connector.index
        if index != connector.index:
            try:
                check_index(index)
            except ValueError:
                raise reject(7, 0 if route == "raw" else None) from None
            if not connector.allows_index(index):
                raise reject(7, 0 if route == "raw" else None)
        ctx = IngestContext(
            connector=connector.name,
            index=index,
            sourcetype=query.get("sourcetype") or connector.default_sourcetype or "httpevent",
            source=query.get("source") or connector.default_source or f"http:{connector.name}",
            host=query.get("host") or None,
            default_host=connector.default_host,
            now_ns=time.time_ns(),
            allowed_index=lambda name: _index_ok(connector, name),
            extract=self.rt.extractor(connector.parser),
            max_event_size=self.settings.max_event_size,
        )
        ctx.grouping = getattr(ctx.extract, "grouping", None)  # /raw only, set for the cache
        if route == "raw":
            if query.get("time"):
                try:
                    ctx.time_ns = epoch_to_ns(query["time"])
                except BadTime:
                    raise reject(15, 0) from None
            extra = {k: v for k, v in query.items() if k not in _RAW_META}
            if extra:
                ctx.fields = extra
        return ctx

    async def _ack(
        self,
        connector: Connector,
        channel: str | None,
        headers: dict[bytes, bytes],
        receive: Receive,
    ) -> None:
        assert channel is not None
        body = await self._read(headers, receive)
        try:
            ids = orjson.loads(body)["acks"]
            if type(ids) is not list or not ids:
                raise ValueError("acks must be a non-empty list")
            if not all(type(i) is int and i >= 0 for i in ids):
                raise ValueError("ack ids are non-negative integers")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise reject(6) from None
        if self.rt.sandbox.enabled and self.rt.sandbox.take("ack_false"):
            raise Reply(200, orjson.dumps({"acks": {str(i): False for i in ids}}), 0)
        found = await self.rt.query_acks(channel, ids)
        answer = {str(i): i in found for i in ids}
        raise Reply(200, orjson.dumps({"acks": answer}), 0)


def _hang_up(scope: Scope) -> None:
    """Close the connection without an answer (sandbox faults), and leave the handler."""
    scope["lakehose.hang_up"]()
    raise Reply(499, b"", -1)


def _index_ok(connector: Connector, name: str) -> bool:
    if not connector.allows_index(name):
        return False
    try:
        check_index(name)
    except ValueError:
        return False
    return True
