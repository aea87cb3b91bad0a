"""The pipeline functions a query may call, their arguments, and what each call means.

``count()``, ``sum(f)``, ``avg(f)``, ``min(f)``, ``max(f)``, ``groupBy(...)``,
``head(n)``, ``tail(n)``, ``sort(...)``, ``table([...])``. Names ignore case.
A positional argument fills the function's first parameter (``groupBy(host)``
is ``groupBy(field=host)``), as in LogScale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from lakehose.query.nodes import Arg, At, Call, Filter, ListArg, Regex, Text
from lakehose.query.parser import error_at

_INTEGER = re.compile(r"-?[0-9]+\Z")

MAX_ROWS = 100_000
DEFAULT_ROWS = 200
DEFAULT_GROUPS = 20_000
MAX_GROUPS = 200_000

AggKind = Literal["count", "sum", "avg", "min", "max"]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One aggregate column: ``count()``, ``count(f, distinct=true)``, ``sum(f)``..."""

    kind: AggKind
    field: str | None
    name: str
    distinct: bool = False


@dataclass(frozen=True, slots=True)
class GroupBy:
    """Group by ``fields`` (none: one group) and compute ``aggregates`` per group."""

    fields: tuple[str, ...]
    aggregates: tuple[Aggregate, ...]
    limit: int = DEFAULT_GROUPS


@dataclass(frozen=True, slots=True)
class Head:
    """The first ``limit`` rows in time order: the oldest events."""

    limit: int = DEFAULT_ROWS


@dataclass(frozen=True, slots=True)
class Tail:
    """The last ``limit`` rows in time order: the newest events."""

    limit: int = DEFAULT_ROWS


@dataclass(frozen=True, slots=True)
class Sort:
    fields: tuple[str, ...]
    descending: bool = True
    limit: int = DEFAULT_ROWS
    type: Literal["any", "number", "string"] = "any"


@dataclass(frozen=True, slots=True)
class Table:
    fields: tuple[str, ...]
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Where:
    """A filter after the first function: applies to whatever rows reach it."""

    filter: Filter


Step: TypeAlias = GroupBy | Head | Tail | Sort | Table | Where


# -- argument readers ---------------------------------------------------------------------


