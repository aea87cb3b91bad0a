"""Write one columnar file: rows to NDJSON, DuckDB's COPY to Parquet (zstd), fsync, rename.

The rows go through a temporary NDJSON file because that is the fastest way into
DuckDB without pyarrow; DuckDB then writes the Parquet file under a temporary
name. The split path (``splitter.py``) has its columns in Arrow already and writes
them with Arrow's writer (:func:`finish_table`). Only a complete, fsynced file is
renamed to its final name, and the directory is fsynced so the rename survives a
power cut.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from lakehose.query.fields import MISSING
from lakehose.storage.columnar.layout import (
    FIXED,
    MAX_COLUMNS,
    MAX_OTHER,
    RARE,
    SQL_TYPES,
    Row,
    column_name,
    value_kind,
)

ROW_GROUP = 131_072  # a file in one row group: DuckDB scans 1.1-1.2x faster than 122,880
_INT64 = (-(2**63), 2**63)
_PAGE = 64 * 1024 * 1024  # bytes of a page before Arrow starts another
_SAMPLE = 4096  # values of a column that choose its encoding (``encodings``)
TOKEN_LIMIT = 8 * 1024 * 1024  # bytes of distinct tokens kept per file; beyond, none are
# Runs of letters and digits with at least one letter: numbers, most of the distinct runs of
# logs, are left out (a free-text word of digits alone skips no file).
_TOKENS_SQL = (
    "SELECT DISTINCT t FROM (SELECT unnest(regexp_extract_all(lower(raw),"
    " '[a-z0-9]*[a-z][a-z0-9]*')) AS t FROM {})"
)


@dataclass
class FileLayout:
    """What a written file holds, for its manifest row."""

    rows: int
    min_time: int
    max_time: int
    ascii: bool  # every text value and @rawstring is ASCII
    columns: dict[str, str]  # typed columns -> SQL type
    other: set[str]  # names present but no column
    open: bool  # more names than listed in other
    size: int
    tokens: bytes | None = None  # the token dictionary (None: too large to keep)
    tokens_made: bool = False  # whether the writer made it already
    templated: bool = False  # written by the template path
    split: bool = False  # by its Arrow split (``splitter.py``)
    rebuilt: bool = False  # no ``raw``: each event's text is its ``tpl`` and its columns
    column_tokens: bytes | None = None  # zstd of JSON: text column (or "tpl") -> its tokens


@dataclass
class FileBuilder:
    """Collects the rows of one file, streaming them to ``ndjson``; counts names and types."""

    ndjson: BinaryIO
    rows: int = 0
    min_time: int | None = None
    max_time: int | None = None
    ascii: bool = True
    seen: Counter[str] = field(default_factory=Counter)  # field name -> rows with it
    impure: set[str] = field(default_factory=set)  # names with a value no column can hold
    kinds: dict[str, set[str]] = field(default_factory=dict)
    names: dict[tuple[str, type], str] = field(default_factory=dict)  # -> its column

    def add(
        self,
        offset: int,
        batch: int,
        ingest: int,
        partition: int,
        tags: tuple[str, str, str],
        row: Row,
    ) -> None:
        out: dict[str, Any] = {
            "offset": offset,
            "batch": batch,
            "time": row.time,
            "ingest_time": ingest,
            "partition": partition,
            "connector": tags[0],
            "index": tags[1],
            "sourcetype": tags[2],
            "raw": row.raw,
        }
        raw = row.raw
        if self.ascii and not (
            type(raw) is str and raw.isascii() and all(t.isascii() for t in tags)
        ):
            self.ascii = False
        t = row.time
        if self.min_time is None or t < self.min_time:
            self.min_time = t
        if self.max_time is None or t > self.max_time:
            self.max_time = t
        values = row.values
        if row.host is not MISSING:
            values["host"] = row.host
        if row.source is not MISSING:
            values["source"] = row.source
        seen, names = self.seen, self.names
        for name, value in values.items():
            seen[name] += 1
            key = (name, type(value))
            column = names.get(key)
            if column is None:
                kind = value_kind(value)
                if kind is None:
                    self.impure.add(name)
                    continue
                column = names[key] = column_name(name, kind)
                self.kinds.setdefault(name, set()).add(kind)
            elif key[1] is int and not _INT64[0] <= value < _INT64[1]:
                self.impure.add(name)
                continue
            if key[1] is str and self.ascii and not value.isascii():
                self.ascii = False
            out[column] = value
        self.ndjson.write(orjson.dumps(out))
        self.ndjson.write(b"\n")
        self.rows += 1

    def file_layout(
        self, size: int, columns: dict[str, str], other: set[str], is_open: bool
    ) -> FileLayout:
        return FileLayout(
            rows=self.rows,
            min_time=self.min_time or 0,
            max_time=self.max_time or 0,
            ascii=self.ascii,
            columns=columns,
            other=other,
            open=is_open,
            size=size,
        )

    def layout(self) -> tuple[dict[str, str], set[str], bool]:
        """``(typed columns -> SQL type, other names, open)`` for this file's rows."""
        least = max(1, int(self.rows * RARE))
        columns: dict[str, str] = {}
        other: set[str] = set(self.impure)
        ranked = sorted(self.seen.items(), key=lambda kv: (-kv[1], kv[0]))
        for name, count in ranked:
            if name in self.impure:
                continue
            if count < least or len(columns) >= MAX_COLUMNS:
                other.add(name)
                continue
            for kind in sorted(self.kinds.get(name, ())):
                columns[column_name(name, kind)] = SQL_TYPES[kind]
        # host and source are always columns when pure: every line may have them
        return columns, other, len(other) > MAX_OTHER


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet(con: Any, ndjson: Path, columns: dict[str, str], target: Path) -> int:
    """Write ``ndjson``'s rows with ``columns`` (besides the fixed ones) to ``target``, durably.

    Returns the file's size. ``con`` is a DuckDB connection.
    """
    spec = {**FIXED, **columns}
    struct = "{" + ", ".join(f"{_quote_str(k)}: {_quote_str(v)}" for k, v in spec.items()) + "}"
    select = (
        f'SELECT * REPLACE (lower("raw") AS "raw") FROM read_json(?, columns={struct},'
        " format='newline_delimited', maximum_object_size=268435456) ORDER BY \"offset\""
    )
    return finish_parquet(con, select, [str(ndjson)], target)


