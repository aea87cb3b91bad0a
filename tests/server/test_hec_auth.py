"""Authentication in Splunk's order and with Splunk's codes (specs/hec-protocol.md §3)."""

from __future__ import annotations

import base64

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import cli, cli_json, stored_events, wait_for

EVENT = b'{"event": "auth test"}'


def post(
    server: RunningServer, headers: dict[str, str], path: str = "/services/collector"
) -> httpx.Response:
    return httpx.post(server.url + path, content=EVENT, headers=headers)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "scheme", ["Splunk {key}", "Bearer {key}", "splunk {key}", "BEARER {key}", "Splunk   {key}"]
)
def test_splunk_and_bearer_schemes_are_accepted(server: RunningServer, scheme: str) -> None:
    reply = post(server, {"Authorization": scheme.format(key=server.api_key)})
    assert reply.json() == {"text": "Success", "code": 0}


def test_basic_auth_takes_the_key_as_the_password(server: RunningServer) -> None:
    assert post(server, {"Authorization": basic("anyone", str(server.api_key))}).json()["code"] == 0
    assert post(server, {"Authorization": basic("", str(server.api_key))}).json()["code"] == 0


@pytest.mark.parametrize(
    ("headers", "status", "code", "text"),
    [
        ({}, 401, 2, "Token is required"),
        ({"Authorization": ""}, 401, 2, "Token is required"),
        ({"Authorization": "Splunk"}, 401, 2, "Token is required"),
        ({"Authorization": "Token abc"}, 401, 3, "Invalid authorization"),
        ({"Authorization": "Basic not-base64!"}, 401, 3, "Invalid authorization"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
            401,
            3,
            "Invalid authorization",
        ),
        ({"Authorization": "Splunk 00000000-0000-4000-8000-000000000000"}, 403, 4, "Invalid token"),
    ],
)
def test_bad_credentials_get_splunks_status_code_and_text(
    server: RunningServer, headers: dict[str, str], status: int, code: int, text: str
) -> None:
    before = len(stored_events(server.data_dir))
    reply = post(server, headers)
    assert reply.status_code == status
    assert reply.json() == {"text": text, "code": code}
    assert len(stored_events(server.data_dir)) == before


def test_a_key_is_case_sensitive(server: RunningServer) -> None:
    key = str(server.api_key)
    assert post(server, {"Authorization": f"Splunk {key.upper()}"}).json()["code"] == 4


def test_query_token_is_refused_unless_the_connector_allows_it(server: RunningServer) -> None:
    key = str(server.api_key)
    reply = httpx.post(server.hec_url, params={"token": key}, content=EVENT)
    assert (reply.status_code, reply.json()["code"]) == (400, 16)
    # code 16 even when a valid Authorization header is also present
    reply = httpx.post(
        server.hec_url,
        params={"token": key},
        content=EVENT,
        headers={"Authorization": f"Splunk {key}"},
    )
    assert reply.json()["code"] == 16
    reply = httpx.post(server.hec_url, params={"token": "unknown"}, content=EVENT)
    assert (reply.status_code, reply.json()["code"]) == (403, 4)


def test_query_token_works_for_a_connector_that_allows_it(server: RunningServer) -> None:
    created = cli_json(
        "connector", "create", "querytok", "--allow-query-token", data_dir=server.data_dir
    )
    reply = httpx.post(server.hec_url, params={"token": created["api_key"]}, content=EVENT)
    assert reply.json() == {"text": "Success", "code": 0}
    assert stored_events(server.data_dir)[-1]["connector"] == "querytok"


def test_disabling_a_connector_while_the_server_runs_takes_effect_without_a_restart(
    server: RunningServer,
) -> None:
    key = cli_json("connector", "create", "flip", data_dir=server.data_dir)["api_key"]
    headers = {"Authorization": f"Splunk {key}"}
    assert post(server, headers).json()["code"] == 0
    cli("connector", "disable", "flip", data_dir=server.data_dir)
    reply = wait_for(lambda: (r := post(server, headers)).status_code == 403 and r, timeout=30)
    assert reply.json() == {"text": "Token disabled", "code": 1}
    cli("connector", "enable", "flip", data_dir=server.data_dir)
    wait_for(lambda: post(server, headers).status_code == 200, timeout=30)


def test_rotating_a_key_stops_the_old_one_without_a_restart(server: RunningServer) -> None:
    old = cli_json("connector", "create", "rot", data_dir=server.data_dir)["api_key"]
    new = cli_json("connector", "rotate", "rot", data_dir=server.data_dir)["api_key"]
    assert new != old
    assert post(server, {"Authorization": f"Splunk {new}"}).json()["code"] == 0
    wait_for(
        lambda: post(server, {"Authorization": f"Splunk {old}"}).status_code == 403, timeout=30
    )


def test_auth_is_checked_before_the_body_is_read(server: RunningServer) -> None:
    reply = httpx.post(
        server.hec_url, content=b"\x00not json", headers={"Content-Encoding": "gzip"}
    )
    assert reply.json()["code"] == 2
