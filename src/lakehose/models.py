"""Plain data shared by every layer: what an event is before and after it is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Slice:
    """Consecutive normalised events that share their tags; stored as one record batch.

    ``lines`` are encoded records (see ``records.py``), without newlines.
    """

    connector: str
    index: str
    sourcetype: str
    lines: list[bytes] = field(default_factory=list)
    min_time: int = 0
    max_time: int = 0
    nbytes: int = 0

    def add(self, line: bytes, time_ns: int) -> None:
        if not self.lines:
            self.min_time = self.max_time = time_ns
        elif time_ns < self.min_time:
            self.min_time = time_ns
        elif time_ns > self.max_time:
            self.max_time = time_ns
        self.lines.append(line)
        self.nbytes += len(line) + 1

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.connector, self.index, self.sourcetype)

    def __len__(self) -> int:
        return len(self.lines)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an accepted request landed: offsets ``[first_offset, first_offset + count)``."""

    partition: int
    first_offset: int
    count: int
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A stored record batch's summary: what search plans with, without decompressing."""

    partition: int
    first_offset: int
    count: int
    min_time: int
    max_time: int
    ingest_time: int
    connector: str
    index: str
    sourcetype: str
    raw_bytes: int
    stored_bytes: int

    @property
    def end_offset(self) -> int:
        return self.first_offset + self.count


@dataclass(frozen=True, slots=True)
class Event:
    """One normalised event read back from the lake (DESIGN.md, "The normalised event")."""

    partition: int
    offset: int
    time: int
    ingest_time: int
    connector: str
    index: str
    sourcetype: str
    host: str | None
    source: str | None
    event: Any
    fields: dict[str, Any]
    rawstring: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "offset": self.offset,
            "partition": self.partition,
            "time": self.time,
            "ingest_time": self.ingest_time,
            "#connector": self.connector,
            "#index": self.index,
            "#sourcetype": self.sourcetype,
            "host": self.host,
            "source": self.source,
            "event": self.event,
            "fields": self.fields,
        }
        if self.rawstring is not None:
            out["@rawstring"] = self.rawstring
        return out
