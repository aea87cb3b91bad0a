"""One process's connection to the NATS cluster, on an event loop of its own thread.

The log and catalog interfaces are partly synchronous (readers, the catalog) and are
called from several threads (the event loop, search workers, the CLI); nats-py is
asyncio. So each process keeps one :class:`NatsLink` per cluster address: a daemon thread
running a loop that owns the connection. Synchronous callers block on :meth:`call`;
async callers on another loop ``await`` :meth:`run`. One connection per process keeps the
server's connection count at the number of nodes, however many readers search opens.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from typing import Any, Generic, TypeVar

import nats
import uvloop
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import APIError
from nats.js.kv import KeyValue

from lakehose.errors import StorageError
from lakehose.storage.jetstream.auth import auth_for, how_it_connects, options_for, refusal

T = TypeVar("T")
log = logging.getLogger(__name__)
CALL_TIMEOUT = 60.0  # seconds a synchronous caller waits for the cluster
CONNECT_WAIT = 30.0  # seconds a first connection waits for a server (cluster_connect_timeout)
SCHEMES = ("nats", "tls", "ws", "wss")
_links: dict[str, NatsLink] = {}
_connect_waits: dict[str, float] = {}
_links_lock = threading.Lock()


class _TlsCloseNoise(logging.Filter):
    """Drops asyncio's warning that a TLS connection the server closed (after refusing our
    credentials, say) "returning true from eof_received() has no effect": it says nothing to
    an operator, and would stand beside the one line that explains the refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received()" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsCloseNoise())


def _noted(what: str) -> Callable[[], Awaitable[None]]:
    async def note() -> None:
        log.info("%s the NATS cluster", what)

    return note


def _shown(urls: list[str]) -> str:
    """The URLs without ``user:password@`` or tokens, for an error message."""
    return ",".join(re.sub(r"(://)[^/@]*@", r"\1***@", u) for u in urls)


def parse_urls(urls: str) -> list[str]:
    """``nats://h1:4222,nats://h2:4222`` -> the list; a bare ``host:port`` gets ``nats://``.
    Another scheme (``http://``: a lakehose node's address given by mistake) is refused
    here, rather than retried as an unreachable server."""
    out = []
    for part in urls.split(","):
        part = part.strip()
        if part:
            url = part if "://" in part else f"nats://{part}"
            scheme = url.split("://", 1)[0].lower()
            if scheme not in SCHEMES:
                raise ValueError(
                    f"{_shown([url])} is not a NATS URL: the cluster's servers are given as "
                    "nats://host:4222 (or tls://, ws://, wss://), comma-separated"
                )
            out.append(url)
    if not out:
        raise ValueError("--cluster needs at least one nats:// URL")
    return out


def set_connect_wait(urls: str, seconds: float) -> None:
    """How long this process's first connection to ``urls`` waits for a server
    (``cluster_connect_timeout``; ``storage/lake.py`` sets it from the settings)."""
    _connect_waits[",".join(parse_urls(urls))] = seconds


