"""Aggregates read batches in bulk (needle jumps, many lines decoded at once); results stay exact.

Each event below says whether ``severity=ERROR`` matches it, so every count is
known in advance; the event list (which reads line by line) must agree too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehose.parsers.hec import decode_events
from lakehose.query import plan_query, time_range
from lakehose.query.plan import Plan
from lakehose.query.timerange import TimeRange
from lakehose.records import decompress_data
from lakehose.search.candidates import choose_probe
from lakehose.search.engine import Search
from lakehose.storage.base import LogReader, PendingAppend
from lakehose.storage.lake import open_readers
from lakehose.storage.sqlite.partition import PartitionWriter, create_partition
from tests.helpers import lake_context


def run(
    plan: Plan, readers: list[LogReader], span: TimeRange, **kw: Any
) -> tuple[list[dict[str, Any]], Search]:
    """Run a search over readers the test keeps open (``search.run`` would close them)."""
    search = Search(plan, readers, span, **kw)
    return list(search.rows()), search


T0 = 1_700_000_000
FILLER = b'{"severity":"INFO","msg":"all fine","user":{"name":"u1"}}'

Event = tuple[bytes, bytes | None, bool]  # (event JSON as sent, indexed fields, matches)

# The needle "ERROR" is looked for by jumping to its rare byte E. In CLEAN, every E is in
# the needle; in STRAY, Es occur elsewhere too (stops that are not hits).
CLEAN: list[Event] = [
    (b'{"severity":"ERROR","msg":"Disk Full"}', None, True),
    (b'{"x":{"severity":"ERROR"}}', None, False),  # nested, not top-level
    (b'{"severity":"INFO","msg":"ERROR"}', None, False),  # the value in another field
    (b'{"msg":"no severity"}', None, False),  # missing field
    (b'{"severity":["WARN","ERROR"]}', None, True),  # an array holding it
    (b'{"severity":"ERROR","severity":"INFO"}', None, False),  # the last duplicate wins
    (b'{"severity":"INFO","severity":"ERROR"}', None, True),
    (b'{"severity":"INFO"}', b'{"severity":"ERROR"}', True),  # an indexed field comes first
    (b'{"severity":"ERROR"}', b'{"severity":"INFO"}', False),
    (b'{"Severity":"ERROR"}', None, False),  # field names are case-sensitive
    (b'{"severity":5,"code":"ERROR"}', None, False),
    (b'{"severity":"ERROR","deep":{"a":[{"severity":"INFO"}]}}', None, True),
]
STRAY: list[Event] = [
    (b'{"msg":"EXIT without severity"}', None, False),
    (b'"ERROR as a string event"', None, False),
    (b'{"severity":"ERROR "}', None, False),
    (b'{"severity":"ERRORS"}', None, False),
    (b'{"severity":"ERROR","msg":"EOF"}', None, True),
    *CLEAN,
]
# Batches that take the line-by-line paths: JSON escapes (the needle cannot drive the scan)
# and tabs in the JSON (lines cannot be joined into one document).
ESCAPED: list[Event] = [
    (b'{"severity":"ERR\\u004FR"}', None, True),
    (b'{"severity":"ERR\\u004FX"}', None, False),
    (b'{"msg":"\\"ERROR\\""}', None, False),
    (b'{"severity":"ERROR"}', None, True),
]
TABBED: list[Event] = [
    (b'{"severity":\t"ERROR"}', None, True),
    (b'{\t"severity":"INFO"}', None, False),
    (b'{"severity":"ERROR"}', None, True),
]
HOSTS = ["h0", "h1", "h2", None]


def envelope(n: int, event: bytes, fields: bytes | None) -> bytes:
    host = HOSTS[n % len(HOSTS)]
    parts = [b'{"time":%d' % (T0 + n), b'"event":' + event]
    if host is not None:
        parts.append(b'"host":"%s"' % host.encode())
    if fields is not None:
        parts.append(b'"fields":' + fields)
    return b",".join(parts) + b"}"


def spread(items: list[Event], size: int) -> list[Event]:
    """``items`` spread among filler, the first and the last line included."""
    out: list[Event] = [(FILLER, None, False)] * size
    step = (size - 1) // len(items)
    for i, item in enumerate(items):
        out[i * step] = item
    out[-1] = items[0]  # the last line: no newline after it
    return out


class Lake:
    """Batches of the cases above among filler: fw first clean then stray (the choice of
    byte made on the first is kept for the second), proxy stray alone, escaped, tabbed."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # (n, host, connector, does severity=ERROR match, event JSON)
        self.events: list[tuple[int, str | None, str, bool, bytes]] = []
        create_partition(data_dir, 0)
        writer = PartitionWriter(data_dir, 0, durability="none", zstd_level=1)
        for connector, items in (
            ("fw", spread(CLEAN, 120)),
            ("fw", spread(STRAY, 120)),
            ("proxy", spread(STRAY, 120)),
            ("edr", ESCAPED),
            ("dns", TABBED),
        ):
            bodies = []
            for event, fields, match in items:
                n = len(self.events)
                bodies.append(envelope(n, event, fields))
                self.events.append((n, HOSTS[n % len(HOSTS)], connector, match, event))
            ctx = lake_context(connector)
            normalised, rejection = decode_events(b"\n".join(bodies), ctx)
            assert rejection is None
            writer.append([PendingAppend(normalised.slices)])
        writer.close()

    def expected(self, start: int = 0, end: int | None = None) -> Counter[str | None]:
        """Matching events by host, for event numbers in [start, end)."""
        return Counter(
            host
            for n, host, _, match, _ in self.events
            if match and n >= start and (end is None or n < end)
        )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(tmp_path_factory.mktemp("aggregate"))


