"""Rewrite record batches older than ``columnar_after`` into columnar files, partition by partition.

One compactor works on a data directory at a time (``compact.lock``): the server
runs it in a child process every ``columnar_interval``, ``lakehose compact`` runs
it once in the foreground. A round, per partition: forget and delete files
whose offsets retention has dropped from the row log; then, from the end of the
last file, gather batches older than the cutoff into files of one ingest-time
slice (:data:`SLICE`) and at most :data:`MAX_ROWS` events each.

What a kill at any point leaves: a temporary file (deleted by the next round),
a complete file not yet in the manifest (deleted, then written again), or a
recorded file. Never a gap or an overlap: the manifest accepts a file only if it
starts where the partition's files ended when the round began.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehose.models import BatchInfo
from lakehose.records import decompress_data, decompress_lines
from lakehose.storage.base import LogReader
from lakehose.storage.columnar import flatten_sql, splitter
from lakehose.storage.columnar.layout import read_line
from lakehose.storage.columnar.manifest import (
    ASCII,
    IRREGULAR,
    LOWER,
    OPEN,
    REBUILT,
    ColumnarFile,
    Manifest,
)
from lakehose.storage.columnar.writer import FileBuilder, FileLayout, tokens, write_parquet

log = logging.getLogger(__name__)

SLICE = 3600 * 10**9  # ns of ingest time one file may span
MAX_ROWS = 131_072  # events per file, in one row group (a compactor holds them in memory)
_READ = 64  # batches read at a time


def tier_dir(data_dir: Path) -> Path:
    return data_dir / "columnar"


def manifest_path(data_dir: Path) -> Path:
    return tier_dir(data_dir) / "manifest.db"


@dataclass
class RoundResult:
    events: int = 0
    files: int = 0
    dropped_files: int = 0
    templated: int = 0  # files written by the template path (``templates.py``)
    split: int = 0  # of those, files split in Arrow (``splitter.py``)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Compactor:
    """Compaction of one data directory; ``run_once()`` is one round over every partition."""

    def __init__(
        self,
        data_dir: Path,
        partitions: int,
        after: float,
        max_rows: int = MAX_ROWS,
        *,
        in_sql: bool = True,
        shapes: bool = True,
        split: bool = True,
    ) -> None:
        self.max_rows = max_rows
        self.in_sql = in_sql  # False: every file by the Python path (tests compare the two)
        self.shapes = shapes  # False: no file by the template path (tests compare the two)
        self.split = split  # False: template files typed in DuckDB (``templates.py``) only
        self.data_dir = data_dir
        self.partitions = partitions
        self.after = after
        self.root = tier_dir(data_dir)

    def run_once(self, now_ns: int | None = None) -> RoundResult:
        from lakehose.storage.lake import open_reader

        cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(self.after * 1e9)
        result = RoundResult()
        if not self._due(cutoff):
            return result
        with _locked(self.root / "compact.lock"):
            manifest = Manifest(manifest_path(self.data_dir))
            con = _LazyDuck()
            try:
                self._clean(manifest)
                for p in range(self.partitions):
                    reader = open_reader(self.data_dir, p)
                    try:
                        result.dropped_files += self._retention(manifest, reader)
                        self._partition(con, manifest, reader, cutoff, result)
                    finally:
                        reader.close()
            finally:
                con.close()
                manifest.close()
        return result

    def _due(self, cutoff: int) -> bool:
        """Whether a round has work: a manifest to keep, or a batch older than the cutoff."""
        from lakehose.storage.lake import open_reader

        if manifest_path(self.data_dir).exists():
            return True
        for p in range(self.partitions):
            reader = open_reader(self.data_dir, p)
            try:
                oldest = reader.oldest_ingest_time()
            finally:
                reader.close()
            if oldest is not None and oldest < cutoff:
                return True
        return False

    def _clean(self, manifest: Manifest) -> None:
        """Delete what a killed round left: temporary files, files the manifest never took."""
        known = manifest.names()
        for path in self.root.glob("p*/*"):
            if path.relative_to(self.root).as_posix() not in known:
                path.unlink(missing_ok=True)
        for path in self.root.glob("tmp/*"):
            path.unlink(missing_ok=True)

    def _retention(self, manifest: Manifest, reader: LogReader) -> int:
        start, _ = reader.bounds()
        names = manifest.drop_below(reader.partition, start)
        for name in names:
            (self.root / name).unlink(missing_ok=True)
        return len(names)

    def _partition(
        self, con: Any, manifest: Manifest, reader: LogReader, cutoff: int, result: RoundResult
    ) -> None:
        p = reader.partition
        start, end = reader.bounds()
        boundary = manifest.boundary(p)
        offset = max(boundary if boundary is not None else start, start)
        (self.root / f"p{p}").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        pending: _Pending | None = None
        while offset < end:
            batches = reader.batches_from(offset, _READ)
            if not batches:
                break
            stop = False
            for info, blob in batches:
                if info.ingest_time >= cutoff:
                    stop = True
                    break
                if pending is not None and (
                    info.ingest_time // SLICE != pending.slice
                    or pending.rows + info.count > self.max_rows
                    or info.first_offset != pending.end  # a file's batches tile its offsets
                ):
                    self._finish(con, manifest, reader, pending, boundary, result)
                    boundary = pending.end
                    pending = None
                if pending is None:
                    pending = _Pending.open(self.root, p, info.first_offset, info.ingest_time)
                pending.add(info, blob)
                offset = info.end_offset
            if stop:
                break
        if pending is not None:
            self._finish(con, manifest, reader, pending, boundary, result)

    def _finish(
        self,
        con: Any,
        manifest: Manifest,
        reader: LogReader,
        pending: _Pending,
        boundary: int | None,
        result: RoundResult,
    ) -> None:
        name = f"p{pending.partition}/{pending.first:020d}-{pending.end:020d}.parquet"
        target = self.root / name
        try:
            layout = None
            if self.in_sql and self.shapes and self.split and pending.counted:
                layout = splitter.write_file(
                    con,
                    pending.joined(),
                    pending.first,
                    pending.keys,
                    list(pending.tags),
                    pending.partition,
                    target,
                )
            if layout is None and self.in_sql:
                pending.write_text()
            if layout is None and self.in_sql and not pending.unflattenable:
                try:
                    layout = flatten_sql.write_file(
                        con,
                        pending.text,
                        pending.batches,
                        list(pending.tags),
                        target,
                        shapes=self.shapes,
                    )
                except (flatten_sql.Unflattenable, con.Error) as exc:
                    log.info("columnar file %s: the Python path writes it (%s)", name, exc)
            irregular = False
            if layout is None:
                layout, irregular = self._python_file(con, reader, pending, target)
            flags = LOWER | (ASCII if layout.ascii else 0) | (OPEN if layout.open else 0)
            flags |= IRREGULAR if irregular else 0
            flags |= REBUILT if layout.rebuilt else 0
            entry = ColumnarFile(
                name=name,
                partition=pending.partition,
                first_offset=pending.first,
                end_offset=pending.end,
                min_time=layout.min_time,
                max_time=layout.max_time,
                min_ingest=pending.min_ingest,
                max_ingest=pending.max_ingest,
                rows=layout.rows,
                size=layout.size,
                columns=frozenset(layout.columns),
                other=frozenset(layout.other),
                flags=flags,
                tokens=layout.tokens
                if layout.tokens_made or not layout.ascii
                else tokens(con, target),
                column_tokens=layout.column_tokens,
            )
            if boundary is not None and boundary != pending.first:
                raise RuntimeError("columnar files would not tile the partition")
            if not manifest.add(entry):
                target.unlink(missing_ok=True)
                log.warning("columnar file %s lost a race; removed", name)
                return
        finally:
            pending.text.unlink(missing_ok=True)
        result.events += layout.rows
        result.files += 1
        result.templated += layout.templated
        result.split += layout.split

    def _python_file(
        self, con: Any, reader: LogReader, pending: _Pending, target: Path
    ) -> tuple[FileLayout, bool]:
        """The slow, general path: decode each line in Python (``layout.read_line``)."""
        ndjson = pending.text.with_suffix(".ndjson")
        irregular = False
        try:
            with ndjson.open("wb") as stream:
                builder = FileBuilder(stream)
                blobs = reader.blobs([b.first_offset for b in pending.batches])
                for info in pending.batches:
                    first = info.first_offset
                    tags = (info.connector, info.index, info.sourcetype)
                    lines = decompress_lines(blobs[first], info.partition, first, info.count)
                    for i, line in enumerate(lines):
                        try:
                            row = read_line(line)
                        except ValueError:
                            irregular = True
                            continue
                        builder.add(first + i, first, info.ingest_time, info.partition, tags, row)
            columns, other, is_open = builder.layout()
            size = write_parquet(con, ndjson, columns, target)
        finally:
            ndjson.unlink(missing_ok=True)
        return builder.file_layout(size, columns, other, is_open), irregular


class _LazyDuck:
    """A DuckDB connection made on first use (a round with nothing to write needs none)."""

    def __init__(self) -> None:
        self._con: Any = None

    @property
    def Error(self) -> type[Exception]:  # noqa: N802 - as duckdb names it
        import duckdb

        return duckdb.Error

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        return self._connection().execute(sql, params or [])

    def register(self, name: str, table: Any) -> None:
        """Make an Arrow table a view named ``name`` (no copy)."""
        self._connection().register(name, table)

    def unregister(self, name: str) -> None:
        self._connection().unregister(name)

    def _connection(self) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            self._con.execute("SET threads = 1")
            self._con.execute("SET enable_progress_bar = false")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


class _Pending:
    """A file being gathered: its batches and their lines, in memory until it is written."""

    def __init__(self, root: Path, partition: int, first: int, ingest: int) -> None:
        self.partition = partition
        self.first = self.end = first
        self.slice = ingest // SLICE
        self.min_ingest = self.max_ingest = ingest
        self.text = root / "tmp" / f"{partition}-{first}.lines"
        self.batches: list[BatchInfo] = []
        self.chunks: list[bytes] = []  # each batch's lines, decompressed
        self.keys: list[tuple[int, int, int, int]] = []  # first offset, lines, ingest, tags
        self.tags: dict[tuple[str, str, str], int] = {}  # tag triple -> its index
        self.rows = 0
        self.counted = True  # every batch holds the lines it says
        self.unflattenable = False

    @classmethod
    def open(cls, root: Path, partition: int, first: int, ingest: int) -> _Pending:
        return cls(root, partition, first, ingest)

    def add(self, info: BatchInfo, blob: bytes) -> None:
        self.batches.append(info)
        self.rows += info.count
        data = decompress_data(blob, info.partition, info.first_offset)
        self.chunks.append(data)
        if data.count(b"\n") + 1 != info.count:
            self.counted = False
        key = (info.connector, info.index, info.sourcetype)
        tag = self.tags.setdefault(key, len(self.tags))
        self.keys.append((info.first_offset, info.count, info.ingest_time, tag))
        self.end = info.end_offset
        self.min_ingest = min(self.min_ingest, info.ingest_time)
        self.max_ingest = max(self.max_ingest, info.ingest_time)

    def joined(self) -> bytes:
        """Every line, newline-separated; the batches' own copies are let go (a file's text
        is tens of MB: one copy of it at a time)."""
        data = b"\n".join(self.chunks)
        self.chunks = [data]
        return data

    def _batch_texts(self) -> list[bytes]:
        if len(self.chunks) == len(self.keys):
            return self.chunks
        lines = self.chunks[0].split(b"\n")  # joined: cut it at the batches again
        out, at = [], 0
        for _, count, _, _ in self.keys:
            out.append(b"\n".join(lines[at : at + count]))
            at += count
        return out

    def write_text(self) -> None:
        """The lines in ``flatten_sql``'s input format, in :attr:`text`, for the DuckDB paths."""
        with self.text.open("wb") as stream:
            for (first, _, ingest, tag), data in zip(self.keys, self._batch_texts(), strict=True):
                try:
                    stream.write(flatten_sql.encode_batch(first, ingest, tag, data))
                except flatten_sql.Unflattenable:
                    self.unflattenable = True
                    return


def run_forever(data_dir: Path, partitions: int, after: float, interval: float) -> None:
    """The server's compactor process: a round every ``interval`` seconds, until killed."""
    compactor = Compactor(data_dir, partitions, after)
    while True:
        try:
            done = compactor.run_once()
            if done.files:
                log.info("compacted %d events into %d columnar files", done.events, done.files)
        except Exception:
            log.exception("columnar compaction failed; retrying in %.0f s", interval)
        time.sleep(interval)
