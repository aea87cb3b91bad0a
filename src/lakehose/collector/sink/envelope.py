"""A collected event as the HEC envelope line the queue keeps and the sink sends."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from lakehose.collector.delivery import CollectedEvent


def envelope_line(event: CollectedEvent) -> bytes:
    """``{"time":…,"event":…,"host":…,"source":…,"sourcetype":…,"index":…,"fields":…}``
    and a newline; absent metadata is left out so the receiving HEC applies its defaults.

    ``time`` is written as exact decimal seconds (``1733400000.123456789``): a float
    would round nanoseconds away.
    """
    return _stamp(event.time_ns) + orjson.dumps(event.text) + _tail(event)


def envelope_lines(events: Sequence[CollectedEvent]) -> list[bytes]:
    """:func:`envelope_line` of each event, the metadata encoded once per run of events
    that share it (a put from one file or peer: the hot path of a busy source)."""
    lines: list[bytes] = []
    add, dumps = lines.append, orjson.dumps
    last: CollectedEvent | None = None
    tail = b""
    for event in events:
        if last is None or not (
            event.fields is last.fields  # one mapping per file or peer: identity suffices
            and event.source == last.source
            and event.host == last.host
            and event.sourcetype == last.sourcetype
            and event.index == last.index
        ):
            tail = _tail(event)
        last = event
        if event.time_ns is None:
            add(b'{"event":' + dumps(event.text) + tail)
        else:
            add(_stamp(event.time_ns) + dumps(event.text) + tail)
    return lines


def _stamp(time_ns: int | None) -> bytes:
    if time_ns is None:
        return b'{"event":'
    seconds, ns = divmod(time_ns, 1_000_000_000)
    if ns:
        return f'{{"time":{seconds}.{ns:09d},"event":'.encode()
    return f'{{"time":{seconds},"event":'.encode()


def _tail(event: CollectedEvent) -> bytes:
    """What follows the event text: the other keys, the closing brace, the newline."""
    rest: dict[str, object] = {}
    if event.host is not None:
        rest["host"] = event.host
    if event.source is not None:
        rest["source"] = event.source
    if event.sourcetype is not None:
        rest["sourcetype"] = event.sourcetype
    if event.index is not None:
        rest["index"] = event.index
    if event.fields:
        rest["fields"] = dict(event.fields)
    if not rest:
        return b"}\n"
    return b"," + orjson.dumps(rest)[1:] + b"\n"
