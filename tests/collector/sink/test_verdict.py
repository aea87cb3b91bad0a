"""What the sink does with each HEC reply (pure decisions)."""

from __future__ import annotations

import pytest

from lakehose.client.hec.flow import Reply
from lakehose.collector.sink.verdict import judge


@pytest.mark.parametrize(
    ("reply", "count", "kind", "index"),
    [
        (Reply(200, b'{"text":"Success","code":0}'), 5, "stored", 0),
        (
            Reply(400, b'{"text":"Invalid data format","code":6,"invalid-event-number":3}'),
            5,
            "prefix",
            3,
        ),
        (
            Reply(400, b'{"text":"Incorrect index","code":7,"invalid-event-number":0}'),
            5,
            "prefix",
            0,
        ),
        (Reply(400, b'{"text":"x","code":13,"invalid-event-number":9}'), 5, "split", 0),
        (Reply(400, b'{"text":"Invalid data format","code":6}'), 5, "split", 0),
        (Reply(400, b'{"text":"Invalid data format","code":6}'), 1, "refuse", 0),
        (Reply(413, b"too large"), 4, "split", 0),
        (Reply(413, b"too large"), 1, "refuse", 0),
        (Reply(400, b'{"text":"Data channel is missing","code":10}'), 5, "retry", 0),
        (Reply(400, b"<html>bad request</html>"), 5, "retry", 0),
        (Reply(401, b'{"text":"Invalid authorization","code":3}'), 5, "switch_auth", 0),
        (Reply(403, b'{"text":"Invalid token","code":4}'), 5, "retry", 0),
        (Reply(500, b'{"text":"Internal server error","code":8}'), 5, "retry", 0),
        (Reply(None, error="connection failed", transient=True), 5, "retry", 0),
        # boundaries: the 2xx range, the refused event's index against the batch, two events
        (Reply(204, b""), 5, "stored", 0),
        (Reply(299, b"{}"), 5, "stored", 0),
        (Reply(300, b"{}"), 5, "retry", 0),
        (Reply(199, b"{}"), 5, "retry", 0),
        (Reply(400, b'{"text":"x","code":6,"invalid-event-number":4}'), 5, "prefix", 4),
        (Reply(400, b'{"text":"x","code":6,"invalid-event-number":5}'), 5, "split", 0),
        (Reply(400, b'{"text":"x","code":6,"invalid-event-number":-1}'), 5, "split", 0),
        (Reply(400, b'{"text":"x","code":6}'), 2, "split", 0),
        (Reply(413, b"too large"), 2, "split", 0),
        (Reply(401, b'{"text":"Token is required","code":2}'), 5, "retry", 0),
        # every data code judges the event, and only those: 12 and 15 yes, 11, 14 and 16 no
        (
            Reply(400, b'{"text":"Event field is required","code":12,"invalid-event-number":2}'),
            5,
            "prefix",
            2,
        ),
        (
            Reply(
                400,
                b'{"text":"Error in handling indexed fields","code":15,"invalid-event-number":1}',
            ),
            5,
            "prefix",
            1,
        ),
        (Reply(400, b'{"text":"Invalid data channel","code":11}'), 5, "retry", 0),
        (Reply(400, b'{"text":"ACK is disabled","code":14}'), 5, "retry", 0),
        (
            Reply(400, b'{"text":"Query string authorization is not enabled","code":16}'),
            5,
            "retry",
            0,
        ),
    ],
)
def test_judge_reads_hec_replies(reply: Reply, count: int, kind: str, index: int) -> None:
    verdict = judge(reply, count, 1)
    assert (verdict.kind, verdict.index) == (kind, index)


def test_retry_after_is_honoured_and_backoff_grows_to_its_cap() -> None:
    busy = Reply(503, b'{"text":"Server is busy","code":9}', retry_after="7")
    assert 7.0 <= judge(busy, 1, 1).delay <= 7.7
    failed = Reply(None, error="refused", transient=True)
    assert judge(failed, 1, 1).delay <= 0.5
    assert 5.0 <= judge(failed, 1, 20).delay <= 10.0


def test_ack_id_is_read_from_success_and_partial_refusals() -> None:
    ok = Reply(200, b'{"text":"Success","code":0,"ackId":4}')
    assert judge(ok, 1, 1).ack_id == 4
    part = Reply(400, b'{"text":"Invalid data format","code":6,"invalid-event-number":1,"ackId":5}')
    assert judge(part, 3, 1).ack_id == 5


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(400, b'{"text":"Invalid data format","code":6}'), "400 code 6: Invalid data format"),
        (Reply(413, b"too large"), "413: too large"),
        (Reply(500, b'{"text":"x","code":0}'), "500: x"),  # code 0 says nothing
        (Reply(None, error="connection failed", transient=True), "connection failed"),
    ],
)
def test_the_reason_names_status_code_and_text(reply: Reply, reason: str) -> None:
    assert judge(reply, 1, 2).reason == reason


def test_the_other_authorization_scheme_is_tried_only_after_the_first_attempt() -> None:
    refused = Reply(401, b'{"text":"Invalid authorization","code":3}')
    assert judge(refused, 1, 1).kind == "switch_auth"
    assert judge(refused, 1, 2).kind == "retry"


def test_retry_after_counts_only_for_429_and_503() -> None:
    throttled = Reply(429, b'{"text":"Too many requests","code":9}', retry_after="7")
    assert 7.0 <= judge(throttled, 1, 1).delay <= 7.7
    failed = Reply(500, b'{"text":"Internal server error","code":8}', retry_after="7")
    assert judge(failed, 1, 1).delay <= 0.5


@pytest.mark.parametrize(
    ("body", "ack_id"),
    [
        (b'{"text":"Success","code":0,"ackId":0}', 0),
        (b'{"text":"Success","code":0,"ackId":-1}', None),
        (b'{"text":"Success","code":0,"ackId":"4"}', None),
        (b'{"text":"Success","code":0,"ackId":true}', None),
        (b'{"text":"Success","code":0}', None),
        (b"[4]", None),
    ],
)
def test_only_a_whole_non_negative_ack_id_counts(body: bytes, ack_id: int | None) -> None:
    assert judge(Reply(200, body), 1, 1).ack_id == ack_id
