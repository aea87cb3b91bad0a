"""No key, client secret, bearer token or session token in anything the server writes.

A server at log level debug, access log on, is put through ingest, OAuth2, the
admin API, streams, search and a range of errors with real credentials, right
and wrong. Then everything it wrote is searched: its stdout and stderr, every
file in its data directory (catalog, partitions, ``run/`` and the metrics
snapshots there), ``/metrics``, and every error reply it sent (body and headers).
Each secret is searched for whole, by each half (so a masked or truncated copy is
found too), and in the base64 ``Basic`` form it was sent in.
"""

from __future__ import annotations

import base64
import socket
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from lakehose.testing import RunningServer, run_server
from tests.helpers import stored_events, wait_for
from tests.security.credkit import Credentials, basic, make_credentials


class Recorder:
    """An httpx client that keeps every error reply, body and headers, to search them later."""

    def __init__(self, server: RunningServer) -> None:
        self.errors: list[bytes] = []
        self.client = httpx.Client(
            base_url=server.url, timeout=30, event_hooks={"response": [self._keep]}
        )

    def _keep(self, reply: httpx.Response) -> None:
        if reply.status_code >= 400:
            reply.read()
            head = "\n".join(f"{k}: {v}" for k, v in reply.headers.items())
            self.errors.append(head.encode() + b"\n" + reply.content)

    def raw(self, server: RunningServer, data: bytes) -> None:
        """Send bytes on a fresh socket and keep whatever comes back."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            try:
                s.sendall(data)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            except OSError:  # reset by the server after it answered
                pass
        self.errors.append(answer)


def exercise(server: RunningServer, creds: Credentials, r: Recorder) -> None:
    """Everything a busy server sees, with every secret in play, right and wrong."""
    http = r.client
    admin = {"Authorization": f"Bearer {creds.admin_token}"}
    event = b'{"event":"hello"}'
    key = creds.remember("bootstrap key", str(server.api_key))

    # connectors: created and rotated through the admin API (keys in those replies, on purpose)
    made = http.post(
        "/api/v1/connectors",
        json={"name": "leaky", "allow_query_token": True, "ack": True},
        headers=admin,
    ).json()["resources"][0]
    query_key = creds.remember("query key", made["api_key"])
    rotated = http.post("/api/v1/connectors/leaky/rotate", headers=admin).json()
    new_key = creds.remember("rotated key", rotated["resources"][0]["api_key"])
    assert http.get("/api/v1/connectors", headers=admin).status_code == 200
    assert (
        http.patch("/api/v1/connectors/leaky", json={"colour": 1}, headers=admin).status_code == 400
    )
    assert http.post("/api/v1/connectors", content=b"{bad json", headers=admin).status_code == 400

    # ingest with good keys, in every form
    channel = str(uuid.uuid4())
    ack = {"X-Splunk-Request-Channel": channel}
    for headers in (
        {"Authorization": f"Splunk {key}"},
        {"Authorization": f"Bearer {key}"},
        {"Authorization": basic("x", key)},
        {"Authorization": f"Splunk {new_key}", **ack},
    ):
        assert http.post("/services/collector", content=event, headers=headers).status_code == 200
    assert (
        http.post(
            "/services/collector/raw",
            params={"token": new_key, "channel": channel},
            content=b"a raw line\n",
        ).status_code
        == 200
    )
    http.post(
        "/services/collector/ack",
        json={"acks": [0]},
        headers={"Authorization": f"Splunk {new_key}", **ack},
    )

    # ingest with bad keys: unknown, an old rotated one, a token, a client secret, malformed
    secret = creds.admin_client["client_secret"]
    for headers in (
        {"Authorization": f"Splunk {uuid.uuid4()}"},
        {"Authorization": f"Splunk {query_key}"},
        {"Authorization": f"Bearer {creds.admin_token}"},
        {"Authorization": basic(creds.admin_client["client_id"], secret)},
        {"Authorization": f"Splunk{key}"},
        {"Authorization": f"Token {key}"},
    ):
        assert http.post("/services/collector", content=event, headers=headers).status_code >= 400
    http.post("/services/collector", params={"token": key}, content=event)  # code 16
    http.post(f"/services/collector/{key}", content=event)  # unknown path holding a key
    http.post("/services/collector", content=b"{bad", headers={"Authorization": f"Splunk {key}"})

    # OAuth2: right and wrong secrets, as a form and as JSON; revoke right and wrong
    client = creds.admin_client
    assert http.post("/oauth2/token", data=client).status_code == 201
    assert http.post("/oauth2/token", data={**client, "client_secret": key}).status_code == 403
    assert (
        http.post(
            "/oauth2/token", json={"client_id": "nobody", "client_secret": secret}
        ).status_code
        == 403
    )
    fresh = http.post("/oauth2/token", data=client).json()["access_token"]
    creds.remember("fresh token", fresh)
    http.post(
        "/oauth2/revoke",
        data={"token": fresh},
        headers={"Authorization": basic(client["client_id"], key)},
    )
    http.post(
        "/oauth2/revoke",
        data={"token": fresh},
        headers={"Authorization": basic(client["client_id"], secret)},
    )
    http.get("/api/v1/connectors", headers={"Authorization": f"Bearer {fresh}"})  # revoked: 401

    # streams: discover, read the feed a little, refresh; wrong tokens; a token in the path
    reader = creds.headers["streams_read"]
    found = http.get("/sensors/entities/datafeed/v2", params={"appId": "leak"}, headers=reader)
    stream = found.json()["resources"][0]
    session = creds.remember("leak session", stream["sessionToken"]["token"])
    with http.stream(
        "GET", stream["dataFeedURL"], headers={"Authorization": f"Token {session}"}
    ) as feed:
        assert feed.status_code == 200
        next(feed.iter_lines())
    http.get(stream["dataFeedURL"], headers={"Authorization": f"Token {key}"})
    http.get(
        f"/sensors/entities/datafeed/v1/{session}", headers={"Authorization": f"Token {session}"}
    )
    http.post(stream["refreshActiveSessionURL"], json={}, headers=reader)
    http.post(f"/sensors/entities/datafeed-actions/v1/{session}", json={}, headers=reader)

    # search: good, malformed, and with the wrong credentials
    searcher = creds.headers["search_read"]
    assert http.post("/api/v1/search", json={"query": "hello"}, headers=searcher).status_code == 200
    assert (
        http.post("/api/v1/search", json={"query": "a = (("}, headers=searcher).status_code == 400
    )
    http.post("/api/v1/search", json={}, headers={"Authorization": f"Bearer {key}"})
    http.post("/api/v1/search", json={}, headers=reader)

    # clients through the admin API: a new secret (in the creation reply only)
    made_client = http.post(
        "/api/v1/clients", json={"name": "leaky-client", "scopes": ["search:read"]}, headers=admin
    ).json()["resources"][0]
    creds.remember("leaky client secret", made_client["client_secret"])
    http.delete(f"/api/v1/clients/{made_client['client_id']}", headers=admin)

    # connections cut off holding a key: oversized headers, headers too slow, a stalled body
    r.raw(
        server,
        b"POST /services/collector HTTP/1.1\r\nAuthorization: Splunk "
        + key.encode()
        + b"\r\nX-Pad: "
        + b"p" * 100_000
        + b"\r\n\r\n",
    )
    r.raw(
        server,
        b"POST /services/collector HTTP/1.1\r\nAuthorization: Splunk "
        + key.encode()
        + b"\r\nContent-Length: 9",
    )
    r.raw(
        server,
        b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
        + f"client_id={client['client_id']}&client_secret={secret}".encode(),
    )
    r.raw(server, b"GARBAGE " + key.encode() + b"\r\n\r\n")


def forms(name: str, secret: str, creds: Credentials) -> dict[str, bytes]:
    """The byte strings that would betray ``secret``."""
    half = len(secret) // 2
    out = {f"{name}": secret.encode()}
    if half >= 8:
        out[f"{name} (first half)"] = secret[:half].encode()
        out[f"{name} (last half)"] = secret[half:].encode()
    for user in ("x", creds.admin_client["client_id"]):
        out[f"{name} as Basic for {user[:6]}"] = base64.b64encode(f"{user}:{secret}".encode())
    return out


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_appears_in_anything_the_server_wrote(tmp_path: Path, log_format: str) -> None:
    data_dir = tmp_path / "data"
    args = ["--log-level", "debug", "--access-log", "--header-timeout", "1", "--body-timeout", "1"]
    with run_server(data_dir, args=args, env={"LAKEHOSE_LOG_FORMAT": log_format}) as server:
        creds = make_credentials(server, "leak")
        recorder = Recorder(server)
        exercise(server, creds, recorder)
        metrics = recorder.client.get("/metrics").text
        recorder.client.close()
        wait_for(lambda: server.logs().count("lakehose.access") >= 15, timeout=60)
    assert len(creds.secrets) >= 15 and len(recorder.errors) >= 20

    places: dict[str, bytes] = {
        "stderr (the logs)": server.logs().encode(),
        "/metrics": metrics.encode(),
        "error replies": b"\n".join(recorder.errors),
    }
    # stdout is no terminal here: the first key went to its 0600 file, never to stdout
    places["stdout"] = "\n".join(server.output).encode()
    key_file = data_dir / "default-api-key"
    assert key_file.read_text().strip() == server.api_key
    assert key_file.stat().st_mode & 0o077 == 0
    files = [p for p in data_dir.rglob("*") if p.is_file() and p != key_file]
    assert any(p.parent.name == "metrics" for p in files) and any(p.suffix == ".db" for p in files)
    for path in files:
        places[str(path.relative_to(data_dir))] = path.read_bytes()
    places["stored events, decompressed"] = orjson.dumps(stored_events(data_dir))

    leaks = []
    for name, secret in creds.secrets.items():
        for form, needle in forms(name, secret, creds).items():
            for where, text in places.items():
                if needle in text:
                    leaks.append(f"{form} in {where}")
    assert not leaks, "\n".join(leaks)
    # the searched places hold what the test did: the search itself is not blind
    assert b"/services/collector" in places["stderr (the logs)"]
    assert places["stored events, decompressed"].count(b"hello") >= 4
    assert b'connector="leaky"' in places["/metrics"]
