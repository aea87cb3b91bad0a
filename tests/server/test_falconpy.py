"""Unmodified FalconPy against lakehose: OAuth2, EventStreams, the Uber class, and the HEC helper.

FalconPy is pointed at the server with ``base_url`` only. Its HEC helper always
speaks HTTPS to a host it builds from ``api_url_key``; with
``api_url_key="127.0.0.1:PORT/prefix"`` the URL becomes
``https://127.0.0.1:PORT/prefix.ingest.us-1.crowdstrike.com/services/collector``,
which lakehose serves over TLS (routing on the path suffix), with a test CA that
requests trusts through ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import trustme
from falconpy import HEC, APIHarnessV2, EventStreams, OAuth2

from lakehose.testing import RunningServer, run_server
from tests.server.streamkit import new_client, send


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(
        tmp_path_factory.mktemp("lake") / "data", args=["--heartbeat-interval", "0.5"]
    ) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: RunningServer) -> dict[str, Any]:
    return new_client(server, "falconpy")


def read_events(response: requests.Response, count: int) -> list[dict[str, Any]]:
    """``count`` events from a streaming feed response, read the way FalconPy's own tests do."""
    events = []
    for line in response.iter_lines():
        if line.strip():
            events.append(orjson.loads(line))
            if len(events) == count:
                break
    response.close()
    return events


def test_falconpy_gets_a_token_lists_streams_refreshes_and_revokes(
    server: RunningServer, client: dict[str, Any]
) -> None:
    auth = OAuth2(
        client_id=client["client_id"], client_secret=client["client_secret"], base_url=server.url
    )
    assert auth.token()["status_code"] == 201
    assert auth.base_url == server.url  # no region autodiscovery took it elsewhere
    assert auth.token_expired() is False
    streams = EventStreams(auth_object=auth)
    listed = streams.list_available_streams(app_id="FalconPyTest", format="json")
    assert listed["status_code"] == 200
    resource = listed["body"]["resources"][0]
    assert resource["dataFeedURL"].startswith(server.url)

    send(server, [{"event": {"from": "falconpy-test", "n": n}} for n in range(3)])
    with requests.get(
        resource["dataFeedURL"] + "&offset=0",
        headers={"Authorization": f"Token {resource['sessionToken']['token']}"},
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        events = read_events(response, 3)
    assert [e["event"]["n"] for e in events] == [0, 1, 2]

    refreshed = streams.refresh_active_stream(partition=0, app_id="FalconPyTest")
    assert refreshed["status_code"] == 200
    missing = streams.refresh_active_stream(partition=0, app_id="NeverListed")
    assert missing["status_code"] == 404 and missing["body"]["errors"][0]["message"]

    token = auth.token_value
    assert auth.revoke(token=token)["status_code"] == 200
    after = EventStreams(access_token=token, base_url=server.url).list_available_streams(
        app_id="FalconPyTest"
    )
    assert after["status_code"] == 401
    assert auth.token()["status_code"] == 201
    assert auth.logout()["status_code"] == 200


def test_falconpy_reports_the_reason_for_bad_credentials(
    server: RunningServer, client: dict[str, Any]
) -> None:
    auth = OAuth2(client_id=client["client_id"], client_secret="wrong", base_url=server.url)
    result = auth.token()
    assert result["status_code"] == 403
    assert auth.token_fail_reason == "access denied, authorization failed"


def test_falconpy_uber_class_lists_refreshes_and_reads_the_feed(
    server: RunningServer, client: dict[str, Any]
) -> None:
    uber = APIHarnessV2(
        client_id=client["client_id"], client_secret=client["client_secret"], base_url=server.url
    )
    listed = uber.command("listAvailableStreamsOAuth2", appId="UberTest")
    assert listed["status_code"] == 200
    session = listed["body"]["resources"][0]["sessionToken"]["token"]
    refreshed = uber.command(
        "refreshActiveStreamSession",
        partition=0,
        action_name="refresh_active_stream_session",
        appId="UberTest",
    )
    assert refreshed["status_code"] == 200
    send(server, [{"event": {"from": "uber"}}])
    response = uber.command(
        override="GET,/sensors/entities/datafeed/v1/0",
        parameters={"appId": "UberTest", "offset": 0},
        headers={"Authorization": f"Token {session}"},
        stream=True,
    )
    assert isinstance(response, requests.Response) and response.status_code == 200
    events = read_events(response, 1)
    assert events[0]["metadata"]["offset"] == 0
    uber.logout()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    base = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(base / "server.pem"))
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    args = ["--tls-cert", str(base / "server.pem"), "--tls-key", str(base / "server.pem")]
    with run_server(base / "data", args=args) as s:
        yield s, base / "ca.pem"


def test_falconpy_hec_sends_over_tls_and_the_events_stream_back(
    tls_server: tuple[RunningServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    hec = HEC(api_key=server.api_key, api_url_key=f"127.0.0.1:{server.port}/lake", retry_count=1)
    try:
        assert hec.ingest_url.startswith(f"https://127.0.0.1:{server.port}/lake.ingest.")
        assert hec.test_connection() is True
        hec.send_event({"host": "web-07", "action": "login", "user": "alice"})
        sent = hec.send_event_list([{"host": "web-08", "n": n} for n in range(5)])
        assert sent == 5
    finally:
        for session in hec.sessions:  # FalconPy keeps them (class-wide); hang up idle TLS
            session.close()

    client = new_client(server, "falconpy-tls")
    auth = OAuth2(
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        base_url=server.url,
        ssl_verify=str(ca),
    )
    listed = EventStreams(auth_object=auth).list_available_streams(app_id="hecback")
    assert listed["status_code"] == 200
    resource = listed["body"]["resources"][0]
    assert resource["dataFeedURL"].startswith(f"https://127.0.0.1:{server.port}/")
    with requests.get(
        resource["dataFeedURL"],
        headers={"Authorization": f"Token {resource['sessionToken']['token']}"},
        stream=True,
        timeout=30,
        verify=str(ca),
    ) as response:
        events = read_events(response, 7)
    assert events[0]["event"]["test"] == "connection"
    assert events[1]["event"]["user"] == "alice" and events[1]["event"]["host"] == "web-07"
    assert events[1]["event"]["timeunit"] == "nanoseconds"
    creation = events[1]["metadata"]["eventCreationTime"]
    assert creation == events[1]["event"]["timestamp"] // 1_000_000
    assert sorted(e["event"]["n"] for e in events[2:]) == list(range(5))
