"""The search engine over a real lake on disk: planning from summaries, paging, order, limits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lakehose.errors import QueryError
from lakehose.parsers.hec import decode_events
from lakehose.query import plan_query, time_range
from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.search.engine import Search
from lakehose.storage.base import LogReader, PendingAppend
from lakehose.storage.lake import open_readers
from lakehose.storage.sqlite.partition import PartitionWriter, create_partition, partition_path
from tests.helpers import lake_context


def run(
    plan: Plan, readers: list[LogReader], span: TimeRange, **kw: Any
) -> tuple[list[dict[str, Any]], Search]:
    """Run a search over readers the test keeps open (``search.run`` would close them)."""
    search = Search(plan, readers, span, **kw)
    return list(search.rows()), search


T0 = 1_700_000_000
CONNECTORS = ["fw", "edr", "dns", "proxy"]


def append_batch(writer: PartitionWriter, connector: str, envelopes: list[dict[str, Any]]) -> None:
    ctx = lake_context(connector)
    normalised, rejection = decode_events(b"\n".join(orjson.dumps(e) for e in envelopes), ctx)
    assert rejection is None
    writer.append([PendingAppend(normalised.slices)])


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two partitions; 40 batches of 10 events, one connector per batch, event n at T0 + n s."""
    data_dir = tmp_path_factory.mktemp("engine")
    writers = []
    for p in range(2):
        create_partition(data_dir, p)
        writers.append(PartitionWriter(data_dir, p, durability="none", zstd_level=1))
    for b in range(40):
        envelopes = [
            {
                "time": T0 + b * 10 + i,
                "host": f"h{(b * 10 + i) % 3}",
                "event": {
                    "n": b * 10 + i,
                    "level": "ERROR" if i == 0 else "INFO",
                    "user": {"name": f"u{i}"},
                },
            }
            for i in range(10)
        ]
        append_batch(writers[b % 2], CONNECTORS[b % 4], envelopes)
    for w in writers:
        w.close()
    return data_dir


@pytest.fixture
def readers(lake: Path) -> Iterator[list[LogReader]]:
    found = open_readers(lake)
    yield found
    for r in found:
        r.close()


def search(readers: list[LogReader], query: str, **kw: Any) -> tuple[list[dict[str, Any]], Search]:
    start, end = kw.pop("start", None), kw.pop("end", None)
    return run(plan_query(query), readers, time_range(start, end), **kw)


def numbers(rows: list[dict[str, Any]]) -> list[int]:
    return [r["event"]["n"] for r in rows]


def test_an_event_list_is_newest_first_across_partitions(readers: list[LogReader]) -> None:
    rows, s = search(readers, "", limit=25)
    assert numbers(rows) == list(range(399, 374, -1))
    assert {r["partition"] for r in rows} == {0, 1}
    assert rows[0]["#connector"] == "proxy" and rows[0]["@timestamp"] == (T0 + 399) * 1000
    assert s.next_cursor is not None and s.stats.batches_read == 3


def test_paging_with_cursors_returns_every_event_once(readers: list[LogReader]) -> None:
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        rows, s = search(readers, "level=INFO", limit=33, cursor=cursor)
        seen += numbers(rows)
        pages += 1
        if s.next_cursor is None:
            break
        cursor = s.next_cursor
    expected = [n for n in range(399, -1, -1) if n % 10]
    assert seen == expected and pages == 11


def test_a_cursor_keeps_its_time_range_and_query(readers: list[LogReader]) -> None:
    rows, s = search(readers, "", limit=5, start=str(T0 + 100), end=str(T0 + 120))
    assert numbers(rows) == [119, 118, 117, 116, 115]
    rows, _ = search(readers, "", limit=100, cursor=s.next_cursor)  # no range given again
    assert numbers(rows) == list(range(114, 99, -1))
    with pytest.raises(QueryError, match="another query"):
        search(readers, "level=ERROR", cursor=s.next_cursor)
    with pytest.raises(QueryError, match="invalid cursor"):
        search(readers, "", cursor="not-a-cursor")
    with pytest.raises(QueryError, match="cannot be paged|no next page"):
        search(readers, "| count()", cursor=s.next_cursor)


