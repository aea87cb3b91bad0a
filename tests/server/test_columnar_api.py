"""The columnar tier through a running server: ``lakehose compact`` beside it, search over both
tiers, tier sizes in status and metrics, the feed unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, cli_json
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
    ],
)
def test_aggregates_count_both_tiers_once(
    server: RunningServer, compacted: dict[str, Any], query: str, expected: list[Any]
) -> None:
    found = search(server, query)
    assert found["resources"] == expected
    assert found["meta"]["search"]["columnar_files"] == 1
    assert found["meta"]["search"]["events_scanned"] == 100  # the newer batch, from the rows


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
