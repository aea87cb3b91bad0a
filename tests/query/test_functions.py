"""Functions: what each call stands for (defaults, limits at their bounds, spellings), and the
error that points at a bad argument."""

from __future__ import annotations

import dataclasses

import pytest

from lakehose.errors import QueryError
from lakehose.query import plan_query
from lakehose.query.functions import Aggregate, GroupBy, Head, Sort, Step, Table, Tail

COUNT = Aggregate("count", None, "_count")


@pytest.mark.parametrize(
    ("query", "step"),
    [
        ("| head()", Head(200)),
        ("| head(1)", Head(1)),
        ("| head(100000)", Head(100000)),
        ("| tail()", Tail(200)),
        ("| tail(limit=7)", Tail(7)),
        ("| tail(100000)", Tail(100000)),
        ("| sort(a)", Sort(("a",), True, 200, "any")),
        ("| sort([a, b], order=asc, type=number, limit=5)", Sort(("a", "b"), False, 5, "number")),
        ("| sort(a, order=ascending)", Sort(("a",), False, 200, "any")),
        ("| sort(a, order=DESCENDING)", Sort(("a",), True, 200, "any")),
        ("| sort(a, order=desc, type=string, limit=1)", Sort(("a",), True, 1, "string")),
        ("| table(a)", Table(("a",), None)),
        ("| table([a, b], limit=3)", Table(("a", "b"), 3)),
        ("| table([a], limit=1)", Table(("a",), 1)),
        ("| table([a], limit=100000)", Table(("a",), 100000)),
        ("| groupBy(a)", GroupBy(("a",), (COUNT,), 20000)),
        ("| groupby(a, limit=1)", GroupBy(("a",), (COUNT,), 1)),
        ("| groupBy(a, limit=200000)", GroupBy(("a",), (COUNT,), 200000)),
        ("| groupBy(a, function=count(as=n))",
         GroupBy(("a",), (Aggregate("count", None, "n"),), 20000)),
        ("| groupBy([a, b], function=[count(c, distinct=true), sum(x, as=total), avg(y), min(z), "
         "max(w)])",
         GroupBy(("a", "b"), (Aggregate("count", "c", "_count", True),
                              Aggregate("sum", "x", "total"), Aggregate("avg", "y", "_avg"),
                              Aggregate("min", "z", "_min"), Aggregate("max", "w", "_max")), 20000)),
        ("| count(x)", GroupBy((), (Aggregate("count", "x", "_count"),), 20000)),
        ("| count(field=x, distinct=TRUE)",
         GroupBy((), (Aggregate("count", "x", "_count", True),), 20000)),
        ("| count(x, distinct=false)", GroupBy((), (Aggregate("count", "x", "_count"),), 20000)),
        ("| COUNT()", GroupBy((), (COUNT,), 20000)),
        ("| Sum(b)", GroupBy((), (Aggregate("sum", "b", "_sum"),), 20000)),
        ("| max(b, as=top)", GroupBy((), (Aggregate("max", "b", "top"),), 20000)),
    ],
)  # fmt: skip
def test_what_a_call_means(query: str, step: Step) -> None:
    assert plan_query(query).steps == (step,)


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("| head(100001)", "limit of head() must be between 1 and 100000", 8),
        ("| head(-1)", "limit of head() must be between 1 and 100000", 8),
        ("| head(0)", "limit of head() must be between 1 and 100000", 8),
        ("| tail(100001)", "limit of tail() must be between 1 and 100000", 8),
        ("| sort(a, limit=0)", "limit of sort() must be between 1 and 100000", 17),
        ("| sort(a, limit=100001)", "limit of sort() must be between 1 and 100000", 17),
        ("| table([a], limit=100001)", "limit of table() must be between 1 and 100000", 20),
        ("| table([a], limit=0)", "limit of table() must be between 1 and 100000", 20),
        ("| groupBy(a, limit=200001)", "limit of groupBy() must be between 1 and 200000", 20),
        ("| groupBy(a, limit=0)", "limit of groupBy() must be between 1 and 200000", 20),
        ("| head(1, limit=2)", "argument 'limit' of head() is given twice", 17),
        ("| groupBy(a, function=[])",
         "function= expects a function call such as count(), or a [list] of them", 23),
        ("| groupBy(a, function=[count(), x])",
         "function= expects a function call such as count(), or a [list] of them", 23),
        ("| groupBy([], function=count())", "groupBy() needs at least one field", 11),
        ('| count("")', "count() expects a field name here", 9),
        ("| count(/x/)", "count() expects a field name here", 9),
        ("| head(/x/)", "head() expects a whole number here", 8),
        ("| head(1*)", "head() expects a whole number here", 8),
        ("| sort(a, order=/x/)", "sort() expects one of asc, desc, ascending, descending here", 17),
        ("| sort(a, type=text)", "type of sort() must be one of any, number, string", 16),
        ("| groupBy(a, function=count(as=a))",
         "column 'a' appears twice; name aggregates apart with as=", 3),
        ("| groupBy([a, a])", "column 'a' appears twice; name aggregates apart with as=", 3),
        ("| head(--5)", "limit of head() must be a whole number, not '--5'", 8),
        ("| head(+5)", "limit of head() must be a whole number, not '+5'", 8),
        ("| table([a, [b]])", "table() expects a field name here", 13),
        ("| count(a, as=b*)", "count() expects a field name here", 15),
        ("| max(as=m)", "max() needs a field, e.g. max(host)", 3),
        ("| head(x=1)", "head() has no argument 'x' (arguments: limit)", 10),
        ("| count(zz=1)", "count() has no argument 'zz' (arguments: field, distinct, as)", 12),
        ("| avg(a, b)", "avg() takes at most one positional argument", 10),
    ],
)  # fmt: skip
def test_a_bad_call_is_reported_at_the_argument(query: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        plan_query(query)
    assert (caught.value.message, caught.value.column) == (message, column)


@pytest.mark.parametrize(
    "query",
    ["| head(1)", "| tail(1)", "| sort(a)", "| table(a)", "| groupBy(a)", "| head(1) | b=2"],
)
def test_steps_are_immutable_since_a_plan_shares_them_between_runs(query: str) -> None:
    step = plan_query(query).steps[-1]
    name = next(iter(step.__dataclass_fields__))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(step, name, None)
