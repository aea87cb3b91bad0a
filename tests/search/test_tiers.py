"""Search over both tiers gives exactly the row engine's results (the property of issue 16)."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehose.errors import QueryError, SearchTimeoutError
from lakehose.query import plan_query
from lakehose.query.stages import Output
from lakehose.query.timerange import TimeRange
from lakehose.search.histogram import histogram
from lakehose.search.run import run_search
from lakehose.search.sql import Scope, Untranslatable, condition
from lakehose.storage.columnar.compactor import manifest_path
from lakehose.storage.columnar.manifest import ASCII, LOWER, REBUILT, ColumnarFile, Manifest
from lakehose.storage.lake import open_columnar, open_readers
from tests.search.tierkit import SPANS, both, build_lake, queries


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = []
    # flattened in DuckDB (ASCII, then not), by the Python path, and events of a few shapes
    # (most files by the template path, without their text)
    for seed, non_ascii, in_sql, shaped in (
        (1, False, True, False),
        (2, True, True, False),
        (3, False, False, False),
        (4, False, True, True),
    ):
        path = tmp_path_factory.mktemp(f"tiers{seed}")
        build_lake(path, seed, non_ascii=non_ascii, in_sql=in_sql, shaped=shaped)
        out.append(path)
    return out


def test_the_lake_of_few_shapes_has_files_with_and_without_their_text(lakes: list[Path]) -> None:
    m = Manifest(manifest_path(lakes[3]))
    flags = [f.flags & REBUILT for f in m.files()]
    m.close()
    assert 0 in flags and REBUILT in flags


def test_the_lakes_have_files_in_both_tiers(lakes: list[Path]) -> None:
    for lake in lakes:
        m = Manifest(manifest_path(lake))
        files = m.files()
        m.close()
        assert len(files) >= 4  # two rounds, two partitions, several files a round
        assert {f.partition for f in files} == {0, 1}
        assert max(f.end_offset for f in files if f.partition == 0) < 12 * 25


@pytest.mark.parametrize(
    "query",
    [
        "severity=ERROR | groupBy(host)",
        "user.name=user01 | count()",
        "failed | count()",
        "FAILED login | groupBy(#connector)",
        "status=404 | groupBy(severity, function=[count(), sum(score)])",
        "status>=404 or score<1 | count()",
        "not host=h1 | groupBy(host)",
        "user.name=user0* | groupBy(user.name)",
        "zzz | count()",
        "#connector!=fw | groupBy(host)",
        "sum(score)",
        "groupBy(host, function=[sum(score), avg(score)])",
    ],
)
def test_known_queries_use_the_columnar_tier_and_agree(lakes: list[Path], query: str) -> None:
    rows, mixed, search = both(lakes[0], query, TimeRange())
    assert mixed == rows
    assert search.stats.columnar_files > 0 or query.startswith("zzz")
    if query.startswith("zzz"):  # a word no file holds: every file skipped by its tokens
        assert search.stats.columnar_files == 0 and rows == [{"_count": 0}]


@pytest.mark.parametrize(
    ("query", "columnar"),
    [
        ("failed | count()", True),
        ("FAILED login | groupBy(#connector)", True),
        ('"failed login" | count()', True),
        ("x-1 | count()", True),
        ("a_b or 50% | count()", True),
        ("user01 | groupBy(severity)", True),
        ("-1 | count()", True),
        ("40 | count()", True),
        ("rue | count()", True),
        ("fals | groupBy(ok)", True),
        ("severity | count()", True),  # a key: in every event's template
        ("not ok | count()", True),
        ('"500," | count()', False),  # a value and what follows it: the row engine
        ("fail*ed | count()", False),
    ],
)
def test_free_text_over_files_without_their_text_agrees(
    lakes: list[Path], query: str, columnar: bool
) -> None:
    rows, mixed, search = both(lakes[3], query, TimeRange())
    assert mixed == rows
    assert (search.stats.columnar_files > 0) == columnar


def test_a_float_sum_is_the_same_in_any_order() -> None:
    """The tiers push values in different orders; sum() and avg() round once, at the end."""
    values = [0.1, 1e16, 0.7, -1e16, 3, 0.1, 2.5, 1e-3]
    results = set()
    for shift in range(len(values)):
        pipeline = plan_query("groupBy(k, function=[sum(x), avg(x)])").pipeline(None)
        first, output = pipeline[0], pipeline[-1]
        for v in values[shift:] + values[:shift]:
            first.push({"k": "a", "x": v})
        first.finish()
        assert isinstance(output, Output)
        results.add(tuple(sorted(output.rows[0][0].items())))
    assert len(results) == 1
    assert dict(results.pop())["_sum"] == math.fsum(values)


def test_the_sql_stops_at_search_timeout(lakes: list[Path]) -> None:
    """The DuckDB part of a search honours search_timeout: the connection is interrupted."""
    tier = open_columnar(lakes[0])
    assert tier is not None
    try:
        slow = "SELECT count(*) FROM range(1000000000000) a"  # hours, were it not interrupted
        with pytest.raises(SearchTimeoutError) as caught:
            tier.execute(slow, deadline=time.monotonic() + 0.2, limit=0.2)
        assert caught.value.seconds == 0.2
        assert tier.execute("SELECT 42") == [(42,)]  # the connection is usable again
    finally:
        tier.close()
    # through a search: the columnar part counts against the search's limit
    with pytest.raises(SearchTimeoutError):
        run_search(
            lambda: open_readers(lakes[0]),
            plan_query("severity=ERROR | groupBy(host)"),
            TimeRange(),
            time_limit=1e-9,
            columnar=lambda: open_columnar(lakes[0]),
        )


def test_untranslatable_queries_fall_back_and_agree(lakes: list[Path]) -> None:
    cases = [
        (lake, query)
        for lake in lakes
        for query in (
            "/fail/i | count()",
            "tags=a | count()",
            "fields.env=prod | count()",
            "#connector=fw | count()",  # tags alone: counted from batch summaries
        )
    ]
    cases.append((lakes[1], "é | count()"))  # free text over files that are not all ASCII
    for lake, query in cases:
        if True:
            rows, mixed, search = both(lake, query, TimeRange())
            assert mixed == rows, query
            assert search.stats.columnar_files == 0, query


def agree(lake: Path, query: str, span: TimeRange) -> None:
    """Both tiers give the row engine's answer to a generated query (if it plans at all)."""
    try:
        plan_query(query)
    except QueryError:
        return
    rows, mixed, _ = both(lake, query, span)
    assert mixed == rows, query


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries(), which=st.integers(0, 3), span=st.sampled_from(SPANS))
def test_generated_queries_agree(
    lakes: list[Path], query: str, which: int, span: TimeRange
) -> None:
    agree(lakes[which], query, span)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries(), which=st.integers(0, 3), span=st.sampled_from(SPANS))
