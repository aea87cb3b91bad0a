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
