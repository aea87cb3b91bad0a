"""The columnar tier's compactor on a real lake on disk: what a killed round leaves is cleaned
up, files tile each partition without gap or overlap, retention reaches both tiers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from lakehose.query.timerange import TimeRange
from lakehose.storage.columnar.compactor import Compactor, manifest_path, tier_dir
from lakehose.storage.columnar.manifest import Manifest
from lakehose.storage.sqlite.partition import PartitionWriter
from tests.search.tierkit import both, build_lake


def files_of(lake: Path) -> list[tuple[int, int, int, str]]:
    m = Manifest(manifest_path(lake))
    try:
        return [(f.partition, f.first_offset, f.end_offset, f.name) for f in m.files()]
    finally:
        m.close()


def offsets_in_files(lake: Path, partition: int) -> list[int]:
    names = [str(tier_dir(lake) / n) for p, _, _, n in files_of(lake) if p == partition]
    rows = duckdb.sql(f'SELECT "offset" FROM read_parquet({names!r}) ORDER BY 1').fetchall()
    return [r[0] for r in rows]


def test_files_tile_each_partition_and_hold_each_offset_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "lakehose.storage.columnar")
    build_lake(tmp_path, 5)
    assert "Python path" not in caplog.text  # DuckDB flattened every file
    Compactor(tmp_path, 2, 0, max_rows=60).run_once()  # the rest, now
    for p in (0, 1):
        spans = [(a, b) for q, a, b, _ in files_of(tmp_path) if q == p]
        assert spans[0][0] == 0 and all(
            x[1] == y[0] for x, y in zip(spans, spans[1:], strict=False)
        )
        assert offsets_in_files(tmp_path, p) == list(range(spans[-1][1]))
        assert spans[-1][1] == 12 * 25  # every batch of the partition


def test_what_a_killed_round_leaves_is_removed_and_written_again(tmp_path: Path) -> None:
    build_lake(tmp_path, 6)
    before = files_of(tmp_path)
    # a killed round: a half-written NDJSON, a half-written Parquet file, and a complete file
    # that was renamed into place but never recorded in the manifest
    root = tier_dir(tmp_path)
    (root / "tmp" / "0-999.ndjson").write_bytes(b'{"offset": 1')
    last = max((f for f in before if f[0] == 0), key=lambda f: f[2])
    (root / "p0" / "x.parquet.tmp").write_bytes(b"PAR1")
    unrecorded = root / "p0" / f"{last[2]:020d}-{last[2] + 25:020d}.parquet"
    shutil.copy(root / last[3], unrecorded)
    Compactor(tmp_path, 2, 0, max_rows=60).run_once()
    assert not (root / "tmp" / "0-999.ndjson").exists()
    assert not (root / "p0" / "x.parquet.tmp").exists()
    on_disk = {p.relative_to(root).as_posix() for p in root.glob("p*/*")}
    assert on_disk == {n for *_, n in files_of(tmp_path)}
    assert offsets_in_files(tmp_path, 0) == list(range(12 * 25))


def test_the_manifest_takes_only_a_file_that_starts_at_the_boundary(tmp_path: Path) -> None:
    build_lake(tmp_path, 7)
    m = Manifest(manifest_path(tmp_path))
    try:
        f = m.files(0)[-1]
        assert not m.add(f)  # the same range again: an overlap
        clone = type(f)(
            **{
                **{s: getattr(f, s) for s in f.__slots__},
                "name": "p0/other",
                "first_offset": f.end_offset + 1,
                "end_offset": f.end_offset + 5,
            }
        )
        assert not m.add(clone)  # a gap
    finally:
        m.close()


def test_retention_removes_files_and_search_still_agrees(tmp_path: Path) -> None:
    build_lake(tmp_path, 8)
    writer = PartitionWriter(tmp_path, 0, durability="none", zstd_level=1)
    try:
        dropped = writer.apply_retention(None, 1)  # keep only the newest batch
    finally:
        writer.close()
    assert dropped > 0
    stale = [f for f in files_of(tmp_path) if f[0] == 0]
    for query in ("count()", "severity=ERROR | groupBy(host)", "failed | count()"):
        rows, mixed, _ = both(tmp_path, query, TimeRange())
        assert mixed == rows  # before the compactor ran: files past retention are not read
    Compactor(tmp_path, 2, 0).run_once()
    assert not [f for f in files_of(tmp_path) if f[0] == 0 and f in stale]
    for _, _, _, name in stale:
        assert not (tier_dir(tmp_path) / name).exists()
    for query in ("count()", "severity=ERROR | groupBy(host)"):
        rows, mixed, search = both(tmp_path, query, TimeRange())
        assert mixed == rows
    assert search.stats.columnar_files > 0  # the last: fields, not tags alone


@pytest.mark.parametrize("after", [None])
def test_nothing_is_compacted_before_its_time(tmp_path: Path, after: None) -> None:
    build_lake(tmp_path, 9)
    before = files_of(tmp_path)
    assert Compactor(tmp_path, 2, 3600).run_once().files == 0
    assert files_of(tmp_path) == before


def test_a_manifest_from_before_column_tokens_opens_and_gains_them(tmp_path: Path) -> None:
    import sqlite3

    from lakehose.storage.columnar.manifest import SCHEMA

    path = tmp_path / "manifest.db"
    old = SCHEMA.replace(",\n    column_tokens BLOB", "")
    con = sqlite3.connect(path)
    con.executescript(old)
    con.execute(
        "INSERT INTO files VALUES ('p0/a', 0, 0, 5, 1, 2, 3, 4, 5, 99, '[]', '[]', 8, NULL)"
    )
    con.commit()
    con.close()
    reading = Manifest(path, readonly=True)
    assert [(f.name, f.column_tokens) for f in reading.files(tokens=True)] == [("p0/a", None)]
    reading.close()
    writing = Manifest(path)  # adds the column
    assert [f.rows for f in writing.files(tokens=True)] == [5]
    writing.close()
    con = sqlite3.connect(path)
    assert "column_tokens" in [r[1] for r in con.execute("PRAGMA table_info(files)")]
    con.close()
