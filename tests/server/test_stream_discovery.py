"""Stream discovery: one resource per partition, URLs and fields the public consumers parse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.server.streamkit import bearer, discover, first_stream, open_feed, send, stream_token

DISCOVERY = "/sensors/entities/datafeed/v2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("lake") / "data", args=["--partitions", "2", "--session-ttl", "900"]
    ) as s:
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return stream_token(server, "discovery-reader")


def test_discovery_returns_one_stream_per_partition_with_falcon_fields(
    server: RunningServer, token: str
) -> None:
    reply = discover(server, token, "SiemFeed01", format="json")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert "x-cs-region" not in reply.headers
    body = reply.json()
    assert body["errors"] == []
    assert isinstance(body["meta"]["query_time"], float) and body["meta"]["trace_id"]
    resources = body["resources"]
    assert len(resources) == 2
    for p, resource in enumerate(resources):
        feed = resource["dataFeedURL"]
        assert feed == f"{server.url}/sensors/entities/datafeed/v1/{p}?appId=siemfeed01"
        assert resource["refreshActiveSessionURL"] == (
            f"{server.url}/sensors/entities/datafeed-actions/v1/{p}"
            "?appId=siemfeed01&action_name=refresh_active_stream_session"
        )
        assert resource["refreshActiveSessionInterval"] == 900
        assert type(resource["refreshActiveSessionInterval"]) is int
        expiration = resource["sessionToken"]["expiration"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", expiration)
        assert datetime.fromisoformat(expiration).tzinfo is not None
        assert resource["sessionToken"]["token"]
    tokens = {r["sessionToken"]["token"] for r in resources}
    assert len(tokens) == 2


def test_refresh_url_yields_the_partition_the_ways_consumers_parse_it(
    server: RunningServer, token: str
) -> None:
    resources = discover(server, token, "ParseMe").json()["resources"]
    for p, resource in enumerate(resources):
        url = resource["refreshActiveSessionURL"]
        assert re.search(r"/datafeed-actions/v1/(\d+)\?", url).group(1) == str(p)  # type: ignore[union-attr]
        prefix = f"{server.url}/sensors/entities/datafeed-actions/v1/"
        suffix = "?appId=parseme&action_name=refresh_active_stream_session"
        assert url.removeprefix(prefix).removesuffix(suffix) == str(p)


def test_stream_urls_follow_the_host_header_not_the_bind_address(
    server: RunningServer, token: str
) -> None:
    reply = httpx.get(
        server.url + DISCOVERY,
        params={"appId": "hosted"},
        headers={**bearer(token), "Host": "lake.example.net:8443"},
    )
    resource = reply.json()["resources"][0]
    for key in ("dataFeedURL", "refreshActiveSessionURL"):
        url = urlsplit(resource[key])
        assert (url.scheme, url.netloc) == ("http", "lake.example.net:8443")


def test_a_configured_public_url_and_customer_id_are_used(tmp_path: Path) -> None:
    args = ["--public-url", "https://lake.example.net/", "--customer-id", "tenant-7"]
    with run_server(tmp_path / "data", args=args) as s:
        resource = first_stream(s, stream_token(s, "public-url"), "pub")
        assert resource["dataFeedURL"] == (
            "https://lake.example.net/sensors/entities/datafeed/v1/0?appId=pub"
        )
        assert resource["refreshActiveSessionURL"].startswith(
            "https://lake.example.net/sensors/entities/datafeed-actions/v1/0?"
        )
        send(s, [{"event": {"x": 1}}])
        local = resource["dataFeedURL"].replace("https://lake.example.net", s.url)
        with open_feed({**resource, "dataFeedURL": local}) as feed:
            assert feed.events(1)[0]["metadata"]["customerIDString"] == "tenant-7"


def test_discovery_tolerates_a_json_body_on_get(server: RunningServer, token: str) -> None:
    reply = httpx.request(
        "GET",
        server.url + DISCOVERY + "?appId=uber",
        content=b"{}",
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert reply.status_code == 200 and len(reply.json()["resources"]) == 2


def test_flatjson_discovery_hands_out_a_flatjson_feed(server: RunningServer, token: str) -> None:
    resource = first_stream(server, token, "flat", format="flatjson")
    assert resource["dataFeedURL"].endswith("?appId=flat&format=flatjson")


@pytest.mark.parametrize(
    "app_id", ["sio-1767225600.123456", "eda", "Splunk_SOAR", "a" * 32, "0"], ids=str
)
def test_appids_that_real_consumers_send_are_accepted(
    server: RunningServer, token: str, app_id: str
) -> None:
    assert discover(server, token, app_id).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["", "?appId=", "?appId=" + "a" * 33, "?appId=a%20b", "?appId=a/b", "?appId=caf%C3%A9"],
    ids=["missing", "empty", "too-long", "space", "slash", "non-ascii"],
)
def test_a_bad_appid_gets_400_with_a_falcon_error_body(
    server: RunningServer, token: str, query: str
) -> None:
    reply = httpx.get(server.url + DISCOVERY + query, headers=bearer(token))
    assert reply.status_code == 400
    body = reply.json()
    assert set(body) == {"meta", "errors", "resources"} and body["meta"]["trace_id"]
    assert body["errors"][0]["code"] == 400 and "appId" in body["errors"][0]["message"]


def test_an_unknown_format_gets_400(server: RunningServer, token: str) -> None:
    reply = discover(server, token, "fmt", format="xml")
    assert reply.status_code == 400 and "format" in reply.json()["errors"][0]["message"]


def test_discovery_needs_a_bearer_token_with_streams_read(server: RunningServer) -> None:
    searcher = stream_token(server, "only-search", "search:read")
    cases = [
        ({}, 401),
        (bearer("not-a-token"), 401),
        ({"Authorization": f"Splunk {server.api_key}"}, 401),
        (bearer(str(server.api_key)), 401),
        (bearer(searcher), 403),
    ]
    for headers, status in cases:
        reply = httpx.get(server.url + DISCOVERY + "?appId=x", headers=headers)
        assert reply.status_code == status, headers
        assert reply.json()["errors"][0]["message"]


def test_an_ingest_key_cannot_open_a_data_feed(server: RunningServer) -> None:
    resource = {
        "dataFeedURL": f"{server.url}/sensors/entities/datafeed/v1/0?appId=key",
        "sessionToken": {"token": server.api_key},
    }
    with open_feed(resource) as feed:
        assert feed.status == 401


def test_stream_tokens_cannot_ingest(server: RunningServer, token: str) -> None:
    session = first_stream(server, token, "noingest")["sessionToken"]["token"]
    for header in (f"Bearer {token}", f"Splunk {token}", f"Bearer {session}", f"Splunk {session}"):
        reply = httpx.post(server.hec_url, headers={"Authorization": header}, json={"event": "x"})
        assert (reply.status_code, reply.json()["code"]) == (403, 4)


def test_a_session_token_opens_only_its_own_partition(server: RunningServer, token: str) -> None:
    first, second = discover(server, token, "crossed").json()["resources"]
    crossed = {"dataFeedURL": second["dataFeedURL"], "sessionToken": first["sessionToken"]}
    with open_feed(crossed) as feed:
        assert feed.status == 401
        assert "partition 0" in feed.body.decode()
    missing = {
        "dataFeedURL": first["dataFeedURL"].replace("/v1/0?", "/v1/7?"),
        "sessionToken": first["sessionToken"],
    }
    with open_feed(missing) as feed:
        assert feed.status == 404
