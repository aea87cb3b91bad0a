"""A parsed query turned into what the engine runs: a scan filter, batch decisions, a pipeline.

The filters before the first function form the *scan filter*, which the engine
applies while reading the lake: per distinct ``(#connector, #index,
#sourcetype)`` of a batch, :meth:`Plan.batch` settles the tag comparisons and
derives the byte needles of what remains (``prefilter.py``). Everything after
becomes run-time stages (``stages.py``).

Order: the scan reads newest first (descending offsets), unless the first
order-sensitive function is ``head()``, which reads oldest first and stops
early. An event list comes out in scan order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lakehose.errors import QueryError
from lakehose.query import filters, functions, prefilter, stages
from lakehose.query.fields import TAGS, UnknownFieldError, field_ref
from lakehose.query.nodes import At, Call, Everything, Filter, Nothing, Query
from lakehose.query.parser import error_at, parse

Kind = Literal["events", "table"]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What to do with record batches carrying one combination of tags."""

    skip: bool  # no event of such a batch can match
    everything: bool  # every event matches (within the time range)
    residual: Filter  # the scan filter once these tags are known
    predicate: filters.Predicate | None
    needles: prefilter.NeedleTree | None
    fields: frozenset[str]  # fields the predicate reads


@dataclass
class Plan:
    query: Query
    scan_filter: Filter
    steps: tuple[functions.Step, ...]
    descending: bool
    needed: frozenset[str]
    kind: Kind
    columns: tuple[str, ...]
    pageable: bool
    tag_choices: dict[str, frozenset[str] | None]
    _batches: dict[tuple[str, str, str], BatchPlan] = field(default_factory=dict, repr=False)

    def batch(self, connector: str, index: str, sourcetype: str) -> BatchPlan:
        """The decision for batches with these tags (computed once per combination)."""
        key = (connector, index, sourcetype)
        found = self._batches.get(key)
        if found is None:
            tags = dict(zip(TAGS, key, strict=True))
            residual = filters.specialise(self.scan_filter, tags)
            found = BatchPlan(
                skip=isinstance(residual, Nothing),
                everything=isinstance(residual, Everything),
                residual=residual,
                predicate=None
                if isinstance(residual, Everything | Nothing)
                else filters.compile_filter(residual),
                needles=prefilter.needles(residual),
                fields=frozenset(filters.field_names(residual)),
            )
            self._batches[key] = found
        return found

    def pipeline(self, limit: int | None) -> list[stages.Stage]:
        """Fresh run-time stages for one execution, linked, ending in an :class:`~stages.Output`
        of at most ``limit`` rows."""
        built: list[stages.Stage] = []
        order = "desc" if self.descending else "asc"
        for step in self.steps:
            if isinstance(step, functions.Where):
                built.append(stages.Where(filters.compile_filter(step.filter)))
            elif isinstance(step, functions.Table):
                built.append(stages.Project(step.fields))
                if step.limit is not None:
                    built.append(stages.TakeFirst(step.limit))
            elif isinstance(step, functions.Head):
                built.append(
                    stages.TakeLast(step.limit) if order == "desc" else stages.TakeFirst(step.limit)
                )
            elif isinstance(step, functions.Tail):
                built.append(
                    stages.TakeFirst(step.limit) if order == "desc" else stages.TakeLast(step.limit)
                )
            elif isinstance(step, functions.Sort):
                built.append(stages.Sorter(step))
                order = "other"
            elif isinstance(step, functions.GroupBy):
                built.append(stages.aggregation(step))
                order = "other"
        output = stages.Output(limit)
        stages.chain([*built, output])
        return built + [output]


MAX_STAGES = 100


def plan_query(query: str | Query) -> Plan:
    """Parse (if needed) and plan a query; raise QueryError with the position of a mistake."""
    parsed = parse(query) if isinstance(query, str) else query
    if len(parsed.stages) > MAX_STAGES:  # each stage wraps the next: deep enough to recurse out
        raise QueryError(f"the query has {len(parsed.stages)} stages; at most {MAX_STAGES}")
    leading: list[Filter] = []
    steps: list[functions.Step] = []
    for stage in parsed.stages:
        if isinstance(stage, Call):
            steps.append(functions.step(stage))
        else:
            filters.check(stage)
            if steps:
                steps.append(functions.Where(stage))
            else:
                leading.append(stage)
    scan_filter = filters.combine(leading)
    needed = set(filters.field_names(scan_filter))
    kind: Kind = "events"
    columns: tuple[str, ...] = ()
    on_events = True  # rows are still events (no aggregate or table yet)
    for step, at in zip(steps, _positions(parsed), strict=True):
        used = _fields_used(step)
        if on_events:
            for name in used:
                _check_field(name, at)
            needed |= used
        if isinstance(step, functions.Table):
            kind, columns, on_events = "table", step.fields, False
        elif isinstance(step, functions.GroupBy):
            kind, on_events = "table", False
            columns = step.fields + tuple(a.name for a in step.aggregates)
    return Plan(
        query=parsed,
        scan_filter=scan_filter,
        steps=tuple(steps),
        descending=_descending(steps),
        needed=frozenset(needed),
        kind=kind,
        columns=columns,
        pageable=all(
            isinstance(s, functions.Where) or (isinstance(s, functions.Table) and s.limit is None)
            for s in steps
        ),
        tag_choices={tag: filters.tag_choices(scan_filter, tag) for tag in TAGS},
    )


def _positions(parsed: Query) -> list[At]:
    """The position of each step (a call or a later filter), for error messages."""
    out: list[At] = []
    seen_call = False
    for stage in parsed.stages:
        if isinstance(stage, Call):
            seen_call = True
            out.append(stage.at)
        elif seen_call:
            out.append(At())
    return out


def _check_field(name: str, at: At) -> None:
    try:
        field_ref(name)
    except UnknownFieldError as exc:
        raise error_at(str(exc), at) from None


def _fields_used(step: functions.Step) -> set[str]:
    if isinstance(step, functions.Where):
        return filters.field_names(step.filter)
    if isinstance(step, functions.Table | functions.Sort):
        return set(step.fields)
    if isinstance(step, functions.GroupBy):
        return set(step.fields) | {a.field for a in step.aggregates if a.field is not None}
    return set()


def _descending(steps: list[functions.Step]) -> bool:
    for step in steps:
        if isinstance(step, functions.Head):
            return False
        if isinstance(step, functions.Tail | functions.Sort | functions.GroupBy):
            return True
    return True


__all__ = ["BatchPlan", "Plan", "QueryError", "plan_query"]
