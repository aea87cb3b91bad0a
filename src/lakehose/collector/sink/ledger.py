"""What a sink has delivered, in queue order: commits the queue as far as is safe.

Theory of operation. Each batch taken from the queue gets a :class:`Slot`, in queue
order, before it is sent (several batches may be in flight at once). Every request of
the batch the HEC answered adds an :class:`Entry` to its slot: events stored, or set
aside as dead letters. Without indexer acknowledgement an entry is done at once; with
``useAck`` a stored entry carries its ``ackId`` and is done only when the ack poll says
the events are durable. The queue is committed up to the last slot of the unbroken run
of finished slots (every entry done) at the front, so a later batch that finished first
never commits an earlier one still in doubt.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lakehose.collector.queue import Queue


@dataclass(slots=True)
class Entry:
    """A run of a batch's events the HEC answered for."""

    events: int
    """Events the sink stored (counted as ``sent`` once committed); 0 for dead letters."""
    ack_id: int | None = None
    earlier: list[int] = field(default_factory=list)
    """Ack ids of earlier sends of these events (resent after the ack timeout): a late
    ``true`` for any of them settles the entry as well."""
    lines: list[bytes] = field(default_factory=list)
    """Kept while an ack is awaited, to send again if it never comes."""
    sent_at: float = 0.0
    done: bool = False


@dataclass(slots=True)
class Slot:
    """One batch: commit ``through`` once ``finished`` and every entry is done."""

    through: int
    entries: list[Entry] = field(default_factory=list)
    finished: bool = False


class Ledger:
    """Slots in queue order; ``on_commit(through, events)`` hears each commit."""

    def __init__(self, queue: Queue, on_commit: Callable[[int, int], None]) -> None:
        self.queue = queue
        self.on_commit = on_commit
        self.slots: deque[Slot] = deque()

    def reserve(self, through: int) -> Slot:
        """A slot for the batch just taken from the queue (call in queue order)."""
        slot = Slot(through)
        self.slots.append(slot)
        return slot

    def stored(
        self, slot: Slot, events: int, ack_id: int | None = None, lines: list[bytes] | None = None
    ) -> Entry:
        """The sink took ``events`` events of the slot's batch (pending their ack)."""
        entry = Entry(
            events, ack_id, lines=lines or [], sent_at=time.monotonic(), done=ack_id is None
        )
        slot.entries.append(entry)
        return entry

    def set_aside(self, slot: Slot) -> None:
        """Some of the slot's events went to the dead-letter file: nothing more to wait for."""
        slot.entries.append(Entry(0, done=True))

    def finish(self, slot: Slot) -> None:
        """Every event of the slot's batch was answered for."""
        slot.finished = True
        self.advance()

    def awaiting(self) -> list[Entry]:
        """Entries still waiting for their ack."""
        return [e for s in self.slots for e in s.entries if not e.done and e.ack_id is not None]

    def acked(self, entry: Entry) -> None:
        entry.done = True
        entry.lines = []
        self.advance()

    def advance(self) -> None:
        through = None
        events = 0
        while self.slots and self.slots[0].finished and all(e.done for e in self.slots[0].entries):
            slot = self.slots.popleft()
            through = slot.through
            events += sum(e.events for e in slot.entries)
        if through is not None:
            self.queue.commit(through)
            self.on_commit(through, events)

    def __len__(self) -> int:
        return len(self.slots)
