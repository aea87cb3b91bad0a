"""``lakehose search``: on the data directory (server running or not) and against a server."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer
from tests.helpers import cli, cli_json

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def lake(server: RunningServer, hec: httpx.Client) -> RunningServer:
    events = [
        {
            "time": T0 + i,
            "host": f"web-{i % 2}",
            "event": {"n": i, "user": "alice" if i % 3 == 0 else "bob", "msg": f"request {i}"},
        }
        for i in range(6)
    ]
    body = "\n".join(orjson.dumps(e).decode() for e in events)
    assert hec.post("/services/collector", content=body).json()["code"] == 0
    assert (
        hec.post("/services/collector", json={"event": "recent text event, sent now"}).json()[
            "code"
        ]
        == 0
    )
    return server


def ndjson(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_json_output_is_one_event_per_line_newest_first(lake: RunningServer) -> None:
    out = cli("search", "user=alice", "--json", data_dir=lake.data_dir).stdout
    rows = ndjson(out)
    assert [r["event"]["n"] for r in rows] == [3, 0]
    assert rows[0]["#connector"] == "default" and rows[0]["@timestamp"] == (T0 + 3) * 1000


def test_the_table_for_people_shows_time_host_and_event(lake: RunningServer) -> None:
    proc = cli("search", "user=alice", data_dir=lake.data_dir)
    lines = proc.stdout.splitlines()
    assert lines[0].split("\t") == ["TIME", "#CONNECTOR", "HOST", "EVENT"]
    assert lines[1].split("\t")[:3] == ["2023-11-14T22:13:23.000Z", "default", "web-1"]
    assert (
        lines[1].split("\t")[3]
        == orjson.dumps({"n": 3, "user": "alice", "msg": "request 3"}).decode()
    )
    assert "2 rows; 2 of " in proc.stderr


def test_aggregates_print_their_columns(lake: RunningServer) -> None:
    out = cli(
        "search", "n=* | groupBy(user, function=[count(), max(n)])", data_dir=lake.data_dir
    ).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["user", "_count", "_max"], ["bob", "4", "5"], ["alice", "2", "3"]]
    rows = ndjson(cli("search", "n=* | count()", "--json", data_dir=lake.data_dir).stdout)
    assert rows == [{"_count": 6}]


def test_time_options_and_limit(lake: RunningServer) -> None:
    def ns(*args: str) -> list[Any]:
        out = cli("search", *args, "--json", data_dir=lake.data_dir).stdout
        return [
            r["event"]["n"] if isinstance(r["event"], dict) else r["event"] for r in ndjson(out)
        ]

    assert ns("", "--since", "1h") == ["recent text event, sent now"]
    assert ns("", "--from", str(T0 + 1), "--to", "2023-11-14T22:13:24Z") == [3, 2, 1]
    assert ns("n=*", "--limit", "2") == [5, 4]


def test_a_query_mistake_is_shown_with_a_caret(lake: RunningServer) -> None:
    proc = cli("search", "user=alice | groupBy(", data_dir=lake.data_dir, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: unexpected end of query") and "column 22" in lines[0]
    assert lines[1] == "  user=alice | groupBy(" and lines[2] == "  " + " " * 21 + "^"


def test_usage_errors(lake: RunningServer, tmp_path: Any) -> None:
    proc = cli("search", "x", "--since", "1h", "--from", "2h", data_dir=lake.data_dir, check=False)
    assert proc.returncode == 2 and "use --since or --from, not both" in proc.stderr
    proc = cli("search", "x", "--url", lake.url, data_dir=lake.data_dir, check=False)
    assert proc.returncode == 2 and "--url needs --client-id" in proc.stderr
    proc = cli("search", "x", data_dir=tmp_path / "nowhere", check=False)
    assert proc.returncode == 2 and "cannot be used" in proc.stderr


def test_the_same_search_against_the_server(lake: RunningServer) -> None:
    created = cli_json(
        "client", "create", "cli-search", "--scope", "search:read", data_dir=lake.data_dir
    )
    remote = [
        "--url",
        lake.url,
        "--client-id",
        created["client_id"],
        "--client-secret",
        created["client_secret"],
    ]
    local = ndjson(cli("search", "n=*", "--json", data_dir=lake.data_dir).stdout)
    served = ndjson(cli("search", "n=*", "--json", *remote).stdout)
    assert served == local and len(served) == 6
    out = cli("search", "n=* | groupBy(host)", *remote).stdout
    assert [line.split() for line in out.splitlines()] == [
        ["host", "_count"],
        ["web-0", "3"],
        ["web-1", "3"],
    ]
    proc = cli("search", "n=*", "--limit", "4", "--json", *remote)
    assert [r["event"]["n"] for r in ndjson(proc.stdout)] == [5, 4, 3, 2]
    proc = cli("search", "n=* |", *remote, check=False)
    assert proc.returncode == 1 and "unexpected end of query" in proc.stderr and "^" in proc.stderr
    proc = cli(
        "search",
        "n=*",
        "--url",
        lake.url,
        "--client-id",
        created["client_id"],
        "--client-secret",
        "wrong",
        check=False,
    )
    assert proc.returncode == 1 and "OAuth2 token: 403 access denied" in proc.stderr
