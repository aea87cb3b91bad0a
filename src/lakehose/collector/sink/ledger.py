"""What a sink has delivered, in queue order: commits the queue as far as is safe.

Theory of operation. Each request the sink got an answer for becomes an entry with
the number of its last record (``through``). Without indexer acknowledgement an
entry is done at once; with ``useAck`` a stored entry carries its ``ackId`` and is
done only when the ack poll says the events are durable. The queue is committed
up to the last entry of the unbroken run of done entries at the front, so a later
batch acknowledged first never commits an earlier one that is still in doubt.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lakehose.collector.queue import Queue


@dataclass(slots=True)
class Entry:
    """A stored (or set aside) run of records, up to number ``through``."""

    through: int
    events: int
    """Events the sink stored (counted as ``sent`` once done); 0 for dead letters."""
    ack_id: int | None = None
    lines: list[bytes] = field(default_factory=list)
    """Kept while an ack is awaited, to send again if it never comes."""
    sent_at: float = 0.0
    done: bool = False


class Ledger:
    """Entries in queue order; ``on_commit`` hears each commit (receipts, counters)."""

    def __init__(self, queue: Queue, on_commit: Callable[[int, int], None]) -> None:
        self.queue = queue
        self.on_commit = on_commit
        self.entries: deque[Entry] = deque()

    def stored(
        self, through: int, events: int, ack_id: int | None = None, lines: list[bytes] | None = None
    ) -> Entry:
        """Record that the sink took ``events`` events up to ``through`` (pending its ack)."""
        entry = Entry(through, events, ack_id, lines or [], time.monotonic(), ack_id is None)
        self.entries.append(entry)
        self.advance()
        return entry

    def settled(self, through: int) -> None:
        """Records up to ``through`` need nothing more (set aside, or skipped)."""
        self.entries.append(Entry(through, 0, done=True))
        self.advance()

    def awaiting(self) -> list[Entry]:
        """Entries still waiting for their ack."""
        return [e for e in self.entries if not e.done and e.ack_id is not None]

    def acked(self, entry: Entry) -> None:
        entry.done = True
        entry.lines = []
        self.advance()

    def advance(self) -> None:
        through = None
        events = 0
        while self.entries and self.entries[0].done:
            entry = self.entries.popleft()
            through = entry.through
            events += entry.events
        if through is not None:
            self.queue.commit(through)
            self.on_commit(through, events)

    def __len__(self) -> int:
        return len(self.entries)
