"""Run-time stages: aggregates, the lean count-only grouping (which must agree with the general
one), sorting keys and the bounded sorter, and the limits at the end of a pipeline."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehose.query.functions import Aggregate, GroupBy, Sort
from lakehose.query.stages import (
    Aggregation,
    CountBy,
    Output,
    Project,
    Sorter,
    SortKey,
    Stage,
    TakeFirst,
    TakeLast,
    Where,
    aggregation,
    chain,
    group_value,
)


def drive(stages: list[Stage], rows: list[dict[str, Any]], limit: int | None = None) -> Output:
    output = Output(limit)
    first = chain([*stages, output])
    for row in rows:
        if not first.push(dict(row)):
            break
    first.finish()
    return output


def results(stages: list[Stage], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [values for values, _ in drive(stages, rows).drain()]


VALUES = st.sampled_from([1, 1.0, "1", "a", "b", True, False, None, [1, 2], {"x": 1}, 2.5, "2.5"])
ROWS = st.lists(
    st.fixed_dictionaries({}, optional={"g": VALUES, "h": VALUES, "v": VALUES}), max_size=30
)
FIELDS = st.sampled_from([(), ("g",), ("g", "h"), ("h", "g")])


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, fields=FIELDS, limit=st.integers(1, 4), names=st.integers(1, 2))
def test_the_lean_count_agrees_with_the_general_aggregation(
    rows: list[dict[str, Any]], fields: tuple[str, ...], limit: int, names: int
) -> None:
    counts = tuple(Aggregate("count", None, f"_c{i}") for i in range(names))
    spec = GroupBy(fields, counts, limit)
    lean, general = CountBy(spec), Aggregation(spec)
    assert isinstance(aggregation(spec), CountBy)
    assert results([lean], rows) == results([general], rows)
    assert lean.dropped_groups == general.dropped_groups


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.sampled_from(["fw", "dns", "edr"]), st.integers(1, 5)), max_size=8
    ),
    fields=st.sampled_from([(), ("#connector",), ("#connector", "#index")]),
    limit=st.integers(1, 3),
)
def test_counts_given_per_batch_equal_rows_pushed_one_by_one(
    batches: list[tuple[str, int]], fields: tuple[str, ...], limit: int
) -> None:
    spec = GroupBy(fields, (Aggregate("count", None, "_count"),), limit)
    by_count, by_row = CountBy(spec), CountBy(spec)
    assert by_count.takes_counts(frozenset({"#connector", "#index"}))
    rows = []
    for connector, n in batches:
        tags = {"#connector": connector, "#index": "main"}
        by_count.push_count(tags, n)
        rows += [tags] * n
    for stage in (by_count, by_row):
        chain([stage, Output(None)])
    for row in rows:
        by_row.push(row)
    assert results([by_count], []) == results([by_row], [])


def test_takes_counts_only_when_every_group_field_is_per_batch() -> None:
    spec = GroupBy(("#connector", "user"), (Aggregate("count", None, "_count"),))
    assert not CountBy(spec).takes_counts(frozenset({"#connector"}))
    assert CountBy(spec).takes_counts(frozenset({"#connector", "user"}))
    assert not Aggregation(spec).takes_counts(frozenset({"#connector", "user"}))


def test_the_counter_a_scanner_may_bump() -> None:
    count = (Aggregate("count", None, "_count"),)
    assert CountBy(GroupBy((), count)).counter() == ("", {})
    assert CountBy(GroupBy(("a",), count)).counter() == ("a", {})
    assert CountBy(GroupBy(("a", "b"), count)).counter() is None


def test_aggregation_is_chosen_only_for_plain_counts() -> None:
    assert type(aggregation(GroupBy(("a",), (Aggregate("count", "x", "_count"),)))) is Aggregation
    assert type(aggregation(GroupBy(("a",), (Aggregate("sum", "x", "_sum"),)))) is Aggregation
    assert type(aggregation(GroupBy((), (Aggregate("count", None, "_count"),)))) is CountBy


ROWS_N: list[dict[str, Any]] = [
    {"g": "a", "n": 3}, {"g": "a", "n": "4"}, {"g": "a", "n": "x"}, {"g": "a"},
    {"g": "b", "n": -1.5}, {"g": "b", "n": 10}, {"g": "c", "n": None}, {"n": 100},
    {"g": "a", "n": 3},
]  # fmt: skip


def aggregate(kind: str, distinct: bool = False, fields: tuple[str, ...] = ("g",)) -> list[Any]:
    spec = GroupBy(fields, (Aggregate(kind, "n", "r", distinct),))  # type: ignore[arg-type]
    return results([Aggregation(spec)], ROWS_N)


@pytest.mark.parametrize(
    ("kind", "distinct", "expected"),
    [
        ("count", False, [{"g": "a", "r": 4}, {"g": "b", "r": 2}, {"g": "c", "r": 1}]),
        ("count", True, [{"g": "a", "r": 3}, {"g": "b", "r": 2}, {"g": "c", "r": 1}]),
        ("sum", False, [{"g": "a", "r": 10}, {"g": "b", "r": 8.5}, {"g": "c", "r": 0}]),
        ("avg", False, [{"g": "a", "r": 10 / 3}, {"g": "b", "r": 4.25}, {"g": "c"}]),
        ("min", False, [{"g": "a", "r": 3}, {"g": "b", "r": -1.5}, {"g": "c"}]),
        ("max", False, [{"g": "a", "r": 4}, {"g": "b", "r": 10}, {"g": "c"}]),
    ],
)
def test_aggregates_per_group(kind: str, distinct: bool, expected: list[Any]) -> None:
    assert aggregate(kind, distinct) == expected


@pytest.mark.parametrize(
    ("kind", "distinct", "expected"),
    [
        ("count", False, 8),
        ("count", True, 7),  # 3, "4", "x", -1.5, 10, None, 100
        ("sum", False, 118.5),
        ("min", False, -1.5),
        ("max", False, 100),
    ],
)
def test_aggregates_over_everything(kind: str, distinct: bool, expected: Any) -> None:
    assert aggregate(kind, distinct, fields=()) == [{"r": expected}]


def over_everything(kind: str, numbers: list[Any]) -> Any:
    rows = results([Aggregation(GroupBy((), (Aggregate(kind, "n", "r"),)))],  # type: ignore[arg-type]
                   [{"n": n} for n in numbers])  # fmt: skip
    return rows[0].get("r")


NUMBERS = st.lists(
    st.integers(-(2**70), 2**70)
    | st.floats(-1e300, 1e300, allow_nan=False)
    | st.sampled_from([1e100, -1e100, 1.0, 0.1, 1e-100, -(2**53) - 1.0, 2**53 + 1]),
    min_size=1,
    max_size=12,
)


@settings(max_examples=120, deadline=None)
@given(numbers=NUMBERS, seed=st.integers(0, 2**32))
def test_sum_is_the_exact_sum_rounded_once_whatever_the_order(
    numbers: list[int | float], seed: int
) -> None:
    exact = sum(map(Fraction, numbers))
    shuffled = list(numbers)
    random.Random(seed).shuffle(shuffled)
    for these in (numbers, shuffled):
        total = over_everything("sum", these)
        if all(type(n) is int for n in numbers):
            assert type(total) is int and total == exact  # integers add as integers
        else:
            assert type(total) is float and total == float(exact)
        assert over_everything("avg", these) == total / len(numbers)


@pytest.mark.parametrize(
    ("numbers", "total"),
    [
        ([1e100, 1.0, -1e100], 1.0),
        ([0.1] * 10, 1.0),
        ([1e200, 1e100, 1.0, -1e200, -1e100], 1.0),
        ([2**60 + 1, 1], 2**60 + 2),
        ([math.inf], math.inf),
        ([1.5, -math.inf, 2], -math.inf),
        ([math.inf, 1.5, -math.inf], math.nan),
        ([1.7e308, 1.7e308], math.inf),  # past the largest double: infinite, not an error
        ([-1.7e308, 5.0, -1.7e308], -math.inf),
        (["1" + "0" * 400, 1.5], math.inf),  # an integer sum no double holds
        (["-1" + "0" * 400, 1.5], -math.inf),
    ],
)
def test_sum_of_values_that_cancel_or_leave_the_doubles(numbers: list[Any], total: Any) -> None:
    got = over_everything("sum", numbers)
    assert got == total or (math.isnan(total) and math.isnan(got))
    assert type(got) is type(total)


def test_an_average_beyond_a_double_is_infinite() -> None:
    assert over_everything("avg", ["1" + "0" * 400]) == math.inf
    assert over_everything("avg", ["-1" + "0" * 400, "1"]) == -math.inf


def test_no_rows_still_give_one_row_without_group_fields() -> None:
    spec = GroupBy((), (Aggregate("count", None, "_count"), Aggregate("sum", "n", "s"),
                        Aggregate("avg", "n", "a"), Aggregate("count", "n", "d", True)))  # fmt: skip
    assert results([Aggregation(spec)], []) == [{"_count": 0, "s": 0, "a": None, "d": 0}]
    assert results([CountBy(GroupBy((), (Aggregate("count", None, "_count"),)))], []) == [
        {"_count": 0}
    ]
    assert results([Aggregation(GroupBy(("g",), spec.aggregates))], []) == []


def test_groups_come_out_largest_first_then_by_key_or_by_key_alone() -> None:
    rows = [{"g": g} for g in ["b", "a", "c", "b", 2, 10, "c", "b"]]
    counted = results([CountBy(GroupBy(("g",), (Aggregate("count", None, "n"),)))], rows)
    assert counted == [{"g": "b", "n": 3}, {"g": "c", "n": 2}, {"g": 2, "n": 1},
                       {"g": 10, "n": 1}, {"g": "a", "n": 1}]  # fmt: skip
    rows = [{"g": g, "v": 1} for g in ["b", "a", "c", "b", 10, 2]]
    summed = results([Aggregation(GroupBy(("g",), (Aggregate("sum", "v", "s"),)))], rows)
    assert [r["g"] for r in summed] == [2, 10, "a", "b", "c"]


def test_groups_go_on_to_a_stage_that_holds_rows_until_the_end() -> None:
    rows = [{"g": g, "v": 1} for g in "abcab"]
    for make, kind, field in ((CountBy, "count", None), (Aggregation, "sum", "v")):
        stage = make(GroupBy(("g",), (Aggregate(kind, field, "n"),)))  # type: ignore[arg-type]
        assert [r["g"] for r in results([stage, TakeLast(2)], rows)] == ["b", "c"]
        assert stage.rows_made == 3


DISTINCT = st.sampled_from([1, "1", "a", False, "false", 2.5, "2.5", [1, 2], {"x": 1}])
"""Values no two of which Python takes for one dict key (1, 1.0 and True would be one group)."""


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.fixed_dictionaries({}, optional={"g": DISTINCT, "h": DISTINCT}), max_size=30),
    fields=FIELDS,
)
def test_groups_come_out_in_one_order_whichever_event_came_first(
    rows: list[dict[str, Any]], fields: tuple[str, ...]
) -> None:
    # the columnar tier meets events in another order than the row engine (search/tiers.py)
    for make in (CountBy, Aggregation):
        spec = GroupBy(fields, (Aggregate("count", None, "n"),))
        assert results([make(spec)], rows) == results([make(spec)], rows[::-1])
    spec = GroupBy(fields, (Aggregate("max", "h", "m"),))
    assert results([Aggregation(spec)], rows) == results([Aggregation(spec)], rows[::-1])


def test_equal_looking_values_of_two_types_are_two_groups_numbers_first() -> None:
    for rows in ([{"g": 404}, {"g": "404"}], [{"g": "404"}, {"g": 404}]):
        counted = results([CountBy(GroupBy(("g",), (Aggregate("count", None, "n"),)))], rows)
        assert counted == [{"g": 404, "n": 1}, {"g": "404", "n": 1}]


def test_true_1_and_1_0_are_three_groups_and_three_distinct_values() -> None:
    # Python holds True == 1 == 1.0 (one dict key); an event's true, 1 and 1.0 are three values
    rows = [{"g": v, "h": v} for v in (True, 1, 1.0, "1", 1, True)]
    for make in (CountBy, Aggregation):
        counted = results([make(GroupBy(("g",), (Aggregate("count", None, "n"),)))], rows)
        assert counted == [{"g": 1, "n": 2}, {"g": True, "n": 2}, {"g": 1.0, "n": 1},
                           {"g": "1", "n": 1}]  # fmt: skip
        assert [type(r["g"]) for r in counted] == [int, bool, float, str]
        two = results([make(GroupBy(("g", "h"), (Aggregate("count", None, "n"),)))], rows)
        assert [(type(r["g"]), r["n"]) for r in two] == [(int, 2), (bool, 2), (float, 1), (str, 1)]
    distinct = Aggregation(GroupBy((), (Aggregate("count", "g", "d", distinct=True),)))
    assert results([distinct], rows) == [{"d": 4}]
    counts = CountBy(GroupBy(("g",), (Aggregate("count", None, "n"),)))
    counts.push_count({"g": True}, 3)  # the columnar tier's and the batch summaries' counts
    counts.push_count({"g": 1}, 2)
    assert results([counts], []) == [{"g": True, "n": 3}, {"g": 1, "n": 2}]


def test_a_group_limit_drops_new_groups_and_counts_them() -> None:
    rows = [{"g": g} for g in ["a", "b", "a", "c", "d", "a", "c"]]
    for stage in (CountBy(GroupBy(("g",), (Aggregate("count", None, "n"),), 2)),
                  Aggregation(GroupBy(("g",), (Aggregate("count", "g", "n"),), 2))):  # fmt: skip
        assert results([stage], rows) == [{"g": "a", "n": 3}, {"g": "b", "n": 1}]
        assert stage.dropped_groups == 3


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ([1, "a"], '[1,"a"]'),
        ({"b": 1, "a": [2]}, '{"a":[2],"b":1}'),
        ("x", "x"),
        (3, 3),
        (None, None),
        (True, (bool, True)),
        (1.0, (float, 1.0)),
    ],
)
def test_group_value(value: Any, key: Any) -> None:
    assert group_value(value) == key


def test_arrays_and_objects_group_by_their_json_text() -> None:
    rows: list[dict[str, Any]] = [{"g": [1, 2]}, {"g": [1, 2]}, {"g": {"a": 1}}]
    for stage in (CountBy(GroupBy(("g",), (Aggregate("count", None, "n"),))),
                  Aggregation(GroupBy(("g",), (Aggregate("count", "g", "n"),)))):  # fmt: skip
        assert results([stage], rows) == [{"g": "[1,2]", "n": 2}, {"g": '{"a":1}', "n": 1}]


# -- sorting ------------------------------------------------------------------------------


def order(values: list[Any], kind: str = "any", descending: bool = False) -> list[Any]:
    rows = [{"v": v} if v != "<missing>" else {} for v in values]
    stage = Sorter(Sort(("v",), descending, 100, kind))  # type: ignore[arg-type]
    return [r.get("v", "<missing>") for r in results([stage], rows)]


@pytest.mark.parametrize(
    ("values", "kind", "descending", "expected"),
    [
        ([3, "10", 2.5, "b", "a"], "any", False, [2.5, 3, "10", "a", "b"]),  # numbers first
        ([3, "10", 2.5, "b", "a"], "any", True, ["b", "a", "10", 3, 2.5]),
        ([None, 1, "<missing>", "a"], "any", False, [1, "a", None, "<missing>"]),
        ([None, 1, "<missing>", "a"], "any", True, ["a", 1, None, "<missing>"]),  # missing last
        (["10", "9", 8], "string", False, ["10", 8, "9"]),
        (["10", "9", "x", 8], "number", False, [8, "9", "10", "x"]),
        (["10", "9", "x", 8], "number", True, ["10", "9", 8, "x"]),
        ([True, "s", [2], {"a": 1}], "any", False, [[2], "s", True, {"a": 1}]),
        ([2, 2.0, "2"], "any", False, [2, 2.0, "2"]),  # equal keys keep arrival order
        ([2, 2.0, "2"], "any", True, [2, 2.0, "2"]),
    ],
)
def test_sort_order(values: list[Any], kind: str, descending: bool, expected: list[Any]) -> None:
    assert order(values, kind, descending) == expected


def test_sort_keys_compare_field_by_field() -> None:
    a = SortKey.of({"x": 1, "y": "b"}, ("x", "y"))
    b = SortKey.of({"x": 1, "y": "c"}, ("x", "y"))
    assert a < b and not b < a and not a < a
    assert a == SortKey.of({"x": 1.0, "y": "b"}, ("x", "y")) and a != b and a != "x"
    assert SortKey.of({}, ("x",)) == SortKey.of({"x": None}, ("x",))
    assert not SortKey.of({}, ("x",)) < SortKey.of({"x": None}, ("x",))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(0, 20) | st.sampled_from(["a", "b", None]), max_size=40),
    limit=st.integers(1, 6),
    descending=st.booleans(),
)
def test_the_bounded_sorter_keeps_the_best_rows_of_a_full_sort(
    values: list[Any], limit: int, descending: bool
) -> None:
    rows = [{"v": v, "i": i} for i, v in enumerate(values)]
    stage = Sorter(Sort(("v",), descending, limit, "any"))
    full = sorted(rows, key=lambda r: (SortKey.of(r, ("v",), "any", descending), r["i"]))
    assert results([stage], rows) == full[:limit]


def test_the_bounded_sorter_holds_fewer_than_twice_its_limit() -> None:
    stage = Sorter(Sort(("v",), False, 3, "any"))
    chain([stage, Output(None)])
    held = []
    for v in range(100, 0, -1):
        stage.push({"v": v})
        held.append(len(stage.rows))
    assert max(held) == 5 and held.count(3) > 1  # trimmed to the limit at twice it


# -- the plain stages ---------------------------------------------------------------------


def test_output_refuses_rows_past_its_limit_and_counts_them() -> None:
    output = Output(2)
    assert [output.push({"n": i}) for i in range(4)] == [True, True, False, False]
    assert (output.count, output.dropped) == (2, 2)
    assert output.drain() == [({"n": 0}, None), ({"n": 1}, None)] and output.drain() == []
    unbounded = Output(None)
    assert all(unbounded.push({}) for _ in range(5)) and unbounded.count == 5


def test_take_first_stops_the_scan_at_its_limit() -> None:
    take = TakeFirst(2)
    chain([take, Output(None)])
    assert [take.push({"n": i}) for i in range(3)] == [True, False, False]
    assert results([TakeFirst(3)], [{"n": i} for i in range(5)]) == [{"n": 0}, {"n": 1}, {"n": 2}]
    full = Output(1)
    take = TakeFirst(5)
    chain([take, full])
    assert [take.push({}), take.push({})] == [True, False]  # the output is full


def test_take_last_where_and_project() -> None:
    rows = [{"n": i, "m": -i} for i in range(5)]
    assert results([TakeLast(2)], rows) == [{"n": 3, "m": -3}, {"n": 4, "m": -4}]
    assert results([Where(lambda r: r["n"] % 2 == 1)], rows) == [rows[1], rows[3]]
    assert results([Project(("m", "x"))], rows[:2]) == [{"m": 0}, {"m": -1}]
    where = Where(lambda r: False)
    chain([where, Output(0)])
    assert where.push({"n": 1}) is True  # a row left out never stops the scan
    source = object()
    output = drive([TakeLast(1)], [])
    take = TakeLast(1)
    chain([take, output])
    take.push({"n": 1}, source)
    take.finish()
    assert output.drain() == [({"n": 1}, source)]


def test_only_the_lean_count_takes_rows_as_counts_and_the_base_stage_does_nothing() -> None:
    per_batch = frozenset({"g"})
    spec = GroupBy(("g",), (Aggregate("count", None, "n"),))
    assert CountBy(spec).takes_counts(per_batch) is True
    for stage in (Aggregation(spec), Sorter(Sort(("g",), False, 1, "any")), TakeLast(1),
                  TakeFirst(1), Where(lambda r: True), Project(("g",)), Output(None)):  # fmt: skip
        assert stage.takes_counts(per_batch) is False
    with pytest.raises(NotImplementedError):
        Stage().push({})
    with pytest.raises(NotImplementedError):
        Stage().push_count({}, 1)
