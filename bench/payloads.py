"""The canned request bodies of the ingest scenarios, built once, deterministically.

Every body is built from a seeded generator, so two runs (and two servers) get
byte-identical requests; events vary field by field, so compression ratios are
realistic rather than those of one line repeated a hundred times.
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass

import orjson
import zstandard

EVENT_PATH = "/services/collector/event"
RAW_PATH = "/services/collector/raw"
INGEST_SCENARIOS = ("batch", "batch-gzip", "batch-zstd", "single", "raw")
EVENTS_PER_BATCH = 100
EVENT_SIZE = 170  # bytes per NDJSON line (envelope included), about
_ACTIONS = ("allow", "deny", "drop", "reset")
_USERS = tuple(f"user{i:03d}" for i in range(200))
_WORDS = ("session", "opened", "closed", "for", "rule", "web-out", "vpn", "policy", "matched", "ok")


@dataclass(frozen=True)
class Payload:
    """One scenario's request: where it goes, its body as sent, and what it holds."""

    scenario: str
    path: str
    body: bytes
    content_type: str
    content_encoding: str | None
    events: int
    raw_bytes: int  # the body's size before compression

    def headers(self, token: str) -> dict[str, str]:
        headers = {"Authorization": f"Splunk {token}", "Content-Type": self.content_type}
        if self.content_encoding:
            headers["Content-Encoding"] = self.content_encoding
        return headers


def _ip(rng: random.Random, prefix: str) -> str:
    return f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _fields(rng: random.Random) -> dict[str, str | int]:
    return {
        "action": rng.choice(_ACTIONS),
        "src": _ip(rng, "10.1"),
        "dst": _ip(rng, "192.168"),
        "dport": rng.choice((22, 53, 80, 443, 3389, 8443)),
        "user": rng.choice(_USERS),
        "bytes": rng.randrange(40, 1_000_000),
    }


def _words(rng: random.Random, length: int) -> str:
    """Filler text of exactly ``length`` characters, from a small vocabulary (compresses like logs)."""
    text = ""
    while len(text) < length:
        text += rng.choice(_WORDS) + " "
    return text[:length]


def event_line(rng: random.Random, size: int = EVENT_SIZE) -> bytes:
    """One HEC envelope of ``size`` bytes or a little more, as NDJSON text without the newline."""
    event: dict[str, str | int] = _fields(rng)
    envelope = {
        "time": round(1_700_000_000 + rng.random() * 86_400, 3),
        "host": f"fw-{rng.randrange(1, 40):02d}",
        "source": "bench",
        "event": event,
    }
    room = size - len(orjson.dumps(envelope)) - len(',"msg":""')
    if room > 0:
        event["msg"] = _words(rng, room)
    return orjson.dumps(envelope)


def raw_line(rng: random.Random, size: int = EVENT_SIZE) -> bytes:
    """One syslog-style key=value line of ``size`` bytes or a little more."""
    kv = " ".join(f"{k}={v}" for k, v in _fields(rng).items())
    stamp = f"Nov 23 17:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    text = f"<134>{stamp} fw-{rng.randrange(1, 40):02d} filter: {kv}"
    room = size - len(text) - len(" msg=")
    if room > 0:
        text += " msg=" + _words(rng, room)
    return text.encode()


def build(
    scenario: str, *, events: int = EVENTS_PER_BATCH, event_size: int = EVENT_SIZE
) -> Payload:
    """The request of ``scenario`` (one of ``INGEST_SCENARIOS``)."""
    rng = random.Random(f"lakehose-bench-{scenario.split('-')[0]}")
    if scenario == "raw":
        body = b"\n".join(raw_line(rng, event_size) for _ in range(events)) + b"\n"
        return Payload(scenario, RAW_PATH, body, "text/plain", None, events, len(body))
    if scenario == "single":
        body = event_line(rng, event_size)
        return Payload(scenario, EVENT_PATH, body, "application/json", None, 1, len(body))
    body = b"\n".join(event_line(rng, event_size) for _ in range(events)) + b"\n"
    if scenario == "batch":
        return Payload(scenario, EVENT_PATH, body, "application/json", None, events, len(body))
    if scenario == "batch-gzip":
        packed = gzip.compress(body, compresslevel=6, mtime=0)
        return Payload(scenario, EVENT_PATH, packed, "application/json", "gzip", events, len(body))
    if scenario == "batch-zstd":
        packed = zstandard.ZstdCompressor(level=3).compress(body)
        return Payload(scenario, EVENT_PATH, packed, "application/json", "zstd", events, len(body))
    raise ValueError(f"unknown ingest scenario {scenario!r}; one of {', '.join(INGEST_SCENARIOS)}")
