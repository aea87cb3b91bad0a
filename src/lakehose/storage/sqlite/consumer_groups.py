"""``ConsumerGroups`` (``storage/consumer_groups.py``) in the SQLite catalog database."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehose.storage.consumer_groups import _COLUMNS, CommitRequest, Position
from lakehose.storage.sqlite.connection import connect, connect_readonly


class SqliteConsumerGroups:
    """Access to ``consumer_positions`` in the catalog. Thread-safe."""

    def __init__(self, catalog_path: Path, *, readonly: bool = False) -> None:
        # Reads and writes on connections of their own: a read (on the event loop) never
        # waits for a write's fsync (on the commit thread); WAL lets them run side by side.
        # ``readonly`` (``lakehose status``) never writes: it works on a read-only lake.
        self._conn = connect_readonly(catalog_path) if readonly else connect(catalog_path)
        self._lock = threading.Lock()
        self._writer = self._conn if readonly else connect(catalog_path)
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()
        if self._writer is not self._conn:
            self._writer.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise

    def commit(self, requests: Iterable[CommitRequest]) -> int:
        """Store every request in one transaction (one fsync); return how many."""
        now = time.time()
        rows = [(r.app_id, r.partition, r.committed, r.client_id, now) for r in requests]
        with self._tx() as c:
            c.executemany(
                "INSERT INTO consumer_positions (app_id, partition, committed, client_id, "
                "committed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id, partition) DO UPDATE "
                "SET committed = excluded.committed, client_id = excluded.client_id, "
                "committed_at = excluded.committed_at, commits = commits + 1",
                rows,
            )
        return len(rows)

    def positions(self, app_id: str) -> list[Position]:
        """The group's positions, by partition (empty when it has none)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM consumer_positions WHERE app_id = ? ORDER BY partition",
                (app_id,),
            ).fetchall()
        return [Position(*row) for row in rows]

    def committed(self, app_id: str, partition: int) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT committed FROM consumer_positions WHERE app_id = ? AND partition = ?",
                (app_id, partition),
            ).fetchone()
        return None if row is None else int(row[0])

    def owner(self, app_id: str) -> str | None:
        """The API client the group belongs to (the first to commit), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT client_id FROM consumer_positions WHERE app_id = ? "
                "ORDER BY committed_at LIMIT 1",
                (app_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    def all_positions(self) -> list[Position]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM consumer_positions ORDER BY app_id, partition"
            ).fetchall()
        return [Position(*row) for row in rows]

    def delete(self, app_id: str) -> int:
        """Forget the group; return how many positions it had."""
        with self._tx() as c:
            return c.execute("DELETE FROM consumer_positions WHERE app_id = ?", (app_id,)).rowcount
