"""The columnar tier's catalog: which Parquet files exist, what offsets and columns each holds.

One SQLite database (``columnar/manifest.db``) for the whole data directory. A file
becomes visible to search only when its row is committed here; the row names the
file's offsets, time ranges, typed columns, the rare field names it left in the
JSON text, and its token dictionary (for skipping files in free-text search).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import zstandard

from lakehose.errors import StorageError
from lakehose.storage.sqlite.connection import connect_readonly

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY,
    partition INTEGER NOT NULL,
    first_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    min_time INTEGER NOT NULL,
    max_time INTEGER NOT NULL,
    min_ingest INTEGER NOT NULL,
    max_ingest INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    columns TEXT NOT NULL,
    other TEXT,
    flags INTEGER NOT NULL,
    tokens BLOB,
    column_tokens BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS files_by_offset ON files (partition, first_offset);
"""

ASCII = 1  # every text value and @rawstring of the file is ASCII
OPEN = 2  # too many rare field names to list: a field that is no column may be anywhere
IRREGULAR = 4  # a line failed to decode: the file is never used to answer a query
LOWER = 8  # ``raw`` holds @rawstring lower-cased (free text scans it with a plain LIKE)
REBUILT = 16  # ``raw`` is NULL: each event's text is its template (``tpl``) and its columns


@dataclass(frozen=True, slots=True)
class ColumnarFile:
    """One manifest row."""

    name: str
    partition: int
    first_offset: int
    end_offset: int
    min_time: int
    max_time: int
    min_ingest: int
    max_ingest: int
    rows: int
    size: int
    columns: frozenset[str]  # typed field columns, "NAME:t" with NAME escaped (layout.py)
    other: frozenset[str]  # bare field names present but kept only in the JSON text
    flags: int
    tokens: bytes | None  # zstd of the lower-cased tokens, one per line; None: not kept
    # REBUILT files: zstd of JSON, each text column (and "tpl") -> its tokens, one per line
    column_tokens: bytes | None = None

    def token_text(self) -> bytes | None:
        if self.tokens is None:
            return None
        return zstandard.ZstdDecompressor().decompress(self.tokens)

    def column_token_texts(self) -> dict[str, bytes] | None:
        if self.column_tokens is None:
            return None
        per = orjson.loads(zstandard.ZstdDecompressor().decompress(self.column_tokens))
        return {str(k): str(v).encode() for k, v in per.items()}


class Manifest:
    """A connection to the manifest; use from one thread."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:  # searches and sizes never write: they work on a read-only lake
            try:
                self._conn = connect_readonly(path)
            except sqlite3.Error as exc:
                raise StorageError(f"columnar manifest {path}: {exc}") from exc
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
            if not self._has_column_tokens():  # a manifest from before column tokens
                self._conn.execute("ALTER TABLE files ADD COLUMN column_tokens BLOB")
        except sqlite3.Error as exc:
            raise StorageError(f"columnar manifest {path}: {exc}") from exc

    def _has_column_tokens(self) -> bool:
        return any(r[1] == "column_tokens" for r in self._conn.execute("PRAGMA table_info(files)"))

    def close(self) -> None:
        self._conn.close()

    def boundary(self, partition: int) -> int | None:
        """The end offset of the partition's last file (None: no file)."""
        row = self._conn.execute(
            "SELECT max(end_offset) FROM files WHERE partition = ?", (partition,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def add(self, f: ColumnarFile) -> bool:
        """Record ``f`` if it starts where its partition's last file ends; False if not."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            end = self.boundary(f.partition)
            if end is not None and end != f.first_offset:
                conn.execute("ROLLBACK")
                return False
            conn.execute(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    f.name,
                    f.partition,
                    f.first_offset,
                    f.end_offset,
                    f.min_time,
                    f.max_time,
                    f.min_ingest,
                    f.max_ingest,
                    f.rows,
                    f.size,
                    orjson.dumps(sorted(f.columns)).decode(),
                    None if f.flags & OPEN else orjson.dumps(sorted(f.other)).decode(),
                    f.flags,
                    f.tokens,
                    f.column_tokens,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return True

    def files(self, partition: int | None = None, *, tokens: bool = False) -> list[ColumnarFile]:
        """The recorded files (of one partition, or all), in partition and offset order."""
        sql = (
            "SELECT name, partition, first_offset, end_offset, min_time, max_time, min_ingest,"
            f" max_ingest, rows, bytes, columns, other, flags, {'tokens' if tokens else 'NULL'},"
            f" {'column_tokens' if tokens and self._has_column_tokens() else 'NULL'} FROM files"
        )
        args: tuple[int, ...] = ()
        if partition is not None:
            sql += " WHERE partition = ?"
            args = (partition,)
        sql += " ORDER BY partition, first_offset"
        return [_file(row) for row in self._conn.execute(sql, args)]

    def names(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM files")}

    def drop_below(self, partition: int, offset: int) -> list[str]:
        """Forget the partition's files that end at or before ``offset``; their names."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM files WHERE partition = ? AND end_offset <= ?",
                    (partition, offset),
                )
            ]
            conn.execute(
                "DELETE FROM files WHERE partition = ? AND end_offset <= ?", (partition, offset)
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return names

    def totals(self) -> Iterator[tuple[int, int, int, int]]:
        """Per partition: ``(partition, files, rows, bytes)``."""
        yield from self._conn.execute(
            "SELECT partition, count(*), sum(rows), sum(bytes) FROM files GROUP BY partition"
        )


def _file(row: tuple[object, ...]) -> ColumnarFile:
    other = row[11]
    return ColumnarFile(
        name=str(row[0]),
        partition=int(row[1]),  # type: ignore[call-overload]
        first_offset=int(row[2]),  # type: ignore[call-overload]
        end_offset=int(row[3]),  # type: ignore[call-overload]
        min_time=int(row[4]),  # type: ignore[call-overload]
        max_time=int(row[5]),  # type: ignore[call-overload]
        min_ingest=int(row[6]),  # type: ignore[call-overload]
        max_ingest=int(row[7]),  # type: ignore[call-overload]
        rows=int(row[8]),  # type: ignore[call-overload]
        size=int(row[9]),  # type: ignore[call-overload]
        columns=frozenset(orjson.loads(row[10])),  # type: ignore[arg-type]
        other=frozenset(orjson.loads(other)) if other is not None else frozenset(),  # type: ignore[arg-type]
        flags=int(row[12]),  # type: ignore[call-overload]
        tokens=row[13] if isinstance(row[13], bytes) else None,
        column_tokens=row[14] if isinstance(row[14], bytes) else None,
    )
