"""Search over both tiers gives exactly the row engine's results (the property of issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehose.errors import QueryError
from lakehose.query import plan_query
from lakehose.query.timerange import TimeRange
from lakehose.storage.columnar.compactor import manifest_path
from lakehose.storage.columnar.manifest import Manifest
from tests.search.tierkit import SPANS, both, build_lake, queries


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = []
    # flattened in DuckDB (ASCII, then not), and by the Python path
    for seed, non_ascii, in_sql in ((1, False, True), (2, True, True), (3, False, False)):
        path = tmp_path_factory.mktemp(f"tiers{seed}")
        build_lake(path, seed, non_ascii=non_ascii, in_sql=in_sql)
        out.append(path)
    return out


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
    ],
)
def test_known_queries_use_the_columnar_tier_and_agree(lakes: list[Path], query: str) -> None:
    rows, mixed, search = both(lakes[0], query, TimeRange())
    assert mixed == rows
    assert search.stats.columnar_files > 0 or query.startswith("zzz")
    if query.startswith("zzz"):  # a word no file holds: every file skipped by its tokens
        assert search.stats.columnar_files == 0 and rows == [{"_count": 0}]


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


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries(), which=st.integers(0, 2), span=st.sampled_from(SPANS))
def test_generated_queries_agree(
    lakes: list[Path], query: str, which: int, span: TimeRange
) -> None:
    try:
        plan_query(query)
    except QueryError:
        return
    rows, mixed, _ = both(lakes[which], query, span)
    assert mixed == rows, query


@pytest.mark.slow
@pytest.mark.timeout(3600)
@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries(), which=st.integers(0, 2), span=st.sampled_from(SPANS))
def test_generated_queries_agree_long(
    lakes: list[Path], query: str, which: int, span: TimeRange
) -> None:
    try:
        plan_query(query)
    except QueryError:
        return
    rows, mixed, _ = both(lakes[which], query, span)
    assert mixed == rows, query
