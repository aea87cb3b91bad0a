"""Each connector's ring of recent refused requests in the SQLite catalog."""

from __future__ import annotations

import sqlite3

from lakehose.errors import StorageError
from lakehose.storage.refusals import Refusal
from lakehose.storage.sqlite.store import CatalogStore


class SqliteRefusals(CatalogStore):
    def record_refusals(self, entries: list[tuple[str, Refusal]], ring_size: int) -> None:
        """Append ``(connector id, refusal)`` entries; keep each connector's newest ``ring_size``.

        StorageError when the catalog cannot take them (busy, full, read-only).
        """
        try:
            self._record(entries, ring_size)
        except sqlite3.Error as exc:
            raise StorageError(f"could not record refused requests: {exc}") from exc

    def _record(self, entries: list[tuple[str, Refusal]], ring_size: int) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT INTO connector_refusals (connector_id, time, client, status, code, text, "
                "event_number, excerpt, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cid,
                        r.time,
                        r.client,
                        r.status,
                        r.code,
                        r.text,
                        r.event_number,
                        r.excerpt,
                        r.path,
                    )
                    for cid, r in entries
                ],
            )
            for cid in {cid for cid, _ in entries}:
                c.execute(
                    "DELETE FROM connector_refusals WHERE connector_id = ? AND id <= coalesce(("
                    "SELECT id FROM connector_refusals WHERE connector_id = ? "
                    "ORDER BY id DESC LIMIT 1 OFFSET ?), -1)",
                    (cid, cid, ring_size),
                )

    def refusals(self, connector_id: str, limit: int) -> list[Refusal]:
        """A connector's recent refusals, newest first (none on a lake not yet migrated)."""
        try:
            rows = self._query(
                "SELECT time, client, status, code, text, event_number, excerpt, path "
                "FROM connector_refusals WHERE connector_id = ? ORDER BY id DESC LIMIT ?",
                (connector_id, limit),
            )
        except sqlite3.OperationalError:  # a lake no server has migrated yet, opened read-only
            return []
        return [Refusal(*row) for row in rows]
