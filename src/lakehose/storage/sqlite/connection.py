"""How every lakehose SQLite database is opened: autocommit, WAL, a long busy timeout."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, *, durability: str = "fsync") -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves), WAL journal."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = " + ("FULL" if durability == "fsync" else "OFF"))
    conn.execute("PRAGMA foreign_keys = ON")
    return conn
