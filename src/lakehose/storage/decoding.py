"""Read back the parts of a stored line a query needs, and whole events for output.

A candidate line is decoded with msgspec into structs that hold only the needed
keys (the host but not the source; ``severity`` and ``user`` but not the rest of
the event), which costs a fraction of decoding everything. The result is the
row's values: field name -> value, missing fields absent (``query/fields.py``
says what each name means).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import orjson

from lakehose.models import Event
from lakehose.query.fields import MISSING, FieldRef, field_ref, lookup, top_keys
from lakehose.query.filters import expression
from lakehose.query.nodes import Filter
from lakehose.query.timerange import TimeRange

_UNSET = msgspec.UNSET
_META_KINDS = frozenset({"time", "timestamp", "host", "source", "fields", "bare"})


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


def _rawstring(event_json: bytes) -> Any:
    if event_json[:1] == b'"':
        return orjson.loads(event_json)
    return event_json.decode("utf-8", "replace")


DecodeFn = Callable[[bytes, BatchContext, int], tuple[int, dict[str, Any]]]
PushFn = Callable[[dict[str, Any], Any], bool]
# (lines or decoded rows, batch, push, span, counts) -> matched
RowsFn = Callable[[Sequence[Any], BatchContext, PushFn, TimeRange, dict[Any, int]], int]
# (candidates, batch, push, span, events) -> (matched, index where the pipeline stopped, or -1)
ScanFn = Callable[[list[tuple[int, bytes]], BatchContext, PushFn, TimeRange, bool], tuple[int, int]]
_BAD = (msgspec.DecodeError, msgspec.ValidationError)


class Aggregator:
    """Matching rows of many lines, for a pipeline that only aggregates (see
    :meth:`LineDecoder.aggregator`).

    Lines are decoded many at a time: ``META<TAB>EVENT`` lines joined as
    ``[[META,EVENT],[META,EVENT]]`` (each tab a comma, each newline ``],[``) go to
    msgspec in one call, which saves the Python work of cutting and decoding each
    line. That text means the same as the lines only if each tab is a line's own
    separator: a tab in JSON whitespace would make a comma where none may be (the
    decode fails), and one inside a string cannot be in the text of a valid line (JSON
    forbids it), so counting one tab per line is checked anyway. Whenever the joined
    text is refused (a damaged or unusual line), the lines are decoded one by one, which
    skips exactly the lines that do not decode.
    """

    __slots__ = ("_each", "_bulk")

    def __init__(
        self,
        each: RowsFn,
        bulk: tuple[Callable[[bytes], list[tuple[Any, Any]]], RowsFn] | None,
    ) -> None:
        self._each = each
        self._bulk = bulk

    def lines(
        self,
        lines: list[bytes],
        batch: BatchContext,
        push: PushFn,
        span: TimeRange,
        counts: dict[Any, int],
    ) -> int:
        """Push (or count) the rows of ``lines`` that match; the number that matched."""
        if not lines:
            return 0
        bulk = self._bulk
        if bulk is not None:  # as in _decode(), inline: this runs for every batch
            joined = b"],[".join(lines)
            if joined.count(b"\t") == len(lines):
                try:
                    rows = bulk[0](b"".join((b"[[", joined.replace(b"\t", b","), b"]]")))
                except _BAD:
                    rows = []
                if len(rows) == len(lines):
                    return bulk[1](rows, batch, push, span, counts)
        return self._each(lines, batch, push, span, counts)

    def whole(
        self,
        data: bytes,
        count: int,
        batch: BatchContext,
        push: PushFn,
        span: TimeRange,
        counts: dict[Any, int],
    ) -> int:
        """The same for every line of a batch of ``count`` lines."""
        rows = self._decode(data.replace(b"\n", b"],["), count)
        if rows is None:
            return self._each(data.split(b"\n"), batch, push, span, counts)
        assert self._bulk is not None
        return self._bulk[1](rows, batch, push, span, counts)

    def _decode(self, joined: bytes, count: int) -> list[tuple[Any, Any]] | None:
        """The rows of ``count`` lines joined by ``],[``, or None to take them one by one."""
        if self._bulk is None or joined.count(b"\t") != count:
            return None
        try:
            rows = self._bulk[0](b"".join((b"[[", joined.replace(b"\t", b","), b"]]")))
        except _BAD:
            return None
        return rows if len(rows) == count else None


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
            "UNSET": _UNSET,
            "DecodeError": _BAD,
            "rawstring": _rawstring,
            "decode_meta": msgspec.json.Decoder(self._meta_struct).decode,
        }
        if event_keys:
            struct = msgspec.defstruct(
                "EventKeys",
                [(attr, Any, _UNSET) for attr in self._attrs.values()],
                rename={attr: key for key, attr in self._attrs.items()},
            )
            namespace["decode_event"] = msgspec.json.Decoder(struct).decode
            namespace["EventKeys"] = struct
        self._refs = refs
        self._namespace = namespace
        self._uses_meta = any(ref.kind in _META_KINDS for ref in refs)
        self._event_keys = bool(event_keys)
        self._rawstring = any(ref.kind == "rawstring" for ref in refs)
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
            lines.append("    e = decode_event(event_json) if event_json[:1] == b'{' else None")
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
            body += self._code(ref, i, namespace)
            body.append(f"f{i} = v")
            local[ref.name] = f"f{i}"
            values.append(f"if f{i} is not MISSING: values[{ref.name!r}] = f{i}")
        body += [
            f"if not {expression(predicate, namespace, local)}: continue",
            "matched += 1",
        ]
        if count_by == "":
            pass  # count() alone: the caller adds the number matched
        elif count_by is not None:
            body += [
                f"key = {local.get(count_by, 'MISSING')}",
                "if (key.__class__ is str or key.__class__ is int) and key in counts:",
                "    counts[key] += 1",
                "else:",
                *self._indent(values, 1),
                "    push(values, None)",
            ]
        else:
            body += [*values, "push(values, None)"]
        head = "(lines, batch, push, span, counts):"
        each = [
            f"def each{n}{head}",
            "    matched = 0",
            "    for line in lines:",
            *self._indent(self._prologue(meta, "continue"), 2),
            *self._indent(body, 2),
            "    return matched",
        ]
        bulk = None
        if not self._rawstring:
            rows = [f"def rows{n}{head}", "    matched = 0", "    for m, e in lines:"]
            if self._event_keys:
                rows.append("        if e.__class__ is not EventKeys: e = None")
            else:
                rows.append("        e = None")
            rows += [*self._indent(body, 2), "    return matched"]
            bulk = (self._rows_decoder(meta), self._define(rows))
        return Aggregator(self._define(each), bulk)

    def _rows_decoder(self, meta: bool) -> Callable[[bytes], list[tuple[Any, Any]]]:
        """Decodes ``[[META,EVENT],...]``: the metadata struct (or nothing of it) and the
        event keys struct (or nothing of the event)."""
        key = f"rows_decoder_{meta}"
        found = self._namespace.get(key)
        if found is None:
            first = self._meta_struct if meta else msgspec.defstruct("NoMeta", [])
            second: Any = msgspec.Raw
            if self._event_keys:
                # An event that is no object decodes as something else, then counts as None.
                second = self._namespace["EventKeys"] | str | int | float | bool | None | list
            found = msgspec.json.Decoder(list[tuple[first, second]]).decode  # type: ignore[valid-type]
            self._namespace[key] = found
        return found

    def _code(self, ref: FieldRef, i: int, namespace: dict[str, Any]) -> list[str]:
        """Statements that set ``v`` to the field's value (or MISSING)."""
        kind = ref.kind
        simple = {
            "tag": f"v = batch.tags[{ref.key!r}]",
            "time": "v = m.time",
            "timestamp": "v = m.time // 1000000",
            "ingest_time": "v = batch.ingest_time",
            "offset": "v = batch.first_offset + index",
            "partition": "v = batch.partition",
            "host": "v = MISSING if m.host is None else m.host",
            "source": "v = MISSING if m.source is None else m.source",
            "rawstring": "v = rawstring(event_json)",
        }
        if kind in simple:
            return [simple[kind]]
        lines = []
        if kind in ("fields", "bare"):
            lines.append(f"v = m.fields.get({ref.key!r}, MISSING) if m.fields else MISSING")
        if kind == "fields":
            return lines
        if kind == "bare":
            lines.append("if v is MISSING:")
            indent = "    "
        else:
            indent = ""
        path = ref.path
        keys = top_keys(path)
        if len(path) == 1 and len(keys) == 1:
            attr = self._attrs[keys[0]]
            lines += [
                f"{indent}v = MISSING if e is None else e.{attr}",
                f"{indent}if v is UNSET: v = MISSING",
            ]
        else:
            namespace[f"follow{i}"] = self._event_path(path)
            lines.append(f"{indent}v = follow{i}(e)")
        return lines

    def _event_path(self, path: tuple[str | int, ...]) -> Callable[[Any], Any]:
        """Follow ``path`` from the event struct, longest dotted top-level key first."""
        keys = top_keys(path)
        steps = [(self._attrs[k], path[n:]) for n, k in reversed(list(enumerate(keys, start=1)))]

        def follow(ev: Any) -> Any:
            if ev is None:
                return MISSING
            for attr, rest in steps:
                value = getattr(ev, attr)
                if value is _UNSET:
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
    meta_json, _, event_json = line.partition(b"\t")
    meta = orjson.loads(meta_json)
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
    return {"@timestamp": t // 1_000_000, **event.to_dict()}
