"""Channels and indexer acknowledgement (specs/hec-protocol.md §7)."""

from __future__ import annotations

import gzip
import uuid
from typing import Any

import httpx
import pytest

from lakehose.testing import RunningServer
from tests.helpers import create_connector


@pytest.fixture(scope="module")
def acked(server: RunningServer, admin: httpx.Client) -> Any:
    key = create_connector(admin, "acked", use_ack=True)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Splunk {key}"}) as client:
        yield client


def test_an_ack_connector_needs_a_channel(acked: httpx.Client) -> None:
    for path in ("/services/collector", "/services/collector/raw", "/services/collector/ack"):
        reply = acked.post(path, content=b'{"event":"x"}')
        assert (reply.status_code, reply.json()) == (
            400,
            {"text": "Data channel is missing", "code": 10},
        )


def test_a_channel_must_be_a_guid(acked: httpx.Client) -> None:
    reply = acked.post(
        "/services/collector",
        content=b'{"event":"x"}',
        headers={"X-Splunk-Request-Channel": "not-a-guid"},
    )
    assert (reply.status_code, reply.json()) == (400, {"text": "Invalid data channel", "code": 11})


def test_ack_ids_count_requests_per_channel_from_zero(acked: httpx.Client) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [
        acked.post(
            "/services/collector",
            content=b'{"event":"a"}{"event":"b"}',
            headers={"X-Splunk-Request-Channel": one},
        ).json()
        for _ in range(3)
    ]
    assert ids == [{"text": "Success", "code": 0, "ackId": i} for i in range(3)]
    other = acked.post("/services/collector/raw", params={"channel": two}, content=b"line").json()
    assert other == {"text": "Success", "code": 0, "ackId": 0}


def test_ack_query_reports_issued_ids_once(acked: httpx.Client) -> None:
    channel = str(uuid.uuid4())
    headers = {"X-Splunk-Request-Channel": channel}
    for _ in range(2):
        acked.post("/services/collector", content=b'{"event":"x"}', headers=headers)
    reply = acked.post("/services/collector/ack", json={"acks": [0, 1, 2]}, headers=headers)
    assert reply.json() == {"acks": {"0": True, "1": True, "2": False}}
    again = acked.post("/services/collector/ack", json={"acks": [0, 1]}, headers=headers)
    assert again.json() == {"acks": {"0": False, "1": False}}


def test_ids_are_not_visible_on_another_channel(acked: httpx.Client) -> None:
    channel = str(uuid.uuid4())
    acked.post(
        "/services/collector",
        content=b'{"event":"x"}',
        headers={"X-Splunk-Request-Channel": channel},
    )
    reply = acked.post(
        "/services/collector/ack",
        json={"acks": [0]},
        headers={"X-Splunk-Request-Channel": str(uuid.uuid4())},
    )
    assert reply.json() == {"acks": {"0": False}}


def test_a_gzipped_ack_query_with_an_odd_content_type_is_understood(acked: httpx.Client) -> None:
    channel = str(uuid.uuid4())
    headers = {"X-Splunk-Request-Channel": channel}
    acked.post("/services/collector", content=b'{"event":"x"}', headers=headers)
    reply = acked.post(
        "/services/collector/ack",
        content=gzip.compress(b'{"acks":[0]}'),
        headers={
            **headers,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json; profile=urn:splunk:event:1.0; charset=utf-8",
        },
    )
    assert reply.json() == {"acks": {"0": True}}


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"acks":[]}', b'{"acks":"0"}', b'{"acks":[-1]}', b"nope"]
)
def test_a_malformed_ack_query_is_code_6(acked: httpx.Client, body: bytes) -> None:
    reply = acked.post(
        "/services/collector/ack",
        content=body,
        headers={"X-Splunk-Request-Channel": str(uuid.uuid4())},
    )
    assert (reply.status_code, reply.json()["code"]) == (400, 6)


def test_a_partial_batch_carries_the_ack_id_of_its_stored_prefix(acked: httpx.Client) -> None:
    channel = str(uuid.uuid4())
    headers = {"X-Splunk-Request-Channel": channel}
    reply = acked.post("/services/collector", content=b'{"event":"a"}{"event":""}', headers=headers)
    assert reply.json() == {
        "text": "Event field cannot be blank",
        "code": 13,
        "invalid-event-number": 1,
        "ackId": 0,
    }
    nothing = acked.post("/services/collector", content=b'{"event":""}', headers=headers)
    assert "ackId" not in nothing.json()


def test_without_acks_channels_are_ignored_and_ack_is_disabled(hec: httpx.Client) -> None:
    headers = {"X-Splunk-Request-Channel": str(uuid.uuid4())}
    assert hec.post("/services/collector", content=b'{"event":"x"}', headers=headers).json() == {
        "text": "Success",
        "code": 0,
    }
    reply = hec.post("/services/collector/ack", json={"acks": [0]}, headers=headers)
    assert (reply.status_code, reply.json()) == (400, {"text": "ACK is disabled", "code": 14})


def test_ack_state_survives_a_restart(server: RunningServer, admin: httpx.Client) -> None:
    """An id handed out before a restart is still reported durable after it."""
    key = create_connector(admin, "acked-restart", use_ack=True)
    channel = str(uuid.uuid4())
    headers = {"Authorization": f"Splunk {key}", "X-Splunk-Request-Channel": channel}
    assert (
        httpx.post(server.hec_url, content=b'{"event":"x"}', headers=headers).json()["ackId"] == 0
    )
    server.restart()
    reply = httpx.post(server.url + "/services/collector/ack", json={"acks": [0]}, headers=headers)
    assert reply.json() == {"acks": {"0": True}}
    assert (
        httpx.post(server.hec_url, content=b'{"event":"y"}', headers=headers).json()["ackId"] == 1
    )
