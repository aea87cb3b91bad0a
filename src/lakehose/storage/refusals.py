"""Each connector's recent refused requests, kept in a bounded ring in the catalog.

"What happened to my event?": per-code counters say how often, not which request,
from where, or what the offending event looked like. Workers buffer refusals in
memory and write them in bulk about once a second (a client hammering a bad request
costs no write per request); each connector keeps its newest :data:`RING_SIZE`.
Excerpts are the first bytes of the offending event with anything credential-shaped
masked, since senders do put keys in events.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lakehose.logs import redact

if TYPE_CHECKING:
    from lakehose.storage.catalog.base import Catalog

RING_SIZE = 100  # refusals kept per connector
EXCERPT_BYTES = 200  # of the offending event
BUFFER_SIZE = 1000  # refusals a worker holds between flushes (the oldest go first)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request of a connector."""

    time: float  # epoch seconds
    client: str
    status: int
    code: int
    text: str
    event_number: int | None
    excerpt: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = iso_time(self.time)
        return out


def iso_time(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (``2026-12-05T15:17:32.123Z``)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{int(seconds % 1 * 1000):03d}Z"


def excerpt_of(data: bytes) -> str:
    """The first bytes of an event as text, credentials masked, cut at a character."""
    text = data[:EXCERPT_BYTES].decode("utf-8", "ignore")
    if len(data) > EXCERPT_BYTES:
        text += "…"
    return redact(text)


_ARRAY_START = re.compile(rb"\s*\[")
MAX_LINES_WALKED = 100_000  # past this, the excerpt is the body's start (a refusal stays cheap)


def offending_event(body: bytes, index: int | None, raw: bool) -> bytes:
    """The first bytes of event ``index`` of a body, as far as cheaply known, else its start.

    Raw bodies and newline-separated JSON hold one event per line; other framings
    (arrays, pretty-printed JSON) show the body's first bytes. Lines are walked, not
    split, so a refused 10 MiB body costs no copy of itself.
    """
    if index is None or index > MAX_LINES_WALKED or (not raw and _ARRAY_START.match(body)):
        return body[: EXCERPT_BYTES + 1]
    seen, pos, end = -1, 0, len(body)
    while pos < end:
        stop = body.find(b"\n", pos)
        if stop < 0:
            stop = end
        head = body[pos : min(stop, pos + EXCERPT_BYTES + 1)]
        if head.strip():
            seen += 1
            if seen == index:
                return head.strip()
        pos = stop + 1
    return body[: EXCERPT_BYTES + 1]


class RefusalBuffer:
    """A worker's refusals not yet written: connector id -> newest first-in order."""

    def __init__(self) -> None:
        self.pending: deque[tuple[str, Refusal]] = deque(maxlen=BUFFER_SIZE)

    def add(self, connector_id: str, refusal: Refusal) -> None:
        self.pending.append((connector_id, refusal))

    def flush(self, catalog: Catalog) -> None:
        if not self.pending:
            return
        entries = list(self.pending)
        self.pending.clear()
        record_refusals(catalog, entries)


def record_refusals(catalog: Catalog, entries: list[tuple[str, Refusal]]) -> None:
    """Append refusals and trim each connector touched to its newest :data:`RING_SIZE`."""
    catalog.record_refusals(entries, RING_SIZE)


def connector_refusals(catalog: Catalog, name_or_id: str, limit: int = RING_SIZE) -> list[Refusal]:
    """A connector's recent refused requests, newest first (NotFoundError for no connector)."""
    connector = catalog.get_connector(name_or_id)
    return catalog.refusals(connector.id, limit)


class RefusalCatalog(Protocol):
    """Where a catalog keeps each connector's ring of recent refusals."""

    def record_refusals(self, entries: list[tuple[str, Refusal]], ring_size: int) -> None:
        """Append ``(connector id, refusal)`` entries; keep each connector's newest ``ring_size``."""
        ...

    def refusals(self, connector_id: str, limit: int) -> list[Refusal]:
        """A connector's recent refusals, newest first (none on a lake not yet migrated)."""
        ...
