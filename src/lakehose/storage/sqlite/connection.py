"""How every lakehose SQLite database is opened: autocommit, WAL, a long busy timeout."""

from __future__ import annotations

import sqlite3
import urllib.parse
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


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes, for read-only commands: works on a read-only directory.

    SQLite reads a WAL database by writing its ``-shm`` file; where that cannot be
    created (a read-only mount, another user's lake) the file is opened as immutable,
    which is right when no server writes to it meanwhile.
    """
    uri = "file:" + urllib.parse.quote(str(path.absolute()))
    if not path.is_file():
        raise sqlite3.OperationalError(f"unable to open database file {path}")
    try:
        conn = sqlite3.connect(uri + "?mode=ro", uri=True, check_same_thread=False, timeout=30.0)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(uri + "?immutable=1", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn
