"""Where a data feed starts: Falcon's ``offset``/``whence``, or lakehose's ``start=`` and groups.

Precedence, first that applies:

1. ``offset=N`` or ``whence=2`` in the query (Falcon): exactly as before. An offset
   older than retention starts at the oldest kept event (specs/falcon-streams.md),
   unless ``on_out_of_range`` is given.
2. ``start=SPEC`` (lakehose): ``earliest``, ``latest``, ``committed`` (after the
   group's committed offset; the oldest kept when it has none), ``offset:N``, or
   ``time:T`` (the first offset whose ingest time is >= T, from the batch summaries).
3. The group (appId) has a committed position: strictly after it.
4. Offset 0, Falcon's default.

A position from 2 or 3 outside ``[oldest kept, end]`` is handled by
``on_out_of_range``: ``error`` (the default; :class:`OutOfRange`, a 416 naming the
oldest kept offset), ``earliest`` or ``latest``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehose.server.feed_options import FeedOptions, StartSpec
from lakehose.storage.base import LogReader


class OutOfRange(Exception):
    """A requested position that the partition does not hold."""

    def __init__(self, partition: int, wanted: int, oldest: int, end: int, what: str) -> None:
        self.partition = partition
        self.wanted = wanted
        self.oldest = oldest
        self.end = end
        where = "older than retention" if wanted < oldest else "beyond the end of the partition"
        super().__init__(
            f"{what} {wanted} on partition {partition} is {where}: the oldest kept offset is "
            f"{oldest} and the next is {end}; use on_out_of_range=earliest or latest, or another "
            "start"
        )


@dataclass(frozen=True, slots=True)
class Start:
    """The resolved first offset, and how it was chosen (for the access log)."""

    offset: int
    how: str


def resolve(
    reader: LogReader,
    *,
    explicit_offset: int | None,
    tail: bool,
    options: FeedOptions,
    committed: int | None,
) -> Start:
    """The first offset a feed sends (see the module doc for the rules)."""
    oldest, end = reader.bounds()
    if tail:
        return Start(end, "whence=2")
    if explicit_offset is not None:
        if options.on_out_of_range is None or oldest <= explicit_offset:
            return Start(max(explicit_offset, oldest), "offset")
        return _bounded(reader.partition, explicit_offset, oldest, end, options, "offset")
    spec = options.start
    if spec is None:
        if committed is None:
            return Start(oldest, "default")
        return _bounded(reader.partition, committed + 1, oldest, end, options, "committed offset+1")
    return _from_spec(reader, spec, oldest, end, options, committed)


def _from_spec(
    reader: LogReader,
    spec: StartSpec,
    oldest: int,
    end: int,
    options: FeedOptions,
    committed: int | None,
) -> Start:
    if spec.kind == "earliest":
        return Start(oldest, "earliest")
    if spec.kind == "latest":
        return Start(end, "latest")
    if spec.kind == "time":
        return Start(max(reader.offset_for_time(spec.value), oldest), str(spec))
    if spec.kind == "committed":
        if committed is None:
            return Start(oldest, "committed (none yet: earliest)")
        return _bounded(reader.partition, committed + 1, oldest, end, options, "committed offset+1")
    return _bounded(reader.partition, spec.value, oldest, end, options, "offset")


def _bounded(
    partition: int, wanted: int, oldest: int, end: int, options: FeedOptions, what: str
) -> Start:
    if oldest <= wanted <= end:
        return Start(wanted, what)
    policy = options.on_out_of_range or "error"
    if policy == "earliest":
        return Start(oldest, f"{what} out of range: earliest")
    if policy == "latest":
        return Start(end, f"{what} out of range: latest")
    raise OutOfRange(partition, wanted, oldest, end, what)
