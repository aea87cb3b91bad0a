"""Fuzzed search queries, with no server: any text either plans or raises a QueryError whose
line and column fall inside the text; queries written from the grammar always plan.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehose.errors import QueryError
from lakehose.query import parse, plan_query
from tests.fuzz.budgetkit import VARIANTS, fuzz_settings, tried
from tests.fuzz.querykit import DEEPLY_NESTED, broken_queries, deeply_nested, queries

symbols = st.sampled_from(list("abxyz019 _-*./\\\"'()[]|=!<>,#@:\n\t{}~$%&?\u00e9\x00\u00b2\u0661"))
tokens = st.sampled_from(
    ["and", "or", "not", "groupBy(", "count()", "head(", "limit=", "sort(", "//", "/a/", "--"]
)
any_text = st.one_of(
    st.lists(symbols | tokens, max_size=40).map("".join),
    st.text(max_size=60),
    broken_queries(),
    deeply_nested,
)


def check_error_position(text: str, error: QueryError) -> None:
    lines = text.split("\n")
    assert 1 <= error.line <= len(lines), (error.line, len(lines))
    # a column may point one past the end of its line: "unexpected end of query"
    assert 1 <= error.column <= len(lines[error.line - 1]) + 1, (error.column, error)


@pytest.mark.parametrize("variant", VARIANTS)
def test_any_text_plans_or_gets_a_query_error_inside_the_text(variant: str) -> None:
    @fuzz_settings(variant, 300)
    @given(any_text)
    def run(text: str) -> None:
        tried("query/any-text")
        try:
            plan_query(text)
        except QueryError as error:
            check_error_position(text, error)

    run()


@pytest.mark.parametrize("variant", VARIANTS)
def test_queries_written_from_the_grammar_plan(variant: str) -> None:
    @fuzz_settings(variant, 250)
    @given(queries())
    def run(text: str) -> None:
        tried("query/grammar")
        assert parse(text).text == text
        plan_query(text)

    run()


@pytest.mark.parametrize("text", DEEPLY_NESTED, ids=lambda t: t[:12])
def test_deeply_nested_or_oversized_queries_get_a_query_error_or_plan(text: str) -> None:
    tried("query/nested")
    try:
        plan_query(text)
    except QueryError as error:
        check_error_position(text, error)
