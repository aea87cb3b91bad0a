"""/api/v1/search/{histogram,fields,events,export,tail}, black-box: events sent over HEC are
counted in the right buckets (from summaries where the filter allows), their fields summarised,
found by position with their neighbours, exported whole, and tailed as they arrive."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer
from tests.helpers import cli_json
from tests.server.test_search_api import token_for

T0 = 1_700_000_040  # a whole minute: 2023-11-14T22:14:00Z
NS = 1_000_000_000


def _post(server: RunningServer, key: str, events: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps(e) for e in events)
    reply = httpx.post(server.hec_url, headers={"Authorization": f"Splunk {key}"}, content=body)
    assert reply.json()["code"] == 0, reply.text


@pytest.fixture(scope="module")
def lake(server: RunningServer) -> RunningServer:
    """Minute m (0-9) holds m+1 events of connector "web" (hosts a/b, status 200/500), each
    request within one minute; connector "edr" sends one request spanning minutes 2 and 3."""
    web = cli_json("connector", "create", "web", data_dir=server.data_dir)["api_key"]
    edr = cli_json("connector", "create", "edr", data_dir=server.data_dir)["api_key"]
    for minute in range(10):
        _post(
            server,
            web,
            [
                {
                    "time": T0 + minute * 60 + i,
                    "host": "a" if i % 2 == 0 else "b",
                    "fields": {"dc": "eu"},
                    "event": {"minute": minute, "i": i, "status": 500 if i == 0 else 200},
                }
                for i in range(minute + 1)
            ],
        )
    _post(
        server,
        edr,
        [
            {"time": T0 + 150, "event": {"kind": "edr", "user": {"name": "x"}}},
            {"time": T0 + 210, "event": {"kind": "edr", "user": {"name": "y"}}},
        ],
    )
    return server


@pytest.fixture(scope="module")
def api(lake: RunningServer) -> Iterator[httpx.Client]:
    token = token_for(lake, "search-views-reader", "search:read")
    with httpx.Client(
        base_url=lake.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def histogram(api: httpx.Client, q: str, **params: Any) -> dict[str, Any]:
    params = {"q": q, "start": str(T0), "end": str(T0 + 600), "buckets": "10", **params}
    reply = api.get("/api/v1/search/histogram", params=params)
    assert reply.status_code == 200, reply.text
    (result,) = reply.json()["resources"]
    return dict(result)


def test_histogram_of_all_events_is_counted_from_summaries(api: httpx.Client) -> None:
    result = histogram(api, "#connector=web")
    assert result["bucket_ns"] == 60 * NS
    assert result["start"] == T0 * NS
    assert result["end"] == (T0 + 600) * NS
    assert result["counts"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert result["total"] == 55
    assert result["stats"]["events_from_summaries"] == 55
    assert result["stats"]["batches_read"] == 0


def test_histogram_reads_a_batch_that_straddles_buckets(api: httpx.Client) -> None:
    result = histogram(api, "#connector=edr")
    assert result["counts"] == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert result["stats"]["batches_read"] == 1
    everything = histogram(api, "")
    assert everything["counts"] == [1, 2, 4, 5, 5, 6, 7, 8, 9, 10]
    assert everything["total"] == 57


def test_histogram_of_star_is_counted_like_no_filter(api: httpx.Client) -> None:
    star = histogram(api, "*")
    assert star["counts"] == histogram(api, "")["counts"]
    assert star["stats"]["batches_read"] == 1  # only edr's batch, which straddles two buckets
    assert histogram(api, "#connector=web *")["stats"]["events_from_summaries"] == 55


def test_histogram_of_a_field_filter_scans_and_ignores_the_pipeline(api: httpx.Client) -> None:
    result = histogram(api, "status=500 | groupBy(host)")
    assert result["counts"] == [1] * 10
    assert result["stats"]["events_from_summaries"] == 0
    assert histogram(api, "host=b")["counts"] == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert histogram(api, "user.name=y")["counts"] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    # the total agrees with count() over the same range
    counted = api.post(
        "/api/v1/search",
        json={"query": "host=b | count()", "start": str(T0), "end": str(T0 + 600)},
    ).json()["resources"]
    assert counted == [{"_count": histogram(api, "host=b")["total"]}]


def test_histogram_narrows_to_a_zoomed_range(api: httpx.Client) -> None:
    result = histogram(api, "", start=str(T0 + 120), end=str(T0 + 240), buckets="100")
    assert result["bucket_ns"] == 2 * NS
    assert result["total"] == 3 + 1 + 4 + 1
    assert sum(result["counts"][:30]) == 4  # minute 2 and the edr event at +150 s


def test_histogram_without_a_range_spans_what_the_lake_holds(api: httpx.Client) -> None:
    reply = api.get("/api/v1/search/histogram", params={"q": "#connector=web"})
    (result,) = reply.json()["resources"]
    assert result["total"] == 55
    assert result["start"] <= T0 * NS and result["end"] > (T0 + 549) * NS
    assert len(result["counts"]) <= 100
    empty = api.get("/api/v1/search/histogram", params={"q": "#connector=nobody"})
    (nothing,) = empty.json()["resources"]
    assert nothing["total"] == 0 and nothing["counts"] == []


def test_fields_lists_top_values_with_counts(api: httpx.Client) -> None:
    reply = api.get(
        "/api/v1/search/fields",
        params={"q": "#connector=web", "start": str(T0), "end": str(T0 + 600)},
    )
    assert reply.status_code == 200, reply.text
    (result,) = reply.json()["resources"]
    assert result["events"] == 55 and result["complete"] is True
    by_name = {f["field"]: f for f in result["fields"]}
    assert by_name["#connector"]["top"] == [{"value": "web", "count": 55}]
    assert by_name["host"]["top"] == [{"value": "a", "count": 30}, {"value": "b", "count": 25}]
    assert by_name["status"]["top"] == [{"value": 200, "count": 45}, {"value": 500, "count": 10}]
    assert by_name["dc"]["events"] == 55
    assert by_name["minute"]["distinct"] == 10
    assert len(by_name["minute"]["top"]) == 5
    sampled = api.get(
        "/api/v1/search/fields", params={"q": "#connector=web", "sample": "7", "top": "1"}
    ).json()["resources"][0]
    assert sampled["events"] == 7 and sampled["complete"] is False
    assert {f["field"]: f["top"] for f in sampled["fields"]}["minute"] == [{"value": 9, "count": 7}]


def test_event_and_its_context_in_offset_order(api: httpx.Client) -> None:
    newest = api.post("/api/v1/search", json={"query": "user.name=x"}).json()["resources"][0]
    p, o = newest["partition"], newest["offset"]
    reply = api.get(f"/api/v1/search/events/{p}/{o}", params={"before": "2", "after": "5"})
    assert reply.status_code == 200, reply.text
    events = reply.json()["resources"]
    assert [e["offset"] for e in events] == [o - 2, o - 1, o, o + 1]  # nothing after o + 1
    assert events[2]["event"] == {"kind": "edr", "user": {"name": "x"}}
    assert events[2]["#connector"] == "edr"
    alone = api.get(f"/api/v1/search/events/{p}/{o}").json()["resources"]
    assert alone == [events[2]]
    assert api.get(f"/api/v1/search/events/{p}/{o + 100}").status_code == 404
    assert api.get(f"/api/v1/search/events/7/{o}").status_code == 404
    assert api.get(f"/api/v1/search/events/{p}/-1").status_code == 400
    assert api.get(f"/api/v1/search/events/{p}/{o}?before=1001").status_code == 400


def test_export_ndjson_holds_every_row_of_the_search(api: httpx.Client) -> None:
    params = {"q": "#connector=web host=a", "start": str(T0), "format": "ndjson"}
    reply = api.get("/api/v1/search/export", params=params)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in reply.headers["content-disposition"]
    rows = [orjson.loads(line) for line in reply.text.splitlines()]
    assert len(rows) == 30
    searched = api.post(
        "/api/v1/search", json={"query": "#connector=web host=a", "start": str(T0), "limit": 100}
    ).json()["resources"]
    assert rows == searched
    limited = api.get("/api/v1/search/export", params={**params, "limit": "3"})
    assert len(limited.text.splitlines()) == 3


def test_export_csv_of_events_and_of_a_table(api: httpx.Client) -> None:
    reply = api.get(
        "/api/v1/search/export", params={"q": "user.name=*", "format": "csv", "start": str(T0)}
    )
    assert reply.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(reply.text)))
    assert table[0][:4] == ["@timestamp", "#connector", "#index", "#sourcetype"]
    assert [row[1] for row in table[1:]] == ["edr", "edr"]
    assert table[1][0] == "2023-11-14T22:17:30.000Z"
    assert orjson.loads(table[1][-1]) == {"kind": "edr", "user": {"name": "y"}}
    grouped = api.get(
        "/api/v1/search/export",
        params={"q": "#connector=web | groupBy(host)", "format": "csv"},
    )
    assert list(csv.reader(io.StringIO(grouped.text))) == [
        ["host", "_count"],
        ["a", "30"],
        ["b", "25"],
    ]


def test_tail_sends_new_matching_events_only(lake: RunningServer, api: httpx.Client) -> None:
    key = cli_json("connector", "create", "tailed", data_dir=lake.data_dir)["api_key"]
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def read() -> None:
        with api.stream(
            "GET", "/api/v1/search/tail", params={"q": "#connector=tailed level=alert"}
        ) as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in reply.iter_lines():
                opened.set()
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "event":
                    received.append(orjson.loads(line[6:]))
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(10)
    _post(lake, key, [{"event": {"level": "info", "n": 1}}])
    _post(lake, key, [{"event": {"level": "alert", "n": 2}}])
    reader.join(15)
    assert [e["event"] for e in received] == [{"level": "alert", "n": 2}]
    assert received[0]["#connector"] == "tailed"


def test_bad_requests_get_clear_answers(api: httpx.Client) -> None:
    bad = api.get("/api/v1/search/histogram", params={"q": "host=(", "start": "1h"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["column"] == 6
    assert api.get("/api/v1/search/histogram", params={"buckets": "0"}).status_code == 400
    assert api.get("/api/v1/search/histogram", params={"start": "soon"}).status_code == 400
    assert api.get("/api/v1/search/fields", params={"sample": "x"}).status_code == 400
    assert api.get("/api/v1/search/export", params={"format": "xml"}).status_code == 400


def test_search_views_need_a_search_read_token(lake: RunningServer) -> None:
    streams = token_for(lake, "streams-only", "streams:read")
    for path in (
        "/api/v1/search/histogram",
        "/api/v1/search/fields",
        "/api/v1/search/events/0/0",
        "/api/v1/search/export",
        "/api/v1/search/tail",
    ):
        assert httpx.get(lake.url + path).status_code == 401, path
        hec_key = {"Authorization": f"Bearer {lake.api_key}"}
        assert httpx.get(lake.url + path, headers=hec_key).status_code == 401, path
        reply = httpx.get(lake.url + path, headers={"Authorization": f"Bearer {streams}"})
        assert reply.status_code == 403, path


def test_tail_resumes_after_the_last_event_id_a_client_saw(api: httpx.Client) -> None:
    """An EventSource that reconnects sends Last-Event-ID: what arrived since is sent first."""
    y = api.post("/api/v1/search", json={"query": "user.name=y"}).json()["resources"][0]
    last_seen = f"{y['partition']}:{y['offset'] - 1}"
    with api.stream(
        "GET",
        "/api/v1/search/tail",
        params={"q": "user.name=*"},
        headers={"Last-Event-ID": last_seen},
    ) as reply:
        lines = reply.iter_lines()
        ident = next(line for line in lines if line.startswith("id: "))
        data = next(line for line in lines if line.startswith("data: "))
    assert ident == f"id: {y['partition']}:{y['offset']}"
    assert orjson.loads(data[6:])["event"]["user"] == {"name": "y"}


@pytest.mark.parametrize("name", ["sample", "top", "buckets", "before", "after", "limit"])
def test_an_empty_number_parameter_is_400_as_the_document_says(
    api: httpx.Client, name: str
) -> None:
    # schemathesis (make api-fuzz): GET /api/v1/search/fields?sample=&top=41 was answered 200
    # (an empty value read as the default) though the document says sample is an integer
    path = {
        "sample": "/api/v1/search/fields",
        "top": "/api/v1/search/fields",
        "buckets": "/api/v1/search/histogram",
        "before": "/api/v1/search/events/0/0",
        "after": "/api/v1/search/events/0/0",
        "limit": "/api/v1/search/export",
    }[name]
    reply = api.get(path, params={name: ""})
    assert reply.status_code == 400, reply.text
    assert name in reply.json()["errors"][0]["message"]
    assert api.get("/api/v1/search/fields", params={"sample": "", "top": "41"}).status_code == 400
