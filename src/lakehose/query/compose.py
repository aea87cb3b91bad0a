"""Write query text from values: ``field=value`` clauses the search page adds to a query.

A value found in an event goes back into a query so that it means exactly that
value: text is quoted, with ``"``, ``\\`` and ``*`` escaped (``*`` would be a
wildcard); numbers and booleans are written bare. A field name is written as is
when it is a plain word of the language, else no clause can be written for it.
"""

from __future__ import annotations

import re
from typing import Any

from lakehose.errors import QueryError
from lakehose.query.nodes import Call
from lakehose.query.parser import parse

# A field name the grammar reads as one WORD (no escapes needed): see parser.GRAMMAR.
_NAME = re.compile(r'^[^\s"()|=!<>,\[\]\\/*][^\s"()|=!<>,\[\]\\*]*$')
_KEYWORDS = frozenset({"and", "or", "not"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "*": "\\*", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def literal(value: Any) -> str | None:
    """``value`` as query text that equals it exactly; None for what a clause cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if re.fullmatch(r"-?\d+(\.\d+)?", text) else None
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'
    return None


def clause(name: str, value: Any, *, negate: bool = False) -> str | None:
    """``name=value`` (or ``name!=value``) as query text; None when it cannot be written."""
    if not _NAME.match(name) or name.lower() in _KEYWORDS:
        return None
    text = literal(value)
    if text is None:
        return None
    return f"{name}{'!=' if negate else '='}{text}"


def add_filter(query: str, filter_text: str) -> str:
    """``query`` narrowed by ``filter_text``: the filter goes in front of its leading filter.

    Filters side by side mean ``and``, and ``and`` binds loosest, so putting the
    new filter first keeps the rest of the query's meaning, comments included.
    A query that does not parse is returned with the filter in front, as typed.
    """
    stripped = query.strip()
    if not stripped:
        return filter_text
    try:
        first = parse(stripped).stages
    except QueryError:
        return f"{filter_text} {stripped}"
    if first and isinstance(first[0], Call):
        return f"{filter_text} | {stripped}"
    return f"{filter_text} {stripped}"
