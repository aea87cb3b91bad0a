"""``FaultTable`` (``storage/faults.py``) in the SQLite catalog database."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from lakehose.storage.faults import CLOCK_SETTING, FAULTS, Fault, _armed_for, _params
from lakehose.storage.sqlite.catalog import SqliteCatalog

log = logging.getLogger(__name__)


class SqliteFaultTable:
    """The ``sandbox_faults`` table (used by the server and by ``lakehose sandbox``)."""

    def __init__(self, catalog: SqliteCatalog) -> None:
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