@pytest.fixture
def readers(lake: Lake) -> Iterator[list[LogReader]]:
    found = open_readers(lake.data_dir)
    yield found
    for r in found:
        r.close()


def search(readers: list[LogReader], query: str, **kw: Any) -> list[dict[str, Any]]:
    start, end = kw.pop("start", None), kw.pop("end", None)
    rows, _ = run(plan_query(query), readers, time_range(start, end), limit=None)
    return rows


def test_the_lake_keeps_each_event_as_it_was_spelled(readers: list[LogReader]) -> None:
    """The cases below mean something only if the stored lines hold these spellings."""
    (reader,) = readers
    blobs = reader.blobs([0, 240, 360, 364])
    clean, stray, escaped, tabbed = (decompress_data(blobs[o], 0, o) for o in (0, 240, 360, 364))
    assert b'{"severity":"ERROR","severity":"INFO"}' in clean
    assert b"ERR\\u004FR" in escaped and b'{"severity":\t"ERROR"}' in tabbed
    # E is jumped to: unchecked after a clean batch, each stop checked after a stray one.
    assert choose_probe(clean, b'"ERROR"') == (b"E", 1, False)
    assert choose_probe(stray, b'"ERROR"') == (b"E", 1, True)


def test_a_group_by_counts_exactly_the_events_that_match(
    lake: Lake, readers: list[LogReader]
) -> None:
    rows = search(readers, "severity=ERROR | groupBy(host)")
    expected = lake.expected()
    del expected[None]  # an event without the group field is left out
    assert {r["host"]: r["_count"] for r in rows} == expected
    assert search(readers, "severity=ERROR | count()") == [
        {"_count": sum(lake.expected().values())}
    ]


def test_the_event_list_agrees_with_the_aggregates(lake: Lake, readers: list[LogReader]) -> None:
    rows = search(readers, "severity=ERROR")
    assert Counter(r["host"] for r in rows) == lake.expected()


def test_a_group_by_two_fields_pushes_each_row(lake: Lake, readers: list[LogReader]) -> None:
    rows = search(readers, "severity=ERROR | groupBy([#connector, host])")
    expected = Counter(
        (connector, host) for _, host, connector, match, _ in lake.events if match and host
    )
    assert {(r["#connector"], r["host"]): r["_count"] for r in rows} == expected


def test_a_time_range_that_cuts_a_batch_checks_each_event(
    lake: Lake, readers: list[LogReader]
) -> None:
    rows = search(readers, "severity=ERROR | groupBy(host)", start=str(T0 + 30), end=str(T0 + 250))
    expected = lake.expected(30, 250)
    del expected[None]
    assert {r["host"]: r["_count"] for r in rows} == expected


def test_a_group_by_without_a_filter_reads_every_line(lake: Lake, readers: list[LogReader]) -> None:
    rows = search(readers, "groupBy(host)")
    expected = Counter(host for _, host, _, _, _ in lake.events if host is not None)
    assert {r["host"]: r["_count"] for r in rows} == expected


def test_a_field_and_free_text_together_find_what_both_match(
    lake: Lake, readers: list[LogReader]
) -> None:
    """The longer needle, "ERROR", is case-sensitive: it is looked for as written, while
    the free text's letters are looked for in any case."""
    expected = sum(1 for *_, match, event in lake.events if match and b"disk" in event.lower())
    assert expected > 0
    assert search(readers, "severity=ERROR disk | count()") == [{"_count": expected}]
    assert len(search(readers, "severity=ERROR disk")) == expected
