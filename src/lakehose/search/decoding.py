"""Read back the parts of a stored line a query needs, and whole events for output.

A candidate line is decoded with msgspec into structs that hold only the needed
keys (the host but not the source; ``severity`` and ``user`` but not the rest of
the event), which costs a fraction of decoding everything. The result is the
row's values: field name -> value, missing fields absent (``query/fields.py``
says what each name means).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from lakehose.models import Event
from lakehose.query.fields import MESSAGE, MISSING, FieldRef, field_ref, lookup, top_keys
from lakehose.query.filters import expression
from lakehose.query.nodes import Filter
from lakehose.query.timerange import TimeRange
from lakehose.records import split_line

_META_KINDS = frozenset({"time", "timestamp", "host", "source", "fields", "bare"})
_BATCH_KINDS = frozenset({"tag", "ingest_time", "offset", "partition"})


class BatchContext:
    """What every line of one batch shares: its position and tags."""

    __slots__ = ("partition", "first_offset", "ingest_time", "tags")

    def __init__(
        self, partition: int, first_offset: int, ingest_time: int, tags: dict[str, str]
    ) -> None:
        self.partition = partition
        self.first_offset = first_offset
        self.ingest_time = ingest_time
        self.tags = tags


def _is_message(ref: FieldRef) -> bool:
    return ref.kind == "bare" and ref.key == MESSAGE


def _rawstring(event_json: bytes) -> Any:
    if event_json[:1] == b'"':
        return orjson.loads(event_json)
    return event_json.decode("utf-8", "replace")


DecodeFn = Callable[[bytes, BatchContext, int], tuple[int, dict[str, Any]]]
PushFn = Callable[[dict[str, Any], Any], bool]
# (lines, batch, push, span, counts) -> matched
LinesFn = Callable[[list[bytes], BatchContext | None, PushFn, TimeRange, dict[Any, int]], int]
# (data, count, batch, push, span, counts) -> matched
WholeFn = Callable[[bytes, int, BatchContext | None, PushFn, TimeRange, dict[Any, int]], int]
# (candidates, batch, push, span, events) -> (matched, index where the pipeline stopped, or -1)
ScanFn = Callable[[list[tuple[int, bytes]], BatchContext, PushFn, TimeRange, bool], tuple[int, int]]
_BAD = (msgspec.DecodeError, msgspec.ValidationError)


class Aggregator:
    """The loops of a pipeline that only aggregates (see :meth:`LineDecoder.aggregator`).

    ``lines(lines, batch, push, span, counts)`` takes a batch's candidate lines and
    ``whole(data, count, batch, push, span, counts)`` a whole batch of ``count`` lines;
    each returns the number of rows that matched. Both are generated functions, called
    straight from the scan.

    Lines are decoded many at a time: ``META<TAB>EVENT`` lines joined as
    ``[[META,EVENT],[META,EVENT]]`` (each tab a comma, each newline ``],[``) go to
    msgspec in one call, which saves the Python work of cutting and decoding each line.
    That text means the same as the lines only if each line has exactly one tab, its
    own separator: the first ``count`` tabs become commas, and a tab left over means
    some line has two (a tab in JSON whitespace; one inside a string cannot be in a valid
    line, as JSON forbids it), while a line without one cannot decode as a pair. Whenever
    the joined text is refused (a damaged or unusual line), the lines are decoded one by
    one, which skips exactly the lines that do not decode.
    """

    __slots__ = ("lines", "whole")

    def __init__(self, lines: LinesFn, whole: WholeFn) -> None:
        self.lines = lines
        self.whole = whole


class LineDecoder:
    """Decodes the ``needed`` fields of a line (plus its time) into a dict of values.

    The per-line function is generated once per query (one straight-line body, no
    call per field), since it runs for every candidate line.
    """

    def __init__(self, needed: frozenset[str]) -> None:
        refs = [field_ref(name) for name in sorted(needed)]
        meta_keys = {"time"}
        event_keys: list[str] = []
        for ref in refs:
            if ref.kind in ("host", "source"):
                meta_keys.add(ref.kind)
            elif ref.kind in ("fields", "bare"):
                meta_keys.add("fields")
            if ref.kind in ("event", "bare"):
                for key in top_keys(ref.path):
                    if key not in event_keys:
                        event_keys.append(key)
        meta_fields = [
            (k, int if k == "time" else Any, 0 if k == "time" else None) for k in sorted(meta_keys)
        ]
        self._attrs = {key: f"k{i}" for i, key in enumerate(event_keys)}
        self._meta_struct = msgspec.defstruct("Meta", meta_fields)
        namespace: dict[str, Any] = {
            "MISSING": MISSING,
            "DecodeError": _BAD,
            "rawstring": _rawstring,
            "decode_meta": msgspec.json.Decoder(self._meta_struct).decode,
        }
        if event_keys:
            # An absent key reads as MISSING; NO_EVENT stands for an event that is no object.
            struct = msgspec.defstruct(
                "EventKeys",
                [(attr, Any, MISSING) for attr in self._attrs.values()],
                rename={attr: key for key, attr in self._attrs.items()},
            )
            namespace["decode_event"] = msgspec.json.Decoder(struct).decode
            namespace["EventKeys"] = struct
            namespace["NO_EVENT"] = struct()
        self._refs = refs
        self._namespace = namespace
        self._uses_meta = any(ref.kind in _META_KINDS for ref in refs)
        self._event_keys = bool(event_keys)
        # Whether the event's text is needed (line by line): @rawstring, or ``message``,
        # which is a string event's text when neither a field nor a key has that name.
        self._rawstring = any(ref.kind == "rawstring" or _is_message(ref) for ref in refs)
        # Whether rows read the batch's position or tags (else no BatchContext is needed).
        self.uses_batch = any(ref.kind in _BATCH_KINDS for ref in refs)
        self._field_code = []
        for i, ref in enumerate(refs):
            self._field_code += self._code(ref, i, namespace)
            self._field_code.append(f"if v is not MISSING: values[{ref.name!r}] = v")
        for name, with_time in (("decode", True), ("decode_values", False)):
            meta = with_time or self._uses_meta
            body = [
                f"def {name}(line, batch, index):",
                *self._indent(self._prologue(meta, "return 0, {}"), 1),
            ]
            body += ["    values = {}", *self._indent(self._field_code, 1)]
            body.append("    return m.time, values" if meta else "    return 0, values")
            self._define(body)
        # (event time ns, values) of one line.
        self.decode: DecodeFn = namespace["decode"]
        # (0 or the time, values): skips the metadata when no needed field is in it.
        self.decode_values: DecodeFn = namespace["decode_values"]

    @staticmethod
    def _indent(lines: list[str], depth: int) -> list[str]:
        return ["    " * depth + line for line in lines]

    def _prologue(self, meta: bool, on_error: str) -> list[str]:
        """Split the line and decode its parts into ``m`` (metadata) and ``e`` (event keys)."""
        lines = ["meta_json, _, event_json = line.partition(b'\\t')", "try:"]
        lines.append("    m = decode_meta(meta_json)" if meta else "    pass")
        if self._event_keys:
            lines.append("    e = decode_event(event_json) if event_json[:1] == b'{' else NO_EVENT")
        else:
            lines.append("    e = None")
        return [*lines, "except DecodeError:", f"    {on_error}"]

    def _define(self, body: list[str]) -> Any:
        exec("\n".join(body), self._namespace)  # noqa: S102 - names and constants via repr()
        return self._namespace[body[0][4 : body[0].index("(")]]

    def scanner(self, predicate: Filter, *, with_time: bool) -> ScanFn:
        """One generated loop over a batch's candidate lines: decode, check the time (when
        ``with_time``) and ``predicate``, and push each match, with no call per field or
        comparison. It returns ``(matched, index)``: the line where the pipeline asked to
        stop, or -1."""
        namespace = self._namespace
        name = f"scan{len(namespace)}"
        test = expression(predicate, namespace)
        meta = with_time or self._uses_meta
        body = [
            f"def {name}(candidates, batch, push, span, events):",
            "    matched = 0",
            "    for index, line in candidates:",
            *self._indent(self._prologue(meta, "continue"), 2),
        ]
        if with_time:
            body.append("        if not span.contains(m.time): continue")
        body += ["        values = {}", *self._indent(self._field_code, 2)]
        body += [
            f"        if not {test}: continue",
            "        matched += 1",
            "        if not push(values, (batch, index, line) if events else None):",
            "            return matched, index",
            "    return matched, -1",
        ]
        found: ScanFn = self._define(body)
        return found

    def aggregator(
        self, predicate: Filter, *, with_time: bool, count_by: str | None = None
    ) -> Aggregator:
        """The loops for a pipeline that only aggregates: no order kept, no early stop.

        Each matching row is pushed, unless ``count_by`` is given: then the first stage
        counts rows per value of that one field in the dict ``counts``
        (:meth:`CountBy.counter`), and a row whose value is already a key is counted in
        place; any other goes through ``push``, which applies the group limit. With
        ``count_by=""`` (``count()`` alone) nothing is pushed: the count is the result.
        The row's values live in local variables; a dict is built only for ``push``.
        """
        namespace = self._namespace
        n = len(namespace)
        meta = with_time or self._uses_meta
        body = []
        if with_time:
            body.append("if not span.contains(m.time): continue")
        local: dict[str, str] = {}
        values = ["values = {}"]
        for i, ref in enumerate(self._refs):
            body += self._code(ref, i, namespace, f"f{i}")
            local[ref.name] = f"f{i}"
            values.append(f"if f{i} is not MISSING: values[{ref.name!r}] = f{i}")
        body += [
            f"if not {expression(predicate, namespace, local)}: continue",
            "matched += 1",
        ]
        if count_by == "":
            pass  # count() alone: the caller adds the number matched
        elif count_by is not None:
            key = local.get(count_by, "MISSING")
            body += [
                f"if ({key}.__class__ is str or {key}.__class__ is int) and {key} in counts:",
                f"    counts[{key}] += 1",
                "else:",
                *self._indent(values, 1),
                "    push(values, None)",
            ]
        else:
            body += [*values, "push(values, None)"]
        args = "batch, push, span, counts"
        self._define(
            [
                f"def each{n}(lines, {args}):",
                "    matched = 0",
                "    for line in lines:",
                *self._indent(self._prologue(meta, "continue"), 2),
                *self._indent(body, 2),
                "    return matched",
            ]
        )
        if self._rawstring:  # the event's text is needed: line by line
            lines = self._define(
                [
                    f"def lines{n}(lines, {args}):",
                    f"    return each{n}(lines, {args})",
                ]
            )
            whole = self._define(
                [
                    f"def whole{n}(data, count, {args}):",
                    f"    return each{n}(data.split(b'\\n'), {args})",
                ]
            )
            return Aggregator(lines, whole)
        namespace[f"decode_rows{n}"] = self._rows_decoder(meta)
        rows = [
            f"def rows{n}(joined, count, {args}):",
            "    # -1: the lines cannot be decoded together (see Aggregator)",
            "    doc = joined.replace(b'\\t', b',', count)",
            "    if doc.find(b'\\t') >= 0: return -1",
            "    try:",
            f"        rows = decode_rows{n}(b''.join((b'[[', doc, b']]')))",
            "    except DecodeError:",
            "        return -1",
            "    if len(rows) != count: return -1",
            "    matched = 0",
            "    for m, e in rows:",
        ]
        if self._event_keys:
            rows.append("        if e.__class__ is not EventKeys: e = NO_EVENT")
        rows += [*self._indent(body, 2), "    return matched"]
        self._define(rows)
        lines = self._define(
            [
                f"def lines{n}(lines, {args}):",
                "    if not lines: return 0",
                f"    matched = rows{n}(b'],['.join(lines), len(lines), {args})",
                f"    return matched if matched >= 0 else each{n}(lines, {args})",
            ]
        )
        whole = self._define(
            [
                f"def whole{n}(data, count, {args}):",
                f"    matched = rows{n}(data.replace(b'\\n', b'],['), count, {args})",
                f"    return matched if matched >= 0 else each{n}(data.split(b'\\n'), {args})",
            ]
        )
        return Aggregator(lines, whole)

    def _rows_decoder(self, meta: bool) -> Callable[[bytes], list[tuple[Any, Any]]]:
        """Decodes ``[[META,EVENT],...]``: the metadata struct (or nothing of it) and the
        event keys struct (or nothing of the event)."""
        key = f"rows_decoder_{meta}"
        found = self._namespace.get(key)
        if found is None:
            first = self._meta_struct if meta else msgspec.defstruct("NoMeta", [])
            second: Any = msgspec.Raw
            if self._event_keys:
                # An event that is no object decodes as something else, then is NO_EVENT.
                second = self._namespace["EventKeys"] | str | int | float | bool | None | list
            found = msgspec.json.Decoder(list[tuple[first, second]]).decode  # type: ignore[valid-type]
            self._namespace[key] = found
        return found

    def _code(self, ref: FieldRef, i: int, namespace: dict[str, Any], v: str = "v") -> list[str]:
        """Statements that set the variable ``v`` to the field's value (or MISSING)."""
        kind = ref.kind
        simple = {
            "tag": [f"{v} = batch.tags[{ref.key!r}]"],
            "time": [f"{v} = m.time"],
            "timestamp": [f"{v} = m.time // 1000000"],
            "ingest_time": [f"{v} = batch.ingest_time"],
            "offset": [f"{v} = batch.first_offset + index"],
            "partition": [f"{v} = batch.partition"],
            "host": [f"{v} = m.host", f"if {v} is None: {v} = MISSING"],
            "source": [f"{v} = m.source", f"if {v} is None: {v} = MISSING"],
            "rawstring": [f"{v} = rawstring(event_json)"],
        }
        if kind in simple:
            return simple[kind]
        if kind == "fields":
            return [f"{v} = m.fields.get({ref.key!r}, MISSING) if m.fields else MISSING"]
        path = ref.path
        keys = top_keys(path)
        if len(path) == 1 and len(keys) == 1:
            event = f"e.{self._attrs[keys[0]]}"
        else:
            namespace[f"follow{i}"] = self._event_path(path)
            event = f"follow{i}(e)"
        if kind == "event":
            return [f"{v} = {event}"]
        # bare: the indexed field of that name, else the event's
        code = [
            "if m.fields:",
            f"    {v} = m.fields.get({ref.key!r}, MISSING)",
            f"    if {v} is MISSING: {v} = {event}",
            "else:",
            f"    {v} = {event}",
        ]
        if _is_message(ref):
            code.append(
                f"if {v} is MISSING and event_json[:1] == b'\"': {v} = rawstring(event_json)"
            )
        return code

    def _event_path(self, path: tuple[str | int, ...]) -> Callable[[Any], Any]:
        """Follow ``path`` from the event struct, longest dotted top-level key first."""
        keys = top_keys(path)
        steps = [(self._attrs[k], path[n:]) for n, k in reversed(list(enumerate(keys, start=1)))]

        def follow(ev: Any) -> Any:
            for attr, rest in steps:
                value = getattr(ev, attr)
                if value is MISSING:
                    continue
                if not rest:
                    return value
                found = lookup(value, rest)
                if found is not MISSING:
                    return found
            return MISSING

        return follow


def full_event(line: bytes, batch: BatchContext, index: int) -> dict[str, Any]:
    """The whole normalised event of a line, as the API returns it."""
    meta, event_json = split_line(line)
    t = int(meta.get("time", 0))
    event = Event(
        partition=batch.partition,
        offset=batch.first_offset + index,
        time=t,
        ingest_time=batch.ingest_time,
        connector=batch.tags["#connector"],
        index=batch.tags["#index"],
        sourcetype=batch.tags["#sourcetype"],
        host=meta.get("host"),
        source=meta.get("source"),
        event=orjson.loads(event_json),
        fields=meta.get("fields") or {},
        rawstring=event_json.decode("utf-8", "replace") if meta.get("raw") else None,
    )
    row = {"@timestamp": t // 1_000_000, **event.to_dict()}
    for name, value in event.fields.items():
        if name[:1] == "#" and name not in row:
            row[name] = value  # a custom tag is listed with the built-in ones
    return row
