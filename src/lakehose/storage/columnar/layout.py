"""What a columnar file holds: fixed columns, and event fields flattened to typed columns.

Fixed columns: ``offset``, ``batch`` (its batch's first offset), ``time``,
``ingest_time``, ``partition``, the tags ``connector``, ``index``, ``sourcetype``,
and ``raw`` (``@rawstring``: the event's JSON text, or the text of a string event; lower-cased
in files flagged ``LOWER``, so free text scans it with a plain ``LIKE``).

A field is named as a query names it (``user.name``) and holds the value the row
engine would read for that name (``query/fields.py``: an indexed field, else the
event's path, dotted keys included), so a column answers a query exactly. Its
column is ``NAME:t`` by the JSON type of the value: ``s`` text, ``i`` integer,
``f`` float, ``b`` boolean; a field may have several, one per type that occurs,
and a row has a value in at most one of them. ``host`` and ``source`` are kept the
same way. Bytes of NAME other than ``[a-z0-9_.@-]`` are written ``%XX``, since
DuckDB's names ignore case while JSON keys do not.

A name whose value is null, an array or an object in some row, and a name in
fewer than :data:`RARE` of the rows (beyond :data:`MAX_COLUMNS`), is no column:
its values stay in ``raw`` and the manifest lists it as *other*, so a query on
it is answered by the row engine.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from lakehose.query.fields import MISSING, field_ref, lookup, split_path

FIXED = {
    "offset": "BIGINT",
    "batch": "BIGINT",
    "time": "BIGINT",
    "ingest_time": "BIGINT",
    "partition": "INTEGER",
    "connector": "VARCHAR",
    "index": "VARCHAR",
    "sourcetype": "VARCHAR",
    "raw": "VARCHAR",
}
SQL_TYPES = {"s": "VARCHAR", "i": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN"}
MAX_COLUMNS = 256
RARE = 0.001  # a field in fewer than this share of a file's rows is left in the JSON text
MAX_OTHER = 10_000  # rare names listed per file; beyond, the file is "open"
_PLAIN = re.compile(r"[a-z0-9_.@-]*\Z")
_INT64 = (-(2**63), 2**63)
_SKIP_KINDS = frozenset({"host", "source"})


def column_name(name: str, kind: str) -> str:
    """``user.name``, ``s`` -> ``user.name:s``; other bytes as ``%XX``."""
    if not _PLAIN.match(name):
        name = "".join(
            c if _PLAIN.match(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in name
        )
    return f"{name}:{kind}"


def value_kind(value: Any) -> str | None:
    """The column type letter of a value, or None when it cannot be a column."""
    t = type(value)
    if t is str:
        return "s"
    if t is bool:
        return "b"
    if t is int:
        return "i" if _INT64[0] <= value < _INT64[1] else None
    if t is float:
        return "f"
    return None


def _simple_key(k: str) -> bool:
    """A key a query can reach by a dotted name (no brackets, no empty part)."""
    return (
        bool(k) and "[" not in k and "]" not in k and ".." not in k and k[0] != "." and k[-1] != "."
    )


_KEYS: dict[str, bool] = {}  # _simple_key, cached: the keys of a lake repeat


def _key_ok(k: str) -> bool:
    found = _KEYS.get(k)
    if found is None:
        found = _simple_key(k)
        if len(_KEYS) < 100_000:
            _KEYS[k] = found
    return found


_BARE: dict[str, bool] = {}


def queryable(name: str) -> bool:
    """True when the query field ``name`` means the bare field of that name (cached)."""
    found = _BARE.get(name)
    if found is None:
        try:
            ref = field_ref(name)
            found = ref.kind == "bare" and ".".join(map(str, ref.path)) == name
            found = found and all(type(p) is str for p in ref.path)
        except ValueError:
            found = False
        if len(_BARE) < 100_000:
            _BARE[name] = found
    return found


def _walk(obj: dict[str, Any], prefix: str, out: dict[str, Any], dup: set[str]) -> None:
    keys = _KEYS
    for k, v in obj.items():
        ok = keys.get(k)
        if ok is None:
            ok = _key_ok(k)
        if not ok:
            continue
        name = prefix + k
        if name in out:
            dup.add(name)
        out[name] = v
        if type(v) is dict:
            _walk(v, name + ".", out, dup)


def rawstring(event_json: bytes) -> Any:
    """``@rawstring`` as the row engine reads it (``search/decoding.py``)."""
    if event_json[:1] == b'"':
        return orjson.loads(event_json)
    return event_json.decode("utf-8", "replace")


class Row:
    """One line's values: fixed columns and field name -> value (as the row engine reads them)."""

    __slots__ = ("time", "raw", "host", "source", "values")

    def __init__(self, time: int, raw: Any, host: Any, source: Any, values: dict[str, Any]):
        self.time = time
        self.raw = raw
        self.host = host
        self.source = source
        self.values = values


def read_line(line: bytes) -> Row:
    """Decode one ``META<TAB>EVENT`` line; raises ValueError when it cannot be decoded."""
    meta_json, _, event_json = line.partition(b"\t")
    meta = orjson.loads(meta_json)
    if type(meta) is not dict:
        raise ValueError("meta is no object")
    time = meta.get("time", 0)
    if type(time) is not int:
        raise ValueError("time is no integer")
    event = orjson.loads(event_json)
    out: dict[str, Any] = {}
    if type(event) is dict:
        dup: set[str] = set()
        _walk(event, "", out, dup)
        for name in dup:
            out[name] = lookup(event, split_path(name))
    fields = meta.get("fields")
    if fields:
        if type(fields) is not dict:
            raise ValueError("fields is no object")
        for k, v in fields.items():
            out[k] = v
    bare = _BARE
    values = {
        k: v
        for k, v in out.items()
        if (bare[k] if k in bare else queryable(k)) and v is not MISSING
    }
    host, source = meta.get("host", MISSING), meta.get("source", MISSING)
    return Row(
        time,
        rawstring(event_json),
        MISSING if host is None else host,
        MISSING if source is None else source,
        values,
    )
