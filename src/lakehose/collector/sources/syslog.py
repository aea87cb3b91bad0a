"""The ``syslog`` (UDP, TCP) and ``syslog_tls`` sources.

Messages are forwarded as received, RFC 3164 or RFC 5424 alike: the sink side parses them
(``parser: syslog`` makes lakehose read the priority, time, host and structured data). TCP
framing is detected per message (RFC 6587): a frame that starts with digits and a space is
octet-counted, anything else ends at a newline. A message over ``maxEventSize`` is cut there
and the rest of it skipped. UDP has no back-pressure: while the delivery makes us wait,
datagrams are buffered up to a bound and then dropped, counted as ``dropped``. A thread
reads the UDP socket, so a busy event loop does not overflow the kernel's buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import select
import socket
import ssl
import threading
from typing import Any

from lakehose.collector.sources.base import Outlet

log = logging.getLogger(__name__)

_OCTET = re.compile(rb"(\d{1,10}) ")
UDP_BUFFER_LIMIT = 200_000
UDP_BATCH = 2000
UDP_RCVBUF = 16 << 20
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux


class Framer:
    """Splits a TCP byte stream into syslog messages (octet counting or newline framing)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.buf = b""
        self.skip = 0  # bytes still to drop: the tail of an oversized frame
        self.truncated = 0

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buf + data if self.buf else data
        out: list[bytes] = []
        i = 0
        n = len(buf)
        while i < n:
            if self.skip:
                if self.skip > 0:  # octet-counted tail
                    take = min(self.skip, n - i)
                    i += take
                    self.skip -= take
                    continue
                nl = buf.find(b"\n", i)  # skip < 0: drop to the next newline
                if nl < 0:
                    i = n
                    break
                i = nl + 1
                self.skip = 0
                continue
            c = buf[i]
            if 0x30 <= c <= 0x39:
                m = _OCTET.match(buf, i)
                if m is None and n - i <= 11 and buf.find(b" ", i) < 0:
                    break  # the length may still be arriving
                if m is not None:
                    length = int(m.group(1))
                    start = m.end()
                    avail = n - start
                    if length <= self.max_size:
                        if avail < length:
                            break
                        out.append(buf[start : start + length])
                        i = start + length
                        continue
                    if avail < self.max_size:
                        break  # wait for the part we keep
                    out.append(buf[start : start + self.max_size])
                    self.truncated += 1
                    consumed = min(avail, length)
                    i = start + consumed
                    self.skip = length - consumed
                    continue
            nl = buf.find(b"\n", i)
            if nl < 0:
                if n - i > self.max_size:
                    out.append(buf[i : i + self.max_size])
                    self.truncated += 1
                    self.skip = -1
                    i = n
                break
            if nl - i > self.max_size:
                out.append(buf[i : i + self.max_size])
                self.truncated += 1
            elif nl > i:
                out.append(buf[i:nl])
            i = nl + 1
        self.buf = buf[i:]
        return [m.rstrip(b"\r\n\x00") for m in out if m.strip(b"\r\n\x00")]

    def close(self) -> list[bytes]:
        """A last unterminated message, when the peer closed the connection."""
        rest, self.buf = self.buf.strip(b"\r\n\x00 "), b""
        return [rest[: self.max_size]] if rest and not self.skip else []


def _text(messages: list[bytes]) -> list[str]:
    return [m.decode("utf-8", "replace") for m in messages]


