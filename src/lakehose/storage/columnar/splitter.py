"""The compactor's fastest path: template events checked by a regex and split at their colons.

``templates.py`` types a file's events in DuckDB: a ``json_transform`` of each event and a
rebuilt text to compare with it, over a microsecond an event. Here the same templates
(:class:`templates.Shapes`; each from the first line no template took yet) become one
regular expression per template and spelling of META, which accepts exactly the lines the
template rebuilds byte for byte: its constants, strings with no escape and no control
character, integers in their shortest spelling, ``true`` or ``false``. RE2's DFA (Arrow's
``match_substring_regex``) checks the lines in one pass over the file's text. A line it
accepts has no colon but its template's (unless a text value holds one; then no quote but
its template's), so Arrow's CSV reader splitting the lines at ``:`` (or ``"``) puts each
value in a fixed column, from which its constant neighbours are sliced off (a column of few
distinct values is read dictionary-encoded and only its dictionary is sliced and typed).
Arrow's own Parquet writer writes the columns the template path's SELECT writes, encoded as
DuckDB's ``COPY`` encodes them, at about half its CPU: the file holds what the template
path's holds (``tests/storage/test_templates.py`` compares it with the template path's and
the general path's, row by row and column type by column type).

Anything else (a line no template accepts, more than :data:`templates.MAX_TEMPLATES`
shapes, indexed fields, a rare field, an integer beyond 64 bits, a line that does not
decode) returns None: the DuckDB paths write the file.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lakehose.storage.columnar.layout import MAX_COLUMNS, MAX_OTHER, RARE, column_name
from lakehose.storage.columnar.templates import (
    NoTemplate,
    Shapes,
    constant_tokens,
    pack_tokens,
    template_text,
)
from lakehose.storage.columnar.writer import FileLayout, finish_table

LEVEL = 1  # zstd: 0.7% larger than 6, a quarter less CPU (bench/README.md)
MAX_PAIRS = 64  # templates and META spellings tried per file
_HEAD = 256 * 1024  # bytes of a file's first lines that choose its dictionary columns
_FRAGMENT = {
    "s": r'"[^"\\\x00-\x1f]*"',  # a string that decodes to its own text
    "i": r"(?:0|-?[1-9][0-9]*)",  # an integer as orjson and DuckDB write it back
    "b": r"(?:true|false)",
}
_SQL = {"s": "VARCHAR", "i": "BIGINT", "b": "BOOLEAN"}
_MARK = 0xE000  # a value's place in a template line, while finding its column
_LONG = struct.Struct("<qq")  # a large_string array's two offsets
_PUNCTUATION = re.compile(r"[^A-Za-z0-9_ :,\"]")


@dataclass(frozen=True)
class _Meta:
    """One spelling of META: whether host and source are strings (else null), and ``raw``."""

    host: bool
    source: bool
    raw: bool


@dataclass
class _Group:
    """The lines of one template and META spelling."""

    meta: _Meta
    template: int
    rows: Any = None  # their places in the file (int64), None: every line
    lines: Any = None  # their text, when ``rows`` is not None
    values: dict[str, Any] = field(default_factory=dict)  # hole name -> typed array

    def size(self, total: int) -> int:
        return total if self.rows is None else len(self.rows)


def _structure(value: Any) -> Any:
    """What DuckDB's ``json_structure`` says of ``value``, for the kinds templates take."""
    t = type(value)
    if t is dict:
        if not value:
            raise NoTemplate("an empty object")
        return {k: _structure(v) for k, v in value.items()}
    if t is str:
        return "VARCHAR"
    if t is bool:
        return "BOOLEAN"
    if t is int:
        return "BIGINT" if -(2**63) <= value < 2**63 else "DOUBLE"
    return "DOUBLE" if t is float else "NULL"  # neither a template takes


def _meta(text: str) -> _Meta:
    try:
        meta = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise NoTemplate("META that does not decode") from exc
    if type(meta) is not dict or "fields" in meta:
        raise NoTemplate("indexed fields: a value may come from META instead of the event")
    return _Meta(type(meta.get("host")) is str, type(meta.get("source")) is str, "raw" in meta)


def _escape(text: str) -> str:
    return _PUNCTUATION.sub(lambda m: "\\t" if m[0] == "\t" else "\\" + m[0], text)


