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
from lakehose.query.fields import MISSING, FieldRef, field_ref, lookup, top_keys
from lakehose.query.filters import expression
from lakehose.query.nodes import Filter
from lakehose.query.timerange import TimeRange
from lakehose.storage.candidates import LineFilter

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
# (data, hay, batch, push, span, counts) -> matched
SweepFn = Callable[
    [bytes, bytes, BatchContext, Callable[[dict[str, Any], Any], bool], TimeRange, dict[Any, int]],
    int,
]
# (candidates, batch, push, span, events) -> (matched, index where the pipeline stopped, or -1)
ScanFn = Callable[
    [list[tuple[int, bytes]], BatchContext, Callable[[dict[str, Any], Any], bool], TimeRange, bool],
    tuple[int, int],
]


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
        namespace: dict[str, Any] = {
            "MISSING": MISSING,
            "UNSET": _UNSET,
            "DecodeError": (msgspec.DecodeError, msgspec.ValidationError),
            "rawstring": _rawstring,
            "decode_meta": msgspec.json.Decoder(msgspec.defstruct("Meta", meta_fields)).decode,
        }
        if event_keys:
            struct = msgspec.defstruct(
                "EventKeys",
                [(attr, Any, _UNSET) for attr in self._attrs.values()],
                rename={attr: key for key, attr in self._attrs.items()},
            )
            namespace["decode_event"] = msgspec.json.Decoder(struct).decode
        self._refs = refs
        self._namespace = namespace
        self._uses_meta = any(ref.kind in _META_KINDS for ref in refs)
        self._event_keys = bool(event_keys)
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

    def sweeper(
        self,
        predicate: Filter,
        lines: LineFilter,
        *,
        with_time: bool,
        count_by: str | None = None,
    ) -> SweepFn:
        """The scan loop fused with the needle scan, for pipelines that only aggregate.

        ``sweep(data, hay, batch, push, span)`` finds each hit of the line filter's needle
        in ``hay`` (``data`` or its lower-cased copy), cuts out the line around it, and
        decodes, checks and pushes it in place: no list of candidates, no line numbers,
        no order kept (an aggregate needs none). Returns the number of rows pushed.

        With ``count_by``, the first stage counts rows per value of that one field in the
        dict ``counts`` (:meth:`CountBy.counter`): a row whose value is already a key is
        counted in place; any other goes through ``push``, which applies the group limit.
        With ``count_by=""`` (``count()`` alone) nothing is pushed: the count is the result.
        """
        namespace = self._namespace
        name = f"sweep{len(namespace)}"
        text, quote = lines.scan_text
        after = len(text)
        namespace[f"{name}_rest"] = lines.rest
        meta = with_time or self._uses_meta
        body = [
            f"def {name}(data, hay, batch, push, span, counts):",
            "    matched = 0",
            "    find, rfind, hfind = data.find, data.rfind, hay.find",
            "    size = len(data)",
            f"    hit = hfind({text!r})",
            "    while hit >= 0:",
        ]
        if quote:
            body += [
                f"        if hay[hit + {after} : hit + {after + 1}] != b'\"':",
                f"            hit = hfind({text!r}, hit + 1)",
                "            continue",
            ]
        body += [
            "        start = rfind(b'\\n', 0, hit) + 1",
            "        end = find(b'\\n', hit)",
            "        if end < 0: end = size",
            "        line = data[start:end]",
            f"        hit = hfind({text!r}, end + 1) if end < size else -1",
        ]
        if lines.rest is not None:
            low = "hay[start:end]" if lines.lower else "line"
            body.append(f"        if not {name}_rest(line, {low}): continue")
        body += self._indent(self._prologue(meta, "continue"), 2)
        if with_time:
            body.append("        if not span.contains(m.time): continue")
        body += ["        values = {}", *self._indent(self._field_code, 2)]
        body += [
            f"        if not {expression(predicate, namespace)}: continue",
            "        matched += 1",
        ]
        if count_by == "":
            pass  # count() alone: the caller adds the number matched
        elif count_by is not None:
            body += [
                f"        key = values.get({count_by!r}, MISSING)",
                "        if (key.__class__ is str or key.__class__ is int) and key in counts:",
                "            counts[key] += 1",
                "        else:",
                "            push(values, None)",
            ]
        else:
            body.append("        push(values, None)")
        body.append("    return matched")
        found: SweepFn = self._define(body)
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
