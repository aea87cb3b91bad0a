"""Filters as predicates: check them, specialise them to a batch's tags, compile them.

A predicate reads a row's values (``dict`` of field name -> value; a missing
field is absent). Tags (``#connector``, ``#index``, ``#sourcetype``) are the same
for every event of a record batch, so :func:`specialise` settles them once per
batch: a filter on tags alone becomes :class:`Everything` or :class:`Nothing`
and the batch is counted from its summary or skipped without being read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lakehose.errors import QueryError
from lakehose.query import values
from lakehose.query.fields import MISSING, UnknownFieldError, field_ref
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
from lakehose.query.parser import error_at

Predicate = Callable[[Mapping[str, Any]], bool]
RAWSTRING = "@rawstring"


def check(f: Filter) -> None:
    """Raise QueryError (with the column) for a filter that parses but cannot be evaluated."""
    for node in walk(f):
        if isinstance(node, Compare):
            try:
                field_ref(node.field)
            except UnknownFieldError as exc:
                raise error_at(str(exc), node.at) from None
            if node.op in ("<", "<=", ">", ">="):
                number = _number(node)
                if number is None:
                    raise error_at(
                        f"{node.op} compares numbers; {_shown(node.value)} is not a number",
                        node.value.at,
                    )


def _shown(value: Text | Regex) -> str:
    return f"/{value.pattern}/" if isinstance(value, Regex) else repr(value.literal)


def _number(node: Compare) -> int | float | None:
    if isinstance(node.value, Regex) or node.value.is_wildcard:
        return None
    return values.as_number(node.value.literal)


def walk(f: Filter) -> Iterator[Filter]:
    yield f
    if isinstance(f, And | Or):
        for item in f.items:
            yield from walk(item)
    elif isinstance(f, Not):
        yield from walk(f.item)


def field_names(f: Filter) -> set[str]:
    """Every field a filter reads (free text reads ``@rawstring``)."""
    out: set[str] = set()
    for node in walk(f):
        if isinstance(node, Compare):
            out.add(node.field)
        elif isinstance(node, FreeText):
            out.add(RAWSTRING)
    return out


def combine(filters: list[Filter]) -> Filter:
    """``and`` of several filters, flattened and simplified."""
    return simplify(And(tuple(filters))) if filters else Everything()


def simplify(f: Filter) -> Filter:
    """Fold Everything/Nothing and one-item groups; flatten nested groups of one kind."""
    if isinstance(f, And | Or):
        kind = type(f)
        unit, zero = (Everything, Nothing) if kind is And else (Nothing, Everything)
        items: list[Filter] = []
        for item in f.items:
            item = simplify(item)
            if isinstance(item, zero):
                return item
            if isinstance(item, unit):
                continue
            if isinstance(item, kind):
                items.extend(item.items)
            else:
                items.append(item)
        if not items:
            return unit()
        return items[0] if len(items) == 1 else kind(tuple(items))
    if isinstance(f, Not):
        inner = simplify(f.item)
        if isinstance(inner, Everything):
            return Nothing()
        if isinstance(inner, Nothing):
            return Everything()
        if isinstance(inner, Not):
            return inner.item
        return Not(inner)
    if isinstance(f, FreeText) and isinstance(f.value, Text) and f.value.is_anything:
        return Everything()  # `*`: every event has an @rawstring, so it matches every one
    return f


def specialise(f: Filter, known: Mapping[str, Any]) -> Filter:
    """``f`` with every comparison on a field in ``known`` decided, then simplified."""

    def fold(node: Filter) -> Filter:
        if isinstance(node, Compare) and node.field in known:
            return Everything() if compile_filter(node)(known) else Nothing()
        if isinstance(node, And):
            return And(tuple(fold(i) for i in node.items))
        if isinstance(node, Or):
            return Or(tuple(fold(i) for i in node.items))
        if isinstance(node, Not):
            return Not(fold(node.item))
        return node

    return simplify(fold(f))


def compile_filter(f: Filter) -> Predicate:
    """A function of a row's values that is True when the row matches ``f``."""
    if isinstance(f, Everything):
        return lambda row: True
    if isinstance(f, Nothing):
        return lambda row: False
    if isinstance(f, Compare):
        name = f.field
        if f.op in ("=", "!="):
            match = values.equals(f.value)
            if f.op == "!=":
                return lambda row: not match(row.get(name, MISSING))
            return lambda row: match(row.get(name, MISSING))
        number = _number(f)
        if number is None:
            raise error_at(f"{f.op} compares numbers", f.at)
        ordered = values.ordered(f.op, number)
        return lambda row: ordered(row.get(name, MISSING))
    if isinstance(f, FreeText):
        text = values.free_text(f.value)
        return lambda row: text(row.get(RAWSTRING, MISSING))
    if isinstance(f, Not):
        inner = compile_filter(f.item)
        return lambda row: not inner(row)
    if isinstance(f, And):
        parts = [compile_filter(i) for i in f.items]
        if len(parts) == 2:
            first, second = parts
            return lambda row: first(row) and second(row)
        return lambda row: all(p(row) for p in parts)
    if isinstance(f, Or):
        parts = [compile_filter(i) for i in f.items]
        return lambda row: any(p(row) for p in parts)
    raise QueryError(f"cannot evaluate {f!r}")  # pragma: no cover


