"""Events into HEC payloads: FalconPy's normalisation, Splunk envelopes, raw lines.

FalconPy's HEC helper turns an event dict into
``{"event": {"host", "timestamp", "timeunit", ...other keys}, "fields": {...}}``:
``host``, ``timestamp`` and ``timeunit`` lead the event (a missing host is null, a
missing or zero timestamp is now, in the time unit), ``custom`` is merged in, every
other key follows, and ``fields`` is kept only when given and not empty. Raw
ingestion sends the JSON text of ``{"event": {...}}`` without ``fields``.
:func:`falcon_envelope` reproduces that exactly, so a ported program stores what it
stored before.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from lakehose.client.hec.inputs import InputError

# ns per unit; FalconPy knows seconds, milliseconds and nanoseconds; lakehose also microseconds
TIME_UNITS: dict[str, int] = {
    "seconds": 1_000_000_000,
    "milliseconds": 1_000_000,
    "microseconds": 1_000,
    "nanoseconds": 1,
}
ENVELOPE_KEYS = frozenset({"event", "time", "host", "source", "sourcetype", "index", "fields"})
_FALCON_KEYS = frozenset({"host", "timestamp", "timeunit", "custom", "fields"})
_RESHAPED_KEYS = frozenset({"timestamp", "timeunit", "custom", "fields"})
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def check_timeunit(unit: str) -> str:
    """A time unit name, lower-cased; ValueError for an unknown one."""
    name = unit.lower()
    if name not in TIME_UNITS:
        raise ValueError(f"unknown time unit {unit!r}; known: {', '.join(TIME_UNITS)}")
    return name


def now_in(unit: str) -> int:
    """The current epoch time as an integer in ``unit`` (FalconPy's default timestamp)."""
    return time.time_ns() // TIME_UNITS[unit]


class IngestPayload:
    """FalconPy's ``IngestPayload``: an event with host, timestamp, time unit and fields.

    ``IngestPayload(host="web1", fields={"env": "prod"}, action="login").to_json()``
    gives the same dict FalconPy's does. Extra keyword arguments become event keys.
    """

    def __init__(
        self,
        host: str | None = None,
        timestamp: int | None = None,
        timeunit: str | None = None,
        custom: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.host = host or None
        self.timestamp = timestamp or None
        self.timeunit = check_timeunit(timeunit) if timeunit else None
        self.custom: dict[str, Any] = dict(custom or {})
        self.custom.update(kwargs)
        self.fields: dict[str, Any] = dict(fields or {})

    def as_event(self) -> dict[str, Any]:
        """The keyword form :func:`falcon_envelope` takes."""
        out: dict[str, Any] = {"host": self.host, "timestamp": self.timestamp}
        if self.timeunit:
            out["timeunit"] = self.timeunit
        out["custom"] = self.custom
        if self.fields:
            out["fields"] = self.fields
        return out

    def to_json(self, raw: bool = False, nowrap: bool = False) -> dict[str, Any] | str:
        """FalconPy's ``to_json``: the envelope dict, the bare event, or raw JSON text."""
        envelope = falcon_envelope(self.as_event(), self.timeunit or "nanoseconds", raw=raw)
        if nowrap:
            return dict(envelope["event"])
        if raw:
            return orjson.dumps(envelope).decode()
        return envelope


def falcon_envelope(
    event: Mapping[str, Any] | IngestPayload, timeunit: str, *, raw: bool = False
) -> dict[str, Any]:
    """FalconPy's payload for one event dict (see the module docstring).

    Unlike FalconPy, an event's own ``timeunit`` key is honoured (FalconPy raises
    ``TypeError`` on it), and an unknown unit raises ``ValueError``.
    """
    if type(event) is dict and _RESHAPED_KEYS.isdisjoint(event) and timeunit in TIME_UNITS:
        # the common case, about twice as fast: no key to move, merge or drop
        if event.get("host") or "host" not in event:
            fast: dict[str, Any] = {
                "host": None,
                "timestamp": time.time_ns() // TIME_UNITS[timeunit],
            }
            fast["timeunit"] = timeunit
            fast.update(event)
            return {"event": fast}
    if isinstance(event, IngestPayload):
        event = event.as_event()
    get = event.get
    unit = get("timeunit") or timeunit
    if unit not in TIME_UNITS:
        unit = check_timeunit(unit)
    body: dict[str, Any] = {
        "host": get("host") or None,
        "timestamp": get("timestamp") or now_in(unit),
        "timeunit": unit,
    }
    custom = get("custom")
    if custom:
        body.update(custom)
    for key, value in event.items():
        if key not in _FALCON_KEYS:
            body[key] = value
    envelope: dict[str, Any] = {"event": body}
    fields = get("fields")
    if fields and not raw:
        envelope["fields"] = fields
    return envelope


def falcon_envelopes(
    events: list[Any], timeunit: str, *, raw: bool = False
) -> list[dict[str, Any]]:
    """:func:`falcon_envelope` of each event; the common case inline, for speed."""
    if timeunit not in TIME_UNITS:
        return [falcon_envelope(e, timeunit, raw=raw) for e in events]
    divisor, time_ns, plain = TIME_UNITS[timeunit], time.time_ns, _RESHAPED_KEYS.isdisjoint
    out: list[dict[str, Any]] = []
    append = out.append
    for e in events:
        if type(e) is dict and plain(e) and (e.get("host") or "host" not in e):
            append(
                {
                    "event": {
                        "host": None,
                        "timestamp": time_ns() // divisor,
                        "timeunit": timeunit,
                        **e,
                    }
                }
            )
        else:
            append(falcon_envelope(e, timeunit, raw=raw))
    return out


def _time_of(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def to_envelope(item: Any) -> Any:
    """A HEC envelope for one item given to ``send_events``.

    A mapping whose keys are all envelope keys (``event``, ``time``, ``host``,
    ``source``, ``sourcetype``, ``index``, ``fields``) and that has ``event`` or
    ``fields`` is already an envelope. Anything else, including a mapping that merely
    has an ``event`` key among others, is the event itself, so no key is ever dropped.
    A ``datetime`` as ``time`` becomes epoch seconds (naive means UTC).
    """
    if isinstance(item, IngestPayload):
        return falcon_envelope(item, item.timeunit or "nanoseconds")
    if isinstance(item, InputError):
        raise item  # a record read_events could not read: refused in its place
    if isinstance(item, Mapping):
        keys = item.keys()
        if ("event" in keys or "fields" in keys) and keys <= ENVELOPE_KEYS:
            t = item.get("time")
            if isinstance(t, datetime):
                return {**item, "time": _time_of(t)}
            return item if type(item) is dict else dict(item)
    return {"event": item}


def json_default(value: Any) -> Any:
    """JSON for types orjson does not know: sets and tuples as lists, bytes as text."""
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Compact JSON; ``TypeError`` (with the reason) if ``value`` cannot be encoded."""
    try:
        return orjson.dumps(value, default=json_default, option=JSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"event cannot be encoded as JSON: {exc}") from None


def raw_line(item: Any) -> bytes:
    """One line for the raw endpoint: text as is, anything else as its JSON."""
    if isinstance(item, InputError):
        raise item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    return dumps(item)
