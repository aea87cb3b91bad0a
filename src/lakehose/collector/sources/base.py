"""What every source shares: its outlet to the delivery (transforms, metadata) and its counters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from lakehose.collector.config import SourceConfig
from lakehose.collector.delivery import CollectedEvent, Delivery
from lakehose.collector.transforms import TransformChain

BATCH_EVENTS = 2000
BATCH_BYTES = 1 << 20


class SourceStats:
    """Counters a source keeps for status and metrics."""

    def __init__(self) -> None:
        self.events = 0
        """Events handed to the delivery."""
        self.bytes = 0
        """Bytes read (event text, before transforms)."""
        self.filtered = 0
        """Events dropped by a ``regex_filter``."""
        self.errors = 0
        self.gauges: dict[str, int] = {}
        """Source-specific levels: ``lag_bytes`` and ``files`` for files, ``connections``..."""

    def as_dict(self) -> dict[str, int]:
        return {
            "events": self.events,
            "bytes": self.bytes,
            "filtered": self.filtered,
            "errors": self.errors,
            **self.gauges,
        }


class Outlet:
    """Turns text into :class:`CollectedEvent` with the source's metadata and puts batches."""

    def __init__(self, config: SourceConfig, delivery: Delivery, host: str) -> None:
        self.config = config
        self.delivery = delivery
        self.host = host
        self.stats = SourceStats()
        self.chain = TransformChain(config.transforms)
        self.base_fields: dict[str, str] = {
            "@collect.source_name": config.name,
            "@collect.source_type": config.type,
            "@collect.host": host,
        }

    def fields(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Metadata for events of one origin (a file, a peer): shared by all its events."""
        return {**self.base_fields, **(extra or {}), **self.chain.fields}

    async def send(
        self,
        texts: Sequence[str],
        fields: Mapping[str, str],
        *,
        source: str | None = None,
        host: str | None = None,
        times: Sequence[int | None] | None = None,
        fields_each: Sequence[Mapping[str, str]] | None = None,
        hosts: Sequence[str | None] | None = None,
    ) -> asyncio.Future[None]:
        """Put ``texts`` as events (after filters); the receipt resolves when they are safe."""
        stats = self.stats
        for t in texts:
            stats.bytes += len(t)
        host = host or self.host
        st = self.config.parser
        if self.chain.filters:
            keep = [i for i, t in enumerate(texts) if self.chain.keep(t)]
            stats.filtered += len(texts) - len(keep)
            texts = [texts[i] for i in keep]
            if times is not None:
                times = [times[i] for i in keep]
            if fields_each is not None:
                fields_each = [fields_each[i] for i in keep]
            if hosts is not None:
                hosts = [hosts[i] for i in keep]
        if not texts:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        if fields_each is not None:
            n = len(texts)
            events = [
                CollectedEvent(t, ns, f, h or host, source, st)
                for t, ns, f, h in zip(
                    texts, times or [None] * n, fields_each, hosts or [None] * n, strict=True
                )
            ]
        elif times is None:
            events = [CollectedEvent(t, None, fields, host, source, st) for t in texts]
        else:
            events = [
                CollectedEvent(t, ns, fields, host, source, st)
                for t, ns in zip(texts, times, strict=True)
            ]
        stats.events += len(events)
        return await self.delivery.put(events)


class Source(Protocol):
    """A running source: ``run`` until stopped or (stdin) finished, then ``aclose``."""

    outlet: Outlet

    async def run(self) -> None: ...

    def stop(self) -> None:
        """Stop reading soon; ``run`` then returns."""
        ...

    async def aclose(self) -> None:
        """Stop reading; wait for outstanding receipts only as long as the delivery lets us."""
        ...


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary)."""
    if len(text) * 4 <= limit:
        return text
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")