class SyslogSource:
    """Listens for syslog over UDP, TCP or TLS and puts what arrives."""

    def __init__(self, outlet: Outlet) -> None:
        self.outlet = outlet
        self.config = outlet.config
        self.address = ""
        self._stopping = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._udp: list[tuple[bytes, str]] = []
        self._udp_lock = threading.Lock()
        self._udp_ready = asyncio.Event()
        self._peers: dict[str, dict[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        outlet.stats.gauges.update(connections=0, dropped=0, truncated=0)

    def _fields(self, ip: str) -> dict[str, str]:
        f = self._peers.get(ip)
        if f is None:
            if len(self._peers) > 10_000:
                self._peers.clear()
            f = self._peers[ip] = self.outlet.fields({"@collect.peer": ip})
        return f

    async def run(self) -> None:
        cfg = self.config
        loop = asyncio.get_running_loop()
        if cfg.type == "syslog" and cfg.mode == "udp":
            family = socket.AF_INET6 if ":" in cfg.bind else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:  # beyond net.core.rmem_max when we may (CAP_NET_ADMIN)
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, UDP_RCVBUF)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            sock.bind((cfg.bind, cfg.port))
            sock.setblocking(False)  # read until empty, then wait: no poll per datagram
            self.address = "{}:{}".format(*sock.getsockname()[:2])
            flusher = loop.create_task(self._flush_udp())
            reader = threading.Thread(
                target=self._receive_udp, args=(sock, loop), name=f"udp-{cfg.name}", daemon=True
            )
            reader.start()
            await self._stopping.wait()
            await asyncio.to_thread(reader.join)
            sock.close()
            await flusher
            return
        tls = self._tls_context() if cfg.type == "syslog_tls" else None
        self._server = await asyncio.start_server(
            self._connection, cfg.bind, cfg.port, ssl=tls, limit=1 << 20
        )
        self.address = "{}:{}".format(*self._server.sockets[0].getsockname()[:2])
        log.info("source %s: listening on %s (%s)", cfg.name, self.address, cfg.mode or "tls")
        await self._stopping.wait()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        assert cfg.certificate_file is not None and cfg.key_file is not None
        ctx.load_cert_chain(cfg.certificate_file, cfg.key_file)
        if cfg.client_ca_file is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cfg.client_ca_file)
        return ctx

    def stop(self) -> None:
        self._stopping.set()

    async def aclose(self) -> None:
        pass

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        stats = self.outlet.stats
        stats.gauges["connections"] += 1
        peer: Any = writer.get_extra_info("peername")
        ip = str(peer[0]) if peer else "unknown"
        fields = self._fields(ip)
        framer = Framer(self.config.max_event_size)
        try:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                messages = framer.feed(data)
                if messages:
                    _ = await self.outlet.send(
                        _text(messages), fields, source=self.config.name, host=ip
                    )
            rest = framer.close()
            if rest:
                _ = await self.outlet.send(_text(rest), fields, source=self.config.name, host=ip)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("source %s: connection from %s ended: %s", self.config.name, ip, exc)
            stats.errors += 1
        finally:
            stats.gauges["truncated"] += framer.truncated
            stats.gauges["connections"] -= 1
            writer.close()
            self._tasks.discard(task)

    def _receive_udp(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """A thread of its own, so datagrams are taken off the socket while the event
        loop is busy (compressing, sending): the kernel buffer alone would overflow."""
        gauges = self.outlet.stats.gauges
        recv = sock.recvfrom
        while not self._stopping.is_set():
            try:
                data, addr = recv(65535)
            except BlockingIOError:
                select.select([sock], [], [], 0.2)
                continue
            except OSError:
                break
            with self._udp_lock:  # else an append to the list the flusher just took is lost
                buffered = self._udp
                if len(buffered) >= UDP_BUFFER_LIMIT:
                    gauges["dropped"] += 1
                    continue
                buffered.append((data, addr[0]))
                full = len(buffered) == UDP_BATCH
            if full:
                loop.call_soon_threadsafe(self._udp_ready.set)

    async def _flush_udp(self) -> None:
        limit = self.config.max_event_size
        stats = self.outlet.stats
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._udp_ready.wait(), 0.05)
            self._udp_ready.clear()
            with self._udp_lock:
                batch, self._udp = self._udp, []
            by_peer: dict[str, list[str]] = {}
            for data, ip in batch:
                if len(data) > limit:
                    data = data[:limit]
                    stats.gauges["truncated"] += 1
                text = data.decode("utf-8", "replace").rstrip("\r\n\x00")
                if text:
                    by_peer.setdefault(ip, []).append(text)
            for ip, texts in by_peer.items():
                _ = await self.outlet.send(
                    texts, self._fields(ip), source=self.config.name, host=ip
                )
            if stopping:
                return
