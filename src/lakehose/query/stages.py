"""The pipeline at run time: rows are pushed through stages, each passing rows on or holding them.

A row is ``values`` (field name -> value, missing fields absent) and, for an
event, an opaque ``source`` the engine turns back into the whole event for
output. Rows arrive in scan order; :meth:`Stage.push` returns False when the
stage wants no more (``head``, the output limit), which stops the scan.
Aggregates hold their state and emit rows at :meth:`Stage.finish`; memory is
bounded by their limits, never by the size of the lake.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from lakehose.query.fields import MISSING
from lakehose.query.filters import Predicate
from lakehose.query.functions import Aggregate, GroupBy, Sort
from lakehose.query.values import as_number, as_text

Values = dict[str, Any]


class Stage:
    """One step of the pipeline; ``downstream`` receives what it passes on."""

    downstream: Stage

    def push(self, values: Values, source: Any = None) -> bool:
        raise NotImplementedError

    def takes_counts(self, per_batch: frozenset[str]) -> bool:
        """True when rows known only by ``per_batch`` fields may be given as counts."""
        return False

    def push_count(self, tags: Mapping[str, str], count: int) -> None:
        """Take ``count`` rows whose only known values are their batch's tags."""
        raise NotImplementedError

    def finish(self) -> None:
        self.downstream.finish()


class Output(Stage):
    """The end of the pipeline: holds rows until the engine drains them; at most ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.rows: list[tuple[Values, Any]] = []
        self.count = 0
        self.dropped = 0  # rows refused past the limit

    def push(self, values: Values, source: Any = None) -> bool:
        """Keep the row, or refuse it (False) once ``limit`` rows are kept.

        Refusing the row past the limit, rather than stopping at the limit, is how the
        engine knows that more rows exist (a next page, or ``truncated``).
        """
        if self.limit is not None and self.count >= self.limit:
            self.dropped += 1
            return False
        self.rows.append((values, source))
        self.count += 1
        return True

    def drain(self) -> list[tuple[Values, Any]]:
        rows, self.rows = self.rows, []
        return rows

    def finish(self) -> None:
        pass


class Where(Stage):
    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate

    def push(self, values: Values, source: Any = None) -> bool:
        if self.predicate(values):
            return self.downstream.push(values, source)
        return True


class TakeFirst(Stage):
    def __init__(self, limit: int) -> None:
        self.left = limit

    def push(self, values: Values, source: Any = None) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return self.downstream.push(values, source) and self.left > 0


class TakeLast(Stage):
    def __init__(self, limit: int) -> None:
        self.rows: deque[tuple[Values, Any]] = deque(maxlen=limit)

    def push(self, values: Values, source: Any = None) -> bool:
        self.rows.append((values, source))
        return True

    def finish(self) -> None:
        for values, source in self.rows:
            self.downstream.push(values, source)
        self.rows.clear()
        super().finish()


class Project(Stage):
    """``table([...])``: rows of just these fields, in this order."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields

    def push(self, values: Values, source: Any = None) -> bool:
        return self.downstream.push({f: values[f] for f in self.fields if f in values}, source)


# -- aggregation --------------------------------------------------------------------------


class TypedKey(tuple[Any, ...]):
    """A bool or float group value, ``(type, value)``: Python holds ``True == 1 == 1.0``, but
    ``true``, ``1`` and ``1.0`` are three values of an event, so three groups."""

    __slots__ = ()


def group_value(value: Any) -> Any:
    """A value usable as a group key: arrays and objects become their JSON text, bools and
    floats a :class:`TypedKey`."""
    t = type(value)
    if t is bool or t is float:
        return TypedKey((t, value))
    if t is list or t is dict:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def key_value(key: Any) -> Any:
    """The value a group key stands for (:func:`group_value` undone for bools and floats)."""
    return key[1] if type(key) is TypedKey else key


