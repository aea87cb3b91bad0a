"""The compactor's fastest path: events that all share a few shapes, typed in one parse.

Machine logs repeat a handful of shapes (the same keys in the same order). A sample
of the file's events gives those shapes (``json_structure``); each becomes a
*template*: its constant text (keys and punctuation) with a typed hole per value.
DuckDB then parses every event once into typed values (``json_transform`` with the
shapes' merged type) and rebuilds each event's text from its template and values.
Where the rebuilt text equals the stored text byte for byte, the event holds exactly
those keys, in that order, with values of exactly those JSON types and spellings,
so the typed values are what the row engine reads (``layout.py``), with no
``json_extract`` per path and no second parse to find each value's type. A file
with an event no template rebuilds after :data:`ROUNDS` rounds (another shape
added per round from the events left over), or with a shape this path does not
rebuild (floats, nulls, arrays, dotted keys, indexed fields), is left to
``flatten_sql``'s general path.

The same equality gives the token dictionary cheaply: an event's text is its
template's constants and its values, each bounded by punctuation, so its runs of
letters and digits are those of the constants and of the distinct text values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import zstandard

from lakehose.storage.columnar.layout import MAX_COLUMNS, MAX_OTHER, RARE, column_name, queryable
from lakehose.storage.columnar.writer import TOKEN_LIMIT, FileLayout

SAMPLE = 97  # every SAMPLE-th event, and the first 256, give the first round's shapes
ROUNDS = 3
MAX_TEMPLATES = 16
MAX_NAMES = 512
_KEY = re.compile(r"[A-Za-z0-9_@$ +-]+\Z")  # nothing JSON escapes, no dot, no slash
_TOKEN = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*")
_KINDS = {"VARCHAR": "s", "BIGINT": "i", "UBIGINT": "i", "BOOLEAN": "b"}
# A value's place in a template's text (the ``tpl`` column), one control character per kind:
# never in a value of a rebuilt event (JSON escapes them), nor a letter or digit.
HOLE = {"s": "\x1d", "i": "\x1e", "b": "\x1f"}
_SQL = {"s": "VARCHAR", "i": "BIGINT", "b": "BOOLEAN"}


class NoTemplate(Exception):
    """This file is for the general path."""


@dataclass
class Shapes:
    """The templates found so far and the kind of each name's values across them."""

    kinds: dict[str, str] = field(default_factory=dict)  # leaf name -> s, i or b
    objects: set[str] = field(default_factory=set)  # names holding an object
    templates: list[list[tuple[str, str | None]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # json_structure texts already added

    def add(self, structure_text: str, structure: Any = None) -> None:
        """Add the template of a ``json_structure`` text (or of ``structure``, its value)."""
        if structure_text in self.seen:
            return
        self.seen.add(structure_text)
        if structure is None:
            structure = orjson.loads(structure_text)
        if type(structure) is not dict:
            raise NoTemplate("an event that is no object")
        pieces: list[tuple[str, str | None]] = []  # (constant, leaf name or None)
        self._walk(structure, "", pieces)
        self.templates.append(pieces)
        if len(self.templates) > MAX_TEMPLATES:
            raise NoTemplate("too many shapes")
        if len(self.kinds) + len(self.objects) > MAX_NAMES:
            raise NoTemplate("too many names")

    def _walk(self, obj: dict[str, Any], prefix: str, pieces: list[tuple[str, str | None]]) -> None:
        pieces.append(("{", None))
        for n, (key, value) in enumerate(obj.items()):
            if not _KEY.match(key):
                raise NoTemplate(f"a key this path does not rebuild: {key!r}")
            name = prefix + key
            if name in ("host", "source"):
                raise NoTemplate(f"an event's own {name}: the column holds the envelope's")
            if not queryable(name):
                raise NoTemplate(f"a name queries cannot reach: {name!r}")
            pieces.append((("," if n else "") + f'"{key}":', None))
            if type(value) is dict:
                if name in self.kinds:
                    raise NoTemplate(f"{name} is an object and a value")
                self.objects.add(name)
                self._walk(value, name + ".", pieces)
                continue
            kind = _KINDS.get(value) if type(value) is str else None
            if kind is None:
                raise NoTemplate(f"{name}: a value this path does not rebuild ({value})")
            if name in self.objects or self.kinds.setdefault(name, kind) != kind:
                raise NoTemplate(f"{name} holds values of two types")
            pieces.append(("", name))
        pieces.append(("}", None))

    def spec(self) -> str:
        """The merged type, for ``json_transform``."""
        root: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            node = root
            parts = name.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = _SQL[kind]
        return orjson.dumps(root).decode()


def _value(name: str) -> str:
    return "e" + "".join(f"[{_lit(p)}]" for p in name.split("."))


def _rebuild(pieces: Sequence[tuple[str, str | None]], kinds: dict[str, str]) -> str:
    """SQL of the text of one template (NULL when a value is missing)."""
    parts: list[str] = []
    text = ""
    for constant, name in pieces:
        if name is None:
            text += constant
            continue
        kind = kinds[name]
        if kind == "s":
            parts += [_lit(text + '"'), _value(name)]
            text = '"'
        elif kind == "i":
            parts += [_lit(text), f"CAST({_value(name)} AS VARCHAR)"]
            text = ""
        else:
            parts += [_lit(text), f"CASE WHEN {_value(name)} THEN 'true' ELSE 'false' END"]
            text = ""
    parts.append(_lit(text))
    return "(" + " || ".join(parts) + ")"


def template_text(pieces: Sequence[tuple[str, str | None]], kinds: dict[str, str]) -> str:
    """A template's text, lower-cased: its constants, and a :data:`HOLE` for each value."""
    out = []
    for constant, name in pieces:
        if name is None:
            out.append(constant)
        else:
            hole = HOLE[kinds[name]]
            out.append(f'"{hole}"' if kinds[name] == "s" else hole)
    return "".join(out).lower()


def flatten(
    con: Any, rows: int, ascii: bool, tags: Sequence[tuple[str, str, str]], partition: int
) -> tuple[str, list[Any], FileLayout] | None:
    """The SELECT that writes the file from the ``lines`` table, its parameters and the
    file's layout (size 0 until written); None when the general path must write it."""
    if con.execute(
        "SELECT count(*) FROM lines WHERE json_type(meta, '$.fields') IS NOT NULL"
    ).fetchone()[0]:
        return None  # indexed fields: a value may come from META instead of the event
    where = f"rowid % {SAMPLE} = 0 OR rowid < 256"
    try:
        return _flatten(con, rows, ascii, tags, partition, where)
    except (NoTemplate, con.Error):
        return None


def _flatten(
    con: Any,
    rows: int,
    ascii: bool,
    tags: Sequence[tuple[str, str, str]],
    partition: int,
    where: str,
) -> tuple[str, list[Any], FileLayout] | None:
    shapes = Shapes()
    for _ in range(ROUNDS):
        for (s,) in con.execute(
            f"SELECT DISTINCT json_structure(ev) FROM lines WHERE {where} LIMIT {MAX_TEMPLATES + 1}"
        ).fetchall():
            shapes.add(s)
        if not shapes.kinds:
            return None
        texts = [_rebuild(t, shapes.kinds) for t in shapes.templates]
        which = " ".join(f"WHEN {t} = ev THEN {n}" for n, t in enumerate(texts))
        con.execute("DROP TABLE IF EXISTS vals")
        con.execute(
            "CREATE TEMP TABLE vals AS SELECT o, b, i, k, m[1] AS t, m[2] AS h, m[3] AS s,"
            f" e, CASE {which} END AS tp FROM (SELECT o, b, i, k, ev, json_extract(meta,"
            " ['$.time', '$.host', '$.source']) AS m,"
            f" json_transform(ev, {_lit(shapes.spec())}) AS e FROM lines)"
        )
        (left,) = con.execute("SELECT count(*) FROM vals WHERE tp IS NULL").fetchone()
        if not left:
            break
        where = "o IN (SELECT o FROM vals WHERE tp IS NULL)"
    else:
        return None
    return _layout(con, rows, ascii, tags, partition, shapes)


def _layout(
    con: Any,
    rows: int,
    ascii: bool,
    tags: Sequence[tuple[str, str, str]],
    partition: int,
    shapes: Shapes,
) -> tuple[str, list[Any], FileLayout] | None:
    names = list(shapes.kinds)
    stats = [
        "coalesce(bool_and(json_type(t) IN ('BIGINT', 'UBIGINT')), true)",
        "min(coalesce(TRY_CAST(t AS HUGEINT), 0))",
        "max(coalesce(TRY_CAST(t AS HUGEINT), 0))",
        "list(DISTINCT json_type(h))",
        "count(h)",
        "list(DISTINCT json_type(s))",
        "count(s)",
    ]
    stats += [f"count({_value(n)})" for n in names]
    got = con.execute(f"SELECT {', '.join(stats)} FROM vals").fetchone()
    time_ok, min_time, max_time = got[:3]
    if not time_ok or not -(2**63) <= min_time <= max_time < 2**63:
        return None
    other: set[str] = set(shapes.objects)  # an object is no column (as in the general path)
    least = max(1, int(rows * RARE))
    ranked: list[tuple[int, str, str, str, str]] = []  # (-count, name, column, type, SQL)
    for name, x, kinds, count in (
        ("host", "h", got[3], got[4]),
        ("source", "s", got[5], got[6]),
    ):
        kinds = set(kinds or ()) - {None, "NULL"}  # a null host is no host
        if kinds - {"VARCHAR"}:
            return None  # the general path types it
        if count and kinds:
            expr = f"json_extract_string({x}, '$')"
            ranked.append((-count, name, column_name(name, "s"), "VARCHAR", expr))
    for name, count in zip(names, got[7:], strict=True):
        if count:  # a name no event holds is none, as in the general path
            kind = shapes.kinds[name]
            ranked.append((-count, name, column_name(name, kind), _SQL[kind], _value(name)))
    ranked.sort()
    typed: list[tuple[str, str, str]] = []  # (column, SQL type, expression)
    for negative, name, column, sql_type, expr in ranked:
        if -negative < least or len(typed) >= MAX_COLUMNS:
            other.add(name)
            continue
        typed.append((column, sql_type, expr))

    def pick_tag(n: int) -> str:
        return "[" + ", ".join(_lit(t[n]) for t in tags) + "][k + 1]"

    columns = "".join(f", {expr} AS {_quote(col)}" for col, _, expr in typed)
    # Every event rebuilds from its template and its columns, unless a value is in none
    # (a rare name): then the file keeps the text.
    rebuilt = not (other & set(shapes.kinds))
    if rebuilt:
        holes = ", ".join(_lit(template_text(t, shapes.kinds)) for t in shapes.templates)
        text = f'NULL::VARCHAR AS "raw", [{holes}][tp + 1] AS "tpl"'
    else:  # the text from ``lines`` (``vals`` keeps none)
        text = 'lower(ev) AS "raw"'
    select = (
        'SELECT o AS "offset", b AS "batch", coalesce(CAST(t AS BIGINT), 0) AS "time",'
        ' i AS "ingest_time", CAST(? AS INTEGER) AS "partition",'
        f' {pick_tag(0)} AS "connector", {pick_tag(1)} AS "index",'
        f' {pick_tag(2)} AS "sourcetype", {text}{columns} FROM vals'
        + ("" if rebuilt else ' JOIN (SELECT o, ev FROM lines) USING (o) ORDER BY "offset"')
    )
    words, per_column = _tokens(con, shapes) if ascii else (None, None)
    layout = FileLayout(
        rows=rows,
        min_time=int(min_time),
        max_time=int(max_time),
        ascii=ascii,
        columns={col: t for col, t, _ in typed},
        other=other,
        open=len(other) > MAX_OTHER,
        size=0,
        tokens=words,
        tokens_made=ascii,
        templated=True,
        rebuilt=rebuilt,
        column_tokens=per_column if rebuilt else None,
    )
    return select, [partition], layout


def constant_tokens(shapes: Shapes) -> set[str]:
    """The tokens of the templates' constants (keys and punctuation)."""
    found: set[str] = set()
    for pieces in shapes.templates:
        found.update(_TOKEN.findall("".join(c for c, _ in pieces).lower()))
    return found


def pack_tokens(found: set[str], per: dict[str, str]) -> tuple[bytes | None, bytes | None]:
    """The file's token dictionary and its tokens per text column, compressed as the
    manifest keeps them; ``(None, None)`` beyond :data:`TOKEN_LIMIT`."""
    text = "\n".join(sorted(found)).encode()
    if len(text) > TOKEN_LIMIT:
        return None, None
    squeeze = zstandard.ZstdCompressor(level=3).compress
    return squeeze(text), squeeze(orjson.dumps(per))


def _tokens(con: Any, shapes: Shapes) -> tuple[bytes | None, bytes | None]:
    """``writer.tokens`` of the file, from the templates' constants and the distinct text
    values (every event's text is made of those, bounded by punctuation); and the same per
    text column (``tpl`` for the constants), which tells free text which columns to read."""
    found = constant_tokens(shapes)
    per: dict[str, str] = {"tpl": "\n".join(sorted(found))}
    flags = [n for n, k in shapes.kinds.items() if k == "b"]
    if flags:
        either = ", ".join(f"bool_or({_value(n)}), bool_or(NOT {_value(n)})" for n in flags)
        seen = con.execute(f"SELECT {either} FROM vals").fetchone()
        found.update(w for w, hit in zip(("true", "false") * len(flags), seen, strict=True) if hit)
    for name, kind in shapes.kinds.items():
        if kind != "s":
            continue
        words = [
            t
            for (t,) in con.execute(
                "SELECT DISTINCT unnest(regexp_extract_all(v, '[a-z0-9]*[a-z][a-z0-9]*')) FROM"
                f" (SELECT v FROM (SELECT DISTINCT lower({_value(name)}) AS v FROM vals)"
                " WHERE v <> upper(v))"  # a letter (the text is ASCII)
            ).fetchall()
        ]
        found.update(words)
        per[column_name(name, "s")] = "\n".join(sorted(words))
    return pack_tokens(found, per)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
