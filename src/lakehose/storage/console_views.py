"""What the console reads from the catalog beyond the other concepts' own methods.

The console shows tables that other features keep (refusal rings, consumer positions,
live stream sessions), each of which a catalog may not have yet; every
method answers "nothing kept" (None or empty) rather than fail then. The SQLite
queries are ``storage/sqlite/console_views.py``; ``storage/lake.py`` picks them.
"""

from __future__ import annotations

from typing import Any, Protocol


class ConsoleViews(Protocol):
    def refused_counts(self, since: float) -> dict[str, int] | None:
        """Refused requests per connector id since ``since`` (None: no refusal ring)."""
        ...

    def consumer_positions(self) -> dict[tuple[str, int], dict[str, Any]]:
        """``(appId, partition) -> committed, client_id, committed_at`` (empty: none kept)."""
        ...

    def live_session_clients(self, now: float) -> dict[tuple[str, int], str]:
        """``(appId, partition) -> client id`` of the stream sessions live at ``now``."""
        ...
