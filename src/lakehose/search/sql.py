"""Translate a query's scan filter and first aggregate into DuckDB SQL over columnar files.

Only what means exactly the same in SQL is translated (``query/values.py`` is the
meaning); anything else raises :class:`Untranslatable` and the whole query runs
on the row engine. What translates: comparisons on tags, ``host``, ``source``,
``time``, ``offset``, ``partition``, ``ingest_time``, ``@rawstring`` and bare field
names that are columns (or provably absent); ``=``/``!=`` with text, numbers,
``true``/``false`` and ``*`` wildcards; ``<``/``<=``/``>``/``>=``; free text words,
phrases and wildcards (files whose text is all ASCII, where SQL's ``lower`` and
Python's agree); ``and``/``or``/``not``. Not translated: regexes (Python's ``re``
and DuckDB's RE2 differ), ``fields.*``, ``event.*``, ``@timestamp``.

Every comparison is wrapped in ``coalesce(..., false)``: a missing field is SQL NULL,
and ``not`` of a comparison with it must be true, as it is in the row engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lakehose.query.fields import UnknownFieldError, field_ref
from lakehose.query.nodes import And, Compare, Everything, Filter, FreeText, Not, Nothing, Or, Text
from lakehose.query.timerange import TimeRange
from lakehose.query.values import as_number
from lakehose.storage.columnar.layout import column_name, queryable
from lakehose.storage.columnar.manifest import ASCII, LOWER, OPEN, REBUILT, ColumnarFile

_FIXED_INT = {
    "time": "time",
    "offset": "offset",
    "partition": "partition",
    "ingest_time": "ingest_time",
}
_TAG_COLUMN = {"#connector": "connector", "#index": "index", "#sourcetype": "sourcetype"}
_EXACT = 2**53  # doubles hold every integer below this
_INT64 = 2**63
_DECIMAL = r"'-?[0-9]+(\.[0-9]+)?'"


class Untranslatable(Exception):
    """The query (or part of it) has no exact SQL translation over these files."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _double(number: int | float) -> str:
    if isinstance(number, int):
        if abs(number) >= _EXACT:
            raise Untranslatable("an integer beyond a double's exact range")
        return f"CAST({number} AS DOUBLE)"
    return f"CAST({literal(repr(number))} AS DOUBLE)"


def _like(parts: Sequence[str], *, anchored: bool) -> str:
    def esc(p: str) -> str:
        return p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    body = "%".join(esc(p) for p in parts)
    return literal(body if anchored else f"%{body}%")


@dataclass(frozen=True)
class Scope:
    """The files a query runs on, and what their columns say about each field."""

    files: Sequence[ColumnarFile]
    # a REBUILT file's tokens per text column (``ColumnarTier.column_tokens``), to read only
    # the columns that may hold a free-text word; None: read them all
    column_tokens: Callable[[ColumnarFile], dict[str, bytes] | None] | None = None

    @property
    def ascii(self) -> bool:
        return all(f.flags & ASCII for f in self.files)

    @property
    def lower(self) -> bool:
        """Whether every file's ``raw`` is lower-cased (else free text needs ILIKE)."""
        return all(f.flags & LOWER for f in self.files)

    def typed(self, name: str) -> list[tuple[str, str]]:
        """``(SQL expression, type letter)`` of each column holding field ``name``."""
        ref = field_ref(name)
        kind = ref.kind
        if kind == "tag":
            return [(quote(_TAG_COLUMN[name]), "s")]
        if kind in _FIXED_INT:
            return [(quote(_FIXED_INT[kind]), "i")]
        if kind == "rawstring":
            if any(f.flags & LOWER for f in self.files):
                raise Untranslatable("@rawstring: the files keep it lower-cased")
            return [(quote("raw"), "s")]
        if kind in ("host", "source"):
            plain: str = kind
        elif kind == "bare" and queryable(name):
            plain = name
        else:
            raise Untranslatable(f"{name}: a {kind} field")
        out = []
        for letter in "sifb":
            column = column_name(plain, letter)
            if any(column in f.columns for f in self.files):
                out.append((quote(column), letter))
        for f in self.files:
            if plain in f.other or (
                f.flags & OPEN and not any(column_name(plain, k) in f.columns for k in "sifb")
            ):
                raise Untranslatable(f"{name} is no column in {f.name}")
        return out