def expression(f: Filter, namespace: dict[str, Any], local: Mapping[str, str] | None = None) -> str:
    """Python source of an expression over ``values`` (a row's dict) that is True when it matches.

    The same meaning as :func:`compile_filter`, for code generated once per query so that
    each candidate line costs no call per comparison. Matchers go into ``namespace`` under
    fresh names; constants are written with ``repr``. With ``local``, each field's value is
    read from the variable it names (MISSING when absent) instead of ``values``.
    """
    if isinstance(f, Everything):
        return "True"
    if isinstance(f, Nothing):
        return "False"
    if isinstance(f, And | Or):
        joiner = " and " if isinstance(f, And) else " or "
        if not f.items:  # all() of nothing is True, any() of nothing False
            return "True" if isinstance(f, And) else "False"
        return "(" + joiner.join(expression(item, namespace, local) for item in f.items) + ")"
    if isinstance(f, Not):
        return f"(not {expression(f.item, namespace, local)})"
    name = f"_m{len(namespace)}"
    if isinstance(f, FreeText):
        namespace[name] = values.free_text(f.value)
        return f"{name}({_read(RAWSTRING, local)})"
    assert isinstance(f, Compare)
    get = _read(f.field, local)
    if f.op in ("=", "!="):
        namespace[name] = values.equals(f.value)
        if isinstance(f.value, Text) and not f.value.is_wildcard and f.op == "=":
            # The usual case, a string equal to the text, without a call.
            if local is not None:
                return f"({get} == {f.value.literal!r} or {name}({get}))"
            return f"((_v := {get}) == {f.value.literal!r} or {name}(_v))"
        return f"{'not ' if f.op == '!=' else ''}{name}({get})"
    number = _number(f)
    if number is None:
        raise error_at(f"{f.op} compares numbers", f.at)
    namespace[name] = values.ordered(f.op, number)
    return f"{name}({get})"


def _read(field: str, local: Mapping[str, str] | None) -> str:
    if local is None:
        return f"values.get({field!r}, MISSING)"
    return local.get(field, "MISSING")


def tag_choices(f: Filter, tag: str) -> frozenset[str] | None:
    """The exact values ``tag`` must have for ``f`` to match, or None when any may.

    Only plain ``#tag=value`` comparisons (no wildcard, no regex) narrow the choice;
    the store uses this to read fewer batch summaries.
    """
    if isinstance(f, Compare):
        if f.field == tag and f.op == "=" and isinstance(f.value, Text):
            if not f.value.is_wildcard:
                return frozenset({f.value.literal})
        return None
    if isinstance(f, And):
        found: frozenset[str] | None = None
        for item in f.items:
            choice = tag_choices(item, tag)
            if choice is not None:
                found = choice if found is None else found & choice
        return found
    if isinstance(f, Or):
        union: set[str] = set()
        for item in f.items:
            choice = tag_choices(item, tag)
            if choice is None:
                return None
            union |= choice
        return frozenset(union)
    if isinstance(f, Nothing):
        return frozenset()
    return None
