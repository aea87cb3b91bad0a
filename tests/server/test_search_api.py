"""POST /api/v1/search, black-box: events sent over HEC (JSON and raw) are found by every kind
of filter and pipeline step, time ranges hold, and bad requests get clear 4xx answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import assert_documented, cli_json

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def token_for(server: RunningServer, name: str, *scopes: str) -> str:
    args = ["client", "create", name]
    for scope in scopes:
        args += ["--scope", scope]
    created = cli_json(*args, data_dir=server.data_dir)
    reply = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": created["client_id"], "client_secret": created["client_secret"]},
    )
    assert reply.status_code == 201
    return str(reply.json()["access_token"])


EVENTS: list[dict[str, Any]] = [
    {
        "time": T0 + 1,
        "host": "web-1",
        "source": "auth",
        "fields": {"region": "eu"},
        "event": {
            "id": 1,
            "action": "login",
            "outcome": "failure",
            "user": {"name": "alice"},
            "status": 401,
            "bytes": 120,
            "msg": "Failed login for alice",
        },
    },
    {
        "time": T0 + 2,
        "host": "web-2",
        "source": "auth",
        "fields": {"region": "us"},
        "event": {
            "id": 2,
            "action": "login",
            "outcome": "success",
            "user": {"name": "bob"},
            "status": 200,
            "bytes": 300,
            "msg": "Login ok for bob",
        },
    },
    {
        "time": T0 + 3,
        "host": "web-1",
        "source": "app",
        "event": {
            "id": 3,
            "action": "upload",
            "user": {"name": "alice"},
            "status": 500,
            "bytes": 5000,
            "msg": "upload failed: disk full",
            "tags": ["io", "disk"],
        },
    },
    {
        "time": T0 + 4,
        "host": "db-1",
        "sourcetype": "postgres",
        "event": 'FATAL: password authentication failed for user "carol"',
    },
]
RAW_LINES = [
    "action=deny src=10.0.0.5 dst=10.0.0.9 port=22 user=root",
    "action=allow src=10.0.0.6 dst=10.0.0.9 port=443",
    '{"action": "deny", "src": "10.0.0.7", "port": 3389}',
]


@pytest.fixture(scope="module")
def lake(server: RunningServer, hec: httpx.Client) -> RunningServer:
    """The events above through /event (default connector), the raw lines through /raw
    (connector "firewall", index net, kv parser), and one event with no time (now)."""
    assert (
        hec.post("/services/collector", content="\n".join(map(_json, EVENTS))).json()["code"] == 0
    )
    firewall = cli_json(
        "connector",
        "create",
        "firewall",
        "--index",
        "net",
        "--parser",
        "kv",
        "--host",
        "fw-1",
        data_dir=server.data_dir,
    )
    fw = {"Authorization": f"Splunk {firewall['api_key']}"}
    raw = httpx.post(
        server.url + "/services/collector/raw",
        params={"time": str(T0 + 10), "sourcetype": "fw:kv", "site": "lab"},
        headers=fw,
        content="\n".join(RAW_LINES),
    )
    assert raw.json() == {"text": "Success", "code": 0}
    recent = httpx.post(server.hec_url, headers=fw, json={"event": {"id": 9, "action": "recent"}})
    assert recent.json()["code"] == 0
    return server


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


@pytest.fixture(scope="module")
def api(lake: RunningServer) -> Iterator[httpx.Client]:
    token = token_for(lake, "search-api-reader", "search:read")
    with httpx.Client(
        base_url=lake.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def search(api: httpx.Client, query: str = "", **body: Any) -> dict[str, Any]:
    reply = api.post("/api/v1/search", json={"query": query, **body})
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    assert result["errors"] == []
    return result


def ids(api: httpx.Client, query: str, **body: Any) -> list[Any]:
    """What each matching event is (its id, else its src, else its text), newest first."""
    out = []
    for row in search(api, query, **body)["resources"]:
        event = row["event"]
        if isinstance(event, dict):
            out.append(event.get("id", event.get("src")))
        else:
            out.append(row["fields"].get("src", event))
    return out


FATAL = EVENTS[3]["event"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # free text: words, phrases, wildcards, regexes; case is ignored
        ("#connector=default failed", [FATAL, 3, 1]),
        ('"login for ALICE"', [1]),
        ("fatal", [FATAL]),
        ("up*full", [3]),
        ("/disk (full|space)/", [3]),
        ("/FAILED/", []),
        # field = value, != value, wildcards, regexes; dotted names and flattened names
        ("user.name=alice", [3, 1]),
        ("event.user.name=alice", [3, 1]),
        ("user.name=Alice", []),
        ("user.name=/^AL/i", [3, 1]),
        ("msg=*failed*", [3]),
        ("outcome=failure", [1]),
        ("#connector=default status!=200", [FATAL, 3, 1]),
        ("#connector=default outcome!=*", [FATAL, 3]),
        ("tags=disk", [3]),
        # numbers
        ("status>=400", [3, 1]),
        ("status>400 status<500", [1]),
        ("bytes<=300", [2, 1]),
        ("status=500.0", [3]),
        ("port>100", ["10.0.0.7", "10.0.0.6"]),
        # tags and metadata
        ("#connector=firewall", [9, "10.0.0.7", "10.0.0.6", "10.0.0.5"]),
        ("#index=net action=deny", ["10.0.0.7", "10.0.0.5"]),
        ("#sourcetype=postgres", [FATAL]),
        ("#sourcetype=fw:*", ["10.0.0.7", "10.0.0.6", "10.0.0.5"]),
        ("host=web-1", [3, 1]),
        ("host=fw-1 site=lab", ["10.0.0.7", "10.0.0.6", "10.0.0.5"]),
        ("source=app", [3]),
        # indexed fields: HEC fields, raw query parameters, parser output
        ("region=eu", [1]),
        ("fields.region=us", [2]),
        ("user=root", ["10.0.0.5"]),
        ("dst=10.0.0.9 action=allow", ["10.0.0.6"]),
        ('@rawstring="*dst=10.0.0.9*"', ["10.0.0.6", "10.0.0.5"]),
        ("@rawstring=*3389*", ["10.0.0.7"]),
        # and, or, not, parentheses
        ("(outcome=failure or status=500) and host=web-1", [3, 1]),
        ("login or upload not bob", [3, 1]),
        ("#connector=default not host=web-*", [FATAL]),
        ("!action=login action=*", [9, "10.0.0.7", "10.0.0.6", "10.0.0.5", 3]),
    ],
)
def test_each_kind_of_filter_finds_its_events(
    api: httpx.Client, query: str, expected: list[Any]
) -> None:
    assert ids(api, query) == expected


def test_raw_text_lines_keep_their_text(api: httpx.Client) -> None:
    rows = search(api, "user=root")["resources"]
    assert rows[0]["event"] == RAW_LINES[0] and rows[0]["fields"]["port"] == "22"
    rows = search(api, "port=3389")["resources"]
    assert rows[0]["event"] == {"action": "deny", "src": "10.0.0.7", "port": 3389}
    assert rows[0]["@rawstring"] == RAW_LINES[2]
    assert rows[0]["#connector"] == "firewall" and rows[0]["#index"] == "net"
    assert rows[0]["@timestamp"] == (T0 + 10) * 1000 and rows[0]["time"] == (T0 + 10) * 10**9


def test_an_event_list_is_newest_first_with_its_counts(api: httpx.Client) -> None:
    result = search(api, "#connector=default")
    assert [r["offset"] for r in result["resources"]] == [3, 2, 1, 0]
    meta = result["meta"]
    assert meta["search"]["kind"] == "events" and meta["search"]["events_matched"] == 4
    assert meta["search"]["events_scanned"] >= 4 and meta["search"]["took_ms"] >= 0
    assert meta["pagination"] == {"limit": 200, "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "columns", "rows"),
    [
        ("count()", ["_count"], [{"_count": 8}]),
        ("action=login | count()", ["_count"], [{"_count": 2}]),
        (
            "#connector=default | groupBy(host)",
            ["host", "_count"],
            [
                {"host": "web-1", "_count": 2},
                {"host": "db-1", "_count": 1},
                {"host": "web-2", "_count": 1},
            ],
        ),
        (
            "groupBy([#connector, action], function=count())",
            ["#connector", "action", "_count"],
            [
                {"#connector": "default", "action": "login", "_count": 2},
                {"#connector": "firewall", "action": "deny", "_count": 2},
                {"#connector": "default", "action": "upload", "_count": 1},
                {"#connector": "firewall", "action": "allow", "_count": 1},
                {"#connector": "firewall", "action": "recent", "_count": 1},
            ],
        ),
        (
            "status=* | groupBy(host, function=[count(), sum(bytes), max(status)])",
            ["host", "_count", "_sum", "_max"],
            [
                {"host": "web-1", "_count": 2, "_sum": 5120, "_max": 500},
                {"host": "web-2", "_count": 1, "_sum": 300, "_max": 200},
            ],
        ),
        (
            "groupBy(host) | _count > 1",
            ["host", "_count"],
            [{"host": "fw-1", "_count": 4}, {"host": "web-1", "_count": 2}],
        ),
        (
            "head(2) | table([id, host])",
            ["id", "host"],
            [{"id": 1, "host": "web-1"}, {"id": 2, "host": "web-2"}],
        ),
        ("tail(1) | table([id])", ["id"], [{"id": 9}]),
        (
            "status=* | sort(bytes, order=asc, limit=2) | table([id, bytes])",
            ["id", "bytes"],
            [
                {"id": 1, "bytes": 120},
                {"id": 2, "bytes": 300},
            ],
        ),
        ("status=* | sort(bytes) | head(1) | table([id])", ["id"], [{"id": 3}]),
        (
            "user.name=* | table([id, user.name, @timestamp])",
            ["id", "user.name", "@timestamp"],
            [
                {"id": 3, "user.name": "alice", "@timestamp": (T0 + 3) * 1000},
                {"id": 2, "user.name": "bob", "@timestamp": (T0 + 2) * 1000},
                {"id": 1, "user.name": "alice", "@timestamp": (T0 + 1) * 1000},
            ],
        ),
    ],
)
def test_each_pipeline_step(
    api: httpx.Client, query: str, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    result = search(api, query)
    assert result["meta"]["search"]["kind"] == "table"
    assert result["meta"]["search"]["columns"] == columns
    assert result["resources"] == rows


def test_time_ranges_are_honoured(api: httpx.Client) -> None:
    assert ids(api, "#connector=default", start=str(T0 + 2), end=str(T0 + 4)) == [3, 2]
    assert ids(api, "", start="2023-11-14T22:13:22Z", end="2023-11-14T22:13:24Z") == [3, 2]
    assert ids(api, "", start=(T0 + 3) * 1000, end=T0 + 5) == [FATAL, 3]
    assert ids(api, "", start="1h") == [9]  # sent without a time: received just now
    assert ids(api, "", end="1h") == ["10.0.0.7", "10.0.0.6", "10.0.0.5", FATAL, 3, 2, 1]
    result = search(api, "count()", start="24h", end="now")
    assert result["resources"] == [{"_count": 1}]
    assert result["meta"]["search"]["start"] < result["meta"]["search"]["end"]


def test_pages_follow_the_cursor(api: httpx.Client) -> None:
    seen: list[Any] = []
    cursor = None
    for _ in range(10):
        body: dict[str, Any] = {"limit": 3}
        if cursor:
            body["cursor"] = cursor
        result = search(api, "", **body)
        seen += [r["offset"] for r in result["resources"] if r["#connector"] == "default"]
        cursor = result["meta"]["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [3, 2, 1, 0]


def test_a_token_without_search_read_is_refused(lake: RunningServer) -> None:
    streams_only = token_for(lake, "search-api-streams", "streams:read")
    admin = token_for(lake, "search-api-admin", "admin")
    url = lake.url + "/api/v1/search"
    for headers, status in [
        ({}, 401),
        ({"Authorization": f"Bearer {streams_only}"}, 403),
        ({"Authorization": f"Bearer {lake.api_key}"}, 401),  # an ingest key cannot read
        ({"Authorization": f"Splunk {lake.api_key}"}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
    ]:
        reply = httpx.post(url, json={"query": "count()"}, headers=headers)
        assert reply.status_code == status, headers
        body = reply.json()
        assert (
            body["errors"][0]["code"] == status
            and body["errors"][0]["message"]
            and body["resources"] == []
        )
    reply = httpx.post(url, json={"query": "count()"}, headers={"Authorization": f"Bearer {admin}"})
    assert reply.status_code == 200  # admin implies every scope


@pytest.mark.parametrize(
    ("body", "message", "position"),
    [
        ({"query": "status>=400 and (user=bob"}, "unexpected end of query", (1, 26)),
        ({"query": "x | groupBy(host, colour=red)"}, "groupBy() has no argument 'colour'", (1, 26)),
        ({"query": "a\n| frob()"}, "unknown function frob()", (2, 3)),
        ({"query": "user=/[a-/"}, "bad regex", (1, 7)),
        ({"query": "#=1"}, "a tag needs a name", (1, 1)),
        ({"query": "x", "start": "last tuesday"}, "start 'last tuesday' is not a time", None),
        ({"query": "x", "start": "1h", "end": "2h"}, "start must be before end", None),
        ({"query": "x", "limit": 0}, "limit must be a whole number from 1 to 10000", None),
        ({"query": "x", "limit": "9"}, "field 'limit': expected int, got str", None),
        ({"query": 5}, "field 'query': expected str, got int", None),
        ({"query": "x", "colour": "red"}, "unknown field colour", None),
        ({"query": "x", "cursor": "bogus"}, "invalid cursor", None),
        (
            {"query": "x", "start": ["1h"]},
            "field 'start': expected int | float | str | null, got array",
            None,
        ),
    ],
)
def test_bad_requests_get_400_with_the_position(
    api: httpx.Client, body: dict[str, Any], message: str, position: tuple[int, int] | None
) -> None:
    reply = api.post("/api/v1/search", json=body)
    assert reply.status_code == 400
    error = reply.json()["errors"][0]
    assert error["code"] == 400 and message in error["message"]
    if position is not None:
        assert (error["line"], error["column"]) == position


def test_a_body_that_is_not_json_gets_400(api: httpx.Client) -> None:
    reply = api.post(
        "/api/v1/search", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["errors"][0]["message"]


def test_null_start_end_and_cursor_are_absent_as_the_document_says(
    api: httpx.Client, lake: RunningServer
) -> None:
    # schemathesis: {"end": null} was answered 200 (null reads as absent) while the document
    # allowed only a string or a number; the document now says null, and the server keeps it
    body = {"cursor": "", "end": None, "limit": 200, "query": "", "start": 0.0}
    reply = api.post("/api/v1/search", json=body)
    assert reply.status_code == 200 and reply.json()["resources"]
    assert reply.json()["meta"]["search"]["end"] is None
    both = api.post("/api/v1/search", json={"start": None, "end": None, "cursor": None})
    assert both.status_code == 200 and both.json()["resources"] == reply.json()["resources"]
    assert_documented(lake, "POST", "/api/v1/search", reply)
    doc = httpx.get(lake.url + "/api/v1/openapi.json").json()
    fields = doc["components"]["schemas"]["SearchRequest"]["properties"]
    for name in ("start", "end", "cursor"):
        assert "null" in fields[name]["type"], name
