"""The console's views (``storage/console_views.py``) as queries on the SQLite catalog."""

from __future__ import annotations

import sqlite3
from typing import Any

from lakehose.storage.sqlite.catalog import SqliteCatalog


class SqliteConsoleViews:
    def __init__(self, catalog: SqliteCatalog) -> None:
        self.catalog = catalog

    def refused_counts(self, since: float) -> dict[str, int] | None:
        try:
            rows = self.catalog._query(
                "SELECT connector_id, count(*) FROM connector_refusals WHERE time >= ? GROUP BY 1",
                (since,),
            )
        except sqlite3.OperationalError:
            return None
        return {str(cid): int(n) for cid, n in rows}

    def consumer_positions(self) -> dict[tuple[str, int], dict[str, Any]]:
        try:
            rows = self.catalog._query(
                "SELECT app_id, partition, committed, client_id, committed_at "
                "FROM consumer_positions"
            )
        except sqlite3.OperationalError:  # this catalog keeps no consumer positions
            return {}
        return {
            (r[0], int(r[1])): {"committed": int(r[2]), "client_id": r[3], "committed_at": r[4]}
            for r in rows
        }

    def live_session_clients(self, now: float) -> dict[tuple[str, int], str]:
        return {
            (r[0], int(r[1])): r[2]
            for r in self.catalog._query(
                "SELECT app_id, partition, client_id FROM stream_sessions WHERE expires_at > ?",
                (now,),
            )
        }
