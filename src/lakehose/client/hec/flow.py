"""Sending one batch, written once as a generator that the sync and async senders drive.

Theory of operation. :func:`send_flow` holds every decision about a batch and does
no I/O: it yields a :class:`Post` (a body to send) or a :class:`Wait` (seconds to
sleep), receives a :class:`Reply` for each Post, and finally returns a
:class:`BatchOutcome`. ``HEC`` steps it with ``httpx.Client`` and ``time.sleep``,
``AsyncHEC`` with ``httpx.AsyncClient`` and ``asyncio.sleep`` (httpx's
``Auth.auth_flow`` pattern), so both behave identically by construction.

Per request, the reply decides:

- 2xx: every event of the request was accepted.
- 429/503/408/502/504 or a transport failure: wait (Retry-After, else backoff with
  jitter) and resend the same events, up to ``policy.retries`` times.
- 400 with ``invalid-event-number`` N on the event endpoint: HEC's prefix rule —
  events 0..N-1 of the request were stored, N was refused (recorded with its code
  and text), and N+1.. are sent again as a new request. Each round sends fewer
  events, so this ends. Raw lines (and a file sent as one JSON string) have no
  per-event verdict: a 400 there refuses the whole request.
- 413 (body too large for the server): the events are split in two halves, sent
  in order; a single event that is still too large is refused.
- anything else (401, 403, 415, other 400s, 500, retries exhausted): the request's
  events are refused with the reply's status, code and text.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import orjson

from lakehose.client._retry import RetryPolicy, backoff_delay, parse_retry_after, should_retry
from lakehose.client.hec.batching import Batch, compress
from lakehose.client.hec.result import BatchOutcome, Rejection


@dataclass(frozen=True, slots=True)
class Post:
    """Send ``body`` (``events`` events, ``size`` bytes before compression)."""

    body: bytes
    raw: bool
    events: int
    size: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep ``seconds`` before the next try (``reason`` for the debug log)."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reply:
    """What a Post got: an HTTP answer, or (``status`` None) a transport ``error``."""

    status: int | None
    body: bytes = b""
    retry_after: str | None = None
    error: str | None = None
    transient: bool = False

    def message(self) -> Any:
        """The answer's JSON (FalconPy's ``last_message``), else its text, else the error."""
        if self.status is None:
            return self.error or "no answer"
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return self.body.decode("utf-8", "replace")

    def verdict(self) -> tuple[int | None, str, int | None]:
        """HEC ``code``, ``text`` and ``invalid-event-number`` (None when not given)."""
        if self.status is None:
            return None, self.error or "no answer", None
        message = self.message()
        if isinstance(message, dict):
            code = message.get("code")
            text = message.get("text")
            ien = message.get("invalid-event-number")
            return (
                code if type(code) is int else None,
                text if isinstance(text, str) else _status_text(self.status),
                ien if type(ien) is int else None,
            )
        text = message.strip()[:200] if isinstance(message, str) else ""
        return None, text or _status_text(self.status), None


def _status_text(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


Step = Post | Wait


def send_flow(
    batch: Batch, policy: RetryPolicy, compression: str | None = None
) -> Generator[Step, Reply | None, BatchOutcome]:
    """Deliver ``batch``: yield Posts and Waits, receive Replies, return the outcome."""
    outcome = BatchOutcome(batch.first, batch.count)
    if batch.error is not None:
        outcome.rejections.append(Rejection(batch.first, 1, None, None, batch.error))
        return outcome
    pending = [(0, batch.count)]  # ranges of items still to send, last one first
    while pending:
        lo, hi = pending.pop()
        attempt = 0
        while lo < hi:
            plain = batch.lines(lo, hi)
            if batch.text:
                plain = orjson.dumps(plain.decode("utf-8", "replace"))
            body = compress(plain, compression)
            reply = yield Post(body, batch.raw, hi - lo, len(plain))
            assert reply is not None, "a Post is answered with a Reply"
            outcome.requests += 1
            outcome.bytes_sent += len(body)
            outcome.last_status = reply.status if reply.status is not None else 500
            outcome.last_message = reply.message()
            status = reply.status
            if status is not None and 200 <= status < 300:
                outcome.accepted += hi - lo
                break
            if should_retry(status, transient_error=reply.transient) and attempt < policy.retries:
                attempt += 1
                outcome.retries += 1
                delay = backoff_delay(attempt, parse_retry_after(reply.retry_after), policy)
                why = f"HTTP {status}" if status is not None else (reply.error or "no answer")
                yield Wait(delay, f"retry {attempt} of {policy.retries} after {why}")
                continue
            code, text, ien = reply.verdict()
            if status == 413 and hi - lo > 1:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
                break
            per_event = not (batch.raw or batch.text)
            if status == 400 and ien is not None and per_event and 0 <= ien < hi - lo:
                outcome.accepted += ien
                outcome.rejections.append(
                    Rejection(batch.first + lo + ien, 1, 400, code, text, ien)
                )
                lo += ien + 1
                attempt = 0
                continue
            outcome.rejections.append(Rejection(batch.first + lo, hi - lo, status, code, text, ien))
            break
    return outcome