def test_a_tag_and_time_count_reads_only_the_batches_at_the_edges(
    readers: list[LogReader],
) -> None:
    # Batches of fw are 0, 4, 8...: events 0-9, 40-49, 80-89, ...; the range cuts two of them.
    rows, s = search(readers, "#connector=fw | count()", start=str(T0 + 45), end=str(T0 + 285))
    expected = sum(1 for n in range(45, 285) if (n // 10) % 4 == 0)
    assert rows == [{"_count": expected}]
    assert s.stats.batches_read == 2 and s.stats.batches_from_summaries == 5
    assert s.stats.events_from_summaries == 50 and s.stats.events_scanned == 20


def test_group_by_a_tag_counts_from_summaries(readers: list[LogReader]) -> None:
    rows, s = search(readers, "groupBy(#connector)")
    assert sorted((r["#connector"], r["_count"]) for r in rows) == [
        (c, 100) for c in sorted(CONNECTORS)
    ]
    assert s.stats.batches_read == 0 and s.stats.events_from_summaries == 400


def test_a_needle_skips_what_cannot_match_without_skipping_matches(
    readers: list[LogReader],
) -> None:
    rows, s = search(readers, "level=ERROR | groupBy(host)")
    assert sorted((r["host"], r["_count"]) for r in rows) == [("h0", 14), ("h1", 13), ("h2", 13)]
    assert s.stats.events_matched == 40 and s.stats.events_scanned == 400


def test_head_lists_the_oldest_first_and_stops_early(readers: list[LogReader]) -> None:
    rows, s = search(readers, "head(3)")
    assert numbers(rows) == [0, 1, 2] and s.stats.batches_read == 1
    rows, _ = search(readers, "tail(3)")
    assert numbers(rows) == [399, 398, 397]
    rows, _ = search(readers, "level=INFO | tail(12) | head(2)")
    assert numbers(rows) == [388, 387]  # the oldest two of the newest twelve


def test_sort_keeps_the_best_rows_with_missing_values_last(readers: list[LogReader]) -> None:
    rows, _ = search(readers, "sort(n, order=asc, limit=3) | table([n])")
    assert rows == [{"n": 0}, {"n": 1}, {"n": 2}]
    rows, _ = search(readers, "sort([user.name, n], limit=2) | table([user.name, n])")
    assert rows == [{"user.name": "u9", "n": 399}, {"user.name": "u9", "n": 389}]
    rows, _ = search(readers, "sort(missing, limit=2) | table([n])")
    assert len(rows) == 2


def test_aggregates_over_fields(readers: list[LogReader]) -> None:
    rows, _ = search(
        readers,
        "level=ERROR | groupBy(#connector, function=[count(), sum(n), min(n), max(n), avg(n)])",
    )
    fw = next(r for r in rows if r["#connector"] == "fw")
    firsts = [b * 10 for b in range(0, 40, 4)]
    assert fw == {
        "#connector": "fw",
        "_count": 10,
        "_sum": sum(firsts),
        "_min": 0,
        "_max": 360,
        "_avg": sum(firsts) / 10,
    }
    rows, _ = search(readers, "count(user.name, distinct=true, as=users)")
    assert rows == [{"users": 10}]
    rows, _ = search(readers, "nothing-matches-this | count()")
    assert rows == [{"_count": 0}]
    rows, _ = search(readers, "level=ERROR | count()")
    assert rows == [{"_count": 40}]
    rows, _ = search(readers, "level=INFO | count(as=n)", start=str(T0 + 5))
    assert rows == [{"n": 395 - 39}]


def test_group_limits_are_reported(readers: list[LogReader]) -> None:
    rows, s = search(readers, "groupBy(n, limit=5)")
    assert len(rows) == 5 and s.stats.warnings and "kept its first 5 groups" in s.stats.warnings[0]
    rows, s = search(readers, "groupBy(n)", limit=7)
    assert len(rows) == 7 and s.truncated and s.next_cursor is None


def test_rows_stream_batch_by_batch(readers: list[LogReader]) -> None:
    s = Search(plan_query("level=INFO"), readers, time_range(None, None), limit=None)
    stream = s.rows()
    first = [next(stream) for _ in range(9)]
    assert s.stats.batches_read == 1 and numbers(first) == list(range(399, 390, -1))
    assert len(list(stream)) == 360 - 9


def test_a_damaged_batch_is_skipped_with_a_warning(tmp_path: Path) -> None:
    create_partition(tmp_path, 0)
    writer = PartitionWriter(tmp_path, 0, durability="none", zstd_level=1)
    for b in range(3):
        append_batch(writer, "fw", [{"time": T0 + b, "event": {"b": b}}])
    writer.close()
    conn = sqlite3.connect(partition_path(tmp_path, 0))
    conn.execute("UPDATE batch_data SET data = x'28b52ffd0000' WHERE first_offset = 1")
    conn.commit()
    conn.close()
    readers = open_readers(tmp_path)
    rows, s = run(plan_query(""), readers, time_range())
    assert [r["event"]["b"] for r in rows] == [2, 0]
    assert s.stats.warnings and "offset 1" in s.stats.warnings[0]
    # Aggregates read batches in a loop of their own, which skips it the same way.
    rows, s = run(plan_query("groupBy(b)"), readers, time_range())
    assert sorted((r["b"], r["_count"]) for r in rows) == [(0, 1), (2, 1)]
    assert s.stats.warnings and "offset 1" in s.stats.warnings[0]


def test_a_table_pages_like_an_event_list(readers: list[LogReader]) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        rows, s = search(readers, "level=ERROR | table([n, host])", limit=7, cursor=cursor)
        seen += [r["n"] for r in rows]
        if s.next_cursor is None:
            break
        cursor = s.next_cursor
    assert seen == list(range(390, -1, -10))
    _, s = search(readers, "level=ERROR | table([n], limit=3)", limit=2)
    assert s.next_cursor is None  # a table with its own limit is not paged


def test_a_head_longer_than_the_limit_says_it_was_cut(readers: list[LogReader]) -> None:
    rows, s = search(readers, "head(50)", limit=20)
    assert numbers(rows) == list(range(20)) and s.truncated and s.next_cursor is None
    rows, s = search(readers, "head(20)", limit=20)
    assert len(rows) == 20 and not s.truncated


def test_a_next_cursor_means_more_rows_exist(readers: list[LogReader]) -> None:
    rows, s = search(readers, "level=ERROR", limit=40)
    assert len(rows) == 40 and s.next_cursor is None and not s.truncated
    rows, s = search(readers, "level=ERROR", limit=39)
    assert len(rows) == 39 and s.next_cursor is not None
    rows, s = search(readers, "level=ERROR", limit=39, cursor=s.next_cursor)
    assert numbers(rows) == [0] and s.next_cursor is None
