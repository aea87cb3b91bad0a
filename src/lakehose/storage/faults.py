"""The stream sandbox's armed faults and its clock offset, kept in the catalog (see server/sandbox.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

CLOCK_SETTING = "sandbox.clock_offset_seconds"


FAULTS: dict[str, str] = {
    "hec_busy": "HEC answers 503 with code 9 (server is busy); nothing is stored",
    "hec_throttle": "HEC answers 429 with Retry-After (retry_after seconds, default 1)",
    "hec_error": "HEC answers 500 (code 8, internal server error); nothing is stored",
    "hec_delay": "HEC waits `seconds` (default 2) before handling the request",
    "hec_close_before_commit": "HEC closes the connection without an answer; nothing is stored",
    "hec_close_after_commit": (
        "HEC commits the events, then closes the connection without an answer "
        "(acknowledged but unanswered: a retry stores them twice)"
    ),
    "ack_false": "/services/collector/ack answers false for every ack id (they stay pending)",
    "discovery_refuse": "stream discovery answers 503",
    "feed_cut": "a data feed is cut mid-event: half a line, then the connection is closed",
    "feed_slow": "a data feed sends at most `rate` events per second (default 10)",
    "session_expire": "every stream session expires now (an action: POST .../sessions/expire)",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """An armed (or spent) fault."""

    id: int
    fault: str
    params: dict[str, Any]
    remaining: int | None
    until: float | None
    fired: int
    created: float

    def live(self, now: float) -> bool:
        if self.until is not None:
            return now < self.until
        return self.remaining is not None and self.remaining > 0

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault,
            "params": self.params,
            "remaining": self.remaining,
            "until": self.until,
            "fired": self.fired,
            "armed": self.live(time.time() if now is None else now),
        }


class FaultTable(Protocol):
    """What a catalog offers for faults (SQLite: ``storage/sqlite/faults.py``)."""

    def arm(
        self,
        fault: str,
        *,
        count: int | None = None,
        duration: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> Fault: ...

    def list(self) -> list[Fault]: ...

    def clear(self) -> int: ...

    def take(self, fault_id: int) -> bool:
        """Fire one of the fault's shots; False if it is spent or expired meanwhile."""
        ...

    def record(self, fault: str) -> None:
        """A fault that is an action (``session_expire``): counted as fired once."""
        ...

    def clock_offset(self) -> float: ...

    def set_clock_offset(self, seconds: float) -> None: ...

    def expire_sessions(self, grace: float) -> int:
        """End every stream session now (past its grace too); return how many."""
        ...


def _armed_for(count: int | None, duration: float | None) -> str:
    return f"for {duration:g} s" if duration is not None else f"for the next {count} request(s)"


def _params(fault: str, given: dict[str, Any]) -> dict[str, Any]:
    allowed = {"hec_delay": "seconds", "hec_throttle": "retry_after", "feed_slow": "rate"}
    name = allowed.get(fault)
    unknown = set(given) - ({name} if name else set())
    if unknown:
        raise ValueError(f"fault {fault} takes no parameter {', '.join(sorted(unknown))}")
    if name is None or name not in given:
        return {}
    value = given[name]
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 3600:
        raise ValueError(f"{name} must be a number more than 0 and at most 3600")
    return {name: value}
