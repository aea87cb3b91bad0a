"""Byte needles never reject a line that matches, however its JSON is spelled (property test)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehose.query.filters import compile_filter, field_names
from lakehose.query.functions import Aggregate, GroupBy
from lakehose.query.nodes import And, Compare, Filter, FreeText, Not, Or, Regex, Text
from lakehose.query.prefilter import needles
from lakehose.query.stages import CountBy, Output
from lakehose.query.timerange import TimeRange
from lakehose.search.candidates import LineFilter
from lakehose.search.decoding import BatchContext, LineDecoder

BATCH = BatchContext(0, 0, 0, {"#connector": "c", "#index": "i", "#sourcetype": "s"})
KEYS = ["user", "msg", "n", "a.b", "tags"]

texts = st.text(alphabet='aAbé/"\\\n*x. 0', max_size=8)
numbers = st.one_of(
    st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6).map(lambda i: i / 100)
)
scalars = st.one_of(texts, numbers, st.booleans())
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["b", "c"]), scalars, max_size=2),
)
events = st.one_of(st.dictionaries(st.sampled_from(KEYS), values, max_size=4), texts.filter(bool))
fields = st.dictionaries(st.sampled_from(["user", "region", "n"]), scalars, max_size=2)


def spell(value: Any, style: int) -> bytes:
    """JSON text of ``value`` as different writers spell it."""
    if style == 0:
        return orjson.dumps(value)
    if style == 3:  # tabs as whitespace: lines that cannot be decoded in bulk
        return json.dumps(value, separators=(",\t", ":\t")).encode()
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))  # \\u00e9 for é
    if style == 2:
        text = text.replace("/", "\\/")
    return text.encode()


def line(event: Any, meta_fields: dict[str, Any], style: int, time: int = 1) -> bytes:
    meta: dict[str, Any] = {"time": time, "host": "h-1"}
    if meta_fields:
        meta["fields"] = meta_fields
    return orjson.dumps(meta) + b"\t" + spell(event, style)


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value) if not isinstance(value, list | dict) else "x"


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def a_filter(data: st.DataObject, known: list[Any]) -> Filter:
    """A filter on a value some event holds (so that matches happen), of a random kind."""
    kind = data.draw(st.sampled_from(["eq", "wild", "free", "regex", "ne", "or", "and"]))
    name = data.draw(
        st.sampled_from([*KEYS, "region", "a", "fields.user", "event.user", "host", "@rawstring"])
    )
    text = literal(data.draw(st.sampled_from(known) if known else scalars))
    if kind == "eq":
        return Compare(name, "=", Text((text,)))
    if kind == "wild":
        cut = data.draw(st.integers(0, len(text)))
        return Compare(name, "=", Text((text[:cut], text[cut:])))
    if kind == "free":
        return FreeText(Text((data.draw(st.sampled_from([text, text.upper(), text[1:]])),)))
    if kind == "regex":
        pattern = text.replace("\\", "").replace("*", "").replace(".", "") or "a"
        return Compare(name, "=", Regex(pattern, data.draw(st.sampled_from(["", "i"]))))
    if kind == "ne":
        return Not(Compare(name, "=", Text((text,))))
    if kind == "or":
        return Or((Compare(name, "=", Text((text,))), FreeText(Text((text[:2],)))))
    # A case-sensitive needle and one that ignores case, either of which may drive the scan.
    other = literal(data.draw(st.sampled_from(known) if known else scalars))
    return And((Compare(name, "=", Text((text,))), FreeText(Text((other.upper(),)))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(events, fields, st.integers(0, 3)), min_size=1, max_size=5), st.data())
def test_every_matching_line_is_a_candidate(
    rows: list[tuple[Any, dict[str, Any], int]], data: st.DataObject
) -> None:
    known = [leaf for e, m, _ in rows for leaf in leaves(e) + leaves(m)]
    f = a_filter(data, known)
    lines = [line(e, m, style, time) for time, (e, m, style) in enumerate(rows)]
    blob = b"\n".join(lines)
    decoder = LineDecoder(frozenset(field_names(f) | {"user"}))
    predicate = compile_filter(f)
    matching = {i for i, raw in enumerate(lines) if predicate(decoder.decode(raw, BATCH, i)[1])}
    found = {i for i, _ in LineFilter(needles(f)).lines(blob)}
    assert matching <= found, (f, needles(f), lines)
    # The generated scan loop agrees with the compiled filter, line for line.
    pushed: list[int] = []
    loop = decoder.scanner(f, with_time=False)
    loop(
        list(enumerate(lines)),
        BATCH,
        lambda values, source: pushed.append(source[1]) or True,
        TimeRange(),
        True,
    )
    assert set(pushed) == matching
    # So do the loops of aggregates, which decode lines in bulk (or one by one when a line
    # has tabs in its JSON): on the candidate lines, and on the whole batch.
    line_filter = LineFilter(needles(f))
    candidates = line_filter.candidates(blob)
    if candidates is None:
        candidates = [raw for _, raw in line_filter.lines(blob, False)]
    values_of = [decoder.decode(raw, BATCH, i)[1] for i, raw in enumerate(lines)]
    expected_rows = [values_of[i] for i in sorted(matching)]
    aggregate = decoder.aggregator(f, with_time=False)
    swept: list[dict[str, Any]] = []
    found_lines = aggregate.lines(
        candidates, BATCH, lambda v, _: swept.append(v) or True, TimeRange(), {}
    )
    assert found_lines == len(matching)
    assert swept == expected_rows
    whole: list[dict[str, Any]] = []
    found_whole = aggregate.whole(
        blob, len(lines), BATCH, lambda v, _: whole.append(v) or True, TimeRange(), {}
    )
    assert found_whole == len(matching)
    assert whole == expected_rows
    # A time range drops the lines outside it (line i holds time i).
    start = data.draw(st.integers(0, len(lines)))
    in_time: list[dict[str, Any]] = []
    aggregate = decoder.aggregator(f, with_time=True)
    aggregate.lines(
        candidates, BATCH, lambda values, _: in_time.append(values) or True, TimeRange(start), {}
    )
    assert in_time == [values_of[i] for i in sorted(matching) if i >= start]
    # And counting in place (groupBy(user) | count) counts what the stage would.
    stage = CountBy(GroupBy(("user",), (Aggregate("count", None, "_count"),)))
    stage.downstream = Output(None)
    counter = stage.counter()
    assert counter is not None
    aggregate = decoder.aggregator(f, with_time=False, count_by=counter[0])
    aggregate.lines(candidates, BATCH, stage.push, TimeRange(), counter[1])
    expected = CountBy(GroupBy(("user",), (Aggregate("count", None, "_count"),)))
    for values in expected_rows:
        expected.push(values)
    assert stage.counts == expected.counts


def test_a_value_hidden_by_unicode_escapes_is_still_found() -> None:
    f = Compare("user", "=", Text(("admin",)))
    raw = b'{"time":1}\t{"user":"\\u0061dmin"}'
    assert LineFilter(needles(f)).lines(b'{"time":1}\t{"user":"root"}\n' + raw) == [(1, raw)]


def test_an_object_event_equal_to_its_rawstring_is_a_candidate() -> None:
    raw = b'{"time":1}\t{}'
    f = Compare("@rawstring", "=", Text(("{}",)))
    assert compile_filter(f)(LineDecoder(frozenset({"@rawstring"})).decode(raw, BATCH, 0)[1])
    assert LineFilter(needles(f)).lines(raw) == [(0, raw)]


def test_lines_without_the_needle_are_never_parsed() -> None:
    f = Compare("user", "=", Text(("admin",)))
    blob = b"\n".join(
        [b'{"time":1}\t{"user":"root"}', b'{"time":1}\t{"user":"admin"}', b'{"time":1}\t{"u":"x"}']
    )
    assert LineFilter(needles(f)).lines(blob) == [(1, b'{"time":1}\t{"user":"admin"}')]
    assert LineFilter(needles(FreeText(Text(("ADMIN",))))).lines(blob) == [
        (1, b'{"time":1}\t{"user":"admin"}')
    ]
    assert LineFilter(needles(Compare("n", "=", Text(("4.50",))))).lines(
        b'{"time":1}\t{"n":4.5}\n{"time":1}\t{"n":45}'
    ) == [(0, b'{"time":1}\t{"n":4.5}')]
