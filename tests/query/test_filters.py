"""What matches what: text, wildcards, numbers, regexes, arrays, missing fields, tags."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.errors import QueryError
from lakehose.query import plan_query
from lakehose.query.fields import MISSING
from lakehose.query.filters import (
    combine,
    compile_filter,
    expression,
    field_names,
    simplify,
    specialise,
    tag_choices,
    walk,
)
from lakehose.query.nodes import (
    And,
    Compare,
    Everything,
    Filter,
    FreeText,
    Not,
    Nothing,
    Or,
    Regex,
    Text,
)

ROW: dict[str, Any] = {
    "user": "admin",
    "status": 404,
    "code": "0042",
    "ratio": 0.5,
    "flag": True,
    "tags": ["red", "blue"],
    "ports": [22, 443],
    "obj": {"a": 1},
    "nothing": None,
    "path": "/var/log/a*b",
    "@rawstring": "Failed login for Admin from 10.0.0.1",
    "#connector": "fw",
}


def matches(query: str, row: dict[str, Any] = ROW) -> bool:
    return compile_filter(plan_query(query).scan_filter)(row)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=admin", True),
        ("user=Admin", False),  # field values are case-sensitive
        ("user=adm*", True),
        ("user=*min", True),
        ("user=a*m*n", True),
        ("user=*", True),
        ("missing=*", False),
        ("missing!=*", True),
        ("nothing=*", True),  # present, though null
        ("user!=admin", False),
        ("missing!=admin", True),  # != is "not =": a missing field passes
        ("user=/^ADM/i", True),
        ("user=/^ADM/", False),
        ("user!=/root/", True),
        ("status=404", True),
        ('status="404"', True),
        ("status=404.0", True),
        ("status=40*", True),
        ("status>400", True),
        ("status>=404", True),
        ("status<404", False),
        ("status<=404", True),
        ("code=42", True),  # a string of digits is a number
        ("code=0042", True),
        ("code>41", True),
        ("user>1", False),  # text is never ordered
        ("ratio=0.50", True),
        ("ratio<1", True),
        ("flag=true", True),
        ("flag=false", False),
        ("tags=blue", True),  # an array matches when an element does
        ("tags=gr*", False),
        ("ports=443", True),
        ("ports>1000", False),
        ("ports<100", True),
        ("obj=*", True),
        ("obj=1", False),
    ],
)
def test_field_comparisons(query: str, expected: bool) -> None:
    assert matches(query) is expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('path="/var/log/a\\*b"', True),
        ('path="/var/log/a*"', True),
        ('path="/var/log/ab"', False),
        ("failed", True),  # free text ignores case
        ("FAILED", True),
        ('"login for admin"', True),
        ('"login admin"', False),
        ("fail*admin", True),
        ("/admin from \\d+/i", True),
        ("/admin from/", False),
        ("failed root", False),
        ("failed or root", True),
        ("failed not root", True),
        ("not failed", False),
        ("!(failed and admin)", False),
        ("(root or admin) and status=404", True),
        ("#connector=fw", True),
        ("#connector=f*", True),
        ("#connector!=fw", False),
    ],
)
def test_free_text_and_boolean_structure(query: str, expected: bool) -> None:
    assert matches(query) is expected


def test_a_missing_rawstring_matches_no_free_text() -> None:
    assert matches("failed", {"user": "x"}) is False


def test_tags_are_settled_per_batch() -> None:
    scan = plan_query("#connector=fw user=admin").scan_filter
    assert specialise(scan, {"#connector": "dns"}) == Nothing()
    residual = specialise(scan, {"#connector": "fw"})
    assert residual == plan_query("user=admin").scan_filter
    assert (
        specialise(plan_query("#index=main or #index=sec").scan_filter, {"#index": "sec"})
        == Everything()
    )
    assert specialise(plan_query("not #index=main").scan_filter, {"#index": "main"}) == Nothing()


@pytest.mark.parametrize(
    ("query", "choices"),
    [
        ("#connector=fw", {"fw"}),
        ("#connector=fw x=1", {"fw"}),
        ("#connector=fw or #connector=edr", {"fw", "edr"}),
        ("#connector=fw and #connector=edr", set()),
        ("#connector=fw or x=1", None),
        ("#connector=f*", None),
        ("#connector!=fw", None),
        ("not #connector=fw", None),
        ("x=1", None),
    ],
)
def test_exact_tag_values_narrow_the_batches_read(query: str, choices: set[str] | None) -> None:
    found = tag_choices(plan_query(query).scan_filter, "#connector")
    assert (set(found) if found is not None else None) == choices


# -- the generated expression (the scan's fast path) agrees with compile_filter ----------------

LEAVES = [
    "user=admin", "user=adm*", "user!=admin", "user=/^ADM/i", "status=404", "status>400",
    "status<=404", "code=42", "tags=blue", "ports<100", "flag=true", "missing=*", "missing!=x",
    "failed", "root", '"login for admin"', "fail*admin", "/from \\d+/", "#connector=fw",
    "ratio>=0.5", "nothing=*", "user=root",
]  # fmt: skip
LEAF_FILTERS = [plan_query(q).scan_filter for q in LEAVES]


def _filters() -> st.SearchStrategy[Filter]:
    return st.recursive(
        st.sampled_from(LEAF_FILTERS) | st.just(Everything()) | st.just(Nothing()),
        lambda inner: (
            st.builds(Not, inner)
            | st.lists(inner, min_size=0, max_size=4).map(lambda xs: And(tuple(xs)))
            | st.lists(inner, min_size=0, max_size=4).map(lambda xs: Or(tuple(xs)))
        ),
        max_leaves=8,
    )


_ROW_VALUES = {
    "user": st.sampled_from(["admin", "root", "ADMIN", "adm", 7]),
    "status": st.sampled_from([404, 200, "404", 404.0, 401, 400]),
    "code": st.sampled_from(["0042", "42", 42, "x"]),
    "tags": st.sampled_from([["red", "blue"], [], "blue"]),
    "ports": st.sampled_from([[22, 443], [443], 80]),
    "flag": st.sampled_from([True, False, "true"]),
    "ratio": st.sampled_from([0.5, 0.4, "0.50"]),
    "nothing": st.sampled_from([None, 0]),
    "missing": st.sampled_from(["x", "y"]),
    "@rawstring": st.sampled_from(
        ["Failed login for Admin from 10.0.0.1", "root ok", "failure from x", ""]
    ),
    "#connector": st.sampled_from(["fw", "edr"]),
}


@st.composite
def _rows(draw: st.DrawFn) -> dict[str, Any]:
    present = draw(st.sets(st.sampled_from(sorted(_ROW_VALUES))))
    return {name: draw(_ROW_VALUES[name]) for name in present}


def _evaluate(f: Filter, row: dict[str, Any], local: bool) -> bool:
    namespace: dict[str, Any] = {"MISSING": MISSING}
    if local:
        names = {name: f"f{i}" for i, name in enumerate(sorted(_ROW_VALUES))}
        source = expression(f, namespace, names)
        for name, variable in names.items():
            namespace[variable] = row.get(name, MISSING)
    else:
        source = expression(f, namespace)
        namespace["values"] = row
    result = eval(source, namespace)  # noqa: S307 - the code under test is generated
    assert isinstance(result, bool)
    return result


@settings(max_examples=300, deadline=None)
@given(_filters(), _rows())
def test_the_generated_expression_agrees_with_compile_filter(
    f: Filter, row: dict[str, Any]
) -> None:
    expected = compile_filter(f)(row)
    assert _evaluate(f, row, local=False) is expected
    assert _evaluate(f, row, local=True) is expected
    assert compile_filter(simplify(f))(row) is expected


@pytest.mark.parametrize("query", LEAVES)
def test_each_leaf_both_ways(query: str) -> None:
    f = plan_query(query).scan_filter
    for row in [ROW, {}, {"user": "root", "status": 200, "@rawstring": "root"}]:
        assert _evaluate(f, row, False) is _evaluate(f, row, True) is compile_filter(f)(row)
        assert _evaluate(Not(f), row, False) is (not compile_filter(f)(row))


def test_a_field_the_local_map_does_not_name_reads_as_missing() -> None:
    f = plan_query("user=*").scan_filter
    assert expression(f, {}, {}).endswith("(MISSING)")
    assert _evaluate(plan_query("missing!=x").scan_filter, {}, local=True) is True


def test_ordering_a_non_number_cannot_be_compiled() -> None:
    bad = Compare("status", ">", Text(("a", "")))
    with pytest.raises(QueryError, match="> compares numbers"):
        compile_filter(bad)
    with pytest.raises(QueryError, match="> compares numbers"):
        expression(bad, {})
    with pytest.raises(QueryError, match="< compares numbers"):
        compile_filter(Compare("status", "<", Regex("4")))


A, B, C = (plan_query(q).scan_filter for q in ("a=1", "b=2", "c=3"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (And((A, Everything())), A),
        (And((A, Nothing(), B)), Nothing()),
        (Or((A, Everything(), B)), Everything()),
        (Or((Nothing(), A)), A),
        (And(()), Everything()),
        (Or(()), Nothing()),
        (And((Everything(), Everything())), Everything()),
        (Or((Nothing(),)), Nothing()),
        (And((And((A, B)), C)), And((A, B, C))),
        (Or((A, Or((B, C)))), Or((A, B, C))),
        (And((Or((A, B)), C)), And((Or((A, B)), C))),  # groups of another kind stay
        (And((A, B)), And((A, B))),
        (Not(Not(A)), A),
        (And((Or((A, Nothing())), B)), And((A, B))),  # items are simplified first
        (Or((And((A, Everything())), And((B, Not(Not(C)))))), Or((A, And((B, C))))),
        (Not(Not(Not(A))), Not(A)),
        (Not(Everything()), Nothing()),
        (Not(Nothing()), Everything()),
        (Not(And((A, Nothing()))), Everything()),
        (Not(A), Not(A)),
        (Not(And((A, Everything()))), Not(A)),
        (A, A),
        (FreeText(Text(("", ""))), Everything()),  # `*`: every event has an @rawstring
        (And((A, FreeText(Text(("", ""))))), A),
        (Not(FreeText(Text(("", "")))), Nothing()),
        (FreeText(Text(("a", ""))), FreeText(Text(("a", "")))),  # `a*` narrows
    ],
)
def test_simplify_folds_units_and_zeros_and_flattens(before: Filter, after: Filter) -> None:
    assert simplify(before) == after


def test_combine_ands_filters_and_simplifies() -> None:
    assert combine([]) == Everything()
    assert combine([A]) == A
    assert combine([A, And((B, C))]) == And((A, B, C))
    assert combine([A, Nothing()]) == Nothing()


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("user=admin", {"user"}),
        ("failed", {"@rawstring"}),
        ("user=a and (status=1 or not failed)", {"user", "status", "@rawstring"}),
        ("not (x=1 or y=2)", {"x", "y"}),
        ("", set()),
    ],
)
def test_field_names_lists_every_field_read(query: str, names: set[str]) -> None:
    assert field_names(plan_query(query).scan_filter) == names


def test_walk_visits_every_node_in_order() -> None:
    f = And((A, Not(Or((B, C)))))
    assert list(walk(f)) == [f, A, Not(Or((B, C))), Or((B, C)), B, C]


@pytest.mark.parametrize(
    ("f", "choices"),
    [
        (Nothing(), set()),
        (Everything(), None),
        (Compare("#connector", "=", Regex("fw")), None),
        (Compare("#connector", "=", Text(("fw",))), {"fw"}),
        (Compare("#index", "=", Text(("fw",))), None),
        (And((Compare("#connector", "=", Text(("fw",))), Nothing())), set()),
        (Or((Compare("#connector", "=", Text(("fw",))), Nothing())), {"fw"}),
        (Or((Nothing(), Nothing())), set()),
        (Or(()), set()),
        (And(()), None),
        (And((A, Compare("#connector", "=", Text(("fw",))), A)), {"fw"}),
    ],
)
def test_tag_choices_of_built_filters(f: Filter, choices: set[str] | None) -> None:
    found = tag_choices(f, "#connector")
    assert (set(found) if found is not None else None) == choices