def _parts(
    meta: _Meta, pieces: Sequence[tuple[str, str | None]], kinds: dict[str, str]
) -> list[tuple[str, str | None, str]]:
    """A line of this META and template: ``(constant, hole name or None, kind)`` each."""
    parts: list[tuple[str, str | None, str]] = [('{"time":', "@time", "i")]
    parts.append((',"host":', "@host" if meta.host else None, "s"))
    if not meta.host:
        parts.append(("null", None, ""))
    parts.append((',"source":', "@source" if meta.source else None, "s"))
    if not meta.source:
        parts.append(("null", None, ""))
    parts.append((',"raw":1}\t' if meta.raw else "}\t", None, ""))
    for constant, name in pieces:
        parts.append((constant, name, kinds[name] if name is not None else ""))
    return parts


def _pattern(parts: Sequence[tuple[str, str | None, str]]) -> str:
    return "^" + "".join(_escape(c) + (_FRAGMENT[k] if n else "") for c, n, k in parts) + "$"


def _columns(
    parts: Sequence[tuple[str, str | None, str]], sep: str
) -> tuple[int, list[tuple[str, str, int, int, int]]]:
    """How many pieces a line of ``parts`` splits into at ``sep`` (when no value holds it),
    and for each hole: ``(name, kind, piece, characters before it, characters after it)``."""
    marked = ""
    names: list[tuple[str, str]] = []
    for constant, name, kind in parts:
        marked += constant
        if name is not None:
            mark = chr(_MARK + len(names))
            marked += f'"{mark}"' if kind == "s" else mark
            names.append((name, kind))
    pieces = marked.split(sep)
    out = []
    for n, piece in enumerate(pieces):
        holes = [(at, c) for at, c in enumerate(piece) if ord(c) >= _MARK]
        if len(holes) > 1:
            raise NoTemplate("two values between separators")
        for at, c in holes:
            name, kind = names[ord(c) - _MARK]
            out.append((name, kind, n, at, len(piece) - at - 1))
    return len(pieces), out


def write_file(
    con: Any,
    data: bytes,
    first_offset: int,
    batches: Sequence[tuple[int, int, int, int]],
    tags: Sequence[tuple[str, str, str]],
    partition: int,
    target: Path,
) -> FileLayout | None:
    """Write ``data`` (the file's stored lines, newline-separated) to the Parquet file
    ``target`` by this path; None (nothing written) when the DuckDB paths must.
    ``batches``: ``(first offset, lines, ingest time, tag index)`` of each, in order."""
    import pyarrow as pa

    rows = sum(b[1] for b in batches)
    if not rows or b"\r" in data or b"\x01" in data:
        return None  # neither is in a stored line; the CSV reader would split at them
    templates = _Templates()
    ascii = data.isascii()
    try:
        groups = _whole(data, templates)
        if groups is None:
            lines = _lines(data)
            if len(lines) != rows:
                return None
            groups = _match(lines, rows, templates)
        for group in groups:
            _extract(group, templates.shapes, data, rows, ascii)
    except (NoTemplate, RecursionError, pa.ArrowException):  # Arrow: invalid, capacity, ...
        return None
    shapes = templates.shapes
    return _write(shapes, groups, data, first_offset, batches, tags, partition, rows, target)


def _lines(data: bytes) -> Any:
    """``data``'s lines, an Arrow string array (Arrow's CSV reader, one column)."""
    return _read(data, ["line"], {"line": 0}, "\x01")["line"]


