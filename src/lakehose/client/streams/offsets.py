"""Which offsets a stream consumer may commit, and when auto-commit is due (no I/O).

Theory of operation
-------------------
Each partition has three positions, all offsets of events (not "next" offsets):

* **delivered**: the last event handed to the caller;
* **processed**: the last event the caller is done with. Handing out an event makes
  the one before it processed: a caller that asks for more has finished with what it
  had. The event just handed out is *in flight* until the caller comes back, calls
  :meth:`commit`, or closes the consumer cleanly;
* **committed**: the last event saved in the checkpoint.

A restarted consumer resumes at committed + 1 (the feed's ``offset=N`` is inclusive),
so nothing committed is delivered again and nothing after it is skipped.

Auto-commit saves the processed positions every ``every`` events or ``interval``
seconds, whichever comes first, and never the event in flight: an event the caller
was still working on when the process died is delivered again. Hence the duplicates
a restart can bring, per partition: none after ``commit()`` following each event; at
most one (the event in flight) when the process dies between processing an event and
committing it; up to the events since the last commit (``every`` events or
``interval`` seconds' worth) with auto-commit or any batched commits. Never a gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


class Offsets:
    """The positions of one consumer, across partitions (use from one thread)."""

    def __init__(
        self,
        committed: Mapping[int, int],
        *,
        every: int | None = 1000,
        interval: float | None = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.committed: dict[int, int] = dict(committed)
        self.processed: dict[int, int] = dict(committed)
        self.every = every
        self.interval = interval
        self._clock = clock
        self._in_flight: tuple[int, int] | None = None
        self._unsaved = 0  # events processed since the last commit
        self._last_commit = clock()

    def came_back(self) -> None:
        """The caller asked for more: the event in flight is processed."""
        if self._in_flight is not None:
            partition, offset = self._in_flight
            self.processed[partition] = offset
            self._in_flight = None
            self._unsaved += 1

    def deliver(self, partition: int, offset: int) -> None:
        """An event is being handed to the caller (after :meth:`came_back`)."""
        if self._in_flight is not None:
            self.came_back()
        self._in_flight = (partition, offset)

    def delivered(self) -> dict[int, int]:
        """Processed positions plus the event in flight."""
        out = dict(self.processed)
        if self._in_flight is not None:
            out[self._in_flight[0]] = self._in_flight[1]
        return out

    def pending(self, include_in_flight: bool) -> dict[int, int] | None:
        """The offsets to save now, or None when nothing changed since the last commit."""
        target = self.delivered() if include_in_flight else dict(self.processed)
        return None if target == self.committed else target

    def committed_as(self, offsets: Mapping[int, int]) -> None:
        """``offsets`` were saved."""
        self.committed = dict(offsets)
        for p, o in offsets.items():
            if o > self.processed.get(p, -1):
                self.processed[p] = o
        if self._in_flight is not None and offsets.get(self._in_flight[0]) == self._in_flight[1]:
            self._in_flight = None
        self._unsaved = 0
        self._last_commit = self._clock()

    def due(self) -> bool:
        """Whether auto-commit should save the processed positions now."""
        if not self._unsaved:
            return False
        if self.every is not None and self._unsaved >= self.every:
            return True
        return self.interval is not None and self._clock() - self._last_commit >= self.interval

    def seconds_until_due(self) -> float | None:
        """How long until the interval makes a commit due (None: nothing to wait for)."""
        if self.interval is None or not self._unsaved:
            return None
        return max(0.0, self._last_commit + self.interval - self._clock())
