"""Every HEC path, method and OPTIONS answer, as Splunk clients expect them."""

from __future__ import annotations

import httpx
import pytest

from lakehose.testing import RunningServer

POST_PATHS = [
    "/services/collector",
    "/services/collector/event",
    "/services/collector/event/1.0",
    "/services/collector/raw",
    "/services/collector/raw/1.0",
    "/api/v1/ingest/hec",
    "/api/v1/ingest/hec/raw",
    "/services/collector/",
]
HEALTH_PATHS = ["/services/collector/health", "/services/collector/health/1.0"]
NOT_FOUND = {"text": "The requested URL was not found on this server.", "code": 404}


@pytest.mark.parametrize("path", POST_PATHS)
def test_every_ingest_path_accepts_an_event(hec: httpx.Client, path: str) -> None:
    reply = hec.post(path, content=b'{"event": "via ' + path.encode() + b'"}')
    assert reply.status_code == 200
    assert reply.json() == {"text": "Success", "code": 0}
    assert reply.headers["content-type"] == "application/json; charset=UTF-8"


@pytest.mark.parametrize("path", POST_PATHS + HEALTH_PATHS + ["/services/collector/ack"])
def test_options_answers_200_with_allow_and_needs_no_key(server: RunningServer, path: str) -> None:
    reply = httpx.options(server.url + path)
    assert reply.status_code == 200
    assert reply.content == b""
    expected = "GET,HEAD,OPTIONS" if "health" in path else "POST,OPTIONS"
    assert reply.headers["allow"] == expected


@pytest.mark.parametrize("path", HEALTH_PATHS)
def test_health_needs_no_key_and_ignores_a_bogus_one(server: RunningServer, path: str) -> None:
    for headers in ({}, {"Authorization": "Splunk bogus"}):
        reply = httpx.get(server.url + path, headers=headers)
        assert (reply.status_code, reply.json()) == (200, {"text": "HEC is healthy", "code": 17})
    head = httpx.head(server.url + path)
    assert head.status_code == 200 and head.content == b""


def test_unknown_path_under_the_collector_gets_splunks_404(server: RunningServer) -> None:
    for path in ("/services/collector/mint", "/services/collector/s2s", "/services/collector/nope"):
        reply = httpx.post(server.url + path, content=b"{}")
        assert (reply.status_code, reply.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/services/collector/event"),
        ("PUT", "/services/collector"),
        ("POST", "/services/collector/health"),
    ],
)
def test_wrong_method_gets_405_with_allow_and_a_hec_body(
    server: RunningServer, method: str, path: str
) -> None:
    reply = httpx.request(method, server.url + path)
    body = {"text": "Method not allowed; see the Allow header", "code": 405}
    assert (reply.status_code, reply.json()) == (405, body)
    assert reply.headers["allow"] == ("GET,HEAD,OPTIONS" if "health" in path else "POST,OPTIONS")


def test_a_prefix_before_services_collector_is_ignored(hec: httpx.Client) -> None:
    """FalconPy's HEC helper builds https://<api_url_key>.ingest.<region>/services/collector."""
    path = "/hec.ingest.us-1.crowdstrike.com/services/collector"
    assert hec.post(path, json={"event": "prefixed"}).json()["code"] == 0
    assert hec.post(path + "/raw", content=b"prefixed raw").json()["code"] == 0


def test_unknown_paths_outside_hec_get_the_api_error_shape(server: RunningServer) -> None:
    reply = httpx.get(server.url + "/nope")
    assert reply.status_code == 404
    assert reply.json()["errors"][0]["code"] == 404
