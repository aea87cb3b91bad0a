"""When each open stream's session must be refreshed (no I/O; the consumers' keepers act on it).

A session lives ``refreshActiveSessionInterval`` seconds (1800) after discovery or
its last refresh. By default it is refreshed ``min(60 s, interval / 4)`` before that:
after 29 minutes for 1800 s, as Splunk SOAR and Cloud-AWS do (gofalcon waits 27); a
short test session of 2 s is refreshed after 1.5 s. A failed refresh is tried again
after a few seconds (a quarter of the interval at most), a 404 (the session is gone)
stops refreshing it: its feed ends and the reader discovers again.
"""

from __future__ import annotations

from dataclasses import dataclass


def default_refresh_after(interval: float) -> float:
    """Seconds after discovery (or a refresh) at which to refresh a session."""
    return interval - min(60.0, interval / 4)


@dataclass(slots=True)
class _Entry:
    every: float
    due: float


class RefreshSchedule:
    """Due times of the sessions to keep alive, one per partition."""

    def __init__(self, refresh_interval: float | None = None, retry_after: float = 5.0) -> None:
        self.refresh_interval = refresh_interval
        self.retry_after = retry_after
        self._entries: dict[int, _Entry] = {}

    def track(self, partition: int, interval: float, since: float) -> None:
        """Keep ``partition``'s session alive; it was issued (or refreshed) at ``since``."""
        every = self.refresh_interval or default_refresh_after(interval)
        self._entries[partition] = _Entry(every, since + every)

    def forget(self, partition: int) -> None:
        self._entries.pop(partition, None)

    def tracked(self) -> list[int]:
        return sorted(self._entries)

    def next_due(self) -> float | None:
        return min((e.due for e in self._entries.values()), default=None)

    def due(self, now: float) -> list[int]:
        return sorted(p for p, e in self._entries.items() if e.due <= now)

    def refreshed(self, partition: int, now: float, ok: bool) -> None:
        entry = self._entries.get(partition)
        if entry is None:
            return
        entry.due = now + (entry.every if ok else min(self.retry_after, entry.every / 4))