def _read(
    data: Any,
    names: list[str],
    wanted: dict[str, int],
    sep: str,
    check: bool = True,
    coded: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Columns ``wanted`` (hole name -> piece) of ``data``'s lines split at ``sep`` into
    ``names``, as text; dictionary-encoded for the holes ``coded``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    include = {n: names[p] for n, p in wanted.items()}
    types = {c: pa.string() for c in include.values()}
    types.update({include[n]: pa.dictionary(pa.int32(), pa.string()) for n in coded})
    table = pcsv.read_csv(
        pa.BufferReader(data),
        read_options=pcsv.ReadOptions(
            use_threads=False, column_names=names, block_size=min(1 << 30, len(data) + 1)
        ),
        parse_options=pcsv.ParseOptions(
            delimiter=sep,
            quote_char=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        ),
        convert_options=pcsv.ConvertOptions(
            include_columns=sorted(set(include.values())),
            column_types=types,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=check,  # (ASCII is UTF-8)
        ),
    )
    return {n: _one(table.column(c)) for n, c in include.items()}


def _one(column: Any) -> Any:
    """A column read in blocks as one array (dictionaries of blocks unified)."""
    import pyarrow as pa

    if column.num_chunks > 1 and pa.types.is_dictionary(column.type):
        column = column.unify_dictionaries()
    return column.combine_chunks()


class _Templates:
    """The file's templates and META spellings, taken from the lines no template took yet."""

    def __init__(self) -> None:
        self.shapes = Shapes()
        self.index: dict[str, int] = {}  # a structure's text -> its template

    def of(self, line: str) -> tuple[_Meta, int]:
        """The template and META spelling of ``line``."""
        head, _, event = line.partition("\t")
        try:
            value = orjson.loads(event)
        except orjson.JSONDecodeError as exc:
            raise NoTemplate("a line that does not decode") from exc
        if type(value) is not dict:
            raise NoTemplate("an event that is no object")
        structure = _structure(value)
        key = orjson.dumps(structure).decode()
        if key not in self.index:
            self.index[key] = len(self.shapes.templates)
            self.shapes.add(key, structure)
        return _meta(head), self.index[key]

    def pattern(self, pair: tuple[_Meta, int]) -> str:
        meta, t = pair
        return _pattern(_parts(meta, self.shapes.templates[t], self.shapes.kinds))


def _whole(data: bytes, templates: _Templates) -> list[_Group] | None:
    """One group of every line, if the first line's template takes them all: one pass of
    the DFA over the whole text, no array of lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    end = data.find(b"\n")
    pair = templates.of(data[: end if end >= 0 else len(data)].decode())
    line = templates.pattern(pair)[1:-1]
    every = f"\\A(?:{line}\\n)*{line}\\z"
    text = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(_LONG.pack(0, len(data))), pa.py_buffer(data)]
    )
    if pc.match_substring_regex(text, every)[0].as_py():
        return [_Group(*pair)]
    return None


def _match(lines: Any, rows: int, templates: _Templates) -> list[_Group]:
    """The lines of each template, every line in one; NoTemplate if a line is in none.
    Each template is the shape of the first line no template took yet, and takes every
    line its regex accepts (RE2's DFA over the lines left)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    groups: list[_Group] = []
    rest, places = lines, pa.array(range(rows), pa.int64())
    while len(rest):
        pair = templates.of(rest[0].as_py())
        if len(groups) >= MAX_PAIRS or any(
            g.meta == pair[0] and g.template == pair[1] for g in groups
        ):
            raise NoTemplate("a line no template rebuilds")
        hit = pc.match_substring_regex(rest, templates.pattern(pair))
        if not hit[0].as_py():
            raise NoTemplate("a line its own template does not rebuild")
        groups.append(_Group(*pair, places.filter(hit), rest.filter(hit)))
        missed = pc.invert(hit)
        rest, places = rest.filter(missed), places.filter(missed)
    return groups


def _extract(group: _Group, shapes: Shapes, data: bytes, rows: int, ascii: bool) -> None:
    """Split the group's lines at their quotes and type each hole's column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = _parts(group.meta, shapes.templates[group.template], shapes.kinds)
    if group.rows is None:
        text: Any = data
    else:  # the group's lines, newline-separated
        offsets = pa.array([0, len(group.lines)], pa.int32())
        joined = pc.binary_join(pa.ListArray.from_arrays(offsets, group.lines), "\n")
        text = joined[0].as_buffer()
    try:  # at the colons: fewer pieces than at the quotes, unless a text value holds one
        got, holes = _split(text, parts, ":", ascii)
    except pa.ArrowInvalid:  # a line of more pieces than its template's
        got, holes = _split(text, parts, '"', ascii)
    for name, kind, _, before, after in holes:
        value = got[name]
        if len(value) != group.size(rows):
            raise NoTemplate("lines that do not split as their template")
        if pa.types.is_dictionary(value.type):  # type its distinct values only
            typed = _typed(value.dictionary, kind, before, after)
            if kind == "b" or name == "@time":  # (time: delta-encoded, its min and max)
                group.values[name] = typed.take(value.indices)
            else:
                group.values[name] = pa.DictionaryArray.from_arrays(value.indices, typed)
        else:
            group.values[name] = _typed(value, kind, before, after)


def _typed(value: Any, kind: str, before: int, after: int) -> Any:
    """``value``'s text between its constants, typed as ``kind``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if before or after:  # constants of ASCII around the value: slice the bytes
        value = pc.binary_slice(value.view(pa.binary()), before, -after if after else None)
        value = value.view(pa.string())
    if kind != "s":
        value = pc.cast(value, pa.int64()) if kind == "i" else pc.equal(value, "true")
    return value


def _split(
    text: Any, parts: Sequence[tuple[str, str | None, str]], sep: str, ascii: bool
) -> tuple[dict[str, Any], list[tuple[str, str, int, int, int]]]:
    import pyarrow.compute as pc

    pieces, holes = _columns(parts, sep)
    names = [f"c{n}" for n in range(pieces)]
    wanted = {name: piece for name, _, piece, _, _ in holes}
    # a hole of few distinct values in the first lines is read dictionary-encoded: typed once
    # per distinct value, and the Parquet writer keeps the dictionary instead of hashing again
    sample = _read(_head(text), names, wanted, sep, check=not ascii)
    coded = frozenset(n for n, v in sample.items() if pc.count_distinct(v).as_py() * 2 <= len(v))
    return _read(text, names, wanted, sep, check=not ascii, coded=coded), holes


def _head(text: Any) -> Any:
    """The whole lines of ``text`` in its first :data:`_HEAD` bytes (at least its first)."""
    view = memoryview(text)
    if len(view) <= _HEAD:
        return view
    end = bytes(view[:_HEAD]).rfind(b"\n")
    if end < 0:
        end = bytes(view).find(b"\n")
    return view[:end] if end >= 0 else view


def _repeat(value: int, n: int, kind: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    runs = pa.RunEndEncodedArray.from_arrays(pa.array([n], pa.int32()), pa.array([value], kind))
    return pc.run_end_decode(runs)


def _write(
    shapes: Shapes,
    groups: list[_Group],
    data: bytes,
    first_offset: int,
    batches: Sequence[tuple[int, int, int, int]],
    tags: Sequence[tuple[str, str, str]],
    partition: int,
    rows: int,
    target: Path,
) -> FileLayout | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    types = {"@time": pa.int64(), "@host": pa.string(), "@source": pa.string()}
    types.update(
        {
            n: {"s": pa.string(), "i": pa.int64(), "b": pa.bool_()}[k]
            for n, k in shapes.kinds.items()
        }
    )
    counts: dict[str, int] = {}
    for group in groups:
        for name in group.values:
            counts[name] = counts.get(name, 0) + group.size(rows)
    if len(groups) == 1:
        values = groups[0].values
        tp = _repeat(groups[0].template, rows, pa.int32())
    else:  # each name's values of every group, in the order of the lines
        order = pc.sort_indices(pa.concat_arrays([g.rows for g in groups]))
        values = {
            name: pa.concat_arrays(
                [_plain(g.values.get(name, pa.nulls(len(g.rows), types[name]))) for g in groups]
            ).take(order)
            for name in counts
        }
        tp = pa.concat_arrays([_repeat(g.template, len(g.rows), pa.int32()) for g in groups])
        tp = tp.take(order)
    least = max(1, int(rows * RARE))
    other: set[str] = set(shapes.objects)  # an object is no column (as in the general path)
    ranked: list[tuple[int, str, str, str, str]] = []  # (-count, name, column, SQL type, hole)
    for name in ("host", "source"):
        if f"@{name}" in counts:  # a null host counts as the general path counts it
            ranked.append((-rows, name, column_name(name, "s"), "VARCHAR", f"@{name}"))
    for name, kind in shapes.kinds.items():
        if counts.get(name):
            ranked.append((-counts[name], name, column_name(name, kind), _SQL[kind], name))
    ranked.sort()
    ends = pa.array(_running([b[1] for b in batches]), pa.int32())

    def per_batch(n: int, kind: Any) -> Any:
        runs = pa.RunEndEncodedArray.from_arrays(ends, pa.array([b[n] for b in batches], kind))
        return pc.run_end_decode(runs)

    k = per_batch(3, pa.int32())
    table: dict[str, Any] = {
        "offset": pc.add(pc.cumulative_sum(_repeat(1, rows, pa.int64())), first_offset - 1),
        "batch": per_batch(0, pa.int64()),
        "time": values["@time"],
        "ingest_time": per_batch(2, pa.int64()),
        "partition": _repeat(partition, rows, pa.int32()),
        "connector": _pick([t[0] for t in tags], k),
        "index": _pick([t[1] for t in tags], k),
        "sourcetype": _pick([t[2] for t in tags], k),
        "raw": pa.nulls(rows, pa.string()),
        "tpl": _pick([template_text(t, shapes.kinds) for t in shapes.templates], tp),
    }
    typed: list[tuple[str, str]] = []  # (column, SQL type)
    for negative, _, column, sql_type, hole in ranked:
        if -negative < least or len(typed) >= MAX_COLUMNS:
            return None  # a rare field: the template path keeps the file's text
        table[column] = values[hole]
        typed.append((column, sql_type))
    minmax = pc.min_max(values["@time"]).as_py()
    ascii = data.isascii() and all(x.isascii() for t in tags for x in t)
    words, per_column = _tokens(shapes, values) if ascii else (None, None)
    schema = pa.schema([pa.field(n, c.type, nullable=n != "partition") for n, c in table.items()])
    size = finish_table(pa.table(table, schema=schema), target, level=LEVEL)
    return FileLayout(
        rows=rows,
        min_time=int(minmax["min"]),
        max_time=int(minmax["max"]),
        ascii=ascii,
        columns=dict(typed),
        other=other,
        open=len(other) > MAX_OTHER,
        size=size,
        tokens=words,
        tokens_made=ascii,
        templated=True,
        split=True,
        rebuilt=True,
        column_tokens=per_column,
    )


def _plain(column: Any) -> Any:
    """``column`` without its dictionary (groups' dictionaries differ)."""
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _pick(texts: Sequence[str], indexes: Any) -> Any:
    """The column of ``texts[i]`` for each ``i`` of ``indexes``, dictionary-encoded (a few
    distinct values: the writer keeps the dictionary instead of finding it again)."""
    import pyarrow as pa

    distinct = list(dict.fromkeys(texts))
    where = pa.array([distinct.index(t) for t in texts], pa.int32())
    return pa.DictionaryArray.from_arrays(where.take(indexes), pa.array(distinct, pa.string()))


def _running(counts: Sequence[int]) -> list[int]:
    out, total = [], 0
    for c in counts:
        total += c
        out.append(total)
    return out


def _tokens(shapes: Shapes, values: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
    """``templates._tokens`` from the typed columns: the constants' tokens, ``true`` and
    ``false`` where a boolean column holds them, and the tokens of each text column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = constant_tokens(shapes)
    per: dict[str, str] = {"tpl": "\n".join(sorted(found))}
    for name, kind in shapes.kinds.items():
        if kind == "b" and name in values:
            column = values[name]
            if pc.any(column).as_py():
                found.add("true")
            if pc.any(pc.invert(column)).as_py():
                found.add("false")
    for name, kind in shapes.kinds.items():
        if kind != "s":
            continue
        words: list[str] = []
        column = values.get(name)
        if column is not None and pa.types.is_dictionary(column.type):  # its distinct values
            distinct = column.dictionary
        elif column is not None and _lettered(column):
            distinct = pc.unique(column)
        else:
            distinct = None
        if distinct is not None:
            distinct = distinct.filter(pc.match_substring_regex(distinct, "[A-Za-z]"))
            if len(distinct):
                runs = pc.split_pattern_regex(pc.utf8_lower(distinct), "[^a-z0-9]+")
                runs = pc.unique(pc.list_flatten(runs))
                words = runs.filter(pc.match_substring_regex(runs, "[a-z]")).to_pylist()
        found.update(words)
        per[column_name(name, "s")] = "\n".join(sorted(words))
    return pack_tokens(found, per)


def _lettered(column: Any) -> bool:
    """Whether a text column may hold a letter; one of many distinct values (its first
    thousand say so) is looked at for a letter before its distinct values are found."""
    import pyarrow.compute as pc

    if len(pc.unique(column.slice(0, 1000))) < 500:
        return True
    return bool(pc.any(pc.match_substring_regex(column, "[A-Za-z]")).as_py())
