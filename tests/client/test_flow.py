"""One batch's flow, driven with scripted replies: prefix resends, retries, splits."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson

from lakehose.client._retry import RetryPolicy
from lakehose.client.hec.batching import Batch, iter_batches
from lakehose.client.hec.flow import Post, Reply, Wait, send_flow
from lakehose.client.hec.result import BatchOutcome, Rejection

OK = Reply(200, b'{"text":"Success","code":0}')
BUSY = Reply(503, b'{"text":"Server is busy","code":9}', retry_after="2")


def _batch(n: int, first: int = 0, raw: bool = False) -> Batch:
    events = [{"event": f"e{i}"} for i in range(first, first + n)]
    (batch,) = iter_batches(events, max_events=n, max_bytes=1 << 20, raw=raw)
    batch.first = first
    return batch


def _run(
    batch: Batch,
    replies: Iterator[Reply],
    policy: RetryPolicy | None = None,
    compression: str | None = None,
) -> tuple[list[Post | Wait], BatchOutcome]:
    """Drive the flow; collect its steps and outcome."""
    flow = send_flow(batch, policy or RetryPolicy(retries=3), compression)
    steps: list[Post | Wait] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            step = flow.send(next(replies) if isinstance(step, Post) else None)
    except StopIteration as done:
        return steps, done.value


def _events(post: Post) -> list[str]:
    return [orjson.loads(line)["event"] for line in post.body.splitlines()]


def _reject(code: int, text: str, ien: int) -> Reply:
    body = {"text": text, "code": code, "invalid-event-number": ien}
    return Reply(400, orjson.dumps(body))


def test_a_batch_accepted_at_once_is_one_request() -> None:
    steps, outcome = _run(_batch(5), iter([OK]))
    assert len(steps) == 1 and isinstance(steps[0], Post)
    assert _events(steps[0]) == [f"e{i}" for i in range(5)]
    assert (outcome.accepted, outcome.rejections, outcome.requests) == (5, [], 1)


def test_after_invalid_event_number_the_rest_is_resent_and_only_that_event_is_rejected() -> None:
    replies = iter(
        [_reject(13, "Event field cannot be blank", 2), _reject(6, "Invalid data format", 1), OK]
    )
    steps, outcome = _run(_batch(6, first=100), replies)
    posts = [s for s in steps if isinstance(s, Post)]
    assert [_events(p) for p in posts] == [
        ["e100", "e101", "e102", "e103", "e104", "e105"],
        ["e103", "e104", "e105"],
        ["e105"],
    ]
    assert outcome.accepted == 4
    assert outcome.rejections == [
        Rejection(102, 1, 400, 13, "Event field cannot be blank", 2),
        Rejection(104, 1, 400, 6, "Invalid data format", 1),
    ]


def test_the_last_event_rejected_ends_the_batch_without_an_empty_request() -> None:
    steps, outcome = _run(_batch(3), iter([_reject(12, "Event field is required", 2)]))
    assert len(steps) == 1
    assert outcome.accepted == 2 and [r.index for r in outcome.rejections] == [2]


def test_raw_lines_have_no_per_event_verdict() -> None:
    steps, outcome = _run(_batch(4, raw=True), iter([_reject(6, "Invalid data format", 1)]))
    assert len(steps) == 1
    assert outcome.accepted == 0
    assert outcome.rejections == [Rejection(0, 4, 400, 6, "Invalid data format", 1)]


def test_busy_is_retried_after_retry_after_then_succeeds() -> None:
    steps, outcome = _run(_batch(2), iter([BUSY, BUSY, OK]))
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["Post", "Wait", "Post", "Wait", "Post"]
    waits = [s for s in steps if isinstance(s, Wait)]
    assert all(2.0 <= w.seconds <= 2.2 for w in waits)
    assert (outcome.accepted, outcome.retries, outcome.requests) == (2, 2, 3)


def test_retries_run_out_and_the_events_are_rejected_with_the_last_answer() -> None:
    steps, outcome = _run(_batch(2), iter([BUSY] * 3), RetryPolicy(retries=2))
    assert sum(isinstance(s, Post) for s in steps) == 3
    assert outcome.rejections == [Rejection(0, 2, 503, 9, "Server is busy")]


def test_a_transport_failure_is_retried_and_reported_when_it_persists() -> None:
    refused = Reply(None, error="connection failed: refused", transient=True)
    _, outcome = _run(_batch(1), iter([refused, refused]), RetryPolicy(retries=1, base=0.01))
    assert outcome.rejections == [Rejection(0, 1, None, None, "connection failed: refused")]
    assert outcome.last_status == 500


def test_an_auth_failure_is_not_retried() -> None:
    steps, outcome = _run(_batch(3), iter([Reply(403, b'{"text":"Invalid token","code":4}')]))
    assert len(steps) == 1
    assert outcome.rejections == [Rejection(0, 3, 403, 4, "Invalid token")]


def test_too_large_splits_the_batch_in_order() -> None:
    too_large = Reply(413, b'{"text":"Content too large","code":413}')
    steps, outcome = _run(_batch(4), iter([too_large, too_large, OK, OK, OK]))
    posts = [_events(s) for s in steps if isinstance(s, Post)]
    assert posts == [["e0", "e1", "e2", "e3"], ["e0", "e1"], ["e0"], ["e1"], ["e2", "e3"]]
    assert outcome.accepted == 4 and outcome.rejections == []


def test_a_non_json_error_body_becomes_the_reason() -> None:
    _, outcome = _run(_batch(1), iter([Reply(404, b"<html>nope</html>")]))
    assert outcome.rejections[0].text == "<html>nope</html>"
    _, outcome = _run(_batch(1), iter([Reply(502, b"")]), RetryPolicy(retries=0))
    assert outcome.rejections[0].text == "Bad Gateway"


def test_bodies_are_compressed_as_asked() -> None:
    steps, _ = _run(_batch(3), iter([OK]), compression="gzip")
    post = steps[0]
    assert isinstance(post, Post)
    assert gzip.decompress(post.body).splitlines() == [
        orjson.dumps({"event": f"e{i}"}) for i in range(3)
    ]
    assert post.size > 0 and post.events == 3


def test_an_event_that_cannot_be_encoded_is_rejected_without_a_request() -> None:
    batches = list(
        iter_batches(
            [{"event": 1}, {"event": object()}, {"event": 3}], max_events=10, max_bytes=1000
        )
    )
    assert [(b.first, b.count, b.error is not None) for b in batches] == [
        (0, 1, False),
        (1, 1, True),
        (2, 1, False),
    ]
    steps, outcome = _run(batches[1], iter([]))
    assert steps == []
    assert outcome.rejections[0].index == 1 and "cannot be encoded" in outcome.rejections[0].text
