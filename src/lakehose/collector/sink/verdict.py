"""What the collector does with a HEC reply to a batch: pure decisions, no I/O.

Unlike the SDK's senders, which give up after a few retries and report refusals, the
collector must never lose an event it has taken: only a HEC verdict *on the data*
(a 400 with one of the data codes, or a 413 for a single event) sets an event aside,
into the dead-letter file. Everything else, including a wrong token (401/403), a
missing path (404) or a server error (5xx), is retried with backoff until it
works, while the queue fills (and then pauses the sources or drops the oldest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lakehose.client._retry import RetryPolicy, backoff_delay, parse_retry_after
from lakehose.client.hec.flow import Reply

DATA_CODES = frozenset({6, 7, 12, 13, 15})
"""HEC codes that judge an event (bad format, index, missing or blank event, fields)."""

RETRY_POLICY = RetryPolicy(retries=0, base=0.5, cap=10.0, max_retry_after=300.0)
"""Backoff from about 0.5 s, doubling with jitter, at most 10 s (Retry-After up to 5 min)."""

Kind = Literal["stored", "prefix", "split", "refuse", "retry", "switch_auth"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``stored``: all ``count`` events were taken. ``prefix``: events before ``index``
    were taken and ``index`` was refused; send the rest again. ``split``: send the
    events in two halves. ``refuse``: the single event is refused. ``retry``: send the
    same again after ``delay`` seconds. ``switch_auth``: try the other Authorization
    scheme at once. ``reason`` says why, for logs and dead letters."""

    kind: Kind
    reason: str = ""
    index: int = 0
    delay: float = 0.0
    ack_id: int | None = None


def judge(reply: Reply, count: int, attempt: int, policy: RetryPolicy = RETRY_POLICY) -> Verdict:
    """The verdict on ``reply`` to a request of ``count`` events, the ``attempt``-th retry
    if it fails again (1 for the first)."""
    status = reply.status
    code, text, ien = reply.verdict()
    ack_id = _ack_id(reply)
    if status is not None and 200 <= status < 300:
        return Verdict("stored", ack_id=ack_id)
    reason = _reason(status, code, text)
    if status == 400 and code in DATA_CODES:
        if ien is not None and 0 <= ien < count:
            return Verdict("prefix", reason, index=ien, ack_id=ack_id)
        return Verdict("split", reason) if count > 1 else Verdict("refuse", reason)
    if status == 413:
        return Verdict("split", reason) if count > 1 else Verdict("refuse", reason)
    if status == 401 and code == 3 and attempt == 1:
        return Verdict("switch_auth", reason)
    retry_after = parse_retry_after(reply.retry_after) if status in (429, 503) else None
    return Verdict("retry", reason, delay=backoff_delay(attempt, retry_after, policy))


def _reason(status: int | None, code: int | None, text: str) -> str:
    head = " ".join(
        part
        for part in (str(status) if status is not None else "", f"code {code}" if code else "")
        if part
    )
    return f"{head}: {text}" if head else text


def _ack_id(reply: Reply) -> int | None:
    message = reply.message() if reply.status is not None else None
    if isinstance(message, dict):
        value = message.get("ackId")
        if type(value) is int and value >= 0:
            return value
    return None
