"""The collector's sink queues: where collected events wait until a sink delivered them.

Theory of operation. Every record put gets a sequence number, one more than the last.
The sink takes records in order with :meth:`Queue.get` (each record is handed out once)
and reports them delivered with :meth:`Queue.commit` (``through``: every record handed
out with a number up to it was stored by the sink, or set aside as a dead letter).
:meth:`Queue.settled` is the number up to which nothing is waiting any more: every
record at or below it was delivered, dropped by ``deleteOldest``, or skipped as corrupt.

A *memory* queue loses what it holds when the process ends, so a delivery resolves a
source's receipt only once ``settled`` passes it. A *disk* queue (``durable``) keeps
records in checksummed segment files, fsynced before ``put`` returns, so the receipt
resolves at once; after a restart it hands out again everything not yet committed.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehose.collector.delivery import QueueConfig

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class QueuedBatch:
    """Consecutive records handed to the sink: ``lines[i]`` has number ``seqs[i]``."""

    lines: list[bytes]
    seqs: list[int]
    nbytes: int
    through: int
    """Commit this once the whole batch is delivered: the last number, or beyond it when
    corrupt records the queue skipped follow (a batch may then have no lines at all)."""


class Queue(ABC):
    """A bounded FIFO of encoded events between the sources and one sink."""

    durable: bool = False
    """True when ``put`` returns only once its records survive a crash."""

    @abstractmethod
    async def append(self, lines: Sequence[bytes]) -> tuple[int, asyncio.Future[None] | None]:
        """Append ``lines`` in order, awaiting room under ``fullAction: pause``. Returns the
        number of the last one (of the last record before them when ``lines`` is empty)
        and, for a durable queue, a future that resolves once they are on disk."""

    async def put(self, lines: Sequence[bytes]) -> int:
        """:meth:`append`, then wait until the records are durable (when the queue is)."""
        last, durable = await self.append(lines)
        if durable is not None:
            await durable
        return last

    @abstractmethod
    async def get(self, max_bytes: int, linger: float) -> QueuedBatch | None:
        """The next records not handed out yet: about ``max_bytes`` of them, or fewer once
        the oldest has waited ``linger`` seconds; None when the queue is closed."""

    @abstractmethod
    def commit(self, through: int) -> None:
        """Records handed out with numbers up to ``through`` are delivered: forget them."""

    @abstractmethod
    def hurry(self) -> None:
        """Stop lingering: hand out partial batches at once (the delivery is closing)."""

    @abstractmethod
    def settled(self) -> int:
        """The number up to which every record was delivered, dropped or skipped."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """``queue_events``, ``queue_bytes``, ``dropped`` and the queue's own counters."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop: wake every waiter; a disk queue closes its files (nothing is lost)."""


def open_queue(config: QueueConfig, directory: Path, name: str) -> Queue:
    """The queue a sink's ``queue:`` block asks for; a disk queue lives in ``directory``."""
    if config.max_limit_mb < 1:
        from lakehose.errors import ConfigError

        raise ConfigError(f"sink {name!r}: queue maxLimitInMB must be at least 1")
    if config.type == "disk":
        from lakehose.collector.queue.disk import DiskQueue

        return DiskQueue(directory, config.max_limit_mb * MiB, config.full_action, name)
    from lakehose.collector.queue.memory import MemoryQueue

    return MemoryQueue(config.max_limit_mb * MiB, config.full_action, name)
