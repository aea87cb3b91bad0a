"""The ``stdin`` source: the collector's standard input, line by line, until its end."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from lakehose.collector.sources.base import Outlet
from lakehose.collector.sources.lines import LineSplitter

CHUNK = 256 * 1024


class StdinSource:
    """Reads standard input to its end; the collector exits once it is delivered."""

    def __init__(self, outlet: Outlet) -> None:
        self.outlet = outlet
        self._receipts: list[asyncio.Future[None]] = []
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        transport: asyncio.BaseTransport | None = None
        read: Callable[[], Awaitable[bytes]]
        try:
            reader = asyncio.StreamReader(limit=1 << 20)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
            )
            read = lambda: reader.read(CHUNK)  # noqa: E731
        except ValueError:  # a regular file (collect < file.log): read it on a thread
            read = lambda: asyncio.to_thread(sys.stdin.buffer.read, CHUNK)  # noqa: E731
        fields = self.outlet.fields()
        splitter = LineSplitter(self.outlet.config.max_event_size)
        name = self.outlet.config.name
        try:
            while not self._stopping.is_set():
                chunk = asyncio.ensure_future(read())
                stop = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({chunk, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not chunk.done():
                    chunk.cancel()
                    break
                data = chunk.result()
                texts = splitter.feed(data) if data else splitter.close()
                if texts:
                    self._receipts.append(await self.outlet.send(texts, fields, source=name))
                    self._receipts = [r for r in self._receipts if not r.done()]
                if not data:
                    break
            if self._receipts:  # finished: done when everything read is safe
                await asyncio.gather(*self._receipts, return_exceptions=True)
        finally:
            if transport is not None:
                transport.close()

    def stop(self) -> None:
        self._stopping.set()

    async def aclose(self) -> None:
        pass
