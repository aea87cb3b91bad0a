"""HEC wire format: split request bodies into events and normalise them into record lines.

``/event`` bodies are a sequence of JSON values (objects, or arrays of objects)
with or without whitespace between them. Envelopes are validated in order; the
first bad one stops the request with its code and index (Splunk's prefix
semantics, ``specs/hec-protocol.md`` §5.5): everything before it is stored.

Splitting, fastest first: the whole body as one value; else one value per line
(the common newline-separated batch); else a line of ``}{``-joined objects, split
and each piece re-parsed (a split inside a string can only make a piece invalid,
never a valid piece with the wrong content, since raw newlines are not allowed in
JSON strings); else the general scanner (stdlib ``raw_decode``), for
pretty-printed or space-separated bodies.

Every reader parses stored events with orjson, so an event must be something orjson
reads and writes back (``json_values.py`` checks it). Anything else is refused with
code 6, on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import orjson

from lakehose.models import Slice
from lakehose.parsers.json_values import (
    MAX_DEPTH,
    JsonSyntaxError,
    may_overflow,
    parse_values,
    too_deep,
)
from lakehose.parsers.lines import LineGrouping
from lakehose.parsers.timestamps import BadTime, epoch_to_ns, timestamp_to_ns
from lakehose.records import LINE_TEMPLATE

# HEC reply codes (specs/hec-protocol.md §4): code -> (HTTP status, text)
CODES: dict[int, tuple[int, str]] = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    16: (400, "Query string authorization is not enabled"),
    17: (200, "HEC is healthy"),
    18: (503, "HEC is unhealthy, queues are full"),
    19: (503, "HEC is unhealthy, ack service unavailable"),
    20: (503, "HEC is unhealthy, queues are full, ack service unavailable"),
    23: (503, "Server is shutting down"),
}


class Reject(Exception):
    """A HEC rejection: ``code`` from :data:`CODES`, ``index`` = invalid-event-number."""

    def __init__(self, code: int, index: int | None = None, detail: str = "") -> None:
        self.code = code
        self.index = index
        self.detail = detail
        super().__init__(f"HEC code {code} at event {index}: {detail or CODES[code][1]}")


@dataclass(slots=True)
class IngestContext:
    """What normalisation needs to know about the request and its connector."""

    connector: str
    index: str
    sourcetype: str
    source: str
    host: str | None
    now_ns: int
    allowed_index: Callable[[str], bool]
    # (sourcetype, text) -> (fields, time_ns or None), or None when no parser applies;
    # see parsers/formats.py Extractor
    extract: Callable[[str, str], tuple[dict[str, Any], int | None] | None] | None = None
    time_ns: int | None = None  # raw: the request's ``time`` query parameter
    fields: dict[str, Any] | None = None  # raw: the request's other query parameters
    # An event's host: its envelope's ``host`` (or ``host`` above, the request's ``?host=``),
    # else the event object's own top-level ``host`` or a parser's ``hostname``, else the
    # connector's ``default_host``, else the host the client addressed (``Host``, Splunk's).
    default_host: str | None = None
    addressed_host: str | None = None
    max_event_size: int = 1024 * 1024  # bytes of an event's JSON text, or of a raw event
    # raw: sourcetype -> how lines group into events (Extractor.grouping)
    grouping: Callable[[str], LineGrouping | None] | None = None


@dataclass(slots=True)
class Normalised:
    """Events of one request, grouped into slices by (index, sourcetype), in order."""

    slices: list[Slice] = field(default_factory=list)
    count: int = 0
    nbytes: int = 0


class _Builder:
    """Accumulates record lines, cutting a new slice whenever (index, sourcetype) changes."""

    __slots__ = ("ctx", "out", "key", "lines", "times", "_json_cache")

    def __init__(self, ctx: IngestContext, out: Normalised) -> None:
        self.ctx = ctx
        self.out = out
        self.key: tuple[str, str] | None = None
        self.lines: list[bytes] = []
        self.times: list[int] = []
        self._json_cache: dict[str | None, bytes] = {}

    def json_text(self, value: str | None) -> bytes:
        """JSON of a short string, cached: hosts and sources repeat across a batch."""
        cached = self._json_cache.get(value)
        if cached is None:
            cached = orjson.dumps(value)
            if len(self._json_cache) < 1024:
                self._json_cache[value] = cached
        return cached

    def cut(self, key: tuple[str, str]) -> None:
        self.flush()
        self.key = key

    def flush(self) -> None:
        if self.lines and self.key is not None:
            lines, times = self.lines, self.times
            sl = Slice(self.ctx.connector, self.key[0], self.key[1], lines)
            sl.min_time, sl.max_time = min(times), max(times)
            sl.nbytes = sum(map(len, lines)) + len(lines)
            self.out.slices.append(sl)
            self.out.count += len(lines)
            self.out.nbytes += sl.nbytes
            self.lines, self.times = [], []


def _text(value: Any, index: int, name: str) -> str:
    """A metadata value (not None) as a string; numbers are accepted, other types are code 6."""
    if type(value) is str:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise Reject(6, index, f"{name} must be a string")


def _check_fields(fields: Any, index: int) -> None:
    if type(fields) is not dict:
        raise Reject(6, index, "fields must be an object")
    for value in fields.values():
        if type(value) is dict:
            raise Reject(15, index, "indexed field values cannot be objects")
        if type(value) is list:
            for item in value:
                if type(item) is dict or type(item) is list:
                    raise Reject(15, index, "indexed field arrays hold scalars only")


_LINE = LINE_TEMPLATE


# An integer beyond 64 bits fails validation, so the body takes the exact path, where orjson
# reads it as a float, as it reads such a number anywhere else.
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
Scalar = str | Int64 | float | bool | None


class _Envelope(msgspec.Struct):
    """An ``/event`` envelope as msgspec validates it; the event stays undecoded JSON text."""

    event: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    time: float | int | str | None = None
    host: str | None = None
    source: str | None = None
    sourcetype: str | None = None
    index: str | None = None
    fields: dict[str, Scalar | list[Scalar]] | None = None


_DECODE_MANY = msgspec.json.Decoder(list[_Envelope]).decode
_DECODE_ONE = msgspec.json.Decoder(_Envelope | list[_Envelope]).decode
_NULL, _BLANK = b"null", b'""'
_QUOTE, _BRACE = ord('"'), ord("{")
_DEEP_SIZE = 2 * MAX_DEPTH  # an event this short cannot nest too deeply


def _fast_envelopes(body: bytes) -> list[_Envelope] | None:
    """The envelopes of a well-formed body, validated in C; None to take the exact path.

    Any decode or type error returns None, and the orjson path then finds the first
    bad envelope and its code. The body's UTF-8 was made valid before (msgspec does
    not look inside the raw event text).
    """
    try:
        if may_overflow(body):
            return None
        lines = list(filter(None, body.splitlines()))
        if len(lines) == 1:
            one = _DECODE_ONE(lines[0])
            return one if isinstance(one, list) else [one]
        envelopes = _DECODE_MANY(b"[" + b",".join(lines) + b"]")
        return envelopes if len(envelopes) == len(lines) else None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None


def _coerce(env: Any, n: int) -> _Envelope:
    """An orjson-decoded envelope as an :class:`_Envelope`, with Splunk's code for a bad type.

    The exact path: used when msgspec refused the body, to find the first bad envelope
    and its code. Numbers are accepted where strings are expected (as text).
    """
    if type(env) is not dict:
        raise Reject(6, n, "an event envelope must be a JSON object")
    event = env.get("event", msgspec.UNSET)
    fields = env.get("fields")
    if fields is not None:
        _check_fields(fields, n)
    t = env.get("time")
    if t is not None and not (type(t) is float or type(t) is int or type(t) is str):
        raise Reject(6, n, "time must be a number or a numeric string")
    text = {
        key: None if env.get(key) is None else _text(env[key], n, key)
        for key in ("host", "source", "sourcetype", "index")
    }
    try:
        raw = msgspec.UNSET if event is msgspec.UNSET else msgspec.Raw(orjson.dumps(event))
        orjson.dumps(text)  # lone surrogates (the stdlib scanner lets them through)
    except orjson.JSONEncodeError as exc:
        raise Reject(6, n, str(exc)) from None
    return _Envelope(event=raw, time=t, fields=fields, **text)


def _add_fast(envelopes: list[_Envelope], b: _Builder, may_host: bool = True) -> None:
    """Validate type-checked envelopes in order and add their record lines; raise Reject.

    The ingest hot loop: per envelope, attribute reads and one bytes format; the event
    stays the JSON text it arrived as. The uncommon shapes go through helper calls.
    ``may_host`` is False when the body holds no ``"host"`` at all, which spares each event
    the search for a host of its own.
    """
    ctx = b.ctx
    default_index, default_sourcetype, now = ctx.index, ctx.sourcetype, ctx.now_ns
    request_host = ctx.host
    fallback_host = ctx.default_host or ctx.addressed_host
    default_host = b.json_text(request_host or fallback_host)
    max_size = ctx.max_event_size
    default_source = b.json_text(ctx.source)
    cache = b._json_cache
    json_text = b.json_text
    extract, allowed_index = ctx.extract, ctx.allowed_index
    wants = getattr(extract, "wants", None)  # Extractor.wants: does a parser apply?
    dumps, loads = orjson.dumps, orjson.loads
    lines, times = b.lines, b.times
    cur_index, cur_sourcetype = b.key or (None, None)
    line_format = _LINE
    unset = msgspec.UNSET
    for n, env in enumerate(envelopes):
        event: Any = env.event
        fields: Any = env.fields
        if event is unset:
            if fields is None:
                raise Reject(12, n)
            event = b"{}"
            size = 2
        else:
            size = len(event)
            if size == 4 and bytes(event) == _NULL:
                raise Reject(12, n)
            if size == 2 and bytes(event) == _BLANK:
                raise Reject(13, n)
            if size > _DEEP_SIZE and too_deep(bytes(event)):
                raise Reject(6, n, f"the event nests deeper than {MAX_DEPTH} levels")
        if size > max_size:
            raise Reject(6, n, f"the event is larger than max_event_size ({max_size} bytes)")
        t = env.time
        obj: Any = None  # the event decoded, when something in it was needed
        if t is None:
            tns = now
            head = bytes(event)
            if head[:1] == b"{" and b'"timestamp"' in head:
                obj = loads(head)
                if type(obj) is dict and "timestamp" in obj:
                    tns = timestamp_to_ns(obj["timestamp"], obj.get("timeunit")) or now
        elif type(t) is float and 0.0 <= t < 9e9:
            tns = round(t * 1_000_000) * 1000
        elif type(t) is int and 0 <= t < 9_000_000_000:
            tns = t * 1_000_000_000
        else:
            try:
                tns = epoch_to_ns(t)
            except BadTime as exc:
                raise Reject(6, n, str(exc)) from None
        host = env.host
        inferred = False  # no host of its own yet: a parser's hostname may give one
        if host is None:
            host_json = default_host
            if request_host is None:
                inferred = True
                if may_host and obj is None:
                    head = bytes(event)
                    if head[:1] == b"{" and b'"host"' in head:
                        obj = loads(head)
                if type(obj) is dict and type(own := obj.get("host")) is str and own:
                    host_json = cache.get(own) or json_text(own)
                    inferred = False
        else:
            host_json = cache.get(host) or json_text(host)
        source = env.source
        if not source:
            source_json = default_source
        else:
            source_json = cache.get(source) or json_text(source)
        sourcetype = env.sourcetype or default_sourcetype
        index = env.index
        if not index:
            index = default_index
        elif index != default_index and not allowed_index(index):
            raise Reject(7, n, f"index {index!r} is not allowed for this connector")
        if index != cur_index or sourcetype != cur_sourcetype:
            cur_index, cur_sourcetype = index, sourcetype
            b.cut((index, sourcetype))
            lines, times = b.lines, b.times
        try:
            fields_part = b',"fields":' + dumps(fields) if fields else b""
        except orjson.JSONEncodeError as exc:  # a lone surrogate, from the stdlib scanner
            raise Reject(6, n, f"fields: {exc}") from None
        line = line_format % (tns, host_json, source_json, fields_part, event)
        # A string event (its JSON text starts with a quote) may have a parser to run.
        if extract is not None and line[-size] == _QUOTE:
            if (wants is not None and wants(sourcetype)) or line[1 - size] == _BRACE:
                extracted = extract(sourcetype, loads(bytes(event)))
                if extracted is not None:
                    extra, parsed_time = extracted
                    if extra:
                        fields = {**extra, **fields} if fields else extra
                        fields_part = b',"fields":' + dumps(fields)
                    if parsed_time is not None and t is None:
                        tns = parsed_time
                    if inferred and type(hostname := extra.get("hostname")) is str and hostname:
                        host_json = json_text(hostname)
                    line = line_format % (tns, host_json, source_json, fields_part, event)
        lines.append(line)
        times.append(tns)


def decode_events(body: bytes, ctx: IngestContext) -> tuple[Normalised, Reject | None]:
    """Normalise an ``/event`` body. Returns the valid prefix and the rejection, if any.

    A body that is a single JSON string is taken as raw text, one event per line
    (FalconPy's ``send_event_file`` sends a whole file that way).
    """
    out = Normalised()
    if not body.strip():
        return out, Reject(5, None)
    body = valid_utf8(body)
    fast = _fast_envelopes(body)
    if fast is not None:
        b = _Builder(ctx, out)
        try:
            _add_fast(fast, b, b'"host"' in body)
        except Reject as rej:
            b.flush()
            return out, rej
        b.flush()
        return out, None if fast else Reject(5, None)
    error: JsonSyntaxError | None = None
    try:
        whole = orjson.loads(body)
    except orjson.JSONDecodeError:
        values, error = parse_values(body)
    else:
        if type(whole) is str:
            return decode_raw(whole.encode("utf-8", "replace"), ctx)
        values = [whole]
    b = _Builder(ctx, out)
    envelopes: list[Any] = []
    for value in values:
        if type(value) is list:
            envelopes.extend(value)
        else:
            envelopes.append(value)
    rejection: Reject | None = None
    coerced: list[_Envelope] = []
    try:
        for n, env in enumerate(envelopes):
            coerced.append(_coerce(env, n))
    except Reject as rej:
        rejection = rej
    try:
        _add_fast(coerced, b)  # a rejection it finds comes earlier, so it wins
    except Reject as rej:
        rejection = rej
    if rejection is None:
        if error is not None:
            rejection = Reject(6, len(envelopes), str(error))
        elif not envelopes:
            rejection = Reject(5, None)
    b.flush()
    return out, rejection


def decode_raw(body: bytes, ctx: IngestContext) -> tuple[Normalised, Reject | None]:
    """Normalise a ``/raw`` body: one event per line (``\\n``, ``\\r\\n`` or ``\\r``), or per
    group of lines when the sourcetype's parser groups them (``parsers/lines.py``).

    A line holding a JSON object is kept as that object (its text verbatim) and is
    marked ``raw`` so ``@rawstring`` is the line itself; other lines are strings.
    """
    out = Normalised()
    body = valid_utf8(body)
    b = _Builder(ctx, out)
    b.cut((ctx.index, ctx.sourcetype))
    lines, times = b.lines, b.times
    fallback_host = ctx.host or ctx.default_host or ctx.addressed_host
    host_json, source_json = b.json_text(fallback_host), b.json_text(ctx.source)
    query_fields = ctx.fields
    fixed_fields = b',"fields":' + orjson.dumps(query_fields) if query_fields else b""
    extract, sourcetype = ctx.extract, ctx.sourcetype
    default_time = ctx.time_ns if ctx.time_ns is not None else ctx.now_ns
    loads, dumps = orjson.loads, orjson.dumps
    grouping = ctx.grouping(sourcetype) if ctx.grouping is not None else None
    events: Iterator[bytes] = (
        grouping.group(body.splitlines())
        if grouping is not None
        else filter(None, (line.strip() for line in body.splitlines()))
    )
    infer_host = ctx.host is None
    for line in events:
        if len(line) > ctx.max_event_size:
            b.flush()
            return out, Reject(
                6,
                out.count,
                f"the event is larger than max_event_size ({ctx.max_event_size} bytes)",
            )
        tns = default_time
        fields_part = fixed_fields
        event_host = host_json
        if line[:1] == b"{":
            try:
                obj = loads(line)
                if type(obj) is dict and not too_deep(line):
                    own = obj.get("host") if infer_host else None
                    if type(own) is str and own:
                        event_host = b.json_text(own)
                    lines.append(
                        _LINE % (tns, event_host, source_json, fields_part + b',"raw":1', line)
                    )
                    times.append(tns)
                    continue
            except orjson.JSONDecodeError:
                pass
        text = line.decode("utf-8", "replace")
        if extract is not None:
            extracted = extract(sourcetype, text)
            if extracted is not None:
                fields, parsed_time = extracted
                if fields:
                    merged = {**fields, **query_fields} if query_fields else fields
                    fields_part = b',"fields":' + dumps(merged)
                    hostname = fields.get("hostname") if infer_host else None
                    if type(hostname) is str and hostname:
                        event_host = b.json_text(hostname)
                if parsed_time is not None and ctx.time_ns is None:
                    tns = parsed_time
        lines.append(_LINE % (tns, event_host, source_json, fields_part, dumps(text)))
        times.append(tns)
    b.flush()
    if out.count == 0:
        return out, Reject(5, None)
    return out, None


def valid_utf8(body: bytes) -> bytes:
    """``body`` with each invalid UTF-8 sequence replaced by U+FFFD.

    Senders that read Latin-1 files put such bytes inside JSON strings; Splunk stores
    them replaced, and refusing them would lose the event. Outside a string a bad byte
    still makes the JSON invalid (code 6). Valid bodies (nearly all) cost one decode.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("utf-8", "replace").encode("utf-8")
    return body
