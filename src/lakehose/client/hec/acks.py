"""Indexer acknowledgement on the sender's side: the ackIds a sender was handed, and the
polls of ``/services/collector/ack`` that wait until they are durable (no I/O here: ``HEC``
and ``AsyncHEC`` send the polls and sleep between them)."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from lakehose.client.hec.flow import Reply

_FIRST_DELAY = 0.05
_MAX_DELAY = 1.0


class AckLedger:
    """The ackIds a sender was handed and how many events each one covers (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: dict[int, int] = {}

    def note(self, post_events: int, reply: Reply) -> None:
        """Record the ackId of an answer: all of a 200's events, or the prefix a 400 stored."""
        if reply.status not in (200, 400) or b"ackId" not in reply.body:
            return
        try:
            body = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            return
        ack_id = body.get("ackId")
        if type(ack_id) is not int:
            return
        events = post_events if reply.status == 200 else body.get("invalid-event-number", 0)
        with self._lock:
            self.pending[ack_id] = self.pending.get(ack_id, 0) + int(events or 0)

    def take(self) -> dict[int, int]:
        with self._lock:
            pending, self.pending = self.pending, {}
        return pending


def acked_events(pending: dict[int, int], answer: Any) -> tuple[int, dict[int, int]]:
    """Events of the ids an ``/ack`` answer says are durable, and the ids still waiting."""
    acks = answer.get("acks") if isinstance(answer, dict) else None
    if not isinstance(acks, dict):
        return 0, pending
    done = sum(n for i, n in pending.items() if acks.get(str(i)) is True)
    return done, {i: n for i, n in pending.items() if acks.get(str(i)) is not True}


class AckPolls:
    """One wait for acks: the ids still pending, the events acknowledged so far, and when to
    poll again (doubling from 50 ms to 1 s) until ``timeout`` seconds have passed."""

    def __init__(
        self,
        pending: dict[int, int],
        timeout: float,
        headers: dict[str, str],
        request_timeout: float,
    ) -> None:
        self.pending = pending
        self.acknowledged = 0
        self.deadline = time.monotonic() + timeout
        self.delay = _FIRST_DELAY
        self.headers = headers
        self.request_timeout = request_timeout

    def request(self) -> dict[str, Any]:
        """The keywords of the next poll's POST (the ack URL aside)."""
        return {
            "content": orjson.dumps({"acks": sorted(self.pending)}),
            "headers": self.headers,
            "timeout": self.request_timeout,
        }

    def answered(self, answer: Any) -> None:
        """Count the events of the ids a poll's JSON answer says are durable."""
        done, self.pending = acked_events(self.pending, answer)
        self.acknowledged += done

    def next_delay(self) -> float | None:
        """Seconds to sleep before the next poll; None when done or out of time."""
        if not self.pending or time.monotonic() + self.delay > self.deadline:
            return None
        delay = self.delay
        self.delay = min(self.delay * 2, _MAX_DELAY)
        return delay
