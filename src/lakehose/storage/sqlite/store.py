"""The catalog database itself: one connection, short transactions, settings, migrations.

Shared by every worker and by the CLI (which may change it while the server runs;
workers notice through ``PRAGMA data_version`` and reload). Secrets are stored as
SHA-256 digests only (``auth/secrets.py``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from lakehose.storage import migrations
from lakehose.storage.sqlite.connection import connect, connect_readonly


class CatalogStore:
    """Access to ``catalog.db``. Thread-safe; every call is one short transaction."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = connect_readonly(path) if readonly else connect(path)
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: Path) -> Self:
        """Open the catalog, creating and migrating it when needed."""
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(conn, migrations.CATALOG_MIGRATIONS)
        finally:
            conn.close()
        return cls(path)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def data_version(self) -> int:
        """Changes whenever another connection (another process, the CLI) commits."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def get_setting(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def set_setting_once(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` is set already; return the stored value."""
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, value))
            return str(c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0])