def test_generated_queries_agree_long(
    lakes: list[Path], query: str, which: int, span: TimeRange
) -> None:
    agree(lakes[which], query, span)


def _file(flags: int) -> ColumnarFile:
    return ColumnarFile(
        name="p0/x.parquet",
        partition=0,
        first_offset=0,
        end_offset=1,
        min_time=0,
        max_time=0,
        min_ingest=0,
        max_ingest=0,
        rows=1,
        size=1,
        columns=frozenset(),
        other=frozenset(),
        flags=flags,
        tokens=None,
    )


def test_free_text_scans_lower_cased_text_with_like_and_older_files_with_ilike() -> None:
    """Files keep ``raw`` lower-cased (LOWER): free text is a plain substring search there
    (a wildcard a LIKE), ILIKE over a scope with files written before; ``@rawstring`` (case
    kept) is then no column."""
    word = plan_query("FAILED | count()").scan_filter
    lowered = Scope([_file(ASCII | LOWER)])
    assert condition(word, lowered) == "coalesce(contains(\"raw\", 'failed'), false)"
    wildcard = plan_query("FA*ED | count()").scan_filter
    assert condition(wildcard, lowered) == "coalesce(\"raw\" LIKE '%fa%ed%' ESCAPE '\\', false)"
    mixed = Scope([_file(ASCII | LOWER), _file(ASCII)])
    assert condition(word, mixed) == "coalesce(\"raw\" ILIKE '%failed%' ESCAPE '\\', false)"
    with pytest.raises(Untranslatable):
        condition(plan_query("@rawstring=*FAILED* | count()").scan_filter, lowered)
    assert "raw" in condition(plan_query("@rawstring=*x* | count()").scan_filter, Scope([_file(0)]))


@pytest.mark.parametrize(
    "query",
    ["", "severity=ERROR", "failed", "status>=404 or not host=h1", "#connector=fw user.name=*"],
)
def test_the_histogram_counts_compacted_events_in_duckdb_and_agrees(
    lakes: list[Path], query: str
) -> None:
    for lake in lakes:
        for span in SPANS:
            for buckets in (7, 100):
                plan = plan_query(query)
                readers = open_readers(lake)
                try:
                    alone = histogram(plan, readers, span, buckets=buckets)
                finally:
                    for r in readers:
                        r.close()
                readers = open_readers(lake)
                try:
                    mixed = histogram(
                        plan,
                        readers,
                        span,
                        buckets=buckets,
                        columnar=lambda lake=lake: open_columnar(lake),
                    )
                finally:
                    for r in readers:
                        r.close()
                assert (mixed.start, mixed.width, mixed.counts) == (
                    alone.start,
                    alone.width,
                    alone.counts,
                ), (query, span, buckets)
                assert mixed.stats.events_matched == alone.stats.events_matched
    readers = open_readers(lakes[0])
    try:
        used = histogram(
            plan_query("severity=ERROR"),
            readers,
            TimeRange(),
            columnar=lambda: open_columnar(lakes[0]),
        )
    finally:
        for r in readers:
            r.close()
    assert used.stats.columnar_files > 0


def test_free_text_over_files_without_their_text_reads_the_columns_that_may_hold_it() -> None:
    f = replace(_file(ASCII | LOWER | REBUILT), columns=frozenset({"msg:s", "level:s", "n:i"}))
    tokens = {"tpl": b"level\nmsg\nn", "msg:s": b"failed\nlogin", "level:s": b"info"}
    scope = Scope([f], lambda _: tokens)
    failed = condition(plan_query("FAILED | count()").scan_filter, scope)
    assert '"msg:s"' in failed and '"level:s"' not in failed and '"tpl"' not in failed
    assert '"n:i"' not in failed  # a word with a letter is in no number
    digits = condition(plan_query("40 | count()").scan_filter, scope)  # no letter: every column
    assert all(c in digits for c in ('"msg:s"', '"level:s"', '"n:i"', '"tpl"'))
    unknown = condition(plan_query("failed | count()").scan_filter, Scope([f]))
    assert '"level:s"' in unknown  # no tokens to go by: every text column