class NatsLink:
    """A connection to the cluster on a private loop thread; shared by the whole process."""

    def __init__(self, urls: str) -> None:
        self.urls = parse_urls(urls)
        self.loop = uvloop.new_event_loop()  # its transports and callbacks in C
        self._thread = threading.Thread(target=self._run, name="nats-link", daemon=True)
        self._thread.start()
        self._last_error = ""
        self._refused = False
        wait = _connect_waits.get(",".join(self.urls), CONNECT_WAIT)
        connecting = self.submit(self._connect())
        try:
            self.nc: Client = connecting.result(wait)
        except WaitedTooLong:
            if not connecting.done():
                connecting.cancel()
                last = f"; last error: {self._last_error}" if self._last_error else ""
                raise StorageError(
                    f"cannot reach the NATS cluster at {_shown(self.urls)}: no server answered "
                    f"in {wait:g} s{last} (is nats-server running there, and are the host and "
                    "port right? cluster_connect_timeout waits longer)"
                ) from None
            self.nc = connecting.result()  # connected just as the wait ended
        self.js: JetStreamContext = self.nc.jetstream(timeout=5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _connect(self) -> Client:
        """Connect, retrying unreachable servers for ever; but a server that refuses the
        credentials or the TLS handshake fails at once (retrying cannot help)."""
        urls = ",".join(self.urls)
        refused: asyncio.Future[Exception] = self.loop.create_future()

        async def on_error(exc: Exception) -> None:
            self._last_error = str(exc) or type(exc).__name__
            if refusal(exc):
                if refused.done() or connecting.done():  # a refusal later on: say so
                    log.warning("the NATS cluster refused this process: %s", exc)
                else:  # at the start: the error raised below says it, once
                    refused.set_result(exc)
            else:
                log.debug("nats: %s", exc)

        connecting = asyncio.ensure_future(
            nats.connect(
                self.urls,
                name="lakehose",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                connect_timeout=5,
                allow_reconnect=True,
                pending_size=64 * 1024 * 1024,
                error_cb=on_error,
                disconnected_cb=self._disconnected,
                reconnected_cb=_noted("reconnected to"),
                **options_for(urls),  # credentials and TLS (auth.py)
            )
        )
        either: list[asyncio.Future[Any]] = [connecting, refused]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            raise StorageError(
                f"the NATS cluster at {_shown(self.urls)} refused the connection"
                f" ({how_it_connects(urls, auth_for(urls))}): {refused.result()}"
            )
        try:
            nc = connecting.result()
        except Exception as exc:  # nats-py raises several unrelated types here
            raise StorageError(
                f"cannot reach the NATS cluster at {_shown(self.urls)}: {exc}"
            ) from exc
        if not nc._server_info.get("jetstream"):  # INFO says whether JetStream is on
            url = nc.connected_url
            self._refused = True  # no "disconnected" line besides the error
            await nc.close()
            where = f"{url.hostname}:{url.port}" if url else _shown(self.urls)
            raise StorageError(
                f"the NATS server at {where} does not run JetStream, which holds the lake: "
                "start nats-server with -js (or a jetstream { store_dir: ... } block in its "
                "configuration)"
            )
        return nc

    def shutdown(self, timeout: float = 2.0) -> None:
        """Close the connection (what is buffered is flushed) and stop the loop's thread."""
        if not self._thread.is_alive():
            return
        try:
            self.call(self.nc.close(), timeout)
        except Exception as exc:  # closing anyway: the process is leaving
            log.debug("closing the NATS connection: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    async def _disconnected(self) -> None:
        if not self._refused:
            log.info("disconnected from the NATS cluster")

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the link's loop and wait for it (from any other thread)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("NatsLink.call from its own loop would deadlock")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except WaitedTooLong:
            if future.done():  # its own timeout (nats-py's are TimeoutErrors too), or just done
                return future.result()
            future.cancel()
            raise StorageError(
                f"the NATS cluster at {_shown(self.urls)} did not answer in {timeout:g} s "
                "(servers down, or no quorum: lakehose status --cluster URLS shows which)"
            ) from None
        except APIError as exc:
            _explain(exc)
            raise

    async def bucket(self, config: KeyValueConfig) -> KeyValue:
        """The key-value bucket ``config`` names, created if missing. When another process
        creates it at the same moment, ours is refused and the winner's may not be visible
        from here yet; when our create timed out (a loaded cluster placing three replicas),
        nobody may have made it: look, and create again, until it is there (up to
        ``BUCKET_WAIT`` seconds; creating what exists with the same config is a no-op)."""
        name = str(config.bucket)
        deadline = asyncio.get_running_loop().time() + BUCKET_WAIT
        while True:
            try:
                return await self.js.key_value(name)
            except Exception:  # not there yet
                pass
            try:
                return await self.js.create_key_value(config)
            except Exception as exc:  # another process was first, or the answer was lost
                if getattr(exc, "err_code", None) == NOT_CLUSTERED:
                    raise
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.1)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the link's loop from another event loop."""
        try:
            return await asyncio.wrap_future(self.submit(coro))
        except APIError as exc:
            _explain(exc)
            raise


class Mailbox(Generic[T]):
    """Items posted from any thread to a handler on ``loop``: one wake-up of that loop per
    batch, however many items are posted before it runs (each ``call_soon_threadsafe``
    is a write to the loop's wake-up pipe, and a GIL hand-off)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: Callable[[list[T]], None]):
        self.loop = loop
        self.handle = handle
        self._items: deque[T] = deque()
        self._waking = False

    def post(self, item: T) -> None:
        self._items.append(item)
        if not self._waking:  # else the wake-up under way takes this item too
            self._waking = True
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._waking = False  # first: an item posted from now on wakes us again
        items = self._items
        taken = [items.popleft() for _ in range(len(items))]
        if taken:
            self.handle(taken)


BUCKET_WAIT = 30.0  # seconds to find or make a bucket (another process's, or ours again)
ELECTION_WAIT = 30.0  # seconds a request is asked again while its stream elects a leader
NOT_CLUSTERED = 10074  # JetStream's "replicas > 1 not supported in non-clustered mode"


def _explain(exc: APIError) -> None:
    """Raise a JetStream refusal the operator can act on as our error; others pass."""
    if getattr(exc, "err_code", None) == NOT_CLUSTERED:
        raise StorageError(
            "this NATS server runs JetStream without a cluster, so it keeps one copy of each "
            "stream: set cluster_replicas = 1 (config file or LAKEHOSE_CLUSTER_REPLICAS), or "
            "point --cluster at a NATS cluster of 3 or more servers"
        ) from exc


async def through_elections(ask: Callable[[], Awaitable[T]], wait: float = ELECTION_WAIT) -> T:
    """``ask()``, asked again every 0.25 s for up to ``wait`` seconds while nothing answers:
    a stream or bucket without a leader (just created, or electing one after a server died)
    answers nothing for a few seconds, then everything again."""
    from nats.js.errors import ServiceUnavailableError

    deadline = time.monotonic() + wait
    while True:
        try:
            return await ask()
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


@atexit.register
def _shut_every_link() -> None:
    """At exit, before the interpreter finalizes: a loop thread still inside uvloop's C code
    then crashed a finished command now and then (exit status 139 after its output)."""
    with _links_lock:
        links = list(_links.values())
    for link in links:
        link.shutdown()


def link_for(urls: str) -> NatsLink:
    """This process's link to the cluster at ``urls`` (created on first use)."""
    key = ",".join(parse_urls(urls))
    with _links_lock:
        link = _links.get(key)
        if link is None:
            link = _links[key] = NatsLink(urls)
        return link
