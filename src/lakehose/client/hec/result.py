"""What a send did: which events were accepted, and why the others were not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Rejection:
    """Events ``index .. index+count-1`` (positions in the input) were not accepted.

    ``status`` is the HTTP status (None when no answer came: connection refused,
    timeout, an event that could not be encoded); ``code`` and ``text`` are the HEC
    reply's (or the client's reason); ``invalid_event_number`` is the server's, counted
    within the request that carried the event.
    """

    index: int
    count: int
    status: int | None
    code: int | None
    text: str
    invalid_event_number: int | None = None

    @property
    def reason(self) -> str:
        """``400 code 13: Event field cannot be blank`` and the like."""
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code is not None:
            parts.append(f"code {self.code}")
        head = " ".join(parts)
        return f"{head}: {self.text}" if head else self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "count": self.count,
            "status": self.status,
            "code": self.code,
            "text": self.text,
            "invalid_event_number": self.invalid_event_number,
        }


@dataclass(slots=True)
class BatchOutcome:
    """What happened to one batch of consecutive events, after retries and resends."""

    first: int
    count: int
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    last_status: int | None = None
    last_message: Any = None


@dataclass(slots=True)
class SendResult:
    """The outcome of sending many events: counts, and exactly which ones were refused.

    Every event handed over is either accepted or covered by one :class:`Rejection`;
    ``accepted + rejected == sent``. Events are at-least-once: after a timeout or a
    broken connection the request is resent, and the server may have stored it the
    first time.
    """

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0
    elapsed: float = 0.0
    # with acks on: events the server reported durable on /services/collector/ack
    acknowledged: int | None = None

    @property
    def ok(self) -> bool:
        """True when every event was accepted."""
        return self.rejected == 0

    def add(self, outcome: BatchOutcome) -> None:
        self.sent += outcome.count
        self.accepted += outcome.accepted
        self.rejected += sum(r.count for r in outcome.rejections)
        self.rejections.extend(outcome.rejections)
        self.requests += outcome.requests
        self.retries += outcome.retries
        self.bytes_sent += outcome.bytes_sent

    def rejected_indexes(self) -> Iterator[int]:
        """Positions (in the input) of the events not accepted, in order."""
        for r in sorted(self.rejections, key=lambda r: r.index):
            yield from range(r.index, r.index + r.count)

    def accepted_indexes(self) -> Iterator[int]:
        """Positions (in the input) of the accepted events, in order."""
        position = 0
        for index in self.rejected_indexes():
            yield from range(position, index)
            position = index + 1
        yield from range(position, self.sent)

    def is_accepted(self, index: int) -> bool:
        if not 0 <= index < self.sent:
            return False
        return not any(r.index <= index < r.index + r.count for r in self.rejections)

    def reasons(self) -> list[tuple[str, int]]:
        """Each distinct rejection reason with how many events it covers, most first."""
        counts: Counter[str] = Counter()
        for r in self.rejections:
            counts[r.reason] += r.count
        return counts.most_common()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "requests": self.requests,
            "retries": self.retries,
            "bytes_sent": self.bytes_sent,
            "elapsed": round(self.elapsed, 3),
            "acknowledged": self.acknowledged,
            "reasons": [{"reason": reason, "events": n} for reason, n in self.reasons()],
            "rejections": [r.to_dict() for r in sorted(self.rejections, key=lambda r: r.index)],
        }
