"""Flatten a file's events into typed columns inside DuckDB: the compactor's fast path.

Python writes each stored line as ``batch<SOH>ingest<SOH>tags<SOH>META<SOH>EVENT`` (no
parsing, a replace per batch);
DuckDB reads them, finds every field name from the distinct ``json_structure`` of the
events and the keys of their indexed fields, extracts each name's value as the row
engine reads it (``layout.py``: the indexed field, else the event's path, the longest
dotted key first at each level: one ``coalesce`` over every split of the name, in the
order ``query.fields.lookup`` tries them), types it by ``json_type``, and writes the
Parquet file. About three times faster than decoding each line in Python, which stays
the fallback for any file this path refuses (:class:`Unflattenable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from lakehose.models import BatchInfo
from lakehose.storage.columnar import templates
from lakehose.storage.columnar.layout import (
    MAX_COLUMNS,
    MAX_OTHER,
    RARE,
    column_name,
    queryable,
)
from lakehose.storage.columnar.writer import FileLayout, finish_parquet, tokens

SEP = b"\x01"  # never in a stored line: JSON text holds no raw control character
MAX_NAMES = 512  # names extracted per file; beyond, the file is "open"
MAX_STRUCTURES = 10_000
_SAFE = re.compile(r"[A-Za-z0-9_@:$ /+-]+\Z")  # key parts written into JSON paths as they are
_INT64_MAX = 2**63 - 1
_TYPE_KIND = {"VARCHAR": "s", "BIGINT": "i", "UBIGINT": "i", "DOUBLE": "f", "BOOLEAN": "b"}


class Unflattenable(Exception):
    """Something this path does not handle exactly; the Python path writes the file."""


def encode_batch(first: int, ingest: int, tags: int, data: bytes) -> bytes:
    """A batch's lines in this path's input format: each line after its batch's first
    offset, ingest time and tags (an index into the file's list of tag triples). A line's
    own offset is its place in the file (the file's batches tile its offsets)."""
    if b"\r" in data or SEP in data:
        raise Unflattenable("a carriage return or SOH in a line")
    data = data.replace(b"\t", SEP)  # META<TAB>EVENT: JSON text holds no raw tab either
    head = b"%d\x01%d\x01%d\x01" % (first, ingest, tags)
    return head + data.replace(b"\n", b"\n" + head) + b"\n"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _splits(parts: Sequence[str]) -> Iterator[list[str]]:
    """Every way to group ``parts`` into dotted keys, longest first at each level."""
    if not parts:
        yield []
        return
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        for rest in _splits(parts[n:]):
            yield [head, *rest]


def _path(keys: Sequence[str]) -> str:
    return "$" + "".join(f'."{k}"' for k in keys)


def _names_of(structure: Any, prefix: str, out: dict[str, None]) -> None:
    if type(structure) is not dict:
        return
    for k, v in structure.items():
        name = prefix + k
        out[name] = None
        _names_of(v, name + ".", out)


def write_file(
    con: Any,
    text: Path,
    batches: Sequence[BatchInfo],
    tags: Sequence[tuple[str, str, str]],
    target: Path,
    *,
    shapes: bool = True,
) -> FileLayout:
    """Write ``text`` (from :func:`encode_batch`) of ``batches`` to the Parquet file ``target``;
    ``tags`` are the triples the lines' tag indexes name. With ``shapes``, by the template path
    (``templates.py``) when it can."""
    rows = sum(b.count for b in batches)
    con.execute("DROP TABLE IF EXISTS lines")
    con.execute(
        "CREATE TEMP TABLE lines AS SELECT row_number() OVER () - 1 + ? AS o, * FROM read_csv(?,"
        " delim = chr(1), quote = '', escape = '', header = false, new_line = '\\n',"
        " auto_detect = false, columns = {'b': 'BIGINT', 'i': 'BIGINT',"
        " 'k': 'INTEGER', 'meta': 'VARCHAR', 'ev': 'VARCHAR'})",
        [batches[0].first_offset, str(text)],
    )
    # ASCII: no byte above 127 in the text, and no \u escape that could decode to one (so
    # @rawstring, the event's text or the string it holds, is ASCII too)
    found, bad, ascii_text = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT json_valid(meta)"
        " OR NOT json_valid(ev)), bool_and(strlen(ev) = length(ev) AND strlen(meta) ="
        " length(meta) AND NOT contains(ev, '\\u') AND NOT contains(meta, '\\u')) FROM lines"
    ).fetchone()
    if found != rows or bad:
        raise Unflattenable("lines that do not decode")
    # each line's offset is its place in the file: each batch's lines must be where it says
    (misplaced,) = con.execute(
        "SELECT count(*) FROM (SELECT b, min(o) AS low, max(o) AS high, count(*) AS n"
        " FROM lines GROUP BY b) WHERE low <> b OR high <> b + n - 1"
    ).fetchone()
    if misplaced:
        raise Unflattenable("lines out of their batches' order")
    ascii = bool(ascii_text) and all(x.isascii() for t in tags for x in t)
    fast = templates.flatten(con, rows, ascii, tags, batches[0].partition) if shapes else None
    if fast is not None:
        select, params, layout = fast
        layout.size = finish_parquet(con, select, params, target)
        con.execute("DROP TABLE vals")
        return layout
    names: dict[str, None] = {}
    structures = con.execute(
        "SELECT DISTINCT json_structure(ev) FROM lines WHERE starts_with(ev, '{')"
        f" LIMIT {MAX_STRUCTURES + 1}"
    ).fetchall()
    is_open = len(structures) > MAX_STRUCTURES
    for (s,) in structures[:MAX_STRUCTURES]:
        _names_of(orjson.loads(s), "", names)
    for (keys,) in con.execute(
        "SELECT DISTINCT json_keys(meta, '$.fields') FROM lines"
        " WHERE json_type(meta, '$.fields') = 'OBJECT'"
    ).fetchall():
        for k in keys or ():
            names[k] = None
    other: set[str] = set()
    chosen: list[str] = []
    for name in names:
        if not queryable(name):
            continue
        if not all(_SAFE.match(k) for k in name.split(".")) or name.count(".") > 6:
            other.add(name)
        elif len(chosen) < MAX_NAMES:
            chosen.append(name)
        else:
            is_open = True
    # one json_extract of the event (and of META) per row, with every path at once
    event_paths: list[str] = []
    meta_paths = ["$.time", "$.host", "$.source"]
    pick: list[list[str]] = []  # per name: SQL of its alternatives, in lookup's order
    for name in chosen:
        alternatives = [f"m[{len(meta_paths) + 1}]"]
        meta_paths.append(_path(["fields", name]))
        for keys in _splits(name.split(".")):
            event_paths.append(_path(keys))
            alternatives.append(f"e[{len(event_paths)}]")
        pick.append(alternatives)
    values = ", ".join(f"coalesce({', '.join(alts)}) AS x{i}" for i, alts in enumerate(pick))
    con.execute("DROP TABLE IF EXISTS vals")
    con.execute(
        "CREATE TEMP TABLE vals AS SELECT o, b, i, k, raw, m[1] AS t, m[2] AS h,"
        " m[3] AS s"
        + (f", {values}" if values else "")
        + " FROM (SELECT o, b, i, k, ev, meta, CASE WHEN starts_with(ev, '\"') THEN json_extract_string(ev, '$')"
        f" ELSE ev END AS raw, json_extract(meta, {_lit_list(meta_paths)}) AS m"
        + (f", json_extract(ev, {_lit_list(event_paths)}) AS e" if event_paths else "")
        + " FROM lines)"
    )
    con.execute("DROP TABLE lines")
    fields = [("host", "h"), ("source", "s")] + [(n, f"x{i}") for i, n in enumerate(chosen)]
    stats = [
        "coalesce(bool_and(json_type(t) IN ('BIGINT', 'UBIGINT')), true)",
        "min(coalesce(TRY_CAST(t AS HUGEINT), 0))",
        "max(coalesce(TRY_CAST(t AS HUGEINT), 0))",
    ]
    for _, x in fields:
        stats += [
            f"list(DISTINCT json_type({x}))",
            f"count({x})",
        ]
    got = con.execute(f"SELECT {', '.join(stats)} FROM vals").fetchone()
    time_ok, min_time, max_time = got[:3]
    if not time_ok:
        raise Unflattenable("an event time that is not an integer")
    if not -(2**63) <= min_time <= max_time < 2**63:
        raise Unflattenable("an event time beyond 64 bits")
    least = max(1, int(rows * RARE))
    typed: list[tuple[str, str, str, str]] = []  # (column, SQL type, expression, name)
    ranked = []
    for n, (name, x) in enumerate(fields):
        kinds, count = got[3 + 2 * n : 5 + 2 * n]
        kinds = set(kinds or ()) - {None}
        if name in ("host", "source"):
            kinds.discard("NULL")  # a null host is no host
        ubig = None
        if "UBIGINT" in kinds:
            (ubig,) = con.execute(
                f"SELECT max(TRY_CAST({x} AS UBIGINT)) FROM vals WHERE json_type({x}) = 'UBIGINT'"
            ).fetchone()
        if kinds - set(_TYPE_KIND) or (ubig is not None and ubig > _INT64_MAX):
            other.add(name)  # null, an array or an object somewhere: no column holds it
            continue
        if not count:
            continue
        ranked.append((-count, name, x, kinds))
    ranked.sort()
    for negative, name, x, kinds in ranked:
        if -negative < least or len({t[3] for t in typed}) >= MAX_COLUMNS:
            other.add(name)
            continue
        letters = {_TYPE_KIND[k] for k in kinds}
        for kind in sorted(letters):
            types = [k for k, v in _TYPE_KIND.items() if v == kind]
            cond = f"json_type({x}) IN ({', '.join(map(_lit, types))})"
            if len(letters) == 1:
                cond = "true"  # one type (or null, or missing) in every row: no test needed
            sql_type, value = {
                "s": ("VARCHAR", f"json_extract_string({x}, '$')"),
                "i": ("BIGINT", f"CAST({x} AS BIGINT)"),
                "f": ("DOUBLE", f"CAST({x} AS DOUBLE)"),
                "b": ("BOOLEAN", f"CAST({x} AS BOOLEAN)"),
            }[kind]
            typed.append(
                (column_name(name, kind), sql_type, f"CASE WHEN {cond} THEN {value} END", name)
            )

    def pick_tag(n: int) -> str:
        return "[" + ", ".join(_lit(t[n]) for t in tags) + "][k + 1]"

    columns = "".join(f", {expr} AS {_quote(col)}" for col, _, expr, _ in typed)
    select = (
        'SELECT o AS "offset", b AS "batch", coalesce(CAST(t AS BIGINT), 0) AS "time",'
        ' i AS "ingest_time", CAST(? AS INTEGER) AS "partition",'
        f' {pick_tag(0)} AS "connector", {pick_tag(1)} AS "index",'
        f' {pick_tag(2)} AS "sourcetype", lower(raw) AS "raw"{columns} FROM vals'
    )
    size = finish_parquet(con, select, [batches[0].partition], target)
    words = tokens(con, "vals") if ascii else None
    con.execute("DROP TABLE vals")
    return FileLayout(
        rows=rows,
        min_time=int(min_time),
        max_time=int(max_time),
        ascii=ascii,
        columns={col: t for col, t, _, _ in typed},
        other=other,
        open=is_open or len(other) > MAX_OTHER,
        size=size,
        tokens=words,
        tokens_made=ascii,
    )


def _lit_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(map(_lit, items)) + "]"
