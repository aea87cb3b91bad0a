"""HEC envelope lines: exact JSON, metadata left out when absent, nanosecond times exact,
and the batched encoder (metadata encoded once per run) byte-identical to the single one."""

from __future__ import annotations

import orjson
import pytest

from lakehose.collector.delivery import CollectedEvent
from lakehose.collector.sink.envelope import envelope_line, envelope_lines

SHARED = {"@collect.source_name": "app", "run": "x"}
CASES = [
    (CollectedEvent("plain"), b'{"event":"plain"}\n'),
    (
        CollectedEvent("t", 1_733_400_000_123_456_789, {}, "h"),
        b'{"time":1733400000.123456789,"event":"t","host":"h"}\n',
    ),
    (
        CollectedEvent('q"uote', 1_733_400_000_000_000_000, SHARED, "h", "/var/log/a", "syslog"),
        b'{"time":1733400000,"event":"q\\"uote","host":"h","source":"/var/log/a",'
        b'"sourcetype":"syslog","fields":{"@collect.source_name":"app","run":"x"}}\n',
    ),
    (CollectedEvent("i", index="main"), b'{"event":"i","index":"main"}\n'),
]


@pytest.mark.parametrize(("event", "line"), CASES, ids=["bare", "time", "all", "index"])
def test_envelope_line_is_exact(event: CollectedEvent, line: bytes) -> None:
    assert envelope_line(event) == line
    orjson.loads(line)


def test_envelope_lines_match_envelope_line_across_changing_metadata() -> None:
    other = dict(SHARED)  # equal content, another object: encoded on its own, same bytes
    events = [event for event, _ in CASES] + [
        CollectedEvent(f"e{i}", None, SHARED if i % 3 else other, "h", f"s{i // 2}")
        for i in range(10)
    ]
    assert envelope_lines(events) == [envelope_line(e) for e in events]
