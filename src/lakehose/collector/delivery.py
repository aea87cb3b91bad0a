"""The seam between the collector's sources and its sinks.

Theory of operation. A source reads events and hands them, in order, to a :class:`Delivery`
with :meth:`Delivery.put`. ``put`` returns a *receipt*: a future that resolves once those
events are safe, meaning fsynced into a disk queue, or confirmed by the sink (a HEC ``200``,
or the indexer acknowledgement when ``useAck`` is on) for a memory queue. A receipt fails
only when the delivery is closing; events are then not safe and will be read again.

A source advances its checkpoint (a file position, a journald cursor) only to the end of the
last batch whose receipt, and every earlier receipt, has resolved. That is the whole
at-least-once contract: nothing is marked read before it is safe, and a crash between "safe"
and "checkpoint written" repeats a bounded tail rather than losing it.

``put`` itself awaits while the queue is full and its ``fullAction`` is ``pause``: that is
the back-pressure a source feels. With ``deleteOldest`` it never waits; the queue drops its
oldest events, counts and logs them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol


@dataclass(slots=True)
class CollectedEvent:
    """One event as a source read it, ready to become a HEC event (treat it as read-only;
    not ``frozen`` because a frozen ``__init__`` costs five times as much, once per line)."""

    text: str
    """The event as read: a line, a syslog message, a command's output line."""
    time_ns: int | None = None
    """Event time when the source knows it; ``None`` lets the receiving HEC stamp it."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Collector metadata and ``static_fields``, sent as HEC ``fields``."""
    host: str | None = None
    source: str | None = None
    sourcetype: str | None = None
    """The source's ``parser``."""
    index: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterConfig:
    """A sink's ``deadLetter:`` block: the dead-letter file is rotated at
    ``maxFileSizeInMB`` and at most ``maxFiles`` files (the current one included) are kept."""

    max_file_size_mb: float = 64
    max_files: int = 5


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A sink's ``queue:`` block, in the LogScale Collector's key names."""

    type: Literal["memory", "disk"] = "memory"
    max_limit_mb: int = 1024
    """``maxLimitInMB``."""
    full_action: Literal["pause", "deleteOldest"] = "pause"
    """``fullAction``."""
    flush_timeout_ms: int = 1000
    """``flushTimeOutInMillisecond``: how long a partial batch waits before it is sent."""


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """A ``sinks.<name>`` block (``type: hec``, or the LogScale names ``logscale``/``humio``)."""

    name: str
    url: str
    token: str
    type: Literal["hec", "logscale", "humio"] = "hec"
    proxy: str = "none"
    """``none``, ``system`` (the environment's proxy variables) or a proxy URL."""
    tls_insecure: bool = False
    ca_file: Path | None = None
    compression: Literal["gzip", "zstd", "none"] = "gzip"
    max_batch_size: int = 1_048_576
    """``maxBatchSize``, in bytes of request body before compression."""
    max_event_size: int = 1_048_576
    """``maxEventSize``, in bytes; a larger event is dead-lettered, never sent."""
    use_ack: bool = False
    """``useAck``: wait for indexer acknowledgement (channel + ``/services/collector/ack``)."""
    ack_timeout_ms: int = 120_000
    """``ackTimeoutInMillisecond``: a batch whose ack has not come by then is sent again."""
    dead_letter: DeadLetterConfig = field(default_factory=lambda: DeadLetterConfig())
    queue: QueueConfig = field(default_factory=QueueConfig)


class Delivery(Protocol):
    """Where a source puts what it read (one per sink; several sources may share it)."""

    async def put(self, events: Sequence[CollectedEvent]) -> asyncio.Future[None]:
        """Queue ``events`` in order; the returned receipt resolves when they are safe."""
        ...

    async def aclose(self) -> None:
        """Flush what can be flushed within the queue's flush timeout, then stop."""
        ...

    def stats(self) -> Mapping[str, int]:
        """Counters for status and metrics: sent, refused, retries, dead_lettered,
        dropped, queue_events, queue_bytes."""
        ...


class OpenDelivery(Protocol):
    """How the collector's runner gets a sink's delivery; ``data_dir`` is ``dataDirectory``.

    Implemented by ``lakehose.collector.sink.open_delivery``.
    """

    async def __call__(self, sink: SinkConfig, data_dir: Path) -> Delivery: ...
