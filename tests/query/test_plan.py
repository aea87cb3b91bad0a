"""Planning: the scan filter, the order of the scan, the columns, what is pageable, which fields
are read, per-batch decisions, and the run-time pipeline a plan builds."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lakehose.errors import QueryError
from lakehose.query import plan_query
from lakehose.query.filters import compile_filter
from lakehose.query.nodes import Everything, Nothing
from lakehose.query.plan import MAX_STAGES
from lakehose.query.prefilter import Needle


@pytest.mark.parametrize(
    ("query", "kind", "columns", "descending", "pageable", "needed", "stages"),
    [
        ("", "events", (), True, True, set(), []),
        ("user=admin", "events", (), True, True, {"user"}, []),
        ("user=admin | head(5)", "events", (), False, False, {"user"}, ["TakeFirst"]),
        ("x=1 | tail(3)", "events", (), True, False, {"x"}, ["TakeFirst"]),
        ("x=1 | sort(status)", "events", (), True, False, {"status", "x"}, ["Sorter"]),
        ("x=1 | head(5) | sort(a)", "events", (), False, False, {"a", "x"},
         ["TakeFirst", "Sorter"]),
        ("x=1 | sort(a) | head(5)", "events", (), True, False, {"a", "x"},
         ["Sorter", "TakeFirst"]),
        ("x=1 | table([a, b])", "table", ("a", "b"), True, True, {"a", "b", "x"}, ["Project"]),
        ("x=1 | table([a, b], limit=5)", "table", ("a", "b"), True, False, {"a", "b", "x"},
         ["Project", "TakeFirst"]),
        ("x=1 | groupBy(host)", "table", ("host", "_count"), True, False, {"host", "x"},
         ["CountBy"]),
        ("x=1 | groupBy([host, user], function=[count(), sum(bytes)])", "table",
         ("host", "user", "_count", "_sum"), True, False, {"bytes", "host", "user", "x"},
         ["Aggregation"]),
        ("x=1 | count()", "table", ("_count",), True, False, {"x"}, ["CountBy"]),
        ("x=1 | a=2", "events", (), True, True, {"a", "x"}, []),  # a filter after a filter
        ("x=1 | table([a]) | b=2", "table", ("a",), True, True, {"a", "x"},
         ["Project", "Where"]),
        ("x=1 | groupBy(h) | _count>2", "table", ("h", "_count"), True, False, {"h", "x"},
         ["CountBy", "Where"]),
        ("failed | head(1) | user=x", "events", (), False, False, {"@rawstring", "user"},
         ["TakeFirst", "Where"]),
        ("x=1 | tail(2) | head(1)", "events", (), True, False, {"x"},
         ["TakeFirst", "TakeLast"]),
        ("x=1 | head(2) | tail(1)", "events", (), False, False, {"x"},
         ["TakeFirst", "TakeLast"]),
        ("x=1 | sort(a) | tail(1)", "events", (), True, False, {"a", "x"},
         ["Sorter", "TakeLast"]),
        ("x=1 | groupBy(a) | head(1)", "table", ("a", "_count"), True, False, {"a", "x"},
         ["CountBy", "TakeFirst"]),
        ("x=1 | table([a]) | sort(b)", "table", ("a",), True, False, {"a", "x"},
         ["Project", "Sorter"]),
    ],
)  # fmt: skip
def test_what_a_query_plans_to(
    query: str,
    kind: str,
    columns: tuple[str, ...],
    descending: bool,
    pageable: bool,
    needed: set[str],
    stages: list[str],
) -> None:
    plan = plan_query(query)
    assert (plan.kind, plan.columns, plan.descending, plan.pageable) == (
        kind, columns, descending, pageable,
    )  # fmt: skip
    assert plan.needed == needed
    pipeline = plan.pipeline(10)
    assert [type(s).__name__ for s in pipeline] == [*stages, "Output"]
    assert pipeline[-1].limit == 10  # type: ignore[attr-defined]


def run(query: str, rows: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
    """The rows a query yields from ``rows`` taken in scan order (as the engine feeds them)."""
    plan = plan_query(query)
    match = compile_filter(plan.scan_filter)
    ordered = rows[::-1] if plan.descending else rows
    pipeline = plan.pipeline(limit)
    for row in ordered:
        if match(row) and not pipeline[0].push(dict(row)):
            break
    pipeline[0].finish()
    return [values for values, _ in pipeline[-1].drain()]  # type: ignore[attr-defined]


ROWS = [{"n": i, "even": i % 2 == 0, "g": "ab"[i % 2]} for i in range(10)]  # oldest first


@pytest.mark.parametrize(
    ("query", "ns"),
    [
        ("", [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),  # newest first
        ("even=true", [8, 6, 4, 2, 0]),
        ("even=true | head(2)", [0, 2]),  # head reads oldest first
        ("even=true | tail(2)", [8, 6]),
        ("| head(3) | tail(1)", [2]),
        ("| tail(3) | head(1)", [7]),
        ("| tail(3) | tail(1)", [9]),
        ("| head(3) | head(1)", [0]),
        ("| head(4) | n>1", [2, 3]),
        ("| n>1 | head(2)", [2, 3]),
        ("| sort(n, order=asc) | head(2)", [0, 1]),
        ("| sort(n, order=asc) | tail(2)", [8, 9]),
        ("| sort(n) | head(1)", [9]),
    ],
)
def test_the_pipeline_yields(query: str, ns: list[int]) -> None:
    assert [row["n"] for row in run(query, ROWS)] == ns


def test_the_output_keeps_at_most_the_limit() -> None:
    assert [row["n"] for row in run("", ROWS, limit=3)] == [9, 8, 7]
    assert [row["n"] for row in run("| head(5)", ROWS, limit=2)] == [0, 1]


def test_tables_and_groups() -> None:
    assert run("n<2 | table([g, n])", ROWS) == [{"g": "b", "n": 1}, {"g": "a", "n": 0}]
    assert run("n<4 | table([n], limit=1)", ROWS) == [{"n": 3}]
    counted = {row["g"]: row["_count"] for row in run("| groupBy(g)", ROWS)}
    assert counted == {"a": 5, "b": 5}
    assert run("| count()", ROWS) == [{"_count": 10}]


def test_a_batch_decision_per_tag_combination() -> None:
    plan = plan_query("#connector=fw user=admin")
    fw = plan.batch("fw", "main", "json")
    assert (fw.skip, fw.everything) == (False, False)
    assert fw.residual == plan_query("user=admin").scan_filter
    assert fw.predicate is not None and fw.predicate({"user": "admin"})
    assert not fw.predicate({"user": "root"})
    assert fw.needles == Needle(b'"admin"')
    assert fw.fields == {"user"}
    assert plan.batch("fw", "main", "json") is fw  # computed once
    dns = plan.batch("dns", "main", "json")
    assert (dns.skip, dns.everything, dns.residual, dns.predicate) == (True, False, Nothing(), None)
    only_tags = plan_query("#connector=fw #index=main").batch("fw", "main", "x")
    assert (only_tags.skip, only_tags.everything, only_tags.residual) == (False, True, Everything())
    assert (only_tags.predicate, only_tags.needles, only_tags.fields) == (None, None, frozenset())
    by_type = plan_query("#sourcetype=syslog").batch("fw", "main", "syslog")
    assert (
        by_type.everything and not plan_query("#sourcetype=syslog").batch("a", "b", "c").everything
    )


def test_a_batch_decision_is_immutable_since_every_batch_with_those_tags_shares_it() -> None:
    decision = plan_query("user=admin").batch("fw", "main", "json")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.skip = True  # type: ignore[misc]


def test_tag_choices_cover_every_tag() -> None:
    plan = plan_query("#connector=fw #index=main")
    assert plan.tag_choices == {"#connector": {"fw"}, "#index": {"main"}, "#sourcetype": None}


def test_a_query_of_more_than_max_stages_is_refused() -> None:
    plan_query("x=1" + " | a=1" * (MAX_STAGES - 1))
    with pytest.raises(QueryError, match=f"the query has {MAX_STAGES + 1} stages; at most 100"):
        plan_query("x=1" + " | a=1" * MAX_STAGES)


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("x=1 | sort(@foo)", 7),
        ("x=1 | groupBy(@nope)", 7),
        ("x=1 | table([a, @x])", 7),
        ("x=1 | head(1) | groupBy(g, function=sum(@y))", 17),
    ],
)
def test_an_unknown_field_in_a_function_is_reported_at_the_call(query: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        plan_query(query)
    assert caught.value.column == column and "unknown" in caught.value.message


def test_fields_after_a_table_or_group_are_not_checked_against_events() -> None:
    assert plan_query("x=1 | groupBy(g) | sort(_count)").needed == {"g", "x"}
    assert plan_query("x=1 | table([a]) | sort(a)").needed == {"a", "x"}
