"""Security round 2 (issue 19): feeds, revocation, input that made 500s, logs, file modes.

Items 2 (appId lock per client), 6 (revocation ends feeds and sessions), 7 (no 500 from
input), 8 (control characters in text logs), 13 (per-address connection cap) and 14
(data directory modes, the first key kept off pipes), each against a real server.
"""

from __future__ import annotations

import base64
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import bearer_token, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--heartbeat-interval", "5"]  # revocation must not wait for a heartbeat
    with run_server(tmp_path_factory.mktemp("lake") / "data", args=args) as s:
        yield s


def discover(server: RunningServer, token: str, app: str) -> dict[str, str]:
    reply = httpx.get(
        server.url + "/sensors/entities/datafeed/v2",
        params={"appId": app},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200, reply.text
    resource = reply.json()["resources"][0]
    return {"url": resource["dataFeedURL"], "token": resource["sessionToken"]["token"]}


class OpenFeed:
    """A data feed read in a thread until the server ends it."""

    def __init__(self, session: dict[str, str]) -> None:
        self.client = httpx.Client(timeout=60)
        request = self.client.build_request(
            "GET", session["url"], headers={"Authorization": f"Token {session['token']}"}
        )
        self.reply = self.client.send(request, stream=True)
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for _ in self.reply.iter_raw():
                pass
        except httpx.HTTPError:
            pass
        self.ended.set()

    def close(self) -> None:
        self.reply.close()
        self.client.close()


def status_of(session: dict[str, str]) -> int:
    with httpx.stream(
        "GET", session["url"], headers={"Authorization": f"Token {session['token']}"}, timeout=30
    ) as reply:
        return reply.status_code


# item 2 -------------------------------------------------------------------------------------


def test_another_client_cannot_squat_an_app_id(server: RunningServer) -> None:
    squatter = bearer_token(server, "streams:read")
    owner = bearer_token(server, "streams:read")
    held = OpenFeed(discover(server, squatter, "lakehose-cli"))
    try:
        assert held.reply.status_code == 200
        mine = OpenFeed(discover(server, owner, "lakehose-cli"))
        assert mine.reply.status_code == 200  # the owner's own lock, untouched by the squatter
        again = discover(server, owner, "lakehose-cli")
        refused = status_of(again)
        assert refused == 401  # still one connection per (client, appId, partition)
        mine.close()
    finally:
        held.close()


# item 6 -------------------------------------------------------------------------------------


def test_deleting_a_client_ends_its_open_feeds_at_once(server: RunningServer) -> None:
    admin = {"Authorization": f"Bearer {bearer_token(server, 'admin')}"}
    created = httpx.post(
        server.url + "/api/v1/clients",
        json={"name": "doomed", "scopes": ["streams:read"]},
        headers=admin,
    ).json()["resources"][0]
    token = httpx.post(
        server.url + "/oauth2/token",
        data={"client_id": created["client_id"], "client_secret": created["client_secret"]},
    ).json()["access_token"]
    feed = OpenFeed(discover(server, token, "revoked-app"))
    try:
        assert feed.reply.status_code == 200
        reply = httpx.delete(server.url + f"/api/v1/clients/{created['client_id']}", headers=admin)
        assert reply.status_code == 200
        # well before the 5 s heartbeat: the revocation itself wakes the feed
        assert feed.ended.wait(3), "the feed of a deleted client is still open"
    finally:
        feed.close()


def test_revoking_a_bearer_token_ends_the_sessions_issued_with_it(server: RunningServer) -> None:
    admin = {"Authorization": f"Bearer {bearer_token(server, 'admin')}"}
    created = httpx.post(
        server.url + "/api/v1/clients",
        json={"name": "revoker", "scopes": ["streams:read"]},
        headers=admin,
    ).json()["resources"][0]
    form = {"client_id": created["client_id"], "client_secret": created["client_secret"]}
    token = httpx.post(server.url + "/oauth2/token", data=form).json()["access_token"]
    other = httpx.post(server.url + "/oauth2/token", data=form).json()["access_token"]
    open_session = discover(server, token, "by-token")
    later_session = discover(server, token, "by-token-2")
    kept = discover(server, other, "other-token")
    feed = OpenFeed(open_session)
    try:
        assert feed.reply.status_code == 200
        basic = base64.b64encode(f"{form['client_id']}:{form['client_secret']}".encode()).decode()
        reply = httpx.post(
            server.url + "/oauth2/revoke",
            data={"token": token},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert reply.status_code == 200
        assert feed.ended.wait(3), "the feed of a revoked token's session is still open"
        assert status_of(later_session) == 401  # a new feed with the old session: refused
        assert status_of(kept) == 200  # sessions of the client's other token live on
    finally:
        feed.close()


# item 7 -------------------------------------------------------------------------------------


def test_no_500_from_a_deep_pipeline_or_a_forged_cursor(server: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {bearer_token(server, 'search:read')}"}
    url = server.url + "/api/v1/search"
    deep = httpx.post(url, json={"query": " | ".join(["head(5)"] * 2000)}, headers=headers)
    assert deep.status_code == 400, deep.text
    for i in range(3):
        httpx.post(
            server.hec_url,
            json={"event": f"page {i}"},
            headers={"Authorization": f"Splunk {server.api_key}"},
        )
    page = httpx.post(url, json={"query": "page", "limit": 1, "start": 0}, headers=headers)
    cursor = page.json()["meta"]["pagination"]["next_cursor"]
    assert cursor
    data, _, signature = cursor.rpartition(".")
    body = orjson.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    body["p"] = {"0": "x'; DROP TABLE batches"}
    forged = base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")
    for bad in (f"{forged}.{signature}", forged, cursor[:-2] + "AA"):
        reply = httpx.post(
            url, json={"query": "page", "limit": 1, "start": 0, "cursor": bad}, headers=headers
        )
        assert reply.status_code == 400, reply.text
        assert "invalid cursor" in reply.json()["errors"][0]["message"]
    ok = httpx.post(
        url, json={"query": "page", "limit": 1, "start": 0, "cursor": cursor}, headers=headers
    )
    assert ok.status_code == 200 and len(ok.json()["resources"]) == 1


# item 8 -------------------------------------------------------------------------------------


def test_text_logs_escape_control_characters(tmp_path: Path) -> None:
    env = {"LAKEHOSE_LOG_FORMAT": "text"}
    with run_server(tmp_path / "data", env=env) as server:
        # a prefix before /services/collector is the client's text, and HEC logs it
        forged = "/x%0a12:00:00%20ERROR%20lakehose:%20forged%0d%1b[31m/services/collector/health"
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(f"GET {forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            while s.recv(65536):
                pass
        wait_for(lambda: "forged" in server.logs(), timeout=60)
        lines = [line for line in server.logs().splitlines() if "forged" in line]
    assert lines
    for line in lines:
        assert not line.lstrip().startswith(("ERROR", "12:00:00 ERROR")), line
        assert "\x1b" not in line and "\r" not in line, line
    assert any("\\n" in line for line in lines), lines


# item 13 (connections) ----------------------------------------------------------------------


def test_slow_connections_from_one_address_leave_room_for_others(tmp_path: Path) -> None:
    args = ["--max-connections", "40", "--max-connections-per-address", "10"]
    with run_server(tmp_path / "data", args=args) as server:
        slow = []
        try:
            for _ in range(30):  # half-sent requests, from 127.0.0.2
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.connect(("127.0.0.1", server.port))
                s.sendall(b"POST /services/collector HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            refused = 0
            for s in slow[10:]:
                s.settimeout(10)
                if b" 503 " in s.recv(4096):
                    refused += 1
            assert refused == 20  # all beyond the address's 10
            sent = httpx.post(
                server.hec_url,
                json={"event": "legitimate"},
                headers={"Authorization": f"Splunk {server.api_key}"},
            )
            assert sent.json() == {"text": "Success", "code": 0}
        finally:
            for s in slow:
                s.close()


# item 14 ------------------------------------------------------------------------------------


def test_the_data_directory_is_private_and_the_first_key_stays_off_the_pipe(
    server: RunningServer,
) -> None:
    """The module's server made its data directory; its stdout is a pipe, not a terminal."""
    data = server.data_dir
    assert server.api_key
    assert not any(server.api_key in line for line in server.output)
    key_file = data / "default-api-key"
    assert key_file.read_text().strip() == server.api_key
    assert any(str(key_file) in line for line in server.output)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))