def _any(parts: list[str], exact: bool = True) -> str:
    """Any of ``parts``; with ``exact``, NULL (a missing field) is false, as ``not`` needs."""
    if exact:
        parts = [f"coalesce({p}, false)" for p in parts]
    if not parts:
        return "false"
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _equals(columns: list[tuple[str, str]], value: Text, ascii: bool, exact: bool = True) -> str:
    if value.is_anything:
        return _any([f"{c} IS NOT NULL" for c, _ in columns], exact)
    if value.is_wildcard:
        pattern = _like(value.parts, anchored=True)
        out = []
        for c, k in columns:
            if k == "s":
                out.append(f"{c} LIKE {pattern} ESCAPE '\\'")
            elif k == "i":
                out.append(f"CAST({c} AS VARCHAR) LIKE {pattern} ESCAPE '\\'")
            elif k == "b":
                out.append(
                    f"(CASE WHEN {c} THEN 'true' ELSE 'false' END) LIKE {pattern} ESCAPE '\\'"
                )
            else:
                raise Untranslatable("a wildcard on a float column")
        return _any(out, exact)
    text = value.literal
    number = as_number(text)
    out = []
    for c, k in columns:
        if k == "s":
            out.append(f"{c} = {literal(text)}")
            if number is not None:
                if not ascii:
                    raise Untranslatable("numeric text in files that are not all ASCII")
                out.append(
                    f"(regexp_full_match({c}, {_DECIMAL}) AND TRY_CAST({c} AS DOUBLE) = "
                    f"{_double(number)})"
                )
        elif k == "i" and number is not None:
            if isinstance(number, float):
                if number.is_integer() and abs(number) < _INT64:
                    out.append(f"{c} = {int(number)}")
            elif abs(number) < _INT64:
                out.append(f"{c} = {number}")
        elif k == "f" and number is not None:
            out.append(f"{c} = {_double(number)}")
        elif k == "b" and text in ("true", "false"):
            out.append(f"{c} = {text}")
    return _any(out, exact)


def _int_bound(op: str, number: int | float) -> int:
    """The integer ``b`` with ``i OP b`` exactly when ``i OP number``, for integers ``i``."""
    bound = number
    if isinstance(number, float):
        bound = math.ceil(number) if op in ("<", ">=") else math.floor(number)
    if abs(bound) >= _INT64:
        raise Untranslatable("a bound beyond 64 bits")
    return int(bound)


def _ordered_text(c: str, op: str, number: int | float) -> str:
    """``as_number(text) OP number`` for text: integers exactly (HUGEINT, and by sign beyond
    38 digits), decimals as doubles (both sides round the text the same way)."""
    bound = _int_bound(op, number)
    digits = f"length(ltrim(ltrim({c}, '-'), '0'))"
    huge = "true" if op in (">", ">=") else "false"
    return (
        f"(CASE WHEN regexp_full_match({c}, '-?[0-9]+') THEN (CASE WHEN {digits} <= 38"
        f" THEN TRY_CAST({c} AS HUGEINT) {op} {bound}"
        f" WHEN starts_with({c}, '-') THEN NOT {huge} ELSE {huge} END)"
        f" WHEN regexp_full_match({c}, '-?[0-9]+[.][0-9]+')"
        f" THEN TRY_CAST({c} AS DOUBLE) {op} {_double(number)} ELSE false END)"
    )


def _ordered(
    columns: list[tuple[str, str]], op: str, number: int | float, ascii: bool, exact: bool
) -> str:
    out = []
    for c, k in columns:
        if k == "s":
            if not ascii:
                raise Untranslatable("numeric text in files that are not all ASCII")
            out.append(_ordered_text(c, op, number))
        if k == "i":
            out.append(f"{c} {op} {_int_bound(op, number)}")
        elif k == "f":
            out.append(f"{c} {op} {_double(number)}")
    return _any(out, exact)