def _add_exact(partials: list[float], x: float) -> float:
    """Add ``x`` to the exact sum ``partials`` (non-overlapping floats, Shewchuk's algorithm,
    as ``math.fsum`` keeps it): the sum no longer depends on the order values come in.

    Returns 0.0, or the infinity the sum reached when it passed the largest double (the
    partials are then emptied: no finite sum is left to keep)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        if math.isinf(hi):
            partials.clear()
            return hi
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]
    return 0.0


def _exact_floats(number: int) -> list[float]:
    """Floats whose exact sum is ``number`` (``float()`` alone rounds past 2**53)."""
    parts = []
    while number:
        part = float(number)  # OverflowError past the largest double
        parts.append(part)
        number -= int(part)
    return parts


class _Accumulator:
    """State of one aggregate in one group.

    ``sum`` and ``avg`` add exactly (integers as integers, floats as exact partial sums,
    rounded once at the end), so the result is the same in any order: the columnar tier
    and the row engine meet the events in different orders (``search/tiers.py``).
    """

    __slots__ = ("count", "total", "floats", "special", "low", "high", "distinct")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0  # the integers' sum
        self.floats: list[float] | None = None  # the finite floats' exact sum, as partials
        self.special = 0.0  # the sum of infinities and NaNs (the same in any order)
        self.low: int | float | None = None
        self.high: int | float | None = None
        self.distinct: set[Any] | None = None

    def update(self, spec: Aggregate, values: Values) -> None:
        if spec.field is None:
            self.count += 1
            return
        value = values.get(spec.field, MISSING)
        if value is MISSING:
            return
        if spec.kind == "count":
            if spec.distinct:
                if self.distinct is None:
                    self.distinct = set()
                self.distinct.add(group_value(value))
            else:
                self.count += 1
            return
        number = as_number(value)
        if number is None:
            return
        self.count += 1
        if type(number) is int:
            self.total += number
        elif math.isfinite(number):
            if self.floats is None:
                self.floats = []
            self.special += _add_exact(self.floats, number)
        else:
            self.special += number
            if self.floats is None:
                self.floats = []
        if self.low is None or number < self.low:
            self.low = number
        if self.high is None or number > self.high:
            self.high = number

    def _sum(self) -> int | float:
        if self.floats is None:
            return self.total
        if self.special != 0.0 or math.isnan(self.special):
            return self.special
        try:
            return math.fsum([*self.floats, *_exact_floats(self.total)])
        except OverflowError:  # an integer sum beyond a double: the floats cannot outweigh it
            return math.inf if self.total > 0 else -math.inf

    def result(self, spec: Aggregate) -> Any:
        if spec.kind == "count":
            return len(self.distinct or ()) if spec.distinct else self.count
        if spec.kind == "sum":
            return self._sum()
        if spec.kind == "avg":
            return _divide(self._sum(), self.count) if self.count else None
        return self.low if spec.kind == "min" else self.high


def _divide(total: int | float, count: int) -> float:
    try:
        return total / count
    except OverflowError:  # an integer sum whose mean is beyond a double
        return math.inf if total > 0 else -math.inf


def type_order(row: Values, fields: tuple[str, ...]) -> tuple[str, ...]:
    """Breaks the ties :class:`SortKey` leaves between group values that are equal as
    numbers or text but differ in type (``404`` and ``"404"``), so the order of groups never
    depends on which event came first: the columnar tier meets them in another order."""
    return tuple(type(row.get(f)).__name__ for f in fields)


class Aggregation(Stage):
    """``groupBy(fields, function=[...])``; no fields means one group (``count()`` alone).

    Events without every group field are left out, as in LogScale. Groups come out
    largest first when the first aggregate is a count, else in key order.
    """

    def __init__(self, spec: GroupBy) -> None:
        self.spec = spec
        self.fields = spec.fields
        self.groups: dict[Any, list[_Accumulator]] = {}
        self.dropped_groups = 0
        self.rows_made = 0  # after finish(): how many groups came out

    def _key(self, values: Values) -> Any:
        """The group key (a tuple), or MISSING when a group field is absent."""
        parts = []
        for name in self.fields:
            value = values.get(name, MISSING)
            if value is MISSING:
                return MISSING
            parts.append(group_value(value))
        return tuple(parts)

    def _full(self) -> bool:
        if len(self.groups) >= self.spec.limit:
            self.dropped_groups += 1
            return True
        return False

    def push(self, values: Values, source: Any = None) -> bool:
        key = self._key(values)
        if key is MISSING:
            return True
        accs = self.groups.get(key)
        if accs is None:
            if self._full():
                return True
            accs = self.groups[key] = [_Accumulator() for _ in self.spec.aggregates]
        for spec, acc in zip(self.spec.aggregates, accs, strict=True):
            acc.update(spec, values)
        return True

    def _rows(self) -> list[Values]:
        rows = []
        for key, accs in self.groups.items():
            row = {f: key_value(k) for f, k in zip(self.fields, key, strict=True)}
            for spec, acc in zip(self.spec.aggregates, accs, strict=True):
                value = acc.result(spec)
                if value is not None:
                    row[spec.name] = value
            rows.append(row)
        if not rows and not self.fields:
            rows.append({a.name: _Accumulator().result(a) for a in self.spec.aggregates})
        return rows

    def finish(self) -> None:
        rows = self._rows()
        self.rows_made = len(rows)
        self.groups.clear()
        first = self.spec.aggregates[0]
        if self.fields:
            fields = self.fields
            if first.kind == "count":
                rows.sort(
                    key=lambda r: (
                        -r.get(first.name, 0),
                        SortKey.of(r, fields),
                        type_order(r, fields),
                    )
                )
            else:
                rows.sort(key=lambda r: (SortKey.of(r, fields), type_order(r, fields)))
        for row in rows:
            self.downstream.push(row)
        super().finish()


class CountBy(Aggregation):
    """The common case, kept lean: only plain ``count()`` aggregates (any number of names)."""

    def __init__(self, spec: GroupBy) -> None:
        super().__init__(spec)
        self.counts: dict[Any, int] = {}
        self.total = 0  # the count when there are no group fields
        self.single = spec.fields[0] if len(spec.fields) == 1 else None

    def takes_counts(self, per_batch: frozenset[str]) -> bool:
        return all(f in per_batch for f in self.fields)

    def counter(self) -> tuple[str, dict[Any, int]] | None:
        """For one group field: the field and the live counts by its value; ``""`` for none.

        A scanner may add 1 to an existing key itself, saving a call per row; a value that
        is not a key yet (or MISSING, or an array or object) must go through :meth:`push`.
        """
        if not self.fields:
            return "", self.counts  # no field: only the number of rows matters (push_count)
        if self.single is None:
            return None
        return self.single, self.counts

    def _add(self, key: Any, count: int) -> None:
        counts = self.counts
        if key in counts:
            counts[key] += count
        elif len(counts) < self.spec.limit:
            counts[key] = count
        else:
            self.dropped_groups += 1

    def push(self, values: Values, source: Any = None) -> bool:
        if not self.fields:
            self.total += 1
            return True
        single = self.single
        if single is not None:
            value = values.get(single, MISSING)
            if value is MISSING:
                return True
            key = value if type(value) in (str, int) else group_value(value)
        else:
            key = self._key(values)
            if key is MISSING:
                return True
        counts = self.counts
        if key in counts:
            counts[key] += 1
        else:
            self._add(key, 1)
        return True

    def push_count(self, tags: Mapping[str, str], count: int) -> None:
        if not self.fields:
            self.total += count
        elif self.single is not None:
            self._add(group_value(tags[self.single]), count)
        else:
            self._add(tuple(group_value(tags[f]) for f in self.fields), count)

    def _rows(self) -> list[Values]:
        names = [a.name for a in self.spec.aggregates]
        if not self.fields:
            return [dict.fromkeys(names, self.total)]
        rows = []
        single = self.single is not None
        for key, count in self.counts.items():
            parts = (key,) if single else key
            row = {f: key_value(k) for f, k in zip(self.fields, parts, strict=True)}
            for name in names:
                row[name] = count
            rows.append(row)
        self.counts = {}
        return rows


def aggregation(spec: GroupBy) -> Aggregation:
    if all(a.kind == "count" and a.field is None for a in spec.aggregates):
        return CountBy(spec)
    return Aggregation(spec)


# -- sorting ------------------------------------------------------------------------------


class SortKey:
    """Orders rows by fields: numbers before text; missing values last in either direction."""

    __slots__ = ("parts", "descending")

    def __init__(self, parts: tuple[tuple[int, Any], ...], descending: bool) -> None:
        self.parts = parts
        self.descending = descending

    @staticmethod
    def part(value: Any, kind: str) -> tuple[int, Any]:
        if value is MISSING or value is None:
            return (2, None)
        if kind != "string":
            number = as_number(value)
            if number is not None:
                return (0, number)
            if kind == "number":
                return (2, None)
        text = as_text(value)
        return (1, text if text is not None else orjson.dumps(value).decode())

    @classmethod
    def of(
        cls,
        values: Mapping[str, Any],
        fields: tuple[str, ...],
        kind: str = "any",
        descending: bool = False,
    ) -> SortKey:
        return cls(tuple(cls.part(values.get(f, MISSING), kind) for f in fields), descending)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self.parts == other.parts

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, other: SortKey) -> bool:
        for (a_kind, a), (b_kind, b) in zip(self.parts, other.parts, strict=True):
            if a_kind == 2 or b_kind == 2:
                if a_kind != b_kind:
                    return b_kind == 2
                continue
            if a_kind != b_kind:
                return (a_kind < b_kind) != self.descending
            if a != b:
                return bool((a < b) != self.descending)
        return False


class Sorter(Stage):
    """``sort(fields, order, limit, type)``: keeps the best ``limit`` rows, holding fewer
    than twice that many."""

    def __init__(self, spec: Sort) -> None:
        self.spec = spec
        self.rows: list[tuple[SortKey, int, Values, Any]] = []
        self.seq = 0

    def push(self, values: Values, source: Any = None) -> bool:
        key = SortKey.of(values, self.spec.fields, self.spec.type, self.spec.descending)
        self.rows.append((key, self.seq, values, source))
        self.seq += 1
        if len(self.rows) >= 2 * self.spec.limit:
            self.rows = heapq.nsmallest(self.spec.limit, self.rows)
        return True

    def finish(self) -> None:
        for _, _, values, source in heapq.nsmallest(self.spec.limit, self.rows):
            self.downstream.push(values, source)
        self.rows = []
        super().finish()


def chain(stages: list[Stage]) -> Stage:
    """Link stages in order; return the first."""
    for upstream, downstream in zip(stages, stages[1:], strict=False):
        upstream.downstream = downstream
    return stages[0]
