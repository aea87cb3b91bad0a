"""The fault sandbox (``lakehose serve --sandbox``): faults injected on purpose, for integration tests.

Theory of operation
-------------------
Off by default; ``--sandbox`` is refused unless the server listens on loopback
(``config.py``). Faults are rows of ``sandbox_faults`` in the catalog, armed by the
admin API (``/api/v1/sandbox``) or by ``lakehose sandbox`` on the data directory,
so every worker sees them: a worker re-reads the table when the catalog's
``data_version`` moves. A fault is armed for the next ``count`` requests it applies
to, or for ``duration`` seconds. Taking one is an atomic ``UPDATE ... remaining - 1``
in the catalog, so ``count=2`` fires exactly twice whichever workers serve the
requests. Each injection is logged (warning) and counted, per fault, in the row's
``fired`` and in ``lakehose_sandbox_faults_total``.

The sandbox clock shifts the ingest time of new batches (``offset_seconds``, a
setting in the catalog), so a test can build a lake whose batches span days; it is
for tests only and applies only with ``--sandbox``.

With the sandbox off, nothing here runs: :meth:`Sandbox.take` returns None at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from lakehose.config import Settings
from lakehose.server.metrics import Metrics
from lakehose.storage.catalog import Catalog

log = logging.getLogger(__name__)

CLOCK_SETTING = "sandbox.clock_offset_seconds"

# fault -> what it does (the admin API, the CLI and the README list these)
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
HEC_FAULTS = ("hec_busy", "hec_throttle", "hec_error", "hec_delay", "hec_close_before_commit")


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


class FaultTable:
    """The ``sandbox_faults`` table (used by the server and by ``lakehose sandbox``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def arm(
        self,
        fault: str,
        *,
        count: int | None = None,
        duration: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> Fault:
        if fault not in FAULTS or fault == "session_expire":
            raise ValueError(
                f"unknown fault {fault!r}; faults: "
                + ", ".join(f for f in FAULTS if f != "session_expire")
            )
        if count is not None and duration is not None:
            raise ValueError("give count or duration, not both")
        if duration is not None and not 0 < duration <= 86400:
            raise ValueError("duration must be more than 0 and at most 86400 seconds")
        if count is None and duration is None:
            count = 1
        if count is not None and not 1 <= count <= 1_000_000:
            raise ValueError("count must be 1 to 1000000")
        clean = _params(fault, params or {})
        now = time.time()
        until = now + duration if duration is not None else None
        with self.catalog._tx() as c:
            row_id = c.execute(
                "INSERT INTO sandbox_faults (fault, params, remaining, until, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (fault, orjson.dumps(clean).decode(), count, until, now),
            ).lastrowid
        log.warning("sandbox: fault %s armed (%s)", fault, _armed_for(count, duration))
        return Fault(int(row_id or 0), fault, clean, count, until, 0, now)

    def list(self) -> list[Fault]:
        rows = self.catalog._query(
            "SELECT id, fault, params, remaining, until, fired, created FROM sandbox_faults "
            "ORDER BY id"
        )
        return [Fault(r[0], r[1], orjson.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def clear(self) -> int:
        with self.catalog._tx() as c:
            return c.execute("DELETE FROM sandbox_faults").rowcount

    def take(self, fault_id: int) -> bool:
        """Fire one of the fault's shots; False if it is spent or expired meanwhile."""
        with self.catalog._tx() as c:
            return (
                c.execute(
                    "UPDATE sandbox_faults SET fired = fired + 1, remaining = CASE WHEN "
                    "remaining IS NULL THEN NULL ELSE remaining - 1 END WHERE id = ? AND "
                    "((remaining IS NOT NULL AND remaining > 0) OR (until IS NOT NULL AND until > ?))",
                    (fault_id, time.time()),
                ).rowcount
                == 1
            )

    def record(self, fault: str) -> None:
        """A fault that is an action (``session_expire``): counted as fired once."""
        now = time.time()
        with self.catalog._tx() as c:
            c.execute(
                "INSERT INTO sandbox_faults (fault, params, remaining, until, fired, created) "
                "VALUES (?, '{}', 0, NULL, 1, ?)",
                (fault, now),
            )

    def clock_offset(self) -> float:
        value = self.catalog.get_setting(CLOCK_SETTING)
        return float(value) if value else 0.0

    def set_clock_offset(self, seconds: float) -> None:
        if abs(seconds) > 10 * 365 * 86400:
            raise ValueError("offset_seconds must be within ten years")
        self.catalog.set_setting(CLOCK_SETTING, repr(float(seconds)))

    def expire_sessions(self, grace: float) -> int:
        """End every stream session now (past its grace too); return how many."""
        past = time.time() - grace - 1
        with self.catalog._tx() as c:
            count = c.execute(
                "UPDATE stream_sessions SET expires_at = ? WHERE expires_at > ?", (past, past)
            ).rowcount
        return int(count)


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


class Sandbox:
    """One worker's view of the armed faults."""

    def __init__(self, settings: Settings, catalog: Catalog, metrics: Metrics) -> None:
        self.enabled = settings.sandbox
        self.settings = settings
        self.table = FaultTable(catalog)
        self.metrics = metrics
        self._version = -1
        self._armed: list[Fault] = []
        self._clock_ns = 0

    def clock(self) -> int:
        """Now, in ns, as the log stamps ingest times (shifted by the sandbox clock)."""
        return time.time_ns() + self._clock_ns

    def refresh(self, force: bool = False) -> None:
        """Re-read the faults and the clock when the catalog changed."""
        if not self.enabled:
            return
        version = self.table.catalog.data_version()
        if version == self._version and not force:
            return
        self._version = version
        now = time.time()
        self._armed = [f for f in self.table.list() if f.live(now)]
        self._clock_ns = int(self.table.clock_offset() * 1e9)

    def take(self, *faults: str) -> Fault | None:
        """The first armed fault of these kinds, fired now (logged, counted); None if none."""
        if not self.enabled:
            return None
        self.refresh()
        now = time.time()
        for fault in self._armed:
            if fault.fault in faults and fault.live(now) and self.table.take(fault.id):
                self.fired(fault.fault, fault.params)
                self._version = -1  # the row changed: read it again next time
                return fault
        return None

    def fired(self, fault: str, params: dict[str, Any]) -> None:
        self.metrics.sandbox_fault(fault)
        log.warning("sandbox: injected fault %s %s", fault, orjson.dumps(params).decode())