def finish_parquet(con: Any, select: str, params: list[Any], target: Path, level: int = 6) -> int:
    """Write the rows of ``select`` to ``target`` durably: temporary name, fsync, rename, fsync
    of the directory. Returns the file's size."""
    tmp = target.with_name(target.name + ".tmp")
    con.execute(
        f"COPY ({select}) TO {_quote_str(str(tmp))}"
        f" (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {level}, PARQUET_VERSION V2,"
        f" ROW_GROUP_SIZE {ROW_GROUP})",
        params,
    )
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return size


def finish_table(table: Any, target: Path, level: int = 1) -> int:
    """Write the Arrow ``table`` to ``target`` durably, by Arrow's own Parquet writer, encoded
    as DuckDB's ``COPY`` encodes (:func:`encodings`); returns the file's size."""
    import pyarrow.parquet as pq

    dictionary, delta = encodings(table)
    tmp = target.with_name(target.name + ".tmp")
    pq.write_table(
        table,
        tmp,
        row_group_size=max(ROW_GROUP, table.num_rows),
        compression="zstd",
        compression_level=level,
        use_dictionary=dictionary,
        column_encoding=delta,
        data_page_version="2.0",
        # one page per column: DuckDB hands a dictionary column on as dictionary vectors
        # (a filter evaluated once per distinct value) only where no page ends inside one of
        # its 2,048-row vectors; Arrow's pages of 20,000 rows scanned up to 1.5x slower
        max_rows_per_page=max(ROW_GROUP, table.num_rows),
        data_page_size=_PAGE,
        store_schema=False,
    )
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return size


def encodings(table: Any) -> tuple[list[str], dict[str, str]]:
    """Which columns to write with a dictionary, and the delta encoding of the others: what
    DuckDB chooses (a dictionary unless most values differ), judged from a column's first
    :data:`_SAMPLE` values. Without it Arrow's files were twice the size (bench/README.md)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dictionary: list[str] = []
    delta: dict[str, str] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind):
            dictionary.append(name)
        elif pa.types.is_integer(kind) or pa.types.is_string(kind):
            sample = column.slice(0, _SAMPLE)
            if pc.count_distinct(sample).as_py() * 2 <= len(sample):
                dictionary.append(name)
            elif pa.types.is_integer(kind):
                delta[name] = "DELTA_BINARY_PACKED"
            else:
                delta[name] = "DELTA_LENGTH_BYTE_ARRAY"
    return dictionary, delta


def tokens(con: Any, source: Path | str) -> bytes | None:
    """The file's distinct lower-cased ``[a-z0-9]+`` runs holding a letter, newline-joined and
    zstd-compressed;
    None when they exceed :data:`TOKEN_LIMIT` (such a file is never skipped)."""
    if isinstance(source, Path):  # a Parquet file, else a table
        found = con.execute(_TOKENS_SQL.format("read_parquet(?)"), [str(source)]).fetchall()
    else:
        found = con.execute(_TOKENS_SQL.format(source)).fetchall()
    text = "\n".join(sorted(t for (t,) in found)).encode()
    if len(text) > TOKEN_LIMIT:
        return None
    return zstandard.ZstdCompressor(level=3).compress(text)


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
