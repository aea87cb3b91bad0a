"""Security round 2 (issue 19): per-client limits (13), metrics exposure (11), and one HEC
lockout across workers (15), against real servers."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, wait_for

LIMITS = [
    "--max-tokens-per-client",
    "3",
    "--max-sessions-per-client",
    "4",
    "--max-feeds-per-client",
    "2",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=LIMITS) as s:
        yield s


def new_client(server: RunningServer, *scopes: str) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {bearer_token(server, 'admin')}"}
    reply = httpx.post(
        server.url + "/api/v1/clients",
        json={"name": f"c-{secrets.token_hex(4)}", "scopes": list(scopes)},
        headers=admin,
    )
    assert reply.status_code == 201, reply.text
    made = reply.json()["resources"][0]
    return {"client_id": made["client_id"], "client_secret": made["client_secret"]}


def test_live_tokens_per_client_are_limited(server: RunningServer) -> None:
    client = new_client(server, "streams:read")
    tokens = [httpx.post(server.url + "/oauth2/token", data=client) for _ in range(4)]
    assert [t.status_code for t in tokens] == [201, 201, 201, 429]
    assert "max_tokens_per_client" in tokens[-1].json()["errors"][0]["message"]
    assert int(tokens[-1].headers["retry-after"]) >= 1
    other = new_client(server, "streams:read")  # another client is not affected
    assert httpx.post(server.url + "/oauth2/token", data=other).status_code == 201
    # revoking one frees its place
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    revoked = httpx.post(
        server.url + "/oauth2/revoke",
        data={"token": tokens[0].json()["access_token"]},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert revoked.status_code == 200
    assert httpx.post(server.url + "/oauth2/token", data=client).status_code == 201


def test_live_sessions_and_open_feeds_per_client_are_limited(server: RunningServer) -> None:
    token = httpx.post(
        server.url + "/oauth2/token", data=new_client(server, "streams:read")
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    sessions = []
    for n in range(4):
        reply = httpx.get(
            server.url + "/sensors/entities/datafeed/v2", params={"appId": f"a{n}"}, headers=bearer
        )
        assert reply.status_code == 200, reply.text
        sessions.append(reply.json()["resources"][0])
    fifth = httpx.get(
        server.url + "/sensors/entities/datafeed/v2", params={"appId": "a4"}, headers=bearer
    )
    assert fifth.status_code == 429, fifth.text
    assert "max_sessions_per_client" in fifth.json()["errors"][0]["message"]
    with httpx.Client(timeout=30) as client:
        opened = []
        try:
            for session in sessions[:3]:
                request = client.build_request(
                    "GET",
                    session["dataFeedURL"],
                    headers={"Authorization": f"Token {session['sessionToken']['token']}"},
                )
                opened.append(client.send(request, stream=True))
            assert [r.status_code for r in opened] == [200, 200, 429]
        finally:
            for reply in opened:
                reply.close()


def test_metrics_refuse_remote_scrapes_unless_allowed(server: RunningServer) -> None:
    """Relayed by the trusted proxy on loopback, a remote scraper is seen as remote (the
    netns test of test_remote_admin.py sees allow_remote_metrics lift this; the route table
    checks metrics_token)."""
    remote = {"X-Forwarded-For": "203.0.113.7"}
    for path in ("/metrics", "/api/v1/status"):
        assert httpx.get(server.url + path).status_code == 200  # loopback: as before
        reply = httpx.get(server.url + path, headers=remote)
        assert reply.status_code == 403, reply.text
        assert "allow_remote_metrics" in reply.text
    assert httpx.get(server.hec_url + "/health", headers=remote).status_code == 200


def test_one_hec_lockout_across_workers(tmp_path: Path) -> None:
    """Failures on either worker count in one allowance, and the lockout holds on both."""
    args = ["--hec-auth-fail-limit", "5", "--hec-auth-fail-window", "600"]
    with run_server(tmp_path / "data", workers=2, args=args) as server:
        right = {"Authorization": f"Splunk {server.api_key}", "Connection": "close"}
        wrong = {"Authorization": "Splunk 00000000-0000-4000-8000-000000000000"}
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            httpx.post(
                server.hec_url, content=b'{"event":1}', headers={**wrong, "Connection": "close"}
            )

        def locked_everywhere() -> bool:
            codes = [
                httpx.post(server.hec_url, content=b'{"event":1}', headers=right).status_code
                for _ in range(12)
            ]
            return set(codes) == {429}

        wait_for(locked_everywhere, timeout=60, interval=0.2)
