"""Hypothesis strategies for search queries: valid ones, written from the grammar in
``query/parser.py`` and the functions in ``query/functions.py``, and near-misses.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

_KEYWORD = re.compile(r"(?i)^(and|or|not)$")

names = st.from_regex(r"\A[a-z_][a-z0-9_]{0,6}\Z").filter(lambda w: not _KEYWORD.match(w))
paths = st.one_of(
    names,
    st.tuples(names, names).map(".".join),
    st.tuples(names, st.integers(0, 3)).map(lambda p: f"{p[0]}[{p[1]}]"),
    st.tuples(names, names).map(lambda p: f"fields.{p[0]}"),
    st.tuples(names, names).map(lambda p: f"event.{p[0]}.{p[1]}"),
    st.sampled_from(["host", "source", "@rawstring", "time", "@timestamp", "offset"]),
)
words = st.one_of(
    names,
    st.from_regex(r"\A[A-Za-z0-9_.:@-]{1,10}\Z").filter(lambda w: not _KEYWORD.match(w)),
    st.from_regex(r"\A[a-z0-9]{0,4}\*[a-z0-9]{0,4}\Z"),
    st.from_regex(r"\A[a-z]{1,4}\\[\"()|=!<>,\[\]\\ ][a-z]{0,3}\Z"),
)
strings = st.lists(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters='"\\')
    | st.sampled_from(["\\n", '\\"', "\\\\", "\\*", "*"]),
    max_size=12,
).map(lambda chars: '"' + "".join(chars) + '"')
regexes = st.tuples(
    # search regexes run on RE2 (linear time), so patterns that made Python's re backtrack
    # for minutes ("[a-z]*z$" over a long event, "^(.|.)*Q$") are fair game now
    st.sampled_from(
        ["a+", "^x", "fail(ed|ure)", "\\d{3}", "^[a-z]*$", "a\\/b", ".", "\\s+"]
        + ["[a-z]*z$", "^(.|.)*Q$", "(x+x+)+y"]
    ),
    st.sampled_from(["", "i", "m", "s", "im"]),
).map(lambda p: f"/{p[0]}/{p[1]}")
# the language's numbers are plain decimals (no exponent)
numbers = st.one_of(
    st.integers(-(10**6), 10**6).map(str), st.floats(-1e6, 1e6).map(lambda f: f"{f:.4f}")
)
values = st.one_of(words, strings, regexes)
tags = st.tuples(
    st.sampled_from(["#connector", "#index", "#sourcetype"]),
    st.sampled_from(["=", "!="]),
    st.one_of(names, st.just("*"), strings),
).map("".join)
compares = st.one_of(
    st.tuples(paths, st.sampled_from(["=", "!="]), values).map("".join),
    st.tuples(paths, st.sampled_from(["<", "<=", ">", ">="]), numbers).map("".join),
    tags,
)
freetext = st.one_of(words.filter(lambda w: w != "*"), strings, regexes)


def _filters(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " AND ", " ", " or ", " Or "]), inner).map(
            "".join
        ),
        inner.map(lambda f: f"not {f}"),
        inner.map(lambda f: f"!{f}" if not f.startswith("=") else f"not {f}"),
        inner.map(lambda f: f"({f})"),
    )


filters = st.recursive(compares | freetext, _filters, max_leaves=6)


@st.composite
def calls(draw: st.DrawFn) -> str:
    """One function call with arguments that :func:`lakehose.query.functions.step` accepts."""
    kind = draw(st.sampled_from(["count", "agg", "groupBy", "head", "tail", "sort", "table"]))
    fields = draw(st.lists(paths, min_size=1, max_size=3, unique=True))
    one = fields[0]
    many = fields[0] if len(fields) == 1 and draw(st.booleans()) else f"[{', '.join(fields)}]"
    if kind == "count":
        options = ["", one, f"{one}, distinct=true", f"as={draw(names)}"]
        return f"count({options[draw(st.integers(0, 3))]})"
    if kind == "agg":
        return f"{draw(st.sampled_from(['sum', 'avg', 'min', 'max']))}({one})"
    if kind == "groupBy":
        aggregates = draw(st.sampled_from(["", "count()", "[count(), sum(x, as=total)]"]))
        function = f", function={aggregates}" if aggregates else ""
        limit = draw(st.sampled_from(["", ", limit=5"]))
        clash = {"_count", "total"} & set(fields)
        return f"groupBy({many}{'' if clash else function}{limit})"
    if kind in ("head", "tail"):
        return f"{kind}({draw(st.sampled_from(['', '1', '10', 'limit=3']))})"
    if kind == "sort":
        order = draw(st.sampled_from(["", ", order=asc", ", order=desc"]))
        typ = draw(st.sampled_from(["", ", type=number", ", type=string", ", type=any"]))
        return f"sort({many}{order}{typ}{draw(st.sampled_from(['', ', limit=7']))})"
    return f"table({many}{draw(st.sampled_from(['', ', limit=4']))})"


@st.composite
def queries(draw: st.DrawFn) -> str:
    """A query the language accepts: an optional filter, then stages after ``|``."""
    parts = [draw(filters)] if draw(st.integers(0, 4)) else []
    for _ in range(draw(st.integers(0, 3))):
        parts.append(draw(calls() | filters))
    text = " | ".join(parts) if parts else ""
    if draw(st.integers(0, 9)) == 0:
        text += " // a comment"
    if draw(st.integers(0, 9)) == 0:
        text = text.replace(" | ", "\n| ")
    return text


@st.composite
def broken_queries(draw: st.DrawFn) -> str:
    """A valid query with a few characters inserted, deleted or swapped."""
    text = list(draw(queries()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(list('()[]|"/\\=!<>,*#\n ') + ["and", "or", "not", "count("]))
        if draw(st.booleans()) or not text:
            text[at:at] = [junk]
        else:
            del text[at : at + 1]
    return "".join(text)


DEEPLY_NESTED = [
    "not " * 3000 + "a",
    "!" * 3000 + "a",
    "(" * 3000 + "a" + ")" * 3000,
    "(a or (b and " * 400 + "c" + "))" * 400,
    "| groupBy(" + "[" * 3000 + "a" + "]" * 3000 + ")",
    "| head(" + "count(" * 2000 + ")" * 2000 + ")",
    "| sort(" + "x(" * 2000 + ")" * 2000 + ")",
    "a " * 9000,
    "(" * 20_001,
    '"' * 5000,
    "/" * 5000,
]
deeply_nested = st.sampled_from(DEEPLY_NESTED)
