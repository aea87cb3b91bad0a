"""The ``stdin`` source: the collector's standard input, line by line, until its end."""

from __future__ import annotations

import asyncio
import sys

from lakehose.collector.sources.base import Outlet
from lakehose.collector.sources.lines import LineSplitter


class StdinSource:
    """Reads standard input to its end; the collector exits once it is delivered."""

    finite = True

    def __init__(self, outlet: Outlet) -> None:
        self.outlet = outlet
        self._receipts: list[asyncio.Future[None]] = []
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer
        )
        fields = self.outlet.fields()
        splitter = LineSplitter(self.outlet.config.max_event_size)
        name = self.outlet.config.name
        try:
            while not self._stopping.is_set():
                read = asyncio.ensure_future(reader.read(256 * 1024))
                stop = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not read.done():
                    read.cancel()
                    break
                data = read.result()
                texts = splitter.feed(data) if data else splitter.close()
                if texts:
                    self._receipts.append(await self.outlet.send(texts, fields, source=name))
                    self._receipts = [r for r in self._receipts if not r.done()]
                if not data:
                    break
            if self._receipts:  # finished: done when everything read is safe
                await asyncio.gather(*self._receipts, return_exceptions=True)
        finally:
            transport.close()

    def stop(self) -> None:
        self._stopping.set()

    async def aclose(self) -> None:
        pass
