"""A loopback forward proxy that tunnels: SOCKS5 (RFC 1928, no authentication) and HTTP
``CONNECT`` on one port, told apart by the first byte. It records the target each client
asked for, and resolves the names in ``aliases`` itself, as a remote proxy resolves names
the client cannot (``socks5h://``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Tunnel:
    port: int = 0
    aliases: dict[str, str] = field(default_factory=dict)
    targets: list[tuple[str, str, int]] = field(default_factory=list)
    """(``socks5`` or ``connect``, host as the client named it, port)."""
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            first = await reader.readexactly(1)
            if first == b"\x05":
                opened = await self._socks5(reader, writer)
            else:
                opened = await self._connect(first, reader, writer)
            if opened is not None:
                up_reader, up_writer = opened
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.writers.discard(writer)

    async def _open(
        self, kind: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        self.targets.append((kind, host, port))
        try:
            up_reader, up_writer = await asyncio.open_connection(self.aliases.get(host, host), port)
        except OSError:
            return None
        self.writers.add(up_writer)
        return up_reader, up_writer

    async def _socks5(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        methods = await reader.readexactly((await reader.readexactly(1))[0])
        if 0 not in methods:
            writer.write(b"\x05\xff")  # no acceptable method
            return None
        writer.write(b"\x05\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        port = int.from_bytes(await reader.readexactly(2), "big")
        opened = await self._open("socks5", host, port) if command == 1 else None
        status = 0 if opened is not None else (5 if command == 1 else 7)
        writer.write(bytes([5, status, 0, 1]) + socket.inet_aton("127.0.0.1") + b"\x00\x00")
        return opened

    async def _connect(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        head = first + await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return None
        host, _, port = target.rpartition(":")
        opened = await self._open("connect", host.strip("[]"), int(port))
        if opened is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return opened


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextmanager
def tunnel(aliases: dict[str, str] | None = None) -> Iterator[Tunnel]:
    """A :class:`Tunnel` listening on 127.0.0.1 (port 0) on a thread of its own."""
    state = Tunnel(aliases=aliases or {})
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[asyncio.Server] = []

    async def start() -> None:
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        state.port = server.sockets[0].getsockname()[1]
        holder.append(server)
        ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield state
    finally:

        async def stop() -> None:
            holder[0].close()
            for writer in list(state.writers):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            await holder[0].wait_closed()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        thread.join(10)
        loop.close()