def condition(f: Filter, scope: Scope, *, exact: bool = True) -> str:
    """SQL that is true exactly for the rows ``f`` matches.

    With ``exact`` False (a WHERE clause's own filter) a comparison may be NULL where the
    row engine says false: outside ``not``, ``and`` and ``or`` keep a row on NULL exactly
    when they would on false, and a bare comparison lets DuckDB filter inside the scan.
    """
    if isinstance(f, Everything):
        return "true"
    if isinstance(f, Nothing):
        return "false"
    if isinstance(f, And | Or):
        if not f.items:
            return "true" if isinstance(f, And) else "false"
        joiner = " AND " if isinstance(f, And) else " OR "
        return "(" + joiner.join(condition(i, scope, exact=exact) for i in f.items) + ")"
    if isinstance(f, Not):
        return f"(NOT {condition(f.item, scope)})"
    if isinstance(f, FreeText):
        value = f.value
        if not isinstance(value, Text):
            raise Untranslatable("a regex")
        if not scope.ascii:
            raise Untranslatable("free text over files that are not all ASCII")
        if value.is_anything:
            return "true"
        # Over ASCII text, LIKE of the lower-cased needle on the lower-cased text (ILIKE on
        # files from before it was kept lower-cased) is Python's ``needle in text.lower()``;
        # a plain LIKE '%word%' is DuckDB's substring search, over twice as fast as ILIKE.
        # A word is ``contains``: the same substring search without LIKE's escapes, which
        # cost DuckDB its fast path (5x slower).
        parts = [p.lower() for p in value.parts] if value.is_wildcard else [value.literal.lower()]
        like = "LIKE" if scope.lower else "ILIKE"
        text = f"\"raw\" {like} {_like(parts, anchored=False)} ESCAPE '\\'"
        if scope.lower and not value.is_wildcard:
            text = f'contains("raw", {literal(parts[0])})'
        rebuilt = [f for f in scope.files if f.flags & REBUILT]
        if rebuilt:
            if value.is_wildcard:
                raise Untranslatable("a free-text wildcard over files without the text")
            pieces = _pieces(parts[0], rebuilt, scope.column_tokens)
            if len(rebuilt) < len(scope.files):
                pieces = f'CASE WHEN "raw" IS NOT NULL THEN {text} ELSE {pieces} END'
            text = pieces
        return _any([text], exact)
    assert isinstance(f, Compare)
    if not isinstance(f.value, Text):
        raise Untranslatable("a regex")
    try:
        columns = scope.typed(f.field)
    except UnknownFieldError as exc:
        raise Untranslatable(str(exc)) from None
    if f.op == "=":
        return _equals(columns, f.value, scope.ascii, exact)
    if f.op == "!=":
        return f"(NOT {_equals(columns, f.value, scope.ascii)})"
    number = None if f.value.is_wildcard else as_number(f.value.literal)
    if number is None:
        raise Untranslatable("an order comparison without a number")
    return _ordered(columns, f.op, number, scope.ascii, exact)


_BOUNDS = frozenset('":,{}')  # what a template's constants hold next to a value


def _pieces(
    needle: str,
    files: Sequence[ColumnarFile],
    column_tokens: Callable[[ColumnarFile], dict[str, bytes] | None] | None,
) -> str:
    """Free text over files that keep no text (``REBUILT``): an event's text is its
    template's constants with each value in between, and a value is bounded by one of
    :data:`_BOUNDS` on each side, so a needle without them lies within the constants
    (``tpl``) or within one value: within its column's text. A column (or ``tpl``) whose
    tokens in every file lack one of the needle's runs of letters and digits is not read."""
    if any(c in _BOUNDS or ord(c) < 32 for c in needle):
        raise Untranslatable("free text that may span a key and a value")
    runs = [r.encode() for r in _RUN.findall(needle)]
    per = [column_tokens(f) if column_tokens is not None and runs else None for f in files]

    def may_hold(column: str) -> bool:
        return any(texts is None or all(r in texts.get(column, b"") for r in runs) for texts in per)

    word = literal(needle)
    parts = [f'contains("tpl", {word})'] if may_hold("tpl") else []
    digits = all(c in "0123456789-" for c in needle)
    for column in sorted(set().union(*(f.columns for f in files))):
        name, kind = column.rsplit(":", 1)
        if name in ("host", "source"):
            continue  # the envelope's, not in the event's text
        if kind == "s" and may_hold(column):
            parts.append(f"contains(lower({quote(column)}), {word})")
        elif kind == "i" and digits:
            parts.append(f"contains(CAST({quote(column)} AS VARCHAR), {word})")
        elif kind == "b":
            if needle in "true":
                parts.append(quote(column))
            if needle in "false":
                parts.append(f"NOT {quote(column)}")
    return _any(parts)


def span_condition(span: TimeRange) -> str:
    parts = []
    if span.start is not None:
        parts.append(f'"time" >= {span.start}')
    if span.end is not None:
        parts.append(f'"time" < {span.end}')
    return " AND ".join(parts) or "true"


_RUN = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*")


def free_text_runs(f: Filter) -> list[str]:
    """Runs of ``[a-z0-9]`` with a letter that every matching row's lower-cased text holds
    within such a run (for skipping files by their token dictionaries)."""
    items = f.items if isinstance(f, And) else (f,)
    runs: list[str] = []
    for item in items:
        if isinstance(item, FreeText) and isinstance(item.value, Text):
            for part in item.value.parts:
                runs += _RUN.findall(part.lower())
    return runs
