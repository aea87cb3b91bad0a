"""The columnar tier through a running server: ``lakehose compact`` beside it, search over both
tiers, tier sizes in status and metrics, the feed unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.console.session import ANALYST, PASSWORD, create_user, http_session
from tests.helpers import bearer_token, cli, cli_json
from tests.server.streamkit import first_stream, open_feed, send, stream_token


def envelopes(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "time": 1_700_000_000 + n,
            "host": f"h{n % 3}",
            "event": {
                "n": n,
                "severity": "ERROR" if n % 4 == 0 else "INFO",
                "status": 404 if n % 5 == 0 else "200",
                "msg": "Login FAILED" if n % 10 == 0 else "ok",
            },
        }
        for n in range(start, start + count)
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("columnar") / "data"
    with run_server(data_dir) as running:
        create_user(running.data_dir, ANALYST, "analyst", PASSWORD)
        for start in range(0, 300, 100):
            send(running, envelopes(start, 100))
        yield running


@pytest.fixture(scope="module")
def compacted(server: RunningServer) -> dict[str, Any]:
    """``lakehose compact --json`` while the server runs; then 100 newer events (rows only)."""
    found: dict[str, Any] = cli_json("compact", data_dir=server.data_dir)
    send(server, envelopes(300, 100))
    return found


_tokens: dict[str, str] = {}


def search(server: RunningServer, query: str) -> dict[str, Any]:
    token = _tokens.get(server.url) or _tokens.setdefault(
        server.url, bearer_token(server, "search:read")
    )
    reply = httpx.post(
        server.url + "/api/v1/search",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,  # DuckDB's first query over the files can take seconds on a loaded machine
    )
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def test_compact_reports_what_it_wrote_and_each_tier(compacted: dict[str, Any]) -> None:
    assert compacted["compacted_events"] == 300 and compacted["files_written"] == 1
    tiers = {t["tier"]: t for t in compacted["tiers"]}
    assert tiers["rows"]["events"] == 300 and tiers["columnar"]["events"] == 300
    assert tiers["columnar"]["bytes"] > 0 and tiers["columnar"]["bytes_per_event"] > 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("severity=ERROR | count()", [{"_count": 100}]),
        ("status=404 | count()", [{"_count": 80}]),
        ("status>=200 | count()", [{"_count": 400}]),
        ("failed | count()", [{"_count": 40}]),
        (
            "severity=ERROR | groupBy(host)",
            [
                {"host": "h0", "_count": 34},
                {"host": "h1", "_count": 33},
                {"host": "h2", "_count": 33},
            ],
        ),
        ("sum(n)", [{"_sum": sum(range(400))}]),
    ],
)
def test_aggregates_count_both_tiers_once(
    server: RunningServer, compacted: dict[str, Any], query: str, expected: list[Any]
) -> None:
    found = search(server, query)
    assert found["resources"] == expected
    stats = found["meta"]["search"]
    assert stats["columnar_files"] == 1
    # 300 events in the file and the newer batch of 100 from the rows; matched: every
    # event the filter kept, in either tier
    assert stats["events_scanned"] == 400
    counted = expected[0].get("_count")
    assert stats["events_matched"] == (
        sum(r["_count"] for r in expected) if counted is not None else 400
    )


def test_the_cli_summary_counts_the_columnar_tier(
    server: RunningServer, compacted: dict[str, Any]
) -> None:
    """``lakehose search`` on the data directory: the summary counts the events the columnar
    tier answered for (it said "0 of 0 events matched" when the files answered it all)."""
    proc = cli("search", "severity=ERROR | count()", data_dir=server.data_dir)
    assert proc.stdout.split() == ["_count", "100"]
    assert "1 row; 100 of 400 events matched" in proc.stderr


def test_the_console_page_and_export_use_both_tiers(
    server: RunningServer, compacted: dict[str, Any]
) -> None:
    """The console's search page and its export answer an aggregate on both tiers: the page
    says the columnar file was read, and every event is counted once."""
    query = "severity=ERROR | groupBy(host)"
    with http_session(server.url, ANALYST, PASSWORD) as client:
        page = client.get("/console/search", params={"q": query, "start": ""})
        assert page.status_code == 200, page.text
        assert 'data-columnar-files="1"' in page.text
        assert "<td>h0</td><td>34</td>" in page.text
        events = client.get("/console/search", params={"q": "severity=ERROR", "start": ""})
        assert 'data-columnar-files="0"' in events.text  # an event list reads the row log
        export = client.get(
            "/console/api/v1/search/export", params={"q": query, "start": "", "format": "ndjson"}
        )
    assert export.status_code == 200, export.text
    rows = [orjson.loads(line) for line in export.text.splitlines()]
    assert rows == [
        {"host": "h0", "_count": 34},
        {"host": "h1", "_count": 33},
        {"host": "h2", "_count": 33},
    ]


def test_the_histogram_counts_both_tiers_once(
    server: RunningServer, compacted: dict[str, Any]
) -> None:
    token = _tokens.get(server.url) or _tokens.setdefault(
        server.url, bearer_token(server, "search:read")
    )
    reply = httpx.get(
        server.url + "/api/v1/search/histogram",
        params={"q": "severity=ERROR", "buckets": "4"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    found = reply.json()["resources"][0]
    assert found["total"] == 100 and sum(found["counts"]) == 100
    assert found["stats"]["columnar_files"] == 1
    assert found["stats"]["events_matched"] == 100


def test_event_lists_and_the_feed_read_the_row_log(
    server: RunningServer, compacted: dict[str, Any]
) -> None:
    found = search(server, "severity=ERROR")
    assert [e["event"]["n"] for e in found["resources"]] == list(range(396, -1, -4))
    token = stream_token(server, "columnar-api-feed")
    with open_feed(first_stream(server, token, "columnarapi"), "&offset=0") as feed:
        events = feed.events(400)
    assert [e["event"]["n"] for e in events] == list(range(400))


def test_status_and_metrics_show_each_tier(
    server: RunningServer, compacted: dict[str, Any]
) -> None:
    status = httpx.get(server.url + "/api/v1/status").json()["resources"][0]
    tiers = {(t["tier"], t["partition"]): t["events"] for t in status["tiers"]}
    assert tiers == {("rows", 0): 400, ("columnar", 0): 300}
    metrics = httpx.get(server.url + "/metrics").text
    assert 'lakehose_tier_events{partition="0",tier="columnar"} 300.0' in metrics
    assert 'lakehose_tier_events{partition="0",tier="rows"} 400.0' in metrics
