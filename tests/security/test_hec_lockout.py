"""Failed HEC keys from one address lock that address out (429) before any key is checked."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx

from lakehose.testing import run_server
from tests.helpers import bearer_token, stored_events

LIMIT = 5
# a window so long that nothing refills while the test runs (one attempt back every 120 s)
ARGS = ["--hec-auth-fail-limit", str(LIMIT), "--hec-auth-fail-window", "600"]


def from_address(address: str) -> httpx.Client:
    """A client whose connections leave from ``address`` (any 127.x address is loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_failed_keys_lock_out_their_address_and_then_even_the_right_key_gets_429(
    data_dir: Path,
) -> None:
    with run_server(data_dir, args=ARGS) as server:
        url = server.hec_url
        good = {"Authorization": f"Splunk {server.api_key}"}
        wrong_password = base64.b64encode(f"x:{uuid.uuid4()}".encode()).decode()
        attempts = [
            {"Authorization": f"Splunk {uuid.uuid4()}"},
            {"Authorization": f"Bearer {uuid.uuid4()}"},
            {"Authorization": f"Basic {wrong_password}"},
            {"Authorization": "Digest not-a-hec-scheme"},  # code 3 counts too
            {"Authorization": f"Splunk {server.api_key}x"},
        ]
        assert len(attempts) == LIMIT
        with from_address("127.0.0.1") as here:
            statuses = [here.post(url, headers=h, content=b'{"event":"guess"}') for h in attempts]
            assert [r.status_code for r in statuses] == [403, 403, 403, 401, 403]
            assert [r.json()["code"] for r in statuses] == [4, 4, 4, 3, 4]

            locked = here.post(url, headers={"Authorization": f"Splunk {uuid.uuid4()}"})
            assert locked.status_code == 429
            assert locked.json() == {"text": "Too many failed authentication attempts", "code": 429}
            assert locked.headers["content-type"].startswith("application/json")
            assert 1 <= int(locked.headers["retry-after"]) <= 120

            right = here.post(url, headers=good, content=b'{"event":"from the locked address"}')
            assert right.status_code == 429  # refused before its key was looked at
            assert here.get(server.url + "/services/collector/health").status_code == 200

        with from_address("127.0.0.2") as elsewhere:
            sent = elsewhere.post(url, headers=good, content=b'{"event":"from elsewhere"}')
            assert sent.json() == {"text": "Success", "code": 0}
            wrong = elsewhere.post(url, headers={"Authorization": f"Splunk {uuid.uuid4()}"})
            assert (wrong.status_code, wrong.json()["code"]) == (403, 4)

        metrics = httpx.get(server.url + "/metrics").text
        assert 'lakehose_hec_rejects_total{code="429"}' in metrics
    logs = server.logs()
    assert logs.count("refusing its requests (429)") == 1
    assert "127.0.0.1" in logs
    assert [e["event"] for e in stored_events(data_dir)] == ["from elsewhere"]


def test_a_disabled_key_or_a_missing_one_does_not_count_as_a_guess(data_dir: Path) -> None:
    """Only wrong keys count: a shipper without a key, or with a disabled one, is no guesser."""
    with run_server(data_dir, args=ARGS) as server:
        admin = bearer_token(server, "admin")
        auth = {"Authorization": f"Bearer {admin}"}
        made = httpx.post(server.url + "/api/v1/connectors", json={"name": "off"}, headers=auth)
        key = made.json()["resources"][0]["api_key"]
        httpx.patch(server.url + "/api/v1/connectors/off", json={"enabled": False}, headers=auth)
        for _ in range(3 * LIMIT):
            assert httpx.post(server.hec_url, content=b"{}").json()["code"] == 2
            refused = httpx.post(server.hec_url, headers={"Authorization": f"Splunk {key}"})
            assert refused.json()["code"] == 1
        good = {"Authorization": f"Splunk {server.api_key}"}
        assert httpx.post(server.hec_url, headers=good, content=b'{"event":1}').status_code == 200