class _Args:
    """A call's arguments by parameter name, read with type checks that point at the mistake."""

    def __init__(self, call: Call, params: tuple[str, ...]) -> None:
        self.call = call
        self.name = call.name
        if len(call.args) > 1:
            raise error_at(
                f"{self.name}() takes at most one positional argument", _at(call.args[1], call)
            )
        given: dict[str, Arg] = {}
        if call.args:
            if not params:
                raise error_at(f"{self.name}() takes no arguments", _at(call.args[0], call))
            given[params[0]] = call.args[0]
        for key, value in call.named:
            if key not in params:
                known = ", ".join(params) or "none"
                raise error_at(
                    f"{self.name}() has no argument {key!r} (arguments: {known})", _at(value, call)
                )
            if key in given:
                raise error_at(
                    f"argument {key!r} of {self.name}() is given twice", _at(value, call)
                )
            given[key] = value
        self.given = given

    def get(self, key: str) -> Arg | None:
        return self.given.get(key)

    def field(self, key: str, *, required: bool = False) -> str | None:
        arg = self.get(key)
        if arg is None:
            if required:
                raise error_at(f"{self.name}() needs a field, e.g. {self.name}(host)", self.call.at)
            return None
        return _field_name(arg, self.name)

    def fields(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        arg = self.get(key)
        if arg is None:
            if required:
                raise error_at(f"{self.name}() needs a field or a [list] of fields", self.call.at)
            return ()
        items = arg.items if isinstance(arg, ListArg) else (arg,)
        names = tuple(_field_name(item, self.name) for item in items)
        if required and not names:
            raise error_at(f"{self.name}() needs at least one field", _at(arg, self.call))
        return names

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        arg = self.get(key)
        if arg is None:
            return default
        text = _word(arg, self.name, "a whole number")
        if not _INTEGER.match(text):  # not "--5", "²" or "١" (int() refuses or reads them)
            raise error_at(
                f"{key} of {self.name}() must be a whole number, not {text!r}", _at(arg, self.call)
            )
        number = int(text)
        if not low <= number <= high:
            raise error_at(
                f"{key} of {self.name}() must be between {low} and {high}", _at(arg, self.call)
            )
        return number

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        arg = self.get(key)
        if arg is None:
            return default
        text = _word(arg, self.name, "one of " + ", ".join(options)).lower()
        if text not in options:
            raise error_at(
                f"{key} of {self.name}() must be one of {', '.join(options)}", _at(arg, self.call)
            )
        return text

    def flag(self, key: str) -> bool:
        return self.choice(key, "false", ("true", "false")) == "true"


def _at(arg: Arg, call: Call) -> At:
    at = getattr(arg, "at", None)
    return at if isinstance(at, At) and at.line else call.at


def _word(arg: Arg, function: str, what: str) -> str:
    if isinstance(arg, Text) and not arg.is_wildcard:
        return arg.literal
    raise error_at(f"{function}() expects {what} here", getattr(arg, "at", At()))


def _field_name(arg: Arg, function: str) -> str:
    if isinstance(arg, Text) and not arg.is_wildcard and arg.literal:
        return arg.literal
    if isinstance(arg, Regex | Text):
        raise error_at(f"{function}() expects a field name here", arg.at)
    raise error_at(f"{function}() expects a field name here", getattr(arg, "at", At()))


# -- functions ----------------------------------------------------------------------------


def _aggregate(call: Call) -> Aggregate:
    kind = _canonical(call)
    if kind == "count":
        a = _Args(call, ("field", "distinct", "as"))
        field = a.field("field")
        distinct = a.flag("distinct")
        if distinct and field is None:
            raise error_at("count(distinct=true) needs a field", call.at)
        name = a.field("as") or "_count"
        return Aggregate("count", field, name, distinct)
    if kind in ("sum", "avg", "min", "max"):
        a = _Args(call, ("field", "as"))
        field = a.field("field", required=True)
        return Aggregate(kind, field, a.field("as") or f"_{kind}")  # type: ignore[arg-type]
    raise error_at(
        f"{call.name}() is not an aggregate function; use count, sum, avg, min or max", call.at
    )


def _group_by(call: Call) -> GroupBy:
    a = _Args(call, ("field", "function", "limit"))
    fields = a.fields("field", required=True)
    function = a.get("function")
    if function is None:
        aggregates: tuple[Aggregate, ...] = (Aggregate("count", None, "_count"),)
    else:
        calls = function.items if isinstance(function, ListArg) else (function,)
        if not calls or not all(isinstance(c, Call) for c in calls):
            raise error_at(
                "function= expects a function call such as count(), or a [list] of them",
                _at(function, call),
            )
        aggregates = tuple(_aggregate(c) for c in calls)  # type: ignore[arg-type]
    _unique_names(call, fields, aggregates)
    return GroupBy(fields, aggregates, a.integer("limit", DEFAULT_GROUPS, 1, MAX_GROUPS))


def _unique_names(call: Call, fields: tuple[str, ...], aggregates: tuple[Aggregate, ...]) -> None:
    seen: set[str] = set()
    for name in (*fields, *(a.name for a in aggregates)):
        if name in seen:
            raise error_at(
                f"column {name!r} appears twice; name aggregates apart with as=", call.at
            )
        seen.add(name)


def _head(call: Call) -> Head:
    return Head(_Args(call, ("limit",)).integer("limit", DEFAULT_ROWS, 1, MAX_ROWS))


def _tail(call: Call) -> Tail:
    return Tail(_Args(call, ("limit",)).integer("limit", DEFAULT_ROWS, 1, MAX_ROWS))


def _sort(call: Call) -> Sort:
    a = _Args(call, ("field", "order", "limit", "type"))
    fields = a.fields("field", required=True)
    order = a.choice("order", "desc", ("asc", "desc", "ascending", "descending"))
    kind = a.choice("type", "any", ("any", "number", "string"))
    limit = a.integer("limit", DEFAULT_ROWS, 1, MAX_ROWS)
    return Sort(fields, order.startswith("desc"), limit, kind)  # type: ignore[arg-type]


def _table(call: Call) -> Table:
    a = _Args(call, ("fields", "limit"))
    fields = a.fields("fields", required=True)
    limit = a.integer("limit", 0, 1, MAX_ROWS) if a.get("limit") is not None else None
    return Table(fields, limit)


_FUNCTIONS: dict[str, Callable[[Call], Step]] = {
    "groupby": _group_by,
    "head": _head,
    "tail": _tail,
    "sort": _sort,
    "table": _table,
}
_AGGREGATES = ("count", "sum", "avg", "min", "max")
NAMES = ("count", "sum", "avg", "min", "max", "groupBy", "head", "tail", "sort", "table")


def _canonical(call: Call) -> str:
    return call.name.lower()


def step(call: Call) -> Step:
    """The step a call stands for; raise QueryError for an unknown function or bad arguments."""
    name = _canonical(call)
    if name in _AGGREGATES:
        return GroupBy((), (_aggregate(call),))
    build = _FUNCTIONS.get(name)
    if build is None:
        raise error_at(f"unknown function {call.name}(); functions are {', '.join(NAMES)}", call.at)
    return build(call)
