"""Hostile input that tests/fuzz found breaking the server, end to end: each was a 500, or
stored an event that search and the data feed could not read back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest
from starlette.requests import Request

from lakehose.server.replies.errors import EXCEPTION_HANDLERS
from lakehose.testing import RunningServer
from tests.helpers import bearer_token

T0 = 1_700_000_000


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[httpx.Client]:
    token = bearer_token(server, "search:read", "streams:read")
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def search(api: httpx.Client, query: str, **body: object) -> httpx.Response:
    return api.post("/api/v1/search", json={"query": query, **body})


def feed_events(api: httpx.Client, app_id: str, fmt: str, count: int) -> list[dict[str, object]]:
    """The first ``count`` events of partition 0's data feed, each line parsed with orjson."""
    found = api.get("/sensors/entities/datafeed/v2", params={"appId": app_id, "format": fmt})
    resource = found.json()["resources"][0]
    headers = {"Authorization": f"Token {resource['sessionToken']['token']}"}
    events: list[dict[str, object]] = []
    buffer = b""
    with httpx.stream("GET", resource["dataFeedURL"], headers=headers, timeout=30) as feed:
        for chunk in feed.iter_bytes():
            *lines, buffer = (buffer + chunk).split(b"\n")
            events += [orjson.loads(line) for line in lines if line.strip()]
            if len(events) >= count:
                return events[:count]
    raise AssertionError("the feed ended early")


def test_events_search_and_streams_cannot_read_are_refused_and_the_rest_stays_readable(
    hec: httpx.Client, api: httpx.Client
) -> None:
    """A number beyond a double (1e400) was stored as written: every search listing then
    failed with 400 and a flatjson feed stopped at that offset for good. An event nested
    deeper than orjson writes made every search listing it a 500."""
    marker = "hostile-marker"
    bodies = [
        b'{"event":{"n":1e400}}',
        b'{"event":{"timestamp":1e400}}',
        b'{"event":' + b"[" * 300 + b"]" * 300 + b"}",
        b'{"event":1,"host":"\\ud800"}\n{"event":',
    ]
    for body in bodies:
        reply = hec.post(
            "/services/collector", content=b'{"event":"%s"}\n' % marker.encode() + body
        )
        assert (reply.status_code, reply.json()) == (
            400,
            {"text": "Invalid data format", "code": 6, "invalid-event-number": 1},
        )
    listed = search(api, marker)
    assert listed.status_code == 200, listed.text
    assert [row["event"] for row in listed.json()["resources"]] == [marker] * len(bodies)
    total = search(api, "| count()").json()["resources"][0]["_count"]
    for fmt in ("json", "flatjson"):
        assert len(feed_events(api, f"hostile-{fmt}", fmt, total)) == total


def test_a_syslog_event_dated_beyond_the_lake_keeps_its_arrival_time(
    hec: httpx.Client, api: httpx.Client
) -> None:
    """Its time overflowed the lake's int64 and failed the commit with a 500."""
    line = "<34>1 9999-12-31T23:59:59Z host app - - - far-future-syslog"
    reply = hec.post("/services/collector", json={"event": line, "sourcetype": "syslog"})
    assert reply.json() == {"text": "Success", "code": 0}
    (row,) = search(api, "far-future-syslog").json()["resources"]
    assert row["fields"]["timestamp"] == "9999-12-31T23:59:59Z" and row["time"] > T0 * 10**9


@pytest.mark.parametrize(
    "span",
    [{"start": 1e300}, {"end": "99999999999999999999"}, {"start": "0001-01-01T00:00:00"}],
)
def test_search_times_beyond_int64_are_the_ends_of_the_lake(
    api: httpx.Client, span: dict[str, object]
) -> None:
    """Such a time reached SQLite as an integer it cannot hold: a 500."""
    assert search(api, "", **span).status_code == 200


def test_a_query_nested_too_deeply_is_a_400_with_its_column(api: httpx.Client) -> None:
    """It recursed until RecursionError: a 500 in plain text."""
    reply = search(api, "!" * 3000 + "a")
    assert reply.status_code == 400
    (error,) = reply.json()["errors"]
    assert error["message"].startswith("the query nests more than 100 levels")
    assert (error["line"], error["column"]) == (1, 100)


def test_an_unexpected_error_in_an_api_route_is_a_500_in_the_json_error_shape() -> None:
    """Starlette answered uncaught exceptions with a plain-text 500; now the one JSON shape,
    without the exception's text."""
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": []})
    reply = asyncio.run(EXCEPTION_HANDLERS[Exception](request, TypeError("internal detail")))
    assert reply.status_code == 500
    body = orjson.loads(reply.body)
    assert body["errors"] == [{"code": 500, "message": "internal server error"}]
