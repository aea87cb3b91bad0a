"""A collected event as the HEC envelope line the queue keeps and the sink sends."""

from __future__ import annotations

import orjson

from lakehose.collector.delivery import CollectedEvent


def envelope_line(event: CollectedEvent) -> bytes:
    """``{"time":…,"event":…,"host":…,"source":…,"sourcetype":…,"index":…,"fields":…}``
    and a newline; absent metadata is left out so the receiving HEC applies its defaults.

    ``time`` is written as exact decimal seconds (``1733400000.123456789``): a float
    would round nanoseconds away.
    """
    envelope: dict[str, object] = {"event": event.text}
    if event.host is not None:
        envelope["host"] = event.host
    if event.source is not None:
        envelope["source"] = event.source
    if event.sourcetype is not None:
        envelope["sourcetype"] = event.sourcetype
    if event.index is not None:
        envelope["index"] = event.index
    if event.fields:
        envelope["fields"] = dict(event.fields)
    body = orjson.dumps(envelope)
    if event.time_ns is None:
        return body + b"\n"
    seconds, ns = divmod(event.time_ns, 1_000_000_000)
    stamp = f'{{"time":{seconds}.{ns:09d},'.encode() if ns else f'{{"time":{seconds},'.encode()
    return stamp + body[1:] + b"\n"
